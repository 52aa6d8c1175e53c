"""tril and triu: the lower or upper triangle of the last two dims, zero elsewhere, with the
gradient masked the same way."""

from __future__ import annotations

from .._backend import get_array_module
from ..autograd import Function, Tensor
from ._helpers import _mask_t, _t


class Tri(Function):
    """tril/triu: keep the lower (upper) triangle of the last two dims, relative to
    ``diagonal``; the gradient is masked the same way."""

    @staticmethod
    def forward(ctx, a, diagonal, upper):
        xp = get_array_module(a)
        n, m = a.shape[-2:]
        keep = xp.tri(n, m, diagonal - 1 if upper else diagonal, dtype=bool)
        ctx.keep = ~keep if upper else keep
        return xp.where(ctx.keep, a, 0).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return get_array_module(g).where(ctx.keep, g, 0).astype(g.dtype, copy=False), None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return _mask_t(g, ctx.keep), None, None


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims, at and below ``diagonal`` (0: the main one);
    the rest is zero. Raises ValueError for input of fewer than 2 dims.
    """
    input = _t(input)
    if input.ndim < 2:
        raise ValueError(f"tril: input must have at least 2 dimensions, got {input.ndim}")
    return Tri.apply(input, int(diagonal), False)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims, at and above ``diagonal`` (0: the main one);
    the rest is zero. Raises ValueError for input of fewer than 2 dims.
    """
    input = _t(input)
    if input.ndim < 2:
        raise ValueError(f"triu: input must have at least 2 dimensions, got {input.ndim}")
    return Tri.apply(input, int(diagonal), True)
