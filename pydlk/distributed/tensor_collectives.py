"""torch.distributed's other tensor collectives: reduce, gather, scatter, reduce_scatter (and
reduce_scatter_single/_tensor), all_gather_single/_into_tensor, all_to_all, all_to_all_single.

Each is one non-blocking MPI collective on NumPy arrays (``Ireduce``, ``Igather``,
``Iscatter``, ``Ireduce_scatter_block``, ``Iallgather``, ``Ialltoallv``; data that is only moved
travels as bytes) or NCCL on CuPy arrays (``nccl.py``), with the conventions of
``collectives.py``: in place, ``async_op=True`` gives a ``Work``, arguments checked on every
rank before anything is sent. ``dst``/``src`` are global ranks and ``group_dst``/``group_src``
ranks in ``group``, as in torch 2.13. The all_to_alls also exchange every rank's byte counts
first (one small all-gather), so splits that do not match across ranks raise the same
ValueError on every rank instead of truncating or hanging.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from . import nccl as _nccl
from .collectives import (
    ReduceOp,
    Work,
    _array,
    _arrays,
    _bytes,
    _chain,
    _check_reduce_op,
    _contig,
    _done,
    _like,
    _mpi_op,
    _one_device,
    _same_dtype,
)
from .process_group import ProcessGroup, group_rank_of, resolve

__all__ = [
    "all_gather_into_tensor",
    "all_gather_single",
    "all_to_all",
    "all_to_all_single",
    "gather",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_single",
    "reduce_scatter_tensor",
    "scatter",
]


def _avg(buf: Any, pg: ProcessGroup, op: ReduceOp):
    """AVG is a SUM divided by the group's size afterwards (MPI and NCCL have no average)."""
    if op is not ReduceOp.AVG:
        return None

    def scale():
        buf[...] /= pg.size

    return scale


def reduce(
    tensor: Any,
    dst: int | None = None,
    op: ReduceOp = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
    group_dst: int | None = None,
) -> Work | None:
    """Reduce ``tensor`` over the group onto global rank ``dst`` (or rank ``group_dst`` of
    ``group``; one is required), in place there; the other ranks' tensors are left as they
    were."""
    name = "reduce"
    a = _array(tensor, name)
    _check_reduce_op(a, op, name)
    pg = resolve(group, name)
    if pg is None:
        return None
    root = group_rank_of(pg, name, "dst", dst, group_dst)
    mine = pg.rank == root
    buf, back = _contig(a)
    seq = pg.next_seq()
    if is_cupy(buf):
        reqs: Any = _nccl.reduce(pg, buf, op.value, root, name)
    else:
        MPI = pg.MPI
        send, recv = (MPI.IN_PLACE, buf) if mine else (buf, None)
        reqs = [pg.comm.Ireduce(send, recv, op=_mpi_op(MPI, op), root=root)]
    finish = _chain(_avg(buf, pg, op), back) if mine else None
    return _done(Work(pg, reqs, name, seq, finish, keep=(a, buf)), async_op)


def _root_list(
    pg: ProcessGroup, root: int, tensors: Any, ref: Any, name: str, arg: str, writes: bool
) -> list | None:
    """The arrays of ``gather_list``/``scatter_list``: required on the root (one per rank, each
    shaped like ``ref``), refused elsewhere (torch's rule)."""
    given = tensors is not None and not (isinstance(tensors, (list, tuple)) and not tensors)
    where = f"rank {pg.ranks[root]}"
    if pg.rank != root:
        if given:
            raise ValueError(
                f"{name}: {arg} must not be given on ranks other than the root ({where}); "
                f"this is rank {pg.ranks[pg.rank]}"
            )
        return None
    if not given:
        raise ValueError(f"{name}: {arg} must be given on the root rank ({where})")
    arrays = _arrays(tensors, name, arg, writes)
    if len(arrays) != pg.size:
        raise ValueError(
            f"{name}: {arg} must hold world_size={int(pg.size)} tensors, got {len(arrays)}"
        )
    for i, t in enumerate(arrays):
        _like(t, ref, name, f"{arg}[{i}]", "tensor")
    _one_device([ref, *arrays], name)
    return arrays


def gather(
    tensor: Any,
    gather_list: list | None = None,
    dst: int | None = None,
    group: Any = None,
    async_op: bool = False,
    group_dst: int | None = None,
) -> Work | None:
    """Gather every rank's ``tensor`` into ``gather_list`` (one tensor per rank, given on the
    destination only) on global rank ``dst`` (or rank ``group_dst`` of ``group``; default
    global rank 0)."""
    name = "gather"
    a = _array(tensor, name, writes=False)
    pg = resolve(group, name)
    if pg is None:
        return None
    root = group_rank_of(pg, name, "dst", dst, group_dst, default=0)
    outs = _root_list(pg, root, gather_list, a, name, "gather_list", writes=True)
    xp = get_array_module(a)
    send = xp.ascontiguousarray(a)
    recv = xp.empty((pg.size,) + a.shape, a.dtype) if outs is not None else None
    seq = pg.next_seq()
    if is_cupy(send):
        recvs = [(recv[r], r) for r in range(pg.size)] if recv is not None else []
        reqs: Any = _nccl.exchange(pg, [(send, root)], recvs, name)
    else:
        rbuf = _bytes(recv) if recv is not None else None
        reqs = [pg.comm.Igather(_bytes(send), rbuf, root=root)]

    def unpack():
        for i, o in enumerate(outs or ()):
            o[...] = recv[i]

    return _done(Work(pg, reqs, name, seq, unpack, keep=(a, send, recv)), async_op)


def scatter(
    tensor: Any,
    scatter_list: list | None = None,
    src: int | None = None,
    group: Any = None,
    async_op: bool = False,
    group_src: int | None = None,
) -> Work | None:
    """Copy ``scatter_list[r]`` of global rank ``src`` (or rank ``group_src`` of ``group``;
    default global rank 0) into ``tensor`` on rank r; ``scatter_list`` is given on the source
    only."""
    name = "scatter"
    a = _array(tensor, name)
    pg = resolve(group, name)
    if pg is None:
        return None
    root = group_rank_of(pg, name, "src", src, group_src, default=0)
    ins = _root_list(pg, root, scatter_list, a, name, "scatter_list", writes=False)
    xp = get_array_module(a)
    send = xp.stack(ins) if ins is not None else None
    buf, back = _contig(a)
    seq = pg.next_seq()
    if is_cupy(buf):
        sends = [(send[r], r) for r in range(pg.size)] if send is not None else []
        reqs: Any = _nccl.exchange(pg, sends, [(buf, root)], name)
    else:
        sbuf = _bytes(send) if send is not None else None
        reqs = [pg.comm.Iscatter(sbuf, _bytes(buf), root=root)]
    return _done(Work(pg, reqs, name, seq, back, keep=(a, buf, send)), async_op)


def _reduce_scatter(pg, out, send, op, name, async_op) -> Work | None:
    """``send`` (contiguous, the group's size times ``out``'s elements) reduced over the group,
    block r into rank r's ``out``."""
    buf, back = _contig(out)
    seq = pg.next_seq()
    if is_cupy(buf):
        reqs: Any = _nccl.reduce_scatter(pg, send, buf, op.value, name)
    else:
        reqs = [pg.comm.Ireduce_scatter_block(send, buf, op=_mpi_op(pg.MPI, op))]
    finish = _chain(_avg(buf, pg, op), back)
    return _done(Work(pg, reqs, name, seq, finish, keep=(out, buf, send)), async_op)


def reduce_scatter(
    output: Any,
    input_list: list,
    op: ReduceOp = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
) -> Work | None:
    """Rank r's ``output`` becomes the reduction over the group of every rank's
    ``input_list[r]`` (one tensor per rank, each shaped like ``output``)."""
    name = "reduce_scatter"
    out = _array(output, name, "output")
    _check_reduce_op(out, op, name)
    ins = _arrays(input_list, name, "input_list", writes=False)
    pg = resolve(group, name)
    if pg is None:
        return None
    if len(ins) != pg.size:
        raise ValueError(
            f"{name}: input_list must hold world_size={int(pg.size)} tensors, got {len(ins)}"
        )
    for i, t in enumerate(ins):
        _like(t, out, name, f"input_list[{i}]", "output")
    _one_device([out, *ins], name)
    send = get_array_module(out).stack(ins)
    return _reduce_scatter(pg, out, send, op, name, async_op)


def reduce_scatter_single(
    output: Any, input: Any, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Work | None:
    """Rank r's ``output`` becomes block r of the reduction over the group of every rank's
    ``input``, which holds the group's size times ``output``'s elements (the outputs
    concatenated or stacked along dim 0). torch 2.13's name for ``reduce_scatter_tensor``."""
    name = "reduce_scatter_single"
    out = _array(output, name, "output")
    inp = _array(input, name, "input", writes=False)
    _check_reduce_op(out, op, name)
    _same_dtype(inp, out, name, "input", "output")
    pg = resolve(group, name)
    if pg is None:
        return None
    if inp.size != pg.size * out.size:
        raise ValueError(
            f"{name}: input has {inp.size} elements {list(inp.shape)}; it must hold "
            f"world_size={int(pg.size)} times output's {out.size} {list(out.shape)}"
        )
    _one_device([out, inp], name)
    send = get_array_module(inp).ascontiguousarray(inp).reshape(-1)
    return _reduce_scatter(pg, out, send, op, name, async_op)


def reduce_scatter_tensor(
    output: Any, input: Any, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Work | None:
    """``reduce_scatter_single`` under its older name; warns (FutureWarning) as torch 2.13
    does."""
    warnings.warn(
        "`torch.distributed.reduce_scatter_tensor` is deprecated. Please use "
        "`torch.distributed.reduce_scatter_single` instead.",
        FutureWarning,
        stacklevel=2,
    )
    return reduce_scatter_single(output, input, op, group, async_op)


def all_gather_single(
    output_tensor: Any, input_tensor: Any, group: Any = None, async_op: bool = False
) -> Work | None:
    """Every rank's ``input_tensor`` (all the same size), concatenated in rank order into
    ``output_tensor`` (the group's size times as many elements: the inputs concatenated or
    stacked along dim 0). torch 2.13's name for ``all_gather_into_tensor``."""
    name = "all_gather_single"
    out = _array(output_tensor, name, "output_tensor")
    inp = _array(input_tensor, name, "input_tensor", writes=False)
    _same_dtype(inp, out, name, "input_tensor", "output_tensor")
    pg = resolve(group, name)
    if pg is None:
        return None
    if out.size != pg.size * inp.size:
        raise ValueError(
            f"{name}: output_tensor has {out.size} elements {list(out.shape)}; it must hold "
            f"world_size={int(pg.size)} times input_tensor's {inp.size} {list(inp.shape)}"
        )
    _one_device([out, inp], name)
    send = get_array_module(inp).ascontiguousarray(inp)
    buf, back = _contig(out)
    seq = pg.next_seq()
    if is_cupy(buf):
        reqs: Any = _nccl.all_gather(pg, send, buf, name)
    else:
        reqs = [pg.comm.Iallgather(_bytes(send), _bytes(buf))]
    return _done(Work(pg, reqs, name, seq, back, keep=(out, buf, send)), async_op)


def all_gather_into_tensor(
    output_tensor: Any, input_tensor: Any, group: Any = None, async_op: bool = False
) -> Work | None:
    """``all_gather_single`` under its older name; warns (FutureWarning) as torch 2.13 does."""
    warnings.warn(
        "`torch.distributed.all_gather_into_tensor` is deprecated. Please use "
        "`torch.distributed.all_gather_single` instead.",
        FutureWarning,
        stacklevel=2,
    )
    return all_gather_single(output_tensor, input_tensor, group, async_op)


def _check_counts(pg: ProcessGroup, name: str, sends: list, recvs: list, what: str) -> None:
    """Every rank's byte counts against every other's (one all-gather of 2 x size ints):
    ``sends[j]`` is what this rank sends to rank j, ``recvs[i]`` what it expects from rank i.
    A mismatch anywhere raises the same ValueError on every rank."""
    n = int(pg.size)
    mine = np.array(list(sends) + list(recvs), np.int64)
    every = np.empty((n, 2 * n), np.int64)
    pg.wait([pg.comm.Iallgather(mine, every)], f"{name} size check", pg.next_seq())
    s, r = every[:, :n], every[:, n:]  # s[i, j]: i sends to j; r[j, i]: j expects from i
    bad = [(i, j) for i in range(n) for j in range(n) if s[i, j] != r[j, i]]
    if bad:
        i, j = bad[0]
        g = pg.ranks
        raise ValueError(
            f"{name}: rank {g[i]} sends {s[i, j]} bytes to rank {g[j]}, which expects "
            f"{r[j, i]} ({what}); {len(bad)} pair(s) of ranks disagree"
        )


def _alltoallv(pg, name, send, scounts, recv, rcounts, finish, keep, async_op) -> Work | None:
    """Bytes ``send`` (segments of ``scounts``, in rank order) to ``recv`` (``rcounts``)."""
    sd = np.concatenate([[0], np.cumsum(scounts)[:-1]]).astype(np.int64)
    rd = np.concatenate([[0], np.cumsum(rcounts)[:-1]]).astype(np.int64)
    seq = pg.next_seq()
    if is_cupy(send):
        sb, rb = send.reshape(-1).view(np.uint8), recv.reshape(-1).view(np.uint8)
        sends = [(sb[sd[j] : sd[j] + scounts[j]], j) for j in range(pg.size)]
        recvs = [(rb[rd[i] : rd[i] + rcounts[i]], i) for i in range(pg.size)]
        reqs: Any = _nccl.exchange(pg, sends, recvs, name)
    else:
        B = pg.MPI.BYTE
        reqs = [
            pg.comm.Ialltoallv(
                [_bytes(send), (list(map(int, scounts)), list(map(int, sd))), B],
                [_bytes(recv), (list(map(int, rcounts)), list(map(int, rd))), B],
            )
        ]
    return _done(Work(pg, reqs, name, seq, finish, keep=keep), async_op)


def all_to_all(
    output_tensor_list: list, input_tensor_list: list, group: Any = None, async_op: bool = False
) -> Work | None:
    """Rank r's ``input_tensor_list[j]`` goes to rank j's ``output_tensor_list[r]`` (one
    tensor per rank in each list, one dtype; sizes may differ per pair but must agree
    between sender and receiver)."""
    name = "all_to_all"
    outs = _arrays(output_tensor_list, name, "output_tensor_list")
    ins = _arrays(input_tensor_list, name, "input_tensor_list", writes=False)
    pg = resolve(group, name)
    if pg is None:
        return None
    for arg, lst in (("output_tensor_list", outs), ("input_tensor_list", ins)):
        if len(lst) != pg.size:
            raise ValueError(
                f"{name}: {arg} must hold world_size={int(pg.size)} tensors, got {len(lst)}"
            )
    for i, t in enumerate(outs + ins):
        arg = f"output_tensor_list[{i}]" if i < len(outs) else f"input_tensor_list[{i - len(outs)}]"
        _same_dtype(t, outs[0], name, arg, "output_tensor_list[0]")
    _one_device(outs + ins, name)
    scounts = [t.nbytes for t in ins]
    rcounts = [t.nbytes for t in outs]
    _check_counts(pg, name, scounts, rcounts, "input_tensor_list and output_tensor_list sizes")
    xp = get_array_module(outs[0])
    send = xp.concatenate([xp.ascontiguousarray(t).reshape(-1).view(np.uint8) for t in ins])
    recv = xp.empty(sum(rcounts), np.uint8)
    offsets = np.concatenate([[0], np.cumsum(rcounts)]).astype(np.int64)

    def unpack():
        for o, lo, hi in zip(outs, offsets[:-1], offsets[1:]):
            o[...] = recv[lo:hi].view(o.dtype).reshape(o.shape)

    return _alltoallv(pg, name, send, scounts, recv, rcounts, unpack, (send, recv), async_op)


def _splits(sizes: Any, rows: int, pg: ProcessGroup, name: str, arg: str, tensor: str) -> list:
    """``output_split_sizes``/``input_split_sizes`` checked (None or [] means equal parts)."""
    n = int(pg.size)
    if sizes is None or len(sizes) == 0:
        if rows % n:
            raise ValueError(
                f"{name}: {tensor}'s dim 0 ({rows}) does not divide by world_size={n}; give {arg}"
            )
        return [rows // n] * n
    try:
        out = [int(s) for s in sizes]
    except (TypeError, ValueError):
        raise TypeError(f"{name}: {arg} must be a list of ints, got {sizes!r}") from None
    if len(out) != n:
        raise ValueError(f"{name}: {arg} must have world_size={n} entries, got {len(out)}")
    if any(s < 0 for s in out) or sum(out) != rows:
        raise ValueError(
            f"{name}: {arg} {out} must be non-negative and add up to {tensor}'s dim 0 ({rows})"
        )
    return out


def all_to_all_single(
    output: Any,
    input: Any,
    output_split_sizes: list | None = None,
    input_split_sizes: list | None = None,
    group: Any = None,
    async_op: bool = False,
) -> Work | None:
    """Split ``input`` along dim 0 (``input_split_sizes``, default equal parts), send part j to
    rank j, and concatenate the parts received from ranks 0, 1, ... into ``output`` (their dim-0
    sizes: ``output_split_sizes``, default equal parts)."""
    name = "all_to_all_single"
    out = _array(output, name, "output")
    inp = _array(input, name, "input", writes=False)
    _same_dtype(inp, out, name, "input", "output")
    pg = resolve(group, name)
    if pg is None:
        return None
    for arg, t in (("output", out), ("input", inp)):
        if t.ndim == 0:
            raise ValueError(f"{name}: {arg} must have at least one dimension, got a 0-d tensor")
    _one_device([out, inp], name)
    osplit = _splits(output_split_sizes, out.shape[0], pg, name, "output_split_sizes", "output")
    isplit = _splits(input_split_sizes, inp.shape[0], pg, name, "input_split_sizes", "input")
    orow = int(np.prod(out.shape[1:], dtype=np.int64)) * out.itemsize
    irow = int(np.prod(inp.shape[1:], dtype=np.int64)) * inp.itemsize
    scounts = [s * irow for s in isplit]
    rcounts = [s * orow for s in osplit]
    _check_counts(pg, name, scounts, rcounts, "input_split_sizes and output_split_sizes")
    send = get_array_module(inp).ascontiguousarray(inp)
    buf, back = _contig(out)
    return _alltoallv(pg, name, send, scounts, buf, rcounts, back, (out, buf, send), async_op)
