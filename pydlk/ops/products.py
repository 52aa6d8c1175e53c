"""Matrix products: matmul, mm, bmm, mv, dot, outer, t, tensordot, and the scaled sums
``addmm``, ``addmv``, ``addbmm``, ``baddbmm`` (``beta * input + alpha * product``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import amp
from .._backend import get_array_module
from .._matmul import matmul as _mm
from ..autograd import Function, Tensor
from ._helpers import _arr, _cj, _fit, _fit_t, _o, _shape, _t, _val
from ._promotion import promote
from .arithmetic import Mul, add, mul, where
from .shape import permute, reshape


class MatMul(Function):
    """``a @ b`` with NumPy's (and torch's) matmul rules: 1-D operands, batched broadcasting."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        # Inside autocast: bf16 products, float32 in and out (pydlk/amp.py), backward too.
        ctx.bf16 = amp.use_bf16(a, b)
        return _o(_mm(a, b, ctx.bf16))

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
            da = _fit(_mm(g2, _cj(xp.swapaxes(b2, -1, -2)), ctx.bf16), (a2.shape, a.dtype))
            da = da.reshape(a.shape)
        if ctx.needs_input_grad[1]:  # dB = A^T dY
            db = _fit(_mm(_cj(xp.swapaxes(a2, -1, -2)), g2, ctx.bf16), (b2.shape, b.dtype))
            db = db.reshape(b.shape)
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


def _sparse(a: Any, b: Any) -> bool:
    """Whether either operand is a sparse COO tensor (pydlk/sparse takes the product)."""
    return getattr(a, "is_sparse", False) is True or getattr(b, "is_sparse", False) is True


def _sparse_mm(a: Any, b: Any, op: str) -> Tensor:
    """torch.mm's product with a sparse COO operand: a dense result, and a dense gradient for
    the sparse operand (``sparse.mm`` masks it to the pattern instead), as torch."""
    from ..sparse._ops import _mm

    return _mm(a, b, op, masked=False)


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
    if _sparse(input, other):
        return _sparse_mm(input, other, "matmul")
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
    if _sparse(input, mat2):
        return _sparse_mm(input, mat2, "mm")
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
    return Mul.apply(*promote(reshape(_t(input), -1, 1), _t(vec2)))


def _product(op: str, a: Any, b: Any, nd: tuple[int, int], expected: str) -> Tensor:
    """``a @ b`` for the add* ops, checked under ``op``'s name."""
    _check_ndims(op, _arr(a), _arr(b), nd[0], nd[1], expected)
    if nd == (3, 3):
        _check_same_first_size(op, _arr(a), _arr(b), "batch sizes")
    _check_matmul(_arr(a), _arr(b), op)
    return MatMul.apply(_t(a), b)


def _scaled_sum(op: str, input: Any, p: Tensor, beta: Any, alpha: Any) -> Tensor:
    """``beta * input + alpha * p``, input broadcast to p's shape; with ``beta == 0`` input is
    ignored (its nan and inf do not propagate), as torch."""
    input = _t(input)
    try:
        ok = np.broadcast_shapes(tuple(input.shape), tuple(p.shape)) == tuple(p.shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{op}: input of shape {tuple(input.shape)} does not broadcast to the product's "
            f"shape {tuple(p.shape)}"
        )
    out = p if alpha == 1 else mul(p, alpha)
    if beta == 0:  # input's values are not read; it gets a zero gradient, as torch's
        if input.requires_grad:
            keep = Tensor._wrap(get_array_module(p._data).ones(p.shape, bool))
            return where(keep, out, input)
        return out
    return add(input if beta == 1 else mul(input, beta), out)


def addmm(
    input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1
) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)``: (n, m) @ (m, p), input broadcast to (n, p)
    (a linear layer's bias-plus-product). Raises ValueError for other shapes."""
    if _sparse(mat1, mat2):
        from ..sparse._ops import _addmm

        return _addmm(input, mat1, mat2, beta, alpha, "addmm", masked=False)
    p = _product("addmm", mat1, mat2, (2, 2), "mat1 and mat2 must be 2-D")
    return _scaled_sum("addmm", input, p, beta, alpha)


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """``beta * input + alpha * (mat @ vec)``: (n, m) @ (m,), input broadcast to (n,)."""
    p = _product("addmv", mat, vec, (2, 1), "expects a 2-D matrix and a 1-D vector")
    return _scaled_sum("addmv", input, p, beta, alpha)


def baddbmm(
    input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: float = 1, alpha: float = 1
) -> Tensor:
    """``beta * input + alpha * bmm(batch1, batch2)``: (b, n, m) @ (b, m, p), input broadcast to
    (b, n, p) (attention scores with an additive mask)."""
    p = _product("baddbmm", batch1, batch2, (3, 3), "batch1 and batch2 must be 3-D")
    return _scaled_sum("baddbmm", input, p, beta, alpha)


def addbmm(
    input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: float = 1, alpha: float = 1
) -> Tensor:
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]``: the batch of products summed,
    input broadcast to (n, p)."""
    p = _product("addbmm", batch1, batch2, (3, 3), "batch1 and batch2 must be 3-D").sum(dim=0)
    return _scaled_sum("addbmm", input, p, beta, alpha)


def _tensordot_dims(dims: Any, na: int, nb: int) -> tuple[list[int], list[int]]:
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, (int, np.integer)):
        k = int(dims)
        if k < 0:
            raise ValueError(f"tensordot: dims must be a non-negative int, got {k}")
        if k > na or k > nb:
            raise ValueError(
                f"tensordot: dims={k} is more than the operands' dimensions ({na} and {nb})"
            )
        return list(range(na - k, na)), list(range(k))
    try:
        da, db = dims
        da = [da] if isinstance(da, (int, np.integer)) else list(da)
        db = [db] if isinstance(db, (int, np.integer)) else list(db)
    except (TypeError, ValueError):
        raise TypeError(
            f"tensordot: dims must be an int or a pair of dimension lists, got {dims!r}"
        ) from None
    if len(da) != len(db):
        raise ValueError(
            f"tensordot: both dimension lists must have the same length, got {da} and {db}"
        )
    from ._helpers import _dim

    return [_dim(d, na, "tensordot") for d in da], [_dim(d, nb, "tensordot") for d in db]


def tensordot(a: Tensor, b: Tensor, dims: Any = 2, out: None = None) -> Tensor:
    """Sum of products over the dimensions ``dims`` names: an int k (the last k of ``a`` with the
    first k of ``b``) or a pair of lists ``([a dims], [b dims])``, as torch.tensordot. The
    result has ``a``'s other dimensions, then ``b``'s. Raises ValueError when contracted sizes
    differ."""
    if out is not None:
        raise TypeError("tensordot: out= is not supported")
    a, b = _t(a), _t(b)
    da, db = _tensordot_dims(dims, a.ndim, b.ndim)
    if len(set(da)) != len(da) or len(set(db)) != len(db):
        raise ValueError(f"tensordot: a dimension is named twice in dims {dims!r}")
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise ValueError(
                f"tensordot: contracted dimensions need to match, but a has size {a.shape[i]} "
                f"in dim {i} and b has size {b.shape[j]} in dim {j}"
            )
    fa = [i for i in range(a.ndim) if i not in da]
    fb = [j for j in range(b.ndim) if j not in db]
    k = int(np.prod([a.shape[i] for i in da], dtype=np.int64))
    m = int(np.prod([a.shape[i] for i in fa], dtype=np.int64))
    n = int(np.prod([b.shape[j] for j in fb], dtype=np.int64))
    am = reshape(permute(a, fa + da), (m, k))
    bm = reshape(permute(b, db + fb), (k, n))
    shape = tuple(a.shape[i] for i in fa) + tuple(b.shape[j] for j in fb)
    return reshape(MatMul.apply(am, bm), shape)
