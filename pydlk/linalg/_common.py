"""What the linalg modules share: the error type, argument checks, the named tuples torch
returns, and small array helpers (transpose of the last two dims, an LU pivot scan for error
messages)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._backend import get_array_module, host_array
from ..autograd import Tensor


class LinAlgError(RuntimeError):
    """Raised where torch raises ``torch.linalg.LinAlgError``: a singular matrix in ``inv`` or
    ``solve``, a matrix that is not positive-definite in ``cholesky``. A RuntimeError, as in
    torch, so ``except RuntimeError`` catches it too."""


LinAlgError.__module__ = "pydlk.linalg"  # its public home, as tracebacks name it


# -- the named tuples torch returns (torch.return_types.*): the repr names the op


class slogdet(NamedTuple):
    """``(sign, logabsdet)`` of ``pydlk.slogdet``."""

    sign: Tensor
    logabsdet: Tensor


class linalg_slogdet(NamedTuple):
    """``(sign, logabsdet)`` of ``pydlk.linalg.slogdet``."""

    sign: Tensor
    logabsdet: Tensor


class linalg_eigh(NamedTuple):
    """``(eigenvalues, eigenvectors)`` of ``pydlk.linalg.eigh``."""

    eigenvalues: Tensor
    eigenvectors: Tensor


class linalg_qr(NamedTuple):
    """``(Q, R)`` of ``pydlk.linalg.qr``."""

    Q: Tensor
    R: Tensor


class qr(NamedTuple):
    """``(Q, R)`` of ``pydlk.qr``."""

    Q: Tensor
    R: Tensor


class geqrf(NamedTuple):
    """``(a, tau)`` of ``pydlk.geqrf``."""

    a: Tensor
    tau: Tensor


class triangular_solve(NamedTuple):
    """``(solution, cloned_coefficient)`` of ``pydlk.triangular_solve``."""

    solution: Tensor
    cloned_coefficient: Tensor


class linalg_svd(NamedTuple):
    """``(U, S, Vh)`` of ``pydlk.linalg.svd``."""

    U: Tensor
    S: Tensor
    Vh: Tensor


class svd(NamedTuple):
    """``(U, S, V)`` of ``pydlk.svd`` (V, not its transpose)."""

    U: Tensor
    S: Tensor
    V: Tensor


class linalg_lstsq(NamedTuple):
    """``(solution, residuals, rank, singular_values)`` of ``pydlk.linalg.lstsq``."""

    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


class linalg_inv_ex(NamedTuple):
    """``(inverse, info)`` of ``pydlk.linalg.inv_ex``."""

    inverse: Tensor
    info: Tensor


class linalg_solve_ex(NamedTuple):
    """``(result, info)`` of ``pydlk.linalg.solve_ex``."""

    result: Tensor
    info: Tensor


class linalg_cholesky_ex(NamedTuple):
    """``(L, info)`` of ``pydlk.linalg.cholesky_ex``."""

    L: Tensor
    info: Tensor


for _c in (
    geqrf,
    triangular_solve,
    slogdet,
    linalg_slogdet,
    linalg_eigh,
    linalg_qr,
    qr,
    linalg_svd,
    svd,
    linalg_lstsq,
    linalg_inv_ex,
    linalg_solve_ex,
    linalg_cholesky_ex,
):
    _c.__module__ = "pydlk.return_types"  # the repr reads as torch's
del _c


# -- checks


def _check_float(op: str, a: Any, name: str = "A") -> None:
    """TypeError naming ``op`` unless ``a`` holds float32 or float64 (LAPACK's real types)."""
    dt = a.dtype
    if dt.kind != "f" or dt.itemsize < 4:
        kind = "floating point" if dt.kind != "f" else "float32 or float64"
        raise TypeError(
            f"{op}: Expected a {kind} tensor as {name}. Got {dt}"
            + ("; convert it first with .float()" if dt.kind != "f" else "")
        )


def _check_matrix(op: str, a: Any, name: str = "A") -> None:
    """ValueError naming ``op`` unless ``a`` has at least 2 dims; TypeError unless float."""
    if a.ndim < 2:
        raise ValueError(f"{op}: The input tensor {name} must have at least 2 dimensions.")
    _check_float(op, a, name)


def _check_square(op: str, a: Any, name: str = "A") -> None:
    """As ``_check_matrix``, and the last two dims equal (torch's words)."""
    _check_matrix(op, a, name)
    if a.shape[-1] != a.shape[-2]:
        raise ValueError(
            f"{op}: {name} must be batches of square matrices, but they are "
            f"{a.shape[-2]} by {a.shape[-1]} matrices"
        )


def _tensor(x: Any) -> Tensor:
    """An op's argument as a Tensor (arrays wrapped without a copy)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _square_t(op: str, A: Any) -> Tensor:
    A = _tensor(A)
    _check_square(op, A)
    return A


# -- array helpers


def _mT(a: Any) -> Any:
    """The transpose of the last two dims (an array's)."""
    return get_array_module(a).swapaxes(a, -1, -2)


def _eye_like(a: Any) -> Any:
    """The identity of ``a``'s last dim, in its dtype, on its device."""
    return get_array_module(a).eye(a.shape[-1], dtype=a.dtype)


def _lu_info(m: np.ndarray) -> int:
    """LAPACK getrf's ``info`` for one square matrix: the 1-based index of the first zero pivot
    of LU with partial pivoting, 0 if there is none. Only for error messages and ``*_ex``'s
    info, after NumPy has said the matrix is singular (getrf goes on past a zero pivot, and so
    does this)."""
    m = np.array(m, copy=True)
    n, info = m.shape[0], 0
    for k in range(n):
        p = k + int(np.argmax(np.abs(m[k:, k])))
        if m[p, k] == 0:
            info = info or k + 1
            continue
        m[[k, p]] = m[[p, k]]
        m[k + 1 :, k] /= m[k, k]
        m[k + 1 :, k + 1 :] -= np.outer(m[k + 1 :, k], m[k, k + 1 :])
    return info


def _chol_info(m: np.ndarray) -> int:
    """LAPACK potrf's ``info`` for one symmetric matrix (its lower triangle read): the order of
    the first leading minor that is not positive-definite, 0 if there is none."""
    m = np.asarray(m, dtype=np.float64)
    n = m.shape[0]
    L = np.zeros_like(m)
    for j in range(n):
        d = m[j, j] - L[j, :j] @ L[j, :j]
        if not d > 0:  # also NaN
            return j + 1
        L[j, j] = np.sqrt(d)
        L[j + 1 :, j] = (m[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]
    return 0


def _infos(a: Any, scan: Any) -> np.ndarray:
    """``scan`` (``_lu_info`` or ``_chol_info``) of every matrix of the batch ``a``, as an int32
    array of the batch shape (on the host)."""
    h = host_array(a)
    flat = h.reshape((-1,) + h.shape[-2:])
    return np.array([scan(m) for m in flat], dtype=np.int32).reshape(h.shape[:-2])


def _first_failure(op: str, info: np.ndarray, batched: bool) -> tuple[str, int]:
    """The ``"op: (Batch element i): "`` prefix torch puts before a failure's message, and the
    failing ``info`` value, for the first nonzero entry of ``info``."""
    flat = info.reshape(-1)
    i = int(np.flatnonzero(flat)[0])
    where = f"(Batch element {i}): " if batched else ""
    return f"{op}: {where}", int(flat[i])


def _singular_error(op: str, a: Any) -> LinAlgError:
    """The LinAlgError for a singular matrix of ``a`` (which NumPy refused), worded as torch's."""
    info = _infos(a, _lu_info)
    if not info.any():  # NumPy saw a zero pivot this scan does not (rounding): still singular
        return LinAlgError(f"{op}: The input matrix is singular.")
    prefix, k = _first_failure(op, info, a.ndim > 2)
    return LinAlgError(
        f"{prefix}The diagonal element {k} is zero, the inversion could not be completed "
        "because the input matrix is singular."
    )


def _not_pd_error(op: str, a: Any) -> LinAlgError:
    """The LinAlgError for a matrix of ``a`` that is not positive-definite, worded as torch's."""
    info = _infos(a, _chol_info)
    if not info.any():
        info = np.ones(a.shape[:-2], np.int32)  # NumPy refused it: report the first matrix
    prefix, k = _first_failure(op, info, a.ndim > 2)
    return LinAlgError(
        f"{prefix}The factorization could not be completed because the input is not "
        f"positive-definite (the leading minor of order {k} is not positive-definite)."
    )


def _all_finite(x: Any) -> bool:
    """Whether every element is finite (CuPy's solvers return NaN/inf where NumPy's raise)."""
    return bool(get_array_module(x).isfinite(x).all())
