// Elementwise special functions (see special.h; torch.special's Cephes functions are in
// special_cephes.cpp, reached through special_function's switch). float64 erf, erfc and lgamma
// are the C library's (lgamma_r: lgamma writes the global signgam, a data race between
// threads); float32 erf, erfc, erfinv, lgamma and digamma are vectorised here, and erfinv,
// digamma and trigamma in float64 are written here too. The same algorithms run on the GPU (pydlk/_cuda/special.py),
// except erfinv there, which is CUDA's own.
// The float32 loops call vmath.h's branch-free functions: they vectorise only with trapping
// math off (see activation.cpp); results are unchanged.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "special.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "vmath.h"

namespace pydlk {

namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr double kTwoOverSqrtPi = 1.12837916709551257390;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

// Giles' single-precision approximation ("Approximating the erfinv function", GPU Computing
// Gems, 2011), then Newton steps in double. Below 1/2 on erf(y) = a; above it on
// log(erfc(y)) = log(1 - a): 1 - a is exact there (where erf(y) - a would cancel), and in the
// far tail (1 - a down to 1e-16, beyond the approximation's single-precision range) the
// logarithm is nearly linear in y, so the steps converge from a rough start.
double erfinv_d(double x, int steps) {
  if (std::isnan(x)) return x;
  const double a = std::fabs(x);
  if (a > 1) return kNaN;
  if (a == 1) return std::copysign(kInf, x);
  double w = -std::log((1 - a) * (1 + a)), p;
  const bool far = w >= 16;  // 1 - a below about 5e-8
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = std::sqrt(w) - 3;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  // The start is good to about 1e-7 relative while 1 - a >= 1e-7 (w < 16): one step gives
  // float32's precision, two double's (quadratic convergence). Beyond, the start degrades and
  // the tail steps run until they stop moving y.
  double y = p * a;
  if (a < 0.5) {
    for (int it = 0; it < steps; ++it) y -= (std::erf(y) - a) / (kTwoOverSqrtPi * std::exp(-y * y));
  } else {
    const double target = std::log1p(-a);
    for (int it = 0; it < (far ? 10 : steps); ++it) {
      const double e = std::erfc(y);
      const double dy = (std::log(e) - target) * e / (kTwoOverSqrtPi * std::exp(-y * y));
      y += dy;  // d log(erfc(y))/dy = -2/sqrt(pi) exp(-y^2) / erfc(y)
      if (far && std::fabs(dy) <= 1e-16 * y) break;
    }
  }
  return std::copysign(y, x);
}

// psi(x): the recurrence psi(y) = psi(y + 1) - 1/y up to y >= 10, then the asymptotic series
// (Bernoulli terms through B14, as Cephes: the next is below 1e-16 relative at 10);
// below 1/2 the reflection psi(x) = psi(1 - x) - pi / tan(pi x). -inf at 0, nan at -1, -2, ...
// (torch's conventions).
double digamma_d(double x) {
  if (std::isnan(x)) return x;
  if (x == 0) return -kInf;
  if (x < 0 && x == std::floor(x)) return kNaN;
  if (x == kInf) return kInf;
  if (x == -kInf) return kNaN;
  const bool small = x < 0.5;
  double y = small ? 1 - x : x, acc = 0;
  while (y < 10) {
    acc -= 1 / y;
    y += 1;
  }
  const double r = 1 / (y * y);
  const double series =
      r * (1.0 / 12 - r * (1.0 / 120 -
                           r * (1.0 / 252 -
                                r * (1.0 / 240 - r * (1.0 / 132 - r * (691.0 / 32760 - r / 12))))));
  double out = acc + std::log(y) - 0.5 / y - series;
  if (small) out -= kPi / std::tan(kPi * x);
  return out;
}

// psi'(x): psi1(y) = psi1(y + 1) + 1/y^2 up to y >= 10, then the asymptotic series; below 1/2
// the reflection psi1(x) = pi^2 / sin^2(pi x) - psi1(1 - x).
double trigamma_d(double x) {
  if (std::isnan(x)) return x;
  if (x <= 0 && x == std::floor(x)) return kInf;
  if (x == kInf) return 0;
  const bool small = x < 0.5;
  double y = small ? 1 - x : x, acc = 0;
  while (y < 10) {
    acc += 1 / (y * y);
    y += 1;
  }
  const double r = 1 / (y * y);
  double out =
      acc + (1 + 0.5 / y +
             r * (1.0 / 6 -
                  r * (1.0 / 30 -
                       r * (1.0 / 42 -
                            r * (1.0 / 30 - r * (5.0 / 66 - r * (691.0 / 2730 - r * 7.0 / 6))))))) /
                y;
  if (small) {
    const double s = kPi / std::sin(kPi * x);
    out = s * s - out;
  }
  return out;
}

namespace {
double lgamma_d(double x) {
  int sign;
  return lgamma_r(x, &sign);
}
float lgamma_f(float x) {
  int sign;
  return lgammaf_r(x, &sign);
}

// y[i] = F(x[i]) in double (Fd) or float (Ff) as T is.
template <typename T, double (*Fd)(double), float (*Ff)(float)>
void apply(T* y, const T* x, index_t n) {
  // libm calls of 5-100 ns each: worth threads from a few thousand elements
#pragma omp parallel for schedule(static) if (n >= 4096)
  for (index_t i = 0; i < n; ++i) {
    if constexpr (sizeof(T) == sizeof(float)) y[i] = Ff(x[i]);
    else y[i] = T(Fd(double(x[i])));
  }
}

double erf_d(double x) { return std::erf(x); }
float erf_f(float x) { return std::erf(x); }
double erfc_d(double x) { return std::erfc(x); }
float erfc_f(float x) { return std::erfc(x); }
double erfinv_2(double x) { return erfinv_d(x, 2); }
float erfinv_1(float x) { return float(erfinv_d(x, 1)); }  // (float32 runs erfinv_float)
float digamma_f(float x) { return float(digamma_d(x)); }   // the series is cheap in double
float trigamma_f(float x) { return float(trigamma_d(x)); }
}  // namespace

// float32 erf and erfc: vmath.h's vectorised verf/verfc (within 2-3 ulp; libm's erff is a
// call per element, 4x torch's vectorised time).
template <bool COMPLEMENT>
PYDLK_SIMD void erf_float(float* __restrict y, const float* __restrict x, index_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) y[i] = COMPLEMENT ? verfc(x[i]) : verf(x[i]);
}

// float32 erfinv, vectorised: Giles' approximation (both branches computed, one selected) and one
// Newton step on verf (below 0.7) or on verfc = 1 - a (above; exact there): within 4 ulp
// (measured: at most 3.9 over 2M uniform values and the tail up to 1 - a = 6e-8).
PYDLK_SIMD void erfinv_float(float* __restrict y, const float* __restrict x, index_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    const float v = x[i], a = std::fabs(v);
    const float w0 = -vlog_normal((1.f - a) * (1.f + a));
    const float c = w0 - 2.5f;
    float p1 = 2.81022636e-08f;
    p1 = 3.43273939e-07f + p1 * c;
    p1 = -3.5233877e-06f + p1 * c;
    p1 = -4.39150654e-06f + p1 * c;
    p1 = 0.00021858087f + p1 * c;
    p1 = -0.00125372503f + p1 * c;
    p1 = -0.00417768164f + p1 * c;
    p1 = 0.246640727f + p1 * c;
    p1 = 1.50140941f + p1 * c;
    const float s = std::sqrt(w0) - 3.f;
    float p2 = -0.000200214257f;
    p2 = 0.000100950558f + p2 * s;
    p2 = 0.00134934322f + p2 * s;
    p2 = -0.00367342844f + p2 * s;
    p2 = 0.00573950773f + p2 * s;
    p2 = -0.0076224613f + p2 * s;
    p2 = 0.00943887047f + p2 * s;
    p2 = 1.00167406f + p2 * s;
    p2 = 2.83297682f + p2 * s;
    float t = (w0 < 5.f ? p1 : p2) * a;
    const float d = float(kTwoOverSqrtPi) * vexp(-t * t);
    const float near = t - (verf(t) - a) / d;
    const float far = t + (verfc_pos_tail(t) - (1.f - a)) / d;
    t = a < 0.7f ? near : far;
    t = a == 1.f ? INFINITY : t;
    t = a > 1.f ? NAN : t;  // and NaN in, NaN out (every compare false: t stays NaN)
    y[i] = v < 0 ? -t : t;
  }
}

// float32 lgamma for 1e-30 <= x < inf, vectorised (other inputs give garbage: the caller
// selects). x >= 7.5: Stirling's series to the x^-5 term (the next is below 4e-10). Below, x =
// r + f with r the nearest integer and |f| <= 1/2, and a polynomial in f near the zeros of
// lgamma, so that the result is f times it and its error stays relative where lgamma crosses
// 0 (a Stirling-only or [2, 3)-based reduction cancels there):
//   r <= 1: lgamma(1 + f) = f q1(f), a degree-14 least-squares fit on [-1/2, 1/2] (relative
//           error 1.1e-9); for r = 0, lgamma(x) = lgamma(1 + x) - log(x).
//   r >= 2: lgamma(2 + f) = f q2(f), the Taylor series f (1 - gamma) + sum_k (-1)^k
//           (zeta(k) - 1) f^k / k (A&S 6.1.33) to k = 13 (the rest is below 2e-9 relative),
//           then Gamma(x + 1) = x Gamma(x) up from 2 + f: a product of at most 6 exact factors.
PYDLK_INLINE float vlgamma_normal(float x) {
  const float big = x < 7.5f ? 7.5f : x;  // both branches are computed; keep each finite
  const float inv = 1.f / big, inv2 = inv * inv;
  const float series =
      inv * (8.3333333333e-2f - inv2 * (2.7777777778e-3f - inv2 * 7.9365079365e-4f));
  const float stirling = (big - 0.5f) * (vlog_normal(big) - 1.f) + 0.41893853320467274f + series;

  const float small = x < 7.5f ? x : 7.5f;
  const float magic = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer
  const float r = (small + magic) - magic;
  const float f = small - r;  // exact
  float q1 = -0.17739739256416739f;
  q1 = 0.17742839027569729f + f * q1;
  q1 = -0.023161946085088987f + f * q1;
  q1 = 0.036274679368394236f + f * q1;
  q1 = -0.10338830443782517f + f * q1;
  q1 = 0.10988377367108661f + f * q1;
  q1 = -0.10979578622308693f + f * q1;
  q1 = 0.12445605464338126f + f * q1;
  q1 = -0.14415147533281797f + f * q1;
  q1 = 0.16961446008409806f + f * q1;
  q1 = -0.20738229064675276f + f * q1;
  q1 = 0.27057944836516246f + f * q1;
  q1 = -0.40068567399828786f + f * q1;
  q1 = 0.82246704270900828f + f * q1;
  q1 = -0.57721566482291708f + f * q1;
  float q2 = -9.4394882752683959e-6f;
  q2 = 2.0507212775670692e-5f + f * q2;
  q2 = -4.4926236738133142e-5f + f * q2;
  q2 = 9.9457512781808534e-5f + f * q2;
  q2 = -2.2315475845357938e-4f + f * q2;
  q2 = 5.0966952474304242e-4f + f * q2;
  q2 = -1.192753911703261e-3f + f * q2;
  q2 = 2.8905103307415233e-3f + f * q2;
  q2 = -7.3855510286739853e-3f + f * q2;
  q2 = 2.0580808427784548e-2f + f * q2;
  q2 = -6.7352301053198095e-2f + f * q2;
  q2 = 0.32246703342411322f + f * q2;
  q2 = 0.42278433509846714f + f * q2;
  float num = 1.f;  // (x - 1) (x - 2) ... (x - (r - 2)), each factor exact
  for (int k = 1; k <= 6; ++k) num *= float(k + 2) <= r ? small - float(k) : 1.f;
  const float low = f * q1 - (r == 0.f ? vlog_normal(small) : 0.f);
  const float high = f * q2 + vlog_normal(num);
  return x < 7.5f ? (r <= 1.f ? low : high) : stirling;
}

// float32 digamma for 1e-30 <= x < inf, vectorised (other inputs give garbage: the caller
// selects). x >= 6: the asymptotic series through the x^-8 term (the next is below 2e-10).
// Below, from y in [1, 2) by the recurrence psi(y + 1) = psi(y) + 1/y (up one for x < 1, down
// at most 4 for x >= 2; the reciprocals summed as one fraction), and psi on [1, 2) as
// (y - x0) q(y - 1), x0 = 1.46163... its zero (two floats, so y - x0 keeps its digits) and q a
// degree-12 least-squares fit (relative error 1.2e-10): the error stays relative near x0.
PYDLK_INLINE float vdigamma_normal(float x) {
  const float big = x < 6.f ? 6.f : x;  // both branches are computed; keep each finite
  const float inv = 1.f / big, inv2 = inv * inv;
  const float asym =
      vlog_normal(big) - 0.5f * inv -
      inv2 * (8.3333333333e-2f -
              inv2 * (8.3333333333e-3f - inv2 * (3.9682539683e-3f - inv2 * 4.1666666667e-3f)));

  const float s = x < 6.f ? x : 6.f;
  const float magic = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer
  float fl = (s + magic) - magic;
  fl = fl > s ? fl - 1.f : fl;  // floor(s), in [0, 5]
  const float t = s - fl;       // exact; y = 1 + t
  const float d = (t - 0.4616321325f) - 1.243814994e-08f;
  float q = 0.0052845857009868229f;
  q = -0.03941097409477793f + t * q;
  q = 0.13683412946943521f + t * q;
  q = -0.29868751545069105f + t * q;
  q = 0.47209321816963368f + t * q;
  q = -0.59774230591499589f + t * q;
  q = 0.66116661902174245f + t * q;
  q = -0.68552291520404018f + t * q;
  q = 0.6976196731495814f + t * q;
  q = -0.71447941588324004f + t * q;
  q = 0.75246561739340534f + t * q;
  q = -0.8546933150336673f + t * q;
  q = 1.250380137372969f + t * q;
  float num = 0.f, den = 1.f;  // sum of 1 / (s - k), k = 1 .. floor(s) - 1, as num / den
  for (int k = 1; k <= 4; ++k) {
    const bool use = float(k + 1) <= fl;
    const float v = use ? s - float(k) : 1.f;  // exact
    num = use ? num * v + den : num;
    den = use ? den * v : den;
  }
  const float steps = fl == 0.f ? -1.f / s : num / den;
  return x < 6.f ? d * q + steps : asym;
}

// y[i] = V(x[i]) in blocks, vectorised, then the scalar Fallback for the few inputs outside V's
// range (x <= 1e-30, negative, inf, NaN). Blocks, so that the fix-up reads x before the block's
// y is written when y is x.
template <float (*V)(float), float (*Fallback)(float)>
PYDLK_SIMD void positive_special_float(float* __restrict y, const float* x, index_t n) {
  constexpr index_t B = 1024;
#pragma omp parallel for schedule(static) if (parallel_worth_it(n))
  for (index_t b0 = 0; b0 < n; b0 += B) {
    const index_t m = std::min(B, n - b0);
    float v[B];
#pragma omp simd
    for (index_t i = 0; i < m; ++i) v[i] = V(x[b0 + i]);
    for (index_t i = 0; i < m; ++i) {
      const float xi = x[b0 + i];
      y[b0 + i] = xi >= 1e-30f && xi < INFINITY ? v[i] : Fallback(xi);
    }
  }
}

// float32 inputs use float functions (vectorised erf/erfc/erfinv/lgamma/digamma); float64
// inputs the double ones.
template <typename T>
void special_function(T* y, const T* x, index_t n, Special f) {
  if constexpr (sizeof(T) == sizeof(float)) {
    if (f == Special::erf) return erf_float<false>(y, x, n);
    if (f == Special::erfc) return erf_float<true>(y, x, n);
    if (f == Special::erfinv) return erfinv_float(y, x, n);
    if (f == Special::lgamma) return positive_special_float<vlgamma_normal, lgamma_f>(y, x, n);
    if (f == Special::digamma) return positive_special_float<vdigamma_normal, digamma_f>(y, x, n);
  }
  switch (f) {
    case Special::erf: apply<T, erf_d, erf_f>(y, x, n); break;
    case Special::erfc: apply<T, erfc_d, erfc_f>(y, x, n); break;
    case Special::erfinv: apply<T, erfinv_2, erfinv_1>(y, x, n); break;
    case Special::lgamma: apply<T, lgamma_d, lgamma_f>(y, x, n); break;
    case Special::digamma: apply<T, digamma_d, digamma_f>(y, x, n); break;
    case Special::trigamma: apply<T, trigamma_d, trigamma_f>(y, x, n); break;
    default: cephes_function(y, x, n, f); break;  // i0 ... entr
  }
}

template void special_function<float>(float*, const float*, index_t, Special);
template void special_function<double>(double*, const double*, index_t, Special);

}  // namespace pydlk
