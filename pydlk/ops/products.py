"""Matrix products: matmul, mm, bmm, mv, dot, outer, t."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import get_array_module
from ..autograd import Function, Tensor
from ._helpers import _arr, _fit, _fit_t, _o, _shape, _t, _val
from .arithmetic import Mul
from .shape import reshape


class MatMul(Function):
    """``a @ b`` with NumPy's (and torch's) matmul rules: 1-D operands, batched broadcasting."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _o(a @ b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = get_array_module(g)
        a2 = a[None, :] if a.ndim == 1 else a  # (.., n, k)
        b2 = b[:, None] if b.ndim == 1 else b  # (.., k, m)
        g2 = g  # back to (.., n, m)
        if b.ndim == 1:
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = g2[..., None, :]
        da = db = None
        if ctx.needs_input_grad[0]:  # dA = dY B^T
            da = _fit(g2 @ xp.swapaxes(b2, -1, -2), (a2.shape, a.dtype)).reshape(a.shape)
        if ctx.needs_input_grad[1]:  # dB = A^T dY
            db = _fit(xp.swapaxes(a2, -1, -2) @ g2, (b2.shape, b.dtype)).reshape(b.shape)
        return da, db

    @staticmethod
    def backward_graph(ctx, inputs, g):
        ra, rb = ctx.saved_tensors
        a, b = _val(inputs[0], ra), _val(inputs[1], rb)
        a = a if isinstance(a, Tensor) else Tensor._wrap(a)
        b = b if isinstance(b, Tensor) else Tensor._wrap(b)
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:
            g2 = g2.unsqueeze(-1)
        if a.ndim == 1:
            g2 = g2.unsqueeze(-2)
        da = db = None
        if ctx.needs_input_grad[0]:  # dA = dY B^T
            da = _fit_t(g2 @ b2.transpose(-1, -2), (a2.shape, a.dtype)).reshape(a.shape)
        if ctx.needs_input_grad[1]:  # dB = A^T dY
            db = _fit_t(a2.transpose(-1, -2) @ g2, (b2.shape, b.dtype)).reshape(b.shape)
        return da, db


def _check_matmul(a: Any, b: Any, op: str = "matmul") -> None:
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(
            f"{op}: both arguments need at least 1 dimension, got shapes "
            f"{tuple(sa)} and {tuple(sb)}"
        )
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(
            f"{op}: shapes {tuple(sa)} and {tuple(sb)} cannot be multiplied ({ka} != {kb})"
        )
    try:
        np.broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2]))
    except ValueError:
        raise ValueError(
            f"{op}: batch dimensions of {tuple(sa)} and {tuple(sb)} do not broadcast"
        ) from None


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with NumPy's (and torch's) rules: 1-D operands are vectors, leading
    batch dims broadcast. Raises ValueError naming the shapes when they do not fit.
    """
    _check_matmul(_arr(input), _arr(other))
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = _t(input)
    return MatMul.apply(input, other)


def _check_ndims(op: str, a: Any, b: Any, a_ndim: int, b_ndim: int, expected: str) -> None:
    """Raise a ValueError naming ``op`` unless ``a`` has ``a_ndim`` and ``b`` has ``b_ndim``
    dimensions (``expected`` says so in words)."""
    if len(_shape(a)) != a_ndim or len(_shape(b)) != b_ndim:
        raise ValueError(f"{op}: {expected}, got shapes {tuple(_shape(a))} and {tuple(_shape(b))}")


def _check_same_first_size(op: str, a: Any, b: Any, what: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{op}: {what} differ: {a.shape[0]} and {b.shape[0]}")


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Product of two matrices, (n, m) @ (m, p) -> (n, p). Raises ValueError unless both are 2-D
    and the inner sizes agree.
    """
    a, b = _arr(input), _arr(mat2)
    _check_ndims("mm", a, b, 2, 2, "both arguments must be 2-D")
    _check_matmul(a, b, "mm")
    return MatMul.apply(_t(input), mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product, (b, n, m) @ (b, m, p) -> (b, n, p). Raises ValueError unless both
    are 3-D with the same batch size and matching inner sizes.
    """
    a, b = _arr(input), _arr(mat2)
    _check_ndims("bmm", a, b, 3, 3, "both arguments must be 3-D")
    _check_same_first_size("bmm", a, b, "batch sizes")
    _check_matmul(a, b, "bmm")
    return MatMul.apply(_t(input), mat2)


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix-vector product, (n, m) @ (m,) -> (n,). Raises ValueError for other shapes."""
    a, b = _arr(input), _arr(vec)
    _check_ndims("mv", a, b, 2, 1, "expects a 2-D matrix and a 1-D vector")
    _check_matmul(a, b, "mv")
    return MatMul.apply(_t(input), vec)


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors of the same size (a 0-d tensor). Raises ValueError
    otherwise.
    """
    a, b = _arr(input), _arr(other)
    _check_ndims("dot", a, b, 1, 1, "both arguments must be 1-D")
    _check_same_first_size("dot", a, b, "sizes")
    return MatMul.apply(_t(input), other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-D tensors, (n,) x (m,) -> (n, m). Raises ValueError unless both
    are 1-D.
    """
    a, b = _arr(input), _arr(vec2)
    _check_ndims("outer", a, b, 1, 1, "both arguments must be 1-D")
    return Mul.apply(reshape(_t(input), -1, 1), vec2)
