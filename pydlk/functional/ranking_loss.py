"""margin_ranking_loss and triplet_margin_with_distance_loss (torch.nn.functional's), composed
from differentiable Tensor ops, so any distance function the user passes is differentiated
with them."""

from __future__ import annotations

from collections.abc import Callable

from ..autograd import Tensor
from ._util import check_float, reduction_arg
from .similarity import pairwise_distance

__all__ = ["margin_ranking_loss", "triplet_margin_with_distance_loss"]


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, -target * (input1 - input2) + margin)``, ``target`` 1 where input1 should rank
    higher and -1 where input2 should; the three broadcast together."""
    op = "margin_ranking_loss"
    reduction = reduction_arg(reduction, size_average, reduce, op)
    ts = []
    for name, t in (("input1", input1), ("input2", input2), ("target", target)):
        check_float(t, op, name)
        ts.append(t if isinstance(t, Tensor) else Tensor(t))
    x1, x2, y = ts
    if not (x1.ndim == x2.ndim == y.ndim):
        raise ValueError(
            f"{op}: all input tensors should have the same number of dimensions, got "
            f"{x1.ndim}, {x2.ndim} and {y.ndim}"
        )
    return _reduce((-y * (x1 - x2) + margin).clamp(min=0.0), reduction)


def triplet_margin_with_distance_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` the ``distance_function`` (default
    ``pairwise_distance``); ``swap`` uses ``min(d(a, n), d(p, n))`` for the negative distance.
    Raises ValueError for margin <= 0 (torch's rule for this loss)."""
    op = "triplet_margin_with_distance_loss"
    reduction = reduction_arg(reduction, None, None, op)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    a, p, n = (t if isinstance(t, Tensor) else Tensor(t) for t in (anchor, positive, negative))
    if not (a.ndim == p.ndim == n.ndim):
        raise ValueError(
            f"{op}: the anchor, positive and negative tensors are expected to have the same "
            f"number of dimensions, got {a.ndim}, {p.ndim} and {n.ndim}"
        )
    d = distance_function if distance_function is not None else pairwise_distance
    d_pos, d_neg = d(a, p), d(a, n)
    if swap:
        import pydlk  # the package's minimum(); imported here to avoid an import cycle

        d_neg = pydlk.minimum(d_neg, d(p, n))
    return _reduce((d_pos - d_neg + margin).clamp(min=0.0), reduction)
