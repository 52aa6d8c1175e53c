"""Checks of the object collectives and point-to-point transfers on three ranks (run by
tests/_mpi_more_worker.py)."""

import numpy as np
from _mpi_more_common import W, raises, rank, vals

import pydlk
import pydlk.distributed as dist


def obj(k):
    return {"rank": k, "items": list(range(k)), "arr": np.arange(k * 2.0), "s": "x" * (100 * k)}


def same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key])
        else:
            assert a[key] == b[key], (key, a[key], b[key])


def all_gather_object_every_rank():
    lst = [None] * W
    assert dist.all_gather_object(lst, obj(rank())) is None
    for k in range(W):
        same(lst[k], obj(k))


def gather_object_to_dst():
    r = rank()
    lst = [None] * W if r == 2 else None
    dist.gather_object(obj(r), lst, dst=2)
    if r == 2:
        for k in range(W):
            same(lst[k], obj(k))
    lst = [None] * W if r == 0 else None
    dist.gather_object(r * 7, lst)  # default destination: 0
    assert r != 0 or lst == [0, 7, 14]


def broadcast_object_list_from_src():
    r = rank()
    big = bytes(range(256)) * 400
    lst = [obj(1), pydlk.tensor([1.0, 2.0]), big] if r == 1 else [None, None, None]
    dist.broadcast_object_list(lst, src=1)
    same(lst[0], obj(1))
    assert isinstance(lst[1], pydlk.Tensor) and np.asarray(lst[1]).tolist() == [1.0, 2.0]
    assert lst[2] == big
    lst = ["zero"] if r == 0 else [None]
    dist.broadcast_object_list(lst)  # default source: 0
    assert lst == ["zero"]


def broadcast_object_list_length_mismatch_raises_on_that_rank():
    r = rank()
    lst = [1, 2, 3] if r != 2 else [None, None]
    if r == 2:
        raises(
            ValueError,
            r"object_list has 2 entries on rank 2 but 3 on the source rank 0",
            dist.broadcast_object_list,
            lst,
        )
    else:
        dist.broadcast_object_list(lst)
        assert lst == [1, 2, 3]
    dist.barrier()  # nobody was left waiting


def scatter_object_list_from_src():
    r = rank()
    out = [None]
    ins = [obj(k) for k in range(W)] if r == 2 else None
    dist.scatter_object_list(out, ins, src=2)
    same(out[0], obj(r))


def send_recv_ring():
    r = rank()
    nxt, prv = (r + 1) % W, (r - 1) % W
    for dtype in (np.float64, np.complex128, np.bool_, np.float16):
        mine = (np.arange(5) + r).astype(dtype)
        got = np.zeros(5, dtype)
        w = dist.isend(mine, nxt)
        assert dist.recv(got, prv) == prv
        w.wait()
        np.testing.assert_array_equal(got, (np.arange(5) + prv).astype(dtype))
    t = pydlk.zeros(2, 3, dtype=pydlk.float64)
    w = dist.irecv(t, src=prv)
    dist.send(pydlk.tensor(vals(r)), dst=nxt)
    assert w.wait()
    np.testing.assert_array_equal(np.asarray(t), vals(prv))


def recv_from_any_rank_returns_the_sender():
    r = rank()
    if r == 0:
        seen = {}
        for _ in range(W - 1):
            b = np.zeros(2)
            src = dist.recv(b)
            seen[src] = b.tolist()
        assert seen == {k: [k, -k] for k in range(1, W)}, seen
    else:
        dist.send(np.array([r, -r], np.float64), dst=0)


def tags_select_the_message():
    r = rank()
    if r == 0:
        dist.send(np.full(2, 5.0), 1, tag=5)
        dist.send(np.full(2, 7.0), 1, tag=7)
    elif r == 1:
        a, b = np.zeros(2), np.zeros(2)
        dist.recv(a, 0, tag=7)  # the later message first
        dist.recv(b, 0, tag=5)
        assert a.tolist() == [7, 7] and b.tolist() == [5, 5]
    dist.barrier()


def send_to_self_refused_isend_to_self_allowed():
    r = rank()
    raises(ValueError, "Invalid destination rank", dist.send, np.zeros(1), r)
    raises(ValueError, "Invalid source rank", dist.recv, np.zeros(1), r)
    got = np.zeros(3)
    w1 = dist.isend(np.arange(3.0) + r, r, tag=3)
    w2 = dist.irecv(got, r, tag=3)
    w1.wait(), w2.wait()
    assert got.tolist() == [r, r + 1, r + 2]


def batch_isend_irecv_both_directions():
    r = rank()
    nxt, prv = (r + 1) % W, (r - 1) % W
    to_next, to_prev = np.zeros(3), np.zeros(3)
    ops = [
        dist.P2POp(dist.isend, np.full(3, 10.0 * r), nxt),
        dist.P2POp(dist.isend, np.full(3, 20.0 * r), prv, tag=1),
        dist.P2POp(dist.irecv, to_next, prv),
        dist.P2POp(dist.irecv, to_prev, nxt, tag=1),
    ]
    works = dist.batch_isend_irecv(ops)
    assert len(works) == 4
    for w in works:
        w.wait()
    assert to_next.tolist() == [10.0 * prv] * 3 and to_prev.tolist() == [20.0 * nxt] * 3
    raises(ValueError, "Invalid ``op``", dist.P2POp, dist.send, np.zeros(1), nxt)
    raises(ValueError, "Invalid ``p2p_op_list``", dist.batch_isend_irecv, [])


def send_recv_object_list():
    r = rank()
    if r == 0:
        dist.send_object_list([obj(0), "two"], dst=2)
        dist.send_object_list([1, 2, 3], dst=1)
    elif r == 2:
        lst = [None, None]
        assert dist.recv_object_list(lst) == 0  # from any rank
        same(lst[0], obj(0))
        assert lst[1] == "two"
    else:
        lst = [None, None]  # one entry short
        raises(
            ValueError, "object_list has 2 entries but rank 0 sent 3", dist.recv_object_list, lst, 0
        )
    dist.barrier()


def recv_size_mismatch_raises_on_the_receiver():
    r = rank()
    if r == 1:
        dist.send(np.zeros(2), dst=2)  # the receiver expects 3 values
        dist.send(np.zeros(4), dst=2, tag=1)  # the receiver expects 3 values
    elif r == 2:
        raises(
            ValueError,
            r"received 16 bytes from rank 1, but the tensor holds 24",
            dist.recv,
            np.zeros(3),
            1,
        )
        raises(
            dist.DistBackendError, r"recv on rank 2 failed in MPI", dist.recv, np.zeros(3), 1, tag=1
        )
    dist.barrier()
