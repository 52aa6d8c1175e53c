"""Argument handling shared by the functional ops: Tensor-or-array in, visible conversion."""

import weakref

import numpy as np

from ..autograd import Tensor, is_grad_enabled
from ..ops._helpers import _new_version, _stand_for

_FLOATS = (np.float32, np.float64)


def array_of(x):
    return x._data if isinstance(x, Tensor) else x


def check_float(x, op, name):
    """Raise a TypeError naming ``name`` unless ``x`` is a float32/float64 Tensor or array."""
    a = array_of(x)
    if not hasattr(a, "dtype"):
        raise TypeError(f"{op}: {name} must be a Tensor or an array, got {type(x).__name__}")
    if a.dtype not in _FLOATS:
        hint = ""
        if a.dtype.name == "bfloat16":
            hint = " (bfloat16 products run inside pydlk.autocast; elsewhere use .float())"
        raise TypeError(f"{op}: {name} must be float32 or float64, got {a.dtype}{hint}")
    return a


def contiguous(a):
    """C-contiguous view or copy, the kernels' layout (a non-contiguous input is copied here)."""
    return a if a.flags.c_contiguous else a.copy(order="C")


def pair(v, op, name, allow_zero=False):
    """An int or a pair of ints (kernel_size, stride, padding, dilation) as a checked 2-tuple.
    The one parser of such arguments: functional ops and layers both call it."""
    # Fast paths for what layers pass every step (a plain int, or a pair of them); all else is
    # checked below
    if type(v) is int:
        if v >= (0 if allow_zero else 1):
            return (v, v)
    elif type(v) is tuple and len(v) == 2 and type(v[0]) is int and type(v[1]) is int:
        if v[0] >= (0 if allow_zero else 1) and v[1] >= (0 if allow_zero else 1):
            return v
    if isinstance(v, (str, bytes)):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
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


def apply_inplace(input, op, run):
    """An in-place op with torch's semantics; returns ``input`` itself (a Tensor around it for an
    array). ``run(x)`` applies the op's Function to ``x`` (an array or a Tensor) so that it writes
    into ``x``'s array, and returns the Function's output.

    A leaf that requires grad is refused while grad mode is on. For a non-leaf that requires
    grad the op is recorded on a stand-in for the value before the op, then the new history is
    moved onto ``input`` (its grad_fn becomes this op), as torch rebases an in-place output.
    """
    if not isinstance(input, Tensor):
        run(input)
        return Tensor._wrap(input)
    if not (input.requires_grad and is_grad_enabled()):
        run(input._data)
        return input
    if input.is_leaf:
        raise RuntimeError(
            f"{op}: a leaf Variable that requires grad is being used in an in-place operation."
        )
    before = _stand_for(input)
    out = run(before)
    _new_version(input, before)  # nodes that used input before the write keep its old history
    node, i = out._node
    node.outputs[i] = weakref.ref(input)
    input._node = out._node
    return input


def reduction_arg(reduction, size_average, reduce, op):
    """A loss's ``reduction`` ('none', 'mean' or 'sum'), with torch's legacy ``size_average`` /
    ``reduce`` arguments folded in as torch folds them (either one given overrides
    ``reduction``). The one reduction parser: losses in functional and nn call it."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    return reduction
