"""torch.linalg: linear algebra on matrices and batches of matrices (leading dims are batch
dims), under torch's names, arguments and return types.

Each decomposition or solve is an autograd Function on NumPy's (or, for CuPy arrays,
CuPy's) ``linalg``, with torch's backward formula; norms and the small products are built from
differentiable ops. Errors are torch's: ``LinAlgError`` (a RuntimeError) for a singular matrix
in ``inv``/``solve`` or one that is not positive-definite in ``cholesky``, ValueError for
shapes, TypeError for dtypes other than float32/float64. The LU family is written here (NumPy
has no LU: a blocked getrf in ``_lu.py``). ``eig``/``eigvals`` (non-symmetric matrices) are
LAPACK's geev with complex results, as torch's; they and the LDL family (``ldl_factor``,
``ldl_factor_ex``, ``ldl_solve``: LAPACK's Bunch-Kaufman sytrf/sytrs written in ``_ldl.py``)
are the only functions that take complex matrices.
"""

from ._common import LinAlgError
from ._eig import eig, eigvals
from ._factor import cholesky, cholesky_ex, eigh, eigvalsh, qr, svd, svdvals
from ._inverse import (
    det,
    inv,
    inv_ex,
    matrix_power,
    slogdet,
    solve,
    solve_ex,
    solve_triangular,
    tensorinv,
    tensorsolve,
)
from ._ldl import ldl_factor, ldl_factor_ex, ldl_solve
from ._lu import lu, lu_factor, lu_factor_ex, lu_solve
from ._misc import (
    cond,
    cross,
    diagonal,
    householder_product,
    lstsq,
    matmul,
    matrix_exp,
    matrix_rank,
    multi_dot,
    pinv,
    vander,
    vecdot,
)
from ._norms import matrix_norm, norm, vector_norm

__all__ = [
    "LinAlgError",
    "cholesky",
    "cholesky_ex",
    "cond",
    "cross",
    "det",
    "diagonal",
    "eig",
    "eigh",
    "eigvals",
    "eigvalsh",
    "householder_product",
    "inv",
    "inv_ex",
    "ldl_factor",
    "ldl_factor_ex",
    "ldl_solve",
    "lstsq",
    "lu",
    "lu_factor",
    "lu_factor_ex",
    "lu_solve",
    "matmul",
    "matrix_exp",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "solve_ex",
    "solve_triangular",
    "svd",
    "svdvals",
    "tensorinv",
    "tensorsolve",
    "vander",
    "vecdot",
    "vector_norm",
]
