// Vector math shared by the kernels: a branch-free float exp that GCC vectorises (libm's expf is
// a call it cannot vectorise without -ffast-math). The double overload is libm's: float64 is the
// gradient-check path, where accuracy matters more than speed.
//
// A file whose loops call vexp should turn off trapping math (see activation.cpp): GCC will not
// if-convert the clamps' compares under -ftrapping-math, and the loop would then run with
// masked vector operations.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common.h"

namespace pydlk {

// exp(x): x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by Cephes' degree-6
// polynomial (about 1 ulp), times 2^n = 2 * 2^(n-1) built in the exponent bits. x is clamped to
// [-87.6, 89] first, so n - 1 stays in [-127, 127]: n - 1 = -127 gives the bits of +0, so results
// below about 2.4e-38 (x < -86.99) flush to 0, and x > ln(FLT_MAX) overflows to inf by itself.
// n is rounded by adding 1.5 * 2^23, after which the float's low mantissa bits hold n as an
// integer: taking them from the bits avoids a float-to-int conversion. The clamps keep a NaN
// (the comparisons are false for it), so NaN flows through the arithmetic to a NaN result with
// no select at the end; its exponent bits are garbage but, as unsigned arithmetic, defined.
// Branch-free: the loops calling it vectorise.
PYDLK_INLINE float vexp(float x) {
  float xc = x > 89.0f ? 89.0f : x;
  xc = xc < -87.6f ? -87.6f : xc;
  const float magic = 12582912.f;  // 1.5 * 2^23
  float t = xc * 1.44269504088896341f + magic;
  float n = t - magic;  // round to nearest, |n| <= 128
  float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
  float p =
      ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) *
           r +
       1.6666665459e-1f) *
          r +
      5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  uint32_t tb, mb;
  std::memcpy(&tb, &t, 4);
  std::memcpy(&mb, &magic, 4);
  uint32_t bits = (tb - mb + 126u) << 23;  // 2^(n-1); n + 126 in [0, 254]
  float s;
  std::memcpy(&s, &bits, 4);
  return (p + p) * s;
}
inline double vexp(double x) { return std::exp(x); }

}  // namespace pydlk
