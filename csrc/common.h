// Shared by every kernel: threading, SIMD dispatch, sizes. No Python here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pydlk {

using index_t = int64_t;

// Work below this many elements runs on one thread: waking a thread team costs more than a
// small loop (PyTorch's parallel_for uses the same idea, grain size 32768).
constexpr index_t kGrain = 32768;

// The kernels' thread count (set by pydlk.set_num_threads; starts from OMP_NUM_THREADS).
int num_threads();
void set_num_threads(int n);
// Called by the bindings before each kernel: makes the calling thread's OpenMP team size
// match the global setting (omp_set_num_threads only affects the calling thread).
void sync_threads();

inline bool parallel_worth_it(index_t work) { return work >= kGrain && num_threads() > 1; }

// This thread's number inside an OpenMP team (0 outside one): indexes per-thread workspace slices.
inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Inside an OpenMP parallel region (a kernel called from another kernel's team runs its own
// loops on the calling thread).
inline bool in_parallel() {
#ifdef _OPENMP
  return omp_in_parallel();
#else
  return false;
#endif
}

}  // namespace pydlk

// Runtime SIMD dispatch. The whole library is compiled for x86-64 with AVX2+FMA; functions marked
// PYDLK_SIMD get a second, AVX-512 (x86-64-v4) copy, and the loader picks one per CPU (ifunc).
// OpenMP-outlined loop bodies inside them are cloned too. Elsewhere the macro is empty.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(PYDLK_NO_CLONES) && !defined(__AVX512F__)
#define PYDLK_SIMD __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define PYDLK_SIMD
#endif

// Hand-blocked AVX-512 kernels (conv2d_direct512.cpp, gemm_packed.cpp) carry this target on
// their loops only, and run after cpu_has_avx512() says the CPU has these extensions.
#if defined(__x86_64__) && defined(__GNUC__)
#define PYDLK_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
inline bool cpu_has_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  return ok;
}
#else
#define PYDLK_AVX512
inline bool cpu_has_avx512() { return false; }
#endif

// Helpers called from PYDLK_SIMD kernels are forced inline, so that they are compiled inside
// each clone (AVX-512 there) instead of once, out of line, for the baseline.
// The same for a lambda written inside such a kernel (after its parameter list): GCC compiles a
// lambda's body as a function of its own, for the baseline target, unless it is inlined.
#if defined(__GNUC__)
#define PYDLK_INLINE inline __attribute__((always_inline))
#define PYDLK_LAMBDA_INLINE __attribute__((always_inline))
#else
#define PYDLK_INLINE inline
#define PYDLK_LAMBDA_INLINE
#endif

// 4K aliasing: the CPU checks a load against the stores that have not yet left the core by the
// low 12 bits of their addresses only, and a load that matches one waits for it. A kernel that
// stores out[i] and then loads in[i + 16] meets such a store on every vector when out starts 1
// to 1024 bytes past in, modulo 4 KiB (measured here: layer norm forward 2.5x slower at 32-96
// bytes, 1.1-1.3x up to 1 KiB). True in that case. (Stores into lines the core already holds
// leave at once: in-place kernels are not affected.)
inline bool store_aliases_ahead(const void* out, const void* in) {
  const uintptr_t d = (reinterpret_cast<uintptr_t>(out) - reinterpret_cast<uintptr_t>(in)) & 4095u;
  return in != nullptr && d > 0 && d <= 1024;
}

namespace pydlk {

// d[0, n) = s[0, n) for an even n <= 16 (a narrow plane's row) in two overlapping fixed-size
// moves: a memcpy call per 10-float row (GCC turns a plain copy loop into one too) took a third
// of LeNet's 10x10 max pool.
PYDLK_INLINE void copy_short_row(float* d, const float* s, index_t n) {
  if (n >= 8) {
    float a[8], b[8];
    std::memcpy(a, s, sizeof(a));
    std::memcpy(b, s + n - 8, sizeof(b));
    std::memcpy(d, a, sizeof(a));
    std::memcpy(d + n - 8, b, sizeof(b));
  } else if (n >= 4) {
    float a[4], b[4];
    std::memcpy(a, s, sizeof(a));
    std::memcpy(b, s + n - 4, sizeof(b));
    std::memcpy(d, a, sizeof(a));
    std::memcpy(d + n - 4, b, sizeof(b));
  } else {
    for (index_t i = 0; i < n; ++i) d[i] = s[i];
  }
}

}  // namespace pydlk
