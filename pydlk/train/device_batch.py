"""Moving a loader's batches to the training device (``fit(..., device=)``).

On a GPU each batch is staged in pinned (page-locked) host memory and copied on a side stream;
the compute stream then waits for that copy only (an event), not for the whole device. Kernel
launches are asynchronous, so while the host loads and copies batch k+1 the GPU is still running
step k: the copy overlaps the previous step without reading ahead in the loader (a loader's
position, saved in checkpoints, stays the batch being trained on).

Where CuPy lacks pinned memory or streams (an emulation), the batch is copied with
``cupy.asarray``: the same result, synchronously.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._backend import device_of, get_array_module, is_cupy
from .._pinned import is_pinned_array, pinned_empty

if TYPE_CHECKING:
    pass

__all__ = ["to_device", "to_host"]


def to_host(a):
    """``a`` as a NumPy array (a CuPy array is copied to the host; anything else as is)."""
    return a.get() if is_cupy(a) else a


class _Stager:
    """One side stream per device, and the pinned buffer of the copy in flight (kept alive until
    its copy finished, so the pool never hands it out while the GPU still reads it)."""

    def __init__(self):
        self.streams = {}
        self.in_flight = []

    def copy(self, cp, a, index):
        cuda = cp.cuda
        if not (hasattr(cuda, "alloc_pinned_memory") and hasattr(cuda, "Stream")):
            with cuda.Device(index):
                return cp.asarray(a)
        a = np.ascontiguousarray(a)
        for ev, _buf in self.in_flight:  # earlier copies: their buffers may go back to the pool
            ev.synchronize()
        self.in_flight.clear()
        if is_pinned_array(a):  # pinned already (a pinned loader's batch): no staging copy
            pinned = a
        else:
            pinned = pinned_empty(cp, a.shape, a.dtype)
            pinned[...] = a
        with cuda.Device(index):
            side = self.streams.get(index)
            if side is None:
                side = self.streams[index] = cuda.Stream(non_blocking=True)
            out = cp.empty(a.shape, a.dtype)
            # out's block comes from the current stream's pool and may be memory that this
            # stream's queued kernels (the previous step) still read: the copy waits for them
            side.wait_event(cuda.get_current_stream().record())
            out.set(pinned, stream=side)
            ev = side.record()
            cuda.get_current_stream().wait_event(ev)
        self.in_flight.append((ev, pinned))
        return out


_stager = _Stager()


def to_device(a: Any, device: str) -> Any:
    """``a`` (a NumPy array, a CuPy array, a torch tensor already made NumPy, or a tuple/list of
    them) on ``device`` ('cpu' or 'cuda:N'); arrays already there are returned as they are.
    Non-array values (Python numbers, strings) pass through."""
    if isinstance(a, (tuple, list)):
        return type(a)(to_device(v, device) for v in a)
    if not hasattr(a, "dtype") or np.ndim(a) == 0 and not is_cupy(a):
        return a
    if device_of(a) == device:
        return a
    if device == "cpu":
        return to_host(a)
    from ..ops.conversions import _cupy

    cp = _cupy()
    index = int(device.partition(":")[2] or 0)
    if is_cupy(a):  # another GPU
        with cp.cuda.Device(index):
            return get_array_module(a).asarray(a)
    return _stager.copy(cp, a, index)
