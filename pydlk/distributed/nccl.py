"""Collectives on CuPy arrays (the GPU path) through NCCL, ``cupy.cuda.nccl``.

The collectives (``collectives``, ``tensor_collectives``) and ``p2p`` hand CuPy arrays here;
NumPy arrays go to MPI. NCCL's own collectives carry all_reduce, broadcast, reduce, all_gather
and reduce_scatter; gather, scatter, the all_to_alls and send/recv are NCCL point-to-point
calls inside one ``ncclGroupStart``/``ncclGroupEnd`` (``exchange``), moving bytes, so every
dtype travels. The structure:

* bootstrap: MPI carries only NCCL's unique id. On the first GPU collective of a process group
  its rank 0 creates the id, an MPI broadcast gives it to every rank of the group, and each rank
  joins one NCCL communicator on its current CUDA device (``NcclGroup``, cached on the process
  group; a ``new_group`` gets its own). Each rank selects its GPU
  before that, e.g. ``cupy.cuda.Device(local_rank).use()``; NCCL does not allow two ranks on
  one GPU.
* launch: the collective is enqueued on the current CuPy stream, device pointer to device
  pointer (no host copy), and a CUDA event is recorded after it.
* wait: the process group's polling loop polls that event, so a GPU collective that waits past
  the timeout names the missing ranks exactly as an MPI one does. An NCCL error is raised as
  DistBackendError.

NCCL has no complex or bool types: complex arrays are reduced as pairs of reals (SUM and AVG
only); AVG is NCCL's SUM divided by the world size afterwards, as on the MPI path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import DistBackendError

__all__ = [
    "NcclGroup",
    "all_gather",
    "all_reduce",
    "broadcast",
    "exchange",
    "group_for",
    "nccl_view",
    "reduce",
    "reduce_scatter",
]

# dtype name -> NCCL type constant name (cupy.cuda.nccl.NCCL_*)
_DTYPES = {
    "int8": "NCCL_INT8",
    "uint8": "NCCL_UINT8",
    "int32": "NCCL_INT32",
    "uint32": "NCCL_UINT32",
    "int64": "NCCL_INT64",
    "uint64": "NCCL_UINT64",
    "float16": "NCCL_FLOAT16",
    "float32": "NCCL_FLOAT32",
    "float64": "NCCL_FLOAT64",
}
_OPS = {
    "sum": "NCCL_SUM",
    "avg": "NCCL_SUM",
    "product": "NCCL_PROD",
    "min": "NCCL_MIN",
    "max": "NCCL_MAX",
}
_UNIQUE_ID_BYTES = 128  # NCCL_UNIQUE_ID_BYTES: get_unique_id() gives that many chars


def _nccl():
    try:
        from cupy.cuda import nccl
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError(
            f"pydlk.distributed: collectives on CuPy arrays need NCCL (cupy.cuda.nccl, part of "
            f"the CuPy wheels for CUDA); importing it failed: {e}"
        ) from e
    return nccl


def nccl_view(a: Any, op_value: str, name: str) -> tuple[Any, str]:
    """(the array NCCL works on, the name of its NCCL type): complex arrays as their pairs of
    reals (SUM and AVG only); a dtype NCCL lacks is a TypeError naming the collective."""
    if a.dtype.kind == "c":
        if op_value not in ("sum", "avg"):
            raise TypeError(
                f"{name}: NCCL reduces complex arrays with SUM or AVG only, got "
                f"{op_value.upper()} on {a.dtype}"
            )
        a = a.view(np.dtype(f"f{a.dtype.itemsize // 2}"))
    key = _DTYPES.get(a.dtype.name)
    if key is None:
        raise TypeError(
            f"{name}: NCCL has no type for {a.dtype}; expected one of {', '.join(_DTYPES)} "
            f"(or complex)"
        )
    return a, key


def _as_nccl(a: Any, op_value: str, name: str) -> tuple[Any, int]:
    buf, key = nccl_view(a, op_value, name)
    return buf, getattr(_nccl(), key)


class NcclGroup:
    """One NCCL communicator over the process group's ranks, on the current CUDA device."""

    def __init__(self, pg: Any):
        import cupy

        nccl = _nccl()
        # rank 0's id, as its bytes 0..255, to every rank over MPI
        uid = np.zeros(_UNIQUE_ID_BYTES, np.int64)
        if pg.rank == 0:
            raw = nccl.get_unique_id()  # bytes on CuPy 14, a tuple of signed chars before
            if isinstance(raw, (bytes, bytearray)):
                uid[:] = np.frombuffer(raw, np.uint8)
            else:
                uid[:] = [int(v) & 0xFF for v in raw]
        seq = pg.next_seq()
        pg.wait([pg.comm.Ibcast(uid, root=0)], "NCCL bootstrap broadcast", seq)
        self.device = cupy.cuda.Device().id
        cid = bytes(uid.astype(np.uint8))
        try:
            self.comm = nccl.NcclCommunicator(pg.size, cid, pg.rank)  # CuPy 14: bytes
        except TypeError:  # CuPy 13: a tuple of signed chars
            signed = tuple(b - 256 if b > 127 else b for b in cid)
            self.comm = nccl.NcclCommunicator(pg.size, signed, pg.rank)

    def check_device(self, a: Any, name: str) -> None:
        if a.device.id != self.device:
            raise ValueError(
                f"{name}: the array is on cuda:{a.device.id} but this rank's NCCL "
                f"communicator is on cuda:{self.device} (select the GPU before the first "
                f"collective: cupy.cuda.Device(i).use())"
            )


def group_for(pg: Any) -> NcclGroup:
    """The process group's NCCL communicator, created on first use."""
    g = getattr(pg, "_nccl", None)
    if g is None:
        g = pg._nccl = NcclGroup(pg)
    return g


def _launched(enqueue, stream: Any = None) -> Any:
    """Enqueue a collective on ``stream`` (default: the current stream); a ``done()`` poll of
    its completion. On a side stream it starts after the work queued so far on the current
    stream (an event), so it reads the values that work produces while later work overlaps."""
    import cupy

    if stream is None:
        stream = cupy.cuda.get_current_stream()
    else:
        ready = cupy.cuda.Event(block=False, disable_timing=True)
        ready.record(cupy.cuda.get_current_stream())
        stream.wait_event(ready)
    try:
        enqueue(stream.ptr)
    except Exception as e:
        if type(e).__name__ != "NcclError":
            raise
        raise DistBackendError(f"pydlk.distributed: NCCL failed: {e}") from e
    ev = cupy.cuda.Event(block=False, disable_timing=True)
    ev.record(stream)
    return lambda: ev.done


def all_reduce(
    pg: Any, a: Any, op_value: str, name: str, group: NcclGroup | None = None, stream: Any = None
) -> Any:
    """Start an in-place all-reduce of the contiguous CuPy array ``a``; returns ``done()``.
    ``group``: a communicator of the caller's own (default: the process group's); ``stream``:
    a side stream to run it on (default: the current stream)."""
    g = group if group is not None else group_for(pg)
    g.check_device(a, name)
    buf, dtype = _as_nccl(a, op_value, name)
    nccl_op = getattr(_nccl(), _OPS[op_value])
    ptr = buf.data.ptr
    return _launched(lambda s: g.comm.allReduce(ptr, ptr, buf.size, dtype, nccl_op, s), stream)


def broadcast(pg: Any, a: Any, src: int, name: str, group: NcclGroup | None = None) -> Any:
    """Start an in-place broadcast of ``a`` from rank ``src``; returns ``done()``."""
    g = group if group is not None else group_for(pg)
    g.check_device(a, name)
    buf, dtype = _as_nccl(a, "sum", name)
    return _launched(lambda s: g.comm.bcast(buf.data.ptr, buf.size, dtype, int(src), s))


def all_gather(pg: Any, send: Any, recv: Any, name: str) -> Any:
    """Start gathering every rank's ``send`` into ``recv`` (shape (world, *send.shape))."""
    g = group_for(pg)
    g.check_device(send, name)
    sbuf, dtype = _as_nccl(send, "sum", name)
    rbuf, _ = _as_nccl(recv, "sum", name)
    return _launched(lambda s: g.comm.allGather(sbuf.data.ptr, rbuf.data.ptr, sbuf.size, dtype, s))


def reduce(pg: Any, a: Any, op_value: str, root: int, name: str) -> Any:
    """Start an in-place reduction of ``a`` onto rank ``root`` of the group; returns
    ``done()``."""
    g = group_for(pg)
    g.check_device(a, name)
    buf, dtype = _as_nccl(a, op_value, name)
    nccl_op = getattr(_nccl(), _OPS[op_value])
    ptr = buf.data.ptr
    return _launched(lambda s: g.comm.reduce(ptr, ptr, buf.size, dtype, nccl_op, int(root), s))


def reduce_scatter(pg: Any, send: Any, recv: Any, op_value: str, name: str) -> Any:
    """Start reducing ``send`` (the group's size times ``recv``'s elements) and leaving block r
    of the result in rank r's ``recv``; returns ``done()``."""
    g = group_for(pg)
    g.check_device(send, name)
    sbuf, dtype = _as_nccl(send, op_value, name)
    rbuf, _ = _as_nccl(recv, op_value, name)
    nccl_op = getattr(_nccl(), _OPS[op_value])
    return _launched(
        lambda s: g.comm.reduceScatter(sbuf.data.ptr, rbuf.data.ptr, rbuf.size, dtype, nccl_op, s)
    )


def exchange(pg: Any, sends: list, recvs: list, name: str) -> Any:
    """Start point-to-point transfers as one NCCL group: ``sends`` and ``recvs`` are lists of
    (contiguous CuPy array, peer rank in the group), moved as bytes (a rank may send to
    itself). Returns ``done()``. Grouping lets every rank post its sends before its receives
    without the two ranks of a pair blocking each other."""
    g = group_for(pg)
    for a, _ in sends + recvs:
        g.check_device(a, name)
    nccl = _nccl()
    byte = nccl.NCCL_UINT8

    def enqueue(s):
        nccl.groupStart()
        try:
            for a, peer in sends:
                g.comm.send(a.data.ptr, a.nbytes, byte, int(peer), s)
            for a, peer in recvs:
                g.comm.recv(a.data.ptr, a.nbytes, byte, int(peer), s)
        finally:
            nccl.groupEnd()

    return _launched(enqueue)
