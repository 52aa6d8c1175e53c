"""Point-to-point transfers with torch.distributed's names: send, recv, isend, irecv, P2POp and
batch_isend_irecv.

NumPy arrays go through MPI (``Isend``/``Irecv`` of the array's bytes on the group's
communicator, with the caller's ``tag``); CuPy arrays through NCCL's send/recv (``nccl.py``;
NCCL has no tags and no receive from any rank, as torch's NCCL backend). ``dst``/``src`` are
global ranks, ``group_dst``/``group_src`` ranks in ``group``; ``recv`` returns the sender's
global rank. A receive checks that it got as many bytes as its tensor holds: a sender whose
tensor is smaller raises ValueError on the receiving rank, a larger one DistBackendError (MPI's
truncation error).
"""

from __future__ import annotations

import operator
from typing import Any

from .._backend import get_array_module, is_cupy
from . import nccl as _nccl
from .collectives import Work, _array, _bytes, _contig, _done, _one_device
from .process_group import ProcessGroup, group_rank_of, resolve

__all__ = ["P2POp", "batch_isend_irecv", "irecv", "isend", "recv", "send"]


def _tag(tag: Any, pg: ProcessGroup, op: str) -> int:
    try:
        t = operator.index(tag)
    except TypeError:
        raise TypeError(f"{op}: tag must be an int, got {type(tag).__name__}") from None
    ub = pg.comm.Get_attr(pg.MPI.TAG_UB)
    if not 0 <= t <= ub:
        raise ValueError(f"{op}: tag must be in 0..{ub} (MPI's tag range), got {t}")
    return t


def _not_self(pg: ProcessGroup, peer: int, op: str, kind: str) -> None:
    if peer == pg.rank:
        raise ValueError(
            f"{op}: Invalid {kind} rank: {kind} rank should not be the same as the rank of the "
            f"current process ({pg.ranks[peer]})"
        )


def _start_send(pg: ProcessGroup, a: Any, peer: int, tag: int, name: str) -> Work:
    buf = get_array_module(a).ascontiguousarray(a)
    seq = pg.next_seq()
    if is_cupy(buf):
        return Work(pg, _nccl.exchange(pg, [(buf, peer)], [], name), name, seq, keep=(a, buf))
    req = pg.comm.Isend(_bytes(buf), dest=peer, tag=tag)
    return Work(pg, [req], name, seq, keep=(a, buf))


def _start_recv(pg: ProcessGroup, a: Any, peer: int | None, tag: int, name: str) -> Work:
    """A receive into ``a`` from group rank ``peer`` (None: any rank); the Work's
    ``_source`` is the sender's global rank once it has finished."""
    buf, back = _contig(a)
    seq = pg.next_seq()
    if is_cupy(buf):
        if peer is None:
            raise ValueError(
                f"{name}: a CuPy tensor cannot be received from any rank (src=None): NCCL "
                f"needs the sender's rank"
            )
        work = Work(pg, _nccl.exchange(pg, [], [(buf, peer)], name), name, seq, back, (a, buf))
        work._source = pg.ranks[peer]
        return work
    MPI = pg.MPI
    source = MPI.ANY_SOURCE if peer is None else peer
    req = pg.comm.Irecv(_bytes(buf), source=source, tag=tag)
    got: dict = {}

    def test() -> bool:
        if got:
            return True
        st = MPI.Status()
        if req.Test(st):
            got["source"], got["bytes"] = st.Get_source(), st.Get_count(MPI.BYTE)
            return True
        return False

    def finish() -> None:
        sender = pg.ranks[got["source"]]
        if got["bytes"] != buf.nbytes:
            raise ValueError(
                f"{name}: received {got['bytes']} bytes from rank {sender}, but the tensor "
                f"holds {buf.nbytes} ({buf.dtype}{list(buf.shape)}): the sender's tensor has "
                f"another size or dtype"
            )
        work._source = sender
        if back is not None:
            back()

    work = Work(pg, test, name, seq, finish, keep=(a, buf))
    return work


def isend(
    tensor: Any,
    dst: int | None = None,
    group: Any = None,
    tag: int = 0,
    group_dst: int | None = None,
) -> Work | None:
    """Start sending ``tensor`` to global rank ``dst`` (or rank ``group_dst`` of ``group``); a
    Work (None on a rank outside ``group``). Changing ``tensor`` before the Work finishes is
    undefined, as in torch. Sending to oneself is allowed (with a matching ``irecv``)."""
    name = "isend"
    a = _array(tensor, name, writes=False)
    pg = resolve(group, name)
    if pg is None:
        return None
    peer = group_rank_of(pg, name, "dst", dst, group_dst)
    return _done(_start_send(pg, a, peer, _tag(tag, pg, name), name), True)


def irecv(
    tensor: Any,
    src: int | None = None,
    group: Any = None,
    tag: int = 0,
    group_src: int | None = None,
) -> Work | None:
    """Start receiving into ``tensor`` from global rank ``src`` (or rank ``group_src`` of
    ``group``; neither: from any rank); a Work (None on a rank outside ``group``)."""
    name = "irecv"
    a = _array(tensor, name)
    pg = resolve(group, name)
    if pg is None:
        return None
    peer = None
    if src is not None or group_src is not None:
        peer = group_rank_of(pg, name, "src", src, group_src)
    return _done(_start_recv(pg, a, peer, _tag(tag, pg, name), name), True)


def send(
    tensor: Any,
    dst: int | None = None,
    group: Any = None,
    tag: int = 0,
    group_dst: int | None = None,
) -> None:
    """Send ``tensor`` to global rank ``dst`` (or rank ``group_dst`` of ``group``) and return
    once it has left (not to oneself: ValueError, as torch)."""
    name = "send"
    a = _array(tensor, name, writes=False)
    pg = resolve(group, name)
    if pg is None:
        return None
    peer = group_rank_of(pg, name, "dst", dst, group_dst)
    _not_self(pg, peer, name, "destination")
    _start_send(pg, a, peer, _tag(tag, pg, name), name).wait()
    return None


def recv(
    tensor: Any,
    src: int | None = None,
    group: Any = None,
    tag: int = 0,
    group_src: int | None = None,
) -> int:
    """Receive into ``tensor`` from global rank ``src`` (or rank ``group_src`` of ``group``;
    neither: from any rank); returns the sender's global rank (-1 on a rank outside
    ``group``)."""
    name = "recv"
    a = _array(tensor, name)
    pg = resolve(group, name)
    if pg is None:
        return -1
    peer = None
    if src is not None or group_src is not None:
        peer = group_rank_of(pg, name, "src", src, group_src)
        _not_self(pg, peer, name, "source")
    work = _start_recv(pg, a, peer, _tag(tag, pg, name), name)
    work.wait()
    assert work._source is not None  # set when the receive finished
    return work._source


class P2POp:
    """One transfer for ``batch_isend_irecv`` (torch's ``P2POp``): ``op`` is ``isend`` or
    ``irecv``, ``peer`` a global rank or ``group_peer`` a rank in ``group``."""

    def __init__(
        self,
        op: Any,
        tensor: Any,
        peer: int | None = None,
        group: Any = None,
        tag: int = 0,
        group_peer: int | None = None,
    ):
        """Checks the op, the tensor and the peer now, as torch does."""
        name = "P2POp"
        if op is not isend and op is not irecv:
            raise ValueError(
                "P2POp: Invalid ``op``. Expected ``op`` to be of type "
                "``pydlk.distributed.isend`` or ``pydlk.distributed.irecv``."
            )
        _array(tensor, name, writes=op is irecv)
        if group is not None and not isinstance(group, ProcessGroup):
            raise ValueError(f"{name}: Group {group!r} is not registered (this rank is not in it)")
        pg = resolve(group, name)
        assert pg is not None
        self.op, self.tensor, self.tag = op, tensor, tag
        self.group = pg
        self.group_peer = group_rank_of(pg, name, "peer", peer, group_peer)
        self.peer = pg.ranks[self.group_peer]

    def __repr__(self) -> str:
        kind = "isend" if self.op is isend else "irecv"
        return f"P2POp({kind}, peer={self.peer}, tag={self.tag})"


def batch_isend_irecv(p2p_op_list: list) -> list:
    """Start every transfer of ``p2p_op_list`` (P2POps on one group) and return their Works.
    CuPy tensors go as one NCCL group, so pairs of ranks that send to each other do not
    block; on MPI the transfers are independent non-blocking calls."""
    name = "batch_isend_irecv"
    if (
        not isinstance(p2p_op_list, list)
        or not p2p_op_list
        or not all(isinstance(p, P2POp) for p in p2p_op_list)
    ):
        raise ValueError(
            f"{name}: Invalid ``p2p_op_list``. Each op is expected to be of type "
            f"``pydlk.distributed.P2POp`` (and the list not empty)."
        )
    pg = p2p_op_list[0].group
    if not all(p.group is pg for p in p2p_op_list):
        raise ValueError(f"{name}: All ops need to use the same group.")
    arrays = [
        _array(p.tensor, name, f"p2p_op_list[{i}].tensor", writes=p.op is irecv)
        for i, p in enumerate(p2p_op_list)
    ]
    tags = [_tag(p.tag, pg, name) for p in p2p_op_list]
    if not _one_device(arrays, name):
        works = []
        for p, a, t in zip(p2p_op_list, arrays, tags):
            if p.op is isend:
                w = _start_send(pg, a, p.group_peer, t, name)
            else:
                w = _start_recv(pg, a, p.group_peer, t, name)
            works.append(_done(w, True))
        return works
    # CuPy: one NCCL group for all of them; every Work waits for the whole group
    sends, recvs, backs, keep = [], [], [], []
    for p, a in zip(p2p_op_list, arrays):
        if p.op is isend:
            buf = get_array_module(a).ascontiguousarray(a)
            sends.append((buf, p.group_peer))
        else:
            buf, back = _contig(a)
            recvs.append((buf, p.group_peer))
            backs.append(back)
        keep += [a, buf]
    seq = pg.next_seq()
    done = _nccl.exchange(pg, sends, recvs, name)
    first = Work(pg, done, name, seq, _run_all(backs), keep=tuple(keep))
    works = [first] + [Work(pg, _waits_for(first), name, seq) for _ in p2p_op_list[1:]]
    return [_done(w, True) for w in works]


def _run_all(fns: list):
    fns = [f for f in fns if f is not None]
    return (lambda: [f() for f in fns]) if fns else None


def _waits_for(first: Work):
    """A Work test that finishes ``first`` (the NCCL group's write-backs) when it is done."""

    def test() -> bool:
        return first.is_completed()

    return test
