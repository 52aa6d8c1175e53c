// Binary cross-entropy on logits (loss.h): loss and gradient in one pass each, with the float
// exp and log of vmath.h, instead of the dozen array passes of the formula in NumPy.
//
// The input is processed in blocks over the OpenMP team; a block is cut where the weight
// vectors (period values) wrap around, so each piece is a contiguous loop that vectorises.
#pragma GCC optimize("no-trapping-math")

#include <algorithm>
#include <cmath>
#include <vector>

#include "loss.h"
#include "vmath.h"

namespace pydlk {

namespace {

constexpr index_t kBceBlock = 16384;

// log(1 + e^-|x|) and sigmoid(-x) from one exponential.
PYDLK_INLINE void softplus_sigmoid(float x, float* sp, float* sig_neg) {
  const float e = vexp(-std::fabs(x)), u = 1.f + e;
  // log1p(e) = log(u) e / (u - 1), exact where u rounds to 1 (then log1p(e) = e)
  const float l = u == 1.f ? e : vlog_normal(u) * (e / (u - 1.f));
  *sp = l + (-x > 0.f ? -x : 0.f);  // a NaN x: l is NaN
  *sig_neg = x >= 0.f ? e / u : 1.f / u;
}
inline void softplus_sigmoid(double x, double* sp, double* sig_neg) {
  const double e = std::exp(-std::fabs(x)), u = 1.0 + e;
  *sp = std::log1p(e) + (-x > 0 ? -x : 0.0);
  *sig_neg = x >= 0 ? e / u : 1.0 / u;
}

// Calls f(offset, length, j) over [a, b) cut where index % period wraps (j = offset % period).
template <typename F>
inline void pieces(index_t a, index_t b, index_t period, F&& f) {
  for (index_t i = a; i < b;) {
    const index_t j = i % period, len = std::min(b - i, period - j);
    f(i, len, j);
    i += len;
  }
}

// A run of len values: the losses into out (the loss array, or a scratch block) and their sum.
// ws / pws point at the weights for this run, or at ones: no condition inside the loop, so it
// vectorises. The sum runs in 16 lanes (a float reduction vectorises only reassociated).
template <typename T>
PYDLK_INLINE double bce_forward_run(T* out, const T* xs, const T* ts, const T* ws, const T* pws,
                                    index_t len) {
  for (index_t k = 0; k < len; ++k) {
    T sp, sn;
    softplus_sigmoid(xs[k], &sp, &sn);
    out[k] = ((1 - ts[k]) * xs[k] + (1 + (pws[k] - 1) * ts[k]) * sp) * ws[k];
  }
  T lanes[16] = {};
  index_t k = 0;
  for (; k + 16 <= len; k += 16)
    for (int l = 0; l < 16; ++l) lanes[l] += out[k + l];
  double acc = 0;
  for (; k < len; ++k) acc += out[k];
  for (int l = 0; l < 16; ++l) acc += lanes[l];
  return acc;
}

template <bool kPerElement, typename T>
PYDLK_INLINE void bce_backward_run(T* out, const T* gs, T g0, const T* xs, const T* ts, const T* ws,
                                   const T* pws, index_t len) {
  for (index_t k = 0; k < len; ++k) {
    T sp, sn;
    softplus_sigmoid(xs[k], &sp, &sn);
    const T d = ((1 - ts[k]) - (1 + (pws[k] - 1) * ts[k]) * sn) * ws[k];
    out[k] = d * (kPerElement ? gs[k] : g0);
  }
}

// kBceBlock ones: the weights of an absent weight or pos_weight (a run is at most a block).
template <typename T>
const T* ones() {
  static const std::vector<T> v(kBceBlock, T(1));
  return v.data();
}

}  // namespace

template <typename T>
PYDLK_SIMD void bce_logits_forward(T* loss, double* total, const T* x, const T* t, const T* w,
                                   const T* pw, index_t n, index_t period) {
  double sum = 0;
  const index_t blocks = (n + kBceBlock - 1) / kBceBlock;
  const T* one = ones<T>();
#pragma omp parallel for reduction(+ : sum) schedule(static) if (parallel_worth_it(n))
  for (index_t blk = 0; blk < blocks; ++blk) {
    const index_t a = blk * kBceBlock, b = std::min(n, a + kBceBlock);
    double part = 0;
    thread_local std::vector<T> scratch(kBceBlock);
    pieces(a, b, period, [&](index_t i0, index_t len, index_t j0) {
      const T* ws = w ? w + j0 : one;
      const T* pws = pw ? pw + j0 : one;
      T* out = loss ? loss + i0 : scratch.data() + (i0 - a);
      part += bce_forward_run(out, x + i0, t + i0, ws, pws, len);
    });
    sum += part;
  }
  *total = sum;
}

template <typename T>
PYDLK_SIMD void bce_logits_backward(T* dx, const T* dloss, double dscalar, const T* x, const T* t,
                                    const T* w, const T* pw, index_t n, index_t period) {
  const index_t blocks = (n + kBceBlock - 1) / kBceBlock;
  const T g0 = T(dscalar);
  const T* one = ones<T>();
#pragma omp parallel for schedule(static) if (parallel_worth_it(n))
  for (index_t blk = 0; blk < blocks; ++blk) {
    const index_t a = blk * kBceBlock, b = std::min(n, a + kBceBlock);
    pieces(a, b, period, [&](index_t i0, index_t len, index_t j0) {
      const T* ws = w ? w + j0 : one;
      const T* pws = pw ? pw + j0 : one;
      if (dloss) bce_backward_run<true>(dx + i0, dloss + i0, g0, x + i0, t + i0, ws, pws, len);
      else bce_backward_run<false>(dx + i0, dloss, g0, x + i0, t + i0, ws, pws, len);
    });
  }
}

template void bce_logits_forward<float>(float*, double*, const float*, const float*, const float*,
                                        const float*, index_t, index_t);
template void bce_logits_forward<double>(double*, double*, const double*, const double*,
                                         const double*, const double*, index_t, index_t);
template void bce_logits_backward<float>(float*, const float*, double, const float*, const float*,
                                         const float*, const float*, index_t, index_t);
template void bce_logits_backward<double>(double*, const double*, double, const double*,
                                          const double*, const double*, const double*, index_t,
                                          index_t);

}  // namespace pydlk
