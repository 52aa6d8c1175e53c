// torch.special's Cephes functions (see special.h): i0, i0e, i1, i1e, erfcx, ndtri, log_ndtr,
// entr, after the Cephes Math Library (the Chebyshev series and rational approximations torch's
// ATen and SciPy use; pydlk/ops/_cephes.py is the same in NumPy/CuPy arrays).
//
// float64: Cephes' algorithms in double, within a few ulp of Cephes/SciPy: i0e and i1e in a
// vectorised loop (their series need no libm call), the others one scalar call per element
// (libm's exp, log, erfc). float32: branch-free loops that GCC vectorises, mostly in
// double lanes (the Bessel functions' Chebyshev series, ndtri's rational functions, a double exp
// good to 1e-12; converting costs less than the digits float lanes would lose), with vmath.h's
// float log; both branches of every split are computed and one is selected. Within 2 ulp of the
// float64 result (tests/test_special_kernels.py).
// The float32 loops vectorise only with trapping math off (see activation.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cmath>
#include <limits>

#include "special.h"
#include "vmath.h"

namespace pydlk {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kSqrt2Pi = 2.50662827463100050242;
constexpr double kInvSqrtPi = 0.56418958354775628695;
constexpr double kSqrtHalf = 0.70710678118654752440;
constexpr double kExpMinus2 = 0.13533528323661269189;

// Cephes' tables (pydlk/ops/_cephes_tables.py), highest order first.
constexpr double kI0eA[30] = {
    -4.4153416464793395e-18, 3.3307945188222384e-17, -2.431279846547955e-16, 1.715391285555133e-15,
    -1.1685332877993451e-14, 7.676185498604936e-14,  -4.856446783111929e-13, 2.95505266312964e-12,
    -1.726826291441556e-11,  9.675809035373237e-11,  -5.189795601635263e-10, 2.6598237246823866e-09,
    -1.300025009986248e-08,  6.046995022541919e-08,  -2.670793853940612e-07, 1.1173875391201037e-06,
    -4.4167383584587505e-06, 1.6448448070728896e-05, -5.754195010082104e-05, 0.00018850288509584165,
    -0.0005763755745385824,  0.0016394756169413357,  -0.004324309995050576,  0.010546460394594998,
    -0.02373741480589947,    0.04930528423967071,    -0.09490109704804764,   0.17162090152220877,
    -0.3046826723431984,     0.6767952744094761,
};
constexpr double kI0eB[25] = {
    -7.233180487874754e-18,  -4.830504485944182e-18,  4.46562142029676e-17,
    3.461222867697461e-17,   -2.8276239805165836e-16, -3.425485619677219e-16,
    1.7725601330565263e-15,  3.8116806693526224e-15,  -9.554846698828307e-15,
    -4.150569347287222e-14,  1.54008621752141e-14,    3.8527783827421426e-13,
    7.180124451383666e-13,   -1.7941785315068062e-12, -1.3215811840447713e-11,
    -3.1499165279632416e-11, 1.1889147107846439e-11,  4.94060238822497e-10,
    3.3962320257083865e-09,  2.266668990498178e-08,   2.0489185894690638e-07,
    2.8913705208347567e-06,  6.889758346916825e-05,   0.0033691164782556943,
    0.8044904110141088,
};
constexpr double kI1eA[29] = {
    2.7779141127610464e-18,  -2.111421214358166e-17,  1.5536319577362005e-16,
    -1.1055969477353862e-15, 7.600684294735408e-15,   -5.042185504727912e-14,
    3.223793365945575e-13,   -1.9839743977649436e-12, 1.1736186298890901e-11,
    -6.663489723502027e-11,  3.625590281552117e-10,   -1.8872497517228294e-09,
    9.381537386495773e-09,   -4.445059128796328e-08,  2.0032947535521353e-07,
    -8.568720264695455e-07,  3.4702513081376785e-06,  -1.3273163656039436e-05,
    4.781565107550054e-05,   -0.00016176081582589674, 0.0005122859561685758,
    -0.0015135724506312532,  0.004156422944312888,    -0.010564084894626197,
    0.024726449030626516,    -0.05294598120809499,    0.1026436586898471,
    -0.17641651835783406,    0.25258718644363365,
};
constexpr double kI1eB[25] = {
    7.517296310842105e-18,   4.414348323071708e-18,   -4.6503053684893586e-17,
    -3.209525921993424e-17,  2.96262899764595e-16,    3.3082023109209285e-16,
    -1.8803547755107825e-15, -3.8144030724370075e-15, 1.0420276984128802e-14,
    4.272440016711951e-14,   -2.1015418427726643e-14, -4.0835511110921974e-13,
    -7.198551776245908e-13,  2.0356285441470896e-12,  1.4125807436613782e-11,
    3.2526035830154884e-11,  -1.8974958123505413e-11, -5.589743462196584e-10,
    -3.835380385964237e-09,  -2.6314688468895196e-08, -2.512236237870209e-07,
    -3.882564808877691e-06,  -0.00011058893876262371, -0.009761097491361469,
    0.7785762350182801,
};
constexpr double kNdtriP0[5] = {
    -59.96335010141079, 98.00107541859997,   -56.67628574690703,
    13.931260938727968, -1.2391658386738125,
};
constexpr double kNdtriQ0[9] = {
    1.0,
    1.9544885833814176,
    4.676279128988815,
    86.36024213908905,
    -225.46268785411937,
    200.26021238006066,
    -82.03722561683334,
    15.90562251262117,
    -1.1833162112133,
};
constexpr double kNdtriP1[9] = {
    4.0554489230596245,  31.525109459989388,   57.16281922464213,
    44.08050738932008,   14.684956192885803,   2.1866330685079025,
    -0.1402560791713545, -0.03504246268278482, -0.0008574567851546854,
};
constexpr double kNdtriQ1[9] = {
    1.0,
    15.779988325646675,
    45.39076351288792,
    41.3172038254672,
    15.04253856929075,
    2.504649462083094,
    -0.14218292285478779,
    -0.03808064076915783,
    -0.0009332594808954574,
};
constexpr double kNdtriP2[9] = {
    3.2377489177694603,     6.915228890689842,      3.9388102529247444,
    1.3330346081580755,     0.20148538954917908,    0.012371663481782003,
    0.00030158155350823543, 2.6580697468673755e-06, 6.239745391849833e-09,
};
constexpr double kNdtriQ2[9] = {
    1.0,
    6.02427039364742,
    3.6798356385616087,
    1.3770209948908132,
    0.21623699359449663,
    0.013420400608854318,
    0.00032801446468212774,
    2.8924786474538068e-06,
    6.790194080099813e-09,
};

// Cephes' chbevl: sum' c_i T_i(x / 2) by Clenshaw's recurrence, over c[SKIP..N) (float32
// callers skip the leading terms, which fall below float precision).
template <int SKIP, int N>
PYDLK_INLINE double chbevl(double x, const double (&c)[N]) {
  double b0 = c[SKIP], b1 = 0, b2 = 0;
#pragma GCC unroll 32
  for (int i = SKIP + 1; i < N; ++i) {
    b2 = b1;
    b1 = b0;
    b0 = x * b1 - b2 + c[i];
  }
  return 0.5 * (b0 - b2);
}

// c[0] x^(N-1) + ... + c[N-1] (Horner).
template <int N>
PYDLK_INLINE double polevl(double x, const double (&c)[N]) {
  double r = c[0];
#pragma GCC unroll 16
  for (int i = 1; i < N; ++i) r = r * x + c[i];
  return r;
}

// exp(-a) I0(a) and exp(-a) I1(a) for a = |x| >= 0, branch-free: the series in a/2 - 2 on
// [0, 8] and in 32/a - 2 beyond, over sqrt(a). A NaN takes the second branch (a < 8 is false
// for it) and stays NaN; a = inf gives 0 there. FLOAT (the float32 loops) skips the leading
// terms, which fall below float precision (they sum to below 1.2e-10, 1e-8 of the smallest
// value on each piece): the two series are most of the loop's time.
template <bool FLOAT>
PYDLK_INLINE double i0e_abs(double a) {
  const double b = a < 8.0 ? 8.0 : a;
  const double big = chbevl<FLOAT ? 17 : 0>(32.0 / b - 2.0, kI0eB) / std::sqrt(b);
  return a <= 8.0 ? chbevl<FLOAT ? 10 : 0>(0.5 * a - 2.0, kI0eA) : big;
}
template <bool FLOAT>
PYDLK_INLINE double i1e_abs(double a) {
  const double b = a < 8.0 ? 8.0 : a;
  const double big = chbevl<FLOAT ? 17 : 0>(32.0 / b - 2.0, kI1eB) / std::sqrt(b);
  return a <= 8.0 ? chbevl<FLOAT ? 10 : 0>(0.5 * a - 2.0, kI1eA) * a : big;
}

// ---------------------------------------------------------------------------------- float64

double i0e_d(double x) { return i0e_abs<false>(std::fabs(x)); }
double i1e_d(double x) {
  const double r = i1e_abs<false>(std::fabs(x));
  return x < 0 ? -r : r;
}
// I0 = exp(|x|) i0e: inf beyond 713.99 (exp overflows first), NaN at +-inf (inf * 0) as torch.
double i0_d(double x) { return std::exp(std::fabs(x)) * i0e_d(x); }
double i1_d(double x) { return std::exp(std::fabs(x)) * i1e_d(x); }

// exp(x^2) erfc(x). Below 4: exp(x^2) with x^2 = hi + lo exactly (fma), as exp(hi) (1 + lo),
// times the C library's erfc (within 4 ulp; x^2 rounded would cost up to 16 ulp at 4, 700 at
// -26). From 4: the continued fraction 1/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
// 20 terms (within 1 ulp there; 10 suffice from 8). Below -26.64 exp(x^2) overflows: inf.
double erfcx_d(double x) {
  if (std::isnan(x)) return x;
  if (x < -26.7) return kInf;
  if (x < 4) {
    const double hi = x * x, lo = std::fma(x, x, -hi);
    return std::exp(hi) * (1 + lo) * std::erfc(x);
  }
  double r = 0;
  for (int k = 20; k > 0; --k) r = (0.5 * k) / (x + r);
  return kInvSqrtPi / (x + r);
}

// Cephes' ndtri: a rational function of y - 1/2 for |y - 1/2| <= 3/8 (well, 1/2 - exp(-2)),
// and in the tails x = t - log(t)/t - R(1/t), t = sqrt(-2 log y) (two fits, t < 8 and beyond).
double ndtri_d(double y0) {
  if (!(y0 >= 0 && y0 <= 1)) return kNaN;  // and NaN
  if (y0 == 0) return -kInf;
  if (y0 == 1) return kInf;
  const bool upper = y0 > 1.0 - kExpMinus2;
  const double y = upper ? 1.0 - y0 : y0;
  if (y > kExpMinus2) {
    const double m = y - 0.5, m2 = m * m;
    return (m + m * (m2 * polevl(m2, kNdtriP0) / polevl(m2, kNdtriQ0))) * kSqrt2Pi;
  }
  const double t = std::sqrt(-2.0 * std::log(y)), z = 1.0 / t;
  const double x1 = t < 8.0 ? z * polevl(z, kNdtriP1) / polevl(z, kNdtriQ1)
                            : z * polevl(z, kNdtriP2) / polevl(z, kNdtriQ2);
  const double r = t - std::log(t) / t - x1;
  return upper ? r : -r;
}

// log(ndtr(x)): log(erfcx(-x/sqrt 2)/2) - x^2/2 below -1, log1p(-erfc(x/sqrt 2)/2) above
// (SciPy's split, as torch); -inf at -inf, -0 at inf.
double log_ndtr_d(double x) {
  const double t = x * kSqrtHalf;
  if (x < -1) return std::log(erfcx_d(-t) / 2) - t * t;
  return std::log1p(-std::erfc(t) / 2);
}

// -x log x: 0 at 0, -inf below 0 and at inf.
double entr_d(double x) {
  if (std::isnan(x)) return x;
  if (x > 0) return -x * std::log(x);
  return x == 0 ? 0.0 : -kInf;
}

// y[i] = F(x[i]): libm calls of 10-100 ns each, worth threads from a few thousand elements.
template <double (*F)(double)>
void apply_d(double* y, const double* x, index_t n) {
#pragma omp parallel for schedule(static) if (n >= 4096)
  for (index_t i = 0; i < n; ++i) y[i] = F(x[i]);
}

// ---------------------------------------------------------------------------------- float32

constexpr float kFloatInf = std::numeric_limits<float>::infinity();

// log(x) for finite x > 0, subnormals too (scaled by 2^24 first); other x give garbage.
PYDLK_INLINE float vlog_pos(float x) {
  const bool sub = x < 1.17549435e-38f;
  const float l = vlog_normal(sub ? x * 16777216.f : x);
  return sub ? l - 16.6355323334f : l;  // 24 log 2
}

// exp(a) in double lanes for the float32 loops, relative error below 1e-12 (float32 needs 6e-8;
// vexp's float polynomial alone costs about an ulp): a = k log 2 + r, |r| <= log(2)/2 (log 2 in
// two parts), e^r by its Taylor series to r^10 (the rest is below 3e-13), 2^k in the exponent
// bits. a is clamped to [-700, 700] (NaN stays NaN): callers keep their arguments inside or
// only need the overflow to float's inf.
PYDLK_INLINE double vexp_fd(double a) {
  a = a < -700.0 ? -700.0 : a;
  a = a > 700.0 ? 700.0 : a;
  const double magic = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  const double kd = a * 1.4426950408889634 + magic;
  const double k = kd - magic;
  const double r = (a - k * 0.693147180369123816490) - k * 1.90821492927058770002e-10;
  double p = 1.0 / 3628800;
  p = p * r + 1.0 / 362880;
  p = p * r + 1.0 / 40320;
  p = p * r + 1.0 / 5040;
  p = p * r + 1.0 / 720;
  p = p * r + 1.0 / 120;
  p = p * r + 1.0 / 24;
  p = p * r + 1.0 / 6;
  p = p * r + 0.5;
  p = p * (r * r) + r + 1.0;
  uint64_t kb, mb;
  std::memcpy(&kb, &kd, 8);
  std::memcpy(&mb, &magic, 8);
  const uint64_t bits = (kb - mb + 1023u) << 52;  // 2^k, k + 1023 in [13, 2033]
  double s;
  std::memcpy(&s, &bits, 8);
  return p * s;
}

// log(erfcx(z) / t), t = 1 / (1 + z/2), z >= 0 (so erfc(z) = t exp(p(t) - z^2)): a degree-13
// polynomial in t, fitted on [0, 1] (Chebyshev least squares to 40-digit values; error below
// 1.2e-9; Numerical Recipes' degree-9 erfcc, erfcc_log_poly in vmath.h, has 1.2e-7, 2 ulp).
PYDLK_INLINE double erfcx_log_poly(double t) {
  double p = 0.16976338927543239;
  p = p * t - 1.0486923525080838;
  p = p * t + 2.665078027010957;
  p = p * t - 3.456431001272902;
  p = p * t + 2.2269427387720215;
  p = p * t - 0.5341717523142857;
  p = p * t + 0.07736037353744084;
  p = p * t - 0.047936888091785264;
  p = p * t - 0.16176209213151058;
  p = p * t - 0.08267825733429804;
  p = p * t + 0.08302611543879038;
  p = p * t + 0.3750140666105644;
  p = p * t + 0.9999997569406699;
  return p * t - 1.2655121228073583;
}

// KIND 0: i0e, 1: i1e, 2: i0, 3: i1 (float only: double's I0 and I1 need libm's exp).
template <typename T, int KIND>
PYDLK_SIMD void bessel_loop(T* __restrict y, const T* __restrict x, index_t n) {
  constexpr bool FLOAT = sizeof(T) == sizeof(float);
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    const T v = x[i];
    const double a = std::fabs(double(v));
    double r = KIND % 2 == 0 ? i0e_abs<FLOAT>(a) : i1e_abs<FLOAT>(a);
    // I0, I1 = exp(|x|) times the scaled ones, in double: finite up to 91.9, past float's exp
    // (88.7); NaN at +-inf (inf * 0), as torch.
    if constexpr (KIND >= 2) r = a < kInf ? vexp_fd(a) * r : kNaN;
    const T f = T(r);
    y[i] = KIND % 2 == 1 && v < 0 ? -f : f;
  }
}

// erfcx in double lanes: t exp(p(t)) for x >= 0; 2 exp(x^2) - erfcx(-x) below (x^2 is exact in
// double for a float x; inf below -9.38, where it overflows float).
PYDLK_SIMD void erfcx_float(float* __restrict y, const float* __restrict x, index_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double t = 1.0 / (1.0 + 0.5 * std::fabs(v));  // 0 at +-inf
    const double c = t * vexp_fd(erfcx_log_poly(t));
    y[i] = float(v < 0 ? 2.0 * vexp_fd(v * v) - c : c);
  }
}

// log_ndtr in double lanes, z = |x| / sqrt 2, t = 1 / (1 + z/2), so that erfc(z) / 2 =
// t/2 exp(p(t) - x^2/2), x^2 exact in double:
//   x < 0:  log(t/2) + p(t) - x^2/2 = p(t) - log(2 + z) - x^2/2, log(s) for s = 2 + z as
//           log(float(s)) + (s - float(s)) / s (1 / s = t / 2); no exp, so no underflow in
//           the far tail, where -x^2/2 dominates (-inf at -inf).
//   x >= 0: log1p(-e), e = t/2 exp(p(t) - x^2/2) in (0, 1/2]: -e (1 + e/2 + e^2/3) below 1e-4,
//           else log(float(w)) + (w - float(w)) / float(w), w = 1 - e (-0 at inf).
PYDLK_SIMD void log_ndtr_float(float* __restrict y, const float* __restrict x, index_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    const float xf = x[i];
    const double v = xf, h = 0.5 * v * v;
    double z = std::fabs(v) * kSqrtHalf;
    z = z > 1e18 ? 1e18 : z;  // keeps s finite at -inf
    const double t = 1.0 / (1.0 + 0.5 * z), p = erfcx_log_poly(t);
    const double s = 2.0 + z;
    const float sf = float(s);
    const double neg = p - (double(vlog_normal(sf)) + (s - double(sf)) * (0.5 * t)) - h;
    const double e = 0.5 * t * vexp_fd(p - h);
    const double w = 1.0 - e;
    const float wf = float(w);
    const double big = double(vlog_normal(wf)) + (w - double(wf)) / double(wf);
    const double pos = e < 1e-4 ? -e * (1.0 + e * (0.5 + e * (1.0 / 3))) : big;
    const float r = float(v < 0 ? neg : pos);
    y[i] = xf != xf ? xf : r;
  }
}

// ndtri: Cephes' algorithm in double lanes, with float logs: y and 1 - y are exact in float
// (Sterbenz), and log's 1 ulp moves t, hence x, by about half an ulp. The middle and tail
// quotients share one division (only one of them is kept).
PYDLK_SIMD void ndtri_float(float* __restrict y, const float* __restrict x, index_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    const float v = x[i];
    const bool upper = v > float(1.0 - kExpMinus2);
    const float q = upper ? 1.f - v : v;  // exact
    const bool mid = q > float(kExpMinus2);
    const double m = double(q) - 0.5, m2 = m * m;
    // tail: t = sqrt(-2 log q) in (0, 14.5]; the middle's lanes keep it finite (q <= 0.87)
    const double t = std::sqrt(-2.0 * double(vlog_pos(q > 0 ? q : 1e-30f)));
    const double zt = 1.0 / t;
    const bool near = t < 8.0;
    const double num =
        mid ? m2 * polevl(m2, kNdtriP0) : zt * (near ? polevl(zt, kNdtriP1) : polevl(zt, kNdtriP2));
    const double den =
        mid ? polevl(m2, kNdtriQ0) : (near ? polevl(zt, kNdtriQ1) : polevl(zt, kNdtriQ2));
    const double quo = num / den;
    const double tail = t - double(vlog_normal(float(t))) * zt - quo;
    float r = float(mid ? (m + m * quo) * kSqrt2Pi : (upper ? tail : -tail));
    r = v == 0.f ? -kFloatInf : r;
    r = v == 1.f ? kFloatInf : r;
    y[i] = v >= 0.f && v <= 1.f ? r : NAN;  // and NaN
  }
}

// entr: -x log x, 0 at 0, -inf below 0 and at inf.
PYDLK_SIMD void entr_float(float* __restrict y, const float* __restrict x, index_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : parallel_worth_it(n))
  for (index_t i = 0; i < n; ++i) {
    const float v = x[i];
    float r = -v * vlog_pos(v);
    r = v == 0.f ? 0.f : r;
    r = v < 0.f || v == kFloatInf ? -kFloatInf : r;
    y[i] = v != v ? v : r;
  }
}
}  // namespace

void cephes_function(float* y, const float* x, index_t n, Special f) {
  switch (f) {
    case Special::i0e: return bessel_loop<float, 0>(y, x, n);
    case Special::i1e: return bessel_loop<float, 1>(y, x, n);
    case Special::i0: return bessel_loop<float, 2>(y, x, n);
    case Special::i1: return bessel_loop<float, 3>(y, x, n);
    case Special::erfcx: return erfcx_float(y, x, n);
    case Special::ndtri: return ndtri_float(y, x, n);
    case Special::log_ndtr: return log_ndtr_float(y, x, n);
    case Special::entr: return entr_float(y, x, n);
    default: break;
  }
}

void cephes_function(double* y, const double* x, index_t n, Special f) {
  switch (f) {
    case Special::i0e: return bessel_loop<double, 0>(y, x, n);  // vectorised: no libm call
    case Special::i1e: return bessel_loop<double, 1>(y, x, n);
    case Special::i0: return apply_d<i0_d>(y, x, n);
    case Special::i1: return apply_d<i1_d>(y, x, n);
    case Special::erfcx: return apply_d<erfcx_d>(y, x, n);
    case Special::ndtri: return apply_d<ndtri_d>(y, x, n);
    case Special::log_ndtr: return apply_d<log_ndtr_d>(y, x, n);
    case Special::entr: return apply_d<entr_d>(y, x, n);
    default: break;
  }
}

}  // namespace pydlk
