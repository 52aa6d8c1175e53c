// Fused optimiser kernels (see optim.h). Each is a single pass over the arena: the loop is split
// into contiguous chunks over the OpenMP team (schedule static, the threads write disjoint
// ranges) and vectorised inside (omp simd). The if clause names `parallel:` on purpose: a bare
// if on a combined `parallel for simd` also applies to the simd construct, and GCC then runs
// the small (single-threaded) case without vectorisation, about 10x slower. Hyperparameters are converted to T once, outside the
// loop; flags that would branch inside the loop are either template parameters or folded into
// coefficients (maximize -> s = -1, coupled wd = 0 adds exactly nothing for finite p).
#include "optim.h"

#include <algorithm>
#include <cmath>

namespace pydlk {

template <typename T>
static inline T sgn(T x) {
  return T(x > T(0)) - T(x < T(0));
}

// ------------------------------------------------------------------------------------- SGD
template <typename T, bool MOM>
PYDLK_SIMD static void sgd_impl(T* __restrict p, T* __restrict buf, const T* __restrict g,
                                index_t n, T lr, T mom, T keep, T add, T cg, T cb, T wd, T l1,
                                T s) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    T pi = p[i];
    T gi = s * g[i] + wd * pi + l1 * sgn(pi);
    if (MOM) {
      T b = keep * buf[i] + add * gi;  // first step: keep = 0, add = 1 -> b = g' exactly
      buf[i] = b;
      gi = cg * gi + cb * b;  // nesterov: g' + mom*b, else b
    }
    p[i] = pi - lr * gi;
  }
  (void)mom;
}

template <typename T>
void sgd_step(T* p, T* buf, const T* g, index_t n, double lr, double momentum, double dampening,
              double weight_decay, double l1, bool nesterov, bool maximize, bool first) {
  T s = maximize ? T(-1) : T(1);
  if (momentum != 0 && buf) {
    T keep = first ? T(0) : T(momentum), add = first ? T(1) : T(1 - dampening);
    T cg = nesterov ? T(1) : T(0), cb = nesterov ? T(momentum) : T(1);
    sgd_impl<T, true>(p, buf, g, n, T(lr), T(momentum), keep, add, cg, cb, T(weight_decay), T(l1),
                      s);
  } else {
    sgd_impl<T, false>(p, buf, g, n, T(lr), T(0), T(0), T(0), T(0), T(0), T(weight_decay), T(l1),
                       s);
  }
}

// ------------------------------------------------------------------------------------ Adam
template <typename T, bool AMS>
PYDLK_SIMD static void adam_impl(T* __restrict p, T* __restrict m, T* __restrict v,
                                 T* __restrict vmax, const T* __restrict g, index_t n, T shrink,
                                 T wd, T l1, T s, T omb1, T b2, T omb2, T step_size, T inv_bc2s,
                                 T eps) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    T pi = p[i] * shrink;  // AdamW's decoupled decay (shrink = 1 for Adam)
    T gi = s * g[i] + wd * pi + l1 * sgn(pi);
    T mi = m[i] + omb1 * (gi - m[i]);
    T vi = b2 * v[i] + omb2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    if (AMS) {
      T vm = vmax[i];
      vi = vm > vi ? vm : vi;  // max(vmax, v), written so that it vectorises
      vmax[i] = vi;
    }
    T denom = std::sqrt(vi) * inv_bc2s + eps;
    p[i] = pi - step_size * (mi / denom);
  }
}

template <typename T>
void adam_step(T* p, T* m, T* v, T* vmax, const T* g, index_t n, double lr, double beta1,
               double beta2, double eps, double weight_decay, double l1, double bias_correction1,
               double bias_correction2, bool decoupled, bool maximize) {
  T shrink = decoupled ? T(1 - lr * weight_decay) : T(1);
  T wd = decoupled ? T(0) : T(weight_decay);
  T s = maximize ? T(-1) : T(1);
  T step_size = T(lr / bias_correction1);
  T inv_bc2s = T(1.0 / std::sqrt(bias_correction2));
  if (vmax)
    adam_impl<T, true>(p, m, v, vmax, g, n, shrink, wd, T(l1), s, T(1 - beta1), T(beta2),
                       T(1 - beta2), step_size, inv_bc2s, T(eps));
  else
    adam_impl<T, false>(p, m, v, vmax, g, n, shrink, wd, T(l1), s, T(1 - beta1), T(beta2),
                        T(1 - beta2), step_size, inv_bc2s, T(eps));
}

// --------------------------------------------------------------------------------- RMSprop
template <typename T, bool CENTERED, bool MOM>
PYDLK_SIMD static void rmsprop_impl(T* __restrict p, T* __restrict sq, T* __restrict ga,
                                    T* __restrict buf, const T* __restrict g, index_t n, T lr,
                                    T alpha, T oma, T eps, T wd, T l1, T mom, T s) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    T pi = p[i];
    T gi = s * g[i] + wd * pi + l1 * sgn(pi);
    T si = alpha * sq[i] + oma * (gi * gi);
    sq[i] = si;
    if (CENTERED) {
      T a = ga[i] + oma * (gi - ga[i]);
      ga[i] = a;
      si = si - a * a;
    }
    T avg = std::sqrt(si) + eps;
    if (MOM) {
      T b = mom * buf[i] + gi / avg;
      buf[i] = b;
      p[i] = pi - lr * b;
    } else {
      p[i] = pi - lr * (gi / avg);
    }
  }
}

template <typename T>
void rmsprop_step(T* p, T* sq, T* ga, T* buf, const T* g, index_t n, double lr, double alpha,
                  double eps, double weight_decay, double l1, double momentum, bool maximize) {
  T s = maximize ? T(-1) : T(1);
  bool c = ga != nullptr, mo = momentum > 0 && buf != nullptr;
  auto run = [&](auto impl) PYDLK_LAMBDA_INLINE {
    impl(p, sq, ga, buf, g, n, T(lr), T(alpha), T(1 - alpha), T(eps), T(weight_decay), T(l1),
         T(momentum), s);
  };
  if (c && mo) run(rmsprop_impl<T, true, true>);
  else if (c) run(rmsprop_impl<T, true, false>);
  else if (mo) run(rmsprop_impl<T, false, true>);
  else run(rmsprop_impl<T, false, false>);
}

// --------------------------------------------------------------------------------- Adagrad
template <typename T>
PYDLK_SIMD static void adagrad_impl(T* __restrict p, T* __restrict sum, const T* __restrict g,
                                    index_t n, T clr, T eps, T wd, T l1, T s) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    T pi = p[i];
    T gi = s * g[i] + wd * pi + l1 * sgn(pi);
    T si = sum[i] + gi * gi;
    sum[i] = si;
    p[i] = pi - clr * (gi / (std::sqrt(si) + eps));
  }
}

template <typename T>
void adagrad_step(T* p, T* sum, const T* g, index_t n, double clr, double eps, double weight_decay,
                  double l1, bool maximize) {
  adagrad_impl<T>(p, sum, g, n, T(clr), T(eps), T(weight_decay), T(l1), maximize ? T(-1) : T(1));
}

// ------------------------------------------------------------------------------- averaging
template <typename T>
PYDLK_SIMD static void average_impl(T* __restrict avg, const T* __restrict x, index_t n, T w) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) avg[i] = avg[i] + w * (x[i] - avg[i]);
}

template <typename T>
void average_update(T* avg, const T* x, index_t n, double w) {
  average_impl<T>(avg, x, n, T(w));
}

// ------------------------------------------------------------------------------ reductions
// Per-thread partials (OpenMP reduction clause) in double; the thread count changes only the
// order of the final additions.
template <typename T>
PYDLK_SIMD static double sum_sq(const T* __restrict x, index_t n) {
  double acc = 0;
#pragma omp parallel for simd schedule(static) \
    reduction(+ : acc) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) acc += double(x[i]) * double(x[i]);
  return acc;
}

template <typename T>
PYDLK_SIMD static double sum_abs(const T* __restrict x, index_t n) {
  double acc = 0;
#pragma omp parallel for simd schedule(static) \
    reduction(+ : acc) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) acc += std::fabs(double(x[i]));
  return acc;
}

template <typename T>
double norm_reduce(const T* x, index_t n, double p) {
  if (p == 2) return sum_sq(x, n);
  if (p == 1) return sum_abs(x, n);
  double acc;
  if (std::isinf(p) && p > 0) {
    acc = 0;
#pragma omp parallel for reduction(max : acc) if (parallel_worth_it(n))
    for (index_t i = 0; i < n; ++i) acc = std::max(acc, std::fabs(double(x[i])));
  } else if (std::isinf(p)) {
    acc = INFINITY;
#pragma omp parallel for reduction(min : acc) if (parallel_worth_it(n))
    for (index_t i = 0; i < n; ++i) acc = std::min(acc, std::fabs(double(x[i])));
  } else if (p == 0) {
    acc = 0;
#pragma omp parallel for reduction(+ : acc) if (parallel_worth_it(n))
    for (index_t i = 0; i < n; ++i) acc += x[i] != T(0) ? 1.0 : 0.0;
  } else {
    acc = 0;
#pragma omp parallel for reduction(+ : acc) if (parallel_worth_it(n))
    for (index_t i = 0; i < n; ++i) acc += std::pow(std::fabs(double(x[i])), p);
  }
  return acc;
}

template <typename T>
PYDLK_SIMD static void scale_impl(T* __restrict x, index_t n, T c) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) x[i] *= c;
}

template <typename T>
void scale_inplace(T* x, index_t n, double c) {
  scale_impl<T>(x, n, T(c));
}

template <typename T>
PYDLK_SIMD void add_inplace(T* __restrict x, const T* __restrict y, index_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) x[i] += y[i];
}

#define PYDLK_INST(T)                                                                              \
  template void sgd_step<T>(T*, T*, const T*, index_t, double, double, double, double, double,     \
                            bool, bool, bool);                                                     \
  template void adam_step<T>(T*, T*, T*, T*, const T*, index_t, double, double, double, double,    \
                             double, double, double, double, bool, bool);                          \
  template void rmsprop_step<T>(T*, T*, T*, T*, const T*, index_t, double, double, double, double, \
                                double, double, bool);                                             \
  template void adagrad_step<T>(T*, T*, const T*, index_t, double, double, double, double, bool);  \
  template void average_update<T>(T*, const T*, index_t, double);                                  \
  template double norm_reduce<T>(const T*, index_t, double);                                       \
  template void scale_inplace<T>(T*, index_t, double);                                             \
  template void add_inplace<T>(T*, const T*, index_t);
PYDLK_INST(float)
PYDLK_INST(double)
#undef PYDLK_INST

}  // namespace pydlk
