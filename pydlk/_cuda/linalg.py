"""Dense factorizations on the GPU, the counterpart of csrc/linalg.cpp.

``lu_factor_ex`` runs the blocked right-looking getrf of ``pydlk.linalg._lu`` on CuPy arrays
(32-column panels with LAPACK's pivot choice, cuBLAS for the triangular solves and trailing
products, every matrix of the batch at once): CuPy exposes cuSOLVER's getrf only for one matrix
at a time (``cupyx.scipy.linalg.lu_factor``), and its pivots and zero-pivot handling are the
CPU kernel's here by construction."""

import numpy as np

from ._common import check_float


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
