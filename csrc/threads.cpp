// One thread count for our OpenMP kernels and the BLAS together (pydlk.set_num_threads).
#include <atomic>
#include <cblas.h>

#include "common.h"

namespace pydlk {

static int initial_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();  // honours OMP_NUM_THREADS
#else
  return 1;
#endif
}

static std::atomic<int> g_threads{initial_threads()};

int num_threads() { return g_threads.load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  if (n < 1) n = 1;
  g_threads.store(n);
  // OpenBLAS stays single-threaded: pydlk::gemm splits large products over our OpenMP team
  // (see blas.h), so only one pool of threads ever runs.
  scipy_openblas_set_num_threads(1);
  sync_threads();
}

void sync_threads() {
#ifdef _OPENMP
  int n = num_threads();
  if (omp_get_max_threads() != n) omp_set_num_threads(n);
#endif
}

}  // namespace pydlk
