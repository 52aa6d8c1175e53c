// One thread count for our OpenMP kernels and the BLAS together (pydlk.set_num_threads).
#include <cblas.h>
#include <atomic>

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
  // Our OpenBLAS stays single-threaded: pydlk::gemm splits large products over our OpenMP team
  // (see blas.h). NumPy's BLAS is set from Python (pydlk/_config.py).
  scipy_openblas_set_num_threads(1);
  sync_threads();
}

void sync_threads() {
  // threadpoolctl's threadpool_limits(n) sets every BLAS in the process, ours included.
  if (scipy_openblas_get_num_threads() != 1) scipy_openblas_set_num_threads(1);
#ifdef _OPENMP
  int n = num_threads();
  if (omp_get_max_threads() != n) omp_set_num_threads(n);
#endif
}

}  // namespace pydlk

// C entry points for threadpoolctl: pydlk/_config.py registers a controller that finds this
// library by these symbols, so threadpool_info() lists pydlk and threadpool_limits() limits it.
#if defined(_WIN32)
#define PYDLK_EXPORT __declspec(dllexport)
#else
#define PYDLK_EXPORT __attribute__((visibility("default")))
#endif
extern "C" PYDLK_EXPORT int pydlk_get_num_threads() { return pydlk::num_threads(); }
extern "C" PYDLK_EXPORT void pydlk_set_num_threads(int n) { pydlk::set_num_threads(n); }
