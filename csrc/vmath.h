// Vector math shared by the kernels: branch-free float exp, erf and erfc that GCC vectorises
// (libm's are calls it cannot vectorise without -ffast-math). The double overload is libm's: float64 is the
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

// erfc(z) for z >= 0 with relative error < 1.2e-7 everywhere (Numerical Recipes' erfcc, a
// Chebyshev fit of erfc(z) e^{z^2} in t = 1 / (1 + z/2)).
PYDLK_INLINE float erfcc_log_poly(float t) {  // log(erfc(z) e^{z^2} / t), t = 1 / (1 + z/2)
  return -1.26551223f +
         t * (1.00002368f +
              t * (0.37409196f +
                   t * (0.09678418f +
                        t * (-0.18628806f +
                             t * (0.27886807f +
                                  t * (-1.13520398f +
                                       t * (1.48851587f +
                                            t * (-0.82215223f + t * 0.17087277f))))))));
}

PYDLK_INLINE float verfc_pos(float z) {
  float t = 1.f / (1.f + 0.5f * z);
  return t * vexp(erfcc_log_poly(t) - z * z);
}

// verfc_pos with the tail's relative accuracy kept (for erfc itself; GELU's x * Phi(x) does
// not need it there): e^{-z^2} as e^{-h^2} e^{-(z-h)(z+h)}, h = z with its low 12 mantissa
// bits cleared, so h^2 is exact and the large exponent carries no rounding (z * z rounded costs
// up to 60 ulp near z = 9, where z^2 is about 80).
PYDLK_INLINE float verfc_pos_tail(float z) {
  float t = 1.f / (1.f + 0.5f * z);
  uint32_t zb;
  std::memcpy(&zb, &z, 4);
  zb &= 0xFFFFF000u;
  float h;
  std::memcpy(&h, &zb, 4);
  float r = (z - h) * (z + h);
  r = z < INFINITY ? r : 0.f;  // z = inf: inf - inf; the result is 0 (t = 0); NaN stays (t)
  return t * vexp(-(h * h)) * vexp(erfcc_log_poly(t) - r);
}
inline double verfc_pos(double z) { return std::erfc(z); }

// log(x) for normal finite x > 0 (Cephes' logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)), a
// degree-9 polynomial in m - 1; about 1 ulp). Other inputs give garbage: callers select.
PYDLK_INLINE float vlog_normal(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  float e = float(int32_t((b >> 23) & 0xffu) - 126);  // x = m 2^e, m in [0.5, 1)
  b = (b & 0x807fffffu) | 0x3f000000u;
  float m;
  std::memcpy(&m, &b, 4);
  const bool low = m < 0.707106781186547524f;
  e = low ? e - 1.f : e;
  m = low ? m + m - 1.f : m - 1.f;
  const float z = m * m;
  float y = ((((((((7.0376836292e-2f * m - 1.1514610310e-1f) * m + 1.1676998740e-1f) * m -
                  1.2420140846e-1f) *
                     m +
                 1.4249322787e-1f) *
                    m -
                1.6668057665e-1f) *
                   m +
               2.0000714765e-1f) *
                  m -
              2.4999993993e-1f) *
                 m +
             3.3333331174e-1f) *
            m * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  return (m + y) + 0.693359375f * e;
}

// erf(x) within about 2 ulp: the odd Taylor series to x^15 for |x| < 0.5 (next term below 1e-9
// relative), 1 - erfc(|x|) beyond (erf > 0.52 there, so erfc's error stays relative).
PYDLK_INLINE float verf(float x) {
  const float t = std::fabs(x), z = x * x;
  const float small =
      x * (1.1283791670955126f +
           z * (-0.37612638903183754f +
                z * (0.11283791670955126f +
                     z * (-0.026866170645131252f +
                          z * (0.005223977625442188f + z * (-0.0008548327023450852f +
                                                            z * (0.00012055332981789664f +
                                                                 z * -1.492565035840625e-05f)))))));
  float big = 1.f - verfc_pos(t);
  big = x < 0 ? -big : big;
  return t < 0.5f ? small : big;  // NaN: t < 0.5 is false, big is NaN
}

// erfc(x) for any x: erfc(-z) = 2 - erfc(z).
PYDLK_INLINE float verfc(float x) {
  const float c = verfc_pos_tail(std::fabs(x));
  return x < 0 ? 2.f - c : c;
}

}  // namespace pydlk
