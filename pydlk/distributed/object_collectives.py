"""Collectives of picklable Python objects, with torch.distributed's names: all_gather_object,
gather_object, broadcast_object_list, scatter_object_list, send_object_list, recv_object_list.

Each object is pickled, its bytes travel through MPI (sizes first, then one variable-size
collective of the bytes: ``Iallgatherv``, ``Igatherv``, ``Ibcast``, ``Iscatterv``; the
point-to-point ones on the group's private side communicator, so they never match a tensor
``recv``), and the receiving ranks unpickle them. Objects always travel through host memory;
the ``device`` arguments are accepted and unused.

Security: unpickling runs code chosen by whoever made the bytes. These functions unpickle what
the other ranks sent, so call them only among processes you trust, as torch's documentation
warns for its own versions.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np

from .process_group import ProcessGroup, group_rank_of, resolve

__all__ = [
    "all_gather_object",
    "broadcast_object_list",
    "gather_object",
    "recv_object_list",
    "scatter_object_list",
    "send_object_list",
]

_OBJ_SIZES, _OBJ_DATA = 7311, 7312  # send_object_list's tags on the side channel


def _dumps(obj: Any) -> np.ndarray:
    return np.frombuffer(pickle.dumps(obj), np.uint8)


def _loads(b: np.ndarray) -> Any:
    return pickle.loads(b.tobytes())


def _displs(sizes: np.ndarray) -> list[int]:
    return [0] + [int(v) for v in np.cumsum(sizes)[:-1]]


def _out_list(lst: Any, n: int, op: str, arg: str) -> None:
    """``lst`` is a list with at least ``n`` entries (they are overwritten)."""
    if not isinstance(lst, list):
        raise TypeError(f"{op}: {arg} must be a list, got {type(lst).__name__}")
    if len(lst) < n:
        raise ValueError(
            f"{op}: {arg} must have world_size={n} entries (e.g. [None] * {n}), got {len(lst)}"
        )


def all_gather_object(object_list: list, obj: Any, group: Any = None) -> None:
    """Set ``object_list[r]`` to rank r's ``obj`` on every rank of ``group`` (``object_list``
    needs one entry per rank). Pickles ``obj``; unpickles the others' (see the module's
    security note)."""
    name = "all_gather_object"
    pg = resolve(group, name)
    if pg is None:
        return None
    n = int(pg.size)
    _out_list(object_list, n, name, "object_list")
    mine = _dumps(obj)
    sizes = np.empty(n, np.int64)
    pg.wait([pg.comm.Iallgather(np.array([mine.size], np.int64), sizes)], name, pg.next_seq())
    recv = np.empty(int(sizes.sum()), np.uint8)
    B = pg.MPI.BYTE
    req = pg.comm.Iallgatherv([mine, B], [recv, (list(map(int, sizes)), _displs(sizes)), B])
    pg.wait([req], name, pg.next_seq())
    for r, (lo, s) in enumerate(zip(_displs(sizes), sizes)):
        object_list[r] = _loads(recv[lo : lo + s])
    return None


def gather_object(
    obj: Any,
    object_gather_list: list | None = None,
    dst: int | None = None,
    group: Any = None,
    group_dst: int | None = None,
) -> None:
    """Set ``object_gather_list[r]`` to rank r's ``obj`` on global rank ``dst`` (or rank
    ``group_dst`` of ``group``; default global rank 0), where the list must be given (one entry
    per rank); the other ranks pass None. Pickles ``obj``; the destination unpickles (see
    the module's security note)."""
    name = "gather_object"
    pg = resolve(group, name)
    if pg is None:
        return None
    root = group_rank_of(pg, name, "dst", dst, group_dst, default=0)
    n = int(pg.size)
    if pg.rank == root:
        if not object_gather_list:
            raise ValueError(
                f"{name}: object_gather_list must be given on the destination rank "
                f"({pg.ranks[root]})"
            )
        _out_list(object_gather_list, n, name, "object_gather_list")
    elif object_gather_list:
        raise ValueError(
            f"{name}: object_gather_list must not be given on ranks other than the "
            f"destination ({pg.ranks[root]}); this is rank {pg.ranks[pg.rank]}"
        )
    mine = _dumps(obj)
    sizes = np.empty(n, np.int64) if pg.rank == root else None
    req = pg.comm.Igather(np.array([mine.size], np.int64), sizes, root=root)
    pg.wait([req], name, pg.next_seq())
    B = pg.MPI.BYTE
    if pg.rank == root:
        assert sizes is not None and object_gather_list is not None
        recv = np.empty(int(sizes.sum()), np.uint8)
        rbuf: Any = [recv, (list(map(int, sizes)), _displs(sizes)), B]
    else:
        rbuf = None
    pg.wait([pg.comm.Igatherv([mine, B], rbuf, root=root)], name, pg.next_seq())
    if sizes is not None and object_gather_list is not None:  # the destination
        for r, (lo, s) in enumerate(zip(_displs(sizes), sizes)):
            object_gather_list[r] = _loads(recv[lo : lo + s])
    return None


def broadcast_object_list(
    object_list: list,
    src: int | None = None,
    group: Any = None,
    device: Any = None,
    group_src: int | None = None,
) -> None:
    """Replace the entries of ``object_list`` on every rank of ``group`` by those of global
    rank ``src`` (or rank ``group_src``; default global rank 0). Every rank passes a list of
    the same length; a rank whose length differs from the source's raises ValueError once
    the broadcast is done (nothing is left waiting). Pickles on the source, unpickles on
    the others (see the module's security note)."""
    name = "broadcast_object_list"
    if not isinstance(object_list, list):
        raise TypeError(f"{name}: object_list must be a list, got {type(object_list).__name__}")
    pg = resolve(group, name)
    if pg is None:
        return None
    root = group_rank_of(pg, name, "src", src, group_src, default=0)
    header = np.zeros(2, np.int64)  # (number of objects, payload bytes)
    if pg.rank == root:
        parts = [_dumps(o) for o in object_list]
        sizes = np.array([p.size for p in parts], np.int64)
        header[:] = (len(parts), int(sizes.sum()))
    pg.wait([pg.comm.Ibcast(header, root=root)], name, pg.next_seq())
    count, total = int(header[0]), int(header[1])
    data = np.empty(8 * count + total, np.uint8)
    if pg.rank == root:
        data[: 8 * count] = sizes.view(np.uint8)
        if parts:
            data[8 * count :] = np.concatenate(parts)
    pg.wait([pg.comm.Ibcast([data, pg.MPI.BYTE], root=root)], name, pg.next_seq())
    if pg.rank == root:
        return None
    if count != len(object_list):
        raise ValueError(
            f"{name}: object_list has {len(object_list)} entries on rank {pg.ranks[pg.rank]} "
            f"but {count} on the source rank {pg.ranks[root]}; every rank passes a list of "
            f"the same length"
        )
    sizes = data[: 8 * count].view(np.int64)
    payload = data[8 * count :]
    for i, (lo, s) in enumerate(zip(_displs(sizes), sizes)):
        object_list[i] = _loads(payload[lo : lo + s])
    return None


def scatter_object_list(
    scatter_object_output_list: list,
    scatter_object_input_list: list | None = None,
    src: int | None = None,
    group: Any = None,
    group_src: int | None = None,
) -> None:
    """Set ``scatter_object_output_list[0]`` on rank r to ``scatter_object_input_list[r]`` of
    global rank ``src`` (or rank ``group_src``; default global rank 0), which gives one object
    per rank. Pickles on the source, unpickles on the others (see the module's security
    note)."""
    name = "scatter_object_list"
    pg = resolve(group, name)
    if pg is None:
        return None
    root = group_rank_of(pg, name, "src", src, group_src, default=0)
    if not isinstance(scatter_object_output_list, list) or len(scatter_object_output_list) < 1:
        raise ValueError(
            f"{name}: Expected argument scatter_object_output_list to be a list of size at least 1."
        )
    n = int(pg.size)
    B = pg.MPI.BYTE
    if pg.rank == root:
        if scatter_object_input_list is None:
            raise ValueError(f"{name}: source rank must provide non-None scatter_object_input_list")
        if not isinstance(scatter_object_input_list, (list, tuple)):
            raise TypeError(
                f"{name}: scatter_object_input_list must be a list, got "
                f"{type(scatter_object_input_list).__name__}"
            )
        if len(scatter_object_input_list) != n:
            raise ValueError(
                f"{name}: scatter_object_input_list must hold world_size={n} objects, got "
                f"{len(scatter_object_input_list)}"
            )
        parts = [_dumps(o) for o in scatter_object_input_list]
        sizes: Any = np.array([p.size for p in parts], np.int64)
        send: Any = [np.concatenate(parts), (list(map(int, sizes)), _displs(sizes)), B]
    else:
        sizes, send = None, None
    mine = np.empty(1, np.int64)
    pg.wait([pg.comm.Iscatter(sizes, mine, root=root)], name, pg.next_seq())
    recv = np.empty(int(mine[0]), np.uint8)
    pg.wait([pg.comm.Iscatterv(send, [recv, B], root=root)], name, pg.next_seq())
    scatter_object_output_list[0] = _loads(recv)
    return None


def _p2p_peer(pg: ProcessGroup, name: str, what: str, rank: Any, group_rank: Any) -> int:
    peer = group_rank_of(pg, name, what, rank, group_rank)
    if peer == pg.rank:
        kind = "destination" if what == "dst" else "source"
        raise ValueError(
            f"{name}: Invalid {kind} rank: {kind} rank should not be the same as the rank of "
            f"the current process ({pg.ranks[peer]})"
        )
    return peer


def send_object_list(
    object_list: list,
    dst: int | None = None,
    group: Any = None,
    device: Any = None,
    group_dst: int | None = None,
    use_batch: bool = False,
) -> None:
    """Send the objects of ``object_list`` to global rank ``dst`` (or rank ``group_dst`` of
    ``group``), whose ``recv_object_list`` gets them. Pickles them (see the module's security
    note); ``use_batch`` is accepted and unused."""
    name = "send_object_list"
    if not isinstance(object_list, list):
        raise TypeError(f"{name}: object_list must be a list, got {type(object_list).__name__}")
    pg = resolve(group, name)
    if pg is None:
        return None
    peer = _p2p_peer(pg, name, "dst", dst, group_dst)
    parts = [_dumps(o) for o in object_list]
    sizes = np.array([p.size for p in parts], np.int64)
    data = np.concatenate(parts) if parts else np.empty(0, np.uint8)
    B = pg.MPI.BYTE
    reqs = [
        pg.side.Isend([sizes, pg.MPI.INT64_T], dest=peer, tag=_OBJ_SIZES),
        pg.side.Isend([data, B], dest=peer, tag=_OBJ_DATA),
    ]
    pg.wait(reqs, name, pg.next_seq())
    return None


def recv_object_list(
    object_list: list,
    src: int | None = None,
    group: Any = None,
    device: Any = None,
    group_src: int | None = None,
    use_batch: bool = False,
) -> int:
    """Fill ``object_list`` with the objects a ``send_object_list`` sent from global rank
    ``src`` (or rank ``group_src`` of ``group``; neither: from any rank, as torch documents);
    returns the sender's global rank (-1 on a rank outside ``group``). A list whose length
    differs from the sender's raises ValueError after both messages are received. Unpickles
    what the sender chose (see the module's security note)."""
    name = "recv_object_list"
    if not isinstance(object_list, list):
        raise TypeError(f"{name}: object_list must be a list, got {type(object_list).__name__}")
    pg = resolve(group, name)
    if pg is None:
        return -1
    MPI = pg.MPI
    source = MPI.ANY_SOURCE
    if src is not None or group_src is not None:
        source = _p2p_peer(pg, name, "src", src, group_src)
    st = MPI.Status()
    seq = pg.next_seq()
    pg.wait_for(lambda: pg.side.Iprobe(source=source, tag=_OBJ_SIZES, status=st), name, seq)
    sender, count = st.Get_source(), st.Get_count(MPI.BYTE) // 8
    sizes = np.empty(count, np.int64)
    pg.wait([pg.side.Irecv([sizes, MPI.INT64_T], source=sender, tag=_OBJ_SIZES)], name, seq)
    data = np.empty(int(sizes.sum()), np.uint8)
    pg.wait([pg.side.Irecv([data, MPI.BYTE], source=sender, tag=_OBJ_DATA)], name, seq)
    if count != len(object_list):
        raise ValueError(
            f"{name}: object_list has {len(object_list)} entries but rank {pg.ranks[sender]} "
            f"sent {count} objects"
        )
    for i, (lo, s) in enumerate(zip(_displs(sizes), sizes)):
        object_list[i] = _loads(data[lo : lo + s])
    return pg.ranks[sender]
