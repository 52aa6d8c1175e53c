"""Checks in one process (no mpiexec): argument errors, names, and torch's gloo backend as a
second reference in a world of one (run by tests/_mpi_more_worker.py)."""

import os

import numpy as np
from _mpi_more_common import OUT, Skip, raises

import pydlk
import pydlk.distributed as dist


def single_names_before_init():
    assert dist.Backend("GLOO") == "gloo" and dist.Backend("Mpi") == dist.Backend.MPI
    assert dist.Backend("custom") == "custom" and isinstance(dist.Backend("nccl"), str)
    assert dist.get_default_backend_for_device("cpu") == "gloo"
    assert dist.get_default_backend_for_device("cuda:1") == "nccl"
    assert dist.get_default_backend_for_device(pydlk.device("cuda")) == "nccl"
    raises(
        ValueError,
        "Default backend not registered for device : meta",
        dist.get_default_backend_for_device,
        "meta",
    )
    assert dist.is_gloo_available() and dist.is_backend_available("mpi")
    assert dist.is_backend_available("gloo") and not dist.is_backend_available("ucc")
    assert dist.is_backend_available("cpu:gloo,cuda:nccl") == dist.is_nccl_available()
    for e in (dist.DistBackendError, dist.DistNetworkError, dist.DistStoreError):
        assert issubclass(e, dist.DistError) and issubclass(e, RuntimeError)
    assert not dist.is_torchelastic_launched()
    os.environ["TORCHELASTIC_RUN_ID"] = "job"
    assert dist.is_torchelastic_launched()
    del os.environ["TORCHELASTIC_RUN_ID"]
    assert dist.group.WORLD is None and dist.GroupMember.NON_GROUP_MEMBER == -100
    raises(
        RuntimeError,
        "reduce: Default process group has not been initialized",
        dist.reduce,
        np.ones(1),
        0,
    )
    raises(RuntimeError, "has not been initialized", dist.new_group)
    raises(ValueError, "rank=1 but MPI gives this process rank 0", dist.init_process_group, rank=1)
    raises(
        TypeError,
        "timeout must be a datetime.timedelta or seconds",
        dist.init_process_group,
        timeout="1",
    )
    dist.init_process_group("gloo", timeout=20)


def single_bad_tensor_arguments():
    a, f = np.ones((2, 3)), np.zeros((2, 3))
    raises(TypeError, "reduce: op must be a ReduceOp", dist.reduce, a, 0, "sum")
    raises(
        TypeError,
        r"reduce: ReduceOp.AVG needs a floating-point tensor, got int64",
        dist.reduce,
        np.ones(2, np.int64),
        0,
        dist.ReduceOp.AVG,
    )
    raises(TypeError, "all_reduce: cannot reduce bool tensors", dist.all_reduce, np.ones(2, bool))
    raises(
        TypeError,
        "reduce_scatter: ReduceOp.MAX is not defined for complex",
        dist.reduce_scatter,
        np.zeros(1, complex),
        [np.zeros(1, complex)],
        dist.ReduceOp.MAX,
    )
    raises(ValueError, "reduce: dst=1 is not a rank of a group of size 1", dist.reduce, a, 1)
    raises(
        ValueError, "reduce: group_dst=-1 is not a rank of the group", dist.reduce, a, group_dst=-1
    )
    raises(ValueError, "reduce: give dst or group_dst, not both", dist.reduce, a, 0, group_dst=0)
    raises(ValueError, r"reduce: dst \(a global rank\) or group_dst .* is required", dist.reduce, a)
    raises(TypeError, "reduce: dst must be an int, got float", dist.reduce, a, 0.0)
    raises(
        TypeError,
        "reduce: tensor must be a pydlk Tensor, a NumPy array or a CuPy array, got list",
        dist.reduce,
        [1.0],
        0,
    )
    ro = np.ones(2)
    ro.flags.writeable = False
    raises(ValueError, "reduce: tensor is read-only", dist.reduce, ro, 0)
    dist.gather(ro, [np.zeros(2)])  # an input may be read-only
    raises(ValueError, "gather: gather_list must be given on the root rank", dist.gather, a)
    raises(
        ValueError,
        r"gather: gather_list must hold world_size=1 tensors, got 2",
        dist.gather,
        a,
        [f, f],
    )
    raises(
        ValueError,
        r"gather: gather_list\[0\] is float32\[2, 3\], tensor is float64\[2, 3\]",
        dist.gather,
        a,
        [f.astype(np.float32)],
    )
    raises(
        TypeError, "gather: gather_list must be a list of tensors, got ndarray", dist.gather, a, f
    )
    raises(ValueError, "scatter: scatter_list must be given on the root rank", dist.scatter, f)
    raises(
        ValueError,
        r"scatter: scatter_list\[0\] is float64\[3\], tensor is float64\[2, 3\]",
        dist.scatter,
        f,
        [np.ones(3)],
    )
    raises(
        ValueError,
        "reduce_scatter: input_list must hold world_size=1 tensors, got 0",
        dist.reduce_scatter,
        f,
        [],
    )
    raises(
        ValueError,
        r"reduce_scatter_single: input has 5 elements \[5\]; it must hold world_size=1 "
        r"times output's 6",
        dist.reduce_scatter_single,
        f,
        np.ones(5),
    )
    raises(
        ValueError,
        "reduce_scatter_single: input has dtype float32, output has float64",
        dist.reduce_scatter_single,
        f,
        a.astype(np.float32),
    )
    raises(
        ValueError,
        r"all_gather_single: output_tensor has 4 elements",
        dist.all_gather_single,
        np.zeros(4),
        a,
    )
    raises(
        ValueError,
        "all_gather: tensor_list must hold world_size=1 tensors, got 2",
        dist.all_gather,
        [f, f],
        a,
    )
    raises(
        ValueError,
        "all_to_all: output_tensor_list must hold world_size=1 tensors, got 2",
        dist.all_to_all,
        [f, f],
        [a],
    )
    raises(
        ValueError,
        r"all_to_all: input_tensor_list\[0\] has dtype int64, output_tensor_list\[0\] has float64",
        dist.all_to_all,
        [f],
        [np.ones(6, np.int64)],
    )
    raises(
        ValueError,
        r"all_to_all_single: input_split_sizes \[3\] must be non-negative and add up to "
        r"input's dim 0 \(2\)",
        dist.all_to_all_single,
        f,
        a,
        None,
        [3],
    )
    raises(
        ValueError,
        r"all_to_all_single: output_split_sizes must have world_size=1 entries, got 2",
        dist.all_to_all_single,
        f,
        a,
        [1, 1],
    )
    raises(
        TypeError,
        "all_to_all_single: input_split_sizes must be a list of ints",
        dist.all_to_all_single,
        f,
        a,
        None,
        ["x"],
    )
    raises(
        ValueError,
        "all_to_all_single: output must have at least one dimension",
        dist.all_to_all_single,
        np.zeros(()),
        np.zeros(()),
    )
    raises(ValueError, "broadcast: src=3 is not a rank of a group of size 1", dist.broadcast, a, 3)
    raises(
        TypeError,
        "all_reduce: group must be None, group.WORLD or a group from new_group, got str",
        dist.all_reduce,
        a,
        group="world",
    )


def single_bad_object_p2p_and_group_arguments():
    raises(
        ValueError,
        r"all_gather_object: object_list must have world_size=1 entries "
        r"\(e.g. \[None\] \* 1\), got 0",
        dist.all_gather_object,
        [],
        1,
    )
    raises(
        TypeError,
        "all_gather_object: object_list must be a list, got tuple",
        dist.all_gather_object,
        (None,),
        1,
    )
    raises(
        ValueError,
        "gather_object: object_gather_list must be given on the destination rank",
        dist.gather_object,
        1,
    )
    raises(
        TypeError,
        "broadcast_object_list: object_list must be a list",
        dist.broadcast_object_list,
        "abc",
    )
    raises(
        ValueError,
        "Expected argument scatter_object_output_list to be a list of size at least 1",
        dist.scatter_object_list,
        [],
        [1],
    )
    raises(
        ValueError,
        "source rank must provide non-None scatter_object_input_list",
        dist.scatter_object_list,
        [None],
    )
    raises(
        ValueError,
        "scatter_object_input_list must hold world_size=1 objects, got 2",
        dist.scatter_object_list,
        [None],
        [1, 2],
    )
    raises(ValueError, "send_object_list: Invalid destination rank", dist.send_object_list, [1], 0)
    raises(ValueError, "send: Invalid destination rank", dist.send, np.ones(1), 0)
    raises(
        ValueError,
        r"isend: tag must be in 0\.\.\d+ \(MPI's tag range\), got -1",
        dist.isend,
        np.ones(1),
        0,
        tag=-1,
    )
    raises(TypeError, "irecv: tag must be an int, got str", dist.irecv, np.ones(1), 0, tag="a")
    raises(
        ValueError,
        r"P2POp: peer \(a global rank\) or group_peer .* is required",
        dist.P2POp,
        dist.isend,
        np.ones(1),
    )
    raises(ValueError, "Invalid ``p2p_op_list``", dist.batch_isend_irecv, [dist.isend])
    raises(
        ValueError, "new_group: Rank 1 is out of range. Valid ranks are 0 to 0", dist.new_group, [1]
    )
    raises(
        ValueError,
        "new_group: ranks list must not contain duplicate entries",
        dist.new_group,
        [0, 0],
    )
    raises(TypeError, "new_group: ranks must be a list of ints, got int", dist.new_group, 0)
    raises(ValueError, "backend 'ucc' is not available", dist.new_group, [0], backend="ucc")
    raises(
        ValueError,
        r"new_subgroups: The arg 'group_size' \(0\) must be positive",
        dist.new_subgroups,
        0,
    )
    raises(
        ValueError, r"group_size' \(2\) must not exceed the world size \(1\)", dist.new_subgroups, 2
    )
    raises(ValueError, "Group 7 is not registered", dist.get_group_rank, 7, 0)
    raises(ValueError, "Invalid process group specified", dist.destroy_process_group, 7)
    g = dist.new_group([0])
    assert dist.get_process_group_ranks(g) == [0] and dist.get_group_rank(g, 0) == 0
    dist.monitored_barrier(g)
    dist.barrier(g, async_op=True).wait()


def _torch_gloo():
    try:
        import torch
        import torch.distributed as tdist
    except ImportError as e:
        raise Skip(f"torch is not installed: {e}") from None
    if not tdist.is_available() or not tdist.is_gloo_available():
        raise Skip("torch.distributed has no gloo")
    if not tdist.is_initialized():
        store = os.path.join(OUT[0], "torch_store")
        tdist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    return torch, tdist


def _both(call_torch, call_ours):
    """Both calls raise (any exception), or both return."""
    errs = []
    for call in (call_torch, call_ours):
        try:
            call()
            errs.append(None)
        except Exception as e:  # noqa: BLE001
            errs.append(e)
    assert (errs[0] is None) == (errs[1] is None), errs


def single_against_torch_gloo():
    torch, tdist = _torch_gloo()
    t = lambda a: torch.from_numpy(np.array(a))  # noqa: E731
    x = np.arange(12.0).reshape(4, 3)
    # all_to_all_single with splits, reduce_scatter_single and all_gather_single in both forms
    for osp, isp in ((None, None), ([4], [4]), ([], [])):
        a, b = torch.zeros(4, 3, dtype=torch.float64), np.zeros((4, 3))
        tdist.all_to_all_single(a, t(x), osp, isp)
        dist.all_to_all_single(b, x, osp, isp)
        np.testing.assert_array_equal(a.numpy(), b)
    a, b = torch.zeros(4, 3, dtype=torch.float64), np.zeros((4, 3))
    tdist.reduce_scatter_single(a, t(x), tdist.ReduceOp.AVG)  # gloo refuses the stacked form
    dist.reduce_scatter_single(b, x, dist.ReduceOp.AVG)
    np.testing.assert_array_equal(a.numpy(), b)
    a, b = torch.zeros(4, 3, dtype=torch.float64), np.zeros((4, 3))
    tdist.all_gather_single(a, t(x))  # gloo refuses the stacked form here too
    dist.all_gather_single(b, x)
    np.testing.assert_array_equal(a.numpy(), b)
    for op in ("SUM", "MAX", "PRODUCT"):
        a, b = t(x), x.copy()
        tdist.reduce(a, 0, getattr(tdist.ReduceOp, op))
        dist.reduce(b, 0, getattr(dist.ReduceOp, op))
        np.testing.assert_array_equal(a.numpy(), b)
    a, b = [torch.zeros(4, 3, dtype=torch.float64)], [np.zeros((4, 3))]
    tdist.gather(t(x), a)
    dist.gather(x, b)
    np.testing.assert_array_equal(a[0].numpy(), b[0])
    a, b = torch.zeros(4, 3, dtype=torch.float64), np.zeros((4, 3))
    tdist.scatter(a, [t(x)])
    dist.scatter(b, [x])
    np.testing.assert_array_equal(a.numpy(), b)
    a, b = [torch.zeros(2)], [np.zeros(2)]
    tdist.all_to_all(a, [torch.ones(2)])
    dist.all_to_all(b, [np.ones(2)])
    np.testing.assert_array_equal(a[0].numpy(), b[0])
    # objects
    for fn in ("all_gather_object",):
        a, b = [None], [None]
        getattr(tdist, fn)(a, {"k": 1})
        getattr(dist, fn)(b, {"k": 1})
        assert a == b
    a, b = [None], [None]
    tdist.gather_object("o", a)
    dist.gather_object("o", b)
    assert a == b == ["o"]
    a, b = [1, "x"], [1, "x"]
    tdist.broadcast_object_list(a)
    dist.broadcast_object_list(b)
    assert a == b
    a, b = [None], [None]
    tdist.scatter_object_list(a, [{"z": 2}])
    dist.scatter_object_list(b, [{"z": 2}])
    assert a == b
    # calls both refuse
    z = lambda *s: (torch.zeros(*s, dtype=torch.float64), np.zeros(s))  # noqa: E731
    (ta, na), (tb, nb) = z(4, 3), z(5, 3)
    _both(
        lambda: tdist.all_to_all_single(ta, t(x), [3], [4]),
        lambda: dist.all_to_all_single(na, x, [3], [4]),
    )
    _both(lambda: tdist.all_gather_single(tb, t(x)), lambda: dist.all_gather_single(nb, x))
    _both(lambda: tdist.reduce_scatter_single(tb, t(x)), lambda: dist.reduce_scatter_single(nb, x))
    _both(lambda: tdist.scatter(ta), lambda: dist.scatter(na))
    _both(lambda: tdist.gather(t(x)), lambda: dist.gather(x))
    _both(lambda: tdist.send(ta, 0), lambda: dist.send(na, 0))
    _both(lambda: tdist.scatter_object_list([], [1]), lambda: dist.scatter_object_list([], [1]))
    assert str(tdist.Backend("MPI")) == dist.Backend("MPI")
    assert tdist.get_default_backend_for_device("cuda") == dist.get_default_backend_for_device(
        "cuda"
    )
    tdist.destroy_process_group()
