// Elementwise special functions: erf, erfc, erfinv, lgamma, digamma, trigamma. Computed in
// double for either dtype (float32 inputs are widened, their results rounded once), with the C
// library's erf/erfc/lgamma_r and the series below for the rest.
#pragma once
#include "common.h"

namespace pydlk {

enum class Special { erf, erfc, erfinv, lgamma, digamma, trigamma };

// y[i] = f(x[i]) for i < n; y may be x (in place).
template <typename T>
void special_function(T* y, const T* x, index_t n, Special f);

// The scalar functions (double), for tests of the binding and for the kernels above.
double erfinv_d(double x);
double digamma_d(double x);
double trigamma_d(double x);

}  // namespace pydlk
