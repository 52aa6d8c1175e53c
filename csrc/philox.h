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
    c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
    k0 += kW0; k1 += kW1;
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
    c0[j] = (uint32_t)c; c1[j] = (uint32_t)(c >> 32); c2[j] = 0; c3[j] = 0;
  }
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    for (int j = 0; j < B; ++j) {
      uint64_t p0 = (uint64_t)kM0 * c0[j];
      uint64_t p1 = (uint64_t)kM1 * c2[j];
      uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[j] ^ k0;
      uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[j] ^ k1;
      c1[j] = (uint32_t)p1; c3[j] = (uint32_t)p0; c0[j] = n0; c2[j] = n2;
    }
    k0 += kW0; k1 += kW1;
  }
  for (int j = 0; j < B; ++j) {
    out[j] = c0[j]; out[B + j] = c1[j]; out[2 * B + j] = c2[j]; out[3 * B + j] = c3[j];
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

}  // namespace philox
}  // namespace pydlk
