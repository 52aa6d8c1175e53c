// bfloat16 GEMM micro-kernels: vdpbf16ps (AVX512_BF16) on packed pairs, float32 accumulation.
//
// This translation unit alone is compiled with -mavx512f/bw/vl/dq -mavx512bf16 (CMakeLists.txt);
// callers check bf16_cpu_supported() first. The OpenBLAS that NumPy ships has no bf16 GEMM.
//
// The micro-kernel and the packed layouts it reads are in bf16_kernel.h.
#include "bf16_gemm.h"

#if defined(__AVX512BF16__)
#include <type_traits>

#include "bf16_kernel.h"

namespace pydlk {

namespace {

// Local helpers only (internal linkage): a shared inline or library template compiled here
// would carry AVX-512 code that the linker could hand to callers on any CPU.
inline void zero_slots(uint32_t* d, index_t n) {
  for (index_t i = 0; i < n; ++i) d[i] = 0u;
}
inline bool in_parallel() {
#ifdef _OPENMP
  return omp_in_parallel();
#else
  return false;
#endif
}

inline uint16_t to_bits(float f) { return bf16_round(f); }
inline uint16_t to_bits(uint16_t b) { return b; }

// 16 lanes of depth k and k+1 (lanes contiguous in memory) -> 16 packed pairs.
inline __m512i pair16(const float* r0, const float* r1, __mmask16 m) {
  __m512 a = _mm512_maskz_loadu_ps(m, r0);
  __m512 b = r1 ? _mm512_maskz_loadu_ps(m, r1) : _mm512_setzero_ps();
  __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(a));
  __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(b));
  return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

// dst[p * W + j] = (v(j, k0 + 2p), v(j, k0 + 2p + 1)) for p < kp, j < W; zero for lanes past
// `lanes` and depth past K. v(j, k) = m.p[(j0 + j) * sl + k * sk].
template <typename T>
void pack_panel(uint32_t* dst, BfMat<T> m, index_t j0, index_t lanes, index_t k0, index_t kp,
                index_t K, int W) {
  if constexpr (std::is_same_v<T, float>) {
    if (m.sl == 1) {  // lanes contiguous: interleave two depth rows with vector converts
      for (index_t p = 0; p < kp; ++p) {
        index_t k = k0 + 2 * p;
        const float* r0 = m.p + j0 + k * m.sk;
        const float* r1 = k + 1 < K ? r0 + m.sk : nullptr;
        for (int j = 0; j < W; j += 16) {
          __mmask16 lm = lane_mask(lanes - j);
          __mmask16 wm = lane_mask(W - j);
          _mm512_mask_storeu_epi32(dst + p * W + j, wm, pair16(r0 + j, r1 ? r1 + j : nullptr, lm));
        }
      }
      return;
    }
    if (m.sk == 1) {  // depth contiguous: convert a lane's run of k, then scatter its pairs
      zero_slots(dst, kp * W);
      index_t kend = imin(K, k0 + 2 * kp);
      for (index_t j = 0; j < lanes; ++j) {
        const float* src = m.p + (j0 + j) * m.sl;
        index_t k = k0;
        for (; k + 32 <= kend; k += 32) {
          __m512i v =
              (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + k + 16), _mm512_loadu_ps(src + k));
          alignas(64) uint32_t t[16];
          _mm512_store_si512(t, v);
          uint32_t* d = dst + ((k - k0) / 2) * W + j;
          for (int q = 0; q < 16; ++q) d[q * W] = t[q];
        }
        for (; k < kend; k += 2) {
          uint32_t lo = to_bits(src[k]);
          uint32_t hi = k + 1 < kend ? to_bits(src[k + 1]) : 0u;
          dst[((k - k0) / 2) * W + j] = lo | (hi << 16);
        }
      }
      return;
    }
  }
  for (index_t p = 0; p < kp; ++p) {  // general strides (and bf16 input): scalar
    index_t k = k0 + 2 * p;
    for (int j = 0; j < W; ++j) {
      uint32_t v = 0;
      if (j < lanes) {
        const T* s = m.p + (j0 + j) * m.sl + k * m.sk;
        v = to_bits(s[0]);
        if (k + 1 < K) v |= uint32_t(to_bits(s[m.sk])) << 16;
      }
      dst[p * W + j] = v;
    }
  }
}

}  // namespace

bool bf16_cpu_supported() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
  }();
  return ok;
#else
  return false;
#endif
}

// Layout of a packed A: panel mp (rows mp*MR ..) holds all pairs p of its rows, slot [p][i],
// at offset mp * pairs_of(K) * MR; rows past M are zero.
size_t bf16_packed_a_slots(index_t M, index_t K) {
  return (size_t)((M + MR - 1) / MR * pairs_of(K) * MR);
}
size_t bf16_gemm_ws_slots(index_t M, index_t K) { return bf16_packed_a_slots(M, K); }

template <typename T>
BfPackedA bf16_pack_a(uint32_t* dst, BfMat<T> A, index_t M, index_t K) {
  index_t KP = pairs_of(K), panels = (M + MR - 1) / MR;
  bool par = !in_parallel() && num_threads() > 1 && M * K >= kGrain;
#pragma omp parallel for if (par)
  for (index_t mp = 0; mp < panels; ++mp)
    pack_panel(dst + mp * KP * MR, A, mp * MR, imin(MR, M - mp * MR), 0, KP, K, MR);
  return BfPackedA{dst, M, K};
}

template <typename T>
void bf16_gemm_packed(float* C, index_t ldc, bool accumulate, const BfPackedA& pa, BfMat<T> B,
                      index_t n0, index_t n1) {
  index_t M = pa.M, K = pa.K, KP = pairs_of(K);
  if (M <= 0 || n1 <= n0) return;
  if (K == 0) {
    if (!accumulate)
      for (index_t i = 0; i < M; ++i)
        for (index_t n = n0; n < n1; ++n) C[i * ldc + n] = 0.f;
    return;
  }
  uint32_t* bp = b_panel();
  for (index_t p0 = 0; p0 < KP; p0 += kKcPairs) {
    index_t kp = imin(kKcPairs, KP - p0);
    bool acc = accumulate || p0 > 0;
    for (index_t n = n0; n < n1; n += NR) {
      int nr = (int)imin(NR, n1 - n);
      pack_panel(bp, B, n, nr, 2 * p0, kp, K, NR);
      for (index_t m = 0; m < M; m += MR) {
        int mr = (int)imin(MR, M - m);
        micro_kernel(kp, pa.buf + (m / MR) * KP * MR + p0 * MR, bp, C + m * ldc + n, ldc, mr, nr,
                     acc);
      }
    }
  }
}

template <typename TA, typename TB>
void bf16_gemm(float* C, index_t ldc, bool accumulate, index_t M, index_t N, index_t K, BfMat<TA> A,
               BfMat<TB> B, uint32_t* ws) {
  if (M <= 0 || N <= 0) return;
  int nt = num_threads();
  double flops = 2.0 * M * N * K;
  if (in_parallel() || nt <= 1 || flops < 4e6 || (N < nt * 2 * NR && M < nt * MR)) {
    bf16_gemm_packed(C, ldc, accumulate, bf16_pack_a(ws, A, M, K), B, 0, N);
    return;
  }
  if (N >= (index_t)nt * 2 * NR) {
    // Split the columns of C: A is packed once and shared, each thread packs its own B panels.
    BfPackedA pa = bf16_pack_a(ws, A, M, K);
    index_t chunk = ((N + nt - 1) / nt + NR - 1) / NR * NR;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; ++t) {
      index_t s = t * chunk, e = imin(N, s + chunk);
      if (s < e) bf16_gemm_packed(C, ldc, accumulate, pa, B, s, e);
    }
    return;
  }
  // Few columns: split the rows of C; each thread packs its own rows of A into its part of ws
  // (the same place they have in the whole packed A, as chunks are whole panels).
  index_t chunk = ((M + nt - 1) / nt + MR - 1) / MR * MR, KP = pairs_of(K);
#pragma omp parallel for num_threads(nt) schedule(static, 1)
  for (int t = 0; t < nt; ++t) {
    index_t s = t * chunk, e = imin(M, s + chunk);
    if (s >= e) continue;
    BfPackedA pa =
        bf16_pack_a(ws + (s / MR) * KP * MR, BfMat<TA>{A.p + s * A.sl, A.sl, A.sk}, e - s, K);
    bf16_gemm_packed(C + s * ldc, ldc, accumulate, pa, B, 0, N);
  }
}

#else  // built without AVX512_BF16 (another architecture): never runs, only links.
#include <type_traits>

namespace pydlk {
bool bf16_cpu_supported() { return false; }
size_t bf16_packed_a_slots(index_t, index_t) { return 0; }
size_t bf16_gemm_ws_slots(index_t, index_t) { return 0; }
template <typename T>
BfPackedA bf16_pack_a(uint32_t* dst, BfMat<T>, index_t M, index_t K) {
  return BfPackedA{dst, M, K};
}
template <typename T>
void bf16_gemm_packed(float*, index_t, bool, const BfPackedA&, BfMat<T>, index_t, index_t) {}
template <typename TA, typename TB>
void bf16_gemm(float*, index_t, bool, index_t, index_t, index_t, BfMat<TA>, BfMat<TB>, uint32_t*) {}
#endif

template BfPackedA bf16_pack_a<float>(uint32_t*, BfMat<float>, index_t, index_t);
template BfPackedA bf16_pack_a<uint16_t>(uint32_t*, BfMat<uint16_t>, index_t, index_t);
template void bf16_gemm_packed<float>(float*, index_t, bool, const BfPackedA&, BfMat<float>,
                                      index_t, index_t);
template void bf16_gemm<float, float>(float*, index_t, bool, index_t, index_t, index_t,
                                      BfMat<float>, BfMat<float>, uint32_t*);
template void bf16_gemm<uint16_t, uint16_t>(float*, index_t, bool, index_t, index_t, index_t,
                                            BfMat<uint16_t>, BfMat<uint16_t>, uint32_t*);

}  // namespace pydlk
