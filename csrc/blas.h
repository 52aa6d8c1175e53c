// Row-major GEMM on the scipy-openblas32 build of OpenBLAS: C = alpha*op(A)*op(B) + beta*C.
//
// Threading: OpenBLAS (pthreads) is kept at one thread, and large products are split across our
// OpenMP team instead, each thread running a single-threaded GEMM on its block of C. Two thread
// pools on two cores fight: libgomp's threads spin-wait after a parallel region while
// OpenBLAS's threads want the same cores (measured: a 256x1024x1024 linear layer ran 2-3x slower
// than NumPy). With one pool there is nothing to fight, and a kernel that is already inside a
// parallel region (e.g. per-sample convolution) calls GEMM directly on its own thread.
#pragma once
#include <cblas.h>

#include <algorithm>

#include "common.h"

namespace pydlk {

inline void gemm1(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc) {
  scipy_cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

inline void gemm1(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda,
                  const double* B, int ldb, double beta, double* C, int ldc) {
  scipy_cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// C (M, N) = alpha * op(A) (M, K) @ op(B) (K, N) + beta * C, split over the OpenMP team when large.
template <typename T>
inline void gemm(bool ta, bool tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
                 int ldb, T beta, T* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  int nt = num_threads();
  double flops = 2.0 * M * N * K;
  if (nt <= 1 || in_parallel() || flops < 4e6) {
    gemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Split the longer side of C into one block per thread (multiples of 16 rows/columns).
  bool split_m = M >= N;
  int len = split_m ? M : N;
  int chunk = std::max(16, ((len + nt - 1) / nt + 15) / 16 * 16);
  int nblocks = (len + chunk - 1) / chunk;
#pragma omp parallel for num_threads(std::min(nt, nblocks)) schedule(static, 1)
  for (int blk = 0; blk < nblocks; ++blk) {
    int s = blk * chunk, e = std::min(len, s + chunk);
    if (split_m) {
      const T* Ab = ta ? A + s : A + (size_t)s * lda;
      gemm1(ta, tb, e - s, N, K, alpha, Ab, lda, B, ldb, beta, C + (size_t)s * ldc, ldc);
    } else {
      const T* Bb = tb ? B + (size_t)s * ldb : B + s;
      gemm1(ta, tb, M, e - s, K, alpha, A, lda, Bb, ldb, beta, C + s, ldc);
    }
  }
}

}  // namespace pydlk
