"""one_hot and pad with torch.nn.functional's names, arguments and semantics.

pad is one Function for every mode: each padded dimension has an index map from output to input
position (-1 where a constant fills in), so the forward is a gather per dimension and the
backward adds each output gradient back to the input position it came from."""

from __future__ import annotations

import numbers

import numpy as np

from .._backend import get_array_module
from ..autograd import Function, Tensor
from ._util import array_of

__all__ = ["one_hot", "pad"]

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """(..., ) integer class indices -> (..., num_classes) int64 one-hot, as torch's one_hot.

    ``num_classes=-1`` uses ``tensor.max() + 1``. Values must lie in [0, num_classes)."""
    a = array_of(tensor)
    if not hasattr(a, "dtype"):
        a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise TypeError(f"one_hot: tensor must hold integer class indices (int64), got {a.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"one_hot: num_classes must be an int, got {type(num_classes).__name__}")
    xp = get_array_module(a)
    if a.size and int(a.min()) < 0:
        raise ValueError("one_hot: Class values must be non-negative.")
    if num_classes == -1:
        if a.size == 0:
            raise ValueError("one_hot: Can not infer total number of classes from empty tensor.")
        num_classes = int(a.max()) + 1
    elif num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be positive or -1, got {num_classes}")
    elif a.size and int(a.max()) >= num_classes:
        raise ValueError(
            f"one_hot: Class values must be smaller than num_classes "
            f"({num_classes}), got {int(a.max())}."
        )
    out = (a[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor(out)


def _index_map(n, left, right, mode, xp):
    """Input position of each output position along one dimension (-1: the constant)."""
    i = np.arange(-left, n + right)
    if mode == "constant":
        i = np.where((i >= 0) & (i < n), i, -1)
    elif mode == "reflect":
        i = np.abs(i)
        i = np.where(i >= n, 2 * (n - 1) - i, i)
    elif mode == "replicate":
        i = np.clip(i, 0, n - 1)
    else:  # circular
        i = np.mod(i, n)
    return xp.asarray(i)


class Pad(Function):
    @staticmethod
    def forward(ctx, x, maps, value):
        xp = get_array_module(x)
        y = x
        for axis, idx in maps:
            valid = idx >= 0
            y = xp.take(y, xp.where(valid, idx, 0), axis=axis)
            if not bool(valid.all()):
                shape = [1] * y.ndim
                shape[axis] = -1
                y = xp.where(valid.reshape(shape), y, xp.asarray(value, dtype=y.dtype))
        ctx.args = (maps, x.shape)
        return xp.ascontiguousarray(y)

    @staticmethod
    def backward(ctx, g):
        maps, shape = ctx.args
        xp = get_array_module(g)
        for axis, idx in reversed(maps):
            # g_in[j] = sum over outputs o with idx[o] == j of g[o]: a product with the one-hot
            # matrix of the index map (rows where the constant filled in are all zero)
            m = (idx[None, :] == xp.arange(shape[axis])[:, None]).astype(g.dtype)
            g = xp.moveaxis(xp.tensordot(m, g, axes=([1], [axis])), 0, axis)
        return xp.ascontiguousarray(g), None, None


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad (or, with negative sizes, crop) the last ``len(pad)//2`` dimensions, as torch's
    F.pad: ``pad = (left, right, top, bottom, front, back)`` starting from the last dimension.

    mode 'constant' (fill ``value``, default 0; any number of dimensions), 'reflect' (mirror
    without repeating the edge), 'replicate' (repeat the edge) or 'circular' (wrap around); the
    last three pad 1 to 3 trailing dimensions of a 2-D to 5-D input, as torch."""
    a = array_of(input)
    if not hasattr(a, "dtype"):
        raise TypeError(f"pad: input must be a Tensor or an array, got {type(input).__name__}")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    if not isinstance(pad, (tuple, list)) or not all(
        isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad
    ):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if len(pad) % 2:
        raise ValueError(f"pad: Padding length must be divisible by 2, got {len(pad)}")
    k = len(pad) // 2
    if k > a.ndim:
        raise ValueError(
            f"pad: Padding length should be less than or equal to two times the "
            f"input dimension but got padding length {len(pad)} and input of "
            f"dimension {a.ndim}"
        )
    if mode != "constant":
        if value is not None and value != 0:
            raise ValueError(f"pad: Padding mode {mode!r} doesn't take in value argument")
        if k not in (1, 2, 3) or a.ndim not in (k + 1, k + 2):
            raise ValueError(
                f"pad: mode {mode!r} pads the last 1, 2 or 3 dimensions of a 2-D/3-D, "
                f"3-D/4-D or 4-D/5-D input; got padding length {len(pad)} and input "
                f"of shape {tuple(a.shape)}"
            )
    if value is None:
        value = 0.0
    elif not isinstance(value, numbers.Number):
        raise TypeError(f"pad: value must be a number, got {type(value).__name__}")
    xp = get_array_module(a)
    maps = []
    for j in range(k):
        axis = a.ndim - 1 - j
        left, right, n = int(pad[2 * j]), int(pad[2 * j + 1]), a.shape[axis]
        if n + left + right < 0:
            raise ValueError(
                f"pad: the padded size of dimension {axis} would be negative "
                f"({n} + {left} + {right})"
            )
        if mode == "reflect" and (left >= n or right >= n):
            raise ValueError(
                f"pad: reflect padding size should be less than the corresponding "
                f"input dimension, but got padding ({left}, {right}) at dimension "
                f"{axis} of size {n}"
            )
        if mode == "circular" and (left > n or right > n):
            raise ValueError(
                f"pad: circular padding may be at most the size of the dimension, "
                f"but got padding ({left}, {right}) at dimension {axis} of size {n}"
            )
        if mode in ("replicate", "circular") and n == 0 and left + right > 0:
            raise ValueError(f"pad: cannot {mode}-pad dimension {axis} of size 0")
        if left or right:
            maps.append((axis, _index_map(n, left, right, mode, xp)))
    if not maps:
        return input if isinstance(input, Tensor) else Tensor(a)
    return Pad.apply(input, maps, value)
