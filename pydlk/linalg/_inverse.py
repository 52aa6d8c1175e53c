"""Inverses, determinants and linear solves: inv, det, slogdet, solve and what is built on
them (inv_ex, solve_ex, solve_triangular, matrix_power, tensorinv, tensorsolve).

Each differentiable op is a Function on arrays (NumPy's or CuPy's ``linalg``, taken from the
data) with torch's backward formulas; their ``backward_graph`` recomputes the forward as
recorded ops, so second derivatives work too."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from ..autograd import Function, Tensor
from ..ops._helpers import _fit_t, _o, _unbroadcast, _val
from ..ops.arithmetic import where
from ..ops.shape import movedim
from ..ops.triangular import tril, triu
from ._common import (
    LinAlgError,
    _all_finite,
    _check_float,
    _check_matrix,
    _eye_like,
    _infos,
    _lu_info,
    _mT,
    _singular_error,
    _square_t,
    _tensor,
    linalg_inv_ex,
    linalg_slogdet,
    linalg_solve_ex,
)


def _inv(a: Any, op: str) -> Any:
    """The inverse of each matrix of ``a``; LinAlgError, worded as torch's, if one is
    singular."""
    xp = get_array_module(a)
    try:
        x = xp.linalg.inv(a)
    except np.linalg.LinAlgError:
        raise _singular_error(op, a) from None
    if is_cupy(a) and not _all_finite(x):  # CuPy returns NaN/inf where NumPy raises
        raise LinAlgError(f"{op}: The input matrix is singular.")
    return x


def _inv_nan(a: Any) -> Any:
    """The inverse of each matrix of ``a``, NaN for the singular ones (a backward pass at a
    singular matrix gives NaN there, as torch's, rather than raise)."""
    xp = get_array_module(a)
    try:
        return xp.linalg.inv(a)
    except np.linalg.LinAlgError:
        bad = xp.asarray(_infos(a, _lu_info) != 0)[..., None, None]
        safe = xp.where(bad, _eye_like(a), a)
        return xp.where(bad, xp.nan, xp.linalg.inv(safe)).astype(a.dtype, copy=False)


def _tt(v: Any) -> Tensor:
    return v if isinstance(v, Tensor) else Tensor._wrap(v)


def _bcast(g: Tensor, lead: tuple[int, ...]) -> Tensor:
    """``g`` (batch shape ``lead``) with two trailing dims of size 1, to scale matrices."""
    return g.reshape(tuple(lead) + (1, 1))


class Inv(Function):
    """The inverse X of each matrix. Backward: gA = -X^T G X^T."""

    @staticmethod
    def forward(ctx, a):
        x = _inv(a, "linalg.inv")
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xt = _mT(x)
        return -(xt @ g @ xt)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        xt = Inv.apply(inputs[0]).mT
        return -(xt @ g @ xt)


def _prod_others(s: Any) -> Any:
    """For each i along the last dim, the product of the other entries (no division, so zeros
    are fine): the gradient of ``prod(s)``."""
    xp = get_array_module(s)
    one = xp.ones(s.shape[:-1] + (1,), s.dtype)
    left = xp.cumprod(xp.concatenate([one, s[..., :-1]], -1), -1)
    right = xp.cumprod(xp.concatenate([one, xp.flip(s, -1)[..., :-1]], -1), -1)
    return left * xp.flip(right, -1)


class Det(Function):
    """The determinant of each matrix. Backward: gA = g det(A) A^-T (the cofactor matrix); at a
    singular matrix the cofactors come from the SVD A = U S Vh, as torch's:
    gA = det(U) det(Vh) U diag(g prod_{j != i} s_j) Vh."""

    @staticmethod
    def forward(ctx, a):
        d = _o(get_array_module(a).linalg.det(a))
        ctx.save_for_backward(a, d)
        return d

    @staticmethod
    def backward(ctx, g):
        a, d = ctx.saved_tensors
        xp = get_array_module(a)
        if bool((d != 0).all()):
            return _mT(_inv(a, "linalg.det")) * (g * d)[..., None, None]
        u, s, vh = xp.linalg.svd(a)
        alpha = xp.linalg.det(u) * xp.linalg.det(vh)
        dd = _prod_others(s) * (g * alpha)[..., None]
        return (u * dd[..., None, :]) @ vh

    @staticmethod
    def backward_graph(ctx, inputs, g):
        a, d = ctx.saved_tensors
        if not bool((d != 0).all()):
            raise RuntimeError(
                "linalg.det: double backward at a singular matrix is not implemented"
            )
        A = inputs[0]
        return Inv.apply(A).mT * _bcast(g * Det.apply(A), d.shape)


class SlogDet(Function):
    """``(sign, log|det|)`` of each matrix. Backward: gA = g_logabsdet A^-T (the sign has no
    gradient); NaN at a singular matrix."""

    @staticmethod
    def forward(ctx, a):
        sign, logabs = get_array_module(a).linalg.slogdet(a)
        ctx.save_for_backward(a)
        return _o(sign), _o(logabs)

    @staticmethod
    def backward(ctx, gsign, glog):
        (a,) = ctx.saved_tensors
        return _mT(_inv_nan(a)) * glog[..., None, None]

    @staticmethod
    def backward_graph(ctx, inputs, gsign, glog):
        (a,) = ctx.saved_tensors
        return Inv.apply(inputs[0]).mT * _bcast(glog, a.shape[:-2])


def _solve_error(op: str, a: Any) -> LinAlgError:
    """torch's LinAlgError for a singular A in a solve, naming the batch element."""
    where = ""
    if a.ndim > 2:
        info = _infos(a, _lu_info).reshape(-1)
        bad = np.flatnonzero(info)
        where = f"(Batch element {int(bad[0])}): " if bad.size else ""
    return LinAlgError(f"{op}: {where}The solver failed because the input matrix is singular.")


def _solve(a: Any, b: Any, op: str) -> Any:
    xp = get_array_module(a)
    try:
        x = xp.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise _solve_error(op, a) from None
    if is_cupy(a) and not _all_finite(x):
        raise _solve_error(op, a)
    return x


def _broadcast_pair(a: Any, b: Any) -> tuple[Any, Any]:
    """``a`` (*, n, n) and ``b`` (*, n, k) with their batch dims broadcast to one shape."""
    xp = get_array_module(a)
    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    return xp.broadcast_to(a, batch + a.shape[-2:]), xp.broadcast_to(b, batch + b.shape[-2:])


class Solve(Function):
    """X with A X = B, A (*, n, n) and B (*, n, k), batch dims broadcast. Backward:
    gB = A^-T G, gA = -gB X^T (each summed back to its argument's batch shape)."""

    @staticmethod
    def forward(ctx, a, b):
        ab, bb = _broadcast_pair(a, b)
        x = _solve(ab, bb, "linalg.solve")
        ctx.save_for_backward(a, b, x)
        return x

    @staticmethod
    def backward(ctx, g):
        a, b, x = ctx.saved_tensors
        ab, _ = _broadcast_pair(a, x)
        gb = _solve(_mT(ab), g, "linalg.solve")
        ga = -(gb @ _mT(x)) if ctx.needs_input_grad[0] else None
        return (
            None if ga is None else _unbroadcast(ga, a.shape),
            _unbroadcast(gb, b.shape) if ctx.needs_input_grad[1] else None,
        )

    @staticmethod
    def backward_graph(ctx, inputs, g):
        a, b, _ = ctx.saved_tensors
        A, B = _tt(_val(inputs[0], a)), _tt(_val(inputs[1], b))
        gB = Solve.apply(A.mT, g)
        gA = None
        if ctx.needs_input_grad[0]:
            gA = _fit_t(-(gB @ Solve.apply(A, B).mT), (a.shape, a.dtype))
        return gA, _fit_t(gB, (b.shape, b.dtype)) if ctx.needs_input_grad[1] else None


# -- the public functions


def inv(A: Tensor, *, out: None = None) -> Tensor:
    """The inverse of a square matrix or of each matrix of a batch (*, n, n), as
    torch.linalg.inv. Raises LinAlgError (a RuntimeError) for a singular matrix, naming the
    batch element and the zero pivot as torch does; ValueError for a non-square input or one
    of fewer than 2 dims; TypeError for a non-float dtype."""
    if out is not None:
        raise TypeError("linalg.inv: out= is not supported")
    return Inv.apply(_square_t("linalg.inv", A))


def _nan_where(bad: Any, r: Any) -> Any:
    """``r`` with NaN in the matrices of the batch where ``bad`` (batch shape) holds."""
    xp = get_array_module(r)
    m = xp.asarray(bad).reshape(bad.shape + (1,) * (r.ndim - bad.ndim))
    return xp.where(m, xp.nan, r).astype(r.dtype, copy=False)


def inv_ex(A: Tensor, *, check_errors: bool = False, out: None = None) -> linalg_inv_ex:
    """``(inverse, info)``, as torch.linalg.inv_ex: ``info`` (int32, batch shape) is 0 where
    the matrix was inverted and the 1-based index of the zero pivot where it is singular (there
    the inverse is NaN and carries no gradient). ``check_errors=True`` raises as ``inv``."""
    A = _square_t("linalg.inv_ex", A)
    xp = get_array_module(A._data)
    try:
        return linalg_inv_ex(Inv.apply(A), Tensor(xp.zeros(A.shape[:-2], np.int32)))
    except LinAlgError:
        if check_errors:
            raise
    info = _infos(A._data, _lu_info)
    bad = info != 0
    safe = xp.where(xp.asarray(bad)[..., None, None], _eye_like(A._data), A._data)
    x = _nan_where(bad, xp.linalg.inv(safe))
    return linalg_inv_ex(Tensor(x), Tensor(xp.asarray(info)))


def det(A: Tensor, *, out: None = None) -> Tensor:
    """The determinant of a square matrix or of each matrix of a batch, as torch.linalg.det
    (0 for a singular matrix, whose gradient is the cofactor matrix from the SVD). Raises
    ValueError for a non-square input."""
    if out is not None:
        raise TypeError("linalg.det: out= is not supported")
    return Det.apply(_square_t("linalg.det", A))


def slogdet(A: Tensor, *, out: None = None) -> linalg_slogdet:
    """``(sign, logabsdet)`` of the determinant of each matrix, as torch.linalg.slogdet: sign
    is -1, 0 or 1 and ``logabsdet`` is ``log|det A|`` (-inf for a singular matrix), computed
    without overflow. Only ``logabsdet`` carries a gradient."""
    if out is not None:
        raise TypeError("linalg.slogdet: out= is not supported")
    sign, logabs = SlogDet.apply(_square_t("linalg.slogdet", A))
    return linalg_slogdet(sign.detach(), logabs)


def _is_vector_rhs(A: Tensor, B: Tensor) -> bool:
    """torch's rule: B is a vector (or a batch of them) when it is 1-D, or has one dim fewer
    than A and A's shape without its last dim."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def _solve_args(
    op: str, A: Any, B: Any, left: bool, vectors: bool = True
) -> tuple[Tensor, Tensor, bool]:
    """A and B checked, as (*, n, n) and (*, n, k) for ``A X = B``, and whether B was a
    vector (never, unless ``vectors``). ``left=False`` (X A = B) is turned into
    A^T X^T = B^T."""
    A = _square_t(op, A)
    B = _tensor(B)
    _check_float(op, B, "B")
    if A.dtype != B.dtype:
        raise TypeError(
            f"{op}: Expected A and B to have the same dtype, got {A.dtype} and {B.dtype}"
        )
    vector = vectors and _is_vector_rhs(A, B)
    if not left:
        A = A.mT
        B = B if vector else B.mT
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.ndim < 2 or Bm.shape[-2] != A.shape[-1]:
        raise ValueError(
            f"{op}: Incompatible shapes of A and B for the equation AX = B "
            f"({A.shape[-2]}x{A.shape[-1]} and {'x'.join(map(str, Bm.shape[-2:]))})"
        )
    try:
        np.broadcast_shapes(tuple(A.shape[:-2]), tuple(Bm.shape[:-2]))
    except ValueError:
        raise ValueError(
            f"{op}: the batch dims of A {tuple(A.shape)} and B {tuple(B.shape)} do not broadcast"
        ) from None
    return A, Bm, vector


def _solve_result(X: Tensor, vector: bool, left: bool) -> Tensor:
    if vector:
        return X.squeeze(-1)
    return X if left else X.mT


def solve(A: Tensor, B: Tensor, *, left: bool = True, out: None = None) -> Tensor:
    """The solution X of ``A X = B`` (``left=False``: ``X A = B``), as torch.linalg.solve.
    A is (*, n, n); B is (*, n, k), or a vector (*, n) (1-D, or A's shape without its last
    dim), batch dims broadcast. Raises LinAlgError for a singular A, ValueError for shapes that
    do not fit."""
    if out is not None:
        raise TypeError("linalg.solve: out= is not supported")
    A, Bm, vector = _solve_args("linalg.solve", A, B, left)
    return _solve_result(Solve.apply(A, Bm), vector, left)


def solve_ex(
    A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False, out: None = None
) -> linalg_solve_ex:
    """``(result, info)``, as torch.linalg.solve_ex: ``info`` (int32, A's batch shape) is 0
    where A was solved and the 1-based index of the zero pivot of a singular A (its result is
    NaN, without gradient). ``check_errors=True`` raises as ``solve``."""
    A, Bm, vector = _solve_args("linalg.solve_ex", A, B, left)
    xp = get_array_module(A._data)
    try:
        X = Solve.apply(A, Bm)
        info = xp.zeros(np.broadcast_shapes(tuple(A.shape[:-2]), tuple(Bm.shape[:-2])), np.int32)
        return linalg_solve_ex(_solve_result(X, vector, left), Tensor(info))
    except LinAlgError:
        if check_errors:
            raise
    a, b = _broadcast_pair(A._data, Bm._data)
    info = _infos(a, _lu_info)
    safe = xp.where(xp.asarray(info != 0)[..., None, None], _eye_like(a), a)
    X = Tensor(_nan_where(info != 0, xp.linalg.solve(safe, b)))
    return linalg_solve_ex(_solve_result(X, vector, left), Tensor(xp.asarray(info)))


def solve_triangular(
    A: Tensor,
    B: Tensor,
    *,
    upper: bool,
    left: bool = True,
    unitriangular: bool = False,
    out: None = None,
) -> Tensor:
    """The solution X of ``A X = B`` (``left=False``: ``X A = B``) for a triangular A, as
    torch.linalg.solve_triangular: only A's ``upper`` (or lower) triangle is read, and with
    ``unitriangular`` its diagonal is taken as ones; A's gradient is triangular too. B must be
    a matrix (*, n, k)."""
    op = "linalg.solve_triangular"
    A = _square_t(op, A)
    B = _tensor(B)
    _check_matrix(op, B, "B")
    T = triu(A, 1 if unitriangular else 0) if upper else tril(A, -1 if unitriangular else 0)
    if unitriangular:
        T = T + Tensor._wrap(_eye_like(A._data))
    T, Bm, _ = _solve_args(op, T, B, left, vectors=False)
    return _solve_result(Solve.apply(T, Bm), False, left)


def matrix_power(A: Tensor, n: int, *, out: None = None) -> Tensor:
    """``A`` multiplied by itself ``n`` times (by repeated squaring), as
    torch.linalg.matrix_power: ``n = 0`` gives the identity (with a zero gradient), a negative
    ``n`` the power of ``inv(A)``. Raises TypeError for a non-int ``n``."""
    op = "linalg.matrix_power"
    A = _square_t(op, A)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{op}: n must be an int, got {n!r}")
    n = int(n)
    xp = get_array_module(A._data)
    if n == 0:  # the identity, joined to the graph through where() so A gets a zero gradient
        keep = Tensor._wrap(xp.ones(A.shape, bool))
        return where(keep, Tensor._wrap(xp.broadcast_to(_eye_like(A._data), A.shape)), A)
    if n < 0:
        A, n = inv(A), -n
    if n == 1:
        return A.clone()
    result, base = None, A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result  # type: ignore[return-value]


def tensorinv(A: Tensor, ind: int = 2, *, out: None = None) -> Tensor:
    """The inverse of ``A`` taken as a linear map from its last dims to its first ``ind``, as
    torch.linalg.tensorinv: the result has shape ``A.shape[ind:] + A.shape[:ind]``. Raises
    ValueError unless both groups of dims hold as many elements."""
    op = "linalg.tensorinv"
    A = _tensor(A)
    if isinstance(ind, bool) or not isinstance(ind, int) or ind <= 0:
        raise ValueError(f"{op}: Expected a strictly positive integer for 'ind', but got {ind!r}")
    front, back = tuple(A.shape[:ind]), tuple(A.shape[ind:])
    p, q = math.prod(front), math.prod(back)
    if p != q:
        raise ValueError(
            f"{op}: Expected self to satisfy the requirement "
            f"prod(self.shape[ind:]) == prod(self.shape[:ind]), but got {q} != {p}"
        )
    return inv(A.reshape(p, q)).reshape(back + front)


def tensorsolve(
    A: Tensor, B: Tensor, dims: tuple[int, ...] | None = None, *, out: None = None
) -> Tensor:
    """The X with ``tensordot(A, X, X.ndim) == B``, as torch.linalg.tensorsolve: X has shape
    ``A.shape[B.ndim:]``; ``dims`` names dims of A moved to the end first. Raises ValueError
    unless A's first dims match B's shape and the rest hold as many elements."""
    op = "linalg.tensorsolve"
    A, B = _tensor(A), _tensor(B)
    if dims is not None:
        dims = tuple(dims)
        A = movedim(A, dims, tuple(range(A.ndim - len(dims), A.ndim)))
    if tuple(A.shape[: B.ndim]) != tuple(B.shape):
        raise ValueError(
            f"{op}: Expected the first {B.ndim} dims of A {tuple(A.shape)} to equal B's "
            f"shape {tuple(B.shape)}"
        )
    rest = tuple(A.shape[B.ndim :])
    n, m = math.prod(rest), B.numel()
    if n != m:
        raise ValueError(
            f"{op}: Expected self to satisfy the requirement prod(result.shape) == "
            f"prod(other.shape), but got {n} != {m}"
        )
    return solve(A.reshape(m, n), B.reshape(-1)).reshape(rest)
