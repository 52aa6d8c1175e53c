"""Pairwise distances between two sets of row vectors: ``cdist`` (torch.cdist's name, arguments
and gradients).

``cdist(x1, x2, p)[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p``. The Euclidean case may
take torch's matrix-product form ``sqrt(max(|a|^2 + |b|^2 - 2 a.b, 0))`` (one ``matmul``, no
(P, R, M) difference tensor); its backward is two more products. Other ``p`` form the
differences ``x1[..., :, None, :] - x2[..., None, :, :]`` with ``xp`` (NumPy or CuPy).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._backend import get_array_module
from .._matmul import matmul as _mm
from ..autograd import Function, Tensor
from ._helpers import _arr, _fit_t, _meta, _quiet, _t, _unbroadcast, _val

_COMPUTE_MODES = (
    "use_mm_for_euclid_dist_if_necessary",
    "use_mm_for_euclid_dist",
    "donot_use_mm_for_euclid_dist",
)


class Cdist(Function):
    """x1 (..., P, M), x2 (..., R, M) -> (..., P, R), batch dims broadcast.

    Backward (torch's ``_cdist_backward``), with diff = x1_i - x2_j and d = d_ij:
      p = 0:      0
      p = 1:      g sign(diff)
      0 < p < 2:  g sign(diff) |diff|^(p-1) / d^(p-1)  (0 where d = 0, or diff = 0 if p < 1)
      p = 2:      g diff / d                            (0 where d = 0)
      p > 2:      g diff |diff|^(p-2) / d^(p-1)        (0 where d = 0)
      p = inf:    g sign(diff) [|diff| = d]
    summed over j for x1 and, negated, over i for x2."""

    @staticmethod
    @_quiet
    def forward(ctx, x1, x2, p, use_mm):
        xp = get_array_module(x1)
        ctx.p, ctx.use_mm = p, use_mm
        if use_mm:
            n1 = (x1 * x1).sum(-1)[..., :, None]
            n2 = (x2 * x2).sum(-1)[..., None, :]
            d2 = n1 + n2 - 2 * _mm(x1, xp.swapaxes(x2, -1, -2))
            d = xp.sqrt(xp.maximum(d2, 0))
        else:
            diff = x1[..., :, None, :] - x2[..., None, :, :]
            a = xp.abs(diff)
            if x1.shape[-1] == 0:
                d = a.sum(-1)
            elif p == 0:
                d = (diff != 0).sum(-1)
            elif p == 1:
                d = a.sum(-1)
            elif p == 2:
                d = xp.sqrt((diff * diff).sum(-1))
            elif p == math.inf:
                d = a.max(-1)
            else:
                d = (a**p).sum(-1) ** (1.0 / p)
        d = d.astype(x1.dtype, copy=False)
        ctx.save_for_backward(x1, x2, d)
        return d

    @staticmethod
    @_quiet
    def backward(ctx, g):
        xp = get_array_module(g)
        x1, x2, d = ctx.saved_tensors
        p = ctx.p
        if p == 2:
            # sum_j w_ij (x1_i - x2_j) = x1_i sum_j w_ij - (w @ x2)_i, with w = g / d
            w = xp.where(d == 0, 0, g / xp.where(d == 0, 1, d)).astype(g.dtype, copy=False)
            g1 = x1 * w.sum(-1)[..., None] - _mm(w, x2)
            g2 = x2 * w.sum(-2)[..., None] - _mm(xp.swapaxes(w, -1, -2), x1)
        else:
            diff = x1[..., :, None, :] - x2[..., None, :, :]
            gg, dd = g[..., None], d[..., None]
            if p == 0:
                gd = xp.zeros_like(diff)
            elif p == 1:
                gd = gg * xp.sign(diff)
            elif p == math.inf:
                gd = gg * xp.sign(diff) * (xp.abs(diff) == dd)
            else:
                a = xp.abs(diff)
                if p < 2:
                    num = xp.sign(diff) * a ** (p - 1)
                    zero = (dd == 0) | ((diff == 0) if p < 1 else False)
                else:
                    num = diff * a ** (p - 2)
                    zero = dd == 0
                gd = xp.where(zero, 0, gg * num / xp.where(dd == 0, 1, dd) ** (p - 1))
            g1 = gd.sum(-2)
            g2 = -gd.sum(-3)
        g1 = _unbroadcast(g1, x1.shape).astype(x1.dtype, copy=False)
        g2 = _unbroadcast(g2, x2.shape).astype(x2.dtype, copy=False)
        return g1, g2, None, None

    @staticmethod
    @_quiet
    def backward_graph(ctx, inputs, g):
        # backward's formulas as recorded ops, the distances recomputed from the inputs; the
        # masks (d = 0, diff = 0, the arg-max for inf) are fixed by the forward, as torch's
        x1a, x2a, d = ctx.saved_tensors
        x1, x2 = _val(inputs[0], x1a), _val(inputs[1], x2a)
        p = ctx.p
        xp = get_array_module(d)
        if p == 2:
            dn, nz = _nonzero_t(Cdist.apply(x1, x2, 2.0, ctx.use_mm))
            w = g * nz / dn
            g1 = x1 * w.sum(-1).unsqueeze(-1) - w @ x2
            g2 = x2 * w.sum(-2).unsqueeze(-1) - w.transpose(-1, -2) @ x1
        else:
            diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
            da = _arr(diff)
            gg = g.unsqueeze(-1)
            if p == 0:
                gd = gg * xp.zeros(da.shape, da.dtype)
            elif p in (1, math.inf):
                c = xp.sign(da)
                if p == math.inf:
                    c = c * (xp.abs(da) == d[..., None])
                gd = gg * c.astype(da.dtype)
            else:  # diff |diff|^(p-2) = sign(diff) |diff|^(p-1), 0 (and flat) where diff is 0
                nzd = (da != 0).astype(da.dtype)
                num = diff * (diff.abs() + (1 - nzd)) ** (p - 2) * nzd
                dn, nz = _nonzero_t(Cdist.apply(x1, x2, p, False))
                gd = gg * num * (nz / dn ** (p - 1)).unsqueeze(-1)
            g1, g2 = gd.sum(-2), -gd.sum(-3)
        return _fit_t(g1, _meta(x1a)), _fit_t(g2, _meta(x2a)), None, None


def _nonzero_t(n: Tensor) -> tuple[Tensor, Any]:
    """``n`` with its zeros replaced by ones (safe to divide by, in the graph too) and the 0/1
    mask of its non-zero entries (gradients are 0 where a distance is 0, as torch's)."""
    nz = n._data != 0
    return n + (~nz).astype(n.dtype), nz.astype(n.dtype)


def cdist(
    x1: Tensor,
    x2: Tensor,
    p: float = 2.0,
    compute_mode: str = "use_mm_for_euclid_dist_if_necessary",
) -> Tensor:
    """The p-norm distance between each row of ``x1`` (..., P, M) and each row of ``x2``
    (..., R, M): a (..., P, R) tensor, the leading (batch) dimensions broadcast.

    ``p >= 0``, ``inf`` included (``p = 0`` counts the differing coordinates). Differentiable
    in both inputs, with torch's gradients (0 where a distance is 0). For ``p = 2``,
    ``compute_mode`` chooses as torch: the matrix-product form when P or R exceeds 25
    (``'use_mm_for_euclid_dist_if_necessary'``), always (``'use_mm_for_euclid_dist'``) or
    never (``'donot_use_mm_for_euclid_dist'``); the product form is faster and rounds more for
    near points.
    """
    op = "cdist"
    x1, x2 = _t(x1), _t(x2)
    a, b = _arr(x1), _arr(x2)
    for name, v in (("x1", a), ("x2", b)):
        if v.dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be a floating point tensor, got {v.dtype}")
        if v.ndim < 2:
            raise ValueError(f"{op}: {name} must have at least 2 dimensions, got {v.ndim}")
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: x1 ({a.dtype}) and x2 ({b.dtype}) must have the same dtype")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{op}: x1 and x2 must have the same number of columns, got {a.shape[-1]} and "
            f"{b.shape[-1]}"
        )
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(
            f"{op}: the batch dimensions of x1 {tuple(a.shape[:-2])} and x2 "
            f"{tuple(b.shape[:-2])} do not broadcast"
        ) from None
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: p must be a number, got {p!r}")
    p = float(p)
    if not p >= 0:
        raise ValueError(f"{op}: p must be non-negative, got {p}")
    if compute_mode not in _COMPUTE_MODES:
        raise ValueError(
            f"{op}: compute_mode must be one of {_COMPUTE_MODES}, got {compute_mode!r}"
        )
    use_mm = p == 2 and (
        compute_mode == "use_mm_for_euclid_dist"
        or (compute_mode == _COMPUTE_MODES[0] and (a.shape[-2] > 25 or b.shape[-2] > 25))
    )
    return Cdist.apply(x1, x2, p, use_mm)
