"""Reductions: sum, mean, max, var, norm, logsumexp, cumsum, ..."""

from __future__ import annotations

import builtins as _b
import math
from collections.abc import Sequence
from typing import Any, overload

import numpy as np

from .._backend import get_array_module, is_cupy
from .._typing import Array, DTypeLike
from .._typing import _dims as _Dims
from ..autograd import Function, Tensor
from ._helpers import (
    _arr,
    _axis_alias,
    _cj,
    _count,
    _dim,
    _dims,
    _keep,
    _meta,
    _need_float,
    _nograd,
    _o,
    _quiet,
    _real_only,
    _same,
    _t,
    _ValuesIndices,
    _xp,
    return_types,
)
from ._promotion import int_accumulator, to_float
from .arithmetic import maximum, minimum
from .conversions import to

# This module defines sum, max, min, all and any under torch's names; inside it the
# Python builtins of those names are reached as _b.abs, _b.sum, ... .


def _keep_t(g: Tensor, axes: tuple[int, ...] | None, keepdim: bool, shape: tuple) -> Tensor:
    """``_keep`` on a Tensor gradient, as a recorded reshape: the reduced axes put back as 1."""
    if keepdim:
        return g
    return g.reshape(tuple(1 if axes is None or i in axes else s for i, s in enumerate(shape)))


def _nonzero_t(n: Tensor) -> tuple[Tensor, Array]:
    """``n`` with its zeros replaced by ones (safe to divide by, also in the graph of the
    division), and the 0/1 mask of its non-zero entries, for gradients that are 0 where a norm
    or standard deviation is 0 (as torch's masked_fill)."""
    nz = n._data != 0
    return n + (~nz).astype(n.dtype), nz.astype(n.dtype)


def _expand_back(ctx: Any, g: Tensor) -> Tensor:
    """A sum's gradient as recorded ops: the reduced dims put back, broadcast to the input."""
    shape, dtype = ctx.meta
    if not ctx.keepdim:
        keep = [1 if ctx.axes is None or i in ctx.axes else s for i, s in enumerate(shape)]
        g = g.reshape(tuple(keep))
    g = g.expand(tuple(shape))
    return g if g.dtype == dtype else g.to(dtype)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, dim, keepdim, dtype=None):
        ctx.meta = _meta(a)
        ctx.axes, ctx.keepdim = _dims(dim, a.ndim, "sum"), keepdim
        return _o(a.sum(axis=ctx.axes, keepdims=keepdim, dtype=dtype))

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        shape, dtype = ctx.meta
        g = _keep(g, ctx.axes, ctx.keepdim, len(shape))
        return xp.broadcast_to(g, shape).astype(dtype), None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return _expand_back(ctx, g), None, None, None


class Mean(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a, dim, keepdim, dtype=None):
        ctx.meta = _meta(a)
        ctx.axes, ctx.keepdim = _dims(dim, a.ndim, "mean"), keepdim
        ctx.n = _count(a.shape, ctx.axes)
        half = dtype is None and a.dtype == np.float16  # accumulate float16 in float32
        s = a.sum(axis=ctx.axes, keepdims=keepdim, dtype=np.float32 if half else dtype)
        out = s / s.dtype.type(ctx.n) if ctx.n else s * s.dtype.type(np.nan)
        return _o(out.astype(np.float16) if half else out)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        xp = get_array_module(g)
        shape, dtype = ctx.meta
        g = _keep(g, ctx.axes, ctx.keepdim, len(shape)) / g.dtype.type(_b.max(ctx.n, 1))
        return xp.broadcast_to(g, shape).astype(dtype), None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return _expand_back(ctx, g / _b.max(ctx.n, 1)), None, None, None


def _prod_of_others(x: Array, axes: tuple[int, ...] | None) -> Array:
    """For each element, the product of the other elements of its reduction group, computed
    exactly from exclusive prefix and suffix products (so zeros in x are handled)."""
    xp = get_array_module(x)
    if x.size == 0:
        return xp.zeros_like(x)
    axes = tuple(range(x.ndim)) if axes is None else axes
    keep = [i for i in range(x.ndim) if i not in axes]
    perm = keep + list(axes)
    xt = xp.transpose(x, perm)
    lead = xt.shape[: len(keep)]
    k = _count(x.shape, axes)
    flat = xt.reshape(lead + (k,))
    ones = xp.ones(lead + (1,), x.dtype)
    before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    rev = xp.flip(flat, -1)
    after = xp.flip(xp.cumprod(xp.concatenate([ones, rev[..., :-1]], axis=-1), axis=-1), -1)
    return xp.transpose((before * after).reshape(xt.shape), list(np.argsort(perm)))


class Prod(Function):
    @staticmethod
    def forward(ctx, a, dim, keepdim):
        ctx.save_for_backward(a)
        ctx.axes, ctx.keepdim = _dims(dim, a.ndim, "prod"), keepdim
        return _o(a.prod(axis=ctx.axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        g = _keep(g, ctx.axes, ctx.keepdim, a.ndim)
        return g * _cj(_prod_of_others(a, ctx.axes)), None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        (a,) = ctx.saved_tensors
        x = inputs[0]
        g = _keep_t(g, ctx.axes, ctx.keepdim, a.shape)
        if a.ndim == 0:
            return g, None, None
        if not bool((a == 0).any()):  # torch's rule: out / x where no factor is 0
            return g * (Prod.apply(x, ctx.axes, True) / x), None, None
        return g * _prod_of_others_t(x, ctx.axes), None, None


def _prod_of_others_t(x: Tensor, axes: tuple[int, ...] | None) -> Tensor:
    """``_prod_of_others`` as recorded ops, exact where x has zeros: each group of k entries
    becomes a (k, k) matrix whose row i is the group with entry i replaced by 1, and its row
    products are the products of the others (k times the memory of x; only a double backward
    through a product with an exact zero factor comes here)."""
    xp = get_array_module(x._data)
    axes = tuple(range(x.ndim)) if axes is None else axes
    keep = [i for i in range(x.ndim) if i not in axes]
    perm = keep + list(axes)
    xt = x.permute(*perm)
    k = _count(x.shape, axes)
    flat = xt.reshape(tuple(xt.shape[: len(keep)]) + (1, k))
    eye = xp.eye(k, dtype=x.dtype)
    others = Prod.apply(flat * (1 - eye) + eye, -1, False)
    return others.reshape(tuple(xt.shape)).permute(*[int(i) for i in np.argsort(perm)])


class Amax(Function):
    """amax/amin over ``dim`` (None: all); the gradient is spread evenly over the tied extrema
    of each group (torch's rule for amax, amin and max/min without dim)."""

    @staticmethod
    def forward(ctx, a, dim, keepdim, largest, op):
        ctx.axes, ctx.keepdim = _dims(dim, a.ndim, op), keepdim
        if a.size == 0 and (ctx.axes is None or _b.any(a.shape[i] == 0 for i in ctx.axes)):
            raise ValueError(
                f"{op}: cannot reduce over a dimension of size 0 (the input has shape {a.shape})"
            )
        f = a.max if largest else a.min
        out = _o(f(axis=ctx.axes, keepdims=keepdim))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        g = _keep(g, ctx.axes, ctx.keepdim, a.ndim)
        mask = _same(a, _keep(out, ctx.axes, ctx.keepdim, a.ndim))
        count = mask.sum(axis=ctx.axes, keepdims=True)
        return g * mask / count.astype(g.dtype), None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        # linear in g: the tie mask is fixed by the forward (torch's rule too)
        a, out = ctx.saved_tensors
        mask = _same(a, _keep(out, ctx.axes, ctx.keepdim, a.ndim))
        share = mask / mask.sum(axis=ctx.axes, keepdims=True)
        g = _keep_t(g, ctx.axes, ctx.keepdim, a.shape)
        return g * share.astype(g.dtype), None, None, None, None


class MaxDim(Function):
    """(values, indices) of the max (or min) along one dim; the gradient goes to the index
    returned (the first extremum), as torch's max(dim)."""

    @staticmethod
    def forward(ctx, a, dim, keepdim, largest):
        xp = get_array_module(a)
        ctx.shape, ctx.keepdim = a.shape, keepdim
        if a.ndim == 0:
            ctx.dim = None
            return a.copy(), xp.zeros((), np.int64)
        if a.shape[dim] == 0:
            raise ValueError(
                f"{'max' if largest else 'min'}: cannot reduce over dim {dim} "
                f"of size 0 (the input has shape {a.shape})"
            )
        ctx.dim = dim
        idx = xp.expand_dims((xp.argmax if largest else xp.argmin)(a, axis=dim), dim)
        idx = idx.astype(np.int64)
        vals = xp.take_along_axis(a, idx, axis=dim)
        ctx.idx = idx
        if not keepdim:
            vals, idx = xp.squeeze(vals, dim), xp.squeeze(idx, dim)
        return _o(vals), _o(idx)

    @staticmethod
    def backward(ctx, g, _gi):
        xp = get_array_module(g)
        if ctx.dim is None:
            return g, None, None, None
        dim = ctx.dim
        if not ctx.keepdim:
            g = xp.expand_dims(g, dim)
        where_ = [1] * len(ctx.shape)
        where_[dim] = ctx.shape[dim]
        onehot = xp.arange(ctx.shape[dim]).reshape(where_) == ctx.idx
        return xp.where(onehot, g, 0).astype(g.dtype), None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g, _gi):
        if ctx.dim is None:
            return g, None, None, None
        xp = get_array_module(ctx.idx)
        where_ = [1] * len(ctx.shape)
        where_[ctx.dim] = ctx.shape[ctx.dim]
        onehot = xp.arange(ctx.shape[ctx.dim]).reshape(where_) == ctx.idx
        return (
            _keep_t(g, (ctx.dim,), ctx.keepdim, ctx.shape) * onehot.astype(g.dtype),
            None,
            None,
            None,
        )


@_axis_alias
def sum(
    input: Tensor, dim: _Dims = None, keepdim: bool = False, *, dtype: DTypeLike | None = None
) -> Tensor:
    """Sum over ``dim`` (an int, a tuple, or None for all); ``dtype`` casts first. Integer and
    bool tensors are summed in int64, as torch's (uint8 too).
    Also takes NumPy's ``axis=``. Raises ValueError for a dim out of range.
    """
    input = _t(input)
    dt = int_accumulator(input.dtype) if dtype is None else np.dtype(dtype)
    return Sum.apply(input, dim, keepdim, dt)


@_axis_alias
def mean(
    input: Tensor, dim: _Dims = None, keepdim: bool = False, *, dtype: DTypeLike | None = None
) -> Tensor:
    """Mean over ``dim`` (an int, a tuple, or None for all). Raises TypeError for an integer
    input unless ``dtype`` gives a float type (as torch).
    """
    input = _t(input)
    if dtype is None:
        _need_float(input, "mean")
    return Mean.apply(input, dim, keepdim, None if dtype is None else np.dtype(dtype))


@_axis_alias
def prod(
    input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: DTypeLike | None = None
) -> Tensor:
    """Product over ``dim`` (one int, or None for all); integer and bool tensors multiply in
    int64, as torch's. Raises TypeError for a tuple dim."""
    input = _t(input)
    if dtype is None:
        dtype = int_accumulator(input.dtype)
    if dtype is not None:
        input = to(input, dtype)
    if dim is not None and not isinstance(dim, (int, np.integer)):
        raise TypeError(f"prod: dim must be an int, got {dim!r}")
    return Prod.apply(input, dim, keepdim)


def _extreme(input: Tensor, dim: Any, keepdim: bool, largest: bool) -> Tensor | _ValuesIndices:
    """max/min: ``dim`` is an int, None, or the other operand of max(input, other) (a Tensor,
    or a NumPy/CuPy array)."""
    name = "max" if largest else "min"
    input = _t(input)
    if isinstance(dim, (Tensor, np.ndarray)) or is_cupy(dim):  # max(input, other)
        return (maximum if largest else minimum)(input, dim)
    if dim is None:
        if keepdim:
            raise TypeError(f"{name}: keepdim needs dim")
        return Amax.apply(input, None, False, largest, name)
    d = _dim(dim, input.ndim, name)
    values, indices = MaxDim.apply(input, d, keepdim, largest)
    return (return_types.max if largest else return_types.min)(values, indices)


@overload
def max(input: Tensor) -> Tensor: ...
@overload
def max(input: Tensor, dim: Tensor) -> Tensor: ...
@overload
def max(input: Tensor, dim: int, keepdim: bool = False) -> _ValuesIndices: ...
@_axis_alias
def max(
    input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False
) -> Tensor | _ValuesIndices:
    """max(input) -> the largest element; max(input, dim, keepdim=False) -> (values, indices);
    max(input, other) -> maximum(input, other)."""
    _real_only("max", input)
    return _extreme(input, dim, keepdim, True)


@overload
def min(input: Tensor) -> Tensor: ...
@overload
def min(input: Tensor, dim: Tensor) -> Tensor: ...
@overload
def min(input: Tensor, dim: int, keepdim: bool = False) -> _ValuesIndices: ...
@_axis_alias
def min(
    input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False
) -> Tensor | _ValuesIndices:
    """min(input) -> the smallest element; min(input, dim, keepdim=False) -> (values, indices);
    min(input, other) -> minimum(input, other).
    """
    _real_only("min", input)
    return _extreme(input, dim, keepdim, False)


@_axis_alias
def amax(input: Tensor, dim: int | Sequence[int] = (), keepdim: bool = False) -> Tensor:
    """Largest value over ``dim`` (``()``, the default, means all dims)."""
    input = _t(input)
    _real_only("amax", input)
    axes = None if dim == () or dim == [] else dim
    return Amax.apply(input, axes, keepdim, True, "amax")


@_axis_alias
def amin(input: Tensor, dim: int | Sequence[int] = (), keepdim: bool = False) -> Tensor:
    """Smallest value over ``dim`` (``()``, the default, means all dims); the gradient is
    spread evenly over tied minima (as torch).
    """
    input = _t(input)
    _real_only("amin", input)
    axes = None if dim == () or dim == [] else dim
    return Amax.apply(input, axes, keepdim, False, "amin")


def _arg(input: Tensor, dim: int | None, keepdim: bool, largest: bool) -> Tensor:
    name = "argmax" if largest else "argmin"
    a = _arr(input)
    _real_only(name, a)
    xp = _xp(a)
    f = xp.argmax if largest else xp.argmin
    if a.size == 0:
        raise ValueError(f"{name}: the input is empty (shape {a.shape})")
    if dim is None:
        r = f(a.reshape(-1))
        if keepdim:
            r = xp.asarray(r).reshape((1,) * a.ndim)
        return _nograd(xp.asarray(r).astype(np.int64))
    if a.ndim == 0:
        _dim(dim, 0, name)
        return _nograd(xp.zeros((), np.int64))
    d = _dim(dim, a.ndim, name)
    r = f(a, axis=d)
    if keepdim:
        r = xp.expand_dims(r, d)
    return _nograd(xp.asarray(r).astype(np.int64))


@_axis_alias
def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index (int64) of the largest element, of the flattened input (dim=None) or along
    ``dim``. Raises ValueError for an empty input.
    """
    return _arg(input, dim, keepdim, True)


@_axis_alias
def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index (int64) of the smallest element, of the flattened input (dim=None) or along
    ``dim``. Raises ValueError for an empty input.
    """
    return _arg(input, dim, keepdim, False)


class Var(Function):
    """Variance over ``dim`` with divisor N - correction; with ``root`` the standard deviation.

    d var / dx_i = 2 (x_i - mean) / (N - correction); d std = d var / (2 std), 0 where std == 0.
    """

    @staticmethod
    @_quiet
    def forward(ctx, a, dim, correction, keepdim, root):
        xp = get_array_module(a)
        axes = _dims(dim, a.ndim, "std" if root else "var")
        n = _count(a.shape, axes)
        part = a.real.dtype  # complex input: var is the mean of |x - mean|^2, real
        div = part.type(_b.max(n - correction, 0))
        mu = a.sum(axis=axes, keepdims=True) / a.dtype.type(n)
        d = a - mu
        d2 = d * d if a.dtype.kind != "c" else d.real * d.real + d.imag * d.imag
        out = d2.sum(axis=axes, keepdims=keepdim) / div
        if root:
            out = xp.sqrt(out)
        out = _o(out)
        ctx.save_for_backward(d, out)
        ctx.axes, ctx.keepdim, ctx.div, ctx.root = axes, keepdim, div, root
        ctx.correction = correction
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        xp = get_array_module(g)
        d, out = ctx.saved_tensors
        g = _keep(g, ctx.axes, ctx.keepdim, d.ndim)
        if ctx.root:
            s = _keep(out, ctx.axes, ctx.keepdim, d.ndim)
            g = xp.where(s == 0, 0, g / (2 * s))
        return (2 * g * d / ctx.div).astype(d.dtype), None, None, None, None

    @staticmethod
    @_quiet
    def backward_graph(ctx, inputs, g):
        x = inputs[0]
        g = _keep_t(g, ctx.axes, ctx.keepdim, x.shape)
        d = x - x.mean(dim=ctx.axes, keepdim=True)
        if ctx.root:  # d std = d var / (2 std), 0 where std is 0
            s, nz = _nonzero_t(Var.apply(x, ctx.axes, ctx.correction, True, True))
            g = g * nz / (2 * s)
        # N - correction <= 0: inf (nan where d is 0), as torch
        return g * d * float(np.float64(2) / np.float64(ctx.div)), None, None, None, None


def _var_args(
    op: str, dim: _Dims, unbiased: bool | None, correction: float | None
) -> tuple[_Dims, float]:
    if isinstance(dim, bool):  # var(input, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise ValueError(f"{op}: pass either unbiased or correction, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return dim, correction


@_axis_alias
def var(
    input: Tensor,
    dim: _Dims = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """Variance over ``dim`` (None: all) with divisor N - correction (1 by default)."""
    input = _t(input)
    _need_float(input, "var")
    dim, correction = _var_args("var", dim, unbiased, correction)
    return Var.apply(input, dim, correction, keepdim, False)


@_axis_alias
def std(
    input: Tensor,
    dim: _Dims = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> Tensor:
    """Standard deviation over ``dim`` (None: all) with divisor N - correction (1 by default;
    ``unbiased=False`` means correction=0).
    """
    input = _t(input)
    _need_float(input, "std")
    dim, correction = _var_args("std", dim, unbiased, correction)
    return Var.apply(input, dim, correction, keepdim, True)


class Norm(Function):
    """Vector p-norm over ``dim`` (None: all elements): (sum |x|^p)^(1/p), inf: max |x|.

    Gradients as torch's norm_backward: p=2 x/||x||, p=1 sign(x), p=inf sign(x) spread over the
    tied maxima, p=0 zero, general p x |x|^(p-2) / ||x||^(p-1); 0 where the norm is 0.
    """

    @staticmethod
    @_quiet
    def forward(ctx, a, p, dim, keepdim):
        xp = get_array_module(a)
        axes = _dims(dim, a.ndim, "norm")
        ax = xp.abs(a)
        if p == math.inf:
            out = ax.max(axis=axes, keepdims=keepdim)
        elif p == -math.inf:
            out = ax.min(axis=axes, keepdims=keepdim)
        elif p == 0:
            out = (a != 0).sum(axis=axes, keepdims=keepdim).astype(a.dtype)
        elif p == 1:
            out = ax.sum(axis=axes, keepdims=keepdim)
        elif p == 2:
            out = xp.sqrt((ax * ax).sum(axis=axes, keepdims=keepdim))
        else:
            out = (ax**p).sum(axis=axes, keepdims=keepdim) ** (1.0 / p)
        out = _o(out.astype(a.real.dtype, copy=False))  # complex input: a real norm
        ctx.save_for_backward(a, out)
        ctx.p, ctx.axes, ctx.keepdim = p, axes, keepdim
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        xp = get_array_module(g)
        a, out = ctx.saved_tensors
        p = ctx.p
        g = _keep(g, ctx.axes, ctx.keepdim, a.ndim)
        n = _keep(out, ctx.axes, ctx.keepdim, a.ndim)
        if p == 0:
            da = xp.zeros_like(a)
        elif p == 1:
            da = g * xp.sign(a)
        elif p == 2:
            da = a * xp.where(n == 0, 0, g / n)
        elif p in (math.inf, -math.inf):
            mask = _same(xp.abs(a), n)
            da = xp.sign(a) * mask * (g / mask.sum(axis=ctx.axes, keepdims=True))
        else:
            da = a * xp.abs(a) ** (p - 2) * xp.where(n == 0, 0, g / n ** (p - 1))
        return da.astype(a.dtype, copy=False), None, None, None

    @staticmethod
    @_quiet
    def backward_graph(ctx, inputs, g):
        a, out = ctx.saved_tensors
        x, p = inputs[0], ctx.p
        xp = get_array_module(a)
        g = _keep_t(g, ctx.axes, ctx.keepdim, a.shape)
        if p == 0:
            return g * xp.zeros(a.shape, g.dtype), None, None, None
        if p == 1:
            return g * xp.sign(a).astype(g.dtype), None, None, None
        if p in (math.inf, -math.inf):  # linear in g: the mask of the extrema is fixed
            mask = _same(xp.abs(a), _keep(out, ctx.axes, ctx.keepdim, a.ndim))
            share = xp.sign(a) * mask / mask.sum(axis=ctx.axes, keepdims=True)
            return g * share.astype(g.dtype), None, None, None
        n, nz = _nonzero_t(Norm.apply(x, p, ctx.axes, True))
        if p == 2:
            return x * (g * nz / n), None, None, None
        return x * x.abs() ** (p - 2) * (g * nz / n ** (p - 1)), None, None, None


def norm(
    input: Tensor,
    p: float | str | None = "fro",
    dim: _Dims = None,
    keepdim: bool = False,
    dtype: DTypeLike | None = None,
) -> Tensor:
    """Vector p-norm of all elements (dim=None) or over ``dim``. ``'fro'`` is the 2-norm;
    ``'nuc'`` the nuclear norm (the sum of the singular values, differentiable) of a matrix,
    or of the matrices over the two dims ``dim``; other matrix norms (p with two dims) are
    not provided."""
    input = _t(input)
    if dtype is not None:
        input = to(input, dtype)
    _need_float(input, "norm")
    if p == "nuc":
        from ..linalg import matrix_norm  # linalg sits above ops

        if dim is None and input.ndim != 2:
            raise RuntimeError(f"norm: p='nuc' needs a 2-D input or two dims, got {input.ndim}-D")
        dims = (-2, -1) if dim is None else dim
        return matrix_norm(input, "nuc", dim=dims, keepdim=keepdim)  # type: ignore[arg-type]
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str):
        raise ValueError(f"norm: p={p!r} is not supported (use a number, inf or 'fro')")
    p = float(p)
    return Norm.apply(input, p, dim, keepdim)


class LogSumExp(Function):
    """log(sum(exp(x))) over ``dim``, computed as m + log(sum(exp(x - m))) with m the max
    (0 where the max is infinite); d/dx = exp(x - out)."""

    @staticmethod
    @_quiet
    def forward(ctx, a, dim, keepdim):
        xp = get_array_module(a)
        axes = _dims(dim, a.ndim, "logsumexp")
        if a.size == 0:
            out = xp.log(xp.exp(a).sum(axis=axes, keepdims=keepdim))
        else:
            m = a.max(axis=axes, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)
            out = xp.log(xp.exp(a - m).sum(axis=axes, keepdims=True)) + m
            if not keepdim:
                out = out.reshape(()) if axes is None else xp.squeeze(out, axes)
        out = _o(out)
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        xp = get_array_module(g)
        a, out = ctx.saved_tensors
        g = _keep(g, ctx.axes, ctx.keepdim, a.ndim)
        return g * _cj(xp.exp(a - _keep(out, ctx.axes, ctx.keepdim, a.ndim))), None, None

    @staticmethod
    @_quiet
    def backward_graph(ctx, inputs, g):
        x = inputs[0]
        g = _keep_t(g, ctx.axes, ctx.keepdim, x.shape)
        return g * _cj((x - LogSumExp.apply(x, ctx.axes, True)).exp()), None, None


@_axis_alias
def logsumexp(input: Tensor, dim: int | Sequence[int], keepdim: bool = False) -> Tensor:
    """``log(sum(exp(input)))`` over ``dim``, computed stably (shifted by the max); an integer
    or bool input is computed in the default float dtype, as torch's."""
    return LogSumExp.apply(to_float(_t(input)), dim, keepdim)


class CumSum(Function):
    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        if a.ndim == 0:
            return a.copy()
        return _o(get_array_module(a).cumsum(a, axis=dim))

    @staticmethod
    def backward(ctx, g):
        if g.ndim == 0:
            return g, None
        xp = get_array_module(g)
        # out_j = sum_{i <= j} x_i, so dx_i = sum_{j >= i} g_j: a reversed cumulative sum
        return xp.flip(xp.cumsum(xp.flip(g, ctx.dim), axis=ctx.dim), ctx.dim), None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        if g.ndim == 0:
            return g, None
        return CumSum.apply(g.flip(ctx.dim), ctx.dim).flip(ctx.dim), None


@_axis_alias
def cumsum(input: Tensor, dim: int, *, dtype: DTypeLike | None = None) -> Tensor:
    """Cumulative sum along ``dim``; ``dtype`` casts first; integer and bool tensors
    accumulate in int64, as torch's."""
    input = _t(input)
    if dtype is None:
        dtype = int_accumulator(input.dtype)
    if dtype is not None:
        input = to(input, dtype)
    return CumSum.apply(input, _dim(dim, input.ndim, "cumsum"))


def _logical(name: str, input: Tensor, dim: _Dims, keepdim: bool) -> Tensor:
    a = _arr(input)
    axes = _dims(dim, a.ndim, name)
    return _nograd(getattr(a, name)(axis=axes, keepdims=keepdim))


@_axis_alias
def all(input: Tensor, dim: _Dims = None, keepdim: bool = False) -> Tensor:
    """Bool tensor: whether all elements are non-zero, over ``dim`` (None: all); no gradient."""
    return _logical("all", input, dim, keepdim)


@_axis_alias
def any(input: Tensor, dim: _Dims = None, keepdim: bool = False) -> Tensor:
    """Bool tensor: whether any element is non-zero, over ``dim`` (None: all); no gradient."""
    return _logical("any", input, dim, keepdim)


@_axis_alias
def count_nonzero(input: Tensor, dim: _Dims = None) -> Tensor:
    """Number (int64) of non-zero elements over ``dim`` (None: all); no gradient."""
    a = _arr(input)
    return _nograd(
        _xp(a).asarray((a != 0).sum(axis=_dims(dim, a.ndim, "count_nonzero"))).astype(np.int64)
    )
