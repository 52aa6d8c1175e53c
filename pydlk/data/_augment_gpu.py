"""The loops of pydlk/data/_augment.pyx for CuPy batches, under the same names and arguments
(``x``, ``out``, the per-sample parameters as host arrays, ``num_threads``, which is ignored).

The parameters are drawn on the host from the same Philox stream as for a NumPy batch, copied
to the GPU (a few numbers per sample), and each loop becomes whole-batch array code with the
kernel's formula in float64 and one rounding to float32 at the end, so a GPU batch gets the
values a host batch gets (to float rounding). ``gaussian_noise`` draws its uniforms with the
GPU's Philox kernel (pydlk/_cuda/dropout.py), the numbers csrc/philox.h gives the host loop.
Nothing is read back to the host.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np


def _cp() -> Any:
    return sys.modules["cupy"]


def _dev(v: Any, dtype: Any = None) -> Any:
    """A host parameter array on the current GPU."""
    return _cp().asarray(np.asarray(v, dtype=dtype))


def crop(x, out, top, left, pad, num_threads):
    """out[n, c, i, j] = xpad[n, c, top[n] + i, left[n] + j], xpad = x zero-padded by ``pad``."""
    cp = _cp()
    N, _, H, W = x.shape
    OH, OW = out.shape[2:]
    rows = _dev(top, np.int64)[:, None] + cp.arange(OH) - pad  # (N, OH) in x's rows
    cols = _dev(left, np.int64)[:, None] + cp.arange(OW) - pad  # (N, OW)
    ok = ((rows >= 0) & (rows < H))[:, :, None] & ((cols >= 0) & (cols < W))[:, None, :]
    n = cp.arange(N)[:, None, None]
    g = x[n, :, cp.clip(rows, 0, H - 1)[:, :, None], cp.clip(cols, 0, W - 1)[:, None, :]]
    out[...] = cp.where(ok[:, None], g.transpose(0, 3, 1, 2), 0)


def hflip(x, out, flip, num_threads):
    """Mirror sample n left-right where flip[n] is 1; copy it otherwise."""
    out[...] = _cp().where(_dev(flip, np.bool_)[:, None, None, None], x[..., ::-1], x)


def _bilinear(x, sy, sx):
    """x (N, C, H, W) sampled at pixel coordinates (sy, sx), each (N, OH, OW) float64, zero
    outside the image; the expression of _augment.pyx's ``bilinear``. (N, C, OH, OW) float64."""
    cp = _cp()
    N, _, H, W = x.shape
    fy, fx = cp.floor(sy), cp.floor(sx)
    y0, x0 = fy.astype(cp.int64), fx.astype(cp.int64)
    wy, wx = sy - fy, sx - fx
    n = cp.arange(N)[:, None, None]

    def at(Y, X):
        ok = (Y >= 0) & (Y < H) & (X >= 0) & (X < W)
        v = x[n, :, cp.clip(Y, 0, H - 1), cp.clip(X, 0, W - 1)].astype(cp.float64)
        return cp.where(ok[..., None], v, 0.0).transpose(0, 3, 1, 2)

    v00, v01 = at(y0, x0), at(y0, x0 + 1)
    v10, v11 = at(y0 + 1, x0), at(y0 + 1, x0 + 1)
    wy, wx = wy[:, None], wx[:, None]
    return (1 - wy) * ((1 - wx) * v00 + wx * v01) + wy * ((1 - wx) * v10 + wx * v11)


def affine(x, out, angle, tx, ty, num_threads):
    """Rotate sample n by angle[n] degrees about the centre and shift it by (tx[n], ty[n])."""
    cp = _cp()
    _, _, H, W = x.shape
    cy, cx = (H - 1) * 0.5, (W - 1) * 0.5
    a = _dev(angle, np.float64)[:, None, None] * (math.pi / 180.0)
    ca, sa = cp.cos(a), cp.sin(a)
    dy = cp.arange(H, dtype=cp.float64)[None, :, None] - cy - _dev(ty, np.float64)[:, None, None]
    dx = cp.arange(W, dtype=cp.float64)[None, None, :] - cx - _dev(tx, np.float64)[:, None, None]
    sx = ca * dx - sa * dy + cx
    sy = sa * dx + ca * dy + cy
    out[...] = _bilinear(x, sy, sx)


def resized_crop(x, out, top, left, height, width, num_threads):
    """Crop box (top, left, height, width)[n] of sample n, resized bilinearly to out's H x W."""
    cp = _cp()
    OH, OW = out.shape[2:]
    t, l_ = _dev(top, np.float64)[:, None], _dev(left, np.float64)[:, None]
    h, w = _dev(height, np.float64)[:, None], _dev(width, np.float64)[:, None]
    sy = t + (cp.arange(OH) + 0.5) * (h / OH) - 0.5
    sx = l_ + (cp.arange(OW) + 0.5) * (w / OW) - 0.5
    sy = cp.minimum(cp.maximum(sy, t), t + h - 1)
    sx = cp.minimum(cp.maximum(sx, l_), l_ + w - 1)
    sy, sx = cp.broadcast_arrays(sy[:, :, None], sx[:, None, :])
    out[...] = _bilinear(x, sy, sx)


def _grey(v):
    return 0.299 * v[:, 0] + 0.587 * v[:, 1] + 0.114 * v[:, 2]


def color_jitter(x, out, brightness, contrast, saturation, num_threads):
    """Brightness, contrast (blend with the mean grey level), saturation (3 channels only)."""
    cp = _cp()
    C = x.shape[1]
    b = _dev(brightness, np.float64)[:, None, None, None]
    k = _dev(contrast, np.float64)[:, None, None, None]
    xd = x.astype(cp.float64)
    grey = _grey(xd) if C == 3 else xd.sum(1) / C
    mean = (b[:, 0] * grey).mean(axis=(1, 2), keepdims=True)[:, None]
    o = (k * b * xd + (1 - k) * mean).astype(cp.float32)
    if C == 3:
        s = _dev(saturation, np.float64)[:, None, None, None]
        od = o.astype(cp.float64)
        o = (s * od + (1 - s) * _grey(od)[:, None]).astype(cp.float32)
    out[...] = o


def add_channel_offset(x, out, offset, num_threads):
    """out[n, c] = x[n, c] + offset[n, c]."""
    off = _dev(offset, np.float64)[:, :, None, None]
    out[...] = (x.astype(_cp().float64) + off).astype(_cp().float32)


def gaussian_noise(x, out, std, seed, offset, num_threads):
    """out = x + std * z, z by Box-Muller from the Philox uniforms 2e and 2e+1 of element e."""
    from .._cuda.dropout import philox_uniform

    cp = _cp()
    u = philox_uniform(cp.empty(2 * x.size, cp.float32), seed, offset).astype(cp.float64)
    u1, u2 = (1.0 - u[0::2]).reshape(x.shape), u[1::2].reshape(x.shape)
    z = cp.sqrt(-2.0 * cp.log(u1)) * cp.cos(2.0 * math.pi * u2)
    out[...] = (x.astype(cp.float64) + std * z).astype(cp.float32)


def cutout(x, out, cy, cx, apply, size, num_threads):
    """Zero a size x size square centred at (cy, cx)[n] (clipped) where apply[n]."""
    cp = _cp()
    _, _, H, W = x.shape
    y0 = _dev(cy, np.int64)[:, None] - size // 2
    x0 = _dev(cx, np.int64)[:, None] - size // 2
    i, j = cp.arange(H), cp.arange(W)
    rows = (i >= y0) & (i < y0 + size)  # (N, H)
    cols = (j >= x0) & (j < x0 + size)  # (N, W)
    hole = rows[:, :, None] & cols[:, None, :] & _dev(apply, np.bool_)[:, None, None]
    out[...] = cp.where(hole[:, None], cp.float32(0), x)
