// Batched matrix products on pydlk's BLAS and OpenMP team: what pydlk.matmul, bmm and attention
// multiply. Kept off NumPy's BLAS, whose own thread pool spin-waits after each product and
// then competes with this team for the cores (measured: the next linear layer ran 2.5x slower).
#pragma once
#include "common.h"

namespace pydlk {

// One operand's matrices: row-major (trans = false: element (i, k) at i * ld + k) or
// column-major (trans = true: at k * ld + i), the b-th at offset[b] elements.
template <typename T>
struct MatOperand {
  const T* data = nullptr;
  const int64_t* offset = nullptr;
  bool trans = false;
  int64_t ld = 0;
};

// c[b] (M, N, row-major, contiguous, batch after batch) = a[b] (M, K) @ b[b] (K, N) for every b
// < batch: over the batch on the OpenMP team when it is large enough, else each product split
// over the team (blas.h's gemm).
template <typename T>
void matmul_batched(T* c, const MatOperand<T>& a, const MatOperand<T>& b, index_t batch, int M,
                    int N, int K);

}  // namespace pydlk
