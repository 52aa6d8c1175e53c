"""Checks of reduce, gather, scatter, reduce_scatter and the all_to_alls on three ranks
(run by tests/_mpi_more_worker.py)."""

import time
import warnings

import numpy as np
from _mpi_more_common import OPS, W, raises, rank, vals

import pydlk
import pydlk.distributed as dist


def reduce_every_op_and_dst():
    r = rank()
    xs = [vals(k) for k in range(W)]
    for i, (op, ref) in enumerate(OPS):
        dst = i % W
        a = vals(r)
        assert dist.reduce(a, dst, op) is None
        if r == dst:
            np.testing.assert_allclose(a, ref(xs), rtol=1e-15, err_msg=str(op))
        else:
            np.testing.assert_array_equal(a, vals(r))  # left as it was


def reduce_group_dst_tensor_noncontiguous_async():
    r = rank()
    t = pydlk.tensor(vals(r, np.int64))
    dist.reduce(t, group_dst=2)
    want = np.sum([vals(k, np.int64) for k in range(W)], 0)
    np.testing.assert_array_equal(np.asarray(t), want if r == 2 else vals(r, np.int64))
    nc = np.zeros((3, 6))[:, ::2]  # not contiguous: a copy written back
    nc[...] = r + 1
    work = dist.reduce(nc, dst=1, op=dist.ReduceOp.AVG, async_op=True)
    assert isinstance(work, dist.Work)
    assert work.wait() and work.is_completed()
    np.testing.assert_allclose(nc, np.full((3, 3), 2.0 if r == 1 else r + 1.0))


def gather_to_each_dst():
    r = rank()
    for dst in range(W):
        for dtype in (np.float32, np.int16, np.complex128):
            outs = [np.zeros((2, 3), dtype) for _ in range(W)] if r == dst else None
            dist.gather(vals(r, dtype), outs, dst=dst)
            if r == dst:
                np.testing.assert_array_equal(np.stack(outs), [vals(k, dtype) for k in range(W)])
    # default destination: global rank 0; Tensors; bfloat16 moves as bytes
    bf = pydlk.bfloat16
    outs = [pydlk.zeros(4, dtype=bf) for _ in range(W)] if r == 0 else None
    work = dist.gather(pydlk.tensor([r, 0.5, -r, 8.0], dtype=bf), outs, async_op=True)
    work.wait()
    if r == 0:
        got = np.stack([np.asarray(o._data).astype(np.float32) for o in outs])
        np.testing.assert_array_equal(got, [[k, 0.5, -k, 8.0] for k in range(W)])


def scatter_from_each_src():
    r = rank()
    for src in range(W):
        ins = [vals(k + 10 * src) for k in range(W)] if r == src else None
        out = np.zeros((4, 6))[::2, ::2]  # not contiguous
        dist.scatter(out, ins, src=src)
        np.testing.assert_array_equal(out, vals(r + 10 * src))
    t = pydlk.zeros(3, dtype=pydlk.int64)
    ins = [pydlk.tensor([k, k, k]) for k in range(W)] if r == 0 else None
    dist.scatter(t, ins)  # default source: global rank 0
    assert np.asarray(t).tolist() == [r] * 3


def reduce_scatter_list():
    r = rank()
    # rank i's input_list[j] = vals(10 * j + i); rank j gets the reduction over i
    for op, ref in OPS[:3]:
        out = np.zeros((2, 3))
        dist.reduce_scatter(out, [vals(10 * j + r) for j in range(W)], op)
        np.testing.assert_allclose(out, ref([vals(10 * r + i) for i in range(W)]), rtol=1e-15)


def reduce_scatter_single_cat_and_stack():
    r = rank()
    inputs = [vals(k, shape=(W * 2, 3)) for k in range(W)]  # rank k's input, concatenated form
    want = np.sum(inputs, 0).reshape(W, 2, 3)[r]
    out = np.zeros((2, 3))
    dist.reduce_scatter_single(out, inputs[r])
    np.testing.assert_array_equal(out, want)
    out = np.zeros((2, 3))
    work = dist.reduce_scatter_single(out, inputs[r].reshape(W, 2, 3), async_op=True)
    work.wait()
    np.testing.assert_array_equal(out, want)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = pydlk.zeros(2, 3, dtype=pydlk.float64)
        dist.reduce_scatter_tensor(out, pydlk.tensor(inputs[r]), dist.ReduceOp.AVG)
    assert any(issubclass(w.category, FutureWarning) for w in seen), seen
    np.testing.assert_allclose(np.asarray(out), want / W, rtol=1e-15)


def all_gather_single_cat_and_stack():
    r = rank()
    want = np.stack([vals(k) for k in range(W)])
    out = np.zeros((W * 2, 3))
    dist.all_gather_single(out, vals(r))
    np.testing.assert_array_equal(out, want.reshape(W * 2, 3))
    out = np.zeros((W, 2, 3))[:, :, ::-1]  # not contiguous
    dist.all_gather_single(out, vals(r))
    np.testing.assert_array_equal(out, want)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        t = pydlk.zeros(W * 6, dtype=pydlk.float64)
        dist.all_gather_into_tensor(t, pydlk.tensor(vals(r)))
    assert any(issubclass(w.category, FutureWarning) for w in seen), seen
    np.testing.assert_array_equal(np.asarray(t), want.reshape(-1))


def all_to_all_lists_uneven():
    r = rank()
    # rank i sends rank j (i + j + 1) values 100 i + j: out[i] on rank j is full(i + j + 1, ...)
    for dtype in (np.float64, np.complex64, np.int8):
        ins = [np.full(r + j + 1, 100 * r + j).astype(dtype) for j in range(W)]
        outs = [np.zeros(i + r + 1, dtype) for i in range(W)]
        dist.all_to_all(outs, ins)
        for i in range(W):
            np.testing.assert_array_equal(outs[i], np.full(i + r + 1, 100 * i + r).astype(dtype))
    ins = [pydlk.tensor(vals(10 * r + j)) for j in range(W)]
    outs = [pydlk.zeros(2, 3, dtype=pydlk.float64) for _ in range(W)]
    dist.all_to_all(outs, ins, async_op=True).wait()
    for i in range(W):
        np.testing.assert_array_equal(np.asarray(outs[i]), vals(10 * i + r))


def all_to_all_single_even_is_a_transpose():
    r = rank()
    inp = np.arange(W * 2 * 4).reshape(W * 2, 4) + 1000 * r  # block j goes to rank j
    out = np.zeros_like(inp)
    dist.all_to_all_single(out, inp)
    want = np.concatenate(
        [(np.arange(W * 8).reshape(W * 2, 4) + 1000 * i)[2 * r : 2 * r + 2] for i in range(W)]
    )
    np.testing.assert_array_equal(out, want)


SPLITS = [[2, 0, 3], [1, 4, 0], [0, 2, 2]]  # SPLITS[i][j]: rows rank i sends rank j


def all_to_all_single_uneven_splits():
    r = rank()
    inputs = [np.arange(sum(SPLITS[i]) * 2).reshape(-1, 2) + 100 * i for i in range(W)]
    osplit = [SPLITS[i][r] for i in range(W)]
    want = np.concatenate(
        [inputs[i][sum(SPLITS[i][:r]) : sum(SPLITS[i][: r + 1])] for i in range(W)]
    )
    out = np.zeros((sum(osplit), 2), np.int64)
    dist.all_to_all_single(out, inputs[r], osplit, SPLITS[r])
    np.testing.assert_array_equal(out, want)
    t = pydlk.zeros(sum(osplit), 2, dtype=pydlk.int64)
    w = dist.all_to_all_single(t, pydlk.tensor(inputs[r]), osplit, SPLITS[r], async_op=True)
    w.wait()
    np.testing.assert_array_equal(np.asarray(t), want)


def all_to_all_single_mismatch_raises_everywhere():
    r = rank()
    osplit = [SPLITS[i][r] for i in range(W)]
    inp = np.zeros((sum(SPLITS[r]), 2))
    if r == 1:  # valid on its own (6 rows), but rank 0 sends it none and rank 2 two
        osplit = [1, 4, 1]
    out = np.zeros((sum(osplit), 2))
    raises(
        ValueError,
        r"all_to_all_single: rank 0 sends 0 bytes to rank 1, which expects 16 "
        r"\(input_split_sizes and output_split_sizes\); 2 pair",
        dist.all_to_all_single,
        out,
        inp,
        osplit,
        SPLITS[r],
    )


def broadcast_group_src_and_world_group():
    r = rank()
    b = np.full(3, float(r))
    dist.broadcast(b, group_src=2, group=dist.group.WORLD)
    assert (b == 2).all()
    a = vals(r)
    dist.all_reduce(a, group=dist.GroupMember.WORLD)
    np.testing.assert_array_equal(a, np.sum([vals(k) for k in range(W)], 0))
    outs = [np.zeros((2, 3)) for _ in range(W)]
    dist.all_gather(outs, pydlk.tensor(vals(r)), group=dist.group.WORLD)
    np.testing.assert_array_equal(np.stack(outs), [vals(k) for k in range(W)])
    raises(ValueError, "src .* or group_src .* is required", dist.broadcast, b)


def async_is_completed_finishes_the_work():
    r = rank()
    a = np.full(4, r + 1.0)
    work = dist.all_reduce(a, dist.ReduceOp.AVG, async_op=True)
    for _ in range(100000):
        if work.is_completed():
            break
        time.sleep(1e-4)
    assert work.is_completed()
    np.testing.assert_array_equal(a, np.full(4, 2.0))  # the AVG division ran, no wait()
    assert work.wait()
    np.testing.assert_array_equal(a, np.full(4, 2.0))  # and only once
