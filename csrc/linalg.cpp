// LU factorization (getrf) of a batch of row-major matrices on OpenBLAS's LAPACK.
//
// LAPACK is column-major: each matrix is transposed into a column-major buffer, factored by
// ?getrf (OpenBLAS's own blocked, recursive implementation, with its GEMM kernels) and
// transposed back. The two O(mn) copies are small next to the O(mn min(m,n)) factorization
// (LAPACKE's row-major wrapper does the same). One matrix per thread of the OpenMP team; the BLAS
// stays single-threaded (blas.h says why).
#include "linalg.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

extern "C" {
// scipy-openblas32 exports LAPACK with its symbol prefix; 32-bit integers (lapack_int).
void scipy_sgetrf_(const int* m, const int* n, float* a, const int* lda, int* ipiv, int* info);
void scipy_dgetrf_(const int* m, const int* n, double* a, const int* lda, int* ipiv, int* info);
void scipy_openblas_set_num_threads(int n);
}

namespace pydlk {

namespace {

inline void getrf(int m, int n, float* a, int lda, int* ipiv, int* info) {
  scipy_sgetrf_(&m, &n, a, &lda, ipiv, info);
}
inline void getrf(int m, int n, double* a, int lda, int* ipiv, int* info) {
  scipy_dgetrf_(&m, &n, a, &lda, ipiv, info);
}

// dst (cols, rows) row-major = src (rows, cols) row-major transposed, in 32x32 tiles so both
// sides stay in cache. Returns whether src holds a NaN.
template <typename T>
bool transpose(T* dst, const T* src, int rows, int cols) {
  constexpr int kTile = 32;
  bool nan = false;
  for (int i0 = 0; i0 < rows; i0 += kTile)
    for (int j0 = 0; j0 < cols; j0 += kTile) {
      const int i1 = std::min(i0 + kTile, rows), j1 = std::min(j0 + kTile, cols);
      for (int i = i0; i < i1; ++i)
        for (int j = j0; j < j1; ++j) {
          const T v = src[(index_t)i * cols + j];
          nan |= v != v;
          dst[(index_t)j * rows + i] = v;
        }
    }
  return nan;
}

// The unblocked textbook getrf (LAPACK's getf2) on a row-major matrix, in place. Used for small
// matrices, where it beats the transposes and OpenBLAS's per-call overhead (measured on one
// Zen 5 core: 0.7 against 2.0 us for 16x16, 18 against 27 us for 64x64, even at 128x128), and for
// matrices holding a NaN: OpenBLAS's getrf skips the division by a NaN pivot and returns finite
// multipliers below it, a factorization that no longer shows the NaN. Here IEEE arithmetic runs
// as written (a NaN pivot is chosen as the largest, as NumPy's argmax does, and spreads to the
// multipliers and the trailing block, as in torch's result on the CPU).
template <typename T>
int getf2_rowmajor(T* a, int m, int n, int* ipiv) {
  const int k = std::min(m, n);
  int info = 0;
  for (int j = 0; j < k; ++j) {
    int p = j;
    T best = std::abs(a[(index_t)j * n + j]);
    for (int i = j + 1; i < m && best == best; ++i) {
      const T v = std::abs(a[(index_t)i * n + j]);
      if (v > best || v != v) p = i, best = v;
    }
    ipiv[j] = p + 1;
    if (p != j) std::swap_ranges(a + (index_t)j * n, a + (index_t)(j + 1) * n, a + (index_t)p * n);
    const T* rj = a + (index_t)j * n;
    const T d = rj[j];
    if (d == 0 && info == 0) info = j + 1;
    // getrf leaves the column below a zero pivot as it is, and multiplies by the reciprocal
    // where that is safe (|d| at least the smallest normal number), as LAPACK's getf2
    const bool recip = std::abs(d) >= std::numeric_limits<T>::min();
    const T r = recip ? T(1) / d : T(1);
    for (int i = j + 1; i < m; ++i) {
      T* ri = a + (index_t)i * n;
      if (recip) ri[j] *= r;
      else if (d != 0) ri[j] /= d;
      const T l = ri[j];
      for (int c = j + 1; c < n; ++c) ri[c] -= l * rj[c];
    }
  }
  return info;
}

}  // namespace

template <typename T>
void lu_factor_ex(T* lu, int32_t* piv, int32_t* info, const T* a, index_t batch, int m, int n) {
  const index_t mn = (index_t)m * n;
  const int k = std::min(m, n);
  const int nt = (int)std::min<index_t>(num_threads(), batch);
  // Fewer matrices than threads, each large: OpenBLAS's threaded getrf runs each one on the
  // whole team (our OpenMP threads idle meanwhile), then the BLAS goes back to one thread.
  const bool blas_threads =
      batch < num_threads() && !in_parallel() && (double)mn * std::min(m, n) >= 4e6;
  if (blas_threads) scipy_openblas_set_num_threads(num_threads());
  const bool small = (double)mn * k <= 64.0 * 64 * 64;
#pragma omp parallel num_threads(nt) if (nt > 1 && !in_parallel())
  {
    std::vector<T> work(mn);  // column-major copy: LAPACK's layout
#pragma omp for schedule(dynamic, 1)
    for (index_t b = 0; b < batch; ++b) {
      if (small) {
        std::copy(a + b * mn, a + (b + 1) * mn, lu + b * mn);
        info[b] = getf2_rowmajor(lu + b * mn, m, n, piv + b * k);
        continue;
      }
      // (n, m) row-major = (m, n) column-major
      if (transpose(work.data(), a + b * mn, m, n)) {
        std::copy(a + b * mn, a + (b + 1) * mn, lu + b * mn);
        info[b] = getf2_rowmajor(lu + b * mn, m, n, piv + b * k);
        continue;
      }
      int inf = 0;
      getrf(m, n, work.data(), std::max(m, 1), piv + b * k, &inf);
      info[b] = inf;  // never negative: the arguments are checked by the binding
      transpose(lu + b * mn, work.data(), n, m);
    }
  }
  if (blas_threads) scipy_openblas_set_num_threads(1);
}

template void lu_factor_ex<float>(float*, int32_t*, int32_t*, const float*, index_t, int, int);
template void lu_factor_ex<double>(double*, int32_t*, int32_t*, const double*, index_t, int, int);

}  // namespace pydlk
