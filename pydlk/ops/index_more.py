"""Index-wise writes under torch's names: index_copy, index_fill, index_put, masked_scatter,
put and index_reduce, each out of place and in place (``index_copy_``, ...).

The out-of-place forms are the in-place ones on a ``clone`` of the input. The in-place forms
are recorded on graph tensors as torch records them (``indexing._put`` for overwrites,
``scatter_extra._add_into`` for accumulating writes, ``_helpers._inplace_recorded`` for
masked_scatter_); their backward reads none of the values they overwrite. ``index_reduce_``
is the exception: its backward needs the old values, so on a graph tensor it is refused
(naming the op), as ``scatter_reduce_`` is; the out-of-place ``index_reduce`` is
differentiable (prod included, with torch's treatment of zeros).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy, ufunc_at
from .._typing import TensorOrScalar
from ..autograd import Function, Tensor, is_grad_enabled
from ._helpers import _arr, _dim, _inplace_recorded, _t
from .indexing import Index, _device_key, _put
from .joining import cat
from .scatter_extra import ScatterReduce, _add_into, _Ctx, _index_key
from .selection import _add_at, _along
from .shape import clone, reshape


def _dev(self: Tensor, a: Any) -> Any:
    """An index array on self's device."""
    if is_cupy(self._data) and isinstance(a, np.ndarray):
        import cupy

        return cupy.asarray(a)
    return a


# -- index_copy


def _index_copy_(self: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """Tensor.index_copy_: ``self[..., index[i], ...] = source[..., i, ...]`` along ``dim``, in
    place (recorded on a graph tensor: source gets the gradient of the written places)."""
    source = _t(source)
    if source.dtype != self.dtype:
        raise RuntimeError(
            f"index_copy_(): self and source expected to have the same dtype, but got (self) "
            f"{self.dtype} and (source) {source.dtype}"
        )
    _, key = _index_key(self, dim, index, source, "index_copy_")
    return _put(self, "index_copy_", _device_key(self._data, key), source)


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """A copy of input with ``source``'s slices along ``dim`` written at ``index``; the
    gradient goes to input (zero where overwritten) and source."""
    return _index_copy_(clone(_t(input)), dim, index, source)


# -- index_fill


def _index_fill_(self: Tensor, dim: int, index: Tensor, value: TensorOrScalar) -> Tensor:
    """Tensor.index_fill_: the slices at ``index`` along ``dim`` set to ``value`` (a number or a
    0-d tensor, whose gradient is the sum over the filled places), in place."""
    d = _dim(dim, self.ndim, "index_fill_")
    idx = _arr(index)
    if not hasattr(idx, "dtype") or idx.dtype.kind not in "iu" or idx.ndim > 1:
        raise TypeError("index_fill_: index must be a 0-d or 1-d integer (int64) tensor")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(
            "index_fill_: only supports a 0-dimensional value tensor, but got tensor with "
            f"{value.ndim} dimension(s)."
        )
    n = self.shape[d] if self.ndim else 1
    idx = idx.reshape(-1)
    if idx.size and (int(idx.min()) < -n or int(idx.max()) >= n):
        raise IndexError(f"index_fill_: index out of range [-{n}, {n}) for dim {d}")
    if isinstance(value, Tensor) and value.dtype != self.dtype:
        value = value.to(self.dtype)
    key = (slice(None),) * d + (_dev(self, idx),) if self.ndim else (Ellipsis,)
    return _put(self, "index_fill_", key, value)


def index_fill(input: Tensor, dim: int, index: Tensor, value: TensorOrScalar) -> Tensor:
    """A copy of input with the slices at ``index`` along ``dim`` set to ``value``."""
    return _index_fill_(clone(_t(input)), dim, index, value)


# -- index_put


def _index_tuple(self: Tensor, indices: Any, op: str) -> tuple[Any, ...]:
    if isinstance(indices, Tensor) or not isinstance(indices, (tuple, list)):
        raise TypeError(f"{op}: indices must be a tuple or list of tensors")
    if len(indices) > max(self.ndim, 1):
        raise IndexError(
            f"{op}: too many indices for tensor of dimension {self.ndim} (got {len(indices)})"
        )
    key = []
    for i, ix in enumerate(indices):
        a = _arr(ix)
        if ix is None:
            key.append(slice(None))
            continue
        if not hasattr(a, "dtype"):
            a = np.asarray(a)
        if a.dtype.kind not in "iub":
            raise IndexError(
                f"{op}: tensors used as indices must be long, int, byte or bool tensors, "
                f"index {i} has dtype {a.dtype}"
            )
        key.append(_dev(self, a.astype(np.bool_) if a.dtype == np.uint8 else a))
    return tuple(key)


def _index_put_(
    self: Tensor, indices: Sequence[Tensor], values: Tensor, accumulate: bool = False
) -> Tensor:
    """Tensor.index_put_: ``self[indices] = values`` (``+=`` with ``accumulate``, repeated
    indices then adding up), in place; recorded on a graph tensor."""
    key = _index_tuple(self, indices, "index_put_")
    v = values if isinstance(values, Tensor) else Tensor(values)
    if v.dtype != self.dtype:
        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{self.dtype} for the destination and {v.dtype} for the source."
        )
    try:
        np.broadcast_shapes(tuple(v.shape), np.empty(self.shape, np.bool_)[key].shape)
    except (ValueError, IndexError) as e:
        raise RuntimeError(f"index_put_: values of shape {tuple(v.shape)}: {e}") from None
    if accumulate:
        return _add_into(self, "index_put_", key, v, 1)
    return _put(self, "index_put_", key, v)


def index_put(
    input: Tensor, indices: Sequence[Tensor], values: Tensor, accumulate: bool = False
) -> Tensor:
    """A copy of input with ``values`` written (or with ``accumulate``, added) at
    ``indices`` (a tuple of index tensors, one per leading dim)."""
    return _index_put_(clone(_t(input)), indices, values, accumulate)


# -- masked_scatter


class MaskedScatter(Function):
    """``a[mask] = src.flatten()[:k]`` (k the number of True in mask), into ``a`` itself
    (``inplace``) or a copy: ``a`` keeps the gradient where mask is False, src's first k
    elements get the gradient of the places they went to."""

    @staticmethod
    def forward(ctx, a, src, mask, inplace):
        ctx.mask, ctx.src_shape = mask, src.shape
        out = a if inplace else a.copy()
        k = int(mask.sum())
        ctx.k = k
        out[mask] = src.reshape(-1)[:k]
        return out

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        ga = gs = None
        if ctx.needs_input_grad[0]:
            ga = xp.where(ctx.mask, 0, g).astype(g.dtype, copy=False)
        if ctx.needs_input_grad[1]:
            flat = xp.zeros(int(np.prod(ctx.src_shape, dtype=np.int64)), g.dtype)
            flat[: ctx.k] = g[ctx.mask]
            gs = flat.reshape(ctx.src_shape)
        return ga, gs, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        ga = gs = None
        if ctx.needs_input_grad[0]:
            ga = g * (~ctx.mask).astype(g.dtype)
        if ctx.needs_input_grad[1]:
            taken = Index.apply(g, ctx.mask)
            n = int(np.prod(ctx.src_shape, dtype=np.int64))
            rest = Tensor._wrap(get_array_module(g._data).zeros(n - ctx.k, g.dtype))
            gs = reshape(cat([taken, rest]), ctx.src_shape)
        return ga, gs, None, None


def _mask_check(self: Tensor, mask: Any, source: Tensor, op: str) -> Any:
    m = _arr(mask)
    if getattr(m, "dtype", None) != np.bool_:
        got = getattr(m, "dtype", type(m).__name__)
        raise RuntimeError(f"{op}: expected BoolTensor for mask, got {got}")
    try:
        if np.broadcast_shapes(tuple(m.shape), tuple(self.shape)) != tuple(self.shape):
            raise ValueError
    except ValueError:
        raise RuntimeError(
            f"{op}: the mask's shape {tuple(m.shape)} does not broadcast to the input's "
            f"{tuple(self.shape)}"
        ) from None
    if source.dtype != self.dtype:
        raise RuntimeError(
            f"{op}: expected self and source to have same dtypes but got {self.dtype} and "
            f"{source.dtype}"
        )
    xp = get_array_module(self._data)
    m = xp.broadcast_to(_dev(self, m), tuple(self.shape))
    if int(m.sum()) > source.numel():
        raise RuntimeError(f"{op}: Number of elements of source < number of ones in mask")
    return m


def _masked_scatter_(self: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """Tensor.masked_scatter_: the places where ``mask`` (bool, broadcast to self) holds take
    the elements of ``source`` in order (C order), in place; recorded on a graph tensor."""
    source = _t(source)
    m = _mask_check(self, mask, source, "masked_scatter_")
    if is_grad_enabled() and (self.requires_grad or source.requires_grad):
        return _inplace_recorded(self, "masked_scatter_", MaskedScatter, source, m, True)
    MaskedScatter.forward(_Ctx(), self._data, _dev(self, source._data), m, True)
    return self


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """A copy of input (broadcast with mask) whose places where ``mask`` holds take the
    elements of ``source`` in order; gradients to input and source."""
    input, source = _t(input), _t(source)
    m = _arr(mask)
    try:
        shape = np.broadcast_shapes(tuple(input.shape), tuple(getattr(m, "shape", ())))
    except ValueError:
        raise RuntimeError(
            f"masked_scatter: the mask's shape {tuple(m.shape)} does not broadcast with the "
            f"input's {tuple(input.shape)}"
        ) from None
    base = input.expand(shape) if tuple(input.shape) != shape else input
    m = _mask_check(base, mask, source, "masked_scatter")
    return MaskedScatter.apply(base, source, m, False)


# -- put


def _put_(self: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """Tensor.put_: ``self.flatten()[index] = source`` (``+=`` with ``accumulate``), in place;
    index and source have the same number of elements (negative indices count from the end)."""
    source = _t(source)
    idx = _arr(index)
    if not hasattr(idx, "dtype") or idx.dtype.kind not in "iu":
        raise TypeError("put_(): Expected a long tensor for index")
    if idx.size != source.numel():
        raise IndexError(
            "put_(): Expected source and index to have the same number of elements, but got "
            f"source.numel() = {source.numel()}, index.numel() = {idx.size}"
        )
    if source.dtype != self.dtype:
        raise RuntimeError(
            f"put_(): self and source expected to have the same dtype, but got (self) "
            f"{self.dtype} and (source) {source.dtype}"
        )
    n = self.numel()
    if idx.size and (int(idx.min()) < -n or int(idx.max()) >= n):
        bad = int(idx.max()) if int(idx.max()) >= n else int(idx.min())
        raise IndexError(
            f"put_(): out of range: tried to access index {bad} on a tensor of {n} elements."
        )
    xp = get_array_module(self._data)
    flat = xp.asarray(_dev(self, idx)).reshape(-1)
    flat = xp.where(flat < 0, flat + n, flat)
    key = tuple(xp.unravel_index(flat, tuple(self.shape))) if self.ndim else (Ellipsis,)
    v = reshape(source, -1) if self.ndim else reshape(source, ())
    if accumulate:
        return _add_into(self, "put_", key, v, 1)
    return _put(self, "put_", key, v)


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """A copy of input with ``source`` written (or added) at the flat ``index``."""
    return _put_(clone(_t(input)), index, source, accumulate)


# -- index_reduce

_INDEX_REDUCTIONS = ("prod", "mean", "amax", "amin")


class IndexReduce(ScatterReduce):
    """ScatterReduce with the gradient of 'prod' too: each factor's gradient is g times the
    product of the others (torch's formula, exact where factors are zero: one zero among them
    gives the zero factor the product of the rest, two or more give every factor 0)."""

    @staticmethod
    def backward(ctx, g):
        if ctx.reduce != "prod":
            return ScatterReduce.backward(ctx, g)
        a, src, out = ctx.saved_tensors
        key, inc, touched = ctx.key, ctx.include_self, ctx.touched
        xp = get_array_module(g)
        # per output place: the product of the non-zero factors and the number of zeros
        a_in = a if inc else xp.where(touched, 1, a)
        nz_prod = xp.where(a_in == 0, 1, a_in).astype(g.dtype)
        zeros = (a_in == 0).astype(np.int64)
        s_nz = xp.where(src == 0, 1, src).astype(g.dtype)
        ufunc_at("multiply", nz_prod, key, s_nz)
        _add_at(zeros, key, (src == 0).astype(np.int64))

        def others(x: Any, z: Any, p: Any) -> Any:  # the product of the other factors
            safe = xp.where(x == 0, 1, x)
            return xp.where(x == 0, xp.where(z == 1, p, 0), xp.where(z == 0, p / safe, 0))

        ga = g * others(a, zeros, nz_prod)
        if not inc:
            ga = xp.where(touched, 0, g)
        gs = g[key] * others(src, zeros[key], nz_prod[key])
        return ga.astype(a.dtype, copy=False), gs.astype(src.dtype, copy=False), None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        if ctx.reduce == "prod":
            raise RuntimeError(
                "index_reduce: the double backward of reduce='prod' is not implemented"
            )
        return ScatterReduce.backward_graph(ctx, inputs, g)


def _reduce_key(input: Tensor, dim: int, index: Any, source: Tensor, reduce: str, op: str) -> Any:
    if reduce not in _INDEX_REDUCTIONS:
        raise RuntimeError(
            f"{op}: Expected reduce to be one of prod, mean, amax or amin but got {reduce}."
        )
    if source.dtype != input.dtype:
        raise RuntimeError(
            f"{op}: self ({input.dtype}) and source ({source.dtype}) must have the same scalar type"
        )
    d, key = _index_key(input, dim, index, source, op)
    xp = get_array_module(input._data)
    idx = xp.asarray(_dev(input, key[d]))
    n = input.shape[d] if input.ndim else 1
    idx = xp.where(idx < 0, idx + n, idx)
    if input.ndim == 0:
        return (Ellipsis,)
    shape = [1] * input.ndim
    shape[d] = idx.size
    full = xp.broadcast_to(idx.reshape(shape), tuple(source.shape))
    return _along(full, d)


def index_reduce(
    input: Tensor,
    dim: int,
    index: Tensor,
    source: Tensor,
    reduce: str,
    *,
    include_self: bool = True,
) -> Tensor:
    """A copy of input with the slices of ``source`` along ``dim`` reduced into the slices at
    ``index`` by ``reduce`` ('prod', 'mean', 'amax', 'amin'); with ``include_self=False`` the
    input's own values at those slices take no part. Gradients as torch's (max/min shared
    among ties)."""
    input, source = _t(input), _t(source)
    key = _reduce_key(input, dim, index, source, reduce, "index_reduce")
    if input.dtype.kind not in "fc":
        # integers: reduced in float64 (exact below 2**53), the mean rounded down as torch's
        f = np.float64
        out = IndexReduce.forward(
            _Ctx(), input._data.astype(f), source._data.astype(f), key, reduce, include_self
        )
        xp = get_array_module(out)
        return Tensor._wrap((xp.floor(out) if reduce == "mean" else out).astype(input.dtype))
    return IndexReduce.apply(input, source, key, reduce, include_self)


def _index_reduce_(
    self: Tensor,
    dim: int,
    index: Tensor,
    source: Tensor,
    reduce: str,
    *,
    include_self: bool = True,
) -> Tensor:
    """Tensor.index_reduce_: in place, outside the graph (its backward would need the values
    it overwrites: refused on a graph tensor, as scatter_reduce_)."""
    self._check_inplace_write("index_reduce_", source, hint="use index_reduce (out of place)")
    r = index_reduce(
        self.detach(), dim, index, _t(source).detach(), reduce, include_self=include_self
    )
    self._data[...] = r._data
    return self


__all__ = ["index_copy", "index_fill", "index_put", "masked_scatter", "put", "index_reduce"]

TENSOR_METHODS = {
    "index_copy": index_copy,
    "index_copy_": _index_copy_,
    "index_fill": index_fill,
    "index_fill_": _index_fill_,
    "index_put": index_put,
    "index_put_": _index_put_,
    "masked_scatter": masked_scatter,
    "masked_scatter_": _masked_scatter_,
    "put": put,
    "put_": _put_,
    "index_reduce": index_reduce,
    "index_reduce_": _index_reduce_,
}
