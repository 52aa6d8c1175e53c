// The bf16 micro-kernel and its panel sizes, shared by the AVX512_BF16 translation units
// (bf16_gemm.cpp, bf16_conv.cpp) and by nothing else: include it only from a file compiled with
// -mavx512bf16. Everything here has internal linkage (an anonymous namespace), so no AVX-512 copy
// of an inline function can be handed by the linker to code that runs on other CPUs.
//
// vdpbf16ps acc, a, b computes, in each of 16 float32 lanes i:
//   acc[i] += a[2i] * b[2i] + a[2i+1] * b[2i+1]
// so both operands are packed as pairs of consecutive depth (k) values in one 32-bit slot:
//   B panel (NR = 32 columns): slot [p][j] = (B[2p][j], B[2p+1][j]), two zmm per pair p;
//   A panel (MR = 8 rows):     slot [p][i] = (A[i][2p], A[i][2p+1]), broadcast to all lanes.
// The micro-kernel keeps an MR x NR tile of C in 16 zmm accumulators (vdpbf16ps has a latency
// of about 6 cycles on two pipes: 12+ independent sums keep both busy). Depth is blocked in
// kKcPairs pairs so that one B panel (kKcPairs * NR * 4 bytes = 32 KiB) stays in L1 while it
// meets every A panel.
#pragma once
#if !defined(__AVX512BF16__)
#error "bf16_kernel.h is for translation units compiled with -mavx512bf16"
#endif
#include <immintrin.h>

#include "common.h"

namespace pydlk {
namespace {

constexpr int MR = 8, NR = 32;
constexpr index_t kKcPairs = 256;

inline index_t pairs_of(index_t K) { return (K + 1) / 2; }
inline index_t imin(index_t a, index_t b) { return a < b ? a : b; }

inline __mmask16 lane_mask(index_t n) {
  return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n > 0 ? n : 0)) - 1);
}

// C tile (mr x nr, row stride ldc) = (acc ? C : 0) + sum over kp pairs of a[p] * b[p].
inline void micro_kernel(index_t kp, const uint32_t* a, const uint32_t* b, float* C, index_t ldc,
                         int mr, int nr, bool acc) {
  __m512 c[MR][2];
  for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm512_setzero_ps();
  for (index_t p = 0; p < kp; ++p) {
    __m512bh b0 = (__m512bh)_mm512_load_si512(b + p * NR);
    __m512bh b1 = (__m512bh)_mm512_load_si512(b + p * NR + 16);
    const uint32_t* ap = a + p * MR;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      __m512bh av = (__m512bh)_mm512_set1_epi32((int)ap[i]);
      c[i][0] = _mm512_dpbf16_ps(c[i][0], av, b0);
      c[i][1] = _mm512_dpbf16_ps(c[i][1], av, b1);
    }
  }
  __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
  for (int i = 0; i < mr; ++i) {
    float* r = C + i * ldc;
    __m512 v0 = c[i][0], v1 = c[i][1];
    if (acc) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, r));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, r + 16));
    }
    _mm512_mask_storeu_ps(r, m0, v0);
    _mm512_mask_storeu_ps(r + 16, m1, v1);
  }
}

// The calling thread's B panel buffer (kKcPairs x NR slots, 64-byte aligned); reused across
// calls so that a product allocates nothing in steady state.
inline uint32_t* b_panel() {
  alignas(64) static thread_local uint32_t buf[kKcPairs * NR];
  return buf;
}

}  // namespace
}  // namespace pydlk
