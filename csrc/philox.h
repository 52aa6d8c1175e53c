// Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
// SC'11; the Random123 library). A counter-based generator: no state, one pure function
//   (key: 64-bit seed, counter: 128 bits) -> four uint32.
// pydlk's convention for a call that draws n numbers with (seed, offset): element i uses
//   counter = (offset / 4 + i / 4) as a 64-bit number in words 0-1, words 2-3 zero; lane i % 4;
//   key = (seed low 32 bits, seed high 32 bits).
// So any thread computes any element's number on its own: the same seed gives the same mask
// whatever the thread count, and a backward pass can regenerate a mask instead of storing it.
#pragma once
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX2__)
#include <immintrin.h>
#define PYDLK_PHILOX_X86 1
#endif

namespace pydlk {
namespace philox {

constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // key schedule (golden ratio, sqrt(3)-1)

// One full Philox4x32-10 block: c[0..3] (counter) is replaced by the four outputs.
inline void block(uint32_t c[4], uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = (uint64_t)kM0 * c[0];
    uint64_t p1 = (uint64_t)kM1 * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
    k0 += kW0;
    k1 += kW1;
  }
}

// B blocks at once, structure of arrays, written so the compiler vectorises across blocks
// (vpmuludq for the 32x32->64 products). Counters ctr, ctr+1, ..., ctr+B-1 (64-bit, words 2-3
// zero); out[lane * B + j] is lane `lane` of block j.
template <int B>
inline void blocks(uint32_t* out, uint64_t ctr, uint64_t seed) {
  uint32_t c0[B], c1[B], c2[B], c3[B];
  for (int j = 0; j < B; ++j) {
    uint64_t c = ctr + (uint64_t)j;
    c0[j] = (uint32_t)c;
    c1[j] = (uint32_t)(c >> 32);
    c2[j] = 0;
    c3[j] = 0;
  }
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    for (int j = 0; j < B; ++j) {
      uint64_t p0 = (uint64_t)kM0 * c0[j];
      uint64_t p1 = (uint64_t)kM1 * c2[j];
      uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[j] ^ k0;
      uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[j] ^ k1;
      c1[j] = (uint32_t)p1;
      c3[j] = (uint32_t)p0;
      c0[j] = n0;
      c2[j] = n2;
    }
    k0 += kW0;
    k1 += kW1;
  }
  for (int j = 0; j < B; ++j) {
    out[j] = c0[j];
    out[B + j] = c1[j];
    out[2 * B + j] = c2[j];
    out[3 * B + j] = c3[j];
  }
}

// The uint32 of element i for (seed, offset) (scalar; for tests and odd ends).
inline uint32_t at(uint64_t seed, uint64_t offset, uint64_t i) {
  uint64_t c = offset / 4 + i / 4;
  uint32_t v[4] = {(uint32_t)c, (uint32_t)(c >> 32), 0, 0};
  block(v, (uint32_t)seed, (uint32_t)(seed >> 32));
  return v[i % 4];
}

// Uniform in [0, 1) from the top 24 bits: k * 2^-24, exact in float and double.
inline float uniform_f(uint32_t r) { return (float)(r >> 8) * (1.0f / 16777216.0f); }
inline double uniform_d(uint32_t r) { return (double)(r >> 8) * (1.0 / 16777216.0); }

// keep = (uniform >= p) without rounding: k * 2^-24 >= p  <=>  k >= ceil(p * 2^24).
// p = 1 gives 2^24, which no 24-bit k reaches (everything dropped).
inline uint32_t keep_threshold(double p) {
  double t = p * 16777216.0;
  uint32_t k = (uint32_t)t;
  if ((double)k < t) ++k;
  return k;
}

// ---------------------------------------------------------------------------------------------
// 16 consecutive blocks in element order: out[4 j + lane] = lane `lane` of counter ctr + j,
// j < 16 (64 numbers, the numbers of elements 4 ctr .. 4 ctr + 63 of a call with offset 0).
// x86: AVX-512 (16 blocks per vector) or AVX2 (8), picked once per process; the compiler does
// not vectorise the 32x32->64 multiply-high of the portable version. The vector lanes hold the
// blocks in a transposed order chosen so that the 4x4 unpack leaves them in element order.

inline void blocks16_portable(uint32_t* out, uint64_t ctr, uint64_t seed) {
  uint32_t soa[64];
  blocks<16>(soa, ctr, seed);
  for (int j = 0; j < 16; ++j)
    for (int lane = 0; lane < 4; ++lane) out[4 * j + lane] = soa[lane * 16 + j];
}

#ifdef PYDLK_PHILOX_X86
// GCC 12 warns about its own _mm512_undefined_* inside target("avx512f") inline functions.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// S independent sets of 16 blocks (counters ctr + 16 s ..), interleaved so that the
// multiplies of one set hide the latency of the other's.
template <int S>
__attribute__((target("avx512f"))) inline void blocks_avx512(uint32_t* out, uint64_t ctr,
                                                             uint64_t seed) {
  // vector lane p = 4 L + k holds block 4 k + L: counter ctr + idx[p] as (low, high) words
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  // Each word is kept as two vectors of 8 64-bit lanes, the even elements (a) and the odd ones
  // (b) in the low halves; high halves carry garbage that vpmuludq ignores. So one round is 4
  // multiplies, 4 shifts and 4 three-way XORs (no blends); a and b are merged at the end.
  __m512i c0a[S], c0b[S], c1a[S], c1b[S], c2a[S], c2b[S], c3a[S], c3b[S];
  for (int q = 0; q < S; ++q) {
    uint64_t cq = ctr + 16 * (uint64_t)q;
    __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32((int)(uint32_t)cq), idx);
    __m512i c1 = _mm512_set1_epi32((int)(uint32_t)(cq >> 32));
    c1 = _mm512_mask_add_epi32(c1, _mm512_cmplt_epu32_mask(c0, idx), c1, _mm512_set1_epi32(1));
    c0a[q] = c0;
    c0b[q] = _mm512_srli_epi64(c0, 32);
    c1a[q] = c1;
    c1b[q] = _mm512_srli_epi64(c1, 32);
    c2a[q] = c2b[q] = c3a[q] = c3b[q] = _mm512_setzero_si512();
  }
  const __m512i m0 = _mm512_set1_epi32((int)kM0), m1 = _mm512_set1_epi32((int)kM1);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    const __m512i kv0 = _mm512_set1_epi32((int)k0), kv1 = _mm512_set1_epi32((int)k1);
    for (int q = 0; q < S; ++q) {
      __m512i p0a = _mm512_mul_epu32(c0a[q], m0), p0b = _mm512_mul_epu32(c0b[q], m0);
      __m512i p1a = _mm512_mul_epu32(c2a[q], m1), p1b = _mm512_mul_epu32(c2b[q], m1);
      // 0x96: a ^ b ^ c
      c0a[q] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1a, 32), c1a[q], kv0, 0x96);
      c0b[q] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1b, 32), c1b[q], kv0, 0x96);
      c2a[q] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0a, 32), c3a[q], kv1, 0x96);
      c2b[q] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0b, 32), c3b[q], kv1, 0x96);
      c1a[q] = p1a;
      c1b[q] = p1b;
      c3a[q] = p0a;
      c3b[q] = p0b;
    }
    k0 += kW0;
    k1 += kW1;
  }
  for (int q = 0; q < S; ++q) {
    __m512i c0 = _mm512_mask_blend_epi32(0xAAAA, c0a[q], _mm512_slli_epi64(c0b[q], 32));
    __m512i c1 = _mm512_mask_blend_epi32(0xAAAA, c1a[q], _mm512_slli_epi64(c1b[q], 32));
    __m512i c2 = _mm512_mask_blend_epi32(0xAAAA, c2a[q], _mm512_slli_epi64(c2b[q], 32));
    __m512i c3 = _mm512_mask_blend_epi32(0xAAAA, c3a[q], _mm512_slli_epi64(c3b[q], 32));
    __m512i t0 = _mm512_unpacklo_epi32(c0, c1), t1 = _mm512_unpackhi_epi32(c0, c1);
    __m512i t2 = _mm512_unpacklo_epi32(c2, c3), t3 = _mm512_unpackhi_epi32(c2, c3);
    uint32_t* o = out + 64 * q;
    _mm512_storeu_si512(o, _mm512_unpacklo_epi64(t0, t2));
    _mm512_storeu_si512(o + 16, _mm512_unpackhi_epi64(t0, t2));
    _mm512_storeu_si512(o + 32, _mm512_unpacklo_epi64(t1, t3));
    _mm512_storeu_si512(o + 48, _mm512_unpackhi_epi64(t1, t3));
  }
}

__attribute__((target("avx512f"))) inline void blocks16_avx512(uint32_t* out, uint64_t ctr,
                                                               uint64_t seed) {
  blocks_avx512<1>(out, ctr, seed);
}
__attribute__((target("avx512f"))) inline void blocks32_avx512(uint32_t* out, uint64_t ctr,
                                                               uint64_t seed) {
  blocks_avx512<2>(out, ctr, seed);
}
#pragma GCC diagnostic pop

inline void blocks8_avx2(uint32_t* out, uint64_t ctr, uint64_t seed) {
  // vector lane p = 4 L + k holds block 2 k + L
  const __m256i idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int)(uint32_t)ctr), idx);
  __m256i c1 = _mm256_set1_epi32((int)(uint32_t)(ctr >> 32));
  // carry where the low word wrapped (c0 < idx unsigned): subtracting the all-ones mask adds 1
  const __m256i bias = _mm256_set1_epi32((int)0x80000000u);
  __m256i wrapped = _mm256_cmpgt_epi32(_mm256_xor_si256(idx, bias), _mm256_xor_si256(c0, bias));
  c1 = _mm256_sub_epi32(c1, wrapped);
  __m256i c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
  const __m256i m0 = _mm256_set1_epi32((int)kM0), m1 = _mm256_set1_epi32((int)kM1);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    __m256i pe0 = _mm256_mul_epu32(c0, m0), po0 = _mm256_mul_epu32(_mm256_srli_epi64(c0, 32), m0);
    __m256i pe1 = _mm256_mul_epu32(c2, m1), po1 = _mm256_mul_epu32(_mm256_srli_epi64(c2, 32), m1);
    __m256i lo0 = _mm256_blend_epi32(pe0, _mm256_slli_epi64(po0, 32), 0xAA);
    __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(pe0, 32), po0, 0xAA);
    __m256i lo1 = _mm256_blend_epi32(pe1, _mm256_slli_epi64(po1, 32), 0xAA);
    __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(pe1, 32), po1, 0xAA);
    c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
    c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
    c1 = lo1;
    c3 = lo0;
    k0 += kW0;
    k1 += kW1;
  }
  __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
  __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
  _mm256_storeu_si256((__m256i*)out, _mm256_unpacklo_epi64(t0, t2));
  _mm256_storeu_si256((__m256i*)(out + 8), _mm256_unpackhi_epi64(t0, t2));
  _mm256_storeu_si256((__m256i*)(out + 16), _mm256_unpacklo_epi64(t1, t3));
  _mm256_storeu_si256((__m256i*)(out + 24), _mm256_unpackhi_epi64(t1, t3));
}

inline void blocks16_avx2(uint32_t* out, uint64_t ctr, uint64_t seed) {
  blocks8_avx2(out, ctr, seed);
  blocks8_avx2(out + 32, ctr + 8, seed);
}

inline void blocks32_avx2(uint32_t* out, uint64_t ctr, uint64_t seed) {
  blocks16_avx2(out, ctr, seed);
  blocks16_avx2(out + 64, ctr + 16, seed);
}
#endif

inline void blocks32_portable(uint32_t* out, uint64_t ctr, uint64_t seed) {
  blocks16_portable(out, ctr, seed);
  blocks16_portable(out + 64, ctr + 16, seed);
}

// A generator of 16 or 32 consecutive blocks in element order (64 or 128 numbers).
using BlocksFn = void (*)(uint32_t*, uint64_t, uint64_t);

// The fastest of the above on this CPU (chosen once).
inline BlocksFn blocks16_impl() {
#ifdef PYDLK_PHILOX_X86
  static const BlocksFn f = __builtin_cpu_supports("avx512f") ? &blocks16_avx512 : &blocks16_avx2;
  return f;
#else
  return &blocks16_portable;
#endif
}

inline BlocksFn blocks32_impl() {
#ifdef PYDLK_PHILOX_X86
  static const BlocksFn f = __builtin_cpu_supports("avx512f") ? &blocks32_avx512 : &blocks32_avx2;
  return f;
#else
  return &blocks32_portable;
#endif
}

}  // namespace philox
}  // namespace pydlk
