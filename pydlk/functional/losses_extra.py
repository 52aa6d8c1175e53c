"""Regression, binary and embedding losses (torch.nn.functional's names, arguments, defaults).

Each loss is one ``Function``: the forward computes the per-element loss and its local
derivatives with ``xp`` (NumPy or CuPy) in one pass, the backward scales them by the upstream
gradient and the reduction. ``reduction`` is 'none', 'mean' or 'sum'; the legacy
``size_average``/``reduce`` arguments are accepted and mapped to it, as torch does.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._backend import get_array_module
from ..autograd import Function, Tensor, no_double_backward
from ..ops._helpers import _fit_t, _unbroadcast
from ._util import array_of, check_float, reduction_arg
from .bce_logits import fused

__all__ = [
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
    "triplet_margin_loss",
    "cosine_embedding_loss",
    "kl_div",
]


class _ElementwiseLoss(Function):
    """forward(ctx, rule, reduction, *arrays): ``rule(*arrays) -> (loss, grads)`` with one
    local derivative (or None) per array; the loss is reduced here."""

    @staticmethod
    def forward(ctx, rule, reduction, *arrays):
        loss, grads = rule(*arrays)
        ctx.grads, ctx.rule = grads, rule
        if getattr(rule, "graph", None) is not None:
            ctx.arrays = arrays  # backward_graph differentiates the rule's Tensor form
        ctx.shapes = [np.shape(a) if a is not None else None for a in arrays]
        ctx.reduction, ctx.out_shape = reduction, loss.shape
        if reduction == "none":
            return loss
        s = loss.sum(dtype=np.float64)
        if reduction == "mean":
            s = s / loss.size if loss.size else s * np.nan
        return s.astype(loss.dtype)  # a 0-d array (on the loss's device)

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        if ctx.reduction == "mean":
            g = g / max(int(np.prod(ctx.out_shape)), 1)
        out = [None, None]
        for need, local, shape in zip(ctx.needs_input_grad[2:], ctx.grads, ctx.shapes):
            if not need or local is None:
                out.append(None)
                continue
            out.append(_unbroadcast(xp.asarray(local * g), shape).astype(local.dtype, copy=False))
        return tuple(out)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        # ``rule.graph(*args)``: the local derivatives as recorded Tensor ops of the arguments
        graph = getattr(ctx.rule, "graph", None)
        if graph is None:
            raise no_double_backward(ctx.rule.__qualname__.split(".")[0])
        args = [
            i if i is not None else (None if a is None else Tensor._wrap(a))
            for i, a in zip(inputs[2:], ctx.arrays)
        ]
        if ctx.reduction == "mean":
            g = g / max(int(np.prod(ctx.out_shape)), 1)
        out = [None, None]
        for need, local, shape in zip(ctx.needs_input_grad[2:], graph(*args), ctx.shapes):
            out.append(
                _fit_t(local * g, (shape, local.dtype)) if need and local is not None else None
            )
        return tuple(out)


def _weighted(op, rule, input, target, weight, reduction, mean_over_weight):
    """torch's ``weight=`` of mse_loss, l1_loss and huber_loss: the per-element loss (``rule``
    with reduction 'none') times ``weight`` (the input's shape), then summed; 'mean' divides by
    ``weight.sum()`` (mse_loss, l1_loss: ``mean_over_weight``) or by the element count
    (huber_loss), as torch does. Differentiable in the input, the target and the weight."""
    from ..autograd import Tensor

    w = weight if isinstance(weight, Tensor) else Tensor(array_of(weight))
    shape = np.shape(array_of(input))
    if tuple(w.shape) != tuple(shape):
        raise ValueError(
            f"{op}: weight must have the input's shape {tuple(shape)}, got {tuple(w.shape)}"
        )
    loss = _ElementwiseLoss.apply(rule, "none", input, target) * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w.sum() if mean_over_weight else loss.mean()


def _args(op, input, target, *extra):
    x = check_float(input, op, "input")
    t = check_float(target, op, "target")
    if t.dtype != x.dtype:
        raise TypeError(f"{op}: target dtype {t.dtype} differs from input dtype {x.dtype}")
    try:
        np.broadcast_shapes(x.shape, t.shape)
    except ValueError:
        raise ValueError(
            f"{op}: target shape {t.shape} does not broadcast with input shape {x.shape}"
        ) from None
    return x, t


def _softplus_neg(x, xp):
    """log(1 + exp(-x)), stable for any x."""
    return xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)


def _sigmoid(x, xp):
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _with_graph(rule: Any, graph: Any) -> Any:
    """``rule`` with ``graph``, its local derivatives as recorded Tensor ops of the arguments
    (Tensors, or None), which _ElementwiseLoss.backward_graph differentiates again."""
    rule.graph = graph
    return rule


def _sign(t):
    """sign of a Tensor as a constant (the derivative of |x| is piecewise constant)."""
    return Tensor._wrap(get_array_module(t._data).sign(t._data))


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Sigmoid + binary cross-entropy in the stable form
    ``(1 - y) x + (1 + (pw - 1) y) log(1 + exp(-x))`` (log1p(exp(-|x|)) + max(-x, 0))."""
    op = "binary_cross_entropy_with_logits"
    x, t = _args(op, input, target)
    reduction = reduction_arg(reduction, size_average, reduce, op)
    if x.shape != t.shape:
        raise ValueError(f"{op}: target size {t.shape} must be the same as input size {x.shape}")
    w = None if weight is None else check_float(weight, op, "weight")
    pw = None if pos_weight is None else check_float(pos_weight, op, "pos_weight")
    out = fused(input, target, weight, pos_weight, (x, t, w, pw), reduction)
    if out is not None:  # the kernels' one-pass loss and gradient
        return out

    def rule(x, t, w, pw):
        xp = get_array_module(x)
        sp = _softplus_neg(x, xp)  # log(1 + e^-x) = -log sigmoid(x)
        lw = 1 if pw is None else 1 + (pw - 1) * t
        loss = (1 - t) * x + lw * sp
        sig_neg = _sigmoid(-x, xp)  # d sp / dx = -sigmoid(-x)
        dx = (1 - t) - lw * sig_neg
        dt = -x + (0 if pw is None else (pw - 1) * sp)
        if w is not None:
            loss, dx, dt = loss * w, dx * w, dt * w
        return (
            loss.astype(x.dtype, copy=False),
            [
                np.broadcast_to(dx, loss.shape).astype(x.dtype),
                np.broadcast_to(dt, loss.shape).astype(x.dtype),
                None,
                None,
            ],
        )

    def graph(x, t, w, pw):
        lw = 1 if pw is None else (pw - 1) * t + 1
        dx = (1 - t) - lw * (-x).sigmoid()
        dt = -x
        if pw is not None:  # + (pw - 1) log(1 + e^-x), in the stable form
            dt = dt + (pw - 1) * ((-x.abs()).exp().log1p() + (-x).clamp(min=0))
        if w is not None:
            dx, dt = dx * w, dt * w
        return [dx, dt, None, None]

    rule = _with_graph(rule, graph)
    return _ElementwiseLoss.apply(rule, reduction, input, target, w, pw)


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """``-(y log p + (1 - y) log(1 - p))`` with each log clamped at -100, as torch."""
    op = "binary_cross_entropy"
    x, t = _args(op, input, target)
    reduction = reduction_arg(reduction, size_average, reduce, op)
    if x.shape != t.shape:
        raise ValueError(f"{op}: target size {t.shape} must be the same as input size {x.shape}")
    if x.size and (np.any(x < 0) or np.any(x > 1)):
        raise ValueError(f"{op}: all elements of input should be between 0 and 1")
    w = None if weight is None else check_float(weight, op, "weight")

    def rule(p, t, w):
        xp = get_array_module(p)
        with np.errstate(divide="ignore"):
            lp = xp.maximum(xp.log(p), -100)
            l1p = xp.maximum(xp.log1p(-p), -100)
        loss = -(t * lp + (1 - t) * l1p)
        dp = (p - t) / xp.maximum((1 - p) * p, 1e-12)
        dt = l1p - lp
        if w is not None:
            loss, dp, dt = loss * w, dp * w, dt * w
        return loss, [dp, dt, None]

    def graph(p, t, w):
        dp = (p - t) / ((1 - p) * p).clamp(min=1e-12)
        dt = (-p).log1p().clamp(min=-100) - p.log().clamp(min=-100)
        if w is not None:
            dp, dt = dp * w, dt * w
        return [dp, dt, None]

    rule = _with_graph(rule, graph)
    return _ElementwiseLoss.apply(rule, reduction, input, target, w)


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Squared error ``(input - target)^2``, reduced by ``reduction`` (``'mean'``, ``'sum'``,
    ``'none'``); shapes broadcast as torch's. With ``weight`` (the input's shape) as torch:
    weighted sum, 'mean' divided by ``weight.sum()``.
    """
    op = "mse_loss"
    _args(op, input, target)
    reduction = reduction_arg(reduction, size_average, reduce, op)

    def rule(x, t):
        d = x - t
        return d * d, [2 * d, -2 * d]

    def graph(x, t):  # the same derivatives on Tensors, for double backward
        d = x - t
        return [d * 2, d * -2]

    rule = _with_graph(rule, graph)
    if weight is not None:
        return _weighted(op, rule, input, target, weight, reduction, True)
    return _ElementwiseLoss.apply(rule, reduction, input, target)


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Absolute error ``|input - target|``, reduced by ``reduction``; with ``weight`` (the
    input's shape) as torch: weighted sum, 'mean' divided by ``weight.sum()``."""
    op = "l1_loss"
    _args(op, input, target)
    reduction = reduction_arg(reduction, size_average, reduce, op)

    def rule(x, t):
        xp = get_array_module(x)
        d = x - t
        s = xp.sign(d)
        return xp.abs(d), [s, -s]

    def graph(x, t):
        s = _sign(x - t)
        return [s, -s]

    rule = _with_graph(rule, graph)
    if weight is not None:
        return _weighted(op, rule, input, target, weight, reduction, True)
    return _ElementwiseLoss.apply(rule, reduction, input, target)


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``; ``weight`` (the
    input's shape) as torch: weighted, 'mean' over the element count."""
    op = "huber_loss"
    _args(op, input, target)
    reduction = reduction_arg(reduction, None, None, op)
    if not delta > 0:
        raise ValueError(f"{op}: delta must be positive, got {delta}")

    def rule(x, t):
        xp = get_array_module(x)
        d = x - t
        a = xp.abs(d)
        small = a < delta
        loss = xp.where(small, 0.5 * d * d, delta * (a - 0.5 * delta))
        g = xp.where(small, d, delta * xp.sign(d))
        return loss, [g, -g]

    def graph(x, t):
        d = x - t
        small = (get_array_module(d._data).abs(d._data) < delta).astype(d.dtype)
        g = d * small + _sign(d) * (delta * (1 - small))
        return [g, -g]

    rule = _with_graph(rule, graph)
    if weight is not None:  # torch: weighted, 'mean' over the element count
        return _weighted(op, rule, input, target, weight, reduction, False)
    return _ElementwiseLoss.apply(rule, reduction, input, target)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (l1_loss at beta=0)."""
    op = "smooth_l1_loss"
    _args(op, input, target)
    reduction = reduction_arg(reduction, size_average, reduce, op)
    if beta < 0:
        raise ValueError(f"{op}: beta must be >= 0, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)

    def rule(x, t):
        xp = get_array_module(x)
        d = x - t
        a = xp.abs(d)
        small = a < beta
        loss = xp.where(small, 0.5 * d * d / beta, a - 0.5 * beta)
        g = xp.where(small, d / beta, xp.sign(d))
        return loss, [g, -g]

    def graph(x, t):
        d = x - t
        small = (get_array_module(d._data).abs(d._data) < beta).astype(d.dtype)
        g = d * (small / beta) + _sign(d) * (1 - small)
        return [g, -g]

    rule = _with_graph(rule, graph)
    return _ElementwiseLoss.apply(rule, reduction, input, target)


def _pnorm(v, p, xp):
    """||v||_p over the last axis and its gradient d||v||/dv."""
    if p == 2:
        n = xp.sqrt((v * v).sum(-1))
        g = v / xp.where(n > 0, n, 1)[..., None]
    elif p == 1:
        n = xp.abs(v).sum(-1)
        g = xp.sign(v)
    else:
        a = xp.abs(v)
        n = (a**p).sum(-1) ** (1.0 / p)
        nn = xp.where(n > 0, n, 1)[..., None]
        g = xp.sign(v) * (a / nn) ** (p - 1)
    return n, g


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d(x, y) = ||x - y + eps||_p`` over the last
    dimension (torch's pairwise_distance); ``swap`` uses min(d(a, n), d(p, n))."""
    op = "triplet_margin_loss"
    a = check_float(anchor, op, "anchor")
    check_float(positive, op, "positive")
    check_float(negative, op, "negative")
    reduction = reduction_arg(reduction, size_average, reduce, op)
    if margin < 0:
        raise ValueError(f"{op}: margin must be >= 0, got {margin}")
    if p <= 0:
        raise ValueError(f"{op}: p must be positive, got {p}")
    shapes = {np.shape(array_of(t)) for t in (anchor, positive, negative)}
    if len(shapes) != 1:
        raise ValueError(
            f"{op}: anchor, positive and negative must have the same shape, got {sorted(shapes)}"
        )
    if a.ndim not in (1, 2):
        raise ValueError(f"{op}: inputs must be 1-D or 2-D, got {a.ndim}-D")

    def rule(a, pos, neg):
        xp = get_array_module(a)
        d_ap, g_ap = _pnorm(a - pos + eps, p, xp)
        d_an, g_an = _pnorm(a - neg + eps, p, xp)
        if swap:
            d_pn, g_pn = _pnorm(pos - neg + eps, p, xp)
            use_pn = d_pn < d_an
            d_neg = xp.where(use_pn, d_pn, d_an)
        else:
            use_pn = None
            d_neg = d_an
        raw = d_ap - d_neg + margin
        loss = xp.maximum(raw, 0)
        act = (raw > 0).astype(a.dtype)[..., None]
        if use_pn is None:
            da = act * (g_ap - g_an)
            dp = -act * g_ap
            dn = act * g_an
        else:
            u = use_pn[..., None]
            da = act * (g_ap - xp.where(u, 0, g_an))
            dp = act * (-g_ap - xp.where(u, g_pn, 0))
            dn = act * xp.where(u, g_pn, g_an)
        return loss, [da, dp, dn]

    return _TripletLike.apply(rule, reduction, anchor, positive, negative)


class _TripletLike(_ElementwiseLoss):
    """As _ElementwiseLoss, but the loss has one value per row and the local derivatives one
    per input element: the upstream gradient is expanded over the last axis."""

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        if ctx.reduction == "mean":
            g = g / max(int(np.prod(ctx.out_shape)), 1)
        g = xp.asarray(g)
        if g.ndim:
            g = g[..., None]
        out = [None, None]
        for need, local in zip(ctx.needs_input_grad[2:], ctx.grads):
            out.append(
                (local * g).astype(local.dtype, copy=False) if need and local is not None else None
            )
        return tuple(out)


def cosine_embedding_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """``1 - cos(x1, x2)`` where y = 1, ``max(0, cos(x1, x2) - margin)`` where y = -1; the
    cosine is ``x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12))``, as torch."""
    op = "cosine_embedding_loss"
    x1 = check_float(input1, op, "input1")
    x2 = check_float(input2, op, "input2")
    y = array_of(target)
    y = np.asarray(y) if not hasattr(y, "dtype") else y
    reduction = reduction_arg(reduction, size_average, reduce, op)
    if x1.shape != x2.shape:
        raise ValueError(f"{op}: input1 shape {x1.shape} differs from input2 shape {x2.shape}")
    if x1.ndim not in (1, 2):
        raise ValueError(f"{op}: inputs must be 1-D or 2-D, got {x1.ndim}-D")
    if y.shape != x1.shape[:-1]:
        raise ValueError(f"{op}: target must have shape {x1.shape[:-1]}, got {y.shape}")
    y = y.astype(x1.dtype)

    def rule(a, b):
        xp = get_array_module(a)
        m1 = (a * a).sum(-1) + 1e-12
        m2 = (b * b).sum(-1) + 1e-12
        den = xp.sqrt(m1 * m2)
        cos = (a * b).sum(-1) / den
        # d cos / da = b / den - cos a / m1
        dca = b / den[..., None] - (cos / m1)[..., None] * a
        dcb = a / den[..., None] - (cos / m2)[..., None] * b
        pos = y == 1
        neg_act = (y == -1) & (cos - margin > 0)
        loss = xp.where(pos, 1 - cos, xp.where(neg_act, cos - margin, 0)).astype(a.dtype)
        coef = xp.where(pos, -1.0, xp.where(neg_act, 1.0, 0.0)).astype(a.dtype)[..., None]
        return loss, [coef * dca, coef * dcb]

    return _TripletLike.apply(rule, reduction, input1, input2)


_KL_REDUCTIONS = ("none", "mean", "sum", "batchmean")


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Kullback-Leibler divergence of ``target`` from ``input``, which holds log-probabilities:
    pointwise ``target * (log(target) - input)`` (0 where target is 0), or with
    ``log_target=True`` (target holds log-probabilities too) ``exp(target) * (target - input)``.

    ``reduction``: ``'batchmean'`` (the sum divided by ``input.size(0)``, the KL divergence of
    each row averaged; torch's recommended choice), ``'sum'``, ``'none'`` or ``'mean'`` (over
    every element; warns as torch does, since that is not the KL divergence). Shapes
    broadcast. Differentiable in input and target with torch's derivatives: ``-target``
    (``-exp(target)``) for the input, ``log(target) + 1 - input`` for the target (NaN where
    the target is 0, as torch's xlogy).
    """
    op = "kl_div"
    _args(op, input, target)
    if size_average is not None or reduce is not None:
        red = reduction_arg("mean", size_average, reduce, op)
    else:
        if reduction not in _KL_REDUCTIONS:
            raise ValueError(f"{op}: reduction must be one of {_KL_REDUCTIONS}, got {reduction!r}")
        if reduction == "mean":
            warnings.warn(
                "reduction: 'mean' divides the total loss by both the batch size and the "
                "support size.'batchmean' divides only by the batch size, and aligns with the "
                "KL div math definition.'mean' will be changed to behave the same as "
                "'batchmean' in the next major release.",
                UserWarning,
                stacklevel=2,
            )
        red = "sum" if reduction == "batchmean" else reduction

    def rule(x, t):
        xp = get_array_module(x)
        shape = np.broadcast_shapes(x.shape, t.shape)
        with np.errstate(all="ignore"):
            if log_target:
                e = xp.exp(t)
                loss = e * (t - x)
                dx, dt = -e, loss + e
            else:
                xlogy = xp.where(t != 0, t * xp.log(xp.where(t != 0, t, 1)), 0)
                loss = xlogy - t * x
                # torch's xlogy(t, t) derivative: xlogy(t != 0, t) + t / t
                dx, dt = -t, xp.where(t != 0, xp.log(xp.where(t != 0, t, 1)), 0) + t / t - x
        dx, dt = (xp.broadcast_to(v, shape).astype(x.dtype, copy=False) for v in (dx, dt))
        return loss.astype(x.dtype, copy=False), [dx, dt]

    def graph(x, t):
        if log_target:
            e = t.exp()
            return [-e, e * (t - x + 1)]
        with np.errstate(all="ignore"):  # NaN where the target is 0, as the rule's t / t
            zero = (t._data == 0).astype(t.dtype)
            return [-t, (t + zero).log() + t / t - x]

    rule = _with_graph(rule, graph)
    loss = _ElementwiseLoss.apply(rule, red, input, target)
    x = array_of(input)
    if reduction == "batchmean" and x.ndim != 0:
        loss = loss / x.shape[0]
    return loss
