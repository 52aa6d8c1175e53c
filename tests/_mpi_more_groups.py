"""Checks of groups, monitored_barrier and timeouts, and init_process_group's checks, on
three ranks (run by tests/_mpi_more_worker.py)."""

import datetime
import os
import time
import warnings

import numpy as np
from _mpi_more_common import W, raises, rank, vals

import pydlk.distributed as dist


def new_group_members_and_non_members():
    r = rank()
    g = dist.new_group([2, 0])  # sorted: group rank 0 is global 0
    if r == 1:
        assert g is dist.GroupMember.NON_GROUP_MEMBER
        assert dist.get_rank(g) == -1 and dist.get_world_size(g) == -1
        a = np.ones(2)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            assert dist.all_reduce(a, group=g) is None
            assert dist.recv(a, group=g) == -1
        assert [str(w.message) for w in seen] == [
            "Running all_reduce on global rank 1 which does not belong to the given group.",
            "Running recv on global rank 1 which does not belong to the given group.",
        ]
        assert a.tolist() == [1, 1]
        raises(ValueError, "Invalid process group", dist.get_backend, g)
        dist.destroy_process_group(g)  # nothing to do on a non-member
        return
    assert isinstance(g, dist.ProcessGroup)
    assert dist.get_rank(g) == r // 2 and dist.get_world_size(g) == 2
    assert g.rank() == r // 2 and g.size() == 2  # torch's ProcessGroup methods
    assert dist.get_process_group_ranks(g) == [0, 2]
    assert dist.get_group_rank(g, 2) == 1 and dist.get_global_rank(g, 1) == 2
    raises(ValueError, "Global rank 1 is not part of group", dist.get_group_rank, g, 1)
    raises(ValueError, "Group rank 2 is not part of group", dist.get_global_rank, g, 2)
    assert dist.get_backend(g) == "gloo"  # the default group's


def collectives_on_a_subgroup():
    r = rank()
    g = dist.new_group([0, 2])
    if r == 1:
        return
    a = vals(r)
    dist.all_reduce(a, group=g)
    np.testing.assert_array_equal(a, vals(0) + vals(2))
    b = np.full(2, float(r))
    dist.broadcast(b, src=2, group=g)  # src: a global rank
    assert b.tolist() == [2, 2]
    c = vals(r)
    dist.reduce(c, dst=2, group=g)
    np.testing.assert_array_equal(c, vals(0) + vals(2) if r == 2 else vals(0))
    outs = [np.zeros((2, 3)) for _ in range(2)] if r == 2 else None
    dist.gather(vals(r), outs, group_dst=1, group=g)  # group rank 1 is global 2
    if r == 2:
        np.testing.assert_array_equal(np.stack(outs), [vals(0), vals(2)])
    raises(
        ValueError,
        r"dst=1 \(a global rank\) is not in the group, whose global ranks are \[0, 2\]",
        dist.gather,
        vals(r),
        None,
        1,
        g,
    )
    lst = [None, None]
    dist.all_gather_object(lst, r * 10, group=g)
    assert lst == [0, 20]
    out = np.zeros(2, np.int64)
    dist.all_to_all_single(out, np.array([10 * r, 10 * r + 1]), group=g)
    assert out.tolist() == [0 + r // 2, 20 + r // 2]
    if r == 0:
        dist.send(np.arange(3.0), dst=2, group=g)  # dst: a global rank
        dist.send(np.arange(3.0) + 1, group_dst=1, group=g)
    else:
        got = np.zeros(3)
        assert dist.recv(got, group=g) == 0  # the sender's global rank
        assert got.tolist() == [0, 1, 2]
        assert dist.recv(got, group_src=0, group=g) == 0
        assert got.tolist() == [1, 2, 3]
    dist.barrier(group=g, timeout=datetime.timedelta(seconds=10))
    dist.monitored_barrier(group=g, timeout=10)
    dist.destroy_process_group(g)
    raises(ValueError, "destroyed", dist.all_reduce, np.ones(1), group=g)


def unsorted_whole_and_local_groups():
    r = rank()
    g = dist.new_group([2, 0], sort_ranks=False)  # group rank 0 is global 2
    if r != 1:
        assert dist.get_process_group_ranks(g) == [2, 0] and dist.get_rank(g) == (
            0 if r == 2 else 1
        )
        b = np.full(1, float(r))
        dist.broadcast(b, group_src=0, group=g)
        assert b.tolist() == [2.0]
    whole = dist.new_group(timeout=datetime.timedelta(seconds=5), backend="mpi")
    assert whole is not dist.group.WORLD and whole.timeout == 5 and dist.get_backend(whole) == "mpi"
    a = np.full(2, 1.0)
    dist.all_reduce(a, group=whole)
    assert a.tolist() == [3, 3]
    # only the members call it
    if r != 0:
        loc = dist.new_group([1, 2], use_local_synchronization=True)
        x = np.full(1, float(r))
        dist.all_reduce(x, group=loc)
        assert x.tolist() == [3.0]
    else:
        assert dist.new_group([1, 2], use_local_synchronization=True) is None


def ddp_and_sync_batchnorm_on_a_subgroup():
    """DistributedDataParallel and SyncBatchNorm with process_group=new_group([0, 2]): ranks 0
    and 2 take group rank 0's weights, average their gradients and pool their batch statistics
    between them alone; rank 1, outside the group, is refused."""
    import pydlk
    from pydlk import nn

    r = rank()
    g = dist.new_group([0, 2])
    DDP = nn.parallel.DistributedDataParallel
    if r == 1:
        raises(ValueError, "this rank is not in the given process group", DDP, nn.Linear(3, 1),
               process_group=g)  # fmt: skip
        return
    pydlk.manual_seed(100)
    ref = nn.Linear(3, 1)  # the weights global rank 0 (group rank 0) starts from
    pydlk.manual_seed(100 + r)  # rank 2's differ until DDP broadcasts group rank 0's
    lin = nn.Linear(3, 1)
    model = DDP(lin, process_group=g)
    np.testing.assert_array_equal(lin.weight.detach().numpy(), ref.weight.detach().numpy())
    np.testing.assert_array_equal(lin.bias.detach().numpy(), ref.bias.detach().numpy())
    model(pydlk.tensor(vals(r, np.float32))).sum().backward()
    # d sum(x W^T + b) / dW is the column sums of x; averaged over global ranks 0 and 2 only
    want = (vals(0).sum(0) + vals(2).sum(0)) / 2
    np.testing.assert_allclose(lin.weight.grad.numpy(), want[None], rtol=1e-6)
    np.testing.assert_allclose(lin.bias.grad.numpy(), [2.0], rtol=1e-6)
    bn = nn.SyncBatchNorm(3, process_group=g)
    x = vals(r, np.float32, (4, 3))
    y = bn(pydlk.tensor(x)).detach().numpy()
    both = np.concatenate([vals(0, shape=(4, 3)), vals(2, shape=(4, 3))])
    mu, var = both.mean(0), both.var(0)
    np.testing.assert_allclose(y, (x - mu) / np.sqrt(var + 1e-5), rtol=1e-5, atol=1e-6)
    # the running variance is the unbiased one of the 8 samples of the two ranks
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * both.var(0, ddof=1), rtol=1e-6)


def new_subgroups_of_one():
    r = rank()
    cur, subs = dist.new_subgroups(group_size=1)
    assert len(subs) == W and subs[r] is cur and dist.get_process_group_ranks(cur) == [r]
    assert all(s is dist.GroupMember.NON_GROUP_MEMBER for k, s in enumerate(subs) if k != r)
    raises(ValueError, r"world size \(3\) must be divisible", dist.new_subgroups, 2)
    a = np.full(2, float(r))
    dist.all_reduce(a, group=cur)
    assert a.tolist() == [r, r]


def new_group_with_other_ranks_raises_everywhere():
    r = rank()
    ranks = [0, 1] if r != 2 else [0, 2]
    raises(
        ValueError,
        r"every rank must pass the same ranks; ranks \[2\] passed other",
        dist.new_group,
        ranks,
    )
    dist.barrier()


def world_names_and_backend():
    assert dist.group.WORLD is dist.GroupMember.WORLD and dist.group.WORLD is not None
    assert dist.get_process_group_ranks(None) == [0, 1, 2]
    assert dist.get_process_group_ranks(dist.group.WORLD) == [0, 1, 2]
    assert dist.get_group_rank(dist.group.WORLD, 2) == 2
    assert dist.get_backend() == "gloo" and dist.Backend("MPI") == "mpi"
    assert dist.group.WORLD.rank() == rank() and dist.group.WORLD.size() == W
    dist.monitored_barrier()
    dist.monitored_barrier(wait_all_ranks=True, timeout=datetime.timedelta(seconds=10))


# ------------------------------------------------------------------------ faults


def monitored_barrier_names_the_late_rank():
    r = rank()
    if r == 2:
        time.sleep(2.5)
    if r == 0:
        raises(
            dist.DistBackendError,
            r"\[Rank 0\]: Rank 2 failed to pass monitoredBarrier in 1000 ms",
            dist.monitored_barrier,
            timeout=1,
        )
    else:
        raises(
            dist.DistBackendError,
            f"rank {r} was not released by rank 0 within 1 s",
            dist.monitored_barrier,
            timeout=1,
        )
    dist.barrier()
    if r != 0:
        time.sleep(2.5)
    if r == 0:
        e = raises(
            dist.DistBackendError,
            r"Ranks 1, 2 failed to pass monitoredBarrier in 1000 ms",
            dist.monitored_barrier,
            timeout=1,
            wait_all_ranks=True,
        )
        assert isinstance(e, RuntimeError)
    else:
        raises(dist.DistBackendError, "was not released", dist.monitored_barrier, timeout=1)
    dist.barrier()
    dist.monitored_barrier(timeout=10)  # the late ranks' old messages are not counted here


def timeout_names_a_rank_waiting_in_another_group():
    r = rank()
    sub = dist.new_group([1, 2])
    if r == 0:
        e = raises(
            dist.DistBackendError,
            r"barrier \(collective #\d+\) on rank 0 timed out after 1 s",
            dist.barrier,
            timeout=1,
        )
        text = str(e)
        assert "ranks [2] have not reached it" in text, text
        assert "rank 1 is waiting in barrier on another group" in text, text
        dist.barrier()  # after the others joined the timed-out one
    elif r == 1:
        e = raises(
            dist.DistBackendError,
            r"of the group of global ranks \[1, 2\]\) on rank 1",
            dist.barrier,
            sub,
            timeout=1.5,
        )
        assert "ranks [2] have not reached it" in str(e), str(e)
    else:
        time.sleep(5)  # computing: answers no query
        dist.barrier(sub)  # completes with rank 1's abandoned one
    if r != 0:
        dist.barrier()  # rank 0's abandoned barrier
        dist.barrier()


# ------------------------------------------------------------------------ init (before it)


def init_checks_stated_sizes_and_ranks():
    r = rank()
    raises(
        ValueError,
        "world_size=5 but MPI started 3 processes",
        dist.init_process_group,
        world_size=5,
    )
    assert not dist.is_initialized()
    os.environ["RANK"] = str(r + 1)
    raises(
        ValueError,
        rf"the RANK environment variable \(env://\)={r + 1} but MPI gives this process rank {r}",
        dist.init_process_group,
    )
    del os.environ["RANK"]
    raises(
        ValueError,
        "init_method's world_size=4 but MPI started 3",
        dist.init_process_group,
        "gloo",
        "tcp://127.0.0.1:29500?world_size=4",
    )
    raises(ValueError, "is not a torch URL", dist.init_process_group, init_method="bogus://x")
    raises(ValueError, "backend 'ucc' is not available", dist.init_process_group, "ucc")
    if not dist.is_nccl_available():
        raises(dist.DistBackendError, "backend 'nccl' needs CuPy", dist.init_process_group, "nccl")
    assert not dist.is_initialized()
    os.environ.update(RANK=str(r), WORLD_SIZE=str(W))
    dist.init_process_group(
        backend="GLOO",
        init_method="env://",
        world_size=W,
        rank=r,
        timeout=datetime.timedelta(seconds=20),
    )
    assert dist.is_initialized() and dist.get_backend() == "gloo" and dist.get_rank() == r
    raises(RuntimeError, "twice", dist.init_process_group)
    a = np.ones(1)
    dist.all_reduce(a)
    assert a.tolist() == [3.0]
