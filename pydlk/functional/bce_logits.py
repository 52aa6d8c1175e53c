"""binary_cross_entropy_with_logits on the kernels (csrc/loss_bce.cpp and its GPU counterpart):
the loss and the input's gradient each in one pass, for the common case where only the input
needs a gradient. losses_extra.py keeps the general path (a target, weight or pos_weight that
requires grad, or shapes the kernel does not take)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import get_array_module, kernels_for
from ..autograd import Function, Tensor


class _BCEWithLogits(Function):
    """forward(ctx, x, t, w, pw, reduction): w and pw None or the kernel's layouts (input's
    size, or its last dimension's)."""

    @staticmethod
    def forward(ctx, x, t, w, pw, reduction):
        x = get_array_module(x).ascontiguousarray(x)
        ctx.arrays, ctx.reduction = (x, t, w, pw), reduction
        loss, total = kernels_for(x).bce_with_logits_forward(x, t, w, pw, reduction == "none")
        if reduction == "none":
            return loss
        xp = get_array_module(x)
        if reduction == "mean":
            total = total / x.size if x.size else float("nan")
        return xp.asarray(total, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, t, w, pw = ctx.arrays
        scale = 1.0 / x.size if ctx.reduction == "mean" and x.size else 1.0
        xp = get_array_module(x)
        dx = kernels_for(x).bce_with_logits_backward(xp.ascontiguousarray(g), x, t, w, pw, scale)
        return dx, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        # d loss / dx = w ((1 - t) - lw sigmoid(-x)), lw = 1 + (pw - 1) t, as recorded ops
        x, t, w, pw = ctx.arrays
        xt = inputs[0] if inputs[0] is not None else Tensor._wrap(x)
        tt = Tensor._wrap(t)
        lw = 1 if pw is None else (Tensor._wrap(pw) - 1) * tt + 1
        d = (1 - tt) - lw * (-xt).sigmoid()
        if w is not None:
            d = d * Tensor._wrap(w)
        if ctx.reduction == "mean" and x.size:
            g = g / x.size
        return d * g, None, None, None, None


def _layout(a: Any, x: Any) -> tuple[Any, str] | None:
    """``a`` as the kernel takes it and its kind ('full' or 'last'), or None when it does not
    broadcast to x."""
    xp = get_array_module(x)
    if a.shape == x.shape:
        return xp.ascontiguousarray(a), "full"
    if x.ndim and a.ndim <= x.ndim and a.shape[-1:] == x.shape[-1:] and a.size == x.shape[-1]:
        return xp.ascontiguousarray(a.reshape(-1)), "last"  # (..., 1, C): along the last dim
    try:
        return xp.ascontiguousarray(xp.broadcast_to(a, x.shape)), "full"
    except ValueError:
        return None


def fused(input: Any, target: Any, weight: Any, pos_weight: Any, arrays: tuple, reduction: str):
    """The loss through the kernels, or None when the general path must run (a target, weight
    or pos_weight that requires grad, or shapes the kernel does not take)."""
    x, t, w, pw = arrays
    if x.dtype not in (np.float32, np.float64) or t.shape != x.shape:
        return None
    if any(v is not None and v.dtype != x.dtype for v in (w, pw)):
        return None
    if any(isinstance(v, Tensor) and v.requires_grad for v in (target, weight, pos_weight)):
        return None
    xp = get_array_module(x)
    layouts: list[tuple[Any, str] | None] = []
    for v in (w, pw):
        lay = None if v is None else _layout(v, x)
        if v is not None and lay is None:
            return None
        layouts.append(lay)
    mixed = len({lay[1] for lay in layouts if lay is not None}) == 2
    kernel_w: list[Any] = []
    for v, lay in zip((w, pw), layouts):
        if lay is None:
            kernel_w.append(None)
        elif mixed:  # one per element, one along the last dim: both per element
            kernel_w.append(xp.ascontiguousarray(xp.broadcast_to(v, x.shape)))
        else:
            kernel_w.append(lay[0])
    kw, kpw = kernel_w
    return _BCEWithLogits.apply(input, xp.ascontiguousarray(t), kw, kpw, reduction)
