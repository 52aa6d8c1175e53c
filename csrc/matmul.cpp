// Batched matrix products (matmul.h): one single-threaded OpenBLAS GEMM per matrix, the batch
// spread over the OpenMP team; a batch smaller than the team runs each product on the whole
// team instead (blas.h).
#include "matmul.h"

#include <cstring>

#include "blas.h"

namespace pydlk {

template <typename T>
void matmul_batched(T* c, const MatOperand<T>& a, const MatOperand<T>& b, index_t batch, int M,
                    int N, int K) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  if (K == 0) {  // an empty sum: zeros (the BLAS would leave C unwritten with beta = 0 on some)
    std::memset(c, 0, sizeof(T) * batch * M * N);
    return;
  }
  const int nt = num_threads();
  const double flops = 2.0 * M * N * K;
  const int lda = (int)a.ld, ldb = (int)b.ld;
  if (batch >= nt && !in_parallel() && flops * batch >= 4e6) {
    // static: each thread a contiguous half of the batch, the half of the rows the layers
    // before wrote on its core (attention's q, k, v come from linear layers split by rows).
    // Handed out one by one, half the operands came from the other core: the small GPT step
    // 73 -> 71 ms on the 2-core Zen 5.
#pragma omp parallel for schedule(static)
    for (index_t i = 0; i < batch; ++i)
      gemm1(a.trans, b.trans, M, N, K, T(1), a.data + a.offset[i], lda, b.data + b.offset[i], ldb,
            T(0), c + i * M * N, N);
    return;
  }
  for (index_t i = 0; i < batch; ++i)
    gemm<T>(a.trans, b.trans, M, N, K, T(1), a.data + a.offset[i], lda, b.data + b.offset[i], ldb,
            T(0), c + i * M * N, N);
}

template void matmul_batched<float>(float*, const MatOperand<float>&, const MatOperand<float>&,
                                    index_t, int, int, int);
template void matmul_batched<double>(double*, const MatOperand<double>&, const MatOperand<double>&,
                                     index_t, int, int, int);

}  // namespace pydlk
