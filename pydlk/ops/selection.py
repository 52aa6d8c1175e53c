"""Selection along a dim: topk, sort, argsort, gather, scatter, scatter_add, index_select,
narrow, under torch's names, argument names and defaults.

``topk`` and ``sort`` find their indices without a gradient and take their values with
``gather``, so their backward is gather's (the gradient goes back to the chosen positions).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy, ufunc_at
from .._typing import Array
from ..autograd import Function, Tensor
from ._helpers import _arr, _dim, _nograd, _real_only, _t, _ValuesIndices, return_types
from .indexing import Index, IndexBackward


def _add_at(z: Array, key: Any, v: Array) -> None:
    """``z[key] += v`` with repeated indices accumulating. On NumPy a real-valued ``key`` of
    index arrays goes through one ``bincount`` over flat positions (``np.add.at`` runs an order
    of magnitude slower); CuPy goes through _backend.ufunc_at (scatter_add where CuPy has it
    for the dtype)."""
    if is_cupy(z):
        ufunc_at("add", z, key, v)
    elif (
        z.dtype.kind == "f"
        and z.flags.c_contiguous
        and isinstance(key, tuple)
        and len(key) == z.ndim
        and all(isinstance(k, np.ndarray) for k in key)
    ):
        flat = _flat_index(key, z.shape)
        w = np.broadcast_to(v, flat.shape).ravel()
        z.reshape(-1)[...] += np.bincount(flat.ravel(), weights=w, minlength=z.size).astype(
            z.dtype, copy=False
        )
    else:
        np.add.at(z, key, v)


def _flat_index(key: Sequence[Array], shape: Sequence[int]) -> Array:
    """Flat (C-order) positions in an array of ``shape`` addressed by a tuple of broadcasting
    index arrays, one per dimension."""
    flat = 0
    stride = 1
    for k, n in zip(reversed(key), reversed(shape)):
        flat = flat + k.astype(np.int64, copy=False) * stride
        stride *= n
    return flat


def _along(index: Array, dim: int) -> tuple[Array, ...]:
    """The advanced-indexing key that picks ``a[..., index[i], ...]`` along ``dim`` at each
    position of ``index`` (torch's gather/scatter addressing)."""
    xp = get_array_module(index)
    key = list(xp.ix_(*[xp.arange(s) for s in index.shape])) if index.ndim else []
    key[dim] = index
    return tuple(key)


def _check_index(
    index: Tensor, input: Tensor, dim: int, op: str, same_shape: Sequence[int] | None = None
) -> Array:
    idx = _arr(index)
    if not hasattr(idx, "dtype") or idx.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: index must be an integer (int64) tensor, got "
            f"{getattr(idx, 'dtype', type(idx).__name__)}"
        )
    if idx.ndim != max(input.ndim, 1) and not (input.ndim == 0 and idx.ndim == 0):
        raise ValueError(
            f"{op}: index must have the same number of dimensions as input "
            f"({input.ndim}), got {idx.ndim}"
        )
    shape = input.shape if input.ndim else (1,)
    for d in range(idx.ndim):
        if d != dim and idx.shape[d] > shape[d]:
            raise ValueError(
                f"{op}: index size {idx.shape[d]} at dim {d} exceeds the input's size {shape[d]}"
            )
        if same_shape is not None and idx.shape[d] > same_shape[d]:
            raise ValueError(
                f"{op}: index size {idx.shape[d]} at dim {d} exceeds src's size {same_shape[d]}"
            )
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= shape[dim]):
        raise IndexError(f"{op}: index out of range [0, {shape[dim]}) for dim {dim}")
    return idx


class Gather(Function):
    @staticmethod
    def forward(ctx, a, dim, index):
        # one flat position per output entry: the forward is a take, the backward a bincount
        xp = get_array_module(a)
        ctx.shape, ctx.flat = a.shape, _flat_index(_along(index, dim), a.shape)
        return xp.take(a, ctx.flat)

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        z = xp.zeros(ctx.shape, g.dtype)
        _add_at(z.reshape(-1), (ctx.flat.reshape(-1),), g.reshape(-1))
        return z, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):  # the scatter-add as a recorded op (indexing's adjoint)
        key = get_array_module(ctx.flat).unravel_index(ctx.flat, ctx.shape)
        return IndexBackward.apply(g, (ctx.shape, g.dtype), key), None, None


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """``out[i][j] = input[index[i][j]][j]`` (dim 0); index has input's number of dims and no
    dim larger than input's except along ``dim``. The gradient adds back into the picked
    positions (repeats accumulate). ``sparse_grad`` is accepted for torch's signature; the
    gradient is always dense here."""
    input = _t(input)
    dim = _dim(dim, input.ndim, "gather")
    idx = _check_index(index, input, dim, "gather")
    if input.ndim == 0:
        return Index.apply(input, ())
    return Gather.apply(input, dim, idx)


class Scatter(Function):
    """scatter (``add=False``) or scatter_add of ``src`` (an array of index's shape, or a
    scalar) into a copy of ``a``."""

    @staticmethod
    def forward(ctx, a, dim, index, src, add):
        ctx.key, ctx.add = _along(index, dim), add
        ctx.src_shape = getattr(src, "shape", None)
        out = a.copy()
        if add:
            _add_at(out, ctx.key, src)
        else:
            out[ctx.key] = src
        return out

    @staticmethod
    def backward(ctx, g):
        ga = g
        if not ctx.add:
            ga = g.copy()
            ga[ctx.key] = 0
        gs = None
        if ctx.src_shape is not None:
            gs = g[ctx.key]  # src was cut to index's shape by _SrcPart
        return ga, None, None, gs, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        ga = g
        if not ctx.add:  # the overwritten positions: a fixed mask
            keep = get_array_module(g._data).ones(g.shape, g.dtype)
            keep[ctx.key] = 0
            ga = g * keep
        gs = Index.apply(g, ctx.key) if ctx.src_shape is not None else None
        return ga, None, None, gs, None


class _SrcPart(Function):
    """``src`` cut to index's shape (the part scatter reads), with its gradient padded back."""

    @staticmethod
    def forward(ctx, s, shape):
        ctx.shape = s.shape
        return s[tuple(slice(0, n) for n in shape)]

    @staticmethod
    def backward(ctx, g):
        z = get_array_module(g).zeros(ctx.shape, g.dtype)
        z[tuple(slice(0, n) for n in g.shape)] = g
        return z, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        key = tuple(slice(0, n) for n in g.shape)
        return IndexBackward.apply(g, (ctx.shape, g.dtype), key), None


_REDUCE = ("add", "multiply")


def _scatter(
    op: str,
    input: Tensor,
    dim: int,
    index: Tensor,
    src: Tensor | float | None,
    value: float | None,
    reduce: str | None,
    add: bool,
) -> Tensor:
    input = _t(input)
    dim = _dim(dim, input.ndim, op)
    if (src is None) == (value is None):
        raise TypeError(f"{op}: give exactly one of src (a tensor) and value (a scalar)")
    if src is not None and not isinstance(src, Tensor):  # torch: scatter(dim, index, 1.5)
        src, value = None, src
    idx = _check_index(index, input, dim, op, None if src is None else src.shape)
    if src is not None:
        if src.ndim != idx.ndim:
            raise ValueError(
                f"{op}: src must have the same number of dimensions as index "
                f"({idx.ndim}), got {src.ndim}"
            )
        if src.dtype != input.dtype:
            raise TypeError(f"{op}: src dtype {src.dtype} must match input dtype {input.dtype}")
        v = _SrcPart.apply(src, idx.shape) if src.shape != idx.shape else src
    else:
        if isinstance(value, Tensor):
            value = value.item()
        v = get_array_module(input._data).asarray(value, dtype=input.dtype)
    if reduce is not None:
        if reduce not in _REDUCE:
            raise ValueError(f"{op}: reduce must be one of {_REDUCE} or None, got {reduce!r}")
        if src is not None:  # torch deprecates reduce= with a tensor src, and says so
            warnings.warn(
                "The reduce argument of torch.scatter with Tensor src is deprecated and "
                "will be removed in a future PyTorch release. Use "
                "torch.scatter_reduce instead for more reduction options.",
                UserWarning,
                stacklevel=3,
            )
        out = input._data.copy()
        key = _along(idx, dim)
        vals = np.broadcast_to(_arr(v), idx.shape) if not is_cupy(out) else _arr(v)
        ufunc_at("add" if reduce == "add" else "multiply", out, key, vals)
        return _nograd(out)  # torch gives no gradient through reduce= either
    return Scatter.apply(input, dim, idx, v, add)


def scatter(
    input: Tensor,
    dim: int,
    index: Tensor,
    src: Tensor | float | None = None,
    value: float | None = None,
    *,
    reduce: str | None = None,
) -> Tensor:
    """A copy of input with ``out[index[i][j]][j] = src[i][j]`` (dim 0), or ``value`` written at
    those positions. ``reduce='add'|'multiply'`` combines instead of writing (no gradient, as
    in torch). Gradient: to input where nothing was written, to src at the read positions.
    Where an index repeats, which write wins is unspecified (as in torch)."""
    return _scatter("scatter", input, dim, index, src, value, reduce, False)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of input with ``out[index[i][j]][j] += src[i][j]`` (dim 0); repeats accumulate."""
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add: src must be a tensor, got {type(src).__name__}")
    return _scatter("scatter_add", input, dim, index, src, None, None, True)


class IndexSelect(Function):
    @staticmethod
    def forward(ctx, a, dim, index):
        ctx.shape, ctx.dim, ctx.index = a.shape, dim, index
        return get_array_module(a).take(a, index, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        z = xp.zeros(ctx.shape, g.dtype)
        _add_at(xp.moveaxis(z, ctx.dim, 0), ctx.index, xp.moveaxis(g, ctx.dim, 0))
        return z, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        key = (slice(None),) * ctx.dim + (ctx.index,)
        return IndexBackward.apply(g, (ctx.shape, g.dtype), key), None, None


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries of input at ``index`` (a 1-d integer tensor) along ``dim``."""
    input = _t(input)
    dim = _dim(dim, input.ndim, "index_select")
    idx = _arr(index)
    if not hasattr(idx, "dtype") or idx.dtype.kind not in "iu":
        raise TypeError(
            f"index_select: index must be an integer tensor, got "
            f"{getattr(idx, 'dtype', type(idx).__name__)}"
        )
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 0-d or 1-d, got {idx.ndim} dims")
    n = input.shape[dim] if input.ndim else 1
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise IndexError(f"index_select: index out of range [0, {n}) for dim {dim}")
    if input.ndim == 0:  # torch: a 0-d input gives a 0-d result
        if idx.size != 1:
            raise ValueError(f"index_select: a 0-d input takes one index, got {idx.size}")
        return Index.apply(input, ())
    return IndexSelect.apply(input, dim, idx.reshape(-1))


def narrow(input: Tensor, dim: int, start: int | Tensor, length: int) -> Tensor:
    """``input[..., start:start + length, ...]`` along ``dim`` (a view; negative start counts
    from the end)."""
    input = _t(input)
    if input.ndim == 0:
        raise ValueError("narrow: input must have at least 1 dimension")
    dim = _dim(dim, input.ndim, "narrow")
    start, length = int(_arr(start)), int(length)
    n = input.shape[dim]
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise IndexError(
            f"narrow: start ({start}) + length ({length}) must lie in [0, {n}] for dim {dim}"
        )
    key = (slice(None),) * dim + (slice(start, start + length),)
    return Index.apply(input, key)


def _order(a: Array, dim: int, descending: bool, stable: bool) -> Array:
    """Sorting indices of ``a`` along ``dim``; stable keeps equal values in input order (also
    when descending, as torch does). NaN sorts as the largest value, as in torch."""
    xp = get_array_module(a)
    if descending:
        # stable descending: sort the reversed array ascending-stable and mirror back
        n = a.shape[dim]
        r = xp.flip(a, dim)
        if a.dtype.kind == "b":
            r = r.astype(np.int8)
        idx = xp.argsort(r, axis=dim, kind="stable")
        return xp.flip(n - 1 - idx, dim)
    return xp.argsort(a, axis=dim, kind="stable" if stable else None)


def _sort_checks(input: Tensor, dim: int, op: str) -> tuple[Tensor, int]:
    input = _t(input)
    _real_only(op, input)
    return input, _dim(dim, input.ndim, op)


def _zero_index(input: Tensor) -> Tensor:
    """The index 0 of a 0-d input's only element, on the input's device."""
    return _nograd(get_array_module(input._data).zeros((), np.int64))


def sort(
    input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False
) -> _ValuesIndices:
    """``(values, indices)`` of input sorted along ``dim``. The gradient flows to the values'
    source positions."""
    input, dim = _sort_checks(input, dim, "sort")
    if input.ndim == 0:
        return return_types.sort(Index.apply(input, ()), _zero_index(input))
    idx = _order(input._data, dim, descending, stable).astype(np.int64)
    return return_types.sort(Gather.apply(input, dim, idx), _nograd(idx))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort input along ``dim`` (no gradient)."""
    return (
        sort(input, dim, descending, stable).indices if _t(input).ndim else _zero_index(_t(input))
    )


def topk(
    input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True
) -> _ValuesIndices:
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) entries along
    ``dim``. Always returned in sorted order (torch leaves the order unspecified when
    ``sorted=False``; sorted is a valid instance of that)."""
    input, dim = _sort_checks(input, dim, "topk")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"topk: k must be an int, got {k!r}")
    n = input.shape[dim] if input.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: k ({k}) must be in [0, {n}] (the size of dim {dim})")
    if input.ndim == 0:
        if k == 0:
            raise ValueError("topk: k must be 1 for a 0-d input")
        return return_types.topk(Index.apply(input, ()), _zero_index(input))
    idx = _topk_index(input._data, k, dim, largest)
    return return_types.topk(Gather.apply(input, dim, idx), _nograd(idx))


def _topk_index(a: Array, k: int, dim: int, largest: bool) -> Array:
    """Indices of the k largest (smallest) along ``dim`` in the order a stable descending
    (ascending) sort gives: ties keep input order, NaN counts as the largest value.

    argpartition finds k candidates in O(n); only those k are sorted. Where a row has a tie at
    the k-th value (argpartition may pick any of the equal entries) or NaN, the full stable
    sort decides instead, so the chosen entries are exactly the sort's first k."""
    xp = get_array_module(a)
    n = a.shape[dim]
    if 0 < k < n and a.dtype.kind in "iuf" and not (a.dtype.kind == "f" and xp.isnan(a).any()):
        cand = xp.argpartition(a, n - k if largest else k - 1, axis=dim)
        cand = xp.take(cand, xp.arange(n - k, n) if largest else xp.arange(k), axis=dim)
        cand = xp.sort(cand, axis=dim)  # input order, so the stable sort below keeps ties so
        vals = xp.take_along_axis(a, cand, axis=dim)
        kth = vals.min(axis=dim, keepdims=True) if largest else vals.max(axis=dim, keepdims=True)
        # exactly k entries at least as good as the k-th one: no tie crosses the cut
        better = (a >= kth) if largest else (a <= kth)
        if bool((better.sum(axis=dim) == k).all()):
            order = _order(vals, dim, largest, True)
            return xp.take_along_axis(cand, order, axis=dim).astype(np.int64)
    idx = _order(a, dim, largest, True).astype(np.int64)
    return xp.take(idx, xp.arange(k), axis=dim)
