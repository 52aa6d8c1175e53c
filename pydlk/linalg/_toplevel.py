"""torch's top-level linear-algebra names (``torch.inverse``, ``torch.det``, ``torch.svd``
with its older API, ``torch.cholesky``, ...), which are also Tensor methods. Each is the
``pydlk.linalg`` function under torch's older name and arguments."""

from __future__ import annotations

from typing import Any

from .._backend import get_array_module
from ..autograd import Tensor
from . import _factor, _inverse, _lowrank, _lu, _misc
from ._common import _check_matrix, _check_square, _mT, _tensor
from ._common import geqrf as _geqrf_type
from ._common import qr as _qr_type
from ._common import slogdet as _slogdet_type
from ._common import svd as _svd_type
from ._common import triangular_solve as _triangular_solve_type

__all__ = [
    "cholesky",
    "cholesky_inverse",
    "cholesky_solve",
    "cross",
    "det",
    "geqrf",
    "inverse",
    "logdet",
    "lu",
    "lu_solve",
    "lu_unpack",
    "matrix_exp",
    "matrix_power",
    "orgqr",
    "ormqr",
    "pca_lowrank",
    "pinverse",
    "qr",
    "slogdet",
    "svd",
    "svd_lowrank",
    "triangular_solve",
    "vander",
]


def inverse(input: Tensor, *, out: None = None) -> Tensor:
    """The inverse of a square matrix (or batch): ``pydlk.linalg.inv``."""
    return _inverse.inv(input, out=out)


def det(input: Tensor) -> Tensor:
    """The determinant of a square matrix (or batch): ``pydlk.linalg.det``."""
    return _inverse.det(input)


def slogdet(input: Tensor) -> _slogdet_type:
    """``(sign, logabsdet)`` of the determinant: ``pydlk.linalg.slogdet``."""
    return _slogdet_type(*_inverse.slogdet(input))


def logdet(input: Tensor) -> Tensor:
    """``log(det(input))`` of a square matrix (or batch), as torch.logdet: NaN where the
    determinant is negative, -inf where it is 0. The gradient is ``g A^-T``."""
    sign, logabs = _inverse.slogdet(_tensor(input))
    return logabs + sign.log()  # log(-1) is NaN, log(0) is -inf; sign carries no gradient


def svd(
    input: Tensor, some: bool = True, compute_uv: bool = True, *, out: None = None
) -> _svd_type:
    """``(U, S, V)`` with input = U diag(S) V^T, as torch.svd (V, not its transpose; deprecated
    in torch for ``pydlk.linalg.svd``). ``some``: the reduced factors (k = min(m, n) columns);
    ``compute_uv=False``: only S, with U and V zero-filled (m, m) and (n, n) matrices."""
    if out is not None:
        raise TypeError("svd: out= is not supported")
    A = _tensor(input)
    _check_matrix("svd", A)
    if not compute_uv:
        xp = get_array_module(A._data)
        m, n = A.shape[-2:]
        batch = tuple(A.shape[:-2])
        U, V = xp.zeros(batch + (m, m), A.dtype), xp.zeros(batch + (n, n), A.dtype)
        return _svd_type(Tensor(U), _factor.svdvals(A), Tensor(V))
    U, S, Vh = _factor.svd(A, full_matrices=not some)
    return _svd_type(U, S, Vh.mT)


def cholesky(input: Tensor, upper: bool = False, *, out: None = None) -> Tensor:
    """The Cholesky factor, as torch.cholesky (deprecated in torch for
    ``pydlk.linalg.cholesky``): lower L (A = L L^T), or U = L^T with ``upper=True``."""
    return _factor.cholesky(input, upper=upper, out=out)


def cholesky_solve(
    input: Tensor, input2: Tensor, upper: bool = False, *, out: None = None
) -> Tensor:
    """The solution X of ``A X = input`` given A's Cholesky factor ``input2`` (lower L with
    A = L L^T, or upper U with A = U^T U), as torch.cholesky_solve. The gradient with respect
    to the factor is torch's (not restricted to its triangle)."""
    if out is not None:
        raise TypeError("cholesky_solve: out= is not supported")
    B, L = _tensor(input), _tensor(input2)
    _check_square("cholesky_solve", L, "input2")
    _check_matrix("cholesky_solve", B, "input")
    if upper:
        L = L.mT
    return _inverse.solve(L.mT, _inverse.solve(L, B))


def cholesky_inverse(input: Tensor, upper: bool = False, *, out: None = None) -> Tensor:
    """The inverse of A = L L^T (``upper``: U^T U) from its Cholesky factor ``input``, as
    torch.cholesky_inverse."""
    if out is not None:
        raise TypeError("cholesky_inverse: out= is not supported")
    L = _tensor(input)
    _check_square("cholesky_inverse", L, "input")
    return _inverse.inv(L.mT @ L if upper else L @ L.mT)


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """The pseudo-inverse, as torch.pinverse: ``pydlk.linalg.pinv`` with ``rtol=rcond``."""
    return _misc.pinv(input, rtol=rcond)


def matrix_exp(input: Tensor) -> Tensor:
    """The matrix exponential: ``pydlk.linalg.matrix_exp``."""
    return _misc.matrix_exp(input)


def matrix_power(input: Tensor, n: int) -> Tensor:
    """``input`` to the integer power ``n``: ``pydlk.linalg.matrix_power``."""
    return _inverse.matrix_power(input, n)


def qr(input: Tensor, some: bool = True, *, out: None = None) -> _qr_type:
    """``(Q, R)``, as torch.qr (deprecated in torch for ``pydlk.linalg.qr``): the reduced
    factors, or with ``some=False`` the complete ones."""
    Q, R = _factor.qr(input, "reduced" if some else "complete", out=out)
    return _qr_type(Q, R)


def cross(input: Tensor, other: Tensor, dim: int | None = None, *, out: None = None) -> Tensor:
    """The cross product along ``dim``, as torch.cross; ``dim=None`` takes the first dim of
    size 3 (torch's deprecated default)."""
    a, b = _tensor(input), _tensor(other)
    if dim is None:
        sizes: Any = [i for i, s in enumerate(a.shape) if s == 3]
        if not sizes:
            raise ValueError(f"cross: no dimension of size 3 in input of shape {tuple(a.shape)}")
        dim = sizes[0]
    return _misc.cross(a, b, dim=dim, out=out)


def lu(A: Tensor, pivot: bool = True, get_infos: bool = False, out: None = None) -> tuple:
    """``(LU, pivots)`` or with ``get_infos`` ``(LU, pivots, infos)``, as torch.lu (deprecated
    in torch for ``pydlk.linalg.lu_factor`` / ``lu_factor_ex``; unlike those it does not raise
    for a singular matrix)."""
    LU, pivots, info = _lu.lu_factor_ex(A, pivot=pivot)
    return (LU, pivots, info) if get_infos else (LU, pivots)


def lu_solve(b: Tensor, LU_data: Tensor, LU_pivots: Tensor, *, out: None = None) -> Tensor:
    """The solution of ``A x = b`` from A's LU factorization, as torch.lu_solve (deprecated in
    torch for ``pydlk.linalg.lu_solve``, whose arguments come in the other order)."""
    return _lu.lu_solve(LU_data, LU_pivots, b)


def lu_unpack(
    LU_data: Tensor,
    LU_pivots: Tensor,
    unpack_data: bool = True,
    unpack_pivots: bool = True,
    *,
    out: None = None,
) -> _lu.lu_unpack:
    """``(P, L, U)`` with A = P L U from ``lu_factor``'s output, as torch.lu_unpack; with
    ``unpack_data`` or ``unpack_pivots`` False the corresponding outputs are empty tensors. L
    and U are recorded (``tril``/``triu``), so gradients reach ``LU_data``."""
    return _lu.lu_unpack_(LU_data, LU_pivots, unpack_data, unpack_pivots)


def orgqr(input: Tensor, tau: Tensor) -> Tensor:
    """Q's first n columns from ``geqrf``'s reflectors, as torch.orgqr:
    ``pydlk.linalg.householder_product``."""
    return _misc.householder_product(input, tau)


def geqrf(input: Tensor, *, out: None = None) -> _geqrf_type:
    """LAPACK's geqrf, as torch.geqrf: ``(a, tau)`` with R in ``a``'s upper triangle and the
    Householder reflectors below it (``orgqr(a, tau)`` is Q). NumPy's (CuPy's) ``qr`` in 'raw'
    mode. Not differentiable, as in torch (use ``pydlk.linalg.qr``)."""
    A = _tensor(input)
    _check_matrix("geqrf", A, "input")
    h, tau = get_array_module(A._data).linalg.qr(A._data, mode="raw")
    return _geqrf_type(Tensor(_mT(h).astype(A.dtype)), Tensor(tau.astype(A.dtype)))


def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix of a 1-D ``x``, as torch.vander: decreasing powers (NumPy's
    order) unless ``increasing``; ``N`` columns (default len(x)). See
    ``pydlk.linalg.vander`` (increasing, any batch)."""
    x = _tensor(x)
    if x.ndim != 1:
        raise ValueError(f"vander: x must be a one-dimensional tensor, got {x.ndim} dims")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise ValueError(f"vander: N must be non-negative, got {n}")
    if n <= 1:  # linalg.vander needs 2 columns or more
        return x.unsqueeze(-1).pow(0)[:, :n]
    v = _misc.vander(x, N=n)
    return v if increasing else v.flip(-1)


def triangular_solve(
    b: Tensor,
    A: Tensor,
    upper: bool = True,
    transpose: bool = False,
    unitriangular: bool = False,
    *,
    out: None = None,
) -> _triangular_solve_type:
    """``(solution, cloned_coefficient)`` of A X = b (A^T X = b with ``transpose``) for a
    triangular A, as torch.triangular_solve (deprecated in torch for
    ``pydlk.linalg.solve_triangular``, whose arguments come in the other order)."""
    A, b = _tensor(A), _tensor(b)
    T = A.mT if transpose else A
    X = _inverse.solve_triangular(T, b, upper=upper != bool(transpose), unitriangular=unitriangular)
    return _triangular_solve_type(X, A.clone())


def ormqr(
    input: Tensor, tau: Tensor, other: Tensor, left: bool = True, transpose: bool = False
) -> Tensor:
    """op(Q) C (``left``) or C op(Q), with Q the full square product of the Householder
    reflectors ``(input, tau)`` (``geqrf``'s output) and op the transpose when ``transpose``,
    as torch.ormqr. Q is formed (``householder_product`` over the reflectors padded with
    identity ones), so it is differentiable in all three arguments."""
    from ..ops.factories import zeros
    from ..ops.joining import cat

    A, tau, C = _tensor(input), _tensor(tau), _tensor(other)
    _check_matrix("ormqr", A)
    _check_matrix("ormqr", C, "other")
    mn = C.shape[-2] if left else C.shape[-1]
    if A.shape[-2] != mn:
        side = "other.shape[-2]" if left else "other.shape[-1]"
        raise ValueError(
            f"ormqr: input.shape[-2] must be equal to {side} ({mn}), got {A.shape[-2]}"
        )
    k = A.shape[-1]
    lead = tuple(A.shape[:-2])
    if k < mn:  # identity reflectors (tau = 0) for the missing columns give the square Q
        A = cat([A, zeros(*lead, mn, mn - k, dtype=A.dtype, device=A.device)], -1)
    elif k > mn:
        A = A[..., :mn]
    t = tau.shape[-1]
    if t < mn:
        tau = cat([tau, zeros(*lead, mn - t, dtype=tau.dtype, device=tau.device)], -1)
    Q = _misc.householder_product(A, tau)
    Q = Q.mT if transpose else Q
    return Q @ C if left else C @ Q


svd_lowrank = _lowrank.svd_lowrank
pca_lowrank = _lowrank.pca_lowrank
