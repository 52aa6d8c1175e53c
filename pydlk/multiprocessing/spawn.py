"""``spawn`` / ``start_processes``: run ``fn(i, *args)`` in ``nprocs`` processes and wait for
them, raising the first failure in the parent with the child's traceback (torch's
``torch.multiprocessing.spawn``, same names, arguments, defaults and exceptions)."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

__all__ = [
    "ProcessContext",
    "ProcessException",
    "ProcessExitedException",
    "ProcessRaisedException",
    "SpawnContext",
    "spawn",
    "start_processes",
]

log = logging.getLogger(__name__)


class ProcessException(Exception):
    """A child of ``spawn`` failed: ``error_index`` (its ``i``) and ``error_pid``."""

    def __init__(self, msg: str, error_index: int, error_pid: int) -> None:
        super().__init__(msg)
        self.msg = msg
        self.error_index = error_index
        self.error_pid = error_pid

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.msg, self.error_index, self.error_pid)


class ProcessRaisedException(ProcessException):
    """A child raised an exception: the message holds its traceback, as the child printed it."""


class ProcessExitedException(ProcessException):
    """A child exited with a non-zero code or was killed by a signal (``exit_code``, negative
    for a signal, and ``signal_name``) without raising an exception."""

    def __init__(
        self,
        msg: str,
        error_index: int,
        error_pid: int,
        exit_code: int,
        signal_name: str | None = None,
    ) -> None:
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code
        self.signal_name = signal_name

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.msg, self.error_index, self.error_pid, self.exit_code, self.signal_name)
        return type(self), args


def _die_with_parent() -> None:
    """Linux: the child gets SIGINT when the parent dies (prctl PR_SET_PDEATHSIG), as torch's
    children do, so no child outlives a killed parent; elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):  # best effort: no libc, a restricted sandbox
        import ctypes

        ctypes.CDLL(None).prctl(1, int(signal.SIGINT))  # 1: PR_SET_PDEATHSIG


def _wrap(fn: Callable[..., Any], i: int, args: tuple, error_file: str) -> None:
    _die_with_parent()
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass  # SIGINT: the parent is stopping us
    except Exception:
        import traceback

        with open(error_file, "wb") as fh:
            pickle.dump(traceback.format_exc(), fh)
        sys.exit(1)


class ProcessContext:
    """The processes ``start_processes(..., join=False)`` started: ``processes`` (the
    ``multiprocessing.Process`` objects, child ``i`` at index ``i``), ``pids()`` and
    ``join()``."""

    def __init__(self, processes: list[Any], error_files: list[str]) -> None:
        self.error_files = error_files
        self.processes = processes
        self.sentinels = {p.sentinel: i for i, p in enumerate(processes)}
        self._folder: str | None = None  # start_processes' error-file folder, removed at the end

    def _remove_folder(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def pids(self) -> list[int]:
        """The children's process ids, by index."""
        return [int(p.pid) for p in self.processes]

    def _join_all(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        for p in self.processes:
            p.join(max(0.0, end - time.monotonic()))

    def join(self, timeout: float | None = None, grace_period: float | None = None) -> bool:
        """Wait (up to ``timeout`` seconds, None: until one exits) for the children. Returns
        True once all have exited cleanly, False while some still run. When one has failed,
        the others get ``grace_period`` seconds (default: none) to finish, then SIGTERM, then
        SIGKILL, and this raises ``ProcessRaisedException`` (the child's traceback in the
        message) or ``ProcessExitedException`` (its exit code or signal)."""
        if not self.sentinels:
            return True
        ready = multiprocessing.connection.wait(list(self.sentinels), timeout=timeout)
        failed = None
        for sentinel in ready:
            i = self.sentinels.pop(sentinel)
            self.processes[i].join()
            if self.processes[i].exitcode != 0:
                failed = i
                break
        if failed is None:
            if not self.sentinels:
                self._remove_folder()
            return not self.sentinels
        if grace_period is not None:
            self._join_all(grace_period)
        for p in self.processes:
            if p.is_alive():
                log.warning("Terminating process %s via signal SIGTERM", p.pid)
                p.terminate()
        self._join_all(30 if grace_period is None else grace_period)
        for p in self.processes:
            if p.is_alive():
                log.warning("Unable to shutdown process %s via SIGTERM, killing it", p.pid)
                p.kill()
            p.join()
        self.sentinels.clear()
        error = self._failure(failed)
        self._remove_folder()
        raise error

    def _failure(self, i: int) -> ProcessException:
        p = self.processes[i]
        path = self.error_files[i]
        if not os.access(path, os.R_OK):
            code = p.exitcode
            if code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = f"<Unknown signal {-code}>"
                return ProcessExitedException(
                    f"process {i:d} terminated with signal {name}",
                    error_index=i,
                    error_pid=p.pid,
                    exit_code=code,
                    signal_name=name,
                )
            return ProcessExitedException(
                f"process {i:d} terminated with exit code {code:d}",
                error_index=i,
                error_pid=p.pid,
                exit_code=code,
            )
        with open(path, "rb") as fh:
            trace = pickle.load(fh)
        msg = f"\n\n-- Process {i:d} terminated with the following error:\n{trace}"
        return ProcessRaisedException(msg, i, p.pid)


class SpawnContext(ProcessContext):
    """The old name of :class:`ProcessContext` (warns, as torch's)."""

    def __init__(self, processes: list[Any], error_files: list[str]) -> None:
        warnings.warn("SpawnContext is renamed to ProcessContext since 1.4 release.", stacklevel=2)
        super().__init__(processes, error_files)


def start_processes(
    fn: Callable[..., Any],
    args: tuple = (),
    nprocs: int = 1,
    join: bool = True,
    daemon: bool = False,
    start_method: str = "spawn",
) -> ProcessContext | None:
    """Start ``nprocs`` processes with ``start_method`` ('spawn', 'fork' or 'forkserver'), each
    calling ``fn(i, *args)`` for its index ``i``. With ``join`` wait for all and raise the
    first failure (see :meth:`ProcessContext.join`), returning None; else return the
    :class:`ProcessContext`. ``fn`` and ``args`` must pickle for 'spawn' (``fn`` defined at the
    top level of a module); Tensors among ``args`` go over as copies (see
    ``pydlk.multiprocessing``)."""
    if not callable(fn):
        raise TypeError(f"start_processes: fn must be callable, got {type(fn).__name__}")
    if not isinstance(args, (tuple, list)):
        raise TypeError(f"start_processes: args must be a tuple, got {type(args).__name__}")
    if isinstance(nprocs, bool) or not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"start_processes: nprocs must be a positive int, got {nprocs!r}")
    mp: Any = multiprocessing.get_context(start_method)
    # each child writes its traceback into its own file of this directory only when it fails
    folder = tempfile.mkdtemp(prefix="pydlk-spawn-errors-")
    error_files = [os.path.join(folder, f"process-{i}.pickle") for i in range(nprocs)]
    processes: list[Any] = []
    try:
        for i in range(nprocs):
            p = mp.Process(target=_wrap, args=(fn, i, tuple(args), error_files[i]), daemon=daemon)
            p.start()  # with 'spawn', fn and args are pickled here (a lambda fails here)
            processes.append(p)
    except BaseException:
        for p in processes:
            p.terminate()
            p.join()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    context = ProcessContext(processes, error_files)
    context._folder = folder
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(
    fn: Callable[..., Any],
    args: tuple = (),
    nprocs: int = 1,
    join: bool = True,
    daemon: bool = False,
    start_method: str = "spawn",
) -> ProcessContext | None:
    """torch.multiprocessing.spawn: :func:`start_processes` with the 'spawn' start method
    (fresh interpreters, which a GPU needs: a forked child cannot use the parent's CUDA
    context). Another ``start_method`` warns (FutureWarning, as torch's) and is not used."""
    if start_method != "spawn":
        warnings.warn(
            f"This method only supports start_method=spawn (got: {start_method}).\n"
            "To use a different start_method use:\n\t\t"
            " pydlk.multiprocessing.start_processes(...)",
            FutureWarning,
            stacklevel=2,
        )
    return start_processes(fn, args, nprocs, join, daemon, start_method="spawn")
