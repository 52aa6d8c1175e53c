"""Grad mode: whether ops record for backward, per thread (torch's ``is_grad_enabled``,
``set_grad_enabled``, ``no_grad``, ``enable_grad``, ``inference_mode``). pydlk.autograd
re-exports them; ``Function.apply`` asks ``is_grad_enabled``."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Literal, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

_mode = threading.local()  # grad mode is per thread, as in torch


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backward (False inside ``no_grad``)."""
    return getattr(_mode, "enabled", True)


class set_grad_enabled:
    """Context manager (and function) that turns gradient recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.prev = is_grad_enabled()
        self.mode = bool(mode)
        _mode.enabled = self.mode

    def __enter__(self) -> set_grad_enabled:
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        _mode.enabled = self.prev
        return False

    def __call__(self, fn: _F) -> _F:
        """As a decorator (``@set_grad_enabled(False)``): construction set the mode, so put it
        back, and apply the mode only while ``fn`` runs."""

        _mode.enabled = self.prev
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]  # functools.wraps keeps fn's signature


class _GradModeContext:
    enabled: bool | None = None

    def __new__(cls, orig_func: Callable[..., Any] | None = None) -> Any:
        # bare decorator use, ``@no_grad`` without parentheses, as torch allows
        if orig_func is not None:
            return cls()(orig_func)
        return super().__new__(cls)

    def __enter__(self) -> None:
        self.prev = is_grad_enabled()
        _mode.enabled = self.enabled

    def __exit__(self, *exc: object) -> Literal[False]:
        _mode.enabled = self.prev
        return False

    def __call__(self, fn: _F) -> _F:  # also usable as a decorator

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]  # functools.wraps keeps fn's signature


class no_grad(_GradModeContext):
    """Inside ``with pydlk.no_grad():`` nothing is recorded for backward."""

    enabled = False


class enable_grad(_GradModeContext):
    """Inside ``with pydlk.enable_grad():`` recording is on again (e.g. within ``no_grad``);
    also a decorator.
    """

    enabled = True


# Open ``inference_mode(True)`` blocks on all threads: new Tensors look at this plain counter,
# and at the thread's own mode only when it is non-zero (autograd.py, Tensor._wrap).
inference_blocks = 0
_count_lock = threading.Lock()


def _count_inference(n: int) -> None:
    global inference_blocks
    with _count_lock:
        inference_blocks += n


def is_inference_mode_enabled() -> bool:
    """Whether an ``inference_mode()`` block is running on this thread."""
    return getattr(_mode, "inference", False)


class inference_mode:
    """``with pydlk.inference_mode():`` records nothing, as ``no_grad``; also a decorator, bare
    (``@inference_mode``) or called. ``inference_mode(False)`` turns recording on (even within
    ``no_grad``) and leaves inference mode, as torch's.

    Tensors made inside report ``is_inference()`` True, as torch's. Differs from torch: they are
    otherwise ordinary tensors (torch's "inference tensors" may not join a recorded op later, and
    their views are inference tensors too); recording nothing is the whole saving here.
    """

    def __new__(cls, mode: bool | Callable[..., Any] = True) -> Any:
        if callable(mode):  # bare decorator use, ``@inference_mode``
            return cls(True)(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> None:
        self.prev = (is_grad_enabled(), is_inference_mode_enabled())
        _mode.enabled, _mode.inference = not self.mode, self.mode
        _count_inference(1)

    def __exit__(self, *exc: object) -> Literal[False]:
        _mode.enabled, _mode.inference = self.prev
        _count_inference(-1)
        return False

    def __call__(self, fn: _F) -> _F:

        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]  # functools.wraps keeps fn's signature

    def clone(self) -> inference_mode:
        """A new context manager of the same mode (torch's ``clone``)."""
        return inference_mode(self.mode)
