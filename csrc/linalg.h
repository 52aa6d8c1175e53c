// Dense factorizations on OpenBLAS's LAPACK (the scipy-openblas32 build NumPy ships) of batches
// of row-major matrices: the LU factorization with partial pivoting (getrf, linalg.cpp), and the
// Bunch-Kaufman LDL^T factorization (sytrf/hetrf) with its solve (sytrs/hetrs, linalg_ldl.cpp).
#pragma once
#include "common.h"

namespace pydlk {

// For each of `batch` row-major (m, n) matrices of `a`: lu = P L U as LAPACK's getrf leaves it
// (L's strict lower triangle, unit diagonal implied, and U, row-major like `a`), piv[b, i]
// (1-based, i < min(m, n)) the row swapped with row i, in order, and info[b] 0 or the 1-based
// index of the first exactly zero pivot (the factorization then still completes, as getrf's).
// `lu` may be `a`. Matrices run in parallel over the OpenMP team, each single-threaded.
template <typename T>
void lu_factor_ex(T* lu, int32_t* piv, int32_t* info, const T* a, index_t batch, int m, int n);

// T: float, double, std::complex<float>, std::complex<double>.
// For each of `batch` row-major (n, n) matrices of `a`, of which only the lower triangle is read:
// A = P L D L^T P^T (L^H for complex `hermitian`) by LAPACK's ?sytrf (?hetrf) with uplo = 'L'.
// ld (n, n) row-major holds L's strict lower triangle (unit diagonal implied) and the block
// diagonal D (1x1 and 2x2 blocks, a 2x2 block's off-diagonal entry below the diagonal), zeros
// above; piv (n) LAPACK's 1-based int32 encoding (piv[k] > 0: rows k and piv[k] - 1 swapped and
// D[k, k] a 1x1 block; piv[k] = piv[k + 1] < 0: rows k + 1 and -piv[k] - 1 swapped and
// D[k:k+2, k:k+2] a 2x2 block); info[b] 0, or the 1-based index of the first exactly zero
// diagonal block (the factorization still completes). `ld` may be `a`.
template <typename T>
void ldl_factor(T* ld, int32_t* piv, int32_t* info, const T* a, index_t batch, int n,
                bool hermitian);

// x (batch, n, nrhs) = A^-1 b from ldl_factor's (ld, piv) by ?sytrs (?hetrs), uplo = 'L';
// every array row-major and batched alike. piv must be a valid encoding (|piv| in [1, n], a
// negative entry starting a block only where the next row exists and ending one only where the
// previous does: the binding checks it, LAPACK indexes with it unchecked). `x` may be `b`.
template <typename T>
void ldl_solve(T* x, const T* ld, const int32_t* piv, const T* b, index_t batch, int n, int nrhs,
               bool hermitian);

}  // namespace pydlk
