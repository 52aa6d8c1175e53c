"""Norms: vector_norm, matrix_norm and norm (which picks one of them), as torch.linalg's.

Built from differentiable ops (the p-norm Function of ``pydlk.norm``, abs, sum, amax/amin,
svdvals), so their gradients, and second derivatives where those ops have them, follow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..autograd import Tensor
from ..ops._helpers import _dim
from ..ops.conversions import to
from ..ops.reductions import Norm, amax, amin
from ..ops.shape import movedim
from ._common import _check_float, _tensor
from ._factor import svdvals


def _cast(op: str, x: Any, dtype: Any) -> Tensor:
    x = _tensor(x)
    if dtype is not None:
        x = to(x, dtype)
    _check_float(op, x, "input")
    return x


def vector_norm(
    x: Tensor,
    ord: float = 2,
    dim: int | Sequence[int] | None = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
    out: None = None,
) -> Tensor:
    """The vector ``ord``-norm of ``x`` over ``dim`` (None: all elements, whatever the shape),
    as torch.linalg.vector_norm: (sum |x|^ord)^(1/ord), inf: max |x|, -inf: min |x|, 0: the
    number of nonzeros. ``dtype`` converts ``x`` first. Raises TypeError for a string ``ord``
    (use ``matrix_norm`` for 'fro' and 'nuc')."""
    op = "linalg.vector_norm"
    if isinstance(ord, str) or isinstance(ord, bool):
        raise TypeError(f"{op}: ord must be a number, got {ord!r}")
    if out is not None:
        raise TypeError(f"{op}: out= is not supported")
    x = _cast(op, x, dtype)
    return Norm.apply(x, float(ord), dim, keepdim)


def _two_dims(op: str, dim: Any, ndim: int) -> tuple[int, int]:
    try:
        d = tuple(dim)
    except TypeError:
        d = (dim,)
    if len(d) != 2:
        raise ValueError(f"{op}: dim must be a 2-tuple. Got {' '.join(map(str, d))}")
    d0, d1 = _dim(d[0], ndim, op), _dim(d[1], ndim, op)
    if d0 == d1:
        raise ValueError(f"{op}: dims must be different. Got ({d[0]}, {d[1]})")
    return d0, d1


def matrix_norm(
    A: Tensor,
    ord: float | str = "fro",
    dim: tuple[int, int] = (-2, -1),
    keepdim: bool = False,
    *,
    dtype: Any = None,
    out: None = None,
) -> Tensor:
    """The matrix ``ord``-norm over the two dims ``dim``, as torch.linalg.matrix_norm: 'fro'
    (sqrt of the sum of squares), 'nuc' (sum of singular values), inf / -inf (max / min
    absolute row sum), 1 / -1 (max / min absolute column sum), 2 / -2 (largest / smallest
    singular value). Raises ValueError for another ``ord`` or fewer than 2 dims."""
    op = "linalg.matrix_norm"
    if out is not None:
        raise TypeError(f"{op}: out= is not supported")
    A = _cast(op, A, dtype)
    if A.ndim < 2:
        raise ValueError(f"{op}: The input tensor A must have at least 2 dimensions.")
    d0, d1 = _two_dims(op, dim, A.ndim)
    if ord == "fro":
        return Norm.apply(A, 2.0, (d0, d1), keepdim)
    if ord == "nuc" or ord in (2, -2):
        s = svdvals(movedim(A, (d0, d1), (-2, -1)))
        r = s.sum(-1) if ord == "nuc" else (amax(s, -1) if ord == 2 else amin(s, -1))
        if keepdim:
            for d in sorted((d0, d1)):
                r = r.unsqueeze(d)
        return r
    if ord in (math.inf, -math.inf, 1, -1) and not isinstance(ord, (bool, str)):
        # inf: the absolute row sums (summed over the column dim d1), largest; 1: columns
        sum_dim, red_dim = (d1, d0) if ord in (math.inf, -math.inf) else (d0, d1)
        red = amax if ord > 0 else amin
        r = red(A.abs().sum(sum_dim, keepdim=True), red_dim, keepdim=True)
        return r if keepdim else r.squeeze((d0, d1))
    raise ValueError(f"{op}: Order {ord} not supported.")


def norm(
    A: Tensor,
    ord: float | str | None = None,
    dim: int | Sequence[int] | None = None,
    keepdim: bool = False,
    *,
    out: None = None,
    dtype: Any = None,
) -> Tensor:
    """A vector or matrix norm, as torch.linalg.norm: with ``dim`` an int (or 1-tuple) the
    vector norm, a 2-tuple the matrix norm; without ``dim``, the 2-norm of all elements when
    ``ord`` is None, else the vector norm of a 1-D input or the matrix norm of a 2-D one
    (ValueError for other inputs)."""
    op = "linalg.norm"
    if out is not None:
        raise TypeError(f"{op}: out= is not supported")
    A = _tensor(A)
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dims) == 1:
            return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)  # type: ignore[arg-type]
        if len(dims) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        raise ValueError(f"{op}: If dim is specified, it must be of length 1 or 2. Got {dims}")
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim == 1:
        return vector_norm(A, ord, None, keepdim, dtype=dtype)  # type: ignore[arg-type]
    if A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    raise ValueError(
        f"{op}: If dim is not specified but ord is, the input must be 1D or 2D. Got {A.ndim}D."
    )
