"""interpolate (torch.nn.functional.interpolate) for 'nearest', 'nearest-exact', 'area' (3-D, 4-D,
5-D), 'linear' (3-D), 'bilinear' and 'bicubic' (4-D) and 'trilinear' (5-D), forward and backward.

Each resized dimension is separable: output = M @ input along that axis, with M (out, in) holding
one 1 per row (nearest), two linear or four cubic weights per row, or an average over a window of
the input (area, which is adaptive average pooling), applied as a matmul in the array's own
layout (no transposed copies). The backward applies M^T. Source
coordinates follow torch's CPU kernels: with ``scale_factor`` given (and
``recompute_scale_factor`` not True) the coordinate scale is ``1/scale_factor``, otherwise
``in/out``. The backward is linear in the gradient (M^T), so it differentiates again to any
order (create_graph=True). antialias=True ('bilinear', 'bicubic') is _interp_aa.py's."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from .._backend import get_array_module
from .._typing import _size_any_t
from ..autograd import Tensor
from ._adjoint import LinearMap
from ._interp_aa import interpolate_aa
from ._util import array_of, check_float

__all__ = ["interpolate", "upsample", "upsample_bilinear", "upsample_nearest"]

_MODES = {
    "nearest": (3, 4, 5),
    "nearest-exact": (3, 4, 5),
    "linear": (3,),
    "bilinear": (4,),
    "bicubic": (4,),
    "trilinear": (5,),
    "area": (3, 4, 5),
}
_INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")
_AA_MODES = ("bilinear", "bicubic")
_U8_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic")  # torch's uint8 resizes
_A = -0.75  # torch's cubic convolution constant (Keys' kernel with a = -0.75)


def _cubic_weights(t):
    """The four cubic convolution weights of taps x-1, x, x+1, x+2 for the fraction t = real - x
    (torch's get_cubic_upsample_coefficients)."""

    def near(d):  # |d| <= 1
        return ((_A + 2) * d - (_A + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((_A * d - 5 * _A) * d + 8 * _A) * d - 4 * _A

    return far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)


def _area_matrix(n_in, n_out):
    """Adaptive average pooling along one axis: row o averages input [floor(o*in/out),
    ceil((o+1)*in/out)), as torch's adaptive_avg_pool (which 'area' is)."""
    o = np.arange(n_out)
    start = (o * n_in) // n_out
    end = ((o + 1) * n_in + n_out - 1) // n_out
    i = np.arange(n_in)
    inside = (i >= start[:, None]) & (i < end[:, None])
    return inside / (end - start)[:, None].astype(np.float64)


def _matrix(n_in, n_out, mode, align_corners, scale):
    """(index array or None, weight matrix (n_out, n_in) float64) for one dimension."""
    o = np.arange(n_out, dtype=np.float64)
    m = np.zeros((n_out, n_in))
    if mode in ("nearest", "nearest-exact"):
        s = (n_in / n_out) if scale is None else 1.0 / scale
        s = np.float32(s)  # torch computes the nearest source index in float
        if mode == "nearest":
            src = np.floor(o.astype(np.float32) * s)
        else:
            src = np.floor((o.astype(np.float32) + np.float32(0.5)) * s)
        idx = np.minimum(src.astype(np.int64), n_in - 1)
        m[np.arange(n_out), idx] = 1.0
        return idx, m
    if mode == "area":
        return None, _area_matrix(n_in, n_out)
    if mode == "bicubic":
        return None, _bicubic_matrix(n_in, n_out, align_corners, scale)
    if align_corners:
        s = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        src = o * s
    else:
        s = (n_in / n_out) if scale is None else 1.0 / scale
        src = np.maximum((o + 0.5) * s - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    np.add.at(m, (np.arange(n_out), i0), 1.0 - lam)
    np.add.at(m, (np.arange(n_out), i1), lam)
    return None, m


def _bicubic_matrix(n_in, n_out, align_corners, scale):
    """Cubic convolution along one axis as torch's upsample_bicubic2d: the source coordinate is
    not clamped at 0 (unlike linear), its fraction is clamped to [0, 1], and taps outside the
    input read the nearest edge pixel."""
    o = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = o * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        s = (n_in / n_out) if scale is None else 1.0 / scale
        src = (o + 0.5) * s - 0.5
    x0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    t = np.clip(src - x0, 0.0, 1.0)
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    for k, w in enumerate(_cubic_weights(t)):
        np.add.at(m, (rows, np.clip(x0 - 1 + k, 0, n_in - 1)), w)
    return m


def _along_axis(m, y, axis, xp):
    """``m @ y`` along ``axis`` (m: (out, in)), in y's own layout: a plain matmul for the last
    axis, a matmul broadcast over the leading axes otherwise, so no transposed copies."""
    pre, n = y.shape[:axis], y.shape[axis]
    post = int(np.prod(y.shape[axis + 1 :], dtype=np.int64))
    mm = xp.asarray(m, dtype=y.dtype)
    if post == 1:
        r = y.reshape(-1, n) @ mm.T
    else:
        r = xp.matmul(mm, y.reshape(-1, n, post))
    return r.reshape(pre + (m.shape[0],) + y.shape[axis + 1 :])


def _resize(x, plan):
    """The forward map: each planned axis resized (a gather for nearest, which keeps NaN/inf
    where they are, else the matrix)."""
    xp = get_array_module(x)
    for axis, idx, m in plan:
        x = (
            xp.take(x, xp.asarray(idx), axis=axis)
            if idx is not None
            else _along_axis(m, x, axis, xp)
        )
    return xp.ascontiguousarray(x)


def _resize_adjoint(g, plan):
    """The backward map: M^T along each planned axis, in reverse order."""
    xp = get_array_module(g)
    for axis, _idx, m in reversed(plan):
        g = _along_axis(m.T, g, axis, xp)
    return xp.ascontiguousarray(g)


class Interpolate(LinearMap):
    """The resize as a linear map (its backward the adjoint, to any order), under its own name
    in the graph (``InterpolateBackward0``)."""


def _per_dim(v, k, name, kind):
    if isinstance(v, (tuple, list)):
        if len(v) != k:
            raise ValueError(
                f"interpolate: {name} shape must match input spatial dimensions "
                f"({k}), got {len(v)} values"
            )
        vals = list(v)
    else:
        vals = [v] * k
    for x in vals:
        if isinstance(x, bool) or not isinstance(x, kind):
            raise TypeError(f"interpolate: {name} must be a number or a tuple of them, got {v!r}")
    return vals


def interpolate(
    input: Tensor,
    size: _size_any_t | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize the spatial dimensions of an (N, C, L) or (N, C, H, W) input, as torch's
    F.interpolate, or (N, C, D, H, W) for 'nearest', 'nearest-exact', 'area' and 'trilinear'.
    Exactly one of ``size`` (int or tuple) and ``scale_factor`` (float or tuple) is given.
    ``align_corners`` applies to the interpolating modes 'linear', 'bilinear', 'bicubic' and
    'trilinear' only (default False). 'bicubic' is torch's cubic convolution (A = -0.75, taps
    past the border read the edge pixel; it may overshoot the input's range, as torch's does).
    'area' is adaptive average pooling to the output size (a ``scale_factor`` gives the size
    ``floor(in * scale_factor)``, as torch recomputes it).

    ``antialias=True`` (4-D 'bilinear' and 'bicubic' only, as torch; other modes and shapes
    raise a ValueError) is torch's _upsample_bilinear2d_aa / _upsample_bicubic2d_aa, PIL's
    resampling: each output pixel weighs the input taps within ``support = 1`` (bilinear) or
    ``2`` (bicubic) times ``max(scale, 1)`` of its center ``scale * (i + 0.5)`` with a
    triangle or Keys cubic (a = -0.5) filter stretched by the scale, normalised to sum 1, taps
    past the border dropped. So a downscale averages over each output pixel's footprint, and an
    upscale is the plain filter (bicubic with a = -0.5, so slightly unlike antialias=False).
    The scale is ``in / out`` or ``1 / scale_factor`` as above; ``align_corners=True`` only
    makes it ``(in - 1) / (out - 1)``, as torch's. An axis whose size does not change is
    copied.

    uint8 images (no gradient) resize as torch's: 'nearest' and 'nearest-exact' pick pixels;
    'bilinear' and 'bicubic' (with or without antialias) take torch's integer path, bit for bit
    (per pass, width first: int16 weights, a rounding shift, clamped to [0, 255]; without
    antialias the weights are the float modes' own, so values differ from the float result by
    that rounding and clamping); other modes raise a TypeError, as torch's "not implemented
    for 'Byte'".

    Differs from torch: mode 'lanczos' is refused with a ValueError. A
    NaN or inf in the input spreads along the whole resized row for the interpolating modes and
    'area' (with antialias, over a block of about 24 output pixels; torch's kernels keep it
    local). With antialias and a ``scale_factor`` that leaves an axis's size unchanged, the
    gradient is the forward's adjoint (the identity there); torch's backward resamples that
    axis with the scale, unlike its own forward."""
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {tuple(_MODES)}, got {mode!r}")
    x = array_of(input)
    u8 = getattr(x, "dtype", None) == np.uint8
    if u8 and mode not in _U8_MODES:
        raise TypeError(
            f"interpolate: a uint8 input resizes with modes {', '.join(map(repr, _U8_MODES))} "
            f"(as torch), got mode {mode!r}; convert it to float32 first"
        )
    if not u8:
        x = check_float(input, "interpolate", "input")
    if antialias and (mode not in _AA_MODES or x.ndim != 4):
        raise ValueError(
            "interpolate: antialias=True is restricted to the 'bilinear' and 'bicubic' modes "
            f"and needs a 4-D input, got mode {mode!r} and shape {tuple(x.shape)}"
        )
    if x.ndim not in _MODES[mode]:
        want = " or ".join(f"{d}-D" for d in _MODES[mode])
        raise ValueError(
            f"interpolate: mode {mode!r} expects a {want} input, got shape {tuple(x.shape)}"
        )
    linear = mode in _INTERPOLATING
    if align_corners is not None and not linear:
        raise ValueError(
            "interpolate: align_corners option can only be set with the "
            "interpolating modes: linear | bilinear | bicubic | trilinear"
        )
    align_corners = bool(align_corners) if linear else False
    k = x.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: exactly one of size or scale_factor should be defined")
    in_sizes = list(x.shape[2:])
    if size is not None:
        out = [int(s) for s in _per_dim(size, k, "size", (int, np.integer))]
        if any(s <= 0 for s in out):
            raise ValueError(f"interpolate: size must be positive, got {size!r}")
        scales: list[float | None] = [None] * k
        if recompute_scale_factor:
            raise ValueError(
                "interpolate: recompute_scale_factor is not meaningful with an explicit size."
            )
    else:
        factors = [float(s) for s in _per_dim(scale_factor, k, "scale_factor", numbers.Real)]
        if any(not s > 0 or not math.isfinite(s) for s in factors):
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor!r}")
        out = [math.floor(n * s) for n, s in zip(in_sizes, factors)]
        scales = list(factors)
        if any(s <= 0 for s in out):
            raise ValueError(
                f"interpolate: input of shape {tuple(x.shape)} with scale_factor "
                f"{scale_factor!r} gives an empty output"
            )
        if recompute_scale_factor or mode == "area":  # torch: area always takes a size
            scales = [None] * k
    if antialias or (u8 and mode in _AA_MODES):  # torch's integer path for uint8
        return interpolate_aa(input, x, out, scales, mode, align_corners, antialias)
    plan = []
    for j in range(k):
        if out[j] == in_sizes[j] and (scales[j] in (None, 1.0)):
            continue  # identity along this axis
        idx, m = _matrix(in_sizes[j], out[j], mode, align_corners, scales[j])
        plan.append((2 + j, idx, m))
    if not plan:  # a new tensor, as torch's: writing into it must not change the input
        return input.clone() if isinstance(input, Tensor) else Tensor(x.copy())
    return Interpolate.apply(input, lambda a: _resize(a, plan), lambda g: _resize_adjoint(g, plan))


def upsample(
    input: Tensor,
    size: _size_any_t | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
):
    """torch's deprecated alias of interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(
    input: Tensor,
    size: _size_any_t | None = None,
    scale_factor: float | Sequence[float] | None = None,
):
    """interpolate(..., mode='nearest')."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(
    input: Tensor,
    size: _size_any_t | None = None,
    scale_factor: float | Sequence[float] | None = None,
):
    """interpolate(..., mode='bilinear', align_corners=True), as torch's deprecated alias."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
