"""Elementwise special functions on the GPU, the counterpart of csrc/special.cpp: computed in
double for either dtype (the CPU's float32 path uses float functions: within a few ulp). erf, erfc, lgamma and erfinv are CUDA's own; digamma and trigamma use
the CPU's series (recurrence to 10, asymptotic series, reflection below 1/2)."""

import numpy as np

from ._common import Source, check_float, i64, launch, out_or_new

_CODE = r"""
__device__ double digamma_d(double x) {
  if (isnan(x)) return x;
  if (x == 0) return -CUDART_INF;
  if (x < 0 && x == floor(x)) return CUDART_NAN;
  if (isinf(x)) return x > 0 ? x : CUDART_NAN;
  const bool small = x < 0.5;
  double y = small ? 1 - x : x, acc = 0;
  while (y < 10) { acc -= 1 / y; y += 1; }
  const double r = 1 / (y * y);
  const double series =
      r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r * (1.0 / 132 - r * (691.0 / 32760 - r / 12))))));
  double out = acc + log(y) - 0.5 / y - series;
  if (small) out -= CUDART_PI / tan(CUDART_PI * x);
  return out;
}

__device__ double trigamma_d(double x) {
  if (isnan(x)) return x;
  if (x <= 0 && x == floor(x)) return CUDART_INF;
  if (isinf(x) && x > 0) return 0;
  const bool small = x < 0.5;
  double y = small ? 1 - x : x, acc = 0;
  while (y < 10) { acc += 1 / (y * y); y += 1; }
  const double r = 1 / (y * y);
  double out = acc + (1 + 0.5 / y + r * (1.0 / 6 - r * (1.0 / 30 - r * (1.0 / 42 - r * (1.0 / 30 - r * (5.0 / 66 - r * (691.0 / 2730 - r * 7.0 / 6))))))) / y;
  if (small) {
    const double s = CUDART_PI / sin(CUDART_PI * x);
    out = s * s - out;
  }
  return out;
}

// f: 0 erf, 1 erfc, 2 erfinv, 3 lgamma, 4 digamma, 5 trigamma (the order of FUNCTIONS below).
extern "C" __global__ void special_k(T* y, const T* x, i64 n, int f) {
  GRID_STRIDE(i, n) {
    const double v = (double)x[i];
    double r;
    switch (f) {
      case 0: r = erf(v); break;
      case 1: r = erfc(v); break;
      case 2: r = erfinv(v); break;
      case 3: r = lgamma(v); break;
      case 4: r = digamma_d(v); break;
      default: r = trigamma_d(v); break;
    }
    y[i] = (T)r;
  }
}
"""

_SRC = Source(
    "special",
    "#define CUDART_INF (1.0 / 0.0)\n#define CUDART_NAN (0.0 / 0.0)\n"
    "#define CUDART_PI 3.14159265358979323846\n" + _CODE,
    ("special_k",),
)

FUNCTIONS = ("erf", "erfc", "erfinv", "lgamma", "digamma", "trigamma")


def special_function(input, function, *, out=None):
    """``function(input)`` per element, computed in double: 'erf', 'erfc', 'erfinv', 'lgamma'
    (log|Gamma|), 'digamma', 'trigamma'. A new array of input's shape and dtype, or ``out``
    (which may be ``input``)."""
    op = "special_function"
    if function not in FUNCTIONS:
        raise ValueError(
            f"{op}: function must be one of {', '.join(repr(f) for f in FUNCTIONS)}, "
            f"got {function!r}"
        )
    x = check_float(input, op, "input")
    y = out_or_new(out, x.shape, x.dtype, op)
    launch(
        _SRC("special_k", x.dtype), x.size, (y, x, i64(x.size), np.int32(FUNCTIONS.index(function)))
    )
    return y
