// bfloat16 GEMM: AMX tiles (tdpbf16ps) or vdpbf16ps (AVX512_BF16) on packed pairs, float32
// accumulation.
//
// This translation unit and bf16_conv.cpp alone are compiled with -mavx512f/bw/vl/dq
// -mavx512bf16 -mamx-tile -mamx-bf16 (CMakeLists.txt); callers check bf16_cpu_supported() first,
// and AMX runs only where bf16_amx_supported(). The OpenBLAS that NumPy ships has no bf16 GEMM.
//
// The micro-kernels and the packed layouts they read are in bf16_kernel.h.
#include "bf16_gemm.h"

#include <atomic>

#if defined(__AVX512BF16__)
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#include <unistd.h>

#include <type_traits>

#include "bf16_kernel.h"

namespace pydlk {

namespace {

// Local helpers only (internal linkage): a shared inline or library template compiled here
// would carry AVX-512 code that the linker could hand to callers on any CPU.
inline void zero_slots(uint32_t* d, index_t n) {
  for (index_t i = 0; i < n; ++i) d[i] = 0u;
}

inline uint16_t to_bits(float f) { return bf16_round(f); }
inline uint16_t to_bits(uint16_t b) { return b; }

// 16 lanes of depth k and k+1 (lanes contiguous in memory) -> 16 packed pairs.
inline __m512i pair16(const float* r0, const float* r1, __mmask16 m) {
  __m512 a = _mm512_maskz_loadu_ps(m, r0);
  __m512 b = r1 ? _mm512_maskz_loadu_ps(m, r1) : _mm512_setzero_ps();
  __m512i lo = _mm512_maskz_cvtepu16_epi32(0xffff, (__m256i)_mm512_cvtneps_pbh(a));
  __m512i hi = _mm512_maskz_cvtepu16_epi32(0xffff, (__m256i)_mm512_cvtneps_pbh(b));
  return _mm512_or_si512(lo, _mm512_maskz_slli_epi32(0xffff, hi, 16));
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
        if (k >= K) {  // past the depth (an AMX block's padding): zeros
          zero_slots(dst + p * W, W);
          continue;
        }
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
      if (j < lanes && k < K) {
        const T* s = m.p + (j0 + j) * m.sl + k * m.sk;
        v = to_bits(s[0]);
        if (k + 1 < K) v |= uint32_t(to_bits(s[m.sk])) << 16;
      }
      dst[p * W + j] = v;
    }
  }
}

// All of A's rows [m0, m0 + lanes) in AMX blocks: block q holds 32 rows x 16 pairs, [row][pair].
// Each block is packed as pairs-by-rows (pack_panel) and transposed.
template <typename T>
void pack_panel_amx(uint32_t* dst, BfMat<T> A, index_t m0, index_t lanes, index_t K) {
  alignas(64) uint32_t t[16 * MA];
  index_t KPA = round16(pairs_of(K));
  for (index_t p0 = 0; p0 < KPA; p0 += 16) {
    pack_panel(t, A, m0, lanes, 2 * p0, 16, K, MA);
    uint32_t* d = dst + p0 * MA;
    for (int i = 0; i < MA; ++i)
      for (int p = 0; p < 16; ++p) d[i * 16 + p] = t[p * MA + i];
  }
}

}  // namespace

bool bf16_amx_supported() {
#if defined(__x86_64__) && defined(__linux__) && defined(__AMX_BF16__)
  static const bool ok = [] {
    __builtin_cpu_init();
    if (!bf16_cpu_supported() || !__builtin_cpu_supports("amx-tile") ||
        !__builtin_cpu_supports("amx-bf16"))
      return false;
    // Linux hands the tile registers' state (8 KiB per thread) only to processes that ask.
    constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ok;
#else
  return false;
#endif
}

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

// Layout of a packed A for vdpbf16ps: panel mp (rows mp*MR ..) holds all pairs p of its rows,
// slot [p][i], at offset mp * pairs_of(K) * MR; rows past M are zero. For AMX: panel mp (rows
// mp*MA ..) at offset mp * round16(pairs_of(K)) * MA, in blocks of 16 pairs (bf16_kernel.h);
// rows past M and pairs past K are zero.
size_t bf16_packed_a_offset(bool amx, index_t m, index_t K) {
  return amx ? (size_t)(m / MA * round16(pairs_of(K)) * MA) : (size_t)(m / MR * pairs_of(K) * MR);
}
size_t bf16_packed_a_slots(index_t M, index_t K) {
  size_t avx = (size_t)((M + MR - 1) / MR * pairs_of(K) * MR);
  size_t amx = (size_t)((M + MA - 1) / MA * round16(pairs_of(K)) * MA);
  return avx > amx ? avx : amx;
}
size_t bf16_gemm_ws_slots(index_t M, index_t K) { return bf16_packed_a_slots(M, K); }

namespace {
// Panels [8g, 8g + 8) of a float A whose lanes (rows) are contiguous and depth strided (sl == 1:
// a transposed operand, dy^T in a weight gradient), in the vdpbf16ps layout. Each pair of
// depth rows is read 64 lanes (four lines) at a time for eight panels; pack_panel, one panel
// at a time, read 32 bytes of each row, 4 KiB and more apart: the weight gradient of 2048
// tokens x 1024 outputs (d 256) spent about as long packing dy^T as multiplying, 550 -> 880
// GFLOP/s with this (2 threads, Zen 5).
void pack_a_lane_groups(uint32_t* dst, BfMat<float> A, index_t M, index_t K, index_t g) {
  const index_t KP = pairs_of(K), panels = (M + MR - 1) / MR, j0 = g * 64;
  for (index_t q = 0; q < KP; ++q) {
    const float* r0 = A.p + j0 + 2 * q * A.sk;
    const float* r1 = 2 * q + 1 < K ? r0 + A.sk : nullptr;
    for (index_t c = 0; c < 4 && j0 + 16 * c < M; ++c) {
      const __m512i v = pair16(r0 + 16 * c, r1 ? r1 + 16 * c : nullptr, lane_mask(M - j0 - 16 * c));
      const index_t a = 8 * g + 2 * c;  // the chunk's two panels: a (low 8 lanes), a + 1
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (a * KP + q) * MR),
                          _mm512_maskz_extracti64x4_epi64(0xff, v, 0));
      if (a + 1 < panels)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + ((a + 1) * KP + q) * MR),
                            _mm512_maskz_extracti64x4_epi64(0xff, v, 1));
    }
  }
}

// A in the layout asked for (bf16_pack_a asks for the one enabled now).
template <typename T>
BfPackedA pack_a_as(bool amx, uint32_t* dst, BfMat<T> A, index_t M, index_t K) {
  index_t KP = pairs_of(K), h = amx ? MA : MR, panels = (M + h - 1) / h;
  bool par = !in_parallel() && num_threads() > 1 && M * K >= kGrain;
  if constexpr (std::is_same_v<T, float>) {
    if (!amx && A.sl == 1 && A.sk != 1 && K > 0) {
      const index_t groups = (M + 63) / 64;
#pragma omp parallel for if (par)
      for (index_t g = 0; g < groups; ++g) pack_a_lane_groups(dst, A, M, K, g);
      return BfPackedA{dst, M, K, amx};
    }
  }
#pragma omp parallel for if (par)
  for (index_t mp = 0; mp < panels; ++mp) {
    uint32_t* d = dst + bf16_packed_a_offset(amx, mp * h, K);
    if (amx) pack_panel_amx(d, A, mp * h, imin(h, M - mp * h), K);
    else pack_panel(d, A, mp * h, imin(h, M - mp * h), 0, KP, K, MR);
  }
  return BfPackedA{dst, M, K, amx};
}
}  // namespace

template <typename T>
BfPackedA bf16_pack_a(uint32_t* dst, BfMat<T> A, index_t M, index_t K) {
  return pack_a_as(bf16_amx_enabled(), dst, A, M, K);
}

template <typename T>
void bf16_gemm_packed(float* C, index_t ldc, bool accumulate, const BfPackedA& pa, BfMat<T> B,
                      index_t n0, index_t n1, const float* bias) {
  index_t M = pa.M, K = pa.K, KP = pairs_of(K);
  if (M <= 0 || n1 <= n0) return;
  if (K == 0) {
    if (!accumulate)
      for (index_t i = 0; i < M; ++i)
        for (index_t n = n0; n < n1; ++n) C[i * ldc + n] = bias ? bias[n] : 0.f;
    return;
  }
  uint32_t* bp = b_panel();
  AmxScope tiles(pa.amx);
  for (index_t p0 = 0; p0 < KP; p0 += kKcPairs) {
    index_t kp = imin(kKcPairs, KP - p0);
    bool acc = accumulate || p0 > 0;
    for (index_t n = n0; n < n1; n += NR) {
      int nr = (int)imin(NR, n1 - n);
      pack_panel(bp, B, n, nr, 2 * p0, panel_pairs(pa, kp), K, NR);
      panel_product(pa, p0, kp, bp, C + n, ldc, nr, acc, bias ? bias + n : nullptr);
    }
  }
}

template <typename TA, typename TB>
void bf16_gemm(float* C, index_t ldc, bool accumulate, index_t M, index_t N, index_t K, BfMat<TA> A,
               BfMat<TB> B, uint32_t* ws, const float* bias) {
  if (M <= 0 || N <= 0) return;
  int nt = num_threads();
  double flops = 2.0 * M * N * K;
  bool amx = bf16_amx_enabled();
  index_t h = amx ? MA : MR;  // rows of a packed A panel
  if (in_parallel() || nt <= 1 || flops < 4e6 || (N < nt * 2 * NR && M < nt * h)) {
    bf16_gemm_packed(C, ldc, accumulate, pack_a_as(amx, ws, A, M, K), B, 0, N, bias);
    return;
  }
  // At least as many rows as columns (a linear layer's tokens, its input gradient): each thread
  // takes its own rows of C below, so the A it packs and streams for every B panel is its own
  // half, in its core's cache (and a layer's tokens stay on the core that has them). Sharing
  // one packed A, each thread streamed all of it, half packed by the other core, for each of
  // its B panels: (2048 x 256) @ (256 x 768) 607 -> 728 GFLOP/s, its input gradient 700 -> 880
  // (2 threads, Zen 5). Wider C: split the columns.
  const bool split_rows = M >= (index_t)nt * MA && M >= N;
  if (N >= (index_t)nt * 2 * NR && !split_rows) {
    // Split the columns of C: A is packed once and shared, each thread packs its own B panels.
    BfPackedA pa = pack_a_as(amx, ws, A, M, K);
    index_t chunk = ((N + nt - 1) / nt + NR - 1) / NR * NR;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; ++t) {
      index_t s = t * chunk, e = imin(N, s + chunk);
      if (s < e) bf16_gemm_packed(C, ldc, accumulate, pa, B, s, e, bias);
    }
    return;
  }
  // Rows: each thread packs its own rows of A into its part of ws
  // (the same place they have in the whole packed A, as chunks are whole panels).
  index_t chunk = ((M + nt - 1) / nt + MA - 1) / MA * MA;  // whole panels of either layout
#pragma omp parallel for num_threads(nt) schedule(static, 1)
  for (int t = 0; t < nt; ++t) {
    index_t s = t * chunk, e = imin(M, s + chunk);
    if (s >= e) continue;
    BfPackedA pa = pack_a_as(amx, ws + bf16_packed_a_offset(amx, s, K),
                             BfMat<TA>{A.p + s * A.sl, A.sl, A.sk}, e - s, K);
    bf16_gemm_packed(C + s * ldc, ldc, accumulate, pa, B, 0, N, bias);
  }
}

#else  // built without AVX512_BF16 (another architecture): never runs, only links.
#include <type_traits>

namespace pydlk {
bool bf16_cpu_supported() { return false; }
bool bf16_amx_supported() { return false; }
size_t bf16_packed_a_slots(index_t, index_t) { return 0; }
size_t bf16_packed_a_offset(bool, index_t, index_t) { return 0; }
size_t bf16_gemm_ws_slots(index_t, index_t) { return 0; }
template <typename T>
BfPackedA bf16_pack_a(uint32_t* dst, BfMat<T>, index_t M, index_t K) {
  return BfPackedA{dst, M, K, false};
}
template <typename T>
void bf16_gemm_packed(float*, index_t, bool, const BfPackedA&, BfMat<T>, index_t, index_t,
                      const float*) {}
template <typename TA, typename TB>
void bf16_gemm(float*, index_t, bool, index_t, index_t, index_t, BfMat<TA>, BfMat<TB>, uint32_t*,
               const float*) {}
#endif

namespace {
std::atomic<bool> g_amx_allowed{true};
}
bool bf16_amx_allowed() { return g_amx_allowed.load(std::memory_order_relaxed); }
void set_bf16_amx_allowed(bool allowed) { g_amx_allowed.store(allowed); }
bool bf16_amx_enabled() { return bf16_amx_allowed() && bf16_amx_supported(); }

template BfPackedA bf16_pack_a<float>(uint32_t*, BfMat<float>, index_t, index_t);
template BfPackedA bf16_pack_a<uint16_t>(uint32_t*, BfMat<uint16_t>, index_t, index_t);
template void bf16_gemm_packed<float>(float*, index_t, bool, const BfPackedA&, BfMat<float>,
                                      index_t, index_t, const float*);
template void bf16_gemm<float, float>(float*, index_t, bool, index_t, index_t, index_t,
                                      BfMat<float>, BfMat<float>, uint32_t*, const float*);
template void bf16_gemm<uint16_t, uint16_t>(float*, index_t, bool, index_t, index_t, index_t,
                                            BfMat<uint16_t>, BfMat<uint16_t>, uint32_t*,
                                            const float*);

}  // namespace pydlk
