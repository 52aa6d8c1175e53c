// Elementwise special functions: erf, erfc, erfinv, lgamma, digamma, trigamma (special.cpp) and
// torch.special's Cephes functions i0, i0e, i1, i1e, erfcx, ndtri, log_ndtr, entr
// (special_cephes.cpp). float64 inputs use the C library's double erf/erfc/lgamma_r and Cephes'
// algorithms in double; float32 inputs vectorised loops (vmath.h), within a few ulp of the
// float64 result.
#pragma once
#include "common.h"

namespace pydlk {

enum class Special {
  erf,
  erfc,
  erfinv,
  lgamma,
  digamma,
  trigamma,
  i0,
  i0e,
  i1,
  i1e,
  erfcx,
  ndtri,
  log_ndtr,
  entr
};

// y[i] = f(x[i]) for i < n; y may be x (in place).
template <typename T>
void special_function(T* y, const T* x, index_t n, Special f);

// The Cephes functions (i0 ... entr) of the kernel above, in special_cephes.cpp.
void cephes_function(float* y, const float* x, index_t n, Special f);
void cephes_function(double* y, const double* x, index_t n, Special f);

// The scalar functions (double), for tests of the binding and for the kernels above.
// erfinv with `steps` Newton steps after the float32-accurate start (1 for float32, 2 for
// double; more in the far tail).
double erfinv_d(double x, int steps);
double digamma_d(double x);
double trigamma_d(double x);

}  // namespace pydlk
