"""cosine_similarity, pairwise_distance and normalize, composed from differentiable Tensor
ops."""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor
from ..ops._helpers import _dims
from ._util import check_float

__all__ = ["cosine_similarity", "pairwise_distance", "normalize"]


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _clamped_norm(x, dim, eps):
    """||x|| along dim, clamped below at eps in value only: torch clamps the norm in place
    without recording it, so the gradient is that of the unclamped norm."""
    r = x.norm(2, dim=dim, keepdim=True)
    return r + (r.clamp(min=eps) - r).detach()


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``sum(x1/max(||x1||, eps) * x2/max(||x2||, eps), dim)`` over ``x1``, ``x2`` broadcast
    to one shape first:
    torch 2.x's formula (each vector divided by its clamped norm first)."""
    a = check_float(x1, "cosine_similarity", "x1")
    b = check_float(x2, "cosine_similarity", "x2")
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"cosine_similarity: x1 of shape {tuple(a.shape)} and x2 of shape "
            f"{tuple(b.shape)} do not broadcast"
        ) from None
    nd = len(shape)
    if not -max(nd, 1) <= dim < max(nd, 1):
        raise IndexError(f"cosine_similarity: dim {dim} is out of range for {nd}-D inputs")
    # broadcast first, as torch: a size-1 dimension along ``dim`` counts once per copy
    x1, x2 = _t(x1), _t(x2)
    if tuple(a.shape) != shape:
        x1 = x1.expand(*shape)
    if tuple(b.shape) != shape:
        x2 = x2.expand(*shape)
    n1, n2 = _clamped_norm(x1, dim, eps), _clamped_norm(x2, dim, eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """``||x1 - x2 + eps||_p`` over the last dimension, as torch's pairwise_distance."""
    check_float(x1, "pairwise_distance", "x1")
    check_float(x2, "pairwise_distance", "x2")
    d = _t(x1) - _t(x2) + eps
    return d.norm(p, dim=-1, keepdim=keepdim)


def normalize(
    input: Tensor,
    p: float = 2.0,
    dim: int | tuple[int, ...] = 1,
    eps: float = 1e-12,
    out: None = None,
) -> Tensor:
    """``input / max(||input||_p, eps)``, the p-norm taken over ``dim`` (an int or a tuple),
    as torch's normalize: each vector along ``dim`` scaled to unit norm, a vector of norm below
    ``eps`` divided by ``eps`` instead (a zero vector stays zero). Differentiable; where the
    norm is clamped, only the division by ``eps`` carries a gradient (as torch's clamp_min).
    ``out`` must be None (write the result yourself)."""
    op = "normalize"
    a = check_float(input, op, "input")
    if out is not None:
        raise TypeError(f"{op}: out= is not supported; assign the returned tensor instead")
    _dims(dim, a.ndim, op)  # an IndexError naming normalize for a dim out of range
    x = _t(input)
    return x / x.norm(p, dim=dim, keepdim=True).clamp(min=eps)
