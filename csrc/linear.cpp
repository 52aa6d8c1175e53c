// Fully connected layer on BLAS GEMM (scipy-openblas32), torch's weight layout (OUT, IN).
#include "linear.h"

#include "blas.h"

namespace pydlk {

template <typename T>
void linear_forward(T* y, const T* x, const T* w, const T* b, index_t N, index_t IN, index_t OUT) {
  if (N == 0) return;
  // Start y at the bias (or 0), then y += x @ w^T in one GEMM (beta = 1).
#pragma omp parallel for if (parallel_worth_it(N * OUT))
  for (index_t n = 0; n < N; ++n) {
    T* yn = y + n * OUT;
    for (index_t o = 0; o < OUT; ++o) yn[o] = b ? b[o] : T(0);
  }
  if (IN == 0) return;
  gemm(false, true, (int)N, (int)OUT, (int)IN, T(1), x, (int)IN, w, (int)IN, T(1), y, (int)OUT);
}

template <typename T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, index_t N,
                     index_t IN, index_t OUT) {
  // dx (N, IN) = dy (N, OUT) @ w (OUT, IN)
  if (dx && N * IN > 0) {
    if (OUT == 0) {
      for (index_t i = 0; i < N * IN; ++i) dx[i] = T(0);
    } else {
      gemm(false, false, (int)N, (int)IN, (int)OUT, T(1), dy, (int)OUT, w, (int)IN, T(0), dx,
           (int)IN);
    }
  }
  // dw (OUT, IN) = dy^T (OUT, N) @ x (N, IN)
  if (dw && OUT * IN > 0) {
    if (N == 0) {
      for (index_t i = 0; i < OUT * IN; ++i) dw[i] = T(0);
    } else {
      gemm(true, false, (int)OUT, (int)IN, (int)N, T(1), dy, (int)OUT, x, (int)IN, T(0), dw,
           (int)IN);
    }
  }
  // db (OUT) = column sums of dy, added up in double. Threads split the columns they write.
  if (db) {
#pragma omp parallel for if (parallel_worth_it(N * OUT))
    for (index_t o = 0; o < OUT; ++o) {
      double s = 0;
      for (index_t n = 0; n < N; ++n) s += dy[n * OUT + o];
      db[o] = T(s);
    }
  }
}

template void linear_forward<float>(float*, const float*, const float*, const float*, index_t,
                                    index_t, index_t);
template void linear_forward<double>(double*, const double*, const double*, const double*, index_t,
                                     index_t, index_t);
template void linear_backward<float>(float*, float*, float*, const float*, const float*,
                                     const float*, index_t, index_t, index_t);
template void linear_backward<double>(double*, double*, double*, const double*, const double*,
                                      const double*, index_t, index_t, index_t);

}  // namespace pydlk
