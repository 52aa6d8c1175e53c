"""``pydlk.accelerator``: torch.accelerator's device-agnostic queries. CUDA (through CuPy) is
the only accelerator pydlk knows; on a CPU-only machine these answer False / None / 0."""

from __future__ import annotations

from . import cuda as _cuda
from ._device import DeviceLike, cuda_unavailable_error, device

__all__ = [
    "current_accelerator",
    "current_device_index",
    "device_count",
    "is_available",
    "set_device_index",
    "synchronize",
]


def is_available() -> bool:
    """True when an accelerator (a CUDA device usable through CuPy) is present."""
    return _cuda.is_available()


def current_accelerator(check_available: bool = False) -> device | None:
    """``device(type='cuda')`` when CUDA is available, else None (as torch on a CPU build)."""
    return device("cuda") if _cuda.is_available() else None


def device_count() -> int:
    """The number of accelerator devices (0 without one)."""
    return _cuda.device_count()


def current_device_index() -> int:
    """The index of the current accelerator device (raises without one, as torch)."""
    if not _cuda.is_available():
        raise RuntimeError("pydlk: cannot access an accelerator device when none is available")
    return _cuda.current_device()


def set_device_index(device: DeviceLike, /) -> None:
    """Make ``device`` the current accelerator device."""
    if not _cuda.is_available():
        raise cuda_unavailable_error()
    _cuda.set_device(device)


def synchronize(device: DeviceLike | None = None, /) -> None:
    """Wait for the accelerator's queued work to finish (raises without one)."""
    if not _cuda.is_available():
        raise cuda_unavailable_error()
    _cuda.synchronize(device)
