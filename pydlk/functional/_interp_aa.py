"""interpolate(..., antialias=True) for 'bilinear' and 'bicubic' on (N, C, H, W) inputs, as
torch's _upsample_bilinear2d_aa / _upsample_bicubic2d_aa (PIL's separable resampling filters).

Along each resized axis output i takes the input taps around ``center = scale * (i + 0.5)``
within ``support = interp_size / 2 * max(scale, 1)`` (interp_size 2 for the triangle filter, 4
for Keys' cubic with a = -0.5), weighted by ``filter((tap - center + 0.5) / max(scale, 1))``
and normalised to sum 1; taps outside the image are dropped, not clamped. So a downscale
averages over the whole footprint of an output pixel, and an upscale is the plain filter.

Each axis is a matrix M (out, in) built on the host in the input's float type with torch's
own casts, so float32 weights round as torch's do. The matrix is banded (a few taps per row),
so it is applied as a handful of dense products over row blocks, each reading only the
columns its rows touch: ``y[:, a:b] = x[:, lo:hi] @ M[a:b, lo:hi].T`` for the last axis, the
batched form for H. For (32, 3, 224, 224) -> 112 that is 4x less arithmetic than one dense
product and runs on NumPy (BLAS) and CuPy (cuBLAS) alike. As torch, the width pass runs first
and an axis whose size does not change is left alone. The backward applies M^T the same way,
and being linear it differentiates again to any order.

uint8 images follow torch's integer path exactly: per pass, weights scaled to int16 with the
largest precision that fits, ``(sum(x * w) + 2^(p-1)) >> p`` clamped to [0, 255], and the
width pass rounded to uint8 before the height pass. torch takes the same integer path for uint8
'bilinear' and 'bicubic' without antialias (``interpolate_aa(..., antialias=False)``), with the
unstretched triangle and the plain cubic convolution as weights."""

from __future__ import annotations

import functools
import math

import numpy as np

from .._backend import get_array_module
from ..autograd import Tensor
from ._adjoint import LinearMap

_INTERP_SIZE = {"bilinear": 2, "bicubic": 4}
_CUBIC_A = -0.5  # PIL's (Keys') constant; antialias=False bicubic uses -0.75 as OpenCV


def _filter(x, interp_size, dt):
    """The triangle (interp_size 2) or Keys cubic (4) filter at |x|, in dtype dt."""
    x = np.abs(x)
    if interp_size == 2:
        # torch: 1.0 - x is a double expression cast back to the filter's type
        return np.where(x < 1, (1.0 - x.astype(np.float64)).astype(dt), dt(0))
    a = dt(_CUBIC_A)
    near = ((a + dt(2)) * x - (a + dt(3))) * x * x + dt(1)
    far = ((a * x - dt(5) * a) * x + dt(8) * a) * x - dt(4) * a
    return np.where(x < 1, near, np.where(x < 2, far, dt(0))).astype(dt)


def aa_weights(n_in, n_out, mode, align_corners, scale, dtype, antialias=True):
    """The (n_out, n_in) weight matrix of one axis, computed in ``dtype`` (float32 or float64)
    with the casts of torch's _compute_indices_min_size_weights_aa. ``antialias=False``
    ('bilinear' only): the same routine as torch runs it for uint8 images without antialias
    (its separable integer path): the triangle is not stretched on a downscale, and with
    align_corners the centers move by half a pixel (``center = scale * i``)."""
    dt = np.dtype(dtype).type
    if align_corners:  # torch's aa path keeps center = scale * (i + 0.5) with this scale
        s = dt(n_in - 1) / dt(n_out - 1) if n_out > 1 else dt(0)
    elif scale is not None and scale > 0:
        s = dt(1.0 / scale)
    else:
        s = dt(n_in) / dt(n_out)
    interp_size = _INTERP_SIZE[mode]
    down = antialias and float(s) >= 1.0
    delta = 0.5 if align_corners and not antialias else 0.0
    support = dt(interp_size * 0.5 * float(s)) if down else dt(interp_size * 0.5)
    invscale = dt(1.0 / float(s)) if down else dt(1.0)
    kmax = math.ceil(float(support)) * 2 + 1 if antialias else interp_size
    i = np.arange(n_out)
    center = (float(s) * (i + 0.5 - delta)).astype(dt)
    # center -/+ support in dt, then + 0.5 in double and truncated, as the C++ expression does
    xmin = np.maximum(((center - support).astype(np.float64) + 0.5 + delta).astype(np.int64), 0)
    xmax = np.minimum(((center + support).astype(np.float64) + 0.5 + delta).astype(np.int64), n_in)
    xsize = np.clip(xmax - xmin, 0, kmax)
    j = np.arange(kmax)
    taps = xmin[:, None] + j
    u = ((taps.astype(dt) - center[:, None]).astype(np.float64) + 0.5 - delta) * float(invscale)
    inside = j < xsize[:, None]
    w = np.where(inside, _filter(u.astype(dt), interp_size, dt), dt(0))
    total = np.zeros(n_out, dt)
    for k in range(kmax):  # summed tap by tap in dt, as torch's loop
        total = (total + w[:, k]).astype(dt)
    w = np.where(total[:, None] != 0, w / np.where(total == 0, dt(1), total)[:, None], w)
    m = np.zeros((n_out, n_in), dt)
    rows = np.broadcast_to(i[:, None], taps.shape)
    m[rows[inside], taps[inside]] = w[inside].astype(dt)
    return m


def _bands(m):
    """Row blocks (a, b, lo, hi) of m: rows a:b have their nonzeros in columns lo:hi. Blocks
    of about 24 rows (at most 16 blocks); one dense block where banding saves little."""
    n_out, n_in = m.shape
    nb = min(16, n_out // 24)
    if nb > 1:
        nz = m != 0
        first = np.where(nz.any(1), nz.argmax(1), n_in)
        last = np.where(nz.any(1), n_in - nz[:, ::-1].argmax(1), 0)
        edges = [n_out * k // nb for k in range(nb + 1)]
        blocks = []
        for a, b in zip(edges[:-1], edges[1:]):
            lo, hi = int(first[a:b].min()), int(last[a:b].max())
            blocks.append((a, b, lo, max(hi, lo)))
        # small blocks run below the BLAS's best rate: band only for a clear saving
        if sum((b - a) * (hi - lo) for a, b, lo, hi in blocks) < 0.6 * n_out * n_in:
            return tuple(blocks)
    return ((0, n_out, 0, n_in),)


class _Axis:
    """One resized axis: its matrix and transpose (host arrays) with their row blocks."""

    def __init__(self, m):
        self.m, self.mt = m, np.ascontiguousarray(m.T)
        self.m.setflags(write=False)
        self.mt.setflags(write=False)
        self.bands, self.bands_t = _bands(self.m), _bands(self.mt)


# a training loop resizes the same shapes every step; few entries, as random crops give each
# call new sizes and each entry holds two dense (out, in) matrices
@functools.lru_cache(maxsize=16)
def _axis(n_in, n_out, mode, align_corners, scale, dtype):
    return _Axis(aa_weights(n_in, n_out, mode, align_corners, scale, dtype))


def _apply(m, bands, x, axis, xp):
    """``m @ x`` along ``axis`` of a C-contiguous x, over the row blocks of m."""
    pre, n = x.shape[:axis], x.shape[axis]
    post = int(np.prod(x.shape[axis + 1 :], dtype=np.int64))
    md = xp.asarray(m, dtype=x.dtype)
    n_out = m.shape[0]
    if post == 1:
        x2 = x.reshape(-1, n)
        if len(bands) == 1:
            y = x2 @ md.T
        else:
            y = xp.empty((x2.shape[0], n_out), x.dtype)
            for a, b, lo, hi in bands:
                y[:, a:b] = x2[:, lo:hi] @ md[a:b, lo:hi].T
    else:
        x3 = x.reshape(-1, n, post)
        if len(bands) == 1:
            y = xp.matmul(md, x3)
        else:
            y = xp.empty((x3.shape[0], n_out, post), x.dtype)
            for a, b, lo, hi in bands:
                y[:, a:b, :] = xp.matmul(md[a:b, lo:hi], x3[:, lo:hi, :])
    return y.reshape(pre + (n_out,) + x.shape[axis + 1 :])


def _resize(x, plan):
    if not plan:
        return x.copy()  # a new array even when no axis changes, as torch's
    xp = get_array_module(x)
    y = xp.ascontiguousarray(x)
    for axis, ax in plan:
        y = _apply(ax.m, ax.bands, y, axis, xp)
    return y


def _resize_adjoint(g, plan):
    xp = get_array_module(g)
    g = xp.ascontiguousarray(g)
    # maps along different axes commute, so the adjoint need not reverse the order: width
    # first measured 2.4 ms against 3.9 ms for (32, 3, 112, 112) -> 224
    for axis, ax in plan:
        g = _apply(ax.mt, ax.bands_t, g, axis, xp)
    return g


class InterpolateAA(LinearMap):
    """The antialiased resize as a linear map (its backward the adjoint, to any order), under
    its own name in the graph (``InterpolateAABackward0``)."""


def _int16_weights(m):
    """torch's fixed-point form of m (float64): the largest precision p (< 22) at which the
    biggest weight still fits int16, and the weights rounded half away from zero at 2^p."""
    wmax = float(m.max())
    p = 0
    while p < 22 and int(0.5 + wmax * (1 << (p + 1))) < (1 << 15):
        p += 1
    v = m * float(1 << p)
    return np.where(v < 0, np.trunc(v - 0.5), np.trunc(v + 0.5)), p


@functools.lru_cache(maxsize=16)
def _axis_u8(n_in, n_out, mode, align_corners, scale, antialias=True):
    if mode == "bicubic" and not antialias:
        # torch's integer path takes the float path's cubic here (A = -0.75, taps past the
        # border read the edge pixel), quantised as the others
        from .sampling import _bicubic_matrix

        m = _bicubic_matrix(n_in, n_out, align_corners, scale)
    else:
        m = aa_weights(n_in, n_out, mode, align_corners, scale, np.float64, antialias)
    w, p = _int16_weights(m)
    ax = _Axis(w)
    ax.precision = p
    # every partial sum (at most 255 sum|w|) and the rounding offset 2^(p-1) added to it stay
    # below 2^24: float32 holds them all exactly
    bound = 255 * float(np.abs(w).sum(1).max(initial=0)) + (1 << (p - 1))
    ax.dtype = np.float32 if bound < 2**24 else np.float64
    return ax


def _resize_u8(x, plan):
    """torch's uint8 passes. The products of uint8 pixels and int16 weights and their partial
    sums are integers below 2^53 (below 2^24 where the axis computes in float32), so the
    products are exact and the rounding shift is exact."""
    xp = get_array_module(x)
    y = xp.ascontiguousarray(x)
    for axis, ax in plan:
        acc = _apply(ax.m, ax.bands, y.astype(ax.dtype, copy=False), axis, xp)
        acc += ax.dtype(1 << (ax.precision - 1))
        acc *= ax.dtype(1.0 / (1 << ax.precision))  # a power of two: exact, as the division
        y = xp.clip(xp.floor(acc, out=acc), 0, 255, out=acc)
    return y.astype(np.uint8)


def interpolate_aa(input, x, out, scales, mode, align_corners, antialias=True):
    """The antialiased resize of a checked 4-D float32/float64/uint8 array ``x`` (``input``'s
    data) to the spatial size ``out``; ``scales`` as the non-aa path (None: in/out).
    ``antialias=False`` (uint8 only): torch's integer path for 'bilinear' and 'bicubic'
    without antialias (``aa_weights``)."""
    # width first, then height, as torch's separable kernel (it matters for uint8's rounding)
    sizes = [(3, x.shape[3], out[1], scales[1]), (2, x.shape[2], out[0], scales[0])]
    sizes = [s for s in sizes if s[1] != s[2]]  # torch copies an axis whose size is unchanged
    if x.dtype == np.uint8:
        plan = [
            (axis, _axis_u8(n, o, mode, align_corners, s, antialias)) for axis, n, o, s in sizes
        ]
        return Tensor(_resize_u8(x, plan))
    dtype = x.dtype.name
    plan = [(axis, _axis(n, o, mode, align_corners, s, dtype)) for axis, n, o, s in sizes]
    return InterpolateAA.apply(
        input, lambda a: _resize(a, plan), lambda g: _resize_adjoint(g, plan)
    )
