"""Elementwise special functions on the GPU, the counterpart of csrc/special.cpp and
csrc/special_cephes.cpp: computed in double for either dtype (the CPU's float32 path uses float
functions: within a few ulp). erf, erfc, lgamma and erfinv are CUDA's own; digamma and trigamma
use the CPU's series (recurrence to 10, asymptotic series, reflection below 1/2); i0, i0e, i1,
i1e, erfcx, ndtri, log_ndtr and entr are Cephes' algorithms as the CPU's float64 loops, their
tables written into the source from ``pydlk/ops/_cephes_tables.py``."""

import numpy as np

from ..ops import _cephes_tables as _T
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

"""

_KERNEL = r"""
// f: the index of the function in FUNCTIONS below.
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
      case 5: r = trigamma_d(v); break;
      case 6: r = exp(fabs(v)) * i0e_d(v); break;  // NaN at +-inf (inf * 0), as torch
      case 7: r = i0e_d(v); break;
      case 8: r = exp(fabs(v)) * i1e_d(v); break;
      case 9: r = i1e_d(v); break;
      case 10: r = erfcx_d(v); break;
      case 11: r = ndtri_d(v); break;
      case 12: r = log_ndtr_d(v); break;
      default: r = entr_d(v); break;
    }
    y[i] = (T)r;
  }
}
"""


def _chbevl(name: str, coef: tuple) -> str:
    """A device function summing Cephes' Chebyshev series ``coef`` (Clenshaw), unrolled."""
    steps = "".join(f"  b2 = b1; b1 = b0; b0 = x * b1 - b2 + {c!r};\n" for c in coef[1:])
    return (
        f"__device__ double {name}(double x) {{\n  double b0 = {coef[0]!r}, b1 = 0, b2 = 0;\n"
        f"{steps}  return 0.5 * (b0 - b2);\n}}\n"
    )


def _polevl(name: str, coef: tuple) -> str:
    """A device function evaluating the polynomial ``coef`` (highest order first), Horner."""
    body = repr(coef[0])
    for c in coef[1:]:
        body = f"({body}) * x + {c!r}"
    return f"__device__ double {name}(double x) {{ return {body}; }}\n"


# Cephes' i0e, i1e, ndtri, erfcx (a continued fraction from 4) and torch's log_ndtr and entr,
# as csrc/special_cephes.cpp's float64 functions.
_CEPHES = (
    _chbevl("i0e_a", _T.I0E_A)
    + _chbevl("i0e_b", _T.I0E_B)
    + _chbevl("i1e_a", _T.I1E_A)
    + _chbevl("i1e_b", _T.I1E_B)
    + "".join(
        _polevl(f"ndtri_{k.lower()}", getattr(_T, f"NDTRI_{k}"))
        for k in ("P0", "Q0", "P1", "Q1", "P2", "Q2")
    )
    + r"""
__device__ double i0e_d(double x) {
  const double a = fabs(x);  // NaN: the second branch, NaN; inf: 0
  return a <= 8.0 ? i0e_a(0.5 * a - 2.0) : i0e_b(32.0 / a - 2.0) / sqrt(a);
}

__device__ double i1e_d(double x) {
  const double a = fabs(x);
  const double r = a <= 8.0 ? i1e_a(0.5 * a - 2.0) * a : i1e_b(32.0 / a - 2.0) / sqrt(a);
  return x < 0 ? -r : r;
}

__device__ double erfcx_d(double x) {
  if (isnan(x)) return x;
  if (x < -26.7) return CUDART_INF;
  if (x < 4) {  // exp(x^2) from x^2 = hi + lo exactly
    const double hi = x * x, lo = fma(x, x, -hi);
    return exp(hi) * (1 + lo) * erfc(x);
  }
  double r = 0;
  for (int k = 20; k > 0; --k) r = (0.5 * k) / (x + r);
  return 0.56418958354775628695 / (x + r);
}

__device__ double ndtri_d(double y0) {
  if (!(y0 >= 0 && y0 <= 1)) return CUDART_NAN;
  if (y0 == 0) return -CUDART_INF;
  if (y0 == 1) return CUDART_INF;
  const double e2 = 0.13533528323661269189;  // exp(-2)
  const bool upper = y0 > 1.0 - e2;
  const double y = upper ? 1.0 - y0 : y0;
  if (y > e2) {
    const double m = y - 0.5, m2 = m * m;
    return (m + m * (m2 * ndtri_p0(m2) / ndtri_q0(m2))) * 2.50662827463100050242;
  }
  const double t = sqrt(-2.0 * log(y)), z = 1.0 / t;
  const double x1 = t < 8.0 ? z * ndtri_p1(z) / ndtri_q1(z) : z * ndtri_p2(z) / ndtri_q2(z);
  const double r = t - log(t) / t - x1;
  return upper ? r : -r;
}

__device__ double log_ndtr_d(double x) {
  const double t = x * 0.70710678118654752440;
  if (x < -1) return log(erfcx_d(-t) / 2) - t * t;
  return log1p(-erfc(t) / 2);
}

__device__ double entr_d(double x) {
  if (isnan(x)) return x;
  if (x > 0) return -x * log(x);
  return x == 0 ? 0.0 : -CUDART_INF;
}
"""
)

_SRC = Source(
    "special",
    "#define CUDART_INF (1.0 / 0.0)\n#define CUDART_NAN (0.0 / 0.0)\n"
    "#define CUDART_PI 3.14159265358979323846\n" + _CODE + _CEPHES + _KERNEL,
    ("special_k",),
)

FUNCTIONS = (
    "erf",
    "erfc",
    "erfinv",
    "lgamma",
    "digamma",
    "trigamma",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "erfcx",
    "ndtri",
    "log_ndtr",
    "entr",
)


def special_function(input, function, *, out=None):
    """``function(input)`` per element, computed in double: 'erf', 'erfc', 'erfinv', 'lgamma'
    (log|Gamma|), 'digamma', 'trigamma', and torch.special's 'i0', 'i0e', 'i1', 'i1e' (modified
    Bessel functions, e: times exp(-|x|)), 'erfcx', 'ndtri', 'log_ndtr', 'entr'. A new array of
    input's shape and dtype, or ``out`` (which may be ``input``)."""
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
