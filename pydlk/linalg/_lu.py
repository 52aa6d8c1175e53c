"""The LU family: lu_factor, lu_factor_ex, lu, lu_solve and lu_unpack, as torch's.

NumPy has no LU. Real float32/float64 matrices with pivoting are factored by the kernels'
``lu_factor_ex`` (csrc/linalg.cpp: OpenBLAS's LAPACK getrf, one matrix per thread; on the GPU
pydlk/_cuda/linalg.py). The rest (complex matrices, ``pivot=False``) runs ``_getrf_blocked``
here: getrf's right-looking algorithm with partial pivoting, in blocks of 32 columns (a column-
by-column panel, then one triangular solve and one matrix product for the rest of the matrix),
vectorised over the batch, on NumPy or CuPy arrays. Both follow getrf's conventions: ``LU``
holds L's strict lower triangle (L has a unit diagonal) and U; ``pivots`` are 1-based int32 row
swaps (row i was swapped with row pivots[i] - 1, in order); a zero pivot is left in place (no
division, ``info`` names the first), so a singular matrix factors too.

``lu_factor`` is the one differentiable Function (torch's backward formula for square, wide and
tall matrices, from FunctionsManual.cpp's linalg_lu_backward); ``lu`` and ``lu_unpack`` take L
and U from its output with ``tril``/``triu``, and ``lu_solve`` is two triangular solves and a
row permutation, all recorded ops, so their gradients (and lu_solve's second derivatives)
follow."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._backend import get_array_module, host_array, kernels_for
from ..autograd import Function, Tensor
from ..ops.selection import gather
from ..ops.triangular import tril, triu
from ._common import LinAlgError, _check_matrix, _first_failure, _mT, _tensor

_BLOCK = 32  # panel width: the rank-1 updates stay inside it, the rest is one product


class linalg_lu_factor(NamedTuple):
    """``(LU, pivots)`` of ``pydlk.linalg.lu_factor``."""

    LU: Tensor
    pivots: Tensor


class linalg_lu_factor_ex(NamedTuple):
    """``(LU, pivots, info)`` of ``pydlk.linalg.lu_factor_ex``."""

    LU: Tensor
    pivots: Tensor
    info: Tensor


class linalg_lu(NamedTuple):
    """``(P, L, U)`` of ``pydlk.linalg.lu``."""

    P: Tensor
    L: Tensor
    U: Tensor


class lu_unpack(NamedTuple):  # noqa: N801  (torch.return_types.lu_unpack)
    """``(P, L, U)`` of ``pydlk.lu_unpack``."""

    P: Tensor
    L: Tensor
    U: Tensor


for _c in (linalg_lu_factor, linalg_lu_factor_ex, linalg_lu, lu_unpack):
    _c.__module__ = "pydlk.return_types"
del _c
_lu_unpack_type = lu_unpack


def _getrf(a: Any, pivot: bool) -> tuple[Any, Any, Any]:
    """``(LU, pivots, info)`` of every matrix of ``a`` (*, m, n): the kernels' LAPACK getrf
    for real matrices with pivoting, the blocked array code below otherwise."""
    if pivot and a.dtype in (np.float32, np.float64):
        xp = get_array_module(a)
        lu, piv, info = kernels_for(a).lu_factor_ex(xp.ascontiguousarray(a))
        return lu, piv, info
    return _getrf_blocked(a, pivot)


def _getrf_blocked(a: Any, pivot: bool) -> tuple[Any, Any, Any]:
    """``(LU, pivots, info)`` of every matrix of ``a`` (*, m, n): partial pivoting by the
    largest magnitude in the column (the first of equals, as LAPACK's idamax), blocked."""
    xp = get_array_module(a)
    lead, (m, n) = a.shape[:-2], a.shape[-2:]
    k = min(m, n)
    nb = int(np.prod(lead, dtype=np.int64))
    lu = xp.array(a.reshape((nb, m, n)), copy=True)
    piv = xp.empty((nb, k), np.int32)
    info = xp.zeros(nb, np.int32)
    rows = xp.arange(nb)
    for j0 in range(0, k, _BLOCK):
        j1 = min(j0 + _BLOCK, k)
        for j in range(j0, j1):
            if pivot:
                p = j + xp.argmax(xp.abs(lu[:, j:, j]), axis=1)
                rj = lu[rows, j].copy()  # swap rows j and p across the whole matrix
                lu[rows, j] = lu[rows, p]
                lu[rows, p] = rj
                piv[:, j] = p + 1
            else:
                piv[:, j] = j + 1
            d = lu[:, j, j]
            zero = d == 0
            info = xp.where(zero & (info == 0), np.int32(j + 1), info)
            lu[:, j + 1 :, j] /= xp.where(zero, 1, d)[:, None]  # getrf skips a zero pivot
            lu[:, j + 1 :, j + 1 : j1] -= lu[:, j + 1 :, j : j + 1] * lu[:, j : j + 1, j + 1 : j1]
        if j1 < n:  # U12 = L11^-1 A12, then A22 -= L21 U12
            l11 = xp.tril(lu[:, j0:j1, j0:j1], -1) + xp.eye(j1 - j0, dtype=lu.dtype)
            lu[:, j0:j1, j1:] = xp.linalg.solve(l11, lu[:, j0:j1, j1:])
            if j1 < m:
                lu[:, j1:, j1:] -= lu[:, j1:, j0:j1] @ lu[:, j0:j1, j1:]
    return lu.reshape(a.shape), piv.reshape(lead + (k,)), info.reshape(lead)


def _unit_lower(lu: Any, k: int) -> Any:
    """L (*, m, k) from a packed LU: its strict lower triangle and a unit diagonal."""
    xp = get_array_module(lu)
    return xp.tril(lu[..., :, :k], -1) + xp.eye(lu.shape[-2], k, dtype=lu.dtype)


def _right_solve_upper_t(U: Any, x: Any) -> Any:
    """x U^-T for an upper-triangular square U (as a solve: U y^T = x^T)."""
    return _mT(get_array_module(U).linalg.solve(U, _mT(x)))


def _lu_backward(L: Any, U: Any, gL: Any, gU: Any) -> Any:
    """dA of A = P L U, without P (the caller applies it): torch's linalg_lu_backward for the
    square, wide (m < n) and tall (m > n) cases, with gL the strict-lower and gU the upper
    gradient."""
    xp = get_array_module(L)
    m, n = L.shape[-2], U.shape[-1]
    k = min(m, n)
    if m == n:  # L^-T [tril(L^T gL, -1) + triu(gU U^T)] U^-T
        x = xp.tril(_mT(L) @ gL, -1) + xp.triu(gU @ _mT(U))
        return xp.linalg.solve(_mT(L), _right_solve_upper_t(U, x))
    if m < n:  # wide: U = [U1 | U2]
        U1 = U[..., :, :k]
        x = xp.tril(_mT(L) @ gL - xp.triu(gU) @ _mT(U), -1)
        x = _right_solve_upper_t(U1, x)
        x = xp.concatenate([x + xp.triu(gU[..., :, :k]), gU[..., :, k:]], axis=-1)
        return xp.linalg.solve(_mT(L), x)
    L1 = L[..., :k, :]  # tall: L = [L1; L2]
    x = xp.triu(gU @ _mT(U) - _mT(L) @ xp.tril(gL, -1))
    x = xp.linalg.solve(_mT(L1), x)
    x = xp.concatenate([x + xp.tril(gL[..., :k, :], -1), gL[..., k:, :]], axis=-2)
    return _right_solve_upper_t(U, x)


def _permutation(piv: Any, m: int) -> Any:
    """The row order perm (*, m) with A[perm] = L U, from getrf's sequential swaps."""
    xp = get_array_module(piv)
    lead, k = piv.shape[:-1], piv.shape[-1]
    p = piv.reshape(-1, k).astype(np.int64) - 1
    perm = xp.broadcast_to(xp.arange(m), (p.shape[0], m)).copy()
    rows = xp.arange(p.shape[0])
    for i in range(k):
        pi = perm[rows, p[:, i]].copy()
        perm[rows, p[:, i]] = perm[:, i]
        perm[:, i] = pi
    return perm.reshape(lead + (m,))


class LUFactor(Function):
    """``(LU, pivots, info)`` of each matrix; the gradient reaches A through LU only."""

    @staticmethod
    def forward(ctx, a, pivot):
        lu, piv, info = _getrf(a, pivot)
        ctx.save_for_backward(lu, piv)
        ctx.mark_non_differentiable(piv, info)
        return lu, piv, info

    @staticmethod
    def backward(ctx, g, gpiv, ginfo):
        lu, piv = ctx.saved_tensors
        xp = get_array_module(lu)
        m, n = lu.shape[-2:]
        k = min(m, n)
        L, U = _unit_lower(lu, k), xp.triu(lu[..., :k, :])
        ga = _lu_backward(L, U, xp.tril(g[..., :, :k], -1), xp.triu(g[..., :k, :]))
        inv = xp.argsort(_permutation(piv, m), axis=-1)  # dA = P x: row i of x goes to perm[i]
        return xp.take_along_axis(ga, inv[..., None], axis=-2), None


def _factor_args(op: str, A: Any) -> Tensor:
    A = _tensor(A)
    _check_matrix(op, A)
    return A


def lu_factor_ex(
    A: Tensor, *, pivot: bool = True, check_errors: bool = False, out: None = None
) -> linalg_lu_factor_ex:
    """LU with partial pivoting of each matrix (m x n, batched), as
    torch.linalg.lu_factor_ex: ``(LU, pivots, info)`` with ``LU`` packing L's strict lower
    triangle and U, ``pivots`` LAPACK's 1-based int32 row swaps, and ``info`` (int32, batch
    shape) the 1-based index of the first zero pivot (0: none). A singular matrix still
    factors. ``pivot=False`` factors without row swaps (torch allows it on CUDA only; here
    on both: it divides by whatever pivot it meets)."""
    op = "linalg.lu_factor_ex"
    A = _factor_args(op, A)
    lu, piv, info = LUFactor.apply(A, bool(pivot))
    if check_errors and bool(get_array_module(info._data).any(info._data != 0)):
        _raise_singular(op, info._data)
    return linalg_lu_factor_ex(lu, piv, info)


def _raise_singular(op: str, info: Any) -> None:
    prefix, j = _first_failure(f"torch.{op}", host_array(info), np.ndim(info) > 0)
    raise LinAlgError(
        f"{prefix}U[{j},{j}] is zero and using it on lu_solve would result in a division by "
        "zero. If you still want to perform the factorization, consider calling "
        "linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)"
    )


def lu_factor(A: Tensor, *, pivot: bool = True, out: None = None) -> linalg_lu_factor:
    """``(LU, pivots)`` of each matrix, as torch.linalg.lu_factor (see ``lu_factor_ex``);
    raises LinAlgError, naming the zero diagonal element of U, for a singular matrix."""
    op = "linalg.lu_factor"
    A = _factor_args(op, A)
    lu, piv, info = LUFactor.apply(A, bool(pivot))
    if bool(get_array_module(info._data).any(info._data != 0)):
        _raise_singular(op, info._data)
    return linalg_lu_factor(lu, piv)


def _unpack(LU: Tensor, pivots: Tensor, unpack_data: bool, unpack_pivots: bool) -> tuple:
    xp = get_array_module(LU._data)
    m, n = LU.shape[-2:]
    k = min(m, n)
    P = L = U = Tensor(xp.empty((0,), LU.dtype))
    if unpack_data:
        eye = Tensor(xp.eye(m, k, dtype=LU.dtype))
        L = tril(LU[..., :, :k], -1) + eye
        U = triu(LU[..., :k, :])
    if unpack_pivots:
        perm = _permutation(pivots._data, m)  # P^T A = A[perm]: row i of P^T is e_perm[i]
        P = Tensor(_mT(xp.eye(m, dtype=LU.dtype)[perm]))
    return P, L, U


def lu(A: Tensor, *, pivot: bool = True, out: None = None) -> linalg_lu:
    """``(P, L, U)`` with A = P L U for each matrix (m x n, batched), as torch.linalg.lu: P an
    m x m permutation matrix, L m x k unit lower, U k x n upper (k = min(m, n)). Singular
    matrices are factored too. Gradients reach A through L and U (torch's formula)."""
    A = _factor_args("linalg.lu", A)
    lu_, piv, _ = LUFactor.apply(A, bool(pivot))
    return linalg_lu(*_unpack(lu_, piv, True, True))


def lu_unpack_(
    LU_data: Tensor,
    LU_pivots: Tensor,
    unpack_data: bool = True,
    unpack_pivots: bool = True,
    *,
    out: None = None,
) -> _lu_unpack_type:
    """``(P, L, U)`` from ``lu_factor``'s output, as torch.lu_unpack; with ``unpack_data`` or
    ``unpack_pivots`` False the corresponding outputs are empty tensors."""
    LU_data, LU_pivots = _tensor(LU_data), _tensor(LU_pivots)
    _check_matrix("lu_unpack", LU_data, "LU_data")
    _check_pivots("lu_unpack", LU_data, LU_pivots)
    return _lu_unpack_type(*_unpack(LU_data, LU_pivots, unpack_data, unpack_pivots))


def _check_pivots(op: str, LU: Tensor, pivots: Tensor) -> None:
    if pivots.dtype != np.int32:
        raise TypeError(f"{op}: pivots should be a Tensor of scalar type int32, got {pivots.dtype}")
    k = min(LU.shape[-2:])
    if tuple(pivots.shape) != tuple(LU.shape[:-2]) + (k,):
        raise ValueError(
            f"{op}: pivots must have shape {tuple(LU.shape[:-2]) + (k,)} (LU's batch and "
            f"min(m, n)), got {tuple(pivots.shape)}"
        )


def _permute_rows(x: Tensor, perm: Any) -> Tensor:
    """x[..., perm, :] per batch element (perm broadcast to x's batch), a recorded gather."""
    xp = get_array_module(perm)
    idx = xp.broadcast_to(perm[..., :, None], tuple(x.shape[:-2]) + (perm.shape[-1], x.shape[-1]))
    return gather(x, -2, Tensor(xp.ascontiguousarray(idx)))


def lu_solve(
    LU: Tensor,
    pivots: Tensor,
    B: Tensor,
    *,
    left: bool = True,
    adjoint: bool = False,
    out: None = None,
) -> Tensor:
    """The solution X of ``A X = B`` from A's ``lu_factor`` output, as torch.linalg.lu_solve:
    ``left=False`` solves ``X A = B``, ``adjoint=True`` uses A^T. Batch dims broadcast.
    Differentiable with respect to LU and B (two triangular solves and a permutation)."""
    from ._inverse import solve_triangular

    op = "linalg.lu_solve"
    LU, pivots, B = _tensor(LU), _tensor(pivots), _tensor(B)
    _check_matrix(op, LU, "LU")
    if LU.shape[-1] != LU.shape[-2]:
        raise ValueError(
            f"{op}: A must be batches of square matrices, but they are "
            f"{LU.shape[-2]} by {LU.shape[-1]} matrices"
        )
    _check_pivots(op, LU, pivots)
    _check_matrix(op, B, "B")
    if B.dtype != LU.dtype:
        raise TypeError(f"{op}: B must have the dtype of LU ({LU.dtype}), got {B.dtype}")
    n = LU.shape[-1]
    if B.shape[-2 if left else -1] != n:
        shape = f"{n}x{n} and {B.shape[-2]}x{B.shape[-1]}"
        eq = "AX = B" if left else "XA = B"
        raise ValueError(f"{op}: Incompatible shapes of A and B for the equation {eq} ({shape})")
    xp = get_array_module(LU._data)
    lead = np.broadcast_shapes(tuple(LU.shape[:-2]), tuple(B.shape[:-2]))
    LU = LU.expand(*lead, n, n)
    B = B.expand(*lead, *B.shape[-2:])
    perm = xp.broadcast_to(_permutation(pivots._data, n), lead + (n,))
    inv = xp.argsort(perm, axis=-1)
    if not left:  # X A = B  <=>  A^T X^T = B^T
        B, adjoint = B.mT, not adjoint
    if not adjoint:  # L U X = P^T B = B[perm]
        y = solve_triangular(LU, _permute_rows(B, perm), upper=False, unitriangular=True)
        X = solve_triangular(LU, y, upper=True)
    else:  # U^T L^T P^T X = B:  X = P L^-T U^-T B, rows of P y are y[inv]
        y = solve_triangular(LU.mT, B, upper=False)
        y = solve_triangular(LU.mT, y, upper=True, unitriangular=True)
        X = _permute_rows(y, inv)
    return X if left else X.mT
