"""torch's math and statistics functions that pydlk/ops/math_more.py, special_more.py,
stats_more.py and calculus.py add (aliases, fmod, fmax, copysign, bitwise and integer ops,
logaddexp, frexp, i0, polygamma, mvlgamma, logcumsumexp, cov, corrcoef, mode,
unique_consecutive, histogram, renorm, dist, kron, inner, pdist, trapezoid, gradient), each
against torch on the same inputs (values, dtypes, shapes, gradients), a few against a
textbook NumPy formula, the differentiable ones by float64 gradcheck, the errors, and a
``test_gpu_*`` check of a representative subset against the CPU.

The modules are imported directly (and their Tensor methods called through
``TENSOR_METHODS``), so the tests hold before and after the names are exported as ``pydlk.*``.
"""

import math

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
from pydlk.ops import calculus as C
from pydlk.ops import math_more as M
from pydlk.ops import special_more as SP
from pydlk.ops import stats_more as S

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 5))
Y = RNG.standard_normal((3, 5)) + 0.1


def _np(t):
    t = t.detach() if hasattr(t, "detach") else t
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t._data)


def _same(p, t, rtol=1e-6, atol=1e-9):
    """pydlk result p equals torch result t: shape, dtype, values."""
    a, b = _np(p), _np(t)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    np.testing.assert_allclose(
        a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True
    )


def _grads(fp, ft, *arrays, seed=1):
    """Values and gradients of fp (pydlk) and ft (torch) on float64 inputs agree."""
    ps = [pydlk.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    yp, yt = fp(*ps), ft(*ts)
    _same(yp, yt)
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape))
    yp.backward(pydlk.tensor(g))
    yt.backward(torch.tensor(g))
    for p, t in zip(ps, ts):
        _same(p.grad, t.grad, rtol=1e-6, atol=1e-9)


# -- aliases


@pytest.mark.parametrize(
    "name,args",
    [
        ("absolute", (X,)),
        ("negative", (X,)),
        ("positive", (X,)),
        ("multiply", (X, Y)),
        ("true_divide", (X, Y)),
        ("arcsinh", (X,)),
        ("arctanh", (X / 4,)),
        ("arccosh", (np.abs(X) + 1.5,)),
    ],
)
def test_aliases_match_torch_with_gradients(name, args):
    _grads(getattr(M, name), getattr(torch, name), *args)


def test_aliases_with_keywords_and_comparisons():
    a, b = pydlk.tensor(X), pydlk.tensor(Y)
    ta, tb = torch.tensor(X), torch.tensor(Y)
    _grads(lambda x, y: M.subtract(x, y, alpha=2), lambda x, y: torch.subtract(x, y, alpha=2), X, Y)
    _grads(lambda x, y: M.rsub(x, y, alpha=3), lambda x, y: torch.rsub(x, y, alpha=3), X, Y)
    _same(M.rsub(a, 2.0), torch.rsub(ta, 2.0))
    for mode in (None, "trunc", "floor"):
        _same(M.divide(a * 4, b, rounding_mode=mode), torch.divide(ta * 4, tb, rounding_mode=mode))
    _same(M.divide(pydlk.tensor([7, -7]), 2), torch.divide(torch.tensor([7, -7]), 2))
    for n in ("greater", "greater_equal", "less", "less_equal", "not_equal"):
        _same(getattr(M, n)(a, b), getattr(torch, n)(ta, tb))
        _same(getattr(M, n)(a, 0.0), getattr(torch, n)(ta, 0.0))
    with pytest.raises(RuntimeError, match="positive"):
        M.positive(pydlk.tensor([True]))
    with pytest.raises(ValueError, match="rounding_mode"):
        M.divide(a, b, rounding_mode="up")


# -- elementwise with gradients


@pytest.mark.parametrize("name", ["fmod", "fmax", "fmin", "copysign", "logaddexp", "logaddexp2"])
def test_binary_elementwise_match_torch_with_gradients(name):
    y = Y.copy()
    y[0, :2] = X[0, :2]  # ties
    _grads(getattr(M, name), getattr(torch, name), X * 3, y)


def test_binary_elementwise_broadcast_scalars_and_dtypes():
    ai, bi = np.array([[-7, 5, 9]]), np.array([[2], [-3]])
    for name in ("fmod", "fmax", "fmin", "copysign"):
        _same(
            getattr(M, name)(pydlk.tensor(ai), pydlk.tensor(bi)),
            getattr(torch, name)(torch.tensor(ai), torch.tensor(bi)),
        )
    _same(M.fmod(pydlk.tensor(ai), 4), torch.fmod(torch.tensor(ai), 4))
    _same(
        M.fmod(pydlk.tensor(X.astype(np.float32)), 0.7),
        torch.fmod(torch.tensor(X, dtype=torch.float32), 0.7),
    )
    _same(M.copysign(pydlk.tensor([1, 2]), -1.0), torch.copysign(torch.tensor([1, 2]), -1.0))
    _same(
        M.copysign(pydlk.tensor([1.0, 2.0]), pydlk.tensor([-0.0, 0.0])),
        torch.copysign(torch.tensor([1.0, 2.0]), torch.tensor([-0.0, 0.0])),
    )
    nan = np.array([np.nan, 1.0, np.nan])
    other = np.array([2.0, np.nan, np.nan])
    _same(
        M.fmax(pydlk.tensor(nan), pydlk.tensor(other)),
        torch.fmax(torch.tensor(nan), torch.tensor(other)),
    )
    _same(
        M.fmin(pydlk.tensor(nan), pydlk.tensor(other)),
        torch.fmin(torch.tensor(nan), torch.tensor(other)),
    )
    _same(
        M.logaddexp(pydlk.tensor([-np.inf, 800.0]), pydlk.tensor([-np.inf, 800.0])),
        torch.logaddexp(torch.tensor([-np.inf, 800.0]), torch.tensor([-np.inf, 800.0])),
    )


def test_logaddexp_against_the_textbook_formula():
    a, b = X * 10, Y * 10
    ref = np.maximum(a, b) + np.log1p(np.exp(-np.abs(a - b)))
    np.testing.assert_allclose(_np(M.logaddexp(pydlk.tensor(a), pydlk.tensor(b))), ref, rtol=1e-12)
    np.testing.assert_allclose(
        _np(M.logaddexp2(pydlk.tensor(a), pydlk.tensor(b))), np.log2(2.0**a + 2.0**b), rtol=1e-12
    )


def test_ldexp_frexp_float_power_match_torch():
    # (torch's gradient of input is 0 where an integer exponent is negative: its pow(2, e) is
    # an integer power; pydlk's is 2**e)
    e = np.array([[2, 1, 0, 3, 5]] * 3)
    _grads(lambda x: M.ldexp(x, pydlk.tensor(e)), lambda x: torch.ldexp(x, torch.tensor(e)), X)
    _same(
        M.ldexp(pydlk.tensor([1, 2]), pydlk.tensor([2, 3])),
        torch.ldexp(torch.tensor([1, 2]), torch.tensor([2, 3])),
    )
    v = np.array([0.0, -3.0, 8.5, 1e-310, np.inf, 1.0])
    mp, ep = M.frexp(pydlk.tensor(v))
    mt, et = torch.frexp(torch.tensor(v))
    _same(mp, mt)
    _same(ep, et)
    assert _np(ep).dtype == np.int32
    assert type(M.frexp(pydlk.tensor(v))).__name__ == "frexp"
    _grads(lambda x: M.frexp(x).mantissa, lambda x: torch.frexp(x).mantissa, X * 9)
    for a, b in [
        (np.array([1, 2]), 2),
        (X.astype(np.float32), np.array([2, 3, 1, 0, 2])),
        (2.0, X),
    ]:
        pa = pydlk.tensor(a) if isinstance(a, np.ndarray) else a
        pb = pydlk.tensor(b) if isinstance(b, np.ndarray) else b
        ta = torch.tensor(a) if isinstance(a, np.ndarray) else a
        tb = torch.tensor(b) if isinstance(b, np.ndarray) else b
        _same(M.float_power(pa, pb), torch.float_power(ta, tb))
    _grads(lambda x, y: M.float_power(x, y), torch.float_power, np.abs(X) + 0.5, Y)


# -- predicates and integer ops (no gradient)


def test_predicates_match_torch():
    v = np.array([-np.inf, -0.0, 0.0, -2.0, 3.0, np.inf, np.nan])
    for name in ("signbit", "isposinf", "isneginf", "isreal"):
        _same(getattr(M, name)(pydlk.tensor(v)), getattr(torch, name)(torch.tensor(v)))
        _same(getattr(M, name)(pydlk.tensor([-1, 2])), getattr(torch, name)(torch.tensor([-1, 2])))
    _same(M.isreal(pydlk.tensor(np.array([1 + 0j, 1j]))), torch.isreal(torch.tensor([1 + 0j, 1j])))
    e, t = np.array([[1, 2, 3], [4, 2, 0]]), np.array([2, 0, 7])
    for inv in (False, True):
        _same(
            M.isin(pydlk.tensor(e), pydlk.tensor(t), invert=inv),
            torch.isin(torch.tensor(e), torch.tensor(t), invert=inv),
        )
    _same(M.isin(pydlk.tensor(e), 2), torch.isin(torch.tensor(e), 2))
    _same(M.isin(2, pydlk.tensor(t)), torch.isin(2, torch.tensor(t)))
    h, vals = np.array([-1.5, 0.0, 2.0, np.nan]), np.array([0.5])
    _same(
        M.heaviside(pydlk.tensor(h), pydlk.tensor(vals)),
        torch.heaviside(torch.tensor(h), torch.tensor(vals)),
    )
    with pytest.raises(RuntimeError, match="heaviside"):
        M.heaviside(pydlk.tensor([1, 0]), pydlk.tensor([0.5]))
    a, b = pydlk.tensor([1.0, 2.0]), pydlk.tensor([2.0, 0.0])
    _same(
        M.nextafter(a, b),
        torch.nextafter(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 0.0])),
        rtol=0,
    )


def test_integer_ops_match_torch():
    a = np.array([-12, 0, 9, 7, 255, -8], np.int64)
    b = np.array([18, 0, -3, 1, 4, 3], np.int64)
    for name in (
        "gcd",
        "lcm",
        "bitwise_and",
        "bitwise_or",
        "bitwise_xor",
        "bitwise_left_shift",
        "bitwise_right_shift",
    ):
        _same(
            getattr(M, name)(pydlk.tensor(a), pydlk.tensor(b)),
            getattr(torch, name)(torch.tensor(a), torch.tensor(b)),
        )
        three = (
            3 if name.startswith("bit") else torch.tensor(3, dtype=torch.int32)
        )  # torch.gcd: no numbers
        _same(
            getattr(M, name)(pydlk.tensor(a.astype(np.int32)), 3),
            getattr(torch, name)(torch.tensor(a, dtype=torch.int32), three),
        )
    _same(M.bitwise_not(pydlk.tensor(a)), torch.bitwise_not(torch.tensor(a)))
    bo = np.array([True, False, True])
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        _same(
            getattr(M, name)(pydlk.tensor(bo), pydlk.tensor(~bo)),
            getattr(torch, name)(torch.tensor(bo), torch.tensor(~bo)),
        )
        _same(
            getattr(M, name)(pydlk.tensor(bo), pydlk.tensor([3, 1, 2])),
            getattr(torch, name)(torch.tensor(bo), torch.tensor([3, 1, 2])),
        )
    _same(M.bitwise_not(pydlk.tensor(bo)), torch.bitwise_not(torch.tensor(bo)))
    # shifting out every bit gives 0 (or -1 for a negative number shifted right), as torch
    _same(
        M.bitwise_left_shift(pydlk.tensor([1, 2]), 70),
        torch.bitwise_left_shift(torch.tensor([1, 2]), 70),
    )
    _same(
        M.bitwise_right_shift(pydlk.tensor([-8, 8]), 70),
        torch.bitwise_right_shift(torch.tensor([-8, 8]), 70),
    )
    u = np.array([200, 3], np.uint8)
    _same(M.bitwise_left_shift(pydlk.tensor(u), 1), torch.bitwise_left_shift(torch.tensor(u), 1))


@pytest.mark.parametrize(
    "name,args,match",
    [
        ("bitwise_and", (np.ones(2), np.ones(2)), "bitwise_and.*float64"),
        ("bitwise_not", (np.ones(2),), "bitwise_not.*float64"),
        ("bitwise_left_shift", (np.array([True]), np.array([True])), "bitwise_left_shift.*bool"),
        ("gcd", (np.ones(2), np.ones(2)), "gcd.*float64"),
        ("lcm", (np.array([True]), np.array([True])), "lcm.*bool"),
        ("logaddexp", (np.array([1, 2]), np.array([1, 2])), "logaddexp.*int64"),
        ("nextafter", (np.array([1, 2]), np.array([1, 2])), "nextafter.*int64"),
    ],
)
def test_ops_refuse_dtypes_torch_does_not_implement(name, args, match):
    with pytest.raises(TypeError, match=match) as e:
        getattr(M, name)(*[pydlk.tensor(a) for a in args])
    assert isinstance(e.value, NotImplementedError)  # torch's error type too
    with pytest.raises((NotImplementedError, RuntimeError)):
        getattr(torch, name)(*[torch.tensor(a) for a in args])


def test_other_errors_name_the_op():
    with pytest.raises(RuntimeError, match="fmod.*ZeroDivision"):
        M.fmod(pydlk.tensor([1, 2]), 0)
    with pytest.raises(TypeError, match="frexp"):
        M.frexp(pydlk.tensor([1, 2]))
    with pytest.raises(TypeError, match="fmax.*other"):
        M.fmax(pydlk.tensor([1.0]), 1.0)
    with pytest.raises(ValueError, match="polygamma.*negative"):
        SP.polygamma(-1, pydlk.tensor([1.0]))
    with pytest.raises(ValueError, match="mvlgamma.*p"):
        SP.mvlgamma(pydlk.tensor([1.0]), 0)


# -- special functions


def test_i0_polygamma_mvlgamma_match_torch():
    x = np.array([-30.0, -2.5, -0.3, 0.2, 1.0, 3.7, 19.9, 20.1, 50.0, 300.0])
    _grads(SP.i0, torch.i0, x)
    q = np.array([-2.5, -0.3, 0.2, 1.0, 3.7, 19.9, 50.0])
    for n in (0, 1, 2, 3, 6):
        _grads(lambda t, n=n: SP.polygamma(n, t), lambda t, n=n: torch.polygamma(n, t), q)
    _same(SP.polygamma(2, pydlk.tensor([1, 2])), torch.polygamma(2, torch.tensor([1, 2])))
    _same(SP.i0(pydlk.tensor([1, 2])), torch.i0(torch.tensor([1, 2])))
    for p in (1, 2, 4):
        _grads(lambda t, p=p: SP.mvlgamma(t, p), lambda t, p=p: torch.mvlgamma(t, p), np.abs(X) + 2)
    _same(SP.mvlgamma(pydlk.tensor([2, 3]), 2), torch.mvlgamma(torch.tensor([2, 3]), 2))
    a32 = (np.abs(X) + 0.5).astype(np.float32)
    _same(SP.polygamma(3, pydlk.tensor(a32)), torch.polygamma(3, torch.tensor(a32)), rtol=2e-6)
    _same(
        SP.TENSOR_METHODS["polygamma"](pydlk.tensor(a32), 2),
        torch.tensor(a32).polygamma(2),
        rtol=2e-6,
    )


def test_gradcheck_of_the_differentiable_elementwise_ops():
    x = pydlk.tensor(X * 3, requires_grad=True)
    y = pydlk.tensor(Y, requires_grad=True)
    for f in (M.fmod, M.fmax, M.fmin, M.copysign, M.logaddexp, M.logaddexp2):
        assert pydlk.gradcheck(f, (x, y))
    z = pydlk.tensor(np.abs(X) + 0.5, requires_grad=True)
    assert pydlk.gradcheck(lambda t: M.ldexp(t, pydlk.tensor(3)), (x,))
    assert pydlk.gradcheck(lambda t: M.float_power(t, 2.5), (z,))
    assert pydlk.gradcheck(SP.i0, (x,))
    assert pydlk.gradcheck(lambda t: SP.polygamma(2, t), (z,))
    w = pydlk.tensor(np.abs(X) + 2, requires_grad=True)
    assert pydlk.gradcheck(lambda t: SP.mvlgamma(t, 3), (w,))


# -- statistics and reductions


def test_logcumsumexp_matches_torch_and_stays_finite():
    for d in (0, 1, -1):
        _grads(lambda t, d=d: S.logcumsumexp(t, d), lambda t, d=d: torch.logcumsumexp(t, d), X)
    wide = np.array([[-1000.0, 0.0, 1000.0, -np.inf, 5.0]])
    _same(S.logcumsumexp(pydlk.tensor(wide), 1), torch.logcumsumexp(torch.tensor(wide), 1))
    assert pydlk.gradcheck(lambda t: S.logcumsumexp(t, 1), (pydlk.tensor(X, requires_grad=True),))
    with pytest.raises(TypeError, match="logcumsumexp"):
        S.logcumsumexp(pydlk.tensor([1, 2]), 0)
    with pytest.raises(IndexError):
        S.logcumsumexp(pydlk.tensor(X), 2)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"correction": 0},
        {"fweights": np.array([1, 2, 1, 3, 1])},
        {"aweights": np.array([0.5, 1.0, 0.2, 0.7, 1.5])},
        {
            "fweights": np.array([1, 2, 1, 3, 1]),
            "aweights": np.array([0.5, 1.0, 0.2, 0.7, 1.5]),
            "correction": 2,
        },
    ],
)
def test_cov_matches_torch_and_numpy(kw):
    kp = {k: pydlk.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    kt = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    _grads(lambda t: S.cov(t, **kp), lambda t: torch.cov(t, **kt), X)
    ref = np.cov(
        X, ddof=kw.get("correction", 1), fweights=kw.get("fweights"), aweights=kw.get("aweights")
    )
    np.testing.assert_allclose(_np(S.cov(pydlk.tensor(X), **kp)), ref, rtol=1e-12)


def test_cov_corrcoef_shapes_dtypes_and_errors():
    _same(S.cov(pydlk.tensor(X[0])), torch.cov(torch.tensor(X[0])))
    _same(
        S.cov(pydlk.tensor(X.astype(np.float32))),
        torch.cov(torch.tensor(X, dtype=torch.float32)),
        rtol=1e-5,
    )
    _grads(S.corrcoef, torch.corrcoef, X)
    np.testing.assert_allclose(_np(S.corrcoef(pydlk.tensor(X))), np.corrcoef(X), rtol=1e-12)
    _same(S.corrcoef(pydlk.tensor(X[0])), torch.corrcoef(torch.tensor(X[0])))
    assert pydlk.gradcheck(S.corrcoef, (pydlk.tensor(X, requires_grad=True),))
    with pytest.raises(ValueError, match="cov.*two or fewer"):
        S.cov(pydlk.zeros(2, 2, 2))
    with pytest.raises(TypeError, match="cov.*fweights.*integral"):
        S.cov(pydlk.tensor(X), fweights=pydlk.ones(5))
    with pytest.raises(ValueError, match="cov.*aweights.*negative"):
        S.cov(pydlk.tensor(X), aweights=-pydlk.ones(5, dtype=pydlk.float64))
    with pytest.raises(ValueError, match="cov.*numel"):
        S.cov(pydlk.tensor(X), fweights=pydlk.tensor([1, 2]))


def test_msort_mode_unique_consecutive_match_torch():
    _grads(S.msort, torch.msort, X)
    xi = RNG.integers(0, 3, (4, 7))
    for dim, keep in ((1, False), (0, True), (-1, True)):
        vp, ip = S.mode(pydlk.tensor(xi), dim, keep)
        vt, it = torch.mode(torch.tensor(xi), dim, keep)
        _same(vp, vt)
        _same(ip, it)
    r = S.mode(pydlk.tensor([2.0, 1.0, 2.0, 1.0, 3.0]))
    assert type(r).__name__ == "mode" and float(r.values) == 1.0 and int(r.indices) == 3
    xr = np.round(X * 2) / 2
    _grads(lambda t: S.mode(t, 1).values, lambda t: torch.mode(t, 1).values, xr)
    u = np.array([1, 1, 2, 2, 3, 1, 1, 2])
    for inv in (False, True):
        for cnt in (False, True):
            rp = S.unique_consecutive(pydlk.tensor(u), return_inverse=inv, return_counts=cnt)
            rt = torch.unique_consecutive(torch.tensor(u), return_inverse=inv, return_counts=cnt)
            for a, b in zip(
                rp if isinstance(rp, tuple) else (rp,), rt if isinstance(rt, tuple) else (rt,)
            ):
                _same(a, b)
    u2 = np.array([[1, 1, 2], [1, 1, 2], [0, 1, 2], [0, 1, 2]])
    for d in (0, 1):
        for a, b in zip(
            S.unique_consecutive(pydlk.tensor(u2), return_inverse=True, return_counts=True, dim=d),
            torch.unique_consecutive(
                torch.tensor(u2), return_inverse=True, return_counts=True, dim=d
            ),
        ):
            _same(a, b)


def test_histogram_matches_torch_and_numpy():
    v = (X * 3).astype(np.float32)
    for kw in ({}, {"range": (-2.0, 2.0)}, {"density": True}, {"weight": np.abs(v)}):
        kp = {k: pydlk.tensor(a) if isinstance(a, np.ndarray) else a for k, a in kw.items()}
        kt = {k: torch.tensor(a) if isinstance(a, np.ndarray) else a for k, a in kw.items()}
        hp, ep = S.histogram(pydlk.tensor(v), 4, **kp)
        ht, et = torch.histogram(torch.tensor(v), 4, **kt)
        _same(hp, ht, rtol=1e-5)
        _same(ep, et, rtol=1e-6)
    edges = np.array([-5.0, -1.0, 0.0, 0.5, 6.0], np.float32)
    hp, ep = S.histogram(pydlk.tensor(v), pydlk.tensor(edges))
    ht, et = torch.histogram(torch.tensor(v), torch.tensor(edges))
    _same(hp, ht)
    hn, _ = np.histogram(v, bins=edges)
    np.testing.assert_array_equal(_np(hp), hn)
    assert type(S.TENSOR_METHODS["histogram"](pydlk.tensor(v), 3)).__name__ == "histogram"
    with pytest.raises(TypeError, match="histogram"):
        S.histogram(pydlk.tensor([1, 2]), 2)


def test_renorm_dist_kron_inner_pdist_match_torch():
    for p, dim, mx in ((2, 0, 1.5), (1, 1, 0.8), (3, -1, 10.0)):
        _grads(lambda t: S.renorm(t, p, dim, mx), lambda t: torch.renorm(t, p, dim, mx), X)
    _same(
        S.dist(pydlk.tensor(X), pydlk.tensor(Y), 0), torch.dist(torch.tensor(X), torch.tensor(Y), 0)
    )
    for p in (2, 1, 3.5, math.inf):
        _grads(lambda a, b: S.dist(a, b, p), lambda a, b: torch.dist(a, b, p), X, Y)
    b2 = RNG.standard_normal((2, 3))
    _grads(S.kron, torch.kron, X, b2)
    _grads(S.kron, torch.kron, X[0], b2)
    np.testing.assert_allclose(_np(S.kron(pydlk.tensor(X), pydlk.tensor(b2))), np.kron(X, b2))
    _same(
        S.kron(pydlk.tensor([[1, 2]]), pydlk.tensor([3, 4])),
        torch.kron(torch.tensor([[1, 2]]), torch.tensor([3, 4])),
    )
    _grads(S.inner, torch.inner, X, Y[:2])
    _grads(S.inner, torch.inner, X[0], Y[1])
    _same(
        S.inner(pydlk.tensor(X), pydlk.tensor(2.0)), torch.inner(torch.tensor(X), torch.tensor(2.0))
    )
    for p in (2, 1, 0.5, math.inf):
        _grads(lambda t: S.pdist(t, p), lambda t: torch.pdist(t, p), X)
    _same(S.pdist(pydlk.tensor(X[:1])), torch.pdist(torch.tensor(X[:1])))
    with pytest.raises(ValueError, match="inner"):
        S.inner(pydlk.tensor(X), pydlk.tensor(b2))
    with pytest.raises(ValueError, match="pdist.*2D"):
        S.pdist(pydlk.tensor(X[0]))
    t = pydlk.tensor(X.copy())
    S.TENSOR_METHODS["renorm_"](t, 2, 0, 1.0)
    _same(t, torch.tensor(X).renorm_(2, 0, 1.0))
    for f in (S.renorm, S.inner, S.kron):
        assert f.__doc__


def test_gradcheck_of_the_statistics():
    x = pydlk.tensor(X, requires_grad=True)
    assert pydlk.gradcheck(
        lambda t: S.cov(t, aweights=pydlk.tensor([0.5, 1.0, 0.2, 0.7, 1.5])), (x,)
    )
    assert pydlk.gradcheck(lambda t: S.renorm(t, 2, 0, 1.0), (x,))
    assert pydlk.gradcheck(lambda t: S.pdist(t), (x,))
    assert pydlk.gradcheck(lambda t: S.kron(t, pydlk.tensor(X[:2, :2])), (x,))


# -- trapezoid, cumulative_trapezoid, gradient


def test_trapezoid_matches_torch_and_the_textbook_rule():
    xs = np.sort(RNG.random(5))
    for dim in (0, 1, -1):
        n = X.shape[dim]
        _grads(
            lambda t, d=dim: C.trapezoid(t, dim=d), lambda t, d=dim: torch.trapezoid(t, dim=d), X
        )
        _grads(
            lambda t, d=dim: C.cumulative_trapezoid(t, dx=0.3, dim=d),
            lambda t, d=dim: torch.cumulative_trapezoid(t, dx=0.3, dim=d),
            X,
        )
        coord = np.sort(RNG.random(n))
        _grads(
            lambda t, d=dim, c=coord: C.trapezoid(t, pydlk.tensor(c), dim=d),
            lambda t, d=dim, c=coord: torch.trapezoid(t, torch.tensor(c), dim=d),
            X,
        )
    ref = np.sum((X[:, 1:] + X[:, :-1]) / 2 * np.diff(xs), axis=1)
    np.testing.assert_allclose(_np(C.trapezoid(pydlk.tensor(X), pydlk.tensor(xs))), ref, rtol=1e-12)
    _grads(
        lambda y, x: C.trapezoid(y, x),
        lambda y, x: torch.trapezoid(y, x),
        X,
        np.cumsum(np.abs(Y), 1),
    )
    _same(
        C.trapz(pydlk.tensor(X), pydlk.tensor(xs)), torch.trapz(torch.tensor(X), torch.tensor(xs))
    )
    _same(C.trapezoid(pydlk.tensor([1, 4, 9])), torch.trapezoid(torch.tensor([1, 4, 9])))
    _same(
        C.cumulative_trapezoid(pydlk.tensor([1, 4, 9])),
        torch.cumulative_trapezoid(torch.tensor([1, 4, 9])),
    )
    _same(C.trapezoid(pydlk.zeros(2, 0)), torch.trapezoid(torch.zeros(2, 0)))
    _same(C.cumulative_trapezoid(pydlk.zeros(2, 1)), torch.cumulative_trapezoid(torch.zeros(2, 1)))
    with pytest.raises(TypeError, match="trapezoid.*x or dx"):
        C.trapezoid(pydlk.tensor(X), pydlk.tensor(xs), dx=1.0)


def test_gradient_matches_torch():
    x3 = RNG.standard_normal((4, 5, 3))
    for kw in (
        {},
        {"spacing": 2.0},
        {"spacing": [0.5, 2.0, 1.5]},
        {"dim": 1},
        {"dim": [0, 2], "spacing": 3.0},
        {"edge_order": 2},
        {"edge_order": 2, "spacing": [0.5, 2.0, 1.5]},
    ):
        rp = C.gradient(pydlk.tensor(x3), **kw)
        rt = torch.gradient(torch.tensor(x3), **kw)
        assert isinstance(rp, tuple) and len(rp) == len(rt)
        for a, b in zip(rp, rt):
            _same(a, b)
    coords = [np.cumsum(RNG.random(n) + 0.2) for n in x3.shape]
    for order in (1, 2):
        rp = C.gradient(
            pydlk.tensor(x3), spacing=[pydlk.tensor(c) for c in coords], edge_order=order
        )
        rt = torch.gradient(
            torch.tensor(x3), spacing=[torch.tensor(c) for c in coords], edge_order=order
        )
        for a, b in zip(rp, rt):
            _same(a, b)
    _same(
        C.gradient(pydlk.tensor([1, 4, 9, 16]))[0], torch.gradient(torch.tensor([1, 4, 9, 16]))[0]
    )
    _grads(
        lambda t: C.gradient(t, dim=1, edge_order=2)[0],
        lambda t: torch.gradient(t, dim=1, edge_order=2)[0],
        X,
    )
    assert pydlk.gradcheck(
        lambda t: C.gradient(t, edge_order=2)[1], (pydlk.tensor(X, requires_grad=True),)
    )
    np.testing.assert_allclose(
        _np(C.gradient(pydlk.tensor(X), spacing=0.5)[1]), np.gradient(X, 0.5, axis=1)
    )
    with pytest.raises(ValueError, match="gradient.*edge_order"):
        C.gradient(pydlk.tensor([1.0, 2.0]), edge_order=2)
    with pytest.raises(ValueError, match="gradient.*spacing"):
        C.gradient(pydlk.tensor(X), spacing=[1.0])


# -- Tensor methods (as attached once the modules are exported)


def test_tensor_methods_and_in_place_variants():
    for mod in (M, SP, S, C):
        for name, fn in mod.TENSOR_METHODS.items():
            assert callable(fn) and fn.__doc__, name
            assert hasattr(torch.Tensor, name), name
    T = M.TENSOR_METHODS
    a = pydlk.tensor(X.copy())
    T["fmod_"](a, 0.4)
    _same(a, torch.tensor(X).fmod_(0.4))
    a = pydlk.tensor(X.copy())
    T["copysign_"](a, pydlk.tensor(Y))
    _same(a, torch.tensor(X).copysign_(torch.tensor(Y)))
    a = pydlk.tensor([5, 12])
    T["bitwise_and_"](a, 6)
    _same(a, torch.tensor([5, 12]).bitwise_and_(6))
    a = pydlk.tensor(X.copy())
    T["divide_"](a, 2.0, rounding_mode="floor")
    _same(a, torch.tensor(X).divide_(2.0, rounding_mode="floor"))
    a = pydlk.tensor(np.abs(X) + 1.5)
    T["arccosh_"](a)
    _same(a, torch.tensor(np.abs(X) + 1.5).arccosh_())
    a = pydlk.tensor(X.copy())
    SP.TENSOR_METHODS["polygamma_"](a, 1)
    _same(a, torch.tensor(X).polygamma_(1))
    a = pydlk.tensor(np.abs(X) + 2)
    SP.TENSOR_METHODS["mvlgamma_"](a, 2)
    _same(a, torch.tensor(np.abs(X) + 2).mvlgamma_(2))
    with pytest.raises(RuntimeError, match="float_power_"):
        T["float_power_"](pydlk.tensor(X.astype(np.float32)), 2)
    a = pydlk.tensor(X.copy())
    T["float_power_"](a, 2)
    _same(a, torch.tensor(X).float_power_(2))
    with pytest.raises(RuntimeError, match="ldexp_"):
        T["ldexp_"](pydlk.tensor([1, 2]), pydlk.tensor([1, 1]))
    # recorded on a graph tensor, with torch's gradient
    xp = pydlk.tensor(X, requires_grad=True)
    xt = torch.tensor(X, requires_grad=True)
    yp, yt = xp * 1, xt * 1
    T["multiply_"](yp, pydlk.tensor(Y))
    T["fmod_"](yp, 0.7)
    yt.multiply_(torch.tensor(Y)).fmod_(0.7)
    _same(yp, yt)
    yp.sum().backward()
    yt.sum().backward()
    _same(xp.grad, xt.grad)
    with pytest.raises(RuntimeError, match="leaf"):
        T["fmod_"](pydlk.tensor(X, requires_grad=True), 0.5)


# -- GPU


def _gpu_pair(cp, v, rg=False):
    v = np.asarray(v)
    return pydlk.tensor(v, requires_grad=rg), pydlk.tensor(cp.asarray(v), requires_grad=rg)


def _on_gpu_same(g, c, **kw):
    assert str(g.device).startswith("cuda"), g.device
    assert g.shape == c.shape and g.dtype == c.dtype, (g.shape, c.shape, g.dtype, c.dtype)
    np.testing.assert_allclose(host(g), host(c), **kw)


def test_gpu_elementwise_ops_match_the_cpu():
    cp = cupy_or_skip()
    for f in (M.fmod, M.fmax, M.copysign, M.logaddexp, M.logaddexp2):
        (xc, xg), (yc, yg) = _gpu_pair(cp, X * 3, True), _gpu_pair(cp, Y, True)
        rc, rg = f(xc, yc), f(xg, yg)
        _on_gpu_same(rg, rc, rtol=1e-12)
        rc.sum().backward()
        rg.sum().backward()
        _on_gpu_same(xg.grad, xc.grad, rtol=1e-12)
        _on_gpu_same(yg.grad, yc.grad, rtol=1e-12)
    ic, ig = _gpu_pair(cp, np.array([-12, 0, 9, 255]))
    for f in (M.gcd, M.bitwise_and, M.bitwise_left_shift):
        _on_gpu_same(f(ig, 6), f(ic, 6))
    (zc, zg) = _gpu_pair(cp, np.abs(X) + 0.5, True)
    for f in (SP.i0, lambda t: SP.polygamma(3, t), lambda t: SP.mvlgamma(t, 2)):
        rc, rg = f(zc), f(zg)
        _on_gpu_same(rg, rc, rtol=1e-10)
        rc.sum().backward()
        rg.sum().backward()
        _on_gpu_same(zg.grad, zc.grad, rtol=1e-10)
        zc.grad = zg.grad = None
    mc, ec = M.frexp(zc)
    mg, eg = M.frexp(zg)
    _on_gpu_same(mg, mc)
    _on_gpu_same(eg, ec)


def test_gpu_statistics_match_the_cpu():
    cp = cupy_or_skip()
    for f in (
        lambda t: S.logcumsumexp(t, 1),
        S.cov,
        S.corrcoef,
        S.pdist,
        lambda t: S.renorm(t, 2, 0, 1.0),
        lambda t: S.kron(t, t[:2, :2]),
        lambda t: C.trapezoid(t),
        lambda t: C.gradient(t, edge_order=2)[1],
    ):
        xc, xg = _gpu_pair(cp, X, True)
        rc, rg = f(xc), f(xg)
        _on_gpu_same(rg, rc, rtol=1e-10, atol=1e-12)
        rc.sum().backward()
        rg.sum().backward()
        _on_gpu_same(xg.grad, xc.grad, rtol=1e-9, atol=1e-12)
    xi = RNG.integers(0, 3, (4, 7))
    ic, ig = _gpu_pair(cp, xi)
    for a, b in zip(S.mode(ig, 1), S.mode(ic, 1)):
        _on_gpu_same(a, b)
    for a, b in zip(
        S.unique_consecutive(ig.flatten(), True, True),
        S.unique_consecutive(ic.flatten(), True, True),
    ):
        _on_gpu_same(a, b)
    vc, vg = _gpu_pair(cp, X.astype(np.float32))
    for a, b in zip(S.histogram(vg, 4), S.histogram(vc, 4)):
        _on_gpu_same(a, b, rtol=1e-6)


def test_second_derivatives_match_torch():
    # create_graph=True through the ops with a backward_graph, against torch's double backward
    def both(fp, ft, *arrays):
        ps = [pydlk.tensor(a, requires_grad=True) for a in arrays]
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        gp = pydlk.autograd.grad(fp(*ps).pow(2).sum(), ps, create_graph=True)
        gt = torch.autograd.grad(ft(*ts).pow(2).sum(), ts, create_graph=True)
        for a, b in zip(gp, gt):
            _same(a, b)
        sum(g.sum() for g in gp).backward()
        sum(g.sum() for g in gt).backward()
        for p, t in zip(ps, ts):
            _same(p.grad, t.grad, rtol=1e-6, atol=1e-9)

    for name in ("fmod", "fmax", "fmin", "copysign", "logaddexp", "logaddexp2"):
        both(getattr(M, name), getattr(torch, name), X * 3, Y)
    both(lambda t: M.logaddexp(t, 0.5 * t), lambda t: torch.logaddexp(t, 0.5 * t), X)
    both(lambda t: M.frexp(t).mantissa, lambda t: torch.frexp(t).mantissa, X * 9)
    both(lambda t: SP.polygamma(2, t), lambda t: torch.polygamma(2, t), np.abs(X) + 0.5)
    both(SP.i0, torch.i0, np.append(X, 0.0))
    with pytest.raises(RuntimeError, match="double backward.*logcumsumexp"):
        x = pydlk.tensor(X, requires_grad=True)
        pydlk.autograd.grad(S.logcumsumexp(x, 1).sum(), x, create_graph=True)
