"""Argument handling shared by the functional ops: Tensor-or-array in, visible conversion."""
import numpy as np

from ..autograd import Tensor

_FLOATS = (np.float32, np.float64)


def array_of(x):
    return x.data if isinstance(x, Tensor) else x


def check_float(x, op, name):
    """Raise a TypeError naming ``name`` unless ``x`` is a float32/float64 Tensor or array."""
    a = array_of(x)
    if not hasattr(a, "dtype"):
        raise TypeError(f"{op}: {name} must be a Tensor or an array, got {type(x).__name__}")
    if a.dtype not in _FLOATS:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {a.dtype}")
    return a


def contiguous(a):
    """C-contiguous view or copy, the kernels' layout (a non-contiguous input is copied here)."""
    return a if a.flags.c_contiguous else a.copy(order="C")


def pair(v, op, name, allow_zero=False):
    """An int or a pair of ints (kernel_size, stride, padding, dilation) as a checked 2-tuple."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v), int(v))
    try:
        v = tuple(int(i) for i in v)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}") from None
    if len(v) != 2:
        raise ValueError(f"{op}: {name} must have 2 values, got {len(v)}")
    low = 0 if allow_zero else 1
    if any(i < low for i in v):
        raise ValueError(f"{op}: {name} must be {'>= 0' if allow_zero else 'positive'}, got {v}")
    return v
