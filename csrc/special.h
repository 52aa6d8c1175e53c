// Elementwise special functions: erf, erfc, erfinv, lgamma, digamma, trigamma. float64 inputs
// use the C library's double erf/erfc/lgamma_r; float32 inputs vectorised erf/erfc/erfinv
// (vmath.h) and lgammaf_r, within a few ulp; erfinv, digamma and trigamma are written in
// special.cpp.
#pragma once
#include "common.h"

namespace pydlk {

enum class Special { erf, erfc, erfinv, lgamma, digamma, trigamma };

// y[i] = f(x[i]) for i < n; y may be x (in place).
template <typename T>
void special_function(T* y, const T* x, index_t n, Special f);

// The scalar functions (double), for tests of the binding and for the kernels above.
// erfinv with `steps` Newton steps after the float32-accurate start (1 for float32, 2 for
// double; more in the far tail).
double erfinv_d(double x, int steps);
double digamma_d(double x);
double trigamma_d(double x);

}  // namespace pydlk
