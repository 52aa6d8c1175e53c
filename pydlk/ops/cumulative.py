"""Cumulative products: ``cumprod``, with torch's gradient where the input holds zeros."""

from __future__ import annotations

import numpy as np

from .._backend import get_array_module
from .._typing import Array, DTypeLike
from ..autograd import Function, Tensor
from ._helpers import _axis_alias, _cj, _dim, _o, _quiet, _t
from .arithmetic import where
from .conversions import to

# The gradient of out_j = prod_{l <= j} x_l along a row whose first zero is at k (k = n when
# there is none):
#   i < k:  dx_i = sum_{j >= i} g_j out_j / x_i  (x_i != 0; out_j = 0 for j >= k)
#   i = k:  dx_k = prod_{l < k} x_l * sum_{j >= k} g_j prod_{k < l <= j} x_l
#   i > k:  dx_i = 0  (every out_j with j >= i contains x_k = 0)
# computed with the row along the last axis; the masks depend only on where the zeros are.


def _masks(x: Array) -> tuple[Array, Array, Array]:
    """(before, at, after): bool arrays of x's shape, positions before, at and after the first
    zero of each row (last axis)."""
    xp = get_array_module(x)
    n = x.shape[-1]
    z = x == 0
    k = xp.where(z.any(axis=-1, keepdims=True), z.argmax(axis=-1)[..., None], n)
    j = xp.arange(n)
    return j < k, j == k, j > k


@_quiet
def _grad(x: Array, out: Array, g: Array) -> Array:
    xp = get_array_module(x)
    before, at, after = _masks(x)
    rev = xp.flip(xp.cumsum(xp.flip(g * out, -1), axis=-1), -1)
    dx = xp.where(before, rev / xp.where(before, x, 1), 0)
    if at.any():
        p = xp.prod(xp.where(before, x, 1), axis=-1, keepdims=True)
        tail = xp.cumprod(xp.where(after, x, 1), axis=-1)
        s = xp.sum(xp.where(before, 0, g * tail), axis=-1, keepdims=True)
        dx = dx + xp.where(at, p * s, 0)
    return dx.astype(g.dtype, copy=False)


def _grad_graph(x: Tensor, g: Tensor) -> Tensor:
    """The gradient as recorded Tensor ops (create_graph=True), x and g along the last axis,
    written without division so that it is differentiable where x holds zeros too:
    dx_i = prod_{l < i} x_l * sum_{j >= i} g_j prod_{i < l <= j} x_l, through an (n, n)
    matrix of partial products (double backward only: O(n^2) memory per row)."""
    n = x.shape[-1]
    j = get_array_module(x._data).arange(n)
    xe = x.unsqueeze(-2).expand(*x.shape[:-1], n, n)  # xe[..., i, l] = x_l
    after = Tensor._wrap(j[None, :] > j[:, None])  # l > i
    partial = CumProd.apply(where(after, xe, 1.0), -1)  # prod_{i < l <= j} x_l for j > i
    upper = Tensor._wrap(j[None, :] >= j[:, None])
    s = (where(upper, partial, 0.0) * g.unsqueeze(-2)).sum(-1)
    before = Tensor._wrap(j[None, :] < j[:, None])  # l < i
    left = CumProd.apply(where(before, xe, 1.0), -1)[..., -1]  # prod_{l < i} x_l
    return left * s


class CumProd(Function):
    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        if a.ndim == 0:
            return a.copy()
        out = _o(get_array_module(a).cumprod(a, axis=dim))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        if g.ndim == 0 or g.size == 0:
            return g, None
        a, out = ctx.saved_tensors
        xp, d = get_array_module(g), ctx.dim
        # complex input: the product is holomorphic, so its gradient is the real formula's
        # with g conjugated in and the result conjugated out (J^H g = conj(J^T conj(g)))
        gd = xp.moveaxis(_cj(g), d, -1)
        dx = _cj(_grad(xp.moveaxis(a, d, -1), xp.moveaxis(out, d, -1), gd))
        return xp.moveaxis(dx, -1, d), None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        if g.ndim == 0 or g.numel() == 0:
            return g, None
        d = ctx.dim
        x = inputs[0] if inputs[0] is not None else Tensor._wrap(ctx.saved_tensors[0])
        dx = _cj(_grad_graph(x.movedim(d, -1), _cj(g).movedim(d, -1)))
        return dx.movedim(-1, d), None


@_axis_alias
def cumprod(input: Tensor, dim: int, *, dtype: DTypeLike | None = None) -> Tensor:
    """Cumulative product along ``dim``; ``dtype`` casts first. The gradient is torch's, exact
    where the input holds zeros (no division by them)."""
    input = _t(input)
    if dtype is not None:
        input = to(input, dtype)
    elif input.dtype == np.bool_ or input.dtype.kind in "iu":
        input = to(input, np.int64)  # torch accumulates integers in int64
    return CumProd.apply(input, _dim(dim, input.ndim, "cumprod"))
