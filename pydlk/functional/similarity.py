"""cosine_similarity and pairwise_distance, composed from differentiable Tensor ops."""
import numpy as np

from ..autograd import Tensor
from ._util import check_float

__all__ = ["cosine_similarity", "pairwise_distance"]


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``sum(x1/max(||x1||, eps) * x2/max(||x2||, eps), dim)`` over broadcast ``x1``, ``x2``:
    torch 2.x's formula (each vector divided by its clamped norm first)."""
    a = check_float(x1, "cosine_similarity", "x1")
    b = check_float(x2, "cosine_similarity", "x2")
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"cosine_similarity: x1 of shape {tuple(a.shape)} and x2 of shape "
                         f"{tuple(b.shape)} do not broadcast") from None
    nd = len(shape)
    if not -max(nd, 1) <= dim < max(nd, 1):
        raise IndexError(f"cosine_similarity: dim {dim} is out of range for {nd}-D inputs")
    x1, x2 = _t(x1), _t(x2)
    n1 = (x1 * x1).sum(dim, keepdim=True).sqrt().clamp(min=eps)
    n2 = (x2 * x2).sum(dim, keepdim=True).sqrt().clamp(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` over the last dimension, as torch's pairwise_distance."""
    check_float(x1, "pairwise_distance", "x1")
    check_float(x2, "pairwise_distance", "x2")
    d = _t(x1) - _t(x2) + eps
    return d.norm(p, dim=-1, keepdim=keepdim)
