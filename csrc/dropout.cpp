// Inverted dropout and Bernoulli masks on the counter-based Philox4x32-10 generator.
//
// Backward: the forward writes a packed keep mask (1 bit per element, n/8 bytes) and the
// backward reads it; with mask_bits null the backward regenerates the mask from (seed, offset)
// instead. Both give identical results; see dropout_backward for the measured choice.
#include "dropout.h"

#include "philox.h"

namespace pydlk {

namespace {

// Elements are processed in chunks of kChunk = 4 * kBlocks: one chunk is kBlocks Philox blocks
// (one call of the vector generator), and its mask is kWords whole uint32 words, so threads
// never share a mask word.
constexpr int kBlocks = 32;
constexpr index_t kChunk = 4 * kBlocks;
constexpr int kWords = kChunk / 32;

// r[e] = the uint32 of element (chunk_start + e), e < kChunk, chunk_start a multiple of kChunk.
inline void chunk_bits(philox::BlocksFn gen, uint32_t* r, uint64_t seed, uint64_t offset,
                       index_t chunk_start) {
  gen(r, offset / 4 + (uint64_t)chunk_start / 4, seed);
}

// One whole float chunk of the forward with AVX-512 compare masks: the 16-bit compare result is
// both the select mask and the packed keep bits (the portable loop rebuilds the bits with shifts
// and ORs). x86 little-endian: mask word q/2 is two 16-bit halves.
#ifdef PYDLK_PHILOX_X86
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) void forward_chunk_avx512(float* y, uint32_t* bits,
                                                             const float* x, const uint32_t* r,
                                                             uint32_t thr, float sc) {
  const __m512i th = _mm512_set1_epi32((int)thr);
  const __m512 s = _mm512_set1_ps(sc);
  for (int q = 0; q < kChunk / 16; ++q) {
    __m512i v = _mm512_srli_epi32(_mm512_loadu_si512(r + 16 * q), 8);
    __mmask16 k = _mm512_cmpge_epu32_mask(v, th);
    __m512 m = _mm512_maskz_mov_ps(k, s);
    _mm512_storeu_ps(y + 16 * q, _mm512_mul_ps(_mm512_loadu_ps(x + 16 * q), m));
    if (bits) reinterpret_cast<uint16_t*>(bits)[q] = (uint16_t)k;
  }
}
#pragma GCC diagnostic pop
#endif

template <typename T>
inline bool fast_forward_chunk(T*, uint32_t*, const T*, const uint32_t*, uint32_t, T, bool) {
  return false;
}
#ifdef PYDLK_PHILOX_X86
template <>
inline bool fast_forward_chunk<float>(float* y, uint32_t* bits, const float* x, const uint32_t* r,
                                      uint32_t thr, float sc, bool avx512) {
  if (!avx512) return false;
  forward_chunk_avx512(y, bits, x, r, thr, sc);
  return true;
}
#endif

template <typename T>
inline T keep_scale(double p) {
  return p >= 1.0 ? T(0) : T(1.0 / (1.0 - p));
}

}  // namespace

template <typename T>
PYDLK_SIMD void philox_uniform(T* out, index_t n, uint64_t seed, uint64_t offset) {
  index_t chunks = (n + kChunk - 1) / kChunk;
  const philox::BlocksFn gen = philox::blocks32_impl();
#pragma omp parallel for schedule(static) if (parallel_worth_it(n))
  for (index_t k = 0; k < chunks; ++k) {
    uint32_t r[kChunk];
    chunk_bits(gen, r, seed, offset, k * kChunk);
    index_t s = k * kChunk, e = s + kChunk < n ? s + kChunk : n;
    for (index_t i = s; i < e; ++i) out[i] = T(r[i - s] >> 8) * T(1.0 / 16777216.0);
  }
}

template <typename T>
PYDLK_SIMD void bernoulli_mask(T* out, index_t n, double p, double scale, uint64_t seed,
                               uint64_t offset) {
  const uint32_t thr = philox::keep_threshold(p);
  const T sc = T(scale);
  index_t chunks = (n + kChunk - 1) / kChunk;
  const philox::BlocksFn gen = philox::blocks32_impl();
#pragma omp parallel for schedule(static) if (parallel_worth_it(n))
  for (index_t k = 0; k < chunks; ++k) {
    uint32_t r[kChunk];
    chunk_bits(gen, r, seed, offset, k * kChunk);
    index_t s = k * kChunk, e = s + kChunk < n ? s + kChunk : n;
    for (index_t i = s; i < e; ++i) out[i] = (r[i - s] >> 8) >= thr ? sc : T(0);
  }
}

template <typename T>
PYDLK_SIMD void dropout_forward(T* y, uint32_t* mask_bits, const T* x, index_t n, double p,
                                uint64_t seed, uint64_t offset) {
  const uint32_t thr = philox::keep_threshold(p);
  const T sc = keep_scale<T>(p);
  const index_t chunks = (n + kChunk - 1) / kChunk, words = (n + 31) / 32;
  const philox::BlocksFn gen = philox::blocks32_impl();
#ifdef PYDLK_PHILOX_X86
  static const bool avx512 = __builtin_cpu_supports("avx512f");
#else
  const bool avx512 = false;
#endif
#pragma omp parallel for schedule(static) if (parallel_worth_it(n))
  for (index_t k = 0; k < chunks; ++k) {
    uint32_t r[kChunk];
    chunk_bits(gen, r, seed, offset, k * kChunk);
    const index_t s = k * kChunk;
    if (s + kChunk <= n &&
        fast_forward_chunk<T>(y + s, mask_bits ? mask_bits + kWords * k : nullptr, x + s, r, thr,
                              sc, avx512)) {
      continue;
    }
    if (s + kChunk <= n) {  // whole chunk: fixed trip count, vectorised
      T m[kChunk];
      for (int e = 0; e < kChunk; ++e) m[e] = (r[e] >> 8) >= thr ? sc : T(0);
      for (int e = 0; e < kChunk; ++e) y[s + e] = x[s + e] * m[e];
      if (mask_bits) {
        for (int q = 0; q < kWords; ++q) {
          uint32_t w = 0;
          for (int e = 0; e < 32; ++e) w |= (uint32_t)((r[32 * q + e] >> 8) >= thr) << e;
          mask_bits[kWords * k + q] = w;
        }
      }
    } else {  // the tail
      uint32_t w[kWords] = {};
      for (index_t i = s; i < n; ++i) {
        bool keep = (r[i - s] >> 8) >= thr;
        y[i] = x[i] * (keep ? sc : T(0));
        w[(i - s) / 32] |= (uint32_t)keep << ((i - s) % 32);
      }
      if (mask_bits)
        for (index_t q = 0; q < kWords && kWords * k + q < words; ++q)
          mask_bits[kWords * k + q] = w[q];
    }
  }
}

// Backward: read the bit mask, or regenerate it (mask_bits null). Measured on 16M float32, one
// thread, CPU time (the shared machine's wall times were too noisy): Philox alone 7.6 ms, forward
// with bit mask 8.7 ms (without: 8.7 ms, the AVX-512 compare mask is the bit mask), backward from
// the bit mask 5.0 ms (the speed of a plain 2-stream pass, 5.2 ms), backward regenerating 8.5 ms.
// Storing the mask costs n/8 bytes (2 MB here, 3% of the 64 MB read + 64 MB written per pass),
// while regenerating nearly doubles the backward's time: the Python op saves the bit mask.
// Regeneration stays available (mask_bits null) for callers that cannot keep n/8 bytes until
// the backward.
template <typename T>
PYDLK_SIMD void dropout_backward(T* dx, const T* dy, const uint32_t* mask_bits, index_t n, double p,
                                 uint64_t seed, uint64_t offset) {
  const T sc = keep_scale<T>(p);
  const index_t chunks = (n + kChunk - 1) / kChunk;
  if (mask_bits) {
#pragma omp parallel for schedule(static) if (parallel_worth_it(n))
    for (index_t k = 0; k < chunks; ++k) {
      const index_t s = k * kChunk;
      if (s + kChunk <= n) {
        T m[kChunk];
        for (int q = 0; q < kWords; ++q) {
          const uint32_t w = mask_bits[kWords * k + q];
          for (int e = 0; e < 32; ++e) m[32 * q + e] = (w >> e) & 1u ? sc : T(0);
        }
        for (int e = 0; e < kChunk; ++e) dx[s + e] = dy[s + e] * m[e];
      } else {
        for (index_t i = s; i < n; ++i)
          dx[i] = dy[i] * ((mask_bits[i / 32] >> (i % 32)) & 1u ? sc : T(0));
      }
    }
    return;
  }
  const uint32_t thr = philox::keep_threshold(p);
  const philox::BlocksFn gen = philox::blocks32_impl();
#pragma omp parallel for schedule(static) if (parallel_worth_it(n))
  for (index_t k = 0; k < chunks; ++k) {
    uint32_t r[kChunk];
    chunk_bits(gen, r, seed, offset, k * kChunk);
    const index_t s = k * kChunk;
    if (s + kChunk <= n) {
      T m[kChunk];
      for (int e = 0; e < kChunk; ++e) m[e] = (r[e] >> 8) >= thr ? sc : T(0);
      for (int e = 0; e < kChunk; ++e) dx[s + e] = dy[s + e] * m[e];
    } else {
      for (index_t i = s; i < n; ++i) dx[i] = dy[i] * ((r[i - s] >> 8) >= thr ? sc : T(0));
    }
  }
}

template <typename T>
PYDLK_SIMD void rowscale(T* y, const T* x, const T* m, index_t rows, index_t inner) {
#pragma omp parallel for schedule(static) if (parallel_worth_it(rows * inner))
  for (index_t r = 0; r < rows; ++r) {
    const T s = m[r];
    const T* xr = x + r * inner;
    T* yr = y + r * inner;
    for (index_t j = 0; j < inner; ++j) yr[j] = xr[j] * s;
  }
}

#define PYDLK_INST(T)                                                                             \
  template void philox_uniform<T>(T*, index_t, uint64_t, uint64_t);                               \
  template void bernoulli_mask<T>(T*, index_t, double, double, uint64_t, uint64_t);               \
  template void dropout_forward<T>(T*, uint32_t*, const T*, index_t, double, uint64_t, uint64_t); \
  template void dropout_backward<T>(T*, const T*, const uint32_t*, index_t, double, uint64_t,     \
                                    uint64_t);                                                    \
  template void rowscale<T>(T*, const T*, const T*, index_t, index_t);
PYDLK_INST(float)
PYDLK_INST(double)
#undef PYDLK_INST

}  // namespace pydlk
