"""The MPI process group: lazy mpi4py import, init/destroy, rank and size, and the waiting loop
that every collective goes through (timeouts that name the missing ranks, prompt failure).

mpi4py is imported only when a process group is created (``init_process_group``), so a CPU
install without the ``mpi`` extra never loads MPI. ``get_rank``/``get_world_size`` answer before
that from the launcher's environment (``mpiexec`` sets ``PMI_RANK``/``PMI_SIZE`` for MPICH,
``OMPI_COMM_WORLD_RANK``/``_SIZE`` for Open MPI), so scripts can branch on the rank early.

Faults. ``init_process_group`` installs a ``sys.excepthook`` that prints the uncaught exception
(once, on the rank that raised it) and calls ``MPI.COMM_WORLD.Abort(1)``: the launcher then ends
every rank with a non-zero status instead of leaving them blocked in a collective. A collective
that waits longer than the group's timeout raises a RuntimeError that names the ranks that have
not reached it: every rank that is itself waiting in a collective answers a small query on a
private side communicator with the collective it is in; a rank that does not answer within a
grace period is busy elsewhere (computing, or dead) and is named as missing.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "GroupMember",
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

_group: ProcessGroup | None = None


def _mpi():
    """mpi4py's MPI module, imported on first use (initialises MPI)."""
    try:
        from mpi4py import MPI
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError(
            f"pydlk.distributed: the MPI backend needs mpi4py and an MPI library "
            f"({_INSTALL_HINT}); importing mpi4py failed: {e}"
        ) from e
    return MPI


def is_mpi_available() -> bool:
    """True when mpi4py can be found (without importing it, so MPI is not initialised)."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


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


def get_rank(group: Any = None) -> int:
    """This process's rank: from the process group once initialised, before that from the
    launcher's environment (0 when not launched by mpiexec). torch raises before initialisation;
    answering lets rank-0-only printing work in any case."""
    return _group.rank if _group is not None else _env_rank_size()[0]


def get_world_size(group: Any = None) -> int:
    """The number of processes (1 when not launched by mpiexec); see ``get_rank``."""
    return _group.size if _group is not None else _env_rank_size()[1]


def get_backend(group: Any = None) -> str:
    """The backend name ("mpi")."""
    _require("get_backend")
    return "mpi"


def _require(op: str) -> ProcessGroup:
    if _group is None:
        raise RuntimeError(
            f"{op}: Default process group has not been initialized, please make "
            f"sure to call init_process_group."
        )
    return _group


def _seconds(timeout: Any) -> float:
    if timeout is None:
        return _DEFAULT_TIMEOUT.total_seconds()
    if isinstance(timeout, datetime.timedelta):
        s = timeout.total_seconds()
    elif isinstance(timeout, (int, float)):
        s = float(timeout)
    else:
        raise TypeError(
            f"init_process_group: timeout must be a datetime.timedelta or seconds, "
            f"got {type(timeout).__name__}"
        )
    if not s > 0:
        raise ValueError(f"init_process_group: timeout must be positive, got {timeout}")
    return s


class GroupMember:
    """torch's ``GroupMember.WORLD`` (the default group is the only group here)."""

    WORLD = None


class ProcessGroup:
    """MPI_COMM_WORLD with a private duplicate for the timeout side channel."""

    def __init__(self, timeout_s: float):
        MPI = _mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.side = self.comm.Dup()  # queries never match a collective's messages
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.timeout = timeout_s
        self.seq = 0  # collectives started on this rank, in program order
        # (seq, name) of the collective this rank is waiting in
        self.where: tuple[int, str] | None = None
        # outstanding side-channel sends, (request, buffer): mpi4py keeps no reference to a
        # non-blocking send's buffer, so it is kept here until the send completes
        self._sends: list = []
        self._query_id = 0
        self._held: list = []  # async collectives' Work, until their transfers complete

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

    def wait_for(self, done: Callable[[], bool], name: str, seq: int) -> None:
        """Poll ``done()`` until it is true (MPI requests, or a CUDA event after an NCCL
        collective), answering side-channel queries meanwhile; past the timeout, ask the other
        ranks where they are and raise a RuntimeError naming the missing ones. Polls back off
        to at most 1 ms sleeps so that a waiting rank leaves the CPU to a computing one (ranks
        may share cores)."""
        if done():
            return
        self.where = (seq, name)
        deadline = time.monotonic() + self.timeout
        k = 0
        try:
            while not done():
                self._serve()
                k += 1
                if k > 50:
                    if time.monotonic() > deadline:
                        self._timed_out(name, seq)
                    time.sleep(min(1e-3, 1e-6 * (k - 50)))
        finally:
            self.where = None

    def _serve(self) -> None:
        """Answer every pending 'where are you' query with the collective being waited in."""
        MPI = self.MPI
        st = MPI.Status()
        import numpy as np

        while self.side.Iprobe(source=MPI.ANY_SOURCE, tag=_QUERY, status=st):
            q = np.empty(1, np.int64)
            self.side.Recv([q, MPI.INT64_T], source=st.Get_source(), tag=_QUERY)
            seq, name = self.where if self.where is not None else (-1, "")
            code = np.frombuffer(name.encode()[:24].ljust(24), np.uint8).astype(np.int64)
            msg = np.concatenate([[q[0], seq], code])
            req = self.side.Isend([msg, MPI.INT64_T], dest=st.Get_source(), tag=_REPLY)
            self._sends.append((req, msg))
        self._sends = [(r, b) for r, b in self._sends if not r.Test()]

    def _timed_out(self, name: str, seq: int, grace: float = 2.0) -> None:
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
            self._serve()
            while self.side.Iprobe(source=MPI.ANY_SOURCE, tag=_REPLY, status=st):
                msg = np.empty(26, np.int64)
                self.side.Recv([msg, MPI.INT64_T], source=st.Get_source(), tag=_REPLY)
                if msg[0] == qid:
                    other = bytes(msg[2:].astype(np.uint8)).decode(errors="replace").strip()
                    answers[st.Get_source()] = (int(msg[1]), other)
            time.sleep(1e-3)
        missing = [r for r in range(self.size) if r != self.rank and r not in answers]
        elsewhere = {r: a for r, a in answers.items() if a[0] != seq}
        text = (
            f"pydlk.distributed: {name} (collective #{seq}) on rank {self.rank} timed out "
            f"after {self.timeout:g} s: "
        )
        parts = []
        if missing:
            parts.append(
                f"ranks {missing} have not reached it (they are not waiting in any "
                f"collective: still computing, blocked, or dead)"
            )
        for r, (s, other) in sorted(elsewhere.items()):
            parts.append(f"rank {r} is waiting in {other or '?'} (collective #{s})")
        if not parts:
            parts.append("every rank reached it; the transfer itself did not finish")
        raise RuntimeError(text + "; ".join(parts))


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


def init_process_group(
    backend: str | None = "mpi",
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

    torch's signature. Only the ``"mpi"`` backend exists (None means "mpi"); as with torch's MPI
    backend, rank and size come from MPI, so ``init_method`` and ``store`` are ignored, and a
    ``world_size``/``rank`` that disagree with MPI raise ValueError. ``timeout`` (a timedelta or
    seconds, default 30 minutes) bounds how long a collective may wait.
    """
    global _group
    if _group is not None:
        raise RuntimeError(
            "init_process_group: trying to initialize the default process group twice!"
        )
    if backend is not None and str(backend).lower() != "mpi":
        raise ValueError(
            f"init_process_group: backend {backend!r} is not available; pydlk "
            f"supports backend='mpi' (needs {_INSTALL_HINT})"
        )
    t = _seconds(timeout)
    pg = ProcessGroup(t)
    if world_size not in (-1, None) and int(world_size) != pg.size:
        raise ValueError(
            f"init_process_group: world_size={world_size} but MPI started "
            f"{pg.size} processes (mpiexec -n)"
        )
    if rank not in (-1, None) and int(rank) != pg.rank:
        raise ValueError(
            f"init_process_group: rank={rank} but MPI gives this process rank {pg.rank}"
        )
    _install_excepthook(pg.MPI)
    _group = pg


def destroy_process_group(group: Any = None) -> None:
    """Release the default group (MPI itself is finalised at interpreter exit by mpi4py)."""
    global _group
    if _group is None:
        return
    pg, _group = _group, None
    pg._sends = []
    pg._held = []
    if not pg.MPI.Is_finalized():
        pg.side.Free()
    hook = sys.excepthook
    if getattr(hook, "_pydlk_abort", False):
        sys.excepthook = hook._previous  # type: ignore[attr-defined]


def _default_group(op: str) -> ProcessGroup:
    return _require(op)
