"""gaussian_nll_loss, poisson_nll_loss, hinge_embedding_loss, soft_margin_loss,
multilabel_soft_margin_loss and multilabel_margin_loss (torch.nn.functional's, with torch's
formulas, argument names and errors), composed from differentiable Tensor ops."""

from __future__ import annotations

import math

from ..autograd import Tensor
from ._util import check_float, reduction_arg
from .activation_extra import logsigmoid
from .ranking_loss import _reduce

__all__ = [
    "gaussian_nll_loss",
    "poisson_nll_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "multilabel_margin_loss",
]


def _f(t, op, name) -> Tensor:
    check_float(t, op, name)
    return t if isinstance(t, Tensor) else Tensor(t)


def _any(t) -> Tensor:
    return t if isinstance(t, Tensor) else Tensor(t)


def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var: Tensor | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """Gaussian negative log-likelihood ``0.5 * (log(var) + (input - target)**2 / var)`` (plus
    ``0.5 * log(2 pi)`` with ``full``), ``var`` clamped to at least ``eps`` in the value (the
    gradient passes as if unclamped, as torch's). ``var`` may be a float, have ``input``'s
    shape, or one fewer trailing dimension / one size-1 dimension (homoscedastic). Raises
    ValueError for a negative var, a var of the wrong size, or an unknown reduction."""
    from .. import ops

    op = "gaussian_nll_loss"
    x, t = _f(input, op, "input"), _f(target, op, "target")
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        v = ops.ones_like(x) * float(var)
    else:
        v = _f(var, op, "var")
        if bool((v < 0).any()):
            raise ValueError("var has negative entry/entries")
    if tuple(v.shape) != tuple(x.shape):
        if tuple(x.shape[:-1]) == tuple(v.shape):
            v = v.unsqueeze(-1)
        elif x.dim() == v.dim() and sum(b for a, b in zip(x.shape, v.shape) if a != b) == 1:
            pass
        else:
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    v = v + (v.detach().clamp(min=eps) - v.detach())
    loss = 0.5 * (v.log() + (x - t) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Poisson negative log-likelihood: ``exp(input) - target * input`` for log-rates
    (``log_input=True``), else ``input - target * log(input + eps)``; ``full`` adds Stirling's
    approximation ``target*log(target) - target + 0.5*log(2 pi target)`` where target > 1."""
    op = "poisson_nll_loss"
    reduction = reduction_arg(reduction, size_average, reduce, op)
    x, t = _f(input, op, "input"), _any(target)
    loss = x.exp() - t * x if log_input else x - t * (x + eps).log()
    if full:
        stirling = t * t.log() - t + 0.5 * (2 * math.pi * t).log()
        loss = loss + stirling.masked_fill(t <= 1, 0)
    return _reduce(loss, reduction)


def hinge_embedding_loss(
    input: Tensor,
    target: Tensor,
    margin: float = 1.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """``input`` where target is 1, ``max(0, margin - input)`` where target is -1 (torch sums
    both terms per element: an entry that is neither 1 nor -1 contributes both)."""
    from .. import ops

    op = "hinge_embedding_loss"
    reduction = reduction_arg(reduction, size_average, reduce, op)
    x, t = _f(input, op, "input"), _any(target)
    margin_clamp = (margin - x).clamp(min=0)
    loss = ops.where(t != 1, margin_clamp, 0.0) + ops.where(t != -1, x, 0.0)
    return _reduce(loss, reduction)


def soft_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Two-class logistic loss ``log(1 + exp(-target * input))`` for targets of 1 and -1."""
    op = "soft_margin_loss"
    reduction = reduction_arg(reduction, size_average, reduce, op)
    x, t = _f(input, op, "input"), _any(target)
    if tuple(x.shape) != tuple(t.shape):
        raise ValueError(
            f"{op}: target size ({tuple(t.shape)}) must be the same as input size "
            f"({tuple(x.shape)})"
        )
    return _reduce(-logsigmoid(t * x), reduction)


def multilabel_soft_margin_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Multi-label one-versus-all logistic loss: per sample, the mean over the C classes of
    ``-(y log sigmoid(x) + (1 - y) log sigmoid(-x))`` (times ``weight`` per class)."""
    op = "multilabel_soft_margin_loss"
    reduction = reduction_arg(reduction, size_average, reduce, op)
    x, t = _f(input, op, "input"), _any(target)
    loss = -(t * logsigmoid(x) + (1 - t) * logsigmoid(-x))
    if weight is not None:
        loss = loss * _any(weight)
    class_dim = x.dim() - 1
    loss = loss.sum(dim=class_dim) / x.size(class_dim)
    return _reduce(loss, reduction)


def multilabel_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Multi-label hinge loss. ``target`` (N, C) (or (C,)) holds each sample's class indices,
    ended by the first -1; the loss of a sample is ``sum over its targets j and non-targets i
    of max(0, 1 - (x[j] - x[i])) / C``."""
    from .. import ops

    op = "multilabel_margin_loss"
    reduction = reduction_arg(reduction, size_average, reduce, op)
    x, t = _f(input, op, "input"), _any(target)
    if x.dim() not in (1, 2) or tuple(t.shape) != tuple(x.shape):
        raise ValueError(
            f"{op}: expected input (C) or (N, C) and a target of the same shape, got input "
            f"{tuple(x.shape)} and target {tuple(t.shape)}"
        )
    one = x.dim() == 1
    if one:
        x, t = x.unsqueeze(0), t.unsqueeze(0)
    t = t.long()
    C = x.size(1)
    valid = (t != -1).long().cumprod(dim=1).bool()  # the entries before the first -1
    if bool(((t < -1) | (t >= C)).any()):
        raise IndexError(f"{op}: target index out of range for {C} classes")
    idx = t.masked_fill(~valid, 0)
    is_target = ops.zeros(x.shape, dtype=x.dtype, device=x.device)
    is_target = is_target.scatter_add(1, idx, valid.to(x.dtype)) > 0
    xj = x.gather(1, idx)  # (N, K)
    margins = (1 - xj.unsqueeze(2) + x.unsqueeze(1)).clamp(min=0)  # (N, K, C)
    mask = valid.unsqueeze(2) & ~is_target.unsqueeze(1)
    loss = (margins * mask.to(x.dtype)).sum(dim=(1, 2)) / C
    if one:
        loss = loss.squeeze(0)
    return _reduce(loss, reduction)
