"""Process groups beyond the default one: ``new_group`` as an MPI sub-communicator,
``new_subgroups``, and torch's rank translations.

``new_group(ranks)`` is called by every rank of the default group, as torch requires; it is one
``MPI_Comm_split`` (after a check that every rank passed the same ranks), so the members get a
``ProcessGroup`` on their own communicator and the others ``GroupMember.NON_GROUP_MEMBER``. With
``use_local_synchronization=True`` only the members call it (``MPI_Comm_create_group``), and the
others get None, as in torch. Group ranks follow the order of ``ranks`` (sorted unless
``sort_ranks=False``).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from . import process_group as _pg
from .backend import check_backend
from .process_group import GroupMember, ProcessGroup, _as_int, _seconds, _WorldMeta

__all__ = [
    "get_global_rank",
    "get_group_rank",
    "get_process_group_ranks",
    "group",
    "new_group",
    "new_subgroups",
]

_TAG_CREATE = 7330  # MPI_Comm_create_group's tag for use_local_synchronization groups


class group(metaclass=_WorldMeta):  # noqa: N801  (torch's name)
    """torch.distributed.group: ``group.WORLD`` is the default process group (None before
    ``init_process_group``)."""


def _registered(grp: Any, op: str) -> ProcessGroup:
    if grp is None:
        return _pg._require(op)
    if isinstance(grp, ProcessGroup) and not grp.destroyed:
        return grp
    raise ValueError(
        f"{op}: Group {grp!r} is not registered, please create group with "
        f"pydlk.distributed.new_group"
    )


def get_group_rank(group: Any, global_rank: int) -> int:
    """The rank in ``group`` of the process with global rank ``global_rank`` (ValueError when
    it is not in the group); the identity on the default group."""
    op = "get_group_rank"
    pg = _registered(group, op)
    r = _as_int(global_rank, op, "global_rank")
    g = pg.group_rank_of_global.get(r)
    if g is None:
        raise ValueError(f"{op}: Global rank {r} is not part of group {pg!r}")
    return g


def get_global_rank(group: Any, group_rank: int) -> int:
    """The global rank of rank ``group_rank`` of ``group`` (ValueError when out of range); the
    identity on the default group."""
    op = "get_global_rank"
    pg = _registered(group, op)
    g = _as_int(group_rank, op, "group_rank")
    if not 0 <= g < pg.size:
        raise ValueError(f"{op}: Group rank {g} is not part of group {pg!r}")
    return pg.ranks[g]


def get_process_group_ranks(group: Any) -> list[int]:
    """The global ranks of ``group`` (None: the default group), ordered by group rank."""
    return list(_registered(group, "get_process_group_ranks").ranks)


def _check_ranks(ranks: Any, world: int, op: str, sort_ranks: bool) -> list[int]:
    if ranks is None:
        return list(range(world))
    if isinstance(ranks, (str, bytes)) or not hasattr(ranks, "__iter__"):
        raise TypeError(f"{op}: ranks must be a list of ints, got {type(ranks).__name__}")
    out = [_as_int(r, op, "ranks[i]") for r in ranks]
    if sort_ranks:
        out = sorted(out)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: ranks list must not contain duplicate entries, got {out}")
    for r in out:
        if not 0 <= r < world:
            raise ValueError(
                f"{op}: Rank {r} is out of range. Valid ranks are 0 to {world - 1} "
                f"(world_size={world})"
            )
    return out


def new_group(
    ranks: Any = None,
    timeout: Any = None,
    backend: Any = None,
    pg_options: Any = None,
    use_local_synchronization: bool = False,
    group_desc: str | None = None,
    device_id: Any = None,
    sort_ranks: bool = True,
) -> Any:
    """A process group of the global ``ranks`` (None: all), for the ``group=`` argument of
    every collective. Every rank of the default group calls it with the same ``ranks``
    (a rank that passes other ranks makes every rank raise ValueError); members get the group,
    the others ``GroupMember.NON_GROUP_MEMBER``. With ``use_local_synchronization=True`` only
    the members call it and the others get None (torch refuses this for its MPI backend; here
    it is MPI_Comm_create_group). ``timeout`` defaults to the default group's; ``backend``
    (None: the default group's name) is checked as in ``init_process_group``; ``pg_options``,
    ``group_desc`` and ``device_id`` are accepted and unused."""
    op = "new_group"
    world = _pg._require(op)
    name = check_backend(backend, op) if backend is not None else world.backend
    t = world.timeout if timeout is None else _seconds(timeout, op)
    members = _check_ranks(ranks, int(world.size), op, sort_ranks)
    me = int(world.rank)
    MPI = world.MPI
    if use_local_synchronization:
        if me not in members:
            return None
        mpi_group = world.comm.Get_group().Incl(members)
        try:
            comm = world.comm.Create_group(mpi_group, _TAG_CREATE)
        finally:
            mpi_group.Free()
        return ProcessGroup(t, comm=comm, ranks=members, backend=name)
    # every rank must describe the same group: compare a checksum of the list
    mine = np.array([zlib.crc32(np.asarray(members, np.int64).tobytes()), len(members)], np.int64)
    every = np.empty((int(world.size), 2), np.int64)
    world.wait([world.comm.Iallgather(mine, every)], f"{op} check", world.next_seq())
    differ = [r for r in range(int(world.size)) if not (every[r] == every[0]).all()]
    if differ:
        raise ValueError(
            f"{op}: every rank must pass the same ranks; ranks {differ} passed other ranks "
            f"than rank 0 (this rank passed {members})"
        )
    inside = me in members
    color = 0 if inside else MPI.UNDEFINED
    key = members.index(me) if inside else 0
    comm = world.comm.Split(color, key)
    if not inside:
        return GroupMember.NON_GROUP_MEMBER
    return ProcessGroup(t, comm=comm, ranks=members, backend=name)


def new_subgroups(
    group_size: int | None = None,
    group: Any = None,
    timeout: Any = None,
    backend: Any = None,
    pg_options: Any = None,
    group_desc: str | None = None,
) -> tuple[Any, list]:
    """Split ``group`` (default: all ranks) into consecutive subgroups of ``group_size`` ranks:
    (this rank's subgroup, every subgroup), where the subgroups this rank is not in are
    ``GroupMember.NON_GROUP_MEMBER``, as torch's ``new_group`` gives them. ``group_size``
    defaults to the number of CUDA devices (ValueError without one, as torch)."""
    op = "new_subgroups"
    if group_size is None:
        n = 0
        try:
            import cupy

            n = cupy.cuda.runtime.getDeviceCount()
        except Exception:  # noqa: BLE001  (no CuPy, no driver)
            n = 0
        if n == 0:
            raise ValueError(
                f"{op}: Default group size only takes effect when CUDA is available. Pass "
                f"'group_size' for subgroups of CPU ranks."
            )
        group_size = n
    size = _as_int(group_size, op, "group_size")
    if size <= 0:
        raise ValueError(f"{op}: The arg 'group_size' ({size}) must be positive")
    parent = _registered(group, op)
    world = int(parent.size)
    if world < size:
        raise ValueError(
            f"{op}: The arg 'group_size' ({size}) must not exceed the world size ({world})"
        )
    if world % size != 0:
        raise ValueError(f"{op}: The world size ({world}) must be divisible by 'group_size={size}'")
    if not parent.is_world:
        raise ValueError(f"{op}: subgroups of a group other than the default one are not supported")
    cur = None
    subgroups = []
    for start in range(0, world, size):
        g = new_group(list(range(start, start + size)), timeout=timeout, backend=backend)
        subgroups.append(g)
        if isinstance(g, ProcessGroup):
            cur = g
    return cur, subgroups
