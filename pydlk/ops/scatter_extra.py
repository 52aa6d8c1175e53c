"""Scattering with reductions and index-wise adds: index_add, scatter_reduce, masked_select,
and the in-place forms torch code calls on graph tensors (``index_add_``, ``scatter_add_`` and
``scatter_`` with a ``src`` that requires grad, as a GNN's message aggregation writes
``torch.zeros(n, d).index_add_(0, dst, messages)``).

The in-place forms are recorded as torch records them (``_helpers._inplace_recorded``): their
backward reads none of the values they add to or overwrite, so the target keeps no saved copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import get_array_module, ufunc_at
from ..autograd import Function, Tensor, is_grad_enabled
from ._helpers import _arr, _dim, _fit, _inplace_recorded, _meta, _nograd, _t
from .indexing import Index, _put
from .selection import _add_at, _along, _check_index, _SrcPart, scatter, scatter_add
from .shape import clone, expand


class AddAt(Function):
    """``a[key] += alpha * v`` (repeats accumulate) into a's own array, which it returns."""

    @staticmethod
    def forward(ctx, a, v, key, alpha):
        ctx.key, ctx.alpha, ctx.vmeta = key, alpha, _meta(v)
        _add_at(a, key, v if alpha == 1 else alpha * v)
        return a

    @staticmethod
    def backward(ctx, g):
        gv = None
        if ctx.needs_input_grad[1]:
            gv = g[ctx.key]
            gv = _fit(gv if ctx.alpha == 1 else ctx.alpha * gv, ctx.vmeta)
        return (g if ctx.needs_input_grad[0] else None), gv, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        gv = None
        if ctx.needs_input_grad[1]:
            gv = Index.apply(g, ctx.key) * ctx.alpha
        return (g if ctx.needs_input_grad[0] else None), gv, None, None


def _add_into(self: Tensor, op: str, key: Any, v: Any, alpha: float) -> Tensor:
    if is_grad_enabled() and (self.requires_grad or (isinstance(v, Tensor) and v.requires_grad)):
        return _inplace_recorded(self, op, AddAt, v, key, alpha)
    _add_at(self._data, key, _arr(v) if alpha == 1 else alpha * _arr(v))
    return self


def _index_key(self: Tensor, dim: int, index: Any, source: Any, op: str) -> tuple[int, Any]:
    d = _dim(dim, self.ndim, op)
    idx = _arr(index)
    if not hasattr(idx, "dtype") or idx.dtype.kind not in "iu" or idx.ndim > 1:
        raise TypeError(f"{op}: index must be a 0-d or 1-d integer tensor")
    idx = idx.reshape(-1)
    want = list(self.shape)
    if want:
        want[d] = idx.size
    if tuple(source.shape) != tuple(want) and not (source.ndim == 0 and idx.size == 1):
        raise RuntimeError(
            f"{op}: source has shape {tuple(source.shape)}, expected {tuple(want)} "
            f"(self's shape with dim {d} the index's length)"
        )
    if source.dtype != self.dtype:
        raise RuntimeError(f"{op}: source dtype {source.dtype} must match self's {self.dtype}")
    n = self.shape[d] if self.ndim else 1
    if idx.size and (int(idx.min()) < -n or int(idx.max()) >= n):
        raise IndexError(f"{op}: index out of range [-{n}, {n}) for dim {d}")
    return d, (slice(None),) * d + (idx,)


def _index_add_(
    self: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: float = 1
) -> Tensor:
    """Tensor.index_add_: ``self[..., index[i], ...] += alpha * source[..., i, ...]`` along
    ``dim`` (repeated indices accumulate), in place; recorded when self or source requires grad."""
    source = _t(source)
    _, key = _index_key(self, dim, index, source, "index_add_")
    return _add_into(self, "index_add_", key, source, alpha)


def index_add(
    input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: float = 1
) -> Tensor:
    """A copy of input with ``alpha * source`` added at ``index`` along ``dim`` (repeated
    indices accumulate); gradients flow to input and source."""
    return _index_add_(clone(_t(input)), dim, index, source, alpha=alpha)


def _scatter_add_(self: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """Tensor.scatter_add_: in place, recorded when self or src requires grad."""
    if not (is_grad_enabled() and (self.requires_grad or _t(src).requires_grad)):
        self._data[...] = scatter_add(self.detach(), dim, index, _t(src).detach())._data
        return self
    d = _dim(dim, self.ndim, "scatter_add_")
    idx = _check_index(index, self, d, "scatter_add_", src.shape)
    v = _SrcPart.apply(src, idx.shape) if tuple(src.shape) != idx.shape else src
    return _add_into(self, "scatter_add_", _along(idx, d), v, 1)


def _scatter_(
    self: Tensor,
    dim: int,
    index: Tensor,
    src: Tensor | float | None = None,
    value: float | None = None,
    *,
    reduce: str | None = None,
) -> Tensor:
    """Tensor.scatter_: in place; recorded when self or src requires grad (``reduce=`` writes
    outside the graph, as torch gives it no gradient)."""
    grad = isinstance(src, Tensor) and src.requires_grad
    if reduce is not None or not (is_grad_enabled() and (self.requires_grad or grad)):
        if reduce is not None:
            self._check_inplace_write("scatter_", src, hint="use scatter (out of place)")
        s = src.detach() if isinstance(src, Tensor) else src
        self._data[...] = scatter(self.detach(), dim, index, s, value, reduce=reduce)._data
        return self
    d = _dim(dim, self.ndim, "scatter_")
    if isinstance(src, Tensor):
        idx = _check_index(index, self, d, "scatter_", src.shape)
        v: Any = _SrcPart.apply(src, idx.shape) if tuple(src.shape) != idx.shape else src
    else:
        idx = _check_index(index, self, d, "scatter_")
        v = src if value is None else value
    return _put(self, "scatter_", _along(idx, d), v)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements of input where ``mask`` (bool; input and mask broadcast together) holds, as
    a 1-d tensor in C order; the gradient goes back to the selected places."""
    input = _t(input)
    m = _arr(mask)
    if getattr(m, "dtype", None) != np.bool_:
        got = getattr(m, "dtype", type(m).__name__)
        raise TypeError(f"masked_select: mask must be a bool tensor, got {got}")
    try:
        shape = np.broadcast_shapes(tuple(input.shape), tuple(m.shape))
    except ValueError:
        raise RuntimeError(
            f"masked_select: the mask's shape {tuple(m.shape)} does not broadcast with the "
            f"input's {tuple(input.shape)}"
        ) from None
    if tuple(input.shape) != shape:
        input = expand(input, shape)
    xp = get_array_module(input._data)
    return Index.apply(input, xp.broadcast_to(xp.asarray(m), shape))


_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _extremes(dtype: Any) -> tuple[Any, Any]:
    """The identities of max and min in ``dtype``: -inf and inf, an integer type's bounds."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.min, info.max
    if dtype.kind == "b":
        return False, True
    return -np.inf, np.inf


class ScatterReduce(Function):
    """torch.scatter_reduce: ``src`` reduced into a copy of ``a`` at ``key`` (sum, prod, mean,
    amax, amin), ``a``'s own value joining the reduction when ``include_self``."""

    @staticmethod
    def forward(ctx, a, src, key, reduce, include_self):
        xp = get_array_module(a)
        out = a.copy()
        hit = xp.zeros(a.shape, np.int64)
        _add_at(hit, key, xp.ones(src.shape, np.int64))
        touched = hit > 0
        if not include_self:
            lo, hi = _extremes(a.dtype)
            init = {"sum": 0, "mean": 0, "prod": 1, "amax": lo, "amin": hi}[reduce]
            out[touched] = init
        if reduce in ("sum", "mean"):
            _add_at(out, key, src)
        else:
            op = {"prod": "multiply", "amax": "maximum", "amin": "minimum"}[reduce]
            ufunc_at(op, out, key, src)
        count = hit + (1 if include_self else 0)
        if reduce == "mean":
            out = xp.where(touched, out / xp.maximum(count, 1), out).astype(a.dtype)
        ctx.save_for_backward(a, src, out)
        ctx.key, ctx.reduce, ctx.include_self = key, reduce, include_self
        ctx.touched, ctx.count = touched, count
        return out

    @staticmethod
    def backward(ctx, g):
        a, src, out = ctx.saved_tensors
        key, reduce, inc, touched = ctx.key, ctx.reduce, ctx.include_self, ctx.touched
        xp = get_array_module(g)
        if reduce == "sum":
            ga = g if inc else xp.where(touched, 0, g)
            gs = g[key]
        elif reduce == "mean":
            scaled = xp.where(touched, g / xp.maximum(ctx.count, 1), g)
            ga = scaled if inc else xp.where(touched, 0, g)
            gs = scaled[key]
        elif reduce in ("amax", "amin"):
            # shared evenly among the values equal to the result, torch's formula: the
            # input's own value counts as a tie even where include_self=False (its share is
            # then dropped)
            self_hit = (a == out).astype(g.dtype)
            src_hit = (src == out[key]).astype(g.dtype)
            ties = self_hit.copy()
            _add_at(ties, key, src_hit)
            share = g / xp.where(ties == 0, 1, ties)  # a NaN result: no tie, no share
            ga = share * self_hit if inc else xp.where(touched, 0, share * self_hit)
            gs = share[key] * src_hit
        else:
            ga, gs = _prod_grads(xp, a, src, out, g, key, inc, touched)
        return ga.astype(a.dtype, copy=False), gs.astype(src.dtype, copy=False), None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        # linear in g (counts and tie masks are fixed by the forward, as torch's):
        # ga = g * A and gs = (g * B)[key] * C, with backward's factors
        a, src, out = ctx.saved_tensors
        key, reduce, inc, touched = ctx.key, ctx.reduce, ctx.include_self, ctx.touched
        xp = get_array_module(a)
        if reduce == "prod":
            raise RuntimeError("scatter_reduce: the gradient of reduce='prod' is not implemented")
        untouched = ~touched
        A, B, C = xp.ones(a.shape), xp.ones(a.shape), xp.ones(src.shape)
        if reduce == "mean":
            B = xp.where(touched, 1 / xp.maximum(ctx.count, 1), 1)
            A = B if inc else untouched
        elif reduce in ("amax", "amin"):
            self_hit, C = (a == out), (src == out[key])
            ties = self_hit.astype(np.float64)
            _add_at(ties, key, C.astype(np.float64))
            B = 1 / xp.where(ties == 0, 1, ties)
            A = B * self_hit * (1 if inc else untouched)
        elif not inc:
            A = untouched
        dt = g.dtype
        ga = g * A.astype(dt)
        gs = Index.apply(g * B.astype(dt), key) * C.astype(dt)
        return ga, gs, None, None, None


def _prod_grads(xp, a, src, out, g, key, inc, touched):
    """torch's gradients of scatter_reduce(reduce='prod'), exact where values are zero: the
    input's own value gets the product of the others (its zeros replaced by 1), a source value
    the product of the rest of its group, which is nonzero only where it is its group's one
    zero."""
    if inc:
        ma = xp.where(a == 0, 1, a)
        rest = ma.copy()
        ufunc_at("multiply", rest, key, src)
        ga = g * rest / ma
    else:
        ga = xp.where(touched, 0, g)
    src_zero = src == 0
    zeros = xp.zeros(a.shape, g.dtype)
    _add_at(zeros, key, src_zero.astype(g.dtype))
    single = src_zero & (zeros[key] == 1)
    others = a.copy() if inc else xp.where(touched, 1, a).astype(a.dtype)
    ufunc_at("multiply", others, key, xp.where(single, 1, src).astype(src.dtype))
    gs = xp.where(single, (g * others)[key], (g * out)[key] / xp.where(src_zero, 1, src))
    return ga, gs


def scatter_reduce(
    input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    """A copy of input with ``src`` reduced into ``out[index[i][j]][j]`` (dim 0) by ``reduce``
    ('sum', 'prod', 'mean', 'amax', 'amin'); with ``include_self=False`` input's values at the
    written positions do not take part. Gradients as torch's (max/min shared among ties; 'prod'
    exact where values are zero; its second derivative raises RuntimeError)."""
    input, src = _t(input), _t(src)
    if reduce not in _REDUCTIONS:
        raise RuntimeError(
            f"scatter_reduce: reduce argument must be one of {_REDUCTIONS}, got {reduce!r}"
        )
    d = _dim(dim, input.ndim, "scatter_reduce")
    idx = _check_index(index, input, d, "scatter_reduce", src.shape)
    if src.dtype != input.dtype:
        raise RuntimeError(
            f"scatter_reduce: src dtype {src.dtype} must match input's {input.dtype}"
        )
    v = _SrcPart.apply(src, idx.shape) if tuple(src.shape) != idx.shape else src
    if input.dtype.kind not in "fc":
        return _nograd(
            ScatterReduce.forward(
                _Ctx(), input._data, _arr(v), _along(idx, d), reduce, include_self
            )
        )
    return ScatterReduce.apply(input, v, _along(idx, d), reduce, include_self)


class _Ctx:
    """A context for an integer scatter_reduce (no graph: integers carry no gradient)."""

    def save_for_backward(self, *a: Any) -> None:
        pass


def _scatter_reduce_(
    self: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    """Tensor.scatter_reduce_: in place, outside the graph (refused where the graph would miss
    it, see Tensor._check_inplace_write)."""
    self._check_inplace_write("scatter_reduce_", src, hint="use scatter_reduce (out of place)")
    s = _t(src).detach()
    self._data[...] = scatter_reduce(
        self.detach(), dim, index, s, reduce, include_self=include_self
    )._data
    return self
