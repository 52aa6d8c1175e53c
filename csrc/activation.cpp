// Activation kernels. The elementwise ops share one parallel loop (act_forward/act_backward) and
// differ only in a small functor whose fwd and bwd formulas sit side by side below.
//
// Loops vectorise only if the float compare-and-select in the formulas may be if-converted,
// which GCC refuses under -ftrapping-math (a compare could raise an FP exception that the scalar
// code would not have). We never unmask FP exceptions, so this file turns trapping math off;
// results (NaN, inf, signed zeros) are unchanged, unlike -ffast-math.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "activation.h"
#include "softmax_rows.h"
#include "stream_store.h"
#include "vmath.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

namespace pydlk {
namespace {

// ------------------------------------------------------------------------------ vector math
// Branch-free float versions of expm1 and tanh (erfc: vmath.h) that GCC vectorises (libm's are calls it
// cannot vectorise without -ffast-math), built on vexp (vmath.h). The double overloads are
// libm's: float64 is the gradient-check path, where accuracy matters more than speed.

// e^x - 1 without the cancellation of exp(x) - 1 near 0: Taylor to x^7 for |x| < 0.35 (next term
// < 2e-8 relative), exp(x) - 1 beyond (|e^x - 1| > 0.29 there, so the rounding of exp stays small).
inline float vexpm1(float x) {
  float p =
      x * (1.f + x * (1.f / 2 +
                      x * (1.f / 6 +
                           x * (1.f / 24 + x * (1.f / 120 + x * (1.f / 720 + x * (1.f / 5040)))))));
  float e = vexp(x) - 1.f;
  return std::fabs(x) < 0.35f ? p : e;
}
inline double vexpm1(double x) { return std::expm1(x); }

// tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)) for |x| >= 0.3 (no overflow: e^{2|x|} = inf gives 1),
// odd Taylor series to x^9 below (next term < 6e-8 relative), where the first form would cancel.
inline float vtanh(float x) {
  float t = std::fabs(x), z = x * x;
  float small = x * (1.f + z * (-1.f / 3 + z * (2.f / 15 + z * (-17.f / 315 + z * (62.f / 2835)))));
  float big = 1.f - 2.f / (vexp(2.f * t) + 1.f);
  big = x < 0 ? -big : big;
  return t < 0.3f ? small : big;  // NaN: t < 0.3 is false, big is NaN
}
inline double vtanh(double x) { return std::tanh(x); }

// sigmoid(x) = 1 / (1 + e^{-x}) written with z = e^{-|x|} in (0, 1], so nothing overflows:
// x >= 0: 1 / (1 + z); x < 0: z / (1 + z).
template <typename T>
inline T sigmoid(T x) {
  T z = vexp(-std::fabs(x));
  T r = T(1) / (T(1) + z);
  return x >= 0 ? r : z * r;
}

// Phi(x), the standard normal CDF = (1 + erf(x / sqrt2)) / 2, through erfc so that the left tail
// keeps its relative accuracy (1 + erf would cancel).
template <typename T>
inline T normal_cdf(T x) {
  T c = T(0.5) * verfc_pos(std::fabs(x) * T(0.70710678118654752440));
  return x >= 0 ? T(1) - c : c;
}

#ifdef PYDLK_HAVE_EXP512
// The same three functions on 16 floats, for the AVX-512 loops below (fwd512/bwd512): exp512
// (softmax_rows.h) in place of vexp, selects as blends. NaN goes through as above.
PYDLK_AVX512 inline __m512 abs512(__m512 x) {
  return _mm512_castsi512_ps(
      _mm512_and_epi32(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
}
PYDLK_AVX512 inline __m512 sigmoid512(__m512 x) {
  const __m512 z = exp512(_mm512_sub_ps(_mm512_setzero_ps(), abs512(x)));
  const __m512 r = _mm512_div_ps(_mm512_set1_ps(1.f), _mm512_add_ps(_mm512_set1_ps(1.f), z));
  const __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
  return _mm512_mask_blend_ps(pos, _mm512_mul_ps(z, r), r);
}
PYDLK_AVX512 inline __m512 normal_cdf512(__m512 x) {  // normal_cdf: 0.5 verfc_pos(|x| / sqrt2)
  const __m512 one = _mm512_set1_ps(1.f),
               z = _mm512_mul_ps(abs512(x), _mm512_set1_ps(0.70710678118654752440f));
  const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.5f), z, one));
  static constexpr float c[10] = {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f,
                                  0.27886807f, -0.18628806f, 0.09678418f, 0.37409196f,
                                  1.00002368f, -1.26551223f};
  __m512 p = _mm512_set1_ps(c[0]);
  for (int i = 1; i < 10; ++i) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(c[i]));
  const __m512 half_erfc =
      _mm512_mul_ps(_mm512_set1_ps(0.5f), _mm512_mul_ps(t, exp512(_mm512_fnmadd_ps(z, z, p))));
  const __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
  return _mm512_mask_blend_ps(pos, half_erfc, _mm512_sub_ps(one, half_erfc));
}
#endif

// ------------------------------------------------------------------------------ the op pairs
// Each functor: fwd(x) -> y, bwd(dy, s) -> dx, s the saved tensor. Where the output determines
// the derivative it is saved (it also survives an in-place call, and needs no recomputation);
// otherwise the input. Comparisons are written as torch's kernels write them so that NaN
// behaves the same (relu(NaN) = NaN; backward at NaN passes dy through as torch's does).

// relu: y = max(x, 0). dx = dy where y > 0 (x > 0 <=> y > 0): saves the output.
template <typename T>
struct Relu {
  explicit Relu(const ActParams&) {}
  T fwd(T x) const { return x < 0 ? T(0) : x; }
  T bwd(T dy, T y) const { return y <= 0 ? T(0) : dy; }
};

// leaky_relu: y = x > 0 ? x : slope x. dx = dy or slope dy. With slope >= 0, y > 0 <=> x > 0, so
// the output is saved; with slope < 0 the sign flips and the input must be saved (same formula).
template <typename T>
struct LeakyRelu {
  T slope;
  explicit LeakyRelu(const ActParams& a) : slope(T(a.p[0])) {}
  T fwd(T x) const { return x > 0 ? x : x * slope; }
  T bwd(T dy, T s) const { return s > 0 ? dy : dy * slope; }
};

// hardtanh: y = clamp(x, lo, hi). dx = dy strictly inside (lo, hi), 0 outside (torch's <= / >=).
// Saves the output: y <= lo <=> x <= lo and y >= hi <=> x >= hi.
template <typename T>
struct Hardtanh {
  T lo, hi;
  explicit Hardtanh(const ActParams& a) : lo(T(a.p[0])), hi(T(a.p[1])) {}
  T fwd(T x) const { return x < lo ? lo : (x > hi ? hi : x); }
  T bwd(T dy, T y) const { return (y <= lo || y >= hi) ? T(0) : dy; }
};

// elu family (torch's parametrisation): y = x > 0 ? scale x : scale alpha (e^{input_scale x} - 1).
// elu: scale = input_scale = 1; selu: scale, alpha = SELU's constants; celu: input_scale = 1/alpha.
// For x <= 0, dy/dx = input_scale scale alpha e^{input_scale x} = input_scale (y + scale alpha).
// The input is saved (is_result = 0), as torch does: from the output, y + scale alpha rounds to 0
// in the far negative tail (below x ~ -17 in float32). An in-place call has only the output
// (is_result = 1), valid when y > 0 <=> x > 0 (scale > 0, alpha input_scale >= 0).
template <typename T>
struct Elu {
  T alpha, scale, in_scale;
  bool is_result;
  explicit Elu(const ActParams& a)
      : alpha(T(a.p[0])), scale(T(a.p[1])), in_scale(T(a.p[2])), is_result(a.p[3] != 0) {}
  T fwd(T x) const {
    T neg = scale * alpha * vexpm1(x * in_scale);
    return x > 0 ? scale * x : neg;
  }
  T bwd(T dy, T s) const {
    T neg = is_result ? dy * in_scale * (s + scale * alpha)
                      : dy * in_scale * scale * alpha * vexp(s * in_scale);
    return s <= 0 ? neg : dy * scale;
  }
};

// sigmoid: dy/dx = y (1 - y): saves the output.
template <typename T>
struct Sigmoid {
  explicit Sigmoid(const ActParams&) {}
  T fwd(T x) const { return sigmoid(x); }
  T bwd(T dy, T y) const { return dy * y * (T(1) - y); }
#ifdef PYDLK_HAVE_EXP512
  static constexpr bool kFwd512 = true;
  PYDLK_AVX512 __m512 fwd512(__m512 x) const { return sigmoid512(x); }
#endif
};

// tanh: dy/dx = 1 - y^2: saves the output.
template <typename T>
struct Tanh {
  explicit Tanh(const ActParams&) {}
  T fwd(T x) const { return vtanh(x); }
  T bwd(T dy, T y) const { return dy * (T(1) - y * y); }
#ifdef PYDLK_HAVE_EXP512
  static constexpr bool kFwd512 = true;
  PYDLK_AVX512 __m512 fwd512(__m512 x) const {  // vtanh's two forms, selected by |x| < 0.3
    const __m512 one = _mm512_set1_ps(1.f), t = abs512(x), z = _mm512_mul_ps(x, x);
    __m512 p = _mm512_fmadd_ps(z, _mm512_set1_ps(62.f / 2835), _mm512_set1_ps(-17.f / 315));
    p = _mm512_fmadd_ps(z, p, _mm512_set1_ps(2.f / 15));
    p = _mm512_fmadd_ps(z, p, _mm512_set1_ps(-1.f / 3));
    const __m512 small = _mm512_mul_ps(x, _mm512_fmadd_ps(z, p, one));
    const __m512 e = exp512(_mm512_add_ps(t, t));
    __m512 big = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.f), _mm512_add_ps(e, one)));
    big = _mm512_mask_sub_ps(big, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ),
                             _mm512_setzero_ps(), big);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, _mm512_set1_ps(0.3f), _CMP_LT_OQ), big,
                                small);
  }
#endif
};

// silu: y = x s, s = sigmoid(x). dy/dx = s + x s (1 - s) = s (1 + x (1 - s)). The output does not
// give x back cheaply, so the input is saved and s recomputed (the op is memory-bound: the
// recomputation is free, an extra saved tensor is not).
template <typename T>
struct Silu {
  explicit Silu(const ActParams&) {}
  T fwd(T x) const { return x * sigmoid(x); }
  T bwd(T dy, T x) const {
    T s = sigmoid(x);
    return dy * s * (T(1) + x * (T(1) - s));
  }
#ifdef PYDLK_HAVE_EXP512
  static constexpr bool kFwd512 = true;
  PYDLK_AVX512 __m512 fwd512(__m512 x) const { return _mm512_mul_ps(x, sigmoid512(x)); }
  static constexpr bool kBwd512 = true;
  PYDLK_AVX512 __m512 bwd512(__m512 dy, __m512 x) const {
    const __m512 s = sigmoid512(x), one = _mm512_set1_ps(1.f);
    return _mm512_mul_ps(_mm512_mul_ps(dy, s), _mm512_fmadd_ps(x, _mm512_sub_ps(one, s), one));
  }
#endif
};

// mish: y = x tanh(softplus(x)). With e = e^x, tanh(log(1 + e)) = ((1+e)^2 - 1) / ((1+e)^2 + 1)
// = n / (n + 2), n = e (e + 2): no log, no cancellation, and x is capped at 20 inside (where the
// ratio is already 1 in double) so e^{2x} cannot overflow. Saves the input.
// dy/dx = tsp + x sigmoid(x) (1 - tsp^2)   (d softplus / dx = sigmoid), with sigmoid(x) =
// e / (1 + e) from the same e (the cap at 20 only matters where 1 - tsp^2 is already 0).
template <typename T>
struct Mish {
  explicit Mish(const ActParams&) {}
  static T tsp_of(T e) {
    T n = e * (e + T(2));
    return n / (n + T(2));
  }
  static T exp_capped(T x) { return vexp(x < T(20) ? x : T(20)); }  // NaN -> 20: y = x * 1 = NaN
  T fwd(T x) const { return x * tsp_of(exp_capped(x)); }
  T bwd(T dy, T x) const {
    T e = exp_capped(x), t = tsp_of(e);
    return dy * (t + x * (e / (T(1) + e)) * (T(1) - t * t));
  }
};

// gelu (exact): y = x Phi(x). dy/dx = Phi(x) + x phi(x), phi(x) = e^{-x^2/2} / sqrt(2 pi).
// Saves the input.
template <typename T>
struct Gelu {
  explicit Gelu(const ActParams&) {}
  T fwd(T x) const { return x * normal_cdf(x); }
  T bwd(T dy, T x) const {
    T pdf = T(0.39894228040143267794) * vexp(T(-0.5) * x * x);
    return dy * (normal_cdf(x) + x * pdf);
  }
#ifdef PYDLK_HAVE_EXP512
  static constexpr bool kFwd512 = true;
  PYDLK_AVX512 __m512 fwd512(__m512 x) const { return _mm512_mul_ps(x, normal_cdf512(x)); }
  static constexpr bool kBwd512 = true;
  PYDLK_AVX512 __m512 bwd512(__m512 dy, __m512 x) const {
    const __m512 pdf =
        _mm512_mul_ps(_mm512_set1_ps(0.39894228040143267794f),
                      exp512(_mm512_mul_ps(_mm512_set1_ps(-0.5f), _mm512_mul_ps(x, x))));
    return _mm512_mul_ps(dy, _mm512_fmadd_ps(x, pdf, normal_cdf512(x)));
  }
#endif
};

// gelu (tanh approximation): y = x (1 + tanh u) / 2, u = k (x + c x^3), k = sqrt(2/pi), c = 0.044715.
// (1 + tanh u) / 2 = sigmoid(2u), which keeps the left tail accurate (1 + tanh u would cancel).
// dy/dx = s + x s (1 - s) 2 u', s = sigmoid(2u), u' = k (1 + 3 c x^2). Saves the input.
template <typename T>
struct GeluTanh {
  static constexpr T k = T(0.79788456080286535588), c = T(0.044715);
  explicit GeluTanh(const ActParams&) {}
  T fwd(T x) const { return x * sigmoid(T(2) * k * (x + c * x * x * x)); }
  T bwd(T dy, T x) const {
    T s = sigmoid(T(2) * k * (x + c * x * x * x));
    return dy * (s + x * s * (T(1) - s) * T(2) * k * (T(1) + T(3) * c * x * x));
  }
#ifdef PYDLK_HAVE_EXP512
  PYDLK_AVX512 __m512 arg512(__m512 x) const {  // 2 k (x + c x^3)
    const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
    return _mm512_mul_ps(_mm512_set1_ps(float(T(2) * k)),
                         _mm512_fmadd_ps(_mm512_set1_ps(float(c)), x3, x));
  }
  static constexpr bool kFwd512 = true;
  PYDLK_AVX512 __m512 fwd512(__m512 x) const { return _mm512_mul_ps(x, sigmoid512(arg512(x))); }
  static constexpr bool kBwd512 = true;
  PYDLK_AVX512 __m512 bwd512(__m512 dy, __m512 x) const {
    const __m512 one = _mm512_set1_ps(1.f), s = sigmoid512(arg512(x));
    const __m512 du = _mm512_fmadd_ps(_mm512_set1_ps(float(T(3) * c)), _mm512_mul_ps(x, x), one);
    const __m512 slope = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(x, s), _mm512_sub_ps(one, s)),
                                       _mm512_mul_ps(_mm512_set1_ps(float(T(2) * k)), du));
    return _mm512_mul_ps(dy, _mm512_add_ps(s, slope));
  }
#endif
};

// softplus: y = log(1 + e^{beta x}) / beta, and y = x where beta x > threshold (torch's rule).
// dy/dx = sigmoid(beta x) (1 where beta x > threshold). Saves the input. log1p is libm's, so
// this one does not vectorise.
template <typename T>
struct Softplus {
  T beta, threshold;
  explicit Softplus(const ActParams& a) : beta(T(a.p[0])), threshold(T(a.p[1])) {}
  T fwd(T x) const {
    T bx = x * beta;
    return bx > threshold ? x : std::log1p(vexp(bx)) / beta;
  }
  T bwd(T dy, T x) const {
    T bx = x * beta;
    return bx > threshold ? dy : dy * sigmoid(bx);
  }
};

// Calls k(functor, args...) for op: the one place that lists the ops.
template <typename T, typename K, typename... Args>
PYDLK_INLINE void visit(Act op, const ActParams& a, K k, Args... args) {
  switch (op) {
    case Act::relu: return k(Relu<T>(a), args...);
    case Act::leaky_relu: return k(LeakyRelu<T>(a), args...);
    case Act::hardtanh: return k(Hardtanh<T>(a), args...);
    case Act::elu: return k(Elu<T>(a), args...);
    case Act::sigmoid: return k(Sigmoid<T>(a), args...);
    case Act::tanh: return k(Tanh<T>(a), args...);
    case Act::silu: return k(Silu<T>(a), args...);
    case Act::mish: return k(Mish<T>(a), args...);
    case Act::gelu: return k(Gelu<T>(a), args...);
    case Act::gelu_tanh: return k(GeluTanh<T>(a), args...);
    case Act::softplus: return k(Softplus<T>(a), args...);
  }
}

// One block of the flat range. omp simd: y may be x (in place); each element is read before it
// is written, so vectors are safe without the compiler's alias check.
#ifdef PYDLK_HAVE_EXP512
// Functors with AVX-512 forms (fwd512 / bwd512 above, flagged by kFwd512 / kBwd512: the ops whose float loops are bound by
// vexp, which GCC vectorises with its clamps as compare-and-mask sequences) run them on float
// arrays where the CPU has AVX-512 and pydlk.backends.cpu.allow_avx512_exp is on. On 16M
// floats, 2 threads, Zen 5, forward / backward in ms: silu 2.10 / 2.57 -> 1.75 / 2.16, sigmoid
// 2.04 -> 1.64, gelu 4.68 / 6.28 -> 3.96 / 5.28 (relu, all memory: 1.07 / 2.06).
template <typename F, typename = void>
struct HasFwd512 : std::false_type {};
template <typename F>
struct HasFwd512<F, std::void_t<decltype(F::kFwd512)>> : std::true_type {};
template <typename F, typename = void>
struct HasBwd512 : std::false_type {};
template <typename F>
struct HasBwd512<F, std::void_t<decltype(F::kBwd512)>> : std::true_type {};

inline bool use512() { return cpu_has_avx512() && avx512_exp_allowed(); }

template <typename F>
PYDLK_AVX512 void forward512(const F f, float* y, const float* x, index_t n) {
  index_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, f.fwd512(_mm512_loadu_ps(x + i)));
  if (i < n)
    _mm512_mask_storeu_ps(y + i, lanes16(n - i),
                          f.fwd512(_mm512_maskz_loadu_ps(lanes16(n - i), x + i)));
}
template <typename F>
PYDLK_AVX512 void backward512(const F f, float* dx, const float* dy, const float* s, index_t n) {
  index_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dx + i, f.bwd512(_mm512_loadu_ps(dy + i), _mm512_loadu_ps(s + i)));
  if (i < n) {
    const __mmask16 k = lanes16(n - i);
    _mm512_mask_storeu_ps(
        dx + i, k, f.bwd512(_mm512_maskz_loadu_ps(k, dy + i), _mm512_maskz_loadu_ps(k, s + i)));
  }
}
#endif

struct ForwardBlock {
  template <typename F, typename T>
  PYDLK_INLINE void operator()(const F f, T* y, const T* x, index_t b, index_t e) const {
#ifdef PYDLK_HAVE_EXP512
    if constexpr (std::is_same_v<T, float> && HasFwd512<F>::value) {
      if (use512()) return forward512(f, y + b, x + b, e - b);
    }
#endif
#pragma omp simd
    for (index_t i = b; i < e; ++i) y[i] = f.fwd(x[i]);
  }
};
struct BackwardBlock {
  template <typename F, typename T>
  PYDLK_INLINE void operator()(const F f, T* dx, const T* dy, const T* s, index_t b,
                               index_t e) const {
#ifdef PYDLK_HAVE_EXP512
    if constexpr (std::is_same_v<T, float> && HasBwd512<F>::value) {
      if (use512()) return backward512(f, dx + b, dy + b, s + b, e - b);
    }
#endif
#pragma omp simd
    for (index_t i = b; i < e; ++i) dx[i] = f.bwd(dy[i], s[i]);
  }
};

// Threads split the flat range into static contiguous halves; each block's loop is SIMD.
constexpr index_t kBlock = 4096;

}  // namespace

// ------------------------------------------------------------------------------ elementwise

// An output that aliases an input (store_aliases_ahead) goes through an L1 buffer
// (stream_store.h, write_chunks); the values are the same.
template <typename T>
PYDLK_SIMD void act_forward(Act op, T* y, const T* x, index_t n, const ActParams& a) {
  const bool bounce = store_aliases_ahead(y, x);
#pragma omp parallel for schedule(static) if (parallel_worth_it(n))
  for (index_t b = 0; b < n; b += kBlock) {
    const index_t e = std::min(n, b + kBlock);
    alignas(64) T buf[kBounceBuf<T>];
    write_chunks(y + b, e - b, bounce, buf, [&](T* q, index_t i0, index_t m) PYDLK_LAMBDA_INLINE {
      visit<T>(op, a, ForwardBlock{}, q, x + b + i0, index_t(0), m);
    });
  }
}

template <typename T>
PYDLK_SIMD void act_backward(Act op, T* dx, const T* dy, const T* s, index_t n,
                             const ActParams& a) {
  const bool bounce = store_aliases_ahead(dx, dy) || store_aliases_ahead(dx, s);
#pragma omp parallel for schedule(static) if (parallel_worth_it(n))
  for (index_t b = 0; b < n; b += kBlock) {
    const index_t e = std::min(n, b + kBlock);
    alignas(64) T buf[kBounceBuf<T>];
    write_chunks(dx + b, e - b, bounce, buf, [&](T* q, index_t i0, index_t m) PYDLK_LAMBDA_INLINE {
      visit<T>(op, a, BackwardBlock{}, q, dy + b + i0, s + b + i0, index_t(0), m);
    });
  }
}

// ------------------------------------------------------------------------------ softmax
// Per (o, i) slice along D: m = max x, s = sum e^{x - m} (in double, >= 1 since the max term is 1),
// softmax y = e^{x - m} / s, log_softmax y = (x - m) - log s (no log(0): s >= 1).
// A NaN anywhere in a slice makes the whole slice NaN (through e^{x - m} and s), as in torch.
//
// Backward, with dot = sum_d dy y:
//   softmax:      dy/dx_j = y_i (delta_ij - y_j)  =>  dx = y (dy - dot)
//   log_softmax:  dy_i/dx_j = delta_ij - softmax_j =>  dx = dy - e^y sum_d dy
//
// inner == 1 (the last dim): one contiguous row per (o), SIMD along D. inner > 1: SIMD along
// inner, over blocks of kIB columns whose running max/sum live on the stack (no allocation).

constexpr index_t kIB = 256;

template <typename T>
PYDLK_SIMD void softmax_forward(T* y, const T* x, index_t outer, index_t D, index_t inner,
                                bool log) {
  if (outer * D * inner == 0) return;
  if (inner == 1) {
#pragma omp parallel for schedule(static) if (parallel_worth_it(outer * D))
    for (index_t o = 0; o < outer; ++o) {
      const T* xr = x + o * D;
      T* yr = y + o * D;
      const T m = row_max(xr, D);
      if (log) {
        const T ls = T(std::log(exp_shift_sum(static_cast<T*>(nullptr), xr, D, m)));
#pragma omp simd
        for (index_t d = 0; d < D; ++d) yr[d] = (xr[d] - m) - ls;
      } else {
        const T r = T(1.0 / exp_shift_sum(yr, xr, D, m));
#pragma omp simd
        for (index_t d = 0; d < D; ++d) yr[d] *= r;
      }
    }
    return;
  }
  const index_t nb = (inner + kIB - 1) / kIB;
#pragma omp parallel for schedule(static) if (parallel_worth_it(outer * D * inner))
  for (index_t t = 0; t < outer * nb; ++t) {
    const index_t o = t / nb, i0 = (t % nb) * kIB, w = std::min(kIB, inner - i0);
    const T* xs = x + o * D * inner + i0;
    T* ys = y + o * D * inner + i0;
    T m[kIB];
    double s[kIB];
    for (index_t i = 0; i < w; ++i) {
      m[i] = -std::numeric_limits<T>::infinity();
      s[i] = 0;
    }
    for (index_t d = 0; d < D; ++d) {
#pragma omp simd
      for (index_t i = 0; i < w; ++i) m[i] = std::max(m[i], xs[d * inner + i]);
    }
    for (index_t d = 0; d < D; ++d) {
      const T* xd = xs + d * inner;
      T* yd = ys + d * inner;
      if (log) {
#pragma omp simd
        for (index_t i = 0; i < w; ++i) s[i] += double(vexp(xd[i] - m[i]));
      } else {
#pragma omp simd
        for (index_t i = 0; i < w; ++i) {
          T ed = vexp(xd[i] - m[i]);
          yd[i] = ed;
          s[i] += double(ed);
        }
      }
    }
    T f[kIB];  // 1/s for softmax, log s for log_softmax
    for (index_t i = 0; i < w; ++i) f[i] = log ? T(std::log(s[i])) : T(1.0 / s[i]);
    for (index_t d = 0; d < D; ++d) {
      if (log) {
#pragma omp simd
        for (index_t i = 0; i < w; ++i) ys[d * inner + i] = (xs[d * inner + i] - m[i]) - f[i];
      } else {
#pragma omp simd
        for (index_t i = 0; i < w; ++i) ys[d * inner + i] *= f[i];
      }
    }
  }
}

template <typename T>
PYDLK_SIMD void softmax_backward(T* dx, const T* dy, const T* y, index_t outer, index_t D,
                                 index_t inner, bool log) {
  if (outer * D * inner == 0) return;
  if (inner == 1) {
#pragma omp parallel for schedule(static) if (parallel_worth_it(outer * D))
    for (index_t o = 0; o < outer; ++o) {
      const T *g = dy + o * D, *yr = y + o * D;
      T* dr = dx + o * D;
      double s = 0;
      if (log) {
#pragma omp simd reduction(+ : s)
        for (index_t d = 0; d < D; ++d) s += double(g[d]);
        sub_exp_scaled(dr, g, yr, D, T(s));
      } else {
#pragma omp simd reduction(+ : s)
        for (index_t d = 0; d < D; ++d) s += double(g[d]) * double(yr[d]);
        const T st = T(s);
#pragma omp simd
        for (index_t d = 0; d < D; ++d) dr[d] = yr[d] * (g[d] - st);
      }
    }
    return;
  }
  const index_t nb = (inner + kIB - 1) / kIB;
#pragma omp parallel for schedule(static) if (parallel_worth_it(outer * D * inner))
  for (index_t t = 0; t < outer * nb; ++t) {
    const index_t o = t / nb, i0 = (t % nb) * kIB, w = std::min(kIB, inner - i0);
    const index_t off = o * D * inner + i0;
    const T *g = dy + off, *ys = y + off;
    T* ds = dx + off;
    double s[kIB];
    for (index_t i = 0; i < w; ++i) s[i] = 0;
    for (index_t d = 0; d < D; ++d) {
      if (log) {
#pragma omp simd
        for (index_t i = 0; i < w; ++i) s[i] += double(g[d * inner + i]);
      } else {
#pragma omp simd
        for (index_t i = 0; i < w; ++i)
          s[i] += double(g[d * inner + i]) * double(ys[d * inner + i]);
      }
    }
    T st[kIB];
    for (index_t i = 0; i < w; ++i) st[i] = T(s[i]);
    for (index_t d = 0; d < D; ++d) {
      const index_t r = d * inner;
      if (log) {
#pragma omp simd
        for (index_t i = 0; i < w; ++i) ds[r + i] = g[r + i] - vexp(ys[r + i]) * st[i];
      } else {
#pragma omp simd
        for (index_t i = 0; i < w; ++i) ds[r + i] = ys[r + i] * (g[r + i] - st[i]);
      }
    }
  }
}

// ------------------------------------------------------------------------------ maxout
// One (o, c) row per iteration: threads split the rows they write, SIMD along inner.

template <typename T>
PYDLK_SIMD void maxout_forward(T* y, int64_t* idx, const T* x, index_t outer, index_t C, index_t k,
                               index_t inner) {
#pragma omp parallel for schedule(static) if (parallel_worth_it(outer * C * k * inner))
  for (index_t r = 0; r < outer * C; ++r) {
    const T* xr = x + r * k * inner;  // (k, inner) block of group r
    T* yr = y + r * inner;
    int64_t* ir = idx + r * inner;
    for (index_t i = 0; i < inner; ++i) {
      yr[i] = xr[i];
      ir[i] = 0;
    }
    for (index_t j = 1; j < k; ++j) {
#pragma omp simd
      for (index_t i = 0; i < inner; ++i) {
        T v = xr[j * inner + i], b = yr[i];
        bool take = v > b || (v != v && b == b);  // larger, or the first NaN
        yr[i] = take ? v : b;
        ir[i] = take ? int64_t(j) : ir[i];
      }
    }
  }
}

// dx[o, c*k + j, i] = dy[o, c, i] if j == idx[o, c, i] else 0. Every dx element is written once.
template <typename T>
PYDLK_SIMD void maxout_backward(T* dx, const T* dy, const int64_t* idx, index_t outer, index_t C,
                                index_t k, index_t inner) {
#pragma omp parallel for schedule(static) if (parallel_worth_it(outer * C * k * inner))
  for (index_t r = 0; r < outer * C; ++r) {
    T* dr = dx + r * k * inner;
    const T* g = dy + r * inner;
    const int64_t* ir = idx + r * inner;
    for (index_t j = 0; j < k; ++j) {
#pragma omp simd
      for (index_t i = 0; i < inner; ++i) dr[j * inner + i] = ir[i] == j ? g[i] : T(0);
    }
  }
}

#define PYDLK_INSTANTIATE(T)                                                                   \
  template void act_forward<T>(Act, T*, const T*, index_t, const ActParams&);                  \
  template void act_backward<T>(Act, T*, const T*, const T*, index_t, const ActParams&);       \
  template void softmax_forward<T>(T*, const T*, index_t, index_t, index_t, bool);             \
  template void softmax_backward<T>(T*, const T*, const T*, index_t, index_t, index_t, bool);  \
  template void maxout_forward<T>(T*, int64_t*, const T*, index_t, index_t, index_t, index_t); \
  template void maxout_backward<T>(T*, const T*, const int64_t*, index_t, index_t, index_t,    \
                                   index_t);
PYDLK_INSTANTIATE(float)
PYDLK_INSTANTIATE(double)
#undef PYDLK_INSTANTIATE

}  // namespace pydlk
