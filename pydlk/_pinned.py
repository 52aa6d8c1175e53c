"""Page-locked (pinned) host memory through CuPy's pinned allocator, and the copies from it.

``Tensor.pin_memory()`` copies a CPU tensor's array into a NumPy array over
``cupy.cuda.alloc_pinned_memory`` (what ``cupyx.empty_pinned`` does), so it is still a CPU
tensor. ``is_pinned`` walks an array's ``base`` chain down to that allocation, so views of a
pinned array are pinned too. ``to('cuda', non_blocking=True)`` of a C-contiguous pinned array
enqueues the copy on the current stream (``ndarray.set(a, stream=...)``) and keeps the source
alive until an event recorded after it has passed, since CuPy's pinned pool may hand a freed
block out again while the device still reads it. ``DataLoader(pin_memory=True)`` pins each
batch through :func:`pin_batch` (torch's ``pin_memory`` of its pin-memory thread).

Nothing here imports CuPy unless a GPU is asked for: ``is_pinned_array`` answers False when
CuPy was never imported.
"""

from __future__ import annotations

import collections.abc
import sys
from typing import Any

import numpy as np

from .autograd import Function, Tensor

__all__: list[str] = []

# (event, source array) of the asynchronous copies whose event may not have passed yet
_in_flight: list[tuple[Any, Any]] = []


def _prune() -> None:
    """Drop the sources of copies that have finished (their pinned blocks may be reused)."""
    _in_flight[:] = [(ev, a) for ev, a in _in_flight if not ev.done]


def pinned_empty(cp, shape, dtype) -> np.ndarray:
    """An uninitialised C-order NumPy array in pinned host memory (``cupyx.empty_pinned``)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    mem = cp.cuda.alloc_pinned_memory(n * dtype.itemsize)
    return np.ndarray(tuple(shape), dtype=dtype, buffer=mem)


def is_pinned_array(a: Any) -> bool:
    """True when ``a`` is a NumPy array (or a view of one) over CuPy's pinned host memory."""
    cp = sys.modules.get("cupy")
    if cp is None or not isinstance(a, np.ndarray):
        return False
    pointer = getattr(cp.cuda, "PinnedMemoryPointer", None)
    if pointer is None:
        return False
    b: Any = a
    while isinstance(b, np.ndarray):
        b = b.base
    if isinstance(b, memoryview):
        b = b.obj
    return isinstance(b, pointer)


def _gpu_or_raise():
    from . import cuda

    if not cuda.is_available():
        # torch's message without an accelerator (torch 2.13 CPU raises it for pin_memory())
        raise RuntimeError(
            "pin_memory: Cannot access accelerator device when none is available "
            "(pinned memory needs CuPy and a CUDA device)"
        )
    return cuda._require()


def pin_array(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of the NumPy array ``a`` in pinned host memory (``a`` itself when it
    is pinned already). Raises RuntimeError without CuPy or a GPU."""
    if is_pinned_array(a):
        return a
    cp = _gpu_or_raise()
    _prune()
    out = pinned_empty(cp, a.shape, a.dtype)
    np.copyto(out, a)
    return out


class PinMemory(Function):
    """A copy into pinned host memory; the gradient passes through."""

    @staticmethod
    def forward(ctx, a):
        return pin_array(a)

    @staticmethod
    def backward(ctx, g):
        return g

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g


def pin_memory(t: Tensor) -> Tensor:
    """``Tensor.pin_memory()``: the tensor itself when its array is pinned, else a copy in pinned
    memory, differentiable (the gradient passes through, as torch's ``_pin_memory``)."""
    if is_pinned_array(t._data):
        return t
    return PinMemory.apply(t)


def to_device_async(cp, a: np.ndarray, index: int):
    """``a`` (pinned) copied to device ``index``: asynchronously on the current stream when ``a``
    is pinned and C-contiguous, else synchronously (``cupy.asarray``)."""
    with cp.cuda.Device(index):
        if not (is_pinned_array(a) and a.flags.c_contiguous):
            return cp.asarray(a)
        _prune()
        out = cp.empty(a.shape, a.dtype)
        stream = cp.cuda.get_current_stream()
        out.set(a, stream=stream)
        _in_flight.append((stream.record(), a))
        return out


def pin_batch(data: Any) -> Any:
    """``data`` with every Tensor in it pinned: tensors inside tuples, lists, dicts and
    namedtuples (their types kept where they can be rebuilt), objects with a ``pin_memory()``
    method pinned by it; anything else (strings, numbers, NumPy arrays) as it is. torch's
    ``torch.utils.data._utils.pin_memory.pin_memory``."""
    if isinstance(data, Tensor):
        return data.pin_memory()
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        pinned = {k: pin_batch(v) for k, v in data.items()}
        try:
            return type(data)(pinned)  # type: ignore[call-arg]
        except TypeError:  # a mapping type that cannot be built from a dict
            return pinned
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(pin_batch(v) for v in data))
    if isinstance(data, tuple):
        return tuple(pin_batch(v) for v in data)
    if isinstance(data, collections.abc.Sequence):
        pinned_list = [pin_batch(v) for v in data]
        try:
            return type(data)(pinned_list)  # type: ignore[call-arg]
        except TypeError:
            return pinned_list
    if hasattr(data, "pin_memory"):
        return data.pin_memory()
    return data
