"""Order statistics and NaN-aware reductions under torch's names: quantile, nanquantile, median,
nanmedian, kthvalue, cummax, cummin, aminmax, var_mean, std_mean, nanmean, nansum, nan_to_num,
histc, searchsorted, bucketize.

The order statistics find their positions without a gradient (a sort) and take their values
with ``gather``, so the gradient goes back to the chosen elements (quantile's two neighbours in
proportion to its interpolation weights). NaN sorts last, as in torch: ``quantile`` and
``median`` give NaN for a slice holding one, the ``nan`` forms skip them.
"""

from __future__ import annotations

import builtins as _b
from typing import Any, NamedTuple

import numpy as np

from .._backend import get_array_module
from .._typing import Array
from ..autograd import Function, Tensor
from ._helpers import _arr, _dim, _nograd, _o, _real_only, _t, _ValuesIndices
from .arithmetic import where
from .reductions import amax, amin, mean, std, sum, var
from .selection import gather


class kthvalue_t(_ValuesIndices):
    """``(values, indices)`` of kthvalue (torch.return_types.kthvalue)."""

    __slots__ = ()


class median_t(_ValuesIndices):
    """``(values, indices)`` of median/nanmedian along a dim."""

    __slots__ = ()


class cummax_t(_ValuesIndices):
    """``(values, indices)`` of cummax/cummin."""

    __slots__ = ()


class aminmax_t(NamedTuple):
    """``(min, max)`` of aminmax (torch.return_types.aminmax)."""

    min: Tensor
    max: Tensor


def _need_float(input: Tensor, op: str) -> None:
    if input.dtype.kind != "f":
        raise RuntimeError(
            f"{op}: input tensor must be either float or double dtype, got {input.dtype}"
        )


def _pick(input: Tensor, dim: int, pos: Array, keepdim: bool) -> tuple[Tensor, Tensor]:
    """The elements of ``input`` at sorted positions ``pos`` (one per slice along ``dim``, with
    keepdim's shape) and their indices in ``input``."""
    xp = get_array_module(input._data)
    order = xp.argsort(input._data, axis=dim, kind="stable")  # NaN last
    idx = xp.take_along_axis(order, pos, axis=dim)
    vals = gather(input, dim, Tensor._wrap(idx))
    if not keepdim:
        vals, idx = vals.squeeze(dim), idx.squeeze(dim)
    return vals, _nograd(idx.astype(np.int64))


def _nan_count(a: Array, dim: int) -> Array:
    return get_array_module(a).isnan(a).sum(axis=dim, keepdims=True)


def _flat_or(input: Tensor, dim: int | None, op: str) -> tuple[Tensor, int]:
    if dim is None:
        return input.reshape(-1), 0
    return input, _dim(dim, _b.max(input.ndim, 1), op)


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> kthvalue_t:
    """The ``k``-th smallest element (1-based) of each slice along ``dim`` and its index.
    Raises IndexError for k outside [1, size]."""
    input = _t(input)
    _real_only("kthvalue", input)
    x = input if input.ndim else input.reshape(1)
    d = _dim(dim, x.ndim, "kthvalue")
    n = x.shape[d]
    if not 1 <= k <= n:
        raise IndexError(
            f"kthvalue: selected number k out of range for dimension {d} (size {n}), got {k}"
        )
    xp = get_array_module(x._data)
    shape = list(x.shape)
    shape[d] = 1
    v, i = _pick(x, d, xp.full(shape, k - 1, np.int64), keepdim or not input.ndim)
    if not input.ndim:
        v, i = v.reshape(()), i.reshape(())
    return kthvalue_t(v, i)


def _median(input: Tensor, dim: int | None, keepdim: bool, skip_nan: bool, op: str) -> Any:
    input = _t(input)
    _real_only(op, input)
    if input.numel() == 0:
        raise IndexError(f"{op}: cannot compute the median of an empty tensor")
    x, d = _flat_or(input if input.ndim else input.reshape(1), dim, op)
    xp = get_array_module(x._data)
    n = x.shape[d]
    nans = _nan_count(x._data, d)
    valid = n - nans
    if skip_nan:  # the lower median of the valid values; all NaN: the first NaN
        pos = xp.maximum(valid - 1, 0) // 2
    else:  # a slice with a NaN gives a NaN (the first one in sorted order)
        pos = xp.where(nans > 0, valid, (n - 1) // 2)
    v, i = _pick(x, d, pos.astype(np.int64), keepdim and dim is not None)
    if dim is None:
        return v.reshape(())
    if not input.ndim:
        v, i = v.reshape(()), i.reshape(())
    return median_t(v, i)


def median(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The lower median (of an even count, the smaller of the two middle values): of all
    elements (a 0-d tensor), or of each slice along ``dim`` with its index. A slice holding NaN
    gives NaN, as torch."""
    return _median(input, dim, keepdim, False, "median")


def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """median ignoring NaN (NaN only where a slice is all NaN)."""
    return _median(input, dim, keepdim, True, "nanmedian")


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(
    input: Tensor,
    q: Any,
    dim: int | None,
    keepdim: bool,
    interpolation: str,
    skip_nan: bool,
    op: str,
) -> Tensor:
    input = _t(input)
    _real_only(op, input)
    _need_float(input, op)
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f"{op}: interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}"
        )
    if input.numel() == 0:
        raise RuntimeError(f"{op}: input tensor must be non-empty")
    xp = get_array_module(input._data)
    scalar_q = not isinstance(q, Tensor) or q.ndim == 0
    if isinstance(q, Tensor):
        if q.dtype != input.dtype:
            raise RuntimeError(
                f"{op}: q tensor must be same dtype as the input tensor, got {q.dtype}"
            )
        if q.ndim > 1:
            raise RuntimeError(f"{op}: q must be a scalar or 1D tensor, got {q.ndim} dims")
        qa = xp.asarray(_arr(q), dtype=np.float64).reshape(-1)
    else:
        qa = xp.asarray([float(q)], dtype=np.float64)
    if qa.size and (bool((qa < 0).any()) or bool((qa > 1).any())):
        raise RuntimeError(f"{op}: q values must be in the range [0, 1]")
    x, d = _flat_or(input if input.ndim else input.reshape(1), dim, op)
    x = x.movedim(d, -1)  # slices along the last dim
    n = x.shape[-1]
    srt_idx = xp.argsort(x._data, axis=-1, kind="stable")
    nans = _nan_count(x._data, -1)  # (..., 1)
    valid = n - nans
    qs = qa.reshape((-1,) + (1,) * x.ndim)  # (Q, 1, ..., 1)
    if skip_nan:
        ranks = qs * xp.maximum(valid - 1, 0)
    else:
        ranks = xp.where(nans > 0, n - 1, qs * (n - 1))
    ranks = xp.broadcast_to(ranks, (qa.size,) + x.shape[:-1] + (1,))
    lo, hi = xp.floor(ranks), xp.ceil(ranks)
    if interpolation == "lower":
        hi = lo
    elif interpolation == "higher":
        lo = hi
    elif interpolation == "nearest":
        lo = hi = xp.round(ranks)  # half to even, as torch
    big = x.unsqueeze(0).expand((qa.size,) + tuple(x.shape))
    full_idx = xp.broadcast_to(srt_idx, big.shape)

    def at(r: Array) -> Tensor:
        pos = xp.take_along_axis(full_idx, r.astype(np.int64), axis=-1)
        return gather(big, -1, Tensor._wrap(pos))

    vlo = at(lo)
    if interpolation in ("lower", "higher", "nearest"):
        out = vlo
    else:
        vhi = at(hi)
        w = 0.5 if interpolation == "midpoint" else (ranks - lo).astype(input.dtype)
        out = vlo + (vhi - vlo) * (w if isinstance(w, float) else Tensor._wrap(w))
    out = out.squeeze(-1)  # (Q, ...)
    if skip_nan:  # an all-NaN slice gives NaN
        out = where(Tensor._wrap(xp.broadcast_to(nans[..., 0] == n, out.shape)), float("nan"), out)
    if keepdim:
        if dim is None:
            out = out.reshape((qa.size,) + (1,) * input.ndim)
        else:
            out = out.unsqueeze(d + 1)
    return out.squeeze(0) if scalar_q else out


def quantile(
    input: Tensor,
    q: float | Tensor,
    dim: int | None = None,
    keepdim: bool = False,
    *,
    interpolation: str = "linear",
) -> Tensor:
    """The ``q``-th quantiles (q a number or a 1-d tensor in [0, 1]; a 1-d q adds a leading
    dim) of all elements or along ``dim``; ``interpolation`` between the two nearest ranks is
    'linear', 'lower', 'higher', 'midpoint' or 'nearest', as torch. A slice with NaN gives NaN.
    Raises RuntimeError for a non-float input, q out of range or of another dtype."""
    return _quantile(input, q, dim, keepdim, interpolation, False, "quantile")


def nanquantile(
    input: Tensor,
    q: float | Tensor,
    dim: int | None = None,
    keepdim: bool = False,
    *,
    interpolation: str = "linear",
) -> Tensor:
    """quantile ignoring NaN (NaN only where a slice is all NaN)."""
    return _quantile(input, q, dim, keepdim, interpolation, True, "nanquantile")


def _cumulative(input: Tensor, dim: int, largest: bool, op: str) -> cummax_t:
    input = _t(input)
    x = input if input.ndim else input.reshape(1)
    d = _dim(dim, x.ndim, op)
    xp = get_array_module(x._data)
    a = xp.moveaxis(x._data, d, -1)
    n = a.shape[-1]
    idx = xp.zeros(a.shape, np.int64)
    best = a[..., 0].copy()
    bi = xp.zeros(a.shape[:-1], np.int64)
    for j in range(n):  # torch keeps the last index of a tie, and a NaN once met
        v = a[..., j]
        take = (v >= best) if largest else (v <= best)
        if a.dtype.kind == "f":  # a NaN counts as the extreme, and stays once met
            take = xp.isnan(v) | (~xp.isnan(best) & take)
        best = xp.where(take, v, best)
        bi = xp.where(take, j, bi)
        idx[..., j] = bi
    idx = xp.moveaxis(idx, -1, d)
    vals = (
        gather(x, d, Tensor._wrap(idx))
        if x.dtype.kind in "fc"
        else _nograd(xp.take_along_axis(x._data, idx, d))
    )
    if not input.ndim:
        return cummax_t(vals.reshape(()), _nograd(idx.reshape(())))
    return cummax_t(vals, _nograd(idx))


def cummax(input: Tensor, dim: int) -> cummax_t:
    """Running maximum along ``dim`` and the index where it was reached (the last one for
    ties, as torch); the gradient goes to those elements."""
    _real_only("cummax", input)
    return _cumulative(input, dim, True, "cummax")


def cummin(input: Tensor, dim: int) -> cummax_t:
    """Running minimum along ``dim`` and its index (see cummax)."""
    _real_only("cummin", input)
    return _cumulative(input, dim, False, "cummin")


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False) -> aminmax_t:
    """``(min, max)`` of all elements or along ``dim``."""
    input = _t(input)
    _real_only("aminmax", input)
    if input.numel() == 0:
        raise RuntimeError("aminmax: cannot compute on an empty tensor")
    if dim is None:
        lo, hi = amin(input), amax(input)
        if keepdim:
            lo, hi = lo.reshape((1,) * input.ndim), hi.reshape((1,) * input.ndim)
        return aminmax_t(lo, hi)
    return aminmax_t(amin(input, dim, keepdim), amax(input, dim, keepdim))


def var_mean(
    input: Tensor,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> tuple[Tensor, Tensor]:
    """``(var(input, ...), mean(input, ...))`` over the same dims (torch.var_mean)."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    v = var(input, dim, unbiased, keepdim, correction=correction)
    m = mean(input, dim, keepdim) if dim is not None else mean(input).reshape(v.shape)
    return v, m


def std_mean(
    input: Tensor,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
) -> tuple[Tensor, Tensor]:
    """``(std(input, ...), mean(input, ...))`` over the same dims (torch.std_mean)."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    s = std(input, dim, unbiased, keepdim, correction=correction)
    m = mean(input, dim, keepdim) if dim is not None else mean(input).reshape(s.shape)
    return s, m


def nansum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """sum treating NaN as zero (NaN entries get no gradient)."""
    input = _t(input)
    if input.dtype.kind != "f":
        return sum(input, dim, keepdim, dtype=dtype) if dim is not None else sum(input, dtype=dtype)
    xp = get_array_module(input._data)
    clean = where(Tensor._wrap(xp.isnan(input._data)), 0.0, input)
    return sum(clean, dim, keepdim, dtype=dtype) if dim is not None else sum(clean, dtype=dtype)


def nanmean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """mean of the non-NaN entries (NaN where a slice is all NaN). Raises RuntimeError for a
    non-float input, as torch."""
    input = _t(input)
    _need_float(input, "nanmean")
    xp = get_array_module(input._data)
    keep = ~xp.isnan(input._data)
    axes = None if dim is None else dim
    count = keep.sum(
        axis=tuple(axes) if isinstance(axes, (list, tuple)) else axes, keepdims=keepdim
    )
    total = nansum(input, dim, keepdim, dtype=dtype)
    return total / Tensor._wrap(xp.asarray(count, dtype=total.dtype))


class NanToNum(Function):
    @staticmethod
    def forward(ctx, a, nan, posinf, neginf):
        xp = get_array_module(a)
        info = np.finfo(a.dtype) if a.dtype.kind == "f" else None
        hi = info.max if posinf is None else posinf
        lo = info.min if neginf is None else neginf
        ctx.finite = xp.isfinite(a)
        return _o(xp.nan_to_num(a, copy=True, nan=nan, posinf=hi, neginf=lo))

    @staticmethod
    def backward(ctx, g):
        return g * ctx.finite, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g * Tensor._wrap(ctx.finite.astype(g.dtype)), None, None, None


def nan_to_num(
    input: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Tensor:
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default the
    dtype's largest and lowest finite values); the replaced entries get no gradient. Integer
    tensors come back as a copy."""
    input = _t(input)
    if input.dtype.kind != "f":
        return input.clone()
    return NanToNum.apply(input, nan, posinf, neginf)


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """Counts of the elements in ``bins`` equal-width bins over [min, max] (min = max = 0: the
    data's range; the last bin includes max; elements outside are ignored), in input's float
    dtype. Raises RuntimeError for bins < 1, min > max or a non-float input."""
    input = _t(input)
    if input.dtype.kind != "f":
        raise RuntimeError(f"histc: input must be a floating point tensor, got {input.dtype}")
    if bins < 1:
        raise RuntimeError(f"histc: bins must be > 0, got {bins}")
    xp = get_array_module(input._data)
    a = input._data.reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and a.size:
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"histc: max must be larger than min, got min {min} and max {max}")
    counts, _ = xp.histogram(a[~xp.isnan(a)], bins=bins, range=(lo, hi))
    return _nograd(counts.astype(input.dtype))


def searchsorted(
    sorted_sequence: Tensor,
    input: Tensor | float,
    *,
    out_int32: bool = False,
    right: bool = False,
    side: str | None = None,
    sorter: Tensor | None = None,
) -> Tensor:
    """Indices where ``input``'s values would go in the sorted innermost dim of
    ``sorted_sequence`` (a 1-d sequence for any input, or one row per leading index of input);
    ``right``/``side='right'`` place equal values after. Raises RuntimeError for mismatched
    leading dims or conflicting right/side."""
    seq = _arr(_t(sorted_sequence))
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise RuntimeError("searchsorted: side and right can't be set to opposites")
        right = side == "right"
    xp = get_array_module(seq)
    if sorter is not None:
        seq = xp.take_along_axis(seq, _arr(sorter), axis=-1)
    scalar = not isinstance(input, Tensor)
    vals = xp.asarray(_arr(input) if not scalar else input)
    how = "right" if right else "left"
    if seq.ndim == 1:
        out = xp.searchsorted(seq, vals, side=how)
    else:
        if vals.shape[:-1] != seq.shape[:-1]:
            raise RuntimeError(
                "searchsorted: boundaries and input should have the same leading dims, got "
                f"{tuple(seq.shape)} and {tuple(vals.shape)}"
            )
        rows_s = seq.reshape(-1, seq.shape[-1])
        rows_v = vals.reshape(-1, vals.shape[-1])
        out = xp.stack([xp.searchsorted(s, v, side=how) for s, v in zip(rows_s, rows_v)]).reshape(
            vals.shape
        )
    return _nograd(xp.asarray(out, dtype=np.int32 if out_int32 else np.int64))


def bucketize(
    input: Tensor | float, boundaries: Tensor, *, out_int32: bool = False, right: bool = False
) -> Tensor:
    """The bucket of each value for the sorted 1-d ``boundaries``: i with
    ``boundaries[i-1] < x <= boundaries[i]`` (``right=True``: ``boundaries[i-1] <= x <
    boundaries[i]``), as torch. Raises RuntimeError for boundaries that are not 1-d."""
    b = _arr(_t(boundaries))
    if b.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries tensor must be 1 dimension, got {b.ndim}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)
