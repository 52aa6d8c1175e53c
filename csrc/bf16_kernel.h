// The bf16 micro-kernels and their panel sizes, shared by the AVX512_BF16 + AMX translation units
// (bf16_gemm.cpp, bf16_conv.cpp) and by nothing else: include it only from a file compiled with
// -mavx512bf16 -mamx-tile -mamx-bf16. Everything here has internal linkage (an anonymous namespace), so no AVX-512 copy
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
//
// AMX (Sapphire Rapids and later): tdpbf16ps tC, tA, tB multiplies a 16 x 32 bf16 tile A (rows
// of 16 pairs) by a 16-pair x 16-column tile B of the same pairs as above, into 16 x 16 float32
// sums: 8192 multiply-adds per instruction, 16 times vdpbf16ps's. The B panel above is already
// AMX's B layout (two tiles: columns 0-15 and 16-31, 128-byte rows). A is packed differently,
// in panels of MA = 32 rows: block q of 16 pairs holds 32 rows of 16 slots (tile A0: rows
// 0-15, A1: rows 16-31, 1 KiB each, contiguous). The kernel keeps a 32 x 32 block of C in four
// tiles (0-3) and streams A (4, 5) and B (6, 7) through the others.
#pragma once
#if !defined(__AVX512BF16__)
#error "bf16_kernel.h is for translation units compiled with -mavx512bf16"
#endif
// A compiler without AMX (GCC < 11) builds the AVX512_BF16 kernels alone: BfPackedA::amx is
// then never set (bf16_amx_supported() is false), and the AMX pieces below compile to nothing.
#include <immintrin.h>

#include "common.h"

namespace pydlk {
namespace {

constexpr int MR = 8, NR = 32;
constexpr index_t kKcPairs = 256;  // a multiple of 16: AMX blocks of depth split it evenly
constexpr int MA = 32;             // rows of an AMX A panel (two 16-row tiles)

inline index_t pairs_of(index_t K) { return (K + 1) / 2; }
inline index_t round16(index_t p) { return (p + 15) / 16 * 16; }
inline index_t imin(index_t a, index_t b) { return a < b ? a : b; }
inline index_t imax(index_t a, index_t b) { return a > b ? a : b; }

inline __mmask16 lane_mask(index_t n) {
  return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n > 0 ? n : 0)) - 1);
}

// C tile (mr x nr, row stride ldc) = (acc ? C : 0) + sum over kp pairs of a[p] * b[p].
// next (next_mr rows, or null): the tile the following call updates. Its rows are a row
// stride apart, which no hardware prefetcher follows, so they are fetched here, a whole call
// (kp pairs) ahead of their use; without this the update of C missed on every row (1024^3:
// 537 -> 570 GFLOP/s, 64x576x1024: 464 -> 496 on a Zen 5).
// bias (null, or the tile's nr columns of a row vector): added where C is not accumulated into.
inline void micro_kernel(index_t kp, const uint32_t* a, const uint32_t* b, float* C, index_t ldc,
                         int mr, int nr, bool acc, const float* bias, const float* next = nullptr,
                         int next_mr = 0) {
  if (next)
    for (int i = 0; i < next_mr; ++i) {
      __builtin_prefetch(next + i * ldc, 1, 2);
      __builtin_prefetch(next + i * ldc + 16, 1, 2);
    }
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
  const __m512 b0 = !acc && bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  const __m512 b1 = !acc && bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
  for (int i = 0; i < mr; ++i) {
    float* r = C + i * ldc;
    __m512 v0 = c[i][0], v1 = c[i][1];
    if (acc) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, r));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, r + 16));
    } else if (bias) {
      v0 = _mm512_add_ps(v0, b0);
      v1 = _mm512_add_ps(v1, b1);
    }
    _mm512_mask_storeu_ps(r, m0, v0);
    _mm512_mask_storeu_ps(r + 16, m1, v1);
  }
}

#if defined(__AMX_BF16__)
// AMX: C tile (mr x nr) = (acc ? C : 0) + sum over kq blocks of 16 pairs of A0/A1 @ B0/B1.
// a: the panel's first block (32 rows x 16 slots per block); b: the B panel (16 pairs x NR
// slots per block). Rows of C past mr and columns past nr are computed (from zero padding)
// but never stored; whole tiles go straight from and to C, partial ones through a buffer.
inline void amx_kernel(index_t kq, const uint32_t* a, const uint32_t* b, float* C, index_t ldc,
                       int mr, int nr, bool acc, const float* bias) {
  alignas(64) float t[MA * NR];
  const bool two = mr > 16, direct = nr == NR && (mr == MA || mr == 16);
  float* io = direct ? C : t;
  const index_t ld = direct ? ldc : NR;
  if (acc) {
    if (!direct)
      for (int i = 0; i < (two ? MA : 16); ++i)
        for (int j = 0; j < NR; ++j) t[i * NR + j] = i < mr && j < nr ? C[i * ldc + j] : 0.f;
    _tile_loadd(0, io, ld * 4);
    _tile_loadd(1, io + 16, ld * 4);
    if (two) {
      _tile_loadd(2, io + 16 * ld, ld * 4);
      _tile_loadd(3, io + 16 * ld + 16, ld * 4);
    }
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  for (index_t q = 0; q < kq; ++q) {
    const uint32_t* aq = a + q * MA * 16;
    const uint32_t* bq = b + q * 16 * NR;
    _tile_loadd(4, aq, 64);
    _tile_loadd(6, bq, NR * 4);
    _tile_loadd(7, bq + 16, NR * 4);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    if (two) {
      _tile_loadd(5, aq + 16 * 16, 64);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, io, ld * 4);
  _tile_stored(1, io + 16, ld * 4);
  if (two) {
    _tile_stored(2, io + 16 * ld, ld * 4);
    _tile_stored(3, io + 16 * ld + 16, ld * 4);
  }
  if (!direct)
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nr; ++j) C[i * ldc + j] = t[i * NR + j];
  if (!acc && bias)  // the tile's rows are in L1 now
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nr; ++j) C[i * ldc + j] += bias[j];
}

// Loads the tile configuration for the calling thread on entry and releases the tiles on exit,
// when A was packed for AMX. One per thread and product call: other libraries in the process
// (oneDNN in torch) load configurations of their own. All eight tiles are 16 rows x 64 bytes,
// but for a product only `depth` (<= 16) pairs deep: then A's tiles (4, 5) are 16 rows of
// depth pairs and B's (6, 7) depth rows of 64 bytes.
struct AmxScope {
  bool on;
  // b5: tile 5 shaped as a B tile (depth rows of 64 bytes) instead of an A tile, for kernels
  // that need one A tile and three B tiles.
  explicit AmxScope(bool amx, int depth = 16, bool b5 = false) : on(amx) {
    if (!on) return;
    struct alignas(64) {
      uint8_t palette, start_row, reserved[14];
      uint16_t colsb[16];
      uint8_t rows[16];
    } cfg = {};
    cfg.palette = 1;
    for (int i = 0; i < 8; ++i) cfg.colsb[i] = 64, cfg.rows[i] = 16;
    cfg.colsb[4] = cfg.colsb[5] = uint16_t(4 * depth);
    cfg.rows[6] = cfg.rows[7] = uint8_t(depth);
    if (b5) cfg.colsb[5] = 64, cfg.rows[5] = uint8_t(depth);
    _tile_loadconfig(&cfg);
  }
  ~AmxScope() {
    if (on) _tile_release();
  }
  AmxScope(const AmxScope&) = delete;
  AmxScope& operator=(const AmxScope&) = delete;
};
#else
struct AmxScope {
  explicit AmxScope(bool, int = 16, bool = false) {}
};
inline void amx_kernel(index_t, const uint32_t*, const uint32_t*, float*, index_t, int, int, bool,
                       const float*) {}
#endif

// Pairs a B panel must hold for kp pairs of depth: AMX reads whole blocks of 16 (zeros past kp).
inline index_t panel_pairs(const BfPackedA& pa, index_t kp) { return pa.amx ? round16(kp) : kp; }

// C (all rows of A x nr columns, row stride ldc) = (acc ? C : bias) + A[:, pairs p0 .. p0+kp) @
// the B panel bp (panel_pairs(pa, kp) pairs x NR); bias null (zero) or the panel's columns of a
// row vector. p0 is a multiple of kKcPairs. Inside an AmxScope when pa.amx.
inline void panel_product(const BfPackedA& pa, index_t p0, index_t kp, const uint32_t* bp, float* C,
                          index_t ldc, int nr, bool acc, const float* bias) {
  if (pa.amx) {
    index_t KPA = round16(pairs_of(pa.K));
    for (index_t m = 0; m < pa.M; m += MA)
      amx_kernel(round16(kp) / 16, pa.buf + (m / MA) * KPA * MA + p0 * MA, bp, C + m * ldc, ldc,
                 (int)imin(MA, pa.M - m), nr, acc, bias);
    return;
  }
  index_t KP = pairs_of(pa.K);
  for (index_t m = 0; m < pa.M; m += MR)
    micro_kernel(kp, pa.buf + (m / MR) * KP * MR + p0 * MR, bp, C + m * ldc, ldc,
                 (int)imin(MR, pa.M - m), nr, acc, bias,
                 m + MR < pa.M ? C + (m + MR) * ldc : nullptr, (int)imin(MR, pa.M - m - MR));
}

// The calling thread's B panel buffer (kKcPairs x NR slots, 64-byte aligned); reused across
// calls so that a product allocates nothing in steady state.
inline uint32_t* b_panel() {
  alignas(64) static thread_local uint32_t buf[kKcPairs * NR];
  return buf;
}

}  // namespace
}  // namespace pydlk
