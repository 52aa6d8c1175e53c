"""``pydlk.cuda.nvtx``: torch.cuda.nvtx's names (``range_push``, ``range_pop``, ``range``,
``range_start``, ``range_end``, ``mark``), as no-ops that keep the bookkeeping.

NVTX annotations label stretches of a run for NVIDIA's profilers (Nsight Systems). pydlk keeps
to the CuPy API its GPU path is checked against (tools/cupy_api_names.txt), which has no NVTX
module, so nothing reaches a profiler, on a GPU or on the CPU. What the functions return is
still torch's: ``range_push`` the zero-based depth of the range it opened, ``range_pop`` the
depth of the range it closed (-1 when none is open, as NVTX answers), ``range_start`` a new
range id. The ranges nest per thread, as NVTX's do. Differs from torch's CPU build, which raises
RuntimeError ("NVTX functions not installed") from every function: profiling code left in a
script runs unchanged here.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["mark", "range", "range_end", "range_pop", "range_push", "range_start"]

_local = threading.local()
_ids = itertools.count(1)


def _stack() -> list[str]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def _message(msg: Any, op: str) -> str:
    if not isinstance(msg, str):
        raise TypeError(f"{op}: msg must be a str, got {type(msg).__name__}")
    return msg


def range_push(msg: str) -> int:
    """Open a nested range named ``msg``; returns its zero-based depth (no profiler sees it;
    see the module docstring)."""
    stack = _stack()
    stack.append(_message(msg, "range_push"))
    return len(stack) - 1


def range_pop() -> int:
    """Close the innermost open range; returns the zero-based depth of the range it closed, or
    -1 when no range is open."""
    stack = _stack()
    if not stack:
        return -1
    stack.pop()
    return len(stack)


def range_start(msg: str) -> int:
    """Start a range that need not nest (it may end on another thread); returns its id, for
    :func:`range_end`."""
    _message(msg, "range_start")
    return next(_ids)


def range_end(range_id: int) -> None:
    """End the range :func:`range_start` returned ``range_id`` for."""
    if not isinstance(range_id, int) or isinstance(range_id, bool):
        raise TypeError(f"range_end: range_id must be an int, got {type(range_id).__name__}")


def mark(msg: str) -> None:
    """An instantaneous event named ``msg``."""
    _message(msg, "mark")


@contextlib.contextmanager
def range(msg: str, *args: Any, **kwargs: Any) -> Iterator[None]:
    """``with range('step {}', i):``: a range around the block, its name
    ``msg.format(*args, **kwargs)``, as torch's."""
    range_push(_message(msg, "range").format(*args, **kwargs))
    try:
        yield
    finally:
        range_pop()
