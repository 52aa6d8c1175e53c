"""The collectives every data-parallel script uses, and what all collectives share.

all_reduce, broadcast, all_gather, barrier and monitored_barrier live here; reduce, gather,
scatter, reduce_scatter and the all_to_alls in ``tensor_collectives.py``; the pickled-object
collectives in ``object_collectives.py``; send/recv in ``p2p.py``. Each works in place on a
pydlk Tensor, a NumPy array or a CuPy array (C-contiguous arrays are handed over without a copy;
others go through a contiguous copy written back). NumPy arrays travel through MPI (reductions
typed, everything else as bytes, so any dtype moves, bfloat16 too), CuPy arrays through NCCL
(``nccl.py``; MPI only bootstraps it). With ``async_op=True`` a ``Work`` is returned whose
``wait()`` completes the operation; otherwise the call returns when it is done. Every wait goes
through the process group's polling loop, so a collective that waits past the group's timeout
raises a DistBackendError naming the missing ranks. Arguments are checked on each rank before
any transfer starts, so a wrong call raises at once (naming the op and the argument) instead of
leaving the other ranks waiting. ``group=`` takes a group from ``new_group``; on a rank outside
it a collective warns and returns None, as torch's do.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from . import nccl as _nccl
from .backend import DistBackendError
from .process_group import _seconds, group_rank_of, resolve

__all__ = [
    "ReduceOp",
    "Work",
    "all_gather",
    "all_reduce",
    "barrier",
    "broadcast",
    "monitored_barrier",
]

_MB_ARRIVE, _MB_RELEASE = 7321, 7322  # monitored_barrier's tags on the side channel


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
        self._source: int | None = None  # a finished recv's sender (global rank)

    def is_completed(self) -> bool:
        """True once the operation has finished; its results are then in place (a
        finished operation's write-back runs here, as in ``wait``)."""
        if not self._done:
            try:
                ready = bool(self._test())
            except getattr(self._pg.MPI, "Exception", ()) as e:
                raise DistBackendError(f"{self._name}: failed in MPI: {e}") from e
            if ready:
                self._complete()
        return self._done

    def wait(self, timeout: Any = None) -> bool:
        """Finish the operation (``timeout``: a timedelta or seconds; default the group's)."""
        if not self._done:
            t = None if timeout is None else _seconds(timeout, self._name)
            self._pg.wait_for(self._test, self._name, self._seq, timeout=t)
            self._complete()
        return True

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            fin, self._finish = self._finish, None
            fin()
        self._keep = ()

    def _transfer_done(self) -> bool:
        """The transfer has finished (waited for, or its requests complete)."""
        return self._done or bool(self._test())


def _array(tensor: Any, op: str, name: str = "tensor", writes: bool = True) -> Any:
    """The array behind ``tensor`` (a Tensor, NumPy or CuPy array); ``writes``: the
    collective writes into it (so it may not be read-only)."""
    from ..autograd import Tensor

    a = tensor._data if isinstance(tensor, Tensor) else tensor
    if is_cupy(a):
        return a
    if not isinstance(a, np.ndarray):
        raise TypeError(
            f"{op}: {name} must be a pydlk Tensor, a NumPy array or a CuPy array, got "
            f"{type(a).__name__}"
        )
    if writes and not a.flags.writeable:
        raise ValueError(f"{op}: {name} is read-only; the collective writes into it")
    if a.dtype.kind not in "biufc" and a.dtype.name != "bfloat16":
        raise TypeError(f"{op}: {name} has dtype {a.dtype}, expected a numeric dtype")
    return a


def _arrays(tensors: Any, op: str, name: str, writes: bool = True) -> list:
    """The arrays of a list of tensors (a list or tuple, else TypeError)."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: {name} must be a list of tensors, got {type(tensors).__name__}")
    return [_array(t, op, f"{name}[{i}]", writes) for i, t in enumerate(tensors)]


def _like(a: Any, ref: Any, op: str, name: str, ref_name: str) -> None:
    """``a`` has ``ref``'s dtype and shape, else ValueError naming both."""
    if a.shape != ref.shape or a.dtype != ref.dtype:
        raise ValueError(
            f"{op}: {name} is {a.dtype}{list(a.shape)}, {ref_name} is {ref.dtype}{list(ref.shape)}"
        )


def _same_dtype(a: Any, ref: Any, op: str, name: str, ref_name: str) -> None:
    if a.dtype != ref.dtype:
        raise ValueError(f"{op}: {name} has dtype {a.dtype}, {ref_name} has {ref.dtype}")


def _one_device(arrays: list, op: str) -> bool:
    """True when all arrays are CuPy arrays, False when all are NumPy, else TypeError."""
    gpu = [is_cupy(a) for a in arrays]
    if any(gpu) and not all(gpu):
        raise TypeError(f"{op}: the tensors must all be on the CPU or all on a GPU")
    return bool(gpu) and gpu[0]


def _check_reduce_op(a: Any, op: Any, name: str) -> None:
    """``op`` is a ReduceOp MPI and NCCL can apply to ``a``'s dtype."""
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{name}: op must be a ReduceOp, got {op!r}")
    if op is ReduceOp.AVG and a.dtype.kind not in "fc":
        raise TypeError(f"{name}: ReduceOp.AVG needs a floating-point tensor, got {a.dtype}")
    if a.dtype.kind == "c" and op in (ReduceOp.MIN, ReduceOp.MAX):
        raise TypeError(f"{name}: ReduceOp.{op.name} is not defined for complex {a.dtype}")
    if a.dtype.kind == "b" or a.dtype.name == "bfloat16":
        raise TypeError(
            f"{name}: cannot reduce {a.dtype} tensors (MPI has no {op.name} for them); "
            f"convert to an integer or float dtype first"
        )


def _bytes(a: Any) -> Any:
    """A flat uint8 view of the contiguous array ``a`` (data moves as bytes, any dtype)."""
    return a.reshape(-1).view(np.uint8)


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


def all_reduce(
    tensor: Any, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Work | None:
    """Reduce ``tensor`` over the ranks of ``group`` in place (every rank gets the result)."""
    name = "all_reduce"
    a = _array(tensor, name)
    _check_reduce_op(a, op, name)
    pg = resolve(group, name)
    if pg is None:
        return None
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


def broadcast(
    tensor: Any,
    src: int | None = None,
    group: Any = None,
    async_op: bool = False,
    group_src: int | None = None,
) -> Work | None:
    """Copy ``tensor`` of global rank ``src`` (or of rank ``group_src`` in ``group``; one of
    them is required) into ``tensor`` on every rank of ``group``."""
    name = "broadcast"
    a = _array(tensor, name)
    pg = resolve(group, name)
    if pg is None:
        return None
    root = group_rank_of(pg, name, "src", src, group_src)
    buf, back = _contig(a)
    seq = pg.next_seq()
    if is_cupy(buf):
        work = Work(pg, _nccl.broadcast(pg, buf, root, name), name, seq, back, keep=(a, buf))
        return _done(work, async_op)
    req = pg.comm.Ibcast(_bytes(buf), root=root)
    return _done(Work(pg, [req], name, seq, back, keep=(a, buf)), async_op)


def all_gather(
    tensor_list: list, tensor: Any, group: Any = None, async_op: bool = False
) -> Work | None:
    """Fill ``tensor_list[r]`` (one tensor per rank of ``group``, each shaped like ``tensor``)
    with rank r's ``tensor``."""
    name = "all_gather"
    a = _array(tensor, name, writes=False)
    outs = _arrays(tensor_list, name, "tensor_list")
    pg = resolve(group, name)
    if pg is None:
        return None
    if len(outs) != pg.size:
        raise ValueError(
            f"{name}: tensor_list must hold world_size={int(pg.size)} tensors, got {len(outs)}"
        )
    for i, o in enumerate(outs):
        _like(o, a, name, f"tensor_list[{i}]", "the input tensor")
    _one_device([a, *outs], name)
    xp = get_array_module(a)
    send = xp.ascontiguousarray(a)
    recv = xp.empty((pg.size,) + a.shape, a.dtype)
    seq = pg.next_seq()
    if is_cupy(send):
        req = _nccl.all_gather(pg, send, recv, name)
    else:
        req = [pg.comm.Iallgather(_bytes(send), _bytes(recv))]

    def scatter():
        for i, o in enumerate(outs):
            o[...] = recv[i]

    return _done(Work(pg, req, name, seq, scatter, keep=(send, recv)), async_op)


def barrier(
    group: Any = None, async_op: bool = False, device_ids: Any = None, timeout: Any = None
) -> Work | None:
    """Wait until every rank of ``group`` has reached the barrier (``timeout``: a timedelta or
    seconds for this call, default the group's; ``device_ids`` is accepted and unused)."""
    name = "barrier"
    pg = resolve(group, name)
    if pg is None:
        return None
    t = None if timeout is None else _seconds(timeout, name)
    seq = pg.next_seq()
    req = pg.comm.Ibarrier()
    work = Work(pg, [req], name, seq)
    if async_op:
        pg.hold(work)
        return work
    work.wait(t)
    return None


def monitored_barrier(group: Any = None, timeout: Any = None, wait_all_ranks: bool = False) -> None:
    """A barrier that says which ranks did not reach it (torch's gloo-only
    ``monitored_barrier``): every rank reports to the group's rank 0, which waits up to
    ``timeout`` (a timedelta or seconds; default the group's) and raises DistBackendError
    naming the first rank that did not arrive (every such rank with ``wait_all_ranks=True``);
    otherwise it releases the others. A rank that is not released within ``timeout`` raises
    too. Ranks are global ranks in the messages. Messages carry the call's number, so a rank
    that arrives after rank 0 gave up is not counted at the next call."""
    name = "monitored_barrier"
    pg = resolve(group, name)
    if pg is None:
        return None
    t = pg.timeout if timeout is None else _seconds(timeout, name)
    if pg.size == 1:
        return None
    side, g, n = pg.side, pg.ranks, int(pg.size)
    pg.monitored += 1
    count = pg.monitored
    seq = pg.next_seq()
    mark = np.array([count], np.int64)
    if pg.rank == 0:
        bufs = {r: np.zeros(1, np.int64) for r in range(1, n)}
        reqs = {r: side.Irecv(bufs[r], source=r, tag=_MB_ARRIVE) for r in range(1, n)}
        arrived: set[int] = set()

        def all_arrived() -> bool:
            for r, q in reqs.items():
                if r not in arrived and q.Test():
                    if bufs[r][0] == count:
                        arrived.add(r)
                    else:  # a late arrival at an earlier call: wait for this call's
                        reqs[r] = side.Irecv(bufs[r], source=r, tag=_MB_ARRIVE)
            return len(arrived) == n - 1

        def report() -> None:
            late = [r for r in range(1, n) if r not in arrived]
            for r in late:
                reqs[r].Cancel()
                reqs[r].Wait()
            ms = int(round(t * 1000))
            who = (
                f"Ranks {', '.join(str(g[r]) for r in late)}"
                if wait_all_ranks
                else f"Rank {g[late[0]]}"
            )
            raise DistBackendError(
                f"{name}: [Rank {g[0]}]: {who} failed to pass monitoredBarrier in {ms} ms"
            )

        pg.wait_for(all_arrived, name, seq, timeout=t, on_timeout=report)
        pg.wait([side.Isend(mark, dest=r, tag=_MB_RELEASE) for r in range(1, n)], name, seq)
        return None
    got = np.zeros(1, np.int64)
    sent = side.Isend(mark, dest=0, tag=_MB_ARRIVE)
    state = {"recv": side.Irecv(got, source=0, tag=_MB_RELEASE)}

    def released() -> bool:
        if not state["recv"].Test():
            return False
        if got[0] != count:  # the release of an earlier call this rank gave up on
            state["recv"] = side.Irecv(got, source=0, tag=_MB_RELEASE)
            return False
        return bool(sent.Test())

    def stuck() -> None:
        state["recv"].Cancel()  # a later call's release must not land in this receive
        state["recv"].Wait()
        raise DistBackendError(
            f"{name}: rank {g[pg.rank]} was not released by rank {g[0]} within {t:g} s (rank "
            f"{g[0]} names the ranks that did not arrive)"
        )

    pg.wait_for(released, name, seq, timeout=t, on_timeout=stuck)
    return None
