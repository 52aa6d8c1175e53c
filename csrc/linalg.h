// Dense factorizations on OpenBLAS's LAPACK (the scipy-openblas32 build NumPy ships): the LU
// factorization with partial pivoting (getrf) of a batch of row-major matrices.
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

}  // namespace pydlk
