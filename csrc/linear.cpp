// Fully connected layer on BLAS GEMM (scipy-openblas32), torch's weight layout (OUT, IN).
#include "linear.h"

#include <algorithm>
#include <vector>

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
  // Both products at once: dx and dw take the same number of multiply-adds (N * IN * OUT), so
  // half of the team runs one and half the other, each split over its half by columns of IN.
  // Two products one after the other, each split over the whole team, ran no faster on two
  // threads than on one for LeNet's fc1 (64 x 400 -> 120: 72 us either way; side by side 45
  // us; fc2, 1.3 MFLOP a product, 19 -> 12.5 us, so from 1 MFLOP a product on).
  const int nt = num_threads();
  if (dx && dw && N > 0 && IN > 0 && OUT > 0 && nt > 1 && !in_parallel() &&
      2.0 * double(N) * double(IN) * double(OUT) >= 1e6) {
    const int half = (nt + 1) / 2;  // column blocks per product
    const int chunk = int(std::max<index_t>(16, ((IN + half - 1) / half + 15) / 16 * 16));
    const int nb = int((IN + chunk - 1) / chunk);
#pragma omp parallel for num_threads(std::min(nt, 2 * nb)) schedule(static, 1)
    for (int blk = 0; blk < 2 * nb; ++blk) {
      const int c0 = (blk / 2) * chunk, c1 = std::min(int(IN), c0 + chunk);
      if (blk % 2 == 0)  // dx[:, c0:c1] = dy @ w[:, c0:c1]
        gemm1(false, false, (int)N, c1 - c0, (int)OUT, T(1), dy, (int)OUT, w + c0, (int)IN, T(0),
              dx + c0, (int)IN);
      else  // dw[:, c0:c1] = dy^T @ x[:, c0:c1]
        gemm1(true, false, (int)OUT, c1 - c0, (int)N, T(1), dy, (int)OUT, x + c0, (int)IN, T(0),
              dw + c0, (int)IN);
    }
    dx = dw = nullptr;  // done
  }
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
  // db (OUT) = column sums of dy, added up in double. The threads split the rows (samples) in
  // contiguous halves, as the layers around do: dy's rows are in the cache of the core that
  // wrote them (split by column, each thread read every row; see conv2d.cpp's bias_grad). At
  // most 8 fixed blocks of rows keep partials, added up in block order.
  if (db) {
    const index_t nblk = std::max<index_t>(1, std::min<index_t>(N, 8));
    std::vector<double> part(size_t(nblk * OUT), 0.0);
    double* parts = part.data();
#pragma omp parallel for schedule(static) if (nblk > 1 && parallel_worth_it(N * OUT))
    for (index_t j = 0; j < nblk; ++j) {
      double* acc = parts + j * OUT;
      for (index_t n = j * N / nblk; n < (j + 1) * N / nblk; ++n) {
        const T* row = dy + n * OUT;
#pragma omp simd
        for (index_t o = 0; o < OUT; ++o) acc[o] += double(row[o]);
      }
    }
    for (index_t o = 0; o < OUT; ++o) {
      double s = 0;
      for (index_t j = 0; j < nblk; ++j) s += parts[j * OUT + o];
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
