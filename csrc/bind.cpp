// The extension module pydlk._C: configuration, threads, and each kernel family's bindings
// (bind_<family>.cpp, one per csrc family, declared in bind_util.h).
#include <cblas.h>

#include <cstdlib>
#include <string>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "bind_util.h"
#include "numpy_pool.h"
#include "stream_store.h"

#ifndef PYDLK_VERSION
#define PYDLK_VERSION "dev"
#endif

namespace py = pybind11;
using namespace pydlk;

// The SIMD level the PYDLK_SIMD kernels run at on this CPU.
static std::string simd_level() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
#if defined(__AVX512F__)
  return "AVX-512 (compiled in)";
#else
  bool clones = std::string(PYDLK_SIMD_BUILD).find("clones") != std::string::npos;
  if (clones && __builtin_cpu_supports("avx512f")) return "AVX-512 (x86-64-v4 clone)";
  if (__builtin_cpu_supports("avx2")) return "AVX2+FMA (x86-64-v3)";
  return "below AVX2: unsupported CPU";
#endif
#else
  return "compiler default";
#endif
}

// Memory is part of speed: writing into freshly mapped pages runs at ~2.4 GB/s here (a page
// fault per 4 KiB), and glibc maps every large block (outputs, gradients, workspaces) fresh and
// unmaps it on free. Keeping freed blocks in the heap makes the next step reuse warm pages, like
// PyTorch's caching allocator: measured, a LeNet-5 training step at batch 256 went from 26 ms to
// 15 ms. PYDLK_MALLOC_POOL=0 leaves the allocator alone.
static std::string g_allocator = "system default";
static std::string g_numpy_allocator = "NumPy's default";

static void keep_freed_memory_warm() {
#if defined(__GLIBC__)
  const char* env = std::getenv("PYDLK_MALLOC_POOL");
  if (env && std::string(env) == "0") {
    g_allocator = "system default (PYDLK_MALLOC_POOL=0)";
    return;
  }
  bool ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;  // blocks up to 32 MiB come from the heap
  ok = ok && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;  // and freed memory stays there (1 GiB)
  ok = ok && mallopt(M_TOP_PAD, 64 << 20) == 1;        // the heap grows in 64 MiB steps
  g_allocator = ok ? "glibc heap kept warm (large blocks reused, not unmapped)"
                   : "system default (mallopt refused)";
#endif
}

static py::dict config() {
  py::dict d;
  d["version"] = PYDLK_VERSION;
  d["compiler"] = PYDLK_COMPILER;
  d["openmp"] = PYDLK_OPENMP_INFO;
  d["simd_build"] = PYDLK_SIMD_BUILD;
  d["simd"] = simd_level();
  d["blas"] = std::string("scipy-openblas32 ") + scipy_openblas_get_config();
  d["blas_core"] = std::string(scipy_openblas_get_corename());
  d["blas_threads"] = scipy_openblas_get_num_threads();
  d["num_threads"] = num_threads();
  d["allocator"] = g_allocator;
  d["numpy_allocator"] = g_numpy_allocator;
  d["stream_threshold"] = stream_threshold();
  return d;
}

PYBIND11_MODULE(_C, m) {
  m.doc() = "pydlk kernels (C++17 + OpenMP)";
  m.def("config", &config, "Build and runtime configuration as a dict.");
  m.def("get_num_threads", &num_threads);
  // Capped: OpenMP aborts the process when it cannot create a requested team.
  m.def("set_num_threads", [](py::object n) {
    set_num_threads((int)int_arg(n, "set_num_threads", "n", 1, 1025));
  }, py::arg("n"));
  // Outputs of at least this many bytes are written with streaming stores (stream_store.h); -1
  // restores the default (half the last-level cache). Tests set 0 to cover those paths.
  m.def("get_stream_threshold", [] { return (int64_t)stream_threshold(); });
  m.def("set_stream_threshold", [](py::object b) {
    set_stream_threshold(int_arg(b, "set_stream_threshold", "bytes", -1, INT64_MAX));
  }, py::arg("bytes"));
  keep_freed_memory_warm();
  g_numpy_allocator = install_numpy_pool();  // blocks above glibc's 32 MiB (numpy_pool.cpp)
  bind_numpy_pool(m);
  // Align the BLAS pool with our OpenMP team size from the start.
  set_num_threads(num_threads());

  bind_linear(m);
  bind_conv2d(m);
  bind_pool2d(m);
  bind_norm(m);
  bind_activation(m);
  bind_dropout(m);
  bind_loss(m);
  bind_optim(m);
  bind_rnn(m);
  bind_attention(m);
  bind_bf16(m);
  bind_special(m);
  bind_linalg(m);
  bind_grid_sample(m);
  bind_matmul(m);
  bind_embedding(m);
}
