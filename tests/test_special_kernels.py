"""torch.special's Cephes functions in ``_C.special_function`` (csrc/special_cephes.cpp): i0, i0e,
i1, i1e, erfcx, ndtri, log_ndtr, entr. The kernel in float32 and float64 against textbook
references written here (power series, exp(x^2) erfc(x), bisection on erf, -x log x) and against
torch 2.13 in float64, over arrays larger than the kernels' parallel grain; edge values as
torch's; out=, in place and thread counts; the ops of pydlk.special routed through the kernel,
their float64 gradients by finite differences; the GPU kernel against the CPU's."""

import math

import numpy as np
import pytest

import pydlk
from pydlk import _C
from pydlk.autograd import gradcheck

NAMES = ("i0", "i0e", "i1", "i1e", "erfcx", "ndtri", "log_ndtr", "entr")
BIG = 70_000  # above the kernels' parallel grain (32768 elements): the OpenMP loops run

# Where each function is tested against torch: (low, high) ranges sampled uniformly.
DOMAINS = {
    "i0": [(-91.0, 91.0), (-1.0, 1.0)],
    "i0e": [(-30.0, 30.0), (-1e4, 1e4), (-1e-3, 1e-3)],
    "i1": [(-91.0, 91.0), (-1.0, 1.0)],
    "i1e": [(-30.0, 30.0), (-1e4, 1e4), (-1e-3, 1e-3)],
    "erfcx": [(-9.3, 0.0), (0.0, 6.0), (6.0, 100.0), (100.0, 1e7)],
    "ndtri": [(0.0, 1.0), (0.49, 0.51), (1e-6, 0.2), (0.8, 1.0)],
    "log_ndtr": [(-30.0, 5.0), (-1.0, 1.0), (0.0, 13.0), (-1e4, -30.0)],
    "entr": [(0.0, 5.0), (0.0, 1e-30), (1.0, 1e30)],
}


def _ulps32(got, want):
    """|got - want| in units of float32's spacing at want (want finite)."""
    want = np.asarray(want, np.float64)
    spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / spacing


def _samples(name, rng):
    parts = [rng.uniform(lo, hi, BIG // len(DOMAINS[name])) for lo, hi in DOMAINS[name]]
    if name == "ndtri":  # the far lower tail, log-uniform down to float32's subnormals
        parts.append(np.exp(rng.uniform(math.log(1e-45), math.log(1e-20), 5000)))
    return np.concatenate(parts)


# ------------------------------------------------------------------ against torch, float64
@pytest.mark.parametrize("name", NAMES)
def test_float32_within_two_ulp_and_float64_within_a_few_of_torch(name, rng):
    torch = pytest.importorskip("torch")
    x32 = _samples(name, rng).astype(np.float32)
    want = getattr(torch.special, name)(torch.tensor(x32.astype(np.float64))).numpy()
    got32 = _C.special_function(x32, name)
    assert got32.dtype == np.float32 and got32.shape == x32.shape
    finite = np.isfinite(want) & (np.abs(want) < 3.4e38)
    assert finite.mean() > 0.99
    assert _ulps32(got32[finite], want[finite]).max() <= 2.0
    # float64: the same inputs (exact in float64); torch's Cephes/Faddeeva values to a few eps
    got64 = _C.special_function(x32.astype(np.float64), name)
    ok = np.isfinite(want)
    np.testing.assert_allclose(got64[ok], want[ok], rtol=8e-16, atol=0)
    np.testing.assert_array_equal(got64[~ok], want[~ok])


# ------------------------------------------------------------------ textbook references
def test_i0_i1_and_scaled_by_their_power_series(rng):
    # I0(x) = sum_k (x^2/4)^k / k!^2, I1(x) = x/2 sum_k (x^2/4)^k / (k! (k+1)!): positive terms,
    # summed in float64 to 1e-16 relative for |x| <= 20; inputs float32 values, so that the
    # same series is the reference of both dtypes
    x = np.concatenate([rng.uniform(-20, 20, BIG), [0.0, 1e-30, -2.5, 8.0, -8.0, 20.0]])
    x = x.astype(np.float32).astype(np.float64)
    q = x * x / 4
    term0, term1 = np.ones_like(x), np.ones_like(x)
    s0, s1 = term0.copy(), term1.copy()
    for k in range(1, 120):
        term0 = term0 * q / (k * k)
        term1 = term1 * q / (k * (k + 1))
        s0 += term0
        s1 += term1
    i0, i1 = s0, x / 2 * s1
    scale = np.exp(-np.abs(x))
    for name, want in (("i0", i0), ("i1", i1), ("i0e", scale * i0), ("i1e", scale * i1)):
        np.testing.assert_allclose(_C.special_function(x, name), want, rtol=2e-15, atol=1e-300)
        got32 = _C.special_function(x.astype(np.float32), name)
        assert _ulps32(got32, want).max() <= 2.0
    # beyond float's exp (88.7) I0 and I1 stay finite up to 91.9 (as torch's float64, rounded)
    got = _C.special_function(np.float32([89.0, 91.0, -91.0, 92.0]), "i1")
    assert np.isfinite(got[:3]).all() and got[2] == -got[1] and got[3] == np.inf


def test_erfcx_is_exp_x2_erfc_and_its_asymptotic_series(rng):
    # moderate x: exp(x^2) erfc(x) with Python's math (x^2 rounded costs up to ~x^2 eps)
    x = np.concatenate([rng.uniform(-5, 5, BIG), [0.0, -0.0, 1e-300, -1e-300]])
    want = np.array([math.exp(v * v) * math.erfc(v) for v in x])
    np.testing.assert_allclose(_C.special_function(x, "erfcx"), want, rtol=3e-14)
    x32 = x.astype(np.float32)
    want32 = np.array([math.exp(v * v) * math.erfc(v) for v in x32.astype(np.float64)])
    assert _ulps32(_C.special_function(x32, "erfcx"), want32).max() <= 2.0
    # large x: 1/(x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6)), the rest below 7/x^8
    xl = np.concatenate([rng.uniform(1e3, 1e6, 1000), [1e10, 1e20, 1e300]])
    u = (1 / xl) ** 2
    series = (1 - u / 2 + 3 * u * u / 4 - 15 * u**3 / 8) / (xl * math.sqrt(math.pi))
    np.testing.assert_allclose(_C.special_function(xl, "erfcx"), series, rtol=1e-15)
    xl32 = xl[:-1].astype(np.float32)  # 1e300 is inf in float32
    ul = 1 / xl32.astype(np.float64) ** 2
    want_l32 = (1 - ul / 2) / (xl32.astype(np.float64) * math.sqrt(math.pi))
    assert _ulps32(_C.special_function(xl32, "erfcx"), want_l32).max() <= 2.0
    # below -8: 2 exp(x^2) - erfcx(-x), erfcx(-x) < 0.07 against 2 exp(64): at x = -k/8, x^2 is
    # exact, so exp(x^2) is the reference within an ulp
    xn = -np.arange(64, 213) / 8
    np.testing.assert_allclose(
        _C.special_function(xn, "erfcx"), [2 * math.exp(v * v) for v in xn], rtol=4.5e-16
    )
    # below -26.64 (float64) and -9.38 (float32) exp(x^2) overflows: inf, as torch
    assert _C.special_function(np.array([-26.7, -1e300, -np.inf]), "erfcx").tolist() == [np.inf] * 3
    got = _C.special_function(np.float32([-9.4, -1e20, -np.inf, np.inf, np.nan]), "erfcx")
    assert got[:3].tolist() == [np.inf] * 3 and got[3] == 0 and np.isnan(got[4])


def _ndtr(x):
    """The normal distribution function, its tails by erfc (relative accuracy there). x/sqrt(2)
    as x * sqrt(1/2), as the kernel and torch: in the upper tail erfc(z) moves 2z^2 eps with
    z's last bit."""
    return 0.5 * math.erfc(-x * math.sqrt(0.5))


def test_ndtri_inverts_the_normal_distribution_by_bisection():
    ps = [1e-300, 1e-100, 1e-20, 1e-8, 0.001, 0.025, 0.1, 0.135, 0.3, 0.5, 0.7, 0.9, 0.975]
    for p in ps:
        lo, hi = -40.0, 40.0
        for _ in range(200):  # bisection to adjacent doubles on ndtr(x) = p
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            lo, hi = (mid, hi) if _ndtr(mid) < p else (lo, mid)
        want = 0.5 * (lo + hi)
        got = _C.special_function(np.array([p]), "ndtri")[0]
        # erfc's own error (a few eps) moves the root by eps / |d log ndtr / dx|
        assert got == pytest.approx(want, rel=1e-13, abs=1e-15), p
        if p >= 1e-38:
            got32 = _C.special_function(np.float32([p]), "ndtri")[0]
            assert got32 == pytest.approx(want, rel=3e-7 if p != 0.5 else 0, abs=2e-8), p
    # the upper tail mirrors: ndtri(1 - p) = -ndtri(p) where 1 - p is exact
    p = np.array([0.001, 0.025, 0.1, 0.3])
    np.testing.assert_allclose(
        _C.special_function(1 - p, "ndtri"), -_C.special_function(p, "ndtri"), rtol=1e-13
    )
    got = _C.special_function(np.array([0.0, 1.0, -0.0, -1e-300, 1 + 1e-15, np.nan]), "ndtri")
    assert got[0] == -np.inf and got[1] == np.inf and got[2] == -np.inf
    assert np.isnan(got[3:]).all()
    got32 = _C.special_function(np.float32([0, 1, 1e-45, 1 - 2**-24, -0.5, 1.5, np.nan]), "ndtri")
    assert got32[0] == -np.inf and got32[1] == np.inf and np.isnan(got32[4:]).all()
    assert -14.2 < got32[2] < -14.0 and 5.2 < got32[3] < 5.4


def test_log_ndtr_is_log_of_erfc(rng):
    x = np.concatenate([rng.uniform(-25, 6, BIG), [0.0, -1.0, -1.0000001, 1e-300]])
    want = np.array([math.log(_ndtr(v)) if v < 1 else math.log1p(-_ndtr(-v)) for v in x])
    np.testing.assert_allclose(_C.special_function(x, "log_ndtr"), want, rtol=4e-15)
    x32 = x.astype(np.float32)
    w32 = [math.log(_ndtr(v)) if v < 1 else math.log1p(-_ndtr(-v)) for v in x32.astype(float)]
    assert _ulps32(_C.special_function(x32, "log_ndtr"), np.array(w32)).max() <= 2.0
    # far tails: -x^2/2 - log(-x sqrt(2 pi)) + log(1 - 1/x^2 + 3/x^4 - ...) below (the
    # asymptotic series; the next term is 945/x^10), -ndtr(-x) above
    far = np.array([-40.0, -1e3, -1e6])
    u = 1 / far**2
    series = u * (-1 + u * (3 + u * (-15 + u * 105)))
    tail = -far * far / 2 - np.log(-far * math.sqrt(2 * math.pi)) + np.log1p(series)
    np.testing.assert_allclose(_C.special_function(far, "log_ndtr"), tail, rtol=1e-15)
    np.testing.assert_allclose(
        _C.special_function(far.astype(np.float32), "log_ndtr"), tail, rtol=1.2e-7
    )
    up = np.array([10.0, 13.0, 14.0])
    np.testing.assert_allclose(
        _C.special_function(up, "log_ndtr"), [-_ndtr(-v) for v in up], rtol=1e-14
    )
    # float32: ndtr(-14) = 7.8e-45 is a subnormal: kept, not flushed to 0
    got = _C.special_function(np.float32([10.0, 13.0, 14.0]), "log_ndtr")
    assert got[0] == pytest.approx(-_ndtr(-10.0), rel=2.4e-7) and got[2] < 0
    assert got[1] == pytest.approx(-_ndtr(-13.0), rel=2.4e-7)
    for dt in (np.float32, np.float64):
        e = _C.special_function(np.array([-np.inf, np.inf, np.nan, -1e20], dt), "log_ndtr")
        assert e[0] == -np.inf and e[1] == 0 and np.signbit(e[1]) and np.isnan(e[2])
        assert e[3] == (-np.inf if dt == np.float32 else -5e39)


def test_entr_is_minus_x_log_x(rng):
    x = np.concatenate([rng.uniform(0, 5, BIG), np.exp(rng.uniform(-700, 700, 5000))])
    np.testing.assert_allclose(_C.special_function(x, "entr"), -x * np.log(x), rtol=1e-15)
    x32 = np.concatenate([x[:BIG], [1e-45, 1e-40, 1e36]]).astype(np.float32)
    want = -x32.astype(np.float64) * np.log(x32.astype(np.float64))
    assert _ulps32(_C.special_function(x32, "entr"), want).max() <= 2.0
    for dt in (np.float32, np.float64):
        e = _C.special_function(
            np.array([0.0, -0.0, -1e-30, -np.inf, np.inf, np.nan, 1.0], dt), "entr"
        )
        assert e[0] == 0 and not np.signbit(e[0]) and e[1] == 0 and not np.signbit(e[1])
        assert e[2] == e[3] == e[4] == -np.inf and np.isnan(e[5]) and e[6] == 0


def test_edge_values_match_torch():
    torch = pytest.importorskip("torch")
    edges = [0.0, -0.0, 1e-45, 1e-40, -1e-40, 1e-30, 0.5, 1.0, 8.0, 85.0, 89.0, 90.0, 92.0]
    edges += [714.0, -90.0, -9.3, -27.0, -1e20, 1e8, 1e20, 3e38, -3e38, 1.5, -0.1, 14.0]
    edges += [np.inf, -np.inf, np.nan]
    for dt in (np.float32, np.float64):
        x = np.array(edges, dt)
        for name in NAMES:
            got = _C.special_function(x, name)
            with np.errstate(over="ignore"):  # float64 values beyond float32's range: inf
                want = getattr(torch.special, name)(torch.tensor(x.astype(np.float64)))
                want = want.numpy().astype(dt)
            exact = ~np.isfinite(want) | (want == 0)
            np.testing.assert_array_equal(got[exact], want[exact], err_msg=f"{name} {dt}")
            signed = exact & ~np.isnan(want)  # zeros and infinities keep torch's signs
            np.testing.assert_array_equal(np.signbit(got[signed]), np.signbit(want[signed]))
            # subnormal results may differ in their last bit (1.4e-45 in float32); torch's
            # float64 erfcx at -9.3 is 19 eps off (x^2 rounded; checked exactly above)
            tiny = np.finfo(dt).smallest_subnormal
            rtol = 2.4e-7 if dt == np.float32 else 5e-15
            np.testing.assert_allclose(got[~exact], want[~exact], rtol=rtol, atol=tiny)


# ------------------------------------------------------------------ out=, in place, threads
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_in_place_and_thread_counts_give_the_same_values(dtype, rng, threads):
    x = rng.uniform(0.01, 0.99, (BIG // 100, 100)).astype(dtype)
    for name in NAMES:
        y = _C.special_function(x, name)
        out = np.empty_like(x)
        assert _C.special_function(x, name, out=out) is out
        np.testing.assert_array_equal(out, y)
        z = x.copy()
        _C.special_function(z, name, out=z)
        np.testing.assert_array_equal(z, y)
        threads(1)
        np.testing.assert_array_equal(_C.special_function(x, name), y)
        threads(2)
        assert _C.special_function(x[:0], name).shape == (0, 100)


def test_errors_name_the_op_the_argument_and_every_function():
    x = np.zeros(4)
    with pytest.raises(ValueError) as e:
        _C.special_function(x, "i2")
    msg = str(e.value)
    assert msg.startswith("special_function: function must be one of ") and "got 'i2'" in msg
    for name in NAMES + ("erf", "erfc", "erfinv", "lgamma", "digamma", "trigamma"):
        assert f"'{name}'" in msg
    with pytest.raises(TypeError, match="special_function: input must be a C-contiguous float"):
        _C.special_function(np.zeros(4, np.int32), "ndtri")
    with pytest.raises(TypeError, match="special_function: input .*not C-contiguous"):
        _C.special_function(np.zeros((4, 4))[:, ::2], "entr")
    with pytest.raises((TypeError, ValueError), match="special_function: out"):
        _C.special_function(x, "erfcx", out=np.zeros(4, np.float32))


# ------------------------------------------------------------------ the ops
def test_ops_use_the_kernel_for_numpy_float_arrays(rng):
    S = pydlk.special
    x = rng.uniform(0.05, 0.95, (7, 9)).astype(np.float32)
    xt = x.T  # not C-contiguous: the op copies it
    for name in ("i0e", "i1", "i1e", "erfcx", "ndtri", "log_ndtr", "entr"):
        y = getattr(S, name)(pydlk.tensor(x))
        assert y.dtype == pydlk.float32
        np.testing.assert_array_equal(y.numpy(), _C.special_function(x, name))
        np.testing.assert_array_equal(
            getattr(S, name)(pydlk.tensor(xt)).numpy(), _C.special_function(x, name).T
        )
        # float16 keeps the float64 array code; integers give float32; 0-d keeps its shape
        h = getattr(S, name)(pydlk.tensor(x.astype(np.float16)))
        assert h.dtype == pydlk.float16
        np.testing.assert_allclose(
            h.numpy(), _C.special_function(x.astype(np.float16).astype(np.float64), name), rtol=1e-3
        )
        assert getattr(S, name)(pydlk.tensor([1, 0])).dtype == pydlk.float32
        assert getattr(S, name)(pydlk.tensor(np.float64(0.25))).shape == ()
    np.testing.assert_array_equal(pydlk.i0(pydlk.tensor(x)).numpy(), _C.special_function(x, "i0"))


GRAD_OPS = {  # op, inputs inside its domain away from kinks
    "i0e": (lambda t: pydlk.special.i0e(t), (-6, 6)),
    "i1": (lambda t: pydlk.special.i1(t), (-6, 6)),
    "i1e": (lambda t: pydlk.special.i1e(t), (-6, 6)),
    "erfcx": (lambda t: pydlk.special.erfcx(t), (-3, 20)),
    "ndtri": (lambda t: pydlk.special.ndtri(t), (0.02, 0.98)),
    "log_ndtr": (lambda t: pydlk.special.log_ndtr(t), (-20, 6)),
    "entr": (lambda t: pydlk.special.entr(t), (0.05, 4)),
    "i0": (lambda t: pydlk.i0(t), (-6, 6)),
}


@pytest.mark.parametrize("name", GRAD_OPS)
def test_gradients_by_finite_differences(name, rng):
    op, (lo, hi) = GRAD_OPS[name]
    v = rng.uniform(lo, hi, 8)
    v[0] = 0.5 * (lo + hi) if name != "i0e" else 0.7  # i0e's |x| kink at 0 is left out
    x = pydlk.tensor(v, dtype=pydlk.float64, requires_grad=True)
    assert gradcheck(op, (x,))


@pytest.mark.parametrize("name", GRAD_OPS)
def test_float32_gradients_match_torch(name, rng):
    torch = pytest.importorskip("torch")
    op, (lo, hi) = GRAD_OPS[name]
    v = rng.uniform(lo, hi, BIG).astype(np.float32)
    x = pydlk.tensor(v, requires_grad=True)
    op(x).sum().backward()
    tx = torch.tensor(v.astype(np.float64), requires_grad=True)
    tf = torch.i0 if name == "i0" else getattr(torch.special, name)
    tf(tx).sum().backward()
    assert x.grad.dtype == pydlk.float32
    # the gradient is computed in float64 (a float32 forward is recomputed there) and rounded
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=5e-7, atol=1e-30)


# ------------------------------------------------------------------ the GPU
def test_gpu_special_function_cephes_names_match_the_cpu(rng):
    from _gpu_helpers import cupy_or_skip, host

    cp = cupy_or_skip()
    from pydlk import _cuda

    edges = [0.0, -0.0, 1e-30, 0.5, 1.0, -1.0, 8.0, 30.0, -30.0, np.inf, -np.inf, np.nan]
    for name in NAMES:
        a = _samples(name, rng)[::50]
        a = np.concatenate([a, edges])
        for dtype in (np.float32, np.float64):
            ad = a.astype(dtype)
            got = host(_cuda.special_function(cp.asarray(ad), name))
            want = _C.special_function(ad, name)
            assert got.dtype == dtype
            # the GPU computes in double for both dtypes; the CPU's float32 is within 2 ulp
            np.testing.assert_allclose(
                got, want, rtol=2.4e-7 if dtype == np.float32 else 4e-15, atol=0, err_msg=name
            )
    with pytest.raises(ValueError, match="special_function: function must be one of .*'entr'"):
        _cuda.special_function(cp.zeros(3), "i2")


def test_kernel_tables_are_the_array_codes_tables():
    # csrc/special_cephes.cpp keeps its own copy of the Cephes tables of
    # pydlk/ops/_cephes_tables.py (the array code CuPy and float16 run): the two must not drift
    import os
    import re

    from pydlk.ops import _cephes_tables as T

    path = os.path.join(os.path.dirname(__file__), "..", "csrc", "special_cephes.cpp")
    if not os.path.exists(path):
        pytest.skip("no C++ sources beside the tests")
    with open(path) as f:
        src = f.read()
    names = {"kI0eA": "I0E_A", "kI0eB": "I0E_B", "kI1eA": "I1E_A", "kI1eB": "I1E_B"}
    names.update({f"kNdtri{k}": f"NDTRI_{k}" for k in ("P0", "Q0", "P1", "Q1", "P2", "Q2")})
    for cname, pyname in names.items():
        body = re.search(r"constexpr double " + cname + r"\[\d+\] = \{(.*?)\};", src, re.S)
        assert body is not None, cname
        values = [float(v) for v in re.findall(r"[-+]?\d[\d.eE+-]*", body.group(1))]
        assert values == [float(v) for v in getattr(T, pyname)], cname


def test_gpu_special_functions_of_cupy_tensors_run_the_device_kernel(rng, monkeypatch):
    # torch.special's Cephes functions on a CuPy float32/float64 tensor take _cuda's
    # special_function (one launch), not the float64 array code; the values are the CPU's
    from _gpu_helpers import cupy_or_skip, host

    cp = cupy_or_skip()
    from pydlk import _cuda

    seen = []
    real = _cuda.special_function

    def spy(x, name, **kw):
        seen.append(name)
        return real(x, name, **kw)

    monkeypatch.setattr(_cuda, "special_function", spy)
    fns = {
        "i0e": pydlk.special.i0e,
        "i1": pydlk.special.i1,
        "i1e": pydlk.special.i1e,
        "erfcx": pydlk.special.erfcx,
        "ndtri": pydlk.special.ndtri,
        "log_ndtr": pydlk.special.log_ndtr,
        "entr": pydlk.special.entr,
        "i0": pydlk.special.i0,
    }
    for name, fn in fns.items():
        a = _samples(name, rng)[::40]
        for dtype in (np.float32, np.float64):
            seen.clear()
            got = fn(pydlk.tensor(cp.asarray(a.astype(dtype))))
            want = fn(pydlk.tensor(a.astype(dtype)))
            assert name in seen, name
            assert got.dtype == want.dtype == dtype
            np.testing.assert_allclose(
                host(got._data),
                want.numpy(),
                rtol=2.4e-7 if dtype == np.float32 else 4e-15,
                atol=0,
                err_msg=name,
            )
    # float16 keeps the float64 array code (the kernel takes float32/float64)
    seen.clear()
    pydlk.special.i0e(pydlk.tensor(cp.asarray(np.array([0.5, 2.0], np.float16))))
    assert "i0e" not in seen
