"""The MPI process groups: lazy mpi4py import, init/destroy, rank and size, group resolution,
and the waiting loop that every collective goes through (timeouts that name the missing ranks,
prompt failure).

mpi4py is imported only when a process group is created (``init_process_group``), so a CPU
install without the ``mpi`` extra never loads MPI. ``get_rank``/``get_world_size`` answer before
that from the launcher's environment (``mpiexec`` sets ``PMI_RANK``/``PMI_SIZE`` for MPICH,
``OMPI_COMM_WORLD_RANK``/``_SIZE`` for Open MPI), so scripts can branch on the rank early.

Groups. The default group runs on MPI_COMM_WORLD; ``new_group`` (``groups.py``) makes a
``ProcessGroup`` on a sub-communicator. torch's collectives take ``dst``/``src`` as global
ranks and ``group_dst``/``group_src`` as ranks in the group; ``group_rank_of`` turns either into
the rank MPI wants. A rank outside a group holds ``GroupMember.NON_GROUP_MEMBER``; a collective
given it warns and returns None, as torch's do (``resolve``).

Faults. ``init_process_group`` installs a ``sys.excepthook`` that prints the uncaught exception
(once, on the rank that raised it) and calls ``MPI.COMM_WORLD.Abort(1)``: the launcher then ends
every rank with a non-zero status instead of leaving them blocked in a collective. A collective
that waits longer than the group's timeout raises a DistBackendError (a RuntimeError) that names
the ranks that have not reached it: every rank that is itself waiting in a collective, in any
group, answers a small query on the group's private side communicator with the collective it is
in; a rank that does not answer within a grace period is busy elsewhere (computing, or dead) and
is named as missing.
"""

from __future__ import annotations

import datetime
import operator
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse

from .backend import Backend, DistBackendError, check_backend, is_mpi_available

__all__ = [
    "GroupMember",
    "ProcessGroup",
    "destroy_process_group",
    "get_backend",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_available",
    "is_initialized",
    "is_mpi_available",
]

_DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)  # torch's default_pg_timeout
_QUERY, _REPLY = 7301, 7302  # side-channel tags
_INSTALL_HINT = "pip install 'pydlk[mpi]'"
_NON_GROUP_MEMBER = -100  # torch's GroupMember.NON_GROUP_MEMBER

_group: ProcessGroup | None = None  # the default group
_live: list[ProcessGroup] = []  # every group not destroyed: their side channels are served
_waiting: tuple[ProcessGroup, int, str] | None = None  # (group, seq, name) being waited in


def _mpi():
    """mpi4py's MPI module, imported on first use (initialises MPI)."""
    try:
        from mpi4py import MPI
    except ImportError as e:  # pragma: no cover - depends on the install
        raise DistBackendError(
            f"pydlk.distributed: the MPI backend needs mpi4py and an MPI library "
            f"({_INSTALL_HINT}); importing mpi4py failed: {e}"
        ) from e
    return MPI


def is_available() -> bool:
    """torch.distributed.is_available: True when a backend (here MPI via mpi4py) is installed."""
    return is_mpi_available()


def is_initialized() -> bool:
    """True between ``init_process_group`` and ``destroy_process_group``."""
    return _group is not None


def _env_int(*names: str) -> int | None:
    for n in names:
        v = os.environ.get(n)
        if v is not None and v.strip().lstrip("-").isdigit():
            return int(v)
    return None


def _env_rank_size() -> tuple[int, int]:
    """The rank and size the launcher put in the environment (0 and 1 without a launcher)."""
    rank = _env_int("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")
    size = _env_int("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
    return (rank or 0, size or 1)


class _WorldMeta(type):
    """Gives ``GroupMember`` and ``group`` torch's class property ``WORLD``."""

    @property
    def WORLD(cls) -> ProcessGroup | None:  # noqa: N802  (torch's name)
        return _group


class GroupMember(metaclass=_WorldMeta):
    """torch's ``GroupMember``: ``WORLD`` is the default process group (None before
    ``init_process_group``); ``NON_GROUP_MEMBER`` (-100, as torch's) is what ``new_group``
    returns on the ranks outside the new group."""

    NON_GROUP_MEMBER = _NON_GROUP_MEMBER


def _is_non_member(group: Any) -> bool:
    return type(group) is int and group == _NON_GROUP_MEMBER


def _require(op: str) -> ProcessGroup:
    if _group is None:
        raise RuntimeError(
            f"{op}: Default process group has not been initialized, please make "
            f"sure to call init_process_group."
        )
    return _group


def _default_group(op: str) -> ProcessGroup:
    return _require(op)


def _group_or_default(group: Any, op: str) -> ProcessGroup:
    """The process group a module's ``process_group=`` names: the default one for None (or
    ``group.WORLD``), else a live ``new_group`` this rank belongs to (ValueError otherwise)."""
    if group is None or group is _group:
        return _require(op)
    if _is_non_member(group):
        raise ValueError(
            f"{op}: this rank is not in the given process group (new_group returned "
            f"GroupMember.NON_GROUP_MEMBER here); only the group's ranks may use it"
        )
    if not isinstance(group, ProcessGroup) or group.destroyed:
        raise ValueError(
            f"{op}: Invalid process group {group!r}: pass None (the default group) or a live "
            f"group made by pydlk.distributed.new_group"
        )
    return group


def warn_not_in_group(op: str, stacklevel: int = 3) -> None:
    """torch's warning for a collective called with a group this rank is not in."""
    rank = -1 if _group is None else int(_group.rank)
    warnings.warn(
        f"Running {op} on global rank {rank} which does not belong to the given group.",
        stacklevel=stacklevel,
    )


def resolve(group: Any, op: str) -> ProcessGroup | None:
    """The group a collective runs on: the default one for None (or ``group.WORLD``), the
    given ``new_group`` result, or None (after torch's warning) when this rank is not in it."""
    if group is None:
        return _require(op)
    if isinstance(group, ProcessGroup):
        if group.destroyed:
            raise ValueError(f"{op}: the group was destroyed (destroy_process_group)")
        return group
    if _is_non_member(group):
        warn_not_in_group(op, stacklevel=4)
        return None
    raise TypeError(
        f"{op}: group must be None, group.WORLD or a group from new_group, got "
        f"{type(group).__name__}"
    )


def _as_int(v: Any, op: str, what: str) -> int:
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{op}: {what} must be an int, got {type(v).__name__}") from None


def group_rank_of(
    pg: ProcessGroup,
    op: str,
    what: str,
    global_rank: Any,
    group_rank: Any,
    default: int | None = None,
) -> int:
    """torch's ``dst``/``src`` (a global rank) or ``group_dst``/``group_src`` (a rank in
    ``pg``) as a rank in ``pg``; ``default`` is the global rank used when neither is given
    (torch's gather and scatter default to 0, its reduce and broadcast require one)."""
    if global_rank is not None and group_rank is not None:
        raise ValueError(f"{op}: give {what} or group_{what}, not both")
    if group_rank is not None:
        g = _as_int(group_rank, op, f"group_{what}")
        if not 0 <= g < pg.size:
            raise ValueError(
                f"{op}: group_{what}={g} is not a rank of the group (size {int(pg.size)})"
            )
        return g
    if global_rank is None:
        if default is None:
            raise ValueError(
                f"{op}: {what} (a global rank) or group_{what} (a rank in the group) is required"
            )
        global_rank = default
    r = _as_int(global_rank, op, what)
    found = pg.group_rank_of_global.get(r)
    if found is None:
        if pg.is_world:
            raise ValueError(f"{op}: {what}={r} is not a rank of a group of size {int(pg.size)}")
        raise ValueError(
            f"{op}: {what}={r} (a global rank) is not in the group, whose global ranks are "
            f"{pg.ranks}"
        )
    return found


def get_rank(group: Any = None) -> int:
    """This process's rank in ``group`` (default: the default group): -1 on a rank outside
    ``group``. Before ``init_process_group`` it comes from the launcher's environment (0 when
    not launched by mpiexec); torch raises there, answering lets rank-0-only printing work."""
    if _is_non_member(group):
        return -1
    if group is not None:
        return int(_resolve_info(group, "get_rank").rank)
    return int(_group.rank) if _group is not None else _env_rank_size()[0]


def get_world_size(group: Any = None) -> int:
    """The number of processes in ``group`` (default: all; -1 on a rank outside ``group``; 1
    when not launched by mpiexec); see ``get_rank``."""
    if _is_non_member(group):
        return -1
    if group is not None:
        return int(_resolve_info(group, "get_world_size").size)
    return int(_group.size) if _group is not None else _env_rank_size()[1]


def _resolve_info(group: Any, op: str) -> ProcessGroup:
    pg = resolve(group, op)
    assert pg is not None  # non-members are answered before
    return pg


def get_backend(group: Any = None) -> str:
    """The group's backend name as given to ``init_process_group``/``new_group`` ("mpi" by
    default; "gloo" and "nccl" run over the same transports, see ``backend.py``)."""
    if _is_non_member(group):
        raise ValueError("get_backend: Invalid process group specified (this rank is not in it)")
    pg = _resolve_info(group, "get_backend")
    return Backend(getattr(pg, "backend", Backend.MPI))


def _seconds(timeout: Any, op: str = "init_process_group") -> float:
    if timeout is None:
        return _DEFAULT_TIMEOUT.total_seconds()
    if isinstance(timeout, datetime.timedelta):
        s = timeout.total_seconds()
    elif isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        s = float(timeout)
    else:
        raise TypeError(
            f"{op}: timeout must be a datetime.timedelta or seconds, got {type(timeout).__name__}"
        )
    if not s > 0:
        raise ValueError(f"{op}: timeout must be positive, got {timeout}")
    return s


class _Count(int):
    """An int that can also be called: ``pg.rank`` and ``pg.size`` are ints, and torch's
    ``ProcessGroup.rank()``/``size()`` calls work on them too."""

    def __call__(self) -> int:
        return int(self)


class ProcessGroup:
    """A group of ranks over one MPI communicator (torch's ``ProcessGroup``), with a private
    duplicate for the timeout side channel and for pydlk's own messages (object lists,
    ``monitored_barrier``). ``rank``/``size`` are this rank's rank in the group and the group's
    size (ints that may also be called, as torch's methods); ``ranks`` the group's global ranks
    in group-rank order."""

    def __init__(
        self,
        timeout_s: float,
        comm: Any = None,
        ranks: Sequence[int] | None = None,
        backend: str = Backend.MPI,
    ):
        MPI = _mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.side = self.comm.Dup()  # queries never match a collective's messages
        self.rank = _Count(self.comm.Get_rank())
        self.size = _Count(self.comm.Get_size())
        self.is_world = comm is None
        self.ranks = list(range(self.size)) if ranks is None else [int(r) for r in ranks]
        self.group_rank_of_global = {r: i for i, r in enumerate(self.ranks)}
        self.backend = backend
        self.timeout = timeout_s
        self.destroyed = False
        self.seq = 0  # collectives started on this rank, in program order
        self.monitored = 0  # monitored_barrier calls on this group (their messages' number)
        # outstanding side-channel sends, (request, buffer): mpi4py keeps no reference to a
        # non-blocking send's buffer, so it is kept here until the send completes
        self._sends: list = []
        self._query_id = 0
        self._held: list = []  # async collectives' Work, until their transfers complete
        _live.append(self)

    def __repr__(self) -> str:
        return f"<pydlk ProcessGroup ranks={self.ranks} rank={int(self.rank)}>"

    def name(self) -> str:
        """The backend name (torch's ``ProcessGroup.name()``)."""
        return str(self.backend)

    # -- waiting ----------------------------------------------------------------------------
    def next_seq(self) -> int:
        self.seq += 1
        self._held = [w for w in self._held if not w._transfer_done()]
        return self.seq

    def hold(self, work: Any) -> None:
        """Keep an async collective's Work (and the arrays it holds) until its transfer
        completes, even if the caller drops it without waiting."""
        self._held.append(work)

    def wait(self, reqs: Sequence[Any], name: str, seq: int) -> None:
        """Poll the MPI requests ``reqs`` until all complete (see ``wait_for``)."""
        reqs = list(reqs)
        self.wait_for(lambda: self.MPI.Request.Testall(reqs), name, seq)

    def wait_for(
        self,
        done: Callable[[], bool],
        name: str,
        seq: int,
        timeout: float | None = None,
        on_timeout: Callable[[], None] | None = None,
    ) -> None:
        """Poll ``done()`` until it is true (MPI requests, or a CUDA event after an NCCL
        collective), answering side-channel queries of every group meanwhile; past the timeout
        (the group's, or ``timeout`` seconds) call ``on_timeout`` or ask the other ranks where
        they are and raise a DistBackendError naming the missing ones. Polls back off to at
        most 1 ms sleeps so that a waiting rank leaves the CPU to a computing one (ranks may
        share cores). An MPI error becomes a DistBackendError naming the collective."""
        global _waiting
        try:
            if done():
                return
            outer, _waiting = _waiting, (self, seq, name)
            limit = self.timeout if timeout is None else timeout
            deadline = time.monotonic() + limit
            k = 0
            try:
                while not done():
                    _serve_all()
                    k += 1
                    if k > 50:
                        if time.monotonic() > deadline:
                            if on_timeout is not None:
                                on_timeout()
                            else:
                                self._timed_out(name, seq, limit)
                        time.sleep(min(1e-3, 1e-6 * (k - 50)))
            finally:
                _waiting = outer
        except self.MPI.Exception as e:
            raise DistBackendError(
                f"pydlk.distributed: {name} on rank {int(self.rank)} failed in MPI: {e}"
            ) from e

    def _serve(self) -> None:
        """Answer every pending 'where are you' query on this group's side channel with the
        collective being waited in (seq -2 when that is in another group)."""
        MPI = self.MPI
        st = MPI.Status()
        import numpy as np

        while self.side.Iprobe(source=MPI.ANY_SOURCE, tag=_QUERY, status=st):
            q = np.empty(1, np.int64)
            self.side.Recv([q, MPI.INT64_T], source=st.Get_source(), tag=_QUERY)
            if _waiting is None:
                seq, name = -1, ""
            else:
                seq = _waiting[1] if _waiting[0] is self else -2
                name = _waiting[2]
            code = np.frombuffer(name.encode()[:24].ljust(24), np.uint8).astype(np.int64)
            msg = np.concatenate([[q[0], seq], code])
            req = self.side.Isend([msg, MPI.INT64_T], dest=st.Get_source(), tag=_REPLY)
            self._sends.append((req, msg))
        self._sends = [(r, b) for r, b in self._sends if not r.Test()]

    def _timed_out(self, name: str, seq: int, limit: float, grace: float = 2.0) -> None:
        import numpy as np

        MPI = self.MPI
        self._query_id += 1
        qid = self._query_id
        q = np.array([qid], np.int64)
        for r in range(self.size):
            if r != self.rank:
                self._sends.append((self.side.Isend([q, MPI.INT64_T], dest=r, tag=_QUERY), q))
        answers: dict[int, tuple[int, str]] = {}
        end = time.monotonic() + grace
        st = MPI.Status()
        while time.monotonic() < end and len(answers) < self.size - 1:
            _serve_all()
            while self.side.Iprobe(source=MPI.ANY_SOURCE, tag=_REPLY, status=st):
                msg = np.empty(26, np.int64)
                self.side.Recv([msg, MPI.INT64_T], source=st.Get_source(), tag=_REPLY)
                if msg[0] == qid:
                    other = bytes(msg[2:].astype(np.uint8)).decode(errors="replace").strip()
                    answers[st.Get_source()] = (int(msg[1]), other)
            time.sleep(1e-3)
        g = self.ranks  # group rank -> global rank, for the message
        missing = [g[r] for r in range(self.size) if r != self.rank and r not in answers]
        elsewhere = {r: a for r, a in answers.items() if a[0] != seq}
        where = "" if self.is_world else f" of the group of global ranks {self.ranks}"
        text = (
            f"pydlk.distributed: {name} (collective #{seq}{where}) on rank {g[self.rank]} "
            f"timed out after {limit:g} s: "
        )
        parts = []
        if missing:
            parts.append(
                f"ranks {missing} have not reached it (they are not waiting in any "
                f"collective: still computing, blocked, or dead)"
            )
        for r, (s, other) in sorted(elsewhere.items()):
            if s == -2:
                parts.append(f"rank {g[r]} is waiting in {other or '?'} on another group")
            else:
                parts.append(f"rank {g[r]} is waiting in {other or '?'} (collective #{s})")
        if not parts:
            parts.append("every rank reached it; the transfer itself did not finish")
        raise DistBackendError(text + "; ".join(parts))

    def free(self) -> None:
        """Release the communicators (MPI itself is finalised at exit by mpi4py)."""
        self.destroyed = True
        self._sends = []
        self._held = []
        if self in _live:
            _live.remove(self)
        if not self.MPI.Is_finalized():
            self.side.Free()
            if not self.is_world:
                self.comm.Free()


def _serve_all() -> None:
    for pg in list(_live):
        pg._serve()


def _install_excepthook(MPI) -> None:
    """Print an uncaught exception once (on the rank that raised it) and abort every rank."""
    previous = sys.excepthook
    if getattr(previous, "_pydlk_abort", False):
        return

    def hook(tp, value, tb):
        try:
            sys.stdout.flush()
            if previous is sys.__excepthook__:
                # one write, then a moment for the launcher to forward it: Abort kills the
                # process, and a traceback still in the launcher's pipe would be lost
                import traceback

                os.write(2, "".join(traceback.format_exception(tp, value, tb)).encode())
            else:
                previous(tp, value, tb)
                sys.stderr.flush()
            time.sleep(0.5)
        finally:
            if MPI.COMM_WORLD.Get_size() > 1:
                MPI.COMM_WORLD.Abort(1)

    hook._pydlk_abort = True  # type: ignore[attr-defined]
    hook._previous = previous  # type: ignore[attr-defined]
    sys.excepthook = hook


def _claimed_rank_size(
    init_method: str | None, world_size: Any, rank: Any, store: Any
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The world sizes and ranks the caller states, each with where it came from: the
    arguments, the init_method URL's query (``tcp://h:p?rank=0&world_size=2``) or, for
    ``env://``, the ``RANK``/``WORLD_SIZE`` variables. Checks the URL's form."""
    op = "init_process_group"
    sizes: list[tuple[str, int]] = []
    ranks: list[tuple[str, int]] = []
    if world_size not in (-1, None):
        sizes.append(("world_size", _as_int(world_size, op, "world_size")))
    if rank not in (-1, None):
        ranks.append(("rank", _as_int(rank, op, "rank")))
    url = "env://" if init_method is None and store is None else init_method
    if url is None:
        return sizes, ranks
    if not isinstance(url, str):
        raise TypeError(f"{op}: init_method must be a URL string, got {type(url).__name__}")
    u = urlparse(url)
    if u.scheme not in ("env", "tcp", "file"):
        raise ValueError(
            f"{op}: init_method {url!r} is not a torch URL (env://, tcp://host:port, file:///path)"
        )
    query = parse_qs(u.query)
    for key, out in (("world_size", sizes), ("rank", ranks)):
        if key in query:
            out.append((f"init_method's {key}", _as_int(int(query[key][0]), op, key)))
    if u.scheme == "env":
        for var, out in (("WORLD_SIZE", sizes), ("RANK", ranks)):
            v = os.environ.get(var)
            if v is not None and v.strip().lstrip("-").isdigit():
                out.append((f"the {var} environment variable (env://)", int(v)))
    return sizes, ranks


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout: Any = None,
    world_size: int = -1,
    rank: int = -1,
    store: Any = None,
    group_name: str = "",
    pg_options: Any = None,
    device_id: Any = None,
) -> None:
    """Create the default process group over MPI_COMM_WORLD (start the script with
    ``mpiexec -n N python script.py``).

    torch's signature. ``backend`` may be ``"mpi"`` (the default), ``"gloo"`` or ``"nccl"``
    (or torch's ``"cpu:gloo,cuda:nccl"``): host arrays always travel through MPI and CuPy
    arrays through NCCL, and ``get_backend`` returns the name given; ``"nccl"`` without CuPy's
    NCCL binding raises DistBackendError, other names ValueError. MPI's rank and size are
    authoritative: ``init_method`` (``env://``, ``tcp://...``, ``file://...``) and ``store``
    are not used to connect, but every rank or world size stated (the ``rank``/``world_size``
    arguments, the URL's ``?rank=&world_size=``, and with ``env://`` the ``RANK``/
    ``WORLD_SIZE`` variables) must agree with MPI's, or ValueError says which disagrees.
    ``timeout`` (a timedelta or seconds, default 30 minutes) bounds how long a collective may
    wait.
    """
    global _group
    op = "init_process_group"
    if _group is not None:
        raise RuntimeError(f"{op}: trying to initialize the default process group twice!")
    name = check_backend(backend, op)
    t = _seconds(timeout, op)
    sizes, ranks = _claimed_rank_size(init_method, world_size, rank, store)
    pg = ProcessGroup(t, backend=name)
    for where, n in sizes:
        if n != pg.size:
            pg.free()
            raise ValueError(
                f"{op}: {where}={n} but MPI started {int(pg.size)} processes: pydlk's ranks come "
                f"from MPI, launch with mpiexec -n {n} (torchrun is not supported)"
            )
    for where, r in ranks:
        if r != pg.rank:
            pg.free()
            raise ValueError(
                f"{op}: {where}={r} but MPI gives this process rank {int(pg.rank)} "
                f"(pydlk's ranks come from mpiexec)"
            )
    _install_excepthook(pg.MPI)
    _group = pg


def destroy_process_group(group: Any = None) -> None:
    """Release ``group``; None (or ``group.WORLD``) releases every group and the default one
    (MPI itself is finalised at interpreter exit by mpi4py). A rank outside ``group`` does
    nothing, as torch's."""
    global _group
    if _is_non_member(group):
        return
    if group is not None and group is not _group:
        if not isinstance(group, ProcessGroup) or group.destroyed:
            raise ValueError("destroy_process_group: Invalid process group specified")
        group.free()
        return
    if _group is None:
        return
    pg, _group = _group, None
    for sub in [g for g in _live if g is not pg]:
        sub.free()
    pg.free()
    hook = sys.excepthook
    if getattr(hook, "_pydlk_abort", False):
        sys.excepthook = hook._previous  # type: ignore[attr-defined]
