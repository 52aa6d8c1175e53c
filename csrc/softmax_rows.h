// Row helpers of the softmax family (cross_entropy and logsumexp in loss.cpp, softmax and
// log_softmax in activation.cpp, attention's softmax): a row's maximum, and its exponential sum
// sum_i e^(x[i] - max), in explicit AVX-512 vectors where the CPU has them.
//
// Why not vexp (vmath.h) in a loop, as elsewhere: GCC vectorises vexp's two NaN-keeping clamps
// as four compares and two masked moves, and keeps a blocked sum's partials in memory; with
// vmaxps/vminps in the operand order that keeps a NaN, vscalefps for the 2^n and the partials in
// registers, the same reduction and polynomial ran a row's exp-and-sum at 0.11 ns a value
// against 0.18 (Zen 5, one thread, rows of 1024). Results agree with vexp's to its 1 ulp;
// below 2^-126 they are subnormal where vexp flushes to 0.
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "common.h"
#include "vmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PYDLK_HAVE_EXP512 1
#endif

namespace pydlk {

// pydlk.backends.cpu.allow_avx512_exp (default true): whether exp_shift_sum may take its AVX-512
// loop on a CPU that has AVX-512 (False: the portable loop, for tests and comparisons).
inline std::atomic<bool> g_avx512_exp{true};
inline bool avx512_exp_allowed() { return g_avx512_exp.load(std::memory_order_relaxed); }
inline void set_avx512_exp_allowed(bool allowed) { g_avx512_exp.store(allowed); }

// max of x[0..n), NaNs skipped (they reach the result through e^{x - m}); -inf when empty.
// 16 running maxima that the compiler keeps in one vector (GCC does not vectorise an
// `omp simd reduction(max)` over a compare-and-select).
template <typename T>
PYDLK_INLINE T row_max(const T* x, index_t n) {
  constexpr int L = 16;
  T mv[L];
  for (int j = 0; j < L; ++j) mv[j] = -std::numeric_limits<T>::infinity();
  index_t d = 0;
  for (; d + L <= n; d += L) {
#pragma omp simd
    for (int j = 0; j < L; ++j) mv[j] = x[d + j] > mv[j] ? x[d + j] : mv[j];
  }
  for (; d < n; ++d) mv[0] = x[d] > mv[0] ? x[d] : mv[0];
  T m = mv[0];
  for (int j = 1; j < L; ++j) m = mv[j] > m ? mv[j] : m;
  return m;
}

#ifdef PYDLK_HAVE_EXP512
// The maskz forms with a full mask below: GCC 12 warns (wrongly) that the plain ones read an
// uninitialised register.
constexpr __mmask16 kAll16 = 0xffff;

// The first n lanes (n <= 16) of a vector: a row's last, partial vector.
PYDLK_AVX512 inline __mmask16 lanes16(index_t n) {
  return n >= 16 ? kAll16 : __mmask16((1u << n) - 1);
}

// e^x in 16 lanes: x = n ln2 + r (n rounded to nearest, ln2 split as in vexp), e^r by the same
// Cephes polynomial, times 2^n by vscalefps (which overflows to inf and underflows to 0 itself).
// x is clamped to [-104, 89] first, a NaN kept (vmaxps/vminps return their second operand for
// it): -inf and +inf would otherwise give inf - inf in r.
PYDLK_AVX512 inline __m512 exp512(__m512 x) {
  x = _mm512_maskz_min_ps(kAll16, _mm512_set1_ps(89.0f),
                          _mm512_maskz_max_ps(kAll16, _mm512_set1_ps(-104.0f), x));
  const __m512 n =
      _mm512_maskz_roundscale_ps(kAll16, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(kAll16, p, n);
}

// The 16 floats of v widened to double and added into d0 (the low 8) and d1 (the high 8).
PYDLK_AVX512 inline void add_widened(__m512d& d0, __m512d& d1, __m512 v) {
  const __m256 hi = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, _mm512_castps_pd(v), 1));
  d0 = _mm512_add_pd(d0, _mm512_maskz_cvtps_pd(0xff, _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(
                                                         0xff, _mm512_castps_pd(v), 0))));
  d1 = _mm512_add_pd(d1, _mm512_maskz_cvtps_pd(0xff, hi));
}

// The sum of the 8 doubles of v (spelled out: GCC 12 warns wrongly about _mm512_reduce_add_pd).
PYDLK_AVX512 inline double hsum512d(__m512d v) {
  const __m256d a = _mm256_add_pd(_mm512_maskz_extractf64x4_pd(0xff, v, 0),
                                  _mm512_maskz_extractf64x4_pd(0xff, v, 1));
  const __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
  return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

// sum over i < n of e^(x[i] - m) in double, each term also stored in e[i] when e is not null.
// Terms are summed in float over blocks of 256 (two accumulators of 16 lanes), each block's
// lanes added in double: as the portable loop below.
PYDLK_AVX512 inline double exp_shift_sum512(float* e, const float* x, index_t n, float m) {
  const __m512 mv = _mm512_set1_ps(m);
  __m512d d0 = _mm512_setzero_pd(), d1 = _mm512_setzero_pd();
  index_t i = 0;
  while (i + 32 <= n) {
    const index_t end = i + 256 <= n ? i + 256 : i + (n - i) / 32 * 32;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    for (; i < end; i += 32) {
      const __m512 e0 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
      const __m512 e1 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), mv));
      if (e) {
        _mm512_storeu_ps(e + i, e0);
        _mm512_storeu_ps(e + i + 16, e1);
      }
      a0 = _mm512_add_ps(a0, e0);
      a1 = _mm512_add_ps(a1, e1);
    }
    add_widened(d0, d1, _mm512_add_ps(a0, a1));
  }
  for (; i < n; i += 16) {  // the last n % 32, 16 lanes at a time; lanes past n add 0
    const __mmask16 k = lanes16(n - i);
    const __m512 t =
        _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), mv)));
    if (e) _mm512_mask_storeu_ps(e + i, k, t);
    add_widened(d0, d1, t);
  }
  return hsum512d(_mm512_add_pd(d0, d1));
}

// d[i] = g[i] - e^(y[i]) s for i < n (log_softmax's backward: y the log-probabilities).
PYDLK_AVX512 inline void sub_exp_scaled512(float* d, const float* g, const float* y, index_t n,
                                           float s) {
  const __m512 sv = _mm512_set1_ps(s);
  index_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(d + i,
                     _mm512_fnmadd_ps(exp512(_mm512_loadu_ps(y + i)), sv, _mm512_loadu_ps(g + i)));
  if (i < n) {
    const __mmask16 k = lanes16(n - i);
    _mm512_mask_storeu_ps(d + i, k,
                          _mm512_fnmadd_ps(exp512(_mm512_maskz_loadu_ps(k, y + i)), sv,
                                           _mm512_maskz_loadu_ps(k, g + i)));
  }
}
#endif

// d[i] = g[i] - e^(y[i]) s for i < n: the AVX-512 loop above for float where the CPU has it
// (and allow_avx512_exp), else vexp (libm's exp for double).
template <typename T>
PYDLK_INLINE void sub_exp_scaled(T* d, const T* g, const T* y, index_t n, T s) {
#ifdef PYDLK_HAVE_EXP512
  if constexpr (sizeof(T) == sizeof(float)) {
    if (cpu_has_avx512() && avx512_exp_allowed()) return sub_exp_scaled512(d, g, y, n, s);
  }
#endif
#pragma omp simd
  for (index_t i = 0; i < n; ++i) d[i] = g[i] - vexp(y[i]) * s;
}

// vexp over blocks of 256 summed in 32 float lanes, each block's lanes added in double (a loop
// converting every term to double runs the float exp at half the vector width).
template <bool Store>
PYDLK_INLINE double exp_shift_sum_lanes(float* e, const float* x, index_t n, float m) {
  constexpr int L = 32;
  double lanes[L] = {}, sum = 0;
  index_t c = 0;
  while (c + L <= n) {
    const index_t c1 = (c + 256 <= n ? c + 256 : n) / L * L;
    float part[L] = {};
    for (; c < c1; c += L)
      for (int k = 0; k < L; ++k) {
        const float t = vexp(x[c + k] - m);
        if constexpr (Store) e[c + k] = t;
        part[k] += t;
      }
    for (int k = 0; k < L; ++k) lanes[k] += (double)part[k];
  }
  for (; c < n; ++c) {
    const float t = vexp(x[c] - m);
    if constexpr (Store) e[c] = t;
    sum += (double)t;
  }
  for (int k = 0; k < L; ++k) sum += lanes[k];
  return sum;
}

// sum over i < n of e^(x[i] - m) in double (m the row's maximum, so every exponent is <= 0 or
// NaN), each term also stored in e[i] when e is not null. float: the AVX-512 loop above where
// the CPU has it (and allow_avx512_exp), else exp_shift_sum_lanes; double: libm's exp, summed in double.
template <typename T>
PYDLK_INLINE double exp_shift_sum(T* e, const T* x, index_t n, T m) {
  if constexpr (sizeof(T) == sizeof(float)) {
#ifdef PYDLK_HAVE_EXP512
    if (cpu_has_avx512() && avx512_exp_allowed()) return exp_shift_sum512(e, x, n, m);
#endif
    return e ? exp_shift_sum_lanes<true>(e, x, n, m) : exp_shift_sum_lanes<false>(e, x, n, m);
  } else {
    double sum = 0;
    for (index_t c = 0; c < n; ++c) {
      const T t = T(std::exp(double(x[c] - m)));
      if (e) e[c] = t;
      sum += double(t);
    }
    return sum;
  }
}

}  // namespace pydlk
