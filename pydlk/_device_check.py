"""Which device an op's arrays are on (``Function.apply`` asks before each op): arrays of two
devices are refused, and a 0-d CPU operand of a GPU op is moved there, as a Python scalar
would be."""

from __future__ import annotations

import sys

import numpy as np

from ._backend import device_of, is_cupy


def check_same_device(op, raw):
    """Refuse arrays of two devices in one op, naming both (nothing is copied behind the user's
    back). A 0-d CPU array may join a GPU op, as a Python scalar would (torch allows a 0-d CPU
    tensor too): then this returns the GPU's device, where it has to go (CuPy takes no NumPy
    arrays, 0-d ones neither); else None. Free when CuPy was never imported: then every array
    is a NumPy array."""
    if "cupy" not in sys.modules:
        return None
    first, scalar_on_cpu = None, False
    for a in raw:
        if is_cupy(a):
            d = device_of(a)
        elif isinstance(a, np.ndarray):
            if not a.ndim:
                scalar_on_cpu = True
                continue
            d = "cpu"
        else:
            continue
        if first is None:
            first = d
        elif d != first:
            raise RuntimeError(
                f"{op}: expected all tensors to be on the same device, but found at least two "
                f"devices, {first} and {d}; move them with .to(device) first"
            )
    return first if scalar_on_cpu and first not in (None, "cpu") else None


def scalar_to(a, device):
    """A 0-d CPU array or Tensor joining a GPU op, on that GPU: a Tensor through ``.to`` (so its
    gradient comes back to the CPU, as torch's does), an array copied."""
    from .autograd import Tensor

    if isinstance(a, Tensor):
        return a.to(device) if isinstance(a._data, np.ndarray) and not a._data.ndim else a
    if isinstance(a, np.ndarray) and not a.ndim:
        from .ops.conversions import _move

        return _move(a, device)
    return a
