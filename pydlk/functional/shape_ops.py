"""one_hot and pad with torch.nn.functional's names, arguments and semantics.

pad is one Function for every mode. A constant pad (or crop) copies the input into one
preallocated output and its backward takes the matching slice of the gradient. The other modes
map each output position of a padded dimension to an input position; that map is a few runs of
consecutive (or mirrored, or repeated) positions, each copied with one slice, and the backward
adds each run's gradient back onto the input positions it came from."""

from __future__ import annotations

import numbers

import numpy as np

from .._backend import get_array_module
from ..autograd import Function, Tensor
from ._adjoint import LinearMap
from ._util import array_of

__all__ = ["one_hot", "pad", "pixel_shuffle", "pixel_unshuffle"]

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


def _index_map(n, left, right, mode):
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
    return i


def _runs(idx):
    """The index map cut into runs ``(o0, o1, i0, step)``: outputs o0..o1-1 read input
    i0, i0 + step, ... (step +1 or -1), all input i0 (step 0), or the constant (i0 == -1).
    A pad has a handful of runs, so each becomes one slice copy instead of a gather."""
    runs, o0 = [], 0
    while o0 < len(idx):
        i0 = int(idx[o0])
        step = int(idx[o0 + 1]) - i0 if o0 + 1 < len(idx) else 1
        if i0 < 0 or int(idx[min(o0 + 1, len(idx) - 1)]) < 0 or abs(step) > 1:
            step = 0 if i0 >= 0 else 1
        o1 = o0 + 1
        while o1 < len(idx) and (
            (idx[o1] < 0) if i0 < 0 else (int(idx[o1]) == i0 + step * (o1 - o0))
        ):
            o1 += 1
        runs.append((o0, o1, i0, step))
        o0 = o1
    return runs


def _span(i0, length, step):
    """The input slice a run reads (step +1 or -1; step 0 is handled by its caller)."""
    if step > 0:
        return slice(i0, i0 + length)
    stop = i0 - length
    return slice(i0, stop if stop >= 0 else None, -1)


def _at(axis, ndim, key):
    return (slice(None),) * axis + (key,) + (slice(None),) * (ndim - axis - 1)


class Pad(Function):
    """Constant pads copy the input into one preallocated output (the backward is a slice of
    the gradient); the other modes copy each run of their index map per padded dimension."""

    @staticmethod
    def forward(ctx, x, maps, value):
        ctx.args = (maps, x.shape, value is not None)
        return _pad_array(x, maps, value)

    @staticmethod
    def backward(ctx, g):
        return _pad_adjoint(g, *ctx.args), None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        # the backward is linear in g; its adjoint is the pad itself with zeros as the value
        maps, shape, constant = ctx.args
        value = 0.0 if constant else None
        gx = LinearMap.apply(
            g,
            lambda a: _pad_adjoint(a, maps, shape, constant),
            lambda a: _pad_array(a, maps, value),
        )
        return gx, None, None


def _pad_array(x, maps, value):
    """The padded array; ``value`` None for the index-map modes."""
    xp = get_array_module(x)
    if value is not None:  # constant: maps hold (axis, out size, out slice, in slice)
        shape = list(x.shape)
        for axis, size, _, _ in maps:
            shape[axis] = size
        y = xp.full(shape, value, dtype=x.dtype)
        y[_key(maps, 2, x.ndim)] = x[_key(maps, 3, x.ndim)]
        return y
    y = x
    for axis, size, runs in maps:
        shape = list(y.shape)
        shape[axis] = size
        out = xp.empty(shape, dtype=y.dtype)
        for o0, o1, i0, step in runs:
            src = _at(axis, y.ndim, slice(i0, i0 + 1) if step == 0 else _span(i0, o1 - o0, step))
            out[_at(axis, y.ndim, slice(o0, o1))] = y[src]
        y = out
    return y


def _pad_adjoint(g, maps, shape, constant):
    """The gradient of the input of shape ``shape`` from the padded output's ``g``."""
    xp = get_array_module(g)
    if constant:
        gx = xp.zeros(shape, g.dtype)
        gx[_key(maps, 3, len(shape))] = g[_key(maps, 2, len(shape))]
        return gx
    for axis, _, runs in reversed(maps):
        # each output's gradient goes back to the input position it was copied from
        gshape = list(g.shape)
        gshape[axis] = shape[axis]
        gi = xp.zeros(gshape, g.dtype)
        for o0, o1, i0, step in runs:
            part = g[_at(axis, g.ndim, slice(o0, o1))]
            if step == 0:
                gi[_at(axis, g.ndim, slice(i0, i0 + 1))] += part.sum(axis=axis, keepdims=True)
            else:
                gi[_at(axis, g.ndim, _span(i0, o1 - o0, step))] += part
        g = gi
    return g


def _key(maps, j, ndim):
    key = [slice(None)] * ndim
    for m in maps:
        key[m[0]] = m[j]
    return tuple(key)


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad (or, with negative sizes, crop) the last ``len(pad)//2`` dimensions, as torch's
    F.pad: ``pad = (left, right, top, bottom, front, back)`` starting from the last dimension.

    mode 'constant' (fill ``value``, default 0; any number of dimensions), 'reflect' (mirror
    without repeating the edge), 'replicate' (repeat the edge) or 'circular' (wrap around); the
    last three pad 1 to 3 trailing dimensions of a 2-D to 5-D input, as torch. Differentiable to
    any order (create_graph=True)."""
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
    maps: list[tuple] = []  # per padded axis: (axis, size, dst, src) or (axis, size, runs)
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
        if not (left or right):
            continue
        if mode == "constant":  # the kept input range and where it lands in the output
            lo, hi = max(-left, 0), n - max(-right, 0)
            dst = slice(max(left, 0), max(left, 0) + max(hi - lo, 0))
            maps.append((axis, n + left + right, dst, slice(lo, max(hi, lo))))
        else:
            maps.append((axis, n + left + right, _runs(_index_map(n, left, right, mode))))
    if not maps:
        return input if isinstance(input, Tensor) else Tensor(a)
    return Pad.apply(input, maps, value if mode == "constant" else None)


def _pixel_args(input: Tensor, factor: int, op: str, name: str) -> Tensor:
    x = input if isinstance(input, Tensor) else Tensor(input)
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {factor!r}")
    if x.ndim < 3:
        raise ValueError(f"{op}: input must have at least 3 dimensions (C, H, W), got {x.ndim}")
    return x


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r) for ``r = upscale_factor``: each group of
    r * r channels becomes an r x r block of pixels (sub-pixel convolution), as torch's.
    Differentiable (a reshape and a permute).

    Raises ValueError unless the channels divide by r * r.
    """
    x = _pixel_args(input, upscale_factor, "pixel_shuffle", "upscale_factor")
    r = int(upscale_factor)
    *lead, c, h, w = x.shape
    if c % (r * r):
        raise ValueError(
            f"pixel_shuffle: input's channel dimension (size {c}) must be divisible by "
            f"upscale_factor ** 2 = {r * r}"
        )
    n = len(lead)
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H * r, W * r) -> (*, C * r * r, H, W) for ``r = downscale_factor``: the inverse
    of ``pixel_shuffle``, as torch's. Differentiable (a reshape and a permute).

    Raises ValueError unless the height and width divide by r.
    """
    x = _pixel_args(input, downscale_factor, "pixel_unshuffle", "downscale_factor")
    r = int(downscale_factor)
    *lead, c, h, w = x.shape
    if h % r or w % r:
        raise ValueError(
            f"pixel_unshuffle: input's height and width ({h}, {w}) must be divisible by "
            f"downscale_factor = {r}"
        )
    n = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    y = y.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)
