"""Dense factorizations on the GPU, the counterpart of csrc/linalg.cpp and csrc/linalg_ldl.cpp.

``lu_factor_ex`` runs the blocked right-looking getrf of ``pydlk.linalg._lu`` on CuPy arrays
(32-column panels with LAPACK's pivot choice, cuBLAS for the triangular solves and trailing
products, every matrix of the batch at once): CuPy exposes cuSOLVER's getrf only for one matrix
at a time (``cupyx.scipy.linalg.lu_factor``), and its pivots and zero-pivot handling are the
CPU kernel's here by construction."""

import numpy as np

from ._common import check_float, contiguous, cupy, is_cupy

_LDL_DTYPES = (np.float32, np.float64, np.complex64, np.complex128)


def lu_factor_ex(input):
    """(LU, pivots, info) of every (m, n) matrix of a float32/float64 input (*, m, n), as the
    CPU kernel: LU packs L's strict lower triangle (unit diagonal) and U; pivots (*, min(m, n))
    int32, 1-based row swaps in order; info (*) int32, 0 or the 1-based index of the first
    zero pivot."""
    op = "lu_factor_ex"
    input = check_float(input, op, "input")
    if input.ndim < 2:
        raise ValueError(
            f"{op}: input must have at least 2 dimensions (*, m, n), got shape {tuple(input.shape)}"
        )
    from ..linalg._lu import _getrf_blocked

    lu, piv, info = _getrf_blocked(input, True)
    return lu, piv.astype(np.int32, copy=False), info.astype(np.int32, copy=False)


def _check_ldl_array(x, op, name):
    """A C-contiguous float32/float64/complex64/complex128 CuPy array, as the CPU kernel's."""
    if not is_cupy(x):
        raise TypeError(f"{op}: {name} must be a CuPy array, got {type(x).__name__}")
    if x.dtype not in _LDL_DTYPES:
        raise TypeError(
            f"{op}: {name} must be a float32, float64, complex64 or complex128 array, got {x.dtype}"
        )
    return contiguous(x)


def _square(x, op, name):
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{op}: {name} must be square matrices (*, n, n), got shape {x.shape}")
    return x.shape[-1]


def ldl_factor(input, hermitian=False):
    """(LD, pivots, info) of every (n, n) matrix of a float32/float64/complex64/complex128 input
    (*, n, n), of which only the lower triangle is read, as the CPU kernel (LAPACK's sytrf,
    hetrf for hermitian=True and complex input, uplo='L'): LD (*, n, n) holds L's strict lower
    triangle and the block diagonal D, zeros above; pivots (*, n) int32, LAPACK's 1-based
    encoding; info (*) int32, 0 or the 1-based index of the first exactly zero block of D."""
    op = "ldl_factor"
    input = _check_ldl_array(input, op, "input")
    n = _square(input, op, "input")
    from ..linalg._ldl import _sytrf

    lead = tuple(input.shape[:-2])
    ld, piv, info = _sytrf(input.reshape((int(np.prod(lead)), n, n)), bool(hermitian))
    return ld.reshape(input.shape), piv.reshape(lead + (n,)), info.reshape(lead)


def ldl_solve(LD, pivots, B, hermitian=False):
    """X (*, n, k) with A X = B from ldl_factor's LD (*, n, n) and pivots (*, n) (int32; a
    sequence no ldl_factor returns is refused), as the CPU kernel (LAPACK's sytrs, hetrs for
    hermitian=True and complex LD, uplo='L'); LD and B of one dtype, with the same batch shape."""
    op = "ldl_solve"
    LD = _check_ldl_array(LD, op, "LD")
    n = _square(LD, op, "LD")
    B = _check_ldl_array(B, op, "B")
    if B.dtype != LD.dtype:
        raise TypeError(f"{op}: B must have LD's dtype ({LD.dtype}), got {B.dtype}")
    if not is_cupy(pivots) or pivots.dtype != np.int32:
        got = pivots.dtype if is_cupy(pivots) else type(pivots).__name__
        raise TypeError(f"{op}: pivots must be an int32 CuPy array, got {got}")
    lead = tuple(LD.shape[:-2])
    if tuple(pivots.shape) != lead + (n,):
        raise ValueError(f"{op}: pivots must have shape {lead + (n,)}, got {pivots.shape}")
    if B.ndim != LD.ndim or tuple(B.shape[:-1]) != lead + (n,):
        raise ValueError(
            f"{op}: B must have shape {lead + (n,)} + (k,) (LD {LD.shape}), got {B.shape}"
        )
    from ..linalg._ldl import _check_pivots, _sytrs

    nb = int(np.prod(lead))
    _check_pivots(cupy(), pivots.reshape((nb, n)), n, op)
    x = _sytrs(
        LD.reshape((nb, n, n)),
        pivots.reshape((nb, n)),
        B.reshape((nb,) + B.shape[-2:]),
        bool(hermitian),
    )
    return x.reshape(B.shape)
