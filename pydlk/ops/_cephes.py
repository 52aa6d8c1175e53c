"""Array-level special functions for ``pydlk.special``, after the Cephes Math Library (the
formulas torch's ATen uses): Chebyshev series and rational approximations evaluated on whole
arrays, the incomplete gamma's power series and continued fraction, the Hurwitz zeta's
Euler-Maclaurin sum. Every function takes and returns float64 arrays of NumPy or CuPy (the
array's own module; loops are a fixed number of elementwise steps, or blocks of steps ended once
every element has converged), with torch's values at the edges of each domain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._backend import get_array_module
from .._typing import Array
from . import _cephes_tables as T
from .special import _special

_EPS = 1.11022302462515654042e-16  # Cephes MACHEP
_SQRT_2PI = 2.50662827463100050242
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_2_OVER_PI = 0.797884560802865355879892119868763737


def chbevl(x: Array, coef: Sequence[float]) -> Array:
    """Cephes' Chebyshev series sum ``sum' coef[i] T_i(x/2)`` (Clenshaw's recurrence)."""
    b0, b1, b2 = coef[0] + 0.0 * x, 0.0 * x, 0.0 * x
    for c in coef[1:]:
        b2, b1 = b1, b0
        b0 = x * b1 - b2 + c
    return 0.5 * (b0 - b2)


def polevl(x: Array, coef: Sequence[float]) -> Array:
    """The polynomial ``coef[0] x**n + ... + coef[n]`` (Horner)."""
    r = coef[0] + 0.0 * x
    for c in coef[1:]:
        r = r * x + c
    return r


def i0e(x: Array) -> Array:
    """``exp(-|x|) I0(x)``: Chebyshev series on [0, 8] and in ``32/x`` beyond."""
    xp = get_array_module(x)
    a = xp.abs(x)
    small = chbevl(a / 2 - 2, T.I0E_A)
    big_a = xp.maximum(a, 8.0)
    big = chbevl(32.0 / big_a - 2, T.I0E_B) / xp.sqrt(big_a)
    return xp.where(a <= 8.0, small, big)


def i1e(x: Array) -> Array:
    """``exp(-|x|) I1(x)`` (odd in x): Chebyshev series on [0, 8] and in ``32/x`` beyond."""
    xp = get_array_module(x)
    a = xp.abs(x)
    small = chbevl(a / 2 - 2, T.I1E_A) * a
    big_a = xp.maximum(a, 8.0)
    big = chbevl(32.0 / big_a - 2, T.I1E_B) / xp.sqrt(big_a)
    r = xp.where(a <= 8.0, small, big)
    return xp.where(x < 0, -r, r)


def i0(x: Array) -> Array:
    """The modified Bessel function ``I0(x) = exp(|x|) i0e(x)``."""
    xp = get_array_module(x)
    return xp.exp(xp.abs(x)) * i0e(x)


def i1(x: Array) -> Array:
    """The modified Bessel function ``I1(x) = exp(|x|) i1e(x)``."""
    xp = get_array_module(x)
    return xp.exp(xp.abs(x)) * i1e(x)


def ndtri(y: Array) -> Array:
    """The inverse of the standard normal distribution function (Cephes' three rational
    approximations): -inf at 0, inf at 1, NaN outside [0, 1]."""
    xp = get_array_module(y)
    e2 = 0.13533528323661269189  # exp(-2)
    upper = y > 1.0 - e2
    yy = xp.where(upper, 1.0 - y, y)
    # middle: |y - 1/2| <= 3/8
    m = yy - 0.5
    m2 = m * m
    mid = (m + m * (m2 * polevl(m2, T.NDTRI_P0) / polevl(m2, T.NDTRI_Q0))) * _SQRT_2PI
    # tails
    ys = xp.clip(yy, 1e-300, e2)
    t = xp.sqrt(-2.0 * xp.log(ys))
    z = 1.0 / t
    x1 = xp.where(
        t < 8.0,
        z * polevl(z, T.NDTRI_P1) / polevl(z, T.NDTRI_Q1),
        z * polevl(z, T.NDTRI_P2) / polevl(z, T.NDTRI_Q2),
    )
    tail = t - xp.log(t) / t - x1
    tail = xp.where(upper, tail, -tail)
    r = xp.where(yy > e2, mid, tail)
    r = xp.where(y == 0.0, -xp.inf, xp.where(y == 1.0, xp.inf, r))
    return xp.where((y < 0) | (y > 1) | xp.isnan(y), xp.nan, r)


def _erfcx_cf(x: Array, terms: int = 60) -> Array:
    """``exp(x**2) erfc(x)`` for x >= 4 by its continued fraction
    ``1/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))``, summed from the bottom."""
    r = 0.0 * x
    for k in range(terms, 0, -1):
        r = (k / 2) / (x + r)
    return 1.0 / math.sqrt(math.pi) / (x + r)


def erfcx(x: Array) -> Array:
    """The scaled complementary error function ``exp(x**2) erfc(x)``: the erfc kernel times
    ``exp(x**2)`` for |x| < 4, the continued fraction for x >= 4 (``1/(sqrt(pi) x)`` beyond
    1e8), ``2 exp(x**2) - erfcx(-x)`` below -4 (inf below -26.7)."""
    xp = get_array_module(x)
    a = xp.abs(x)
    near = xp.minimum(a, 4.0)
    direct = xp.exp(near * near) * _special(xp.where(x < 0, -near, near), "erfc")
    far = xp.clip(a, 4.0, 1e8)
    cf = xp.where(a > 1e8, 1.0 / (math.sqrt(math.pi) * a), _erfcx_cf(far))
    neg = 2.0 * xp.exp(xp.minimum(x * x, 1e3)) - cf
    r = xp.where(a < 4.0, direct, xp.where(x > 0, cf, neg))
    return xp.where(x < -26.7, xp.inf, xp.where(xp.isnan(x), x, r))


def log_ndtr(x: Array) -> Array:
    """``log(ndtr(x))``: ``log(erfcx(-x/sqrt 2)/2) - x**2/2`` below -1, ``log1p(-erfc(x/sqrt 2)/2)``
    above (SciPy's split, as torch)."""
    xp = get_array_module(x)
    t = x / math.sqrt(2.0)
    lo = xp.minimum(t, -1.0 / math.sqrt(2.0))
    low = xp.log(erfcx(-lo) / 2) - lo * lo
    high = xp.log1p(-_special(t, "erfc") / 2)
    return xp.where(x < -1.0, low, high)


_ZETA_A = (
    12.0,
    -720.0,
    30240.0,
    -1209600.0,
    47900160.0,
    -1.8924375803183791606e9,
    7.47242496e10,
    -2.950130727918164224e12,
    1.1646782814350067249e14,
    -4.5979787224074726105e15,
    1.8152105401943546773e17,
    -7.1661652561756670113e18,
)


def zeta(x: Array, q: Array) -> Array:
    """The Hurwitz zeta ``sum_k (q + k)**-x`` (Cephes: a direct sum until ``q + k > 9`` and at
    least 10 terms, then the Euler-Maclaurin tail); inf at x = 1 and at the poles q = 0, -1,
    ...; NaN for x < 1, and for q < 0 with a non-integer x."""
    xp = get_array_module(q)
    x, q = xp.broadcast_arrays(x, q)
    n = 10
    if q.size:
        qmin = xp.min(xp.where(xp.isfinite(q), q, 0.0))
        n = 10 + max(0, int(math.ceil(9.0 - float(qmin))))
    n = min(n, 100000)
    total = xp.zeros_like(q)
    for j in range(n):
        total = total + (q + j) ** -x
    a = q + (n - 1)
    b = a**-x
    total = total + a * b / (x - 1) - 0.5 * b
    fac, k = xp.ones_like(q), 0.0
    for c in _ZETA_A:
        fac = fac * (x + k)
        b = b / a
        total = total + fac * b / c
        k += 1.0
        fac = fac * (x + k)
        b = b / a
        k += 1.0
    r = xp.where(x == 1.0, xp.inf, total)
    r = xp.where(x < 1.0, xp.nan, r)
    neg = q <= 0
    r = xp.where(neg & (q == xp.floor(q)) & (x >= 1.0), xp.inf, r)
    return xp.where(neg & (q != xp.floor(q)) & (x != xp.floor(x)), xp.nan, r)


def _blocks(xp, active: Array, step, max_iter: int = 4000, block: int = 32) -> None:
    """Run ``step()`` in blocks of ``block`` until it returns no active element (or max_iter)."""
    it = 0
    while it < max_iter and bool(xp.any(active)):
        for _ in range(block):
            active = step()
        it += block


def _igam_parts(a: Array, x: Array) -> tuple[Array, Array]:
    """(P, Q) = the regularised lower and upper incomplete gamma of positive finite a, x:
    the power series where ``x <= max(1, a)`` and Q's continued fraction elsewhere (Cephes)."""
    xp = get_array_module(a)
    lg = _special(a, "lgamma")
    ax = xp.exp(a * xp.log(x) - x - lg)
    use_series = (x <= 1.0) | (x <= a)
    # series: P = ax/a * sum_n x^n / ((a+1)...(a+n))
    r, c, ans = a.copy(), xp.ones_like(a), xp.ones_like(a)
    state = {"r": r, "c": c, "ans": ans}

    def series_step():
        state["r"] = state["r"] + 1.0
        state["c"] = state["c"] * x / state["r"]
        state["ans"] = state["ans"] + state["c"]
        return use_series & (state["c"] > _EPS * state["ans"])

    _blocks(xp, use_series, series_step)
    p_series = state["ans"] * ax / a
    # continued fraction for Q
    xs = xp.where(use_series, a + 2.0, x)  # any x > a keeps the unused lanes finite
    y = 1.0 - a
    z = xs + y + 1.0
    cf = {
        "y": y,
        "z": z,
        "c": xp.zeros_like(a),
        "pkm2": xp.ones_like(a),
        "qkm2": xs.copy(),
        "pkm1": xs + 1.0,
        "qkm1": z * xs,
    }
    cf["ans"] = cf["pkm1"] / cf["qkm1"]
    big, biginv = 4.503599627370496e15, 2.22044604925031308085e-16

    def cf_step():
        s = cf
        s["c"] = s["c"] + 1.0
        s["y"] = s["y"] + 1.0
        s["z"] = s["z"] + 2.0
        yc = s["y"] * s["c"]
        pk = s["pkm1"] * s["z"] - s["pkm2"] * yc
        qk = s["qkm1"] * s["z"] - s["qkm2"] * yc
        nz = qk != 0
        rr = pk / xp.where(nz, qk, 1.0)
        t = xp.where(nz, xp.abs((s["ans"] - rr) / xp.where(rr == 0, 1.0, rr)), 1.0)
        s["ans"] = xp.where(nz, rr, s["ans"])
        s["pkm2"], s["pkm1"], s["qkm2"], s["qkm1"] = s["pkm1"], pk, s["qkm1"], qk
        scale = xp.where(xp.abs(pk) > big, biginv, 1.0)
        for key in ("pkm2", "pkm1", "qkm2", "qkm1"):
            s[key] = s[key] * scale
        return ~use_series & (t > _EPS)

    _blocks(xp, ~use_series, cf_step)
    q_cf = cf["ans"] * ax
    p = xp.where(use_series, p_series, 1.0 - q_cf)
    q = xp.where(use_series, 1.0 - p_series, q_cf)
    return p, q


def gammainc(a: Array, x: Array, upper: bool = False) -> Array:
    """The regularised lower incomplete gamma ``P(a, x)`` (``upper``: ``Q = 1 - P``), with
    torch's values at the edges: NaN for a < 0 or x < 0 or a = x = 0, P(0, x > 0) = 1,
    P(a, 0) = 0, P(a, inf) = 1, P(inf, x) = 0 (NaN when both are inf)."""
    xp = get_array_module(a)
    a, x = xp.broadcast_arrays(a, x)
    ok = (a > 0) & (x > 0) & xp.isfinite(a) & xp.isfinite(x)
    p, q = _igam_parts(xp.where(ok, a, 1.0), xp.where(ok, x, 1.0))
    r = q if upper else p
    lo, hi = (1.0, 0.0) if upper else (0.0, 1.0)  # the value at x -> 0 and at x -> inf
    r = xp.where(x == 0, lo, r)
    r = xp.where(xp.isinf(x), hi, r)
    r = xp.where(a == 0, hi, r)  # P(0, x) = 1 for x > 0
    r = xp.where(xp.isinf(a), lo, r)
    bad = (a < 0) | (x < 0) | ((a == 0) & (x == 0)) | (xp.isinf(a) & xp.isinf(x))
    return xp.where(bad | xp.isnan(a) | xp.isnan(x), xp.nan, r)


def _bessel_j(x: Array, one: bool) -> Array:
    xp = get_array_module(x)
    name = "BESSEL_J1" if one else "BESSEL_J0"
    tb = {k[len(name) + 1 :]: getattr(T, k) for k in dir(T) if k.startswith(name + "_")}
    a = xp.abs(x)
    x2 = a * a
    rp, rq = polevl(x2, tb["RP"]), polevl(x2, tb["RQ"])
    if one:
        small = rp / rq * a * (x2 - 1.46819706421238932572e01) * (x2 - 4.92184563216946036703e01)
    else:
        small = (x2 - 5.78318596294678452118e00) * (x2 - 3.04712623436620863991e01) * rp / rq
        small = xp.where(a < 1e-5, 1.0 - x2 / 4.0, small)
    return small, _bessel_asym(a, tb, 3 * math.pi / 4 if one else math.pi / 4, False)


def _bessel_asym(a: Array, tb: dict, shift: float, y: bool) -> Array:
    xp = get_array_module(a)
    b = xp.maximum(a, 5.0)
    w = 25.0 / (b * b)
    pp, pq = polevl(w, tb["PP"]), polevl(w, tb["PQ"])
    qp, qq = polevl(w, tb["QP"]), polevl(w, tb["QQ"])
    s, c = xp.sin(b - shift), xp.cos(b - shift)
    if y:
        r = pp / pq * s + 5.0 / b * (qp / qq) * c
    else:
        r = pp / pq * c - 5.0 / b * (qp / qq) * s
    return r * _SQRT_2_OVER_PI / xp.sqrt(b)


def bessel_j0(x: Array) -> Array:
    """The Bessel function of the first kind of order 0 (Cephes' j0)."""
    xp = get_array_module(x)
    small, big = _bessel_j(x, False)
    return xp.where(xp.abs(x) <= 5.0, small, big)


def bessel_j1(x: Array) -> Array:
    """The Bessel function of the first kind of order 1 (Cephes' j1, odd in x)."""
    xp = get_array_module(x)
    small, big = _bessel_j(x, True)
    r = xp.where(xp.abs(x) <= 5.0, small, big)
    return xp.where(x < 0, -r, r)


def _bessel_y(x: Array, one: bool) -> Array:
    xp = get_array_module(x)
    name = "BESSEL_Y1" if one else "BESSEL_Y0"
    tb = {k[len(name) + 1 :]: getattr(T, k) for k in dir(T) if k.startswith(name + "_")}
    s = xp.clip(x, 1e-300, 5.0)
    x2 = s * s
    yp, yq = polevl(x2, tb["YP"]), polevl(x2, tb["YQ"])
    if one:
        small = s * (yp / yq) + 2 / math.pi * (bessel_j1(s) * xp.log(s) - 1.0 / s)
    else:
        small = yp / yq + 2 / math.pi * xp.log(s) * bessel_j0(s)
    big = _bessel_asym(x, tb, 3 * math.pi / 4 if one else math.pi / 4, True)
    r = xp.where(x <= 5.0, small, big)
    r = xp.where(x == 0, -xp.inf, r)
    return xp.where(x < 0, xp.nan, r)


def bessel_y0(x: Array) -> Array:
    """The Bessel function of the second kind of order 0 (Cephes' y0; -inf at 0, NaN below)."""
    return _bessel_y(x, False)


def bessel_y1(x: Array) -> Array:
    """The Bessel function of the second kind of order 1 (Cephes' y1; -inf at 0, NaN below)."""
    return _bessel_y(x, True)


def _k(x: Array, one: bool, scaled: bool) -> Array:
    xp = get_array_module(x)
    ta = T.MODIFIED_BESSEL_K1_A if one else T.MODIFIED_BESSEL_K0_A
    tb = T.MODIFIED_BESSEL_K1_B if one else T.MODIFIED_BESSEL_K0_B
    s = xp.clip(x, 1e-300, 2.0)
    cheb = chbevl(s * s - 2.0, ta)
    if one:
        small = xp.log(0.5 * s) * i1(s) + cheb / s
    else:
        small = cheb - xp.log(0.5 * s) * i0(s)
    if scaled:
        small = small * xp.exp(s)
    b = xp.maximum(x, 2.0)
    big = chbevl(8.0 / b - 2.0, tb) / xp.sqrt(b)
    if not scaled:
        big = big * xp.exp(-b)
    r = xp.where(x <= 2.0, small, big)
    r = xp.where(x == 0, xp.inf, r)
    return xp.where(x < 0, xp.nan, r)


def modified_bessel_k0(x: Array) -> Array:
    """The modified Bessel function of the second kind of order 0 (inf at 0, NaN below)."""
    return _k(x, False, False)


def modified_bessel_k1(x: Array) -> Array:
    """The modified Bessel function of the second kind of order 1 (inf at 0, NaN below)."""
    return _k(x, True, False)


def scaled_modified_bessel_k0(x: Array) -> Array:
    """``exp(x) K0(x)``."""
    return _k(x, False, True)


def scaled_modified_bessel_k1(x: Array) -> Array:
    """``exp(x) K1(x)``."""
    return _k(x, True, True)


def spherical_bessel_j0(x: Array) -> Array:
    """``sin(x) / x`` (its Taylor series below 1/2; 0 at +-inf)."""
    xp = get_array_module(x)
    x2 = x * x
    series = polevl(
        x2,
        (1 / 6227020800.0, -1 / 39916800.0, 1 / 362880.0, -1 / 5040.0, 1 / 120.0, -1 / 6.0, 1.0),
    )
    safe = xp.where(xp.abs(x) < 0.5, 1.0, x)
    r = xp.where(xp.abs(x) < 0.5, series, xp.sin(safe) / safe)
    return xp.where(xp.isinf(x), 0.0, r)
