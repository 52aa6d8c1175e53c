"""Collectives with torch.distributed's names: all_reduce, broadcast, all_gather, barrier.

Each works in place on a pydlk Tensor, a NumPy array or a CuPy array (C-contiguous arrays are
handed over without a copy; others go through a contiguous copy written back). NumPy arrays
travel through MPI, CuPy arrays through NCCL (``nccl.py``; MPI only bootstraps it). With
``async_op=True`` a ``Work`` is returned whose ``wait()`` completes the operation; otherwise the
call returns when it is done. Every wait goes through the process group's polling loop, so a
collective that waits past the group's timeout raises a RuntimeError naming the missing ranks.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from . import nccl as _nccl
from .process_group import _default_group

__all__ = ["ReduceOp", "Work", "all_gather", "all_reduce", "barrier", "broadcast"]


class ReduceOp(enum.Enum):
    """torch.distributed.ReduceOp. AVG is a SUM divided by the world size afterwards (MPI has
    no average); floating-point tensors only."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


def _mpi_op(MPI, op: ReduceOp):
    return {
        ReduceOp.SUM: MPI.SUM,
        ReduceOp.AVG: MPI.SUM,
        ReduceOp.PRODUCT: MPI.PROD,
        ReduceOp.MIN: MPI.MIN,
        ReduceOp.MAX: MPI.MAX,
    }[op]


class Work:
    """A started collective (torch's ``Work``): ``wait()`` finishes it, ``is_completed()``.

    It holds the arrays the transfer reads and writes until ``wait()``: mpi4py's non-blocking
    collectives keep no reference to their buffers, so a tensor the caller lets go of (as in
    ``all_reduce(x * 2, async_op=True)``) would otherwise be freed, and its memory handed to
    another array, while MPI still writes the result into it. An async Work the caller drops
    without waiting stays with the process group until its transfer completes."""

    def __init__(
        self,
        pg,
        reqs: list | Callable[[], bool],
        name: str,
        seq: int,
        finish: Callable[[], None] | None = None,
        keep: tuple = (),
    ):
        """``reqs``: MPI requests, or a ``done()`` poll (an NCCL collective's CUDA event);
        ``keep``: the arrays the transfer uses."""
        self._pg, self._name, self._seq = pg, name, seq
        self._test = reqs if callable(reqs) else (lambda: pg.MPI.Request.Testall(reqs))
        self._finish = finish
        self._keep = keep
        self._done = False

    def is_completed(self) -> bool:
        if self._done:
            return True
        return bool(self._test())

    def wait(self, timeout: Any = None) -> bool:
        if not self._done:
            self._pg.wait_for(self._test, self._name, self._seq)
            self._done = True
            if self._finish is not None:
                self._finish()
            self._keep = ()
        return True

    def _transfer_done(self) -> bool:
        """The transfer has finished (waited for, or its requests complete)."""
        return self._done or bool(self._test())


def _array(tensor: Any, op: str, name: str = "tensor") -> Any:
    from ..autograd import Tensor

    a = tensor._data if isinstance(tensor, Tensor) else tensor
    if is_cupy(a):
        return a
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{op}: {name} must be a pydlk Tensor, a NumPy array or a CuPy array, got "
            f"{type(a).__name__}"
        )
    if not a.flags.writeable:
        raise ValueError(f"{op}: {name} is read-only; the collective writes into it")
    if a.dtype.kind not in "biufc":
        raise TypeError(f"{op}: {name} has dtype {a.dtype}, expected a numeric dtype")
    return a


def _contig(a: Any) -> tuple[Any, Callable[[], None] | None]:
    """``a`` itself when MPI/NCCL can use its memory, else a contiguous copy and its
    write-back."""
    if a.flags.c_contiguous:
        return a, None
    buf = get_array_module(a).ascontiguousarray(a)

    def back():
        a[...] = buf

    return buf, back


def _chain(*fns):
    fns = [f for f in fns if f is not None]
    if not fns:
        return None

    def run():
        for f in fns:
            f()

    return run


def _done(work: Work, async_op: bool):
    if async_op:
        work._pg.hold(work)
        return work
    work.wait()
    return None


def _check_group(group: Any, op: str) -> None:
    if group is not None:
        from .process_group import GroupMember

        if group is not GroupMember.WORLD:
            raise ValueError(f"{op}: only the default group (group=None) is supported")


def all_reduce(
    tensor: Any, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Work | None:
    """Reduce ``tensor`` over all ranks in place (every rank gets the result)."""
    name = "all_reduce"
    _check_group(group, name)
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{name}: op must be a ReduceOp, got {op!r}")
    a = _array(tensor, name)
    if op is ReduceOp.AVG and a.dtype.kind not in "fc":
        raise TypeError(f"{name}: ReduceOp.AVG needs a floating-point tensor, got {a.dtype}")
    pg = _default_group(name)
    buf, back = _contig(a)
    seq = pg.next_seq()
    if is_cupy(buf):
        req = _nccl.all_reduce(pg, buf, op.value, name)
    else:
        req = pg.comm.Iallreduce(pg.MPI.IN_PLACE, buf, op=_mpi_op(pg.MPI, op))
    scale = None
    if op is ReduceOp.AVG:

        def scale():
            buf[...] /= pg.size

    reqs = req if callable(req) else [req]
    return _done(Work(pg, reqs, name, seq, _chain(scale, back), keep=(a, buf)), async_op)


def broadcast(tensor: Any, src: int, group: Any = None, async_op: bool = False) -> Work | None:
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every rank."""
    name = "broadcast"
    _check_group(group, name)
    a = _array(tensor, name)
    pg = _default_group(name)
    if not 0 <= int(src) < pg.size:
        raise ValueError(f"{name}: src={src} is not a rank of a group of size {pg.size}")
    buf, back = _contig(a)
    seq = pg.next_seq()
    if is_cupy(buf):
        work = Work(pg, _nccl.broadcast(pg, buf, int(src), name), name, seq, back, keep=(a, buf))
        return _done(work, async_op)
    req = pg.comm.Ibcast(buf, root=int(src))
    return _done(Work(pg, [req], name, seq, back, keep=(a, buf)), async_op)


def all_gather(
    tensor_list: list, tensor: Any, group: Any = None, async_op: bool = False
) -> Work | None:
    """Fill ``tensor_list[r]`` (one tensor per rank, each shaped like ``tensor``) with rank r's
    ``tensor``."""
    name = "all_gather"
    _check_group(group, name)
    pg = _default_group(name)
    a = _array(tensor, name)
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != pg.size:
        got = len(tensor_list) if isinstance(tensor_list, (list, tuple)) else type(tensor_list)
        raise ValueError(f"{name}: tensor_list must hold world_size={pg.size} tensors, got {got}")
    outs = [_array(t, name, f"tensor_list[{i}]") for i, t in enumerate(tensor_list)]
    for i, o in enumerate(outs):
        if o.shape != a.shape or o.dtype != a.dtype:
            raise ValueError(
                f"{name}: tensor_list[{i}] is {o.dtype}{list(o.shape)}, the input "
                f"tensor is {a.dtype}{list(a.shape)}"
            )
    xp = get_array_module(a)
    if any(get_array_module(o) is not xp for o in outs):
        raise TypeError(f"{name}: tensor_list and tensor must all be on the CPU or all on a GPU")
    send = xp.ascontiguousarray(a)
    recv = xp.empty((pg.size,) + a.shape, a.dtype)
    seq = pg.next_seq()
    if is_cupy(send):
        req = _nccl.all_gather(pg, send, recv, name)
    else:
        req = [pg.comm.Iallgather(send, recv)]

    def scatter():
        for i, o in enumerate(outs):
            o[...] = recv[i]

    return _done(Work(pg, req, name, seq, scatter, keep=(send, recv)), async_op)


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Work | None:
    """Wait until every rank has reached the barrier."""
    name = "barrier"
    _check_group(group, name)
    pg = _default_group(name)
    seq = pg.next_seq()
    req = pg.comm.Ibarrier()
    return _done(Work(pg, [req], name, seq), async_op)
