// Adamax, NAdam and RAdam steps over a flat arena (see optim.h): one elementwise pass each, as
// the Adam step in optim.cpp, with torch.optim's single-tensor formulas. The step-dependent
// coefficients (bias corrections, NAdam's momentum schedule, RAdam's rectification) are
// computed once per call in double by the binding and arrive here as scalars.
#include <cmath>

#include "optim.h"

namespace pydlk {

template <typename T>
static inline T sgn(T x) {
  return T(x > T(0)) - T(x < T(0));
}

// ------------------------------------------------------------------------------------ Adamax
template <typename T>
PYDLK_SIMD static void adamax_impl(T* __restrict p, T* __restrict m, T* __restrict u,
                                   const T* __restrict g, index_t n, T clr, T omb1, T b2, T eps,
                                   T wd, T l1, T s) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    T pi = p[i];
    T gi = s * g[i] + wd * pi + l1 * sgn(pi);
    T mi = m[i] + omb1 * (gi - m[i]);  // torch's exp_avg.lerp_(grad, 1 - beta1)
    T ui = b2 * u[i];
    T ai = std::fabs(gi) + eps;
    ui = ui > ai ? ui : ai;  // max(b2 u, |g'| + eps), written so that it vectorises
    m[i] = mi;
    u[i] = ui;
    p[i] = pi - clr * (mi / ui);
  }
}

template <typename T>
void adamax_step(T* p, T* m, T* u, const T* g, index_t n, double clr, double beta1, double beta2,
                 double eps, double weight_decay, double l1, bool maximize) {
  adamax_impl<T>(p, m, u, g, n, T(clr), T(1 - beta1), T(beta2), T(eps), T(weight_decay), T(l1),
                 maximize ? T(-1) : T(1));
}

// ------------------------------------------------------------------------------------- NAdam
// d = sqrt(v / bc2) + eps; p -= cg * g'/d; p -= cm * m/d: two roundings of p, as torch's two
// addcdiv_ calls.
template <typename T>
PYDLK_SIMD static void nadam_impl(T* __restrict p, T* __restrict m, T* __restrict v,
                                  const T* __restrict g, index_t n, T shrink, T cg, T cm, T omb1,
                                  T b2, T omb2, T bc2, T eps, T wd, T l1, T s) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    T pi = p[i] * shrink;  // decoupled weight decay (shrink = 1 otherwise)
    T gi = s * g[i] + wd * pi + l1 * sgn(pi);
    T mi = m[i] + omb1 * (gi - m[i]);
    T vi = b2 * v[i] + omb2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    T d = std::sqrt(vi / bc2) + eps;
    pi = pi - cg * (gi / d);
    p[i] = pi - cm * (mi / d);
  }
}

template <typename T>
void nadam_step(T* p, T* m, T* v, const T* g, index_t n, double shrink, double cg, double cm,
                double beta1, double beta2, double bias_correction2, double eps,
                double weight_decay, double l1, bool maximize) {
  nadam_impl<T>(p, m, v, g, n, T(shrink), T(cg), T(cm), T(1 - beta1), T(beta2), T(1 - beta2),
                T(bias_correction2), T(eps), T(weight_decay), T(l1), maximize ? T(-1) : T(1));
}

// ------------------------------------------------------------------------------------- RAdam
// ADAPTIVE (rho_t > 5): p -= step_size * m / (sqrt(v) + eps), step_size = lr rect sqrt(bc2)/bc1;
// else the plain momentum step p -= step_size * m, step_size = lr / bc1.
template <typename T, bool ADAPTIVE>
PYDLK_SIMD static void radam_impl(T* __restrict p, T* __restrict m, T* __restrict v,
                                  const T* __restrict g, index_t n, T shrink, T step_size, T omb1,
                                  T b2, T omb2, T eps, T wd, T l1, T s) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    T pi = p[i] * shrink;
    T gi = s * g[i] + wd * pi + l1 * sgn(pi);
    T mi = m[i] + omb1 * (gi - m[i]);
    T vi = b2 * v[i] + omb2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    if (ADAPTIVE) p[i] = pi - step_size * (mi / (std::sqrt(vi) + eps));
    else p[i] = pi - step_size * mi;
  }
}

template <typename T>
void radam_step(T* p, T* m, T* v, const T* g, index_t n, double shrink, double step_size,
                bool adaptive, double beta1, double beta2, double eps, double weight_decay,
                double l1, bool maximize) {
  auto run = [&](auto impl) PYDLK_LAMBDA_INLINE {
    impl(p, m, v, g, n, T(shrink), T(step_size), T(1 - beta1), T(beta2), T(1 - beta2), T(eps),
         T(weight_decay), T(l1), maximize ? T(-1) : T(1));
  };
  if (adaptive) run(radam_impl<T, true>);
  else run(radam_impl<T, false>);
}

#define PYDLK_INST(T)                                                                              \
  template void adamax_step<T>(T*, T*, T*, const T*, index_t, double, double, double, double,      \
                               double, double, bool);                                              \
  template void nadam_step<T>(T*, T*, T*, const T*, index_t, double, double, double, double,       \
                              double, double, double, double, double, bool);                       \
  template void radam_step<T>(T*, T*, T*, const T*, index_t, double, double, bool, double, double, \
                              double, double, double, bool);
PYDLK_INST(float)
PYDLK_INST(double)
#undef PYDLK_INST

}  // namespace pydlk
