#pragma once
#include <cstdint>

#include "common.h"

namespace pydlk {

// Random numbers and masks from Philox4x32-10 (csrc/philox.h): element i of a call with
// (seed, offset) uses counter offset/4 + i/4, lane i%4, so results do not depend on threads.

// out: (n). out[i] = uniform in [0, 1) (24-bit, exact).
template <typename T>
void philox_uniform(T* out, index_t n, uint64_t seed, uint64_t offset);

// out: (n). out[i] = (u_i >= p) ? scale : 0, a Bernoulli(1 - p) keep mask times `scale`.
// scale = 1 is a plain 0/1 mask; scale = 1/(1-p) the inverted-dropout multiplier. Reused by
// channel dropout (mask per (n, c)), stochastic depth (mask per sample), DropConnect (per weight).
template <typename T>
void bernoulli_mask(T* out, index_t n, double p, double scale, uint64_t seed, uint64_t offset);

// x, y: (n). mask_bits: (ceil(n/32)) uint32 words or null; bit i%32 of word i/32 = keep(i).
// y = x * keep * 1/(1-p), keep = (u_i >= p). p = 1 gives y = x * 0.
template <typename T>
void dropout_forward(T* y, uint32_t* mask_bits, const T* x, index_t n, double p, uint64_t seed,
                     uint64_t offset);

// dy, dx: (n). dx = dy * keep * 1/(1-p), with keep read from mask_bits, or regenerated from
// (seed, offset) when mask_bits is null.
template <typename T>
void dropout_backward(T* dx, const T* dy, const uint32_t* mask_bits, index_t n, double p,
                      uint64_t seed, uint64_t offset);

// x, y: (rows, inner); m: (rows). y[r, j] = x[r, j] * m[r]. Channel dropout's forward (m from
// bernoulli_mask with scale 1/(1-p), one per (n, c)) and, with dy for x, its backward.
template <typename T>
void rowscale(T* y, const T* x, const T* m, index_t rows, index_t inner);

}  // namespace pydlk
