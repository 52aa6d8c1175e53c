"""Diagonals: diagonal, diag, trace, Tensor.fill_diagonal_.

``diagonal`` gathers the elements of one diagonal of two dims; its backward scatters the
gradient back onto that diagonal of zeros, and the two are each other's backward (so
gradients of any order). Outside the graph (grad mode off, or an input that does not require
grad) ``diagonal`` returns a view, as torch's: ``K.diagonal().add_(eps)`` and
``w.diagonal().fill_(1)`` write into the input. Differs from torch: of a tensor that requires
grad, with grad mode on, it returns a copy (writing into it leaves the input unchanged).
"""

from __future__ import annotations

import builtins as _b

import numpy as np

from .._backend import get_array_module
from .._grad_mode import is_grad_enabled
from ..autograd import Function, Tensor
from ._helpers import _dim, _o, _t
from .indexing import _put


def _diag_index(shape, offset, dim1, dim2):
    """The rows and columns of the ``offset`` diagonal of dims (dim1, dim2) of ``shape``."""
    n1, n2 = shape[dim1], shape[dim2]
    n = _b.max(0, _b.min(n1 + _b.min(offset, 0), n2 - _b.max(offset, 0)))
    return n, _b.max(-offset, 0), _b.max(offset, 0)


def _scatter_diag(g, shape, offset, dim1, dim2):
    """A zero array of ``shape`` with ``g`` (batch dims, then the diagonal) on the diagonal."""
    xp = get_array_module(g)
    out = xp.zeros(shape, g.dtype)
    n, r0, c0 = _diag_index(shape, offset, dim1, dim2)
    if n:
        i = xp.arange(n)
        xp.moveaxis(out, (dim1, dim2), (-2, -1))[..., i + r0, i + c0] = g
    return out


class Diagonal(Function):
    """The ``offset`` diagonal of dims (dim1, dim2), appended as the last dim."""

    @staticmethod
    def forward(ctx, a, offset, dim1, dim2):
        ctx.meta = (a.shape, offset, dim1, dim2)
        return _o(get_array_module(a).diagonal(a, offset, dim1, dim2).copy())

    @staticmethod
    def backward(ctx, g):
        return _scatter_diag(g, *ctx.meta), None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return DiagonalScatter.apply(g, *ctx.meta), None, None, None


class DiagonalScatter(Function):
    """``g`` placed on the ``offset`` diagonal of dims (dim1, dim2) of zeros of ``shape``."""

    @staticmethod
    def forward(ctx, g, shape, offset, dim1, dim2):
        ctx.meta = (offset, dim1, dim2)
        return _scatter_diag(g, shape, offset, dim1, dim2)

    @staticmethod
    def backward(ctx, gy):
        offset, dim1, dim2 = ctx.meta
        xp = get_array_module(gy)
        return _o(xp.diagonal(gy, offset, dim1, dim2).copy()), None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, gy):
        return Diagonal.apply(gy, *ctx.meta), None, None, None, None


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The ``offset`` diagonal (0: the main one, > 0 above it, < 0 below) of the 2-D slices
    spanned by ``dim1`` and ``dim2``, appended as the last dim: a view outside the graph, a
    copy of a tensor that requires grad (module docstring).

    Raises ValueError for dim1 == dim2 and IndexError for a dim out of range.
    """
    input = _t(input)
    if input.ndim < 2:
        raise ValueError(f"diagonal: input must have at least 2 dimensions, got {input.ndim}")
    d1, d2 = _dim(dim1, input.ndim, "diagonal"), _dim(dim2, input.ndim, "diagonal")
    if d1 == d2:
        raise ValueError(f"diagonal: dim1 and dim2 must differ, got {dim1} and {dim2}")
    if not (input.requires_grad and is_grad_enabled()):
        return Tensor._wrap(_diagonal_view(input._data, int(offset), d1, d2))
    return Diagonal.apply(input, int(offset), d1, d2)


def _diagonal_view(a, offset, d1, d2):
    """A writable view of the ``offset`` diagonal of dims (d1, d2) of ``a`` (NumPy's
    ``diagonal`` is a read-only view; CuPy's is writable already)."""
    xp = get_array_module(a)
    d = xp.diagonal(a, offset, d1, d2)
    if xp is not np:
        return d
    if d.size == 0:
        return d.copy()
    start = [0] * a.ndim
    start[d1], start[d2] = _b.max(-offset, 0), _b.max(offset, 0)
    first = a[tuple(slice(s, None) for s in start)]  # a view starting at the first element
    return np.lib.stride_tricks.as_strided(first, d.shape, d.strides, writeable=a.flags.writeable)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """Of a 1-D input: the square matrix with input on its ``diagonal`` (0: the main one,
    > 0 above, < 0 below) and zeros elsewhere. Of a 2-D input: that diagonal, 1-D.

    Raises ValueError for input of other dimensions.
    """
    input = _t(input)
    k = int(diagonal)
    if input.ndim == 2:
        return Diagonal.apply(input, k, 0, 1)
    if input.ndim == 1:
        n = input.shape[0] + _b.abs(k)
        return DiagonalScatter.apply(input, (n, n), k, 0, 1)
    raise ValueError(f"diag: input must be 1-D or 2-D, got {input.ndim} dimensions")


def trace(input: Tensor) -> Tensor:
    """The sum of the main diagonal of a 2-D input (a 0-d tensor; int64 for integer input).

    Raises ValueError for input that is not 2-D.
    """
    input = _t(input)
    if input.ndim != 2:
        raise ValueError(f"trace: input must be 2-D, got {input.ndim} dimensions")
    return Diagonal.apply(input, 0, 0, 1).sum()


def _fill_diagonal_(self: Tensor, fill_value: float, wrap: bool = False) -> Tensor:
    """Tensor.fill_diagonal_: ``fill_value`` on the main diagonal (all indices equal), in
    place. A tall 2-d matrix with ``wrap=True`` restarts the diagonal every ``cols + 1`` rows,
    as torch (and NumPy's fill_diagonal). Recorded when this tensor requires grad (the diagonal
    gets no gradient). Raises RuntimeError for fewer than 2 dims, or unequal dims beyond 2."""
    shape = tuple(self.shape)
    if len(shape) < 2:
        raise RuntimeError(f"fill_diagonal_: dimensions must larger than 1, got {len(shape)}")
    if len(shape) > 2 and _b.any(n != shape[0] for n in shape):
        raise RuntimeError(
            f"fill_diagonal_: all dimensions of input must be of equal length, got {shape}"
        )
    if isinstance(fill_value, Tensor):
        raise TypeError("fill_diagonal_: fill_value must be a number")
    xp = get_array_module(self._data)
    if len(shape) == 2:
        rows, cols = shape
        stop = rows * cols if wrap and rows > cols + 1 else _b.min(rows, cols) * cols
        flat = xp.arange(0, stop, cols + 1)
    else:
        step = _b.sum(shape[0] ** k for k in range(len(shape)))
        flat = xp.arange(0, shape[0] ** len(shape), step)
    key = xp.unravel_index(flat, shape)
    return _put(self, "fill_diagonal_", tuple(key), fill_value)
