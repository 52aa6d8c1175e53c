"""Ops whose output size depends on the values: nonzero, argwhere, bincount, unique, under torch's
names, argument names and defaults.

They run with ``xp`` (NumPy or CuPy) on the input's device. The output's length is known only
once the values are, so on a GPU each waits for the device (as torch's CUDA versions do): a
boolean mask, a ``bincount`` or a validity check reads back a count. Only ``bincount``'s
weights carry a gradient; indices, counts and ``unique``'s values carry none (torch cannot
differentiate ``unique`` either).
"""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np

from .._backend import get_array_module
from .._typing import Array
from ..autograd import Function, Tensor
from ._helpers import _arr, _dim, _nograd, _t


@overload
def nonzero(input: Tensor, *, as_tuple: Literal[False] = False) -> Tensor: ...
@overload
def nonzero(input: Tensor, *, as_tuple: Literal[True]) -> tuple[Tensor, ...]: ...
def nonzero(input: Tensor, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
    """The indices of the nonzero (True) entries of ``input``, in C (row-major) order.

    ``as_tuple=False``: an int64 tensor of shape (N, input.ndim), one row per entry (a 0-d
    input gives (1, 0) or (0, 0)). ``as_tuple=True``: one 1-d int64 tensor per dimension, as
    ``numpy.nonzero`` (a 0-d input counts as 1-d). No gradient.
    """
    a = _arr(_t(input))
    xp = get_array_module(a)
    if as_tuple:
        flat = a.reshape(1) if a.ndim == 0 else a
        return tuple(_nograd(i.astype(np.int64, copy=False)) for i in xp.nonzero(flat))
    if a.ndim == 0:  # torch: (1, 0) when the scalar is nonzero, else (0, 0)
        return _nograd(xp.argwhere(a.reshape(1))[:, :0].astype(np.int64, copy=False))
    return _nograd(xp.argwhere(a).astype(np.int64, copy=False))


def argwhere(input: Tensor) -> Tensor:
    """``nonzero(input)``: the (N, input.ndim) int64 indices of the nonzero entries."""
    return nonzero(input)


def _bincount(idx: Array, weights: Array | None, minlength: int) -> Array:
    """``xp.bincount``, also of an empty ``idx`` (CuPy's takes the max of its input first)."""
    xp = get_array_module(idx)
    if idx.size == 0:
        return xp.zeros(minlength, np.int64 if weights is None else np.float64)
    return xp.bincount(idx, weights=weights, minlength=minlength)


class BinCount(Function):
    """Weighted bincount; the gradient of a weight is the upstream gradient of its bin."""

    @staticmethod
    def forward(ctx, idx, weights, minlength):
        ctx.idx, ctx.dtype = idx, weights.dtype
        # float32 and float64 weights keep their dtype, others count in float64 (torch's rule)
        dtype = weights.dtype if weights.dtype in (np.float32, np.float64) else np.float64
        w = weights.astype(np.float64, copy=False)
        return _bincount(idx, w, minlength).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return None, g[ctx.idx].astype(ctx.dtype, copy=False), None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        # linear in g: a gather of the bins, whose adjoint is this bincount again
        from ..functional._adjoint import LinearMap

        idx, n = ctx.idx, g.shape[0]
        gw = LinearMap.apply(
            g, lambda v: v[idx], lambda v: _bincount(idx, v, n).astype(v.dtype, copy=False)
        )
        return None, (gw if gw.dtype == ctx.dtype else gw.to(ctx.dtype)), None


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """The number of times each value ``0 .. max(input)`` occurs in the 1-d non-negative integer
    tensor ``input``: an int64 tensor of length ``max(max(input) + 1, minlength)``.

    With ``weights`` (1-d, input's length) each occurrence adds its weight instead: the result
    has the weights' dtype when that is float32 or float64, else float64 (torch's rule), and
    is differentiable in the weights (torch refuses that backward). An empty ``input`` gives
    ``minlength`` int64 zeros, with or without weights, as torch.
    """
    op = "bincount"
    a = _arr(_t(input))
    if a.dtype.kind not in "iu" or a.ndim != 1:
        raise ValueError(
            f"{op}: input must be a 1-d tensor of non-negative integers, got {a.ndim}-d {a.dtype}"
        )
    if isinstance(minlength, bool) or not isinstance(minlength, (int, np.integer)):
        raise TypeError(f"{op}: minlength must be an int, got {minlength!r}")
    if minlength < 0:
        raise ValueError(f"{op}: minlength must be >= 0, got {minlength}")
    if a.size and bool(a.min() < 0):  # one read-back, as torch's check
        raise ValueError(f"{op}: input must be non-negative, got a minimum of {int(a.min())}")
    idx = a.astype(np.int64, copy=False)
    if weights is None or a.size == 0:
        if weights is not None:
            _check_weights(weights, a, op)
        return _nograd(_bincount(idx, None, int(minlength)).astype(np.int64, copy=False))
    _check_weights(weights, a, op)
    return BinCount.apply(idx, weights, int(minlength))


def _check_weights(weights: Any, a: Array, op: str) -> Array:
    w = _arr(weights)
    if not hasattr(w, "dtype") or w.dtype.kind not in "biuf":
        raise TypeError(f"{op}: weights must be a real tensor, got {getattr(w, 'dtype', w)!r}")
    if w.shape != a.shape:
        raise ValueError(
            f"{op}: weights must be 1-d and have the input's length {a.shape[0]}, got shape "
            f"{tuple(w.shape)}"
        )
    return w


def _runs(s: Array) -> Array:
    """True where a sorted 1-d array (or the sorted rows of a 2-d one) starts a new value; NaN
    differs from everything, itself included, as in torch."""
    xp = get_array_module(s)
    new = xp.ones(s.shape[0], dtype=bool)
    if s.shape[0] > 1:
        diff = s[1:] != s[:-1]
        new[1:] = diff if diff.ndim == 1 else diff.any(axis=1)
    return new


def _unique_parts(
    sorted_vals: Array, order: Array, return_inverse: bool, return_counts: bool
) -> tuple[Array, Array | None, Array | None]:
    """Values, inverse and counts from values sorted along axis 0 and the sorting order."""
    xp = get_array_module(sorted_vals)
    new = _runs(sorted_vals)
    group = xp.cumsum(new) - 1  # the group of each sorted entry
    vals = sorted_vals[new]
    inv = counts = None
    if return_inverse:
        inv = xp.empty(order.shape, np.int64)
        inv[order] = group
    if return_counts:
        counts = _bincount(group, None, vals.shape[0]).astype(np.int64, copy=False)
    return vals, inv, counts


def unique(
    input: Tensor,
    sorted: bool = True,
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: int | None = None,
) -> Tensor | tuple[Tensor, ...]:
    """The distinct values of ``input`` in ascending order (``dim=None``: of all its entries, a
    1-d tensor), or its distinct slices along ``dim`` in lexicographic order.

    ``return_inverse`` adds the int64 index of each entry's value in the output (input's shape;
    with ``dim``, one per slice), ``return_counts`` the int64 count of each value; the result is
    then a tuple ``(output[, inverse][, counts])``, as torch. NaNs are all distinct and sort
    last, as torch's. ``sorted=False`` also returns sorted values (torch leaves that order
    open). No gradient (torch has none either).
    """
    op = "unique"
    a = _arr(_t(input))
    xp = get_array_module(a)
    if dim is None:  # the array module's own (a plain sort, no stable argsort), NaNs distinct
        got = xp.unique(
            a.reshape(-1),
            return_inverse=return_inverse,
            return_counts=return_counts,
            equal_nan=False,
        )
        vals, rest = (got[0], list(got[1:])) if isinstance(got, tuple) else (got, [])
        inv = rest.pop(0).reshape(a.shape).astype(np.int64, copy=False) if return_inverse else None
        counts = rest.pop(0).astype(np.int64, copy=False) if return_counts else None
    else:
        if a.ndim == 0:
            raise IndexError(f"{op}: dim {dim} was given, but the input is 0-d (no dimensions)")
        d = _dim(dim, a.ndim, op)
        if any(n == 0 for i, n in enumerate(a.shape) if i != d):
            raise ValueError(
                f"{op}: input of shape {tuple(a.shape)} has 0-sized dimensions other than dim "
                f"{d}, so its slices along dim {d} cannot be compared"
            )
        m = xp.moveaxis(a, d, 0)
        rows = m.reshape(m.shape[0], int(np.prod(m.shape[1:], dtype=np.int64)))
        keys = rows.astype(np.uint8) if rows.dtype.kind == "b" else rows
        # lexsort's last key is the primary one: the first column
        order = xp.lexsort(xp.flip(keys.T, 0)) if rows.shape[0] else xp.zeros(0, np.int64)
        vals, inv, counts = _unique_parts(rows[order], order, return_inverse, return_counts)
        vals = xp.ascontiguousarray(xp.moveaxis(vals.reshape((-1,) + m.shape[1:]), 0, d))
    out = [_nograd(vals)]
    if inv is not None:
        out.append(_nograd(inv))
    if counts is not None:
        out.append(_nograd(counts))
    return out[0] if len(out) == 1 else tuple(out)
