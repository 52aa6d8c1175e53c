"""erf, erfc, erfinv, lgamma, digamma (and trigamma, digamma's gradient): the kernel
``_C.special_function`` against Python's math module and textbook identities, the ops against
torch 2.13 (values, gradients, torch.special names, Normal.cdf/icdf), float64 gradcheck and
gradgradcheck, edge values, errors, and the GPU kernel against the CPU's."""

import math

import numpy as np
import pytest

import pydlk
from pydlk import _C
from pydlk.gradcheck import gradcheck, gradgradcheck

EULER_GAMMA = 0.57721566490153286061


def _vec(f):
    return np.vectorize(f, otypes=[np.float64])


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ------------------------------------------------------------------ the kernel, float64
def test_erf_erfc_lgamma_match_pythons_math_module(rng):
    x = np.concatenate([rng.uniform(-6, 6, 2000), [0.0, -0.0, 1e-300, 27.0, -27.0]])
    np.testing.assert_allclose(_C.special_function(x, "erf"), _vec(math.erf)(x), rtol=1e-15)
    np.testing.assert_allclose(_C.special_function(x, "erfc"), _vec(math.erfc)(x), rtol=1e-15)
    y = rng.uniform(-20, 30, 2000)
    y = y[np.abs(y - np.round(y)) > 1e-6]  # away from the poles at 0, -1, -2, ...
    np.testing.assert_allclose(
        _C.special_function(y, "lgamma"), _vec(math.lgamma)(y), rtol=1e-13, atol=1e-13
    )


def test_erfinv_inverts_erf(rng):
    x = np.concatenate([rng.uniform(-1, 1, 3000), 1 - np.logspace(-16, -1, 40), [0.0, 1e-300]])
    y = _C.special_function(x, "erfinv")
    # tails: compare erfc(y) with 1 - x (exact there), else erf(y) with x
    tail = np.abs(x) > 0.5
    np.testing.assert_allclose(_vec(math.erf)(y[~tail]), x[~tail], rtol=5e-16, atol=1e-300)
    # d erfc(y) / erfc(y) ~ -2 y dy: an error of 2 ulp in y moves erfc by (2 y^2 + 1) 4.4e-16
    yt, at = np.abs(y[tail]), np.abs(x[tail])
    rel = np.abs(_vec(math.erfc)(yt) - (1 - at)) / (1 - at)
    assert np.all(rel <= (2 * yt * yt + 1) * 4.5e-16), rel.max()
    # known values: erfinv(erf(1)) = 1; erfinv(0.5) = 0.4769362762044699 (A&S)
    assert _C.special_function(np.array([math.erf(1.0)]), "erfinv")[0] == pytest.approx(1.0, 1e-15)
    np.testing.assert_allclose(
        _C.special_function(np.array([0.5, -0.5]), "erfinv"),
        [0.4769362762044699, -0.4769362762044699],
        rtol=1e-15,
    )


def test_digamma_and_trigamma_by_identities(rng):
    n = np.arange(1, 30, dtype=np.float64)
    harmonic = np.concatenate([[0.0], np.cumsum(1 / n[:-1])])
    np.testing.assert_allclose(
        _C.special_function(n, "digamma"), harmonic - EULER_GAMMA, rtol=1e-14
    )
    x = rng.uniform(-15, 25, 3000)
    x = x[np.abs(x - np.round(x)) > 1e-3]
    psi = _C.special_function(x, "digamma")
    # recurrence psi(x + 1) = psi(x) + 1/x, and the derivative of Python's lgamma
    np.testing.assert_allclose(
        _C.special_function(x + 1, "digamma"), psi + 1 / x, rtol=1e-11, atol=1e-11
    )
    h, xf = 1e-5, x[x > 0.5]  # away from the poles, where the differences lose their accuracy
    fd = (_vec(math.lgamma)(xf + h) - _vec(math.lgamma)(xf - h)) / (2 * h)
    np.testing.assert_allclose(psi[x > 0.5], fd, rtol=1e-8, atol=1e-9)
    # trigamma: the series sum 1/(x+k)^2 with its integral tail, for x > 0
    xp = rng.uniform(0.05, 40, 200)
    k = np.arange(20000)[:, None]
    K = 20000 + xp
    series = (1 / (xp + k) ** 2).sum(0) + 1 / K + 0.5 / K**2 + 1 / (6 * K**3)
    np.testing.assert_allclose(_C.special_function(xp, "trigamma"), series, rtol=1e-12)
    # reflection: psi1(1 - x) + psi1(x) = pi^2 / sin^2(pi x)
    xr = rng.uniform(0.05, 0.95, 100)
    np.testing.assert_allclose(
        _C.special_function(1 - xr, "trigamma") + _C.special_function(xr, "trigamma"),
        (math.pi / np.sin(math.pi * xr)) ** 2,
        rtol=1e-12,
    )


def test_edge_values():
    f = _C.special_function
    nan, inf = float("nan"), float("inf")
    x = np.array([nan, inf, -inf])
    np.testing.assert_array_equal(f(x, "erf"), [nan, 1.0, -1.0])
    np.testing.assert_array_equal(f(x, "erfc"), [nan, 0.0, 2.0])
    np.testing.assert_array_equal(
        f(np.array([1.0, -1.0, 1.5, -2.0, nan]), "erfinv"), [inf, -inf, nan, nan, nan]
    )
    np.testing.assert_array_equal(
        f(np.array([0.0, -1.0, -2.0, 1.0, 2.0, inf]), "lgamma"), [inf, inf, inf, 0.0, 0.0, inf]
    )
    np.testing.assert_array_equal(
        f(np.array([0.0, -1.0, -7.0, inf, nan]), "digamma"), [-inf, nan, nan, inf, nan]
    )
    np.testing.assert_array_equal(f(np.array([0.0, -3.0, inf]), "trigamma"), [inf, inf, 0.0])


def test_float32_is_within_a_few_ulp_of_the_double_result(rng):
    near = np.concatenate([rng.uniform(-0.99, 0.99, 5000), 1 - np.logspace(-7, -1, 50)])
    wide = np.concatenate([near, rng.uniform(-9, 9, 5000), np.linspace(-1e-3, 1e-3, 101)])
    # erf, erfc, erfinv: vectorised (csrc/vmath.h; erfinv: Giles + a Newton step); lgamma:
    # and digamma vectorised for x > 1e-30, lgammaf_r or the float64 series for the rest
    for name, ulps, x in (
        ("erf", 3, wide),
        ("erfc", 7, wide),
        ("erfinv", 4, near),
        ("lgamma", 5, near),
        ("digamma", 3, near),
    ):
        x = x.astype(np.float32)
        got = _C.special_function(x, name)
        assert got.dtype == np.float32
        want = _C.special_function(x.astype(np.float64), name)
        ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
        err = np.abs(got - want) / ulp
        assert np.nanmax(err) <= ulps, (name, np.nanmax(err))


def test_float32_lgamma_over_its_whole_range(rng):
    # the vectorised float32 lgamma (csrc/special.cpp): a polynomial times f = x - round(x)
    # below 7.5, so that it stays relative near the zeros x = 1 and x = 2; Stirling above;
    # the C library for x <= 1e-30, negative x, inf and NaN
    x = np.concatenate(
        [
            rng.uniform(1e-6, 10, 20000),
            np.logspace(-29, 36, 2000),
            1 + np.linspace(-0.5, 0.5, 2001),
            2 + np.linspace(-0.5, 0.5, 2001),
            7.5 + np.linspace(-1e-3, 1e-3, 101),
            np.arange(1, 40) + 0.5,
        ]
    ).astype(np.float32)
    got = _C.special_function(x, "lgamma")
    want = _vec(math.lgamma)(x.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - want) / ulp) <= 3
    np.testing.assert_array_equal(_C.special_function(np.float32([1, 2]), "lgamma"), [0, 0])
    edge = np.float32([1e-31, 1e-45, 0, -0.5, -2.5, np.inf, -np.inf, np.nan, 3.4e38])
    want = [math.lgamma(v) if np.isfinite(v) and v not in (0,) else np.nan for v in edge]
    want[2], want[5], want[6], want[8] = np.inf, np.inf, np.inf, np.inf
    got = _C.special_function(edge, "lgamma")
    np.testing.assert_allclose(got, np.float32(want), rtol=3e-7)
    y = x.copy()  # in place: each block's fix-up reads x before it is overwritten
    _C.special_function(y, "lgamma", out=y)
    np.testing.assert_array_equal(y, _C.special_function(x, "lgamma"))


def test_float32_digamma_over_its_whole_range(rng):
    # vectorised (csrc/special.cpp): (y - x0) q(y - 1) on [1, 2) around the zero x0, the
    # recurrence to reach it from below 6, the asymptotic series above
    x0 = 1.4616321449683623
    x = np.concatenate(
        [
            rng.uniform(1e-6, 12, 20000),
            np.logspace(-29, 38, 2000),
            x0 + np.linspace(-0.01, 0.01, 2001),
            6 + np.linspace(-1e-3, 1e-3, 101),
            np.arange(1, 12),
        ]
    ).astype(np.float32)
    x = np.concatenate([x, np.nextafter(np.float32(x0), np.float32([0, 3]))])
    got = _C.special_function(x, "digamma")
    want = _C.special_function(x.astype(np.float64), "digamma")  # the double series
    harmonic = [-0.5772156649015329 + sum(1 / k for k in range(1, n)) for n in range(1, 12)]
    np.testing.assert_allclose(want[-13:-2], harmonic, rtol=1e-14)  # psi(n) = -gamma + H(n-1)
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - want) / ulp) <= 3
    edge = np.float32([1e-31, 0, -0.5, -2, np.inf, np.nan])
    got = _C.special_function(edge, "digamma")
    np.testing.assert_allclose(
        got[:4], np.float32([-1e31 - 0.5772157, -np.inf, 0.03648998, np.nan]), rtol=1e-6
    )
    assert got[4] == np.inf and np.isnan(got[5])


def test_out_and_in_place(rng):
    x = rng.uniform(-2, 2, 100)
    want = _vec(math.erf)(x)
    out = np.empty_like(x)
    assert _C.special_function(x, "erf", out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-15)
    _C.special_function(x, "erf", out=x)
    np.testing.assert_allclose(x, want, rtol=1e-15)


def test_kernel_errors():
    x = np.zeros(4)
    with pytest.raises(ValueError, match="special_function: function must be one of .*got 'gamma'"):
        _C.special_function(x, "gamma")
    with pytest.raises(TypeError, match="special_function: input must be a C-contiguous float32"):
        _C.special_function(np.zeros(4, np.int64), "erf")
    with pytest.raises(TypeError, match="special_function: input .*not C-contiguous"):
        _C.special_function(np.zeros((4, 4))[:, ::2], "erf")
    with pytest.raises((TypeError, ValueError), match="special_function: out"):
        _C.special_function(x, "erf", out=np.zeros(3))
    with pytest.raises((TypeError, ValueError), match="special_function: out"):
        _C.special_function(x, "erf", out=np.zeros(4, np.float32))


# ------------------------------------------------------------------- the ops, vs torch
torch = pytest.importorskip("torch")

OPS = ["erf", "erfc", "erfinv", "lgamma", "digamma"]


def _domain(name, rng, n=64):
    if name == "erfinv":
        return rng.uniform(-0.95, 0.95, n)
    if name in ("lgamma", "digamma"):
        return rng.uniform(0.1, 8, n)
    return rng.uniform(-3, 3, n)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_ops_match_torch_values_and_gradients(name, dtype, rtol, rng):
    a = _domain(name, rng).astype(dtype)
    x = pydlk.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y, ty = getattr(pydlk, name)(x), getattr(torch, name)(t)
    assert y.dtype == pydlk.float64 if dtype == np.float64 else y.dtype == pydlk.float32
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=rtol)
    g = rng.standard_normal(a.shape).astype(dtype)
    y.backward(pydlk.tensor(g))
    ty.backward(torch.tensor(g))
    # torch's trigamma (digamma's gradient) stops its series early: about 1e-9 relative
    np.testing.assert_allclose(
        x.grad.numpy(), t.grad.numpy(), rtol=max(rtol, 1e-8 if name == "digamma" else 0), atol=rtol
    )
    # the Tensor method and torch.special's names
    np.testing.assert_allclose(getattr(x, name)().detach().numpy(), y.detach().numpy(), rtol=0)


def test_torch_special_names(rng):
    a = rng.uniform(-3, 3, 50)
    x, t = pydlk.tensor(a), torch.tensor(a)
    for ours, theirs in [
        ("erf", "erf"), ("erfc", "erfc"), ("expm1", "expm1"), ("ndtr", "ndtr"), ("expit", "expit"),
        ("log1p", None),
    ]:  # fmt: skip
        if theirs is None:
            continue
        np.testing.assert_allclose(
            getattr(pydlk.special, ours)(x).numpy(),
            getattr(torch.special, theirs)(t).numpy(),
            rtol=1e-13,
        )
    p = rng.uniform(0.1, 5, 50)
    np.testing.assert_allclose(
        pydlk.special.gammaln(pydlk.tensor(p)).numpy(),
        torch.special.gammaln(torch.tensor(p)).numpy(),
        rtol=1e-13,
    )
    np.testing.assert_allclose(
        pydlk.special.psi(pydlk.tensor(p)).numpy(),
        torch.special.psi(torch.tensor(p)).numpy(),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        pydlk.special.erfinv(pydlk.tensor(a / 4)).numpy(),
        torch.special.erfinv(torch.tensor(a / 4)).numpy(),
        rtol=1e-14,
    )
    m = rng.standard_normal((3, 4))
    np.testing.assert_allclose(
        pydlk.special.softmax(pydlk.tensor(m), 1).numpy(),
        torch.special.softmax(torch.tensor(m), 1).numpy(),
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        pydlk.special.log_softmax(pydlk.tensor(m), 0).numpy(),
        torch.special.log_softmax(torch.tensor(m), 0).numpy(),
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        pydlk.special.logsumexp(pydlk.tensor(m), 1).numpy(),
        torch.special.logsumexp(torch.tensor(m), 1).numpy(),
        rtol=1e-14,
    )
    # the lower tail: ndtr through erfc keeps its relative precision (torch 2.13 gives 0 at
    # -30 and -10 in float64; the textbook value is erfc(-z / sqrt 2) / 2)
    z = np.array([-30.0, -10.0, -3.0])
    np.testing.assert_allclose(
        pydlk.special.ndtr(pydlk.tensor(z)).numpy(),
        0.5 * _vec(math.erfc)(-z / math.sqrt(2)),
        rtol=1e-13,
    )
    z = np.array([-3.0, -1.0, 2.5])
    np.testing.assert_allclose(
        pydlk.special.ndtr(pydlk.tensor(z)).numpy(),
        torch.special.ndtr(torch.tensor(z)).numpy(),
        rtol=1e-13,
    )


def test_integer_input_gives_float32_and_edges_match_torch():
    for name in OPS:
        r = getattr(pydlk, name)(pydlk.tensor([0, 1, 2]))
        tr = getattr(torch, name)(torch.tensor([0, 1, 2]))
        assert r.dtype == pydlk.float32 and tr.dtype == torch.float32
        np.testing.assert_allclose(r.numpy(), tr.numpy(), rtol=1e-6)
    e = np.array([-1.0, 1.0, 1.5, float("nan"), 0.0])
    np.testing.assert_array_equal(
        pydlk.erfinv(pydlk.tensor(e)).numpy(), torch.erfinv(torch.tensor(e)).numpy()
    )


@pytest.mark.parametrize("name", ["erf", "erfc", "erfinv"])
def test_gradcheck_and_gradgradcheck(name, rng):
    x = pydlk.tensor(_domain(name, rng, 6), requires_grad=True)
    f = getattr(pydlk, name)
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


def test_second_derivative_matches_torch(rng):
    a = rng.uniform(-0.9, 0.9, 7)
    for name in ("erf", "erfc", "erfinv"):
        x = pydlk.tensor(a, requires_grad=True)
        t = torch.tensor(a, requires_grad=True)
        (g,) = pydlk.autograd.grad(getattr(pydlk, name)(x).sum(), x, create_graph=True)
        (tg,) = torch.autograd.grad(getattr(torch, name)(t).sum(), t, create_graph=True)
        (gg,) = pydlk.autograd.grad(g.sum(), x)
        (tgg,) = torch.autograd.grad(tg.sum(), t)
        np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-12)


def test_normal_cdf_and_icdf_match_torch(rng):
    loc, scale = rng.standard_normal(5), rng.uniform(0.5, 2, 5)
    v, p = rng.standard_normal(5), rng.uniform(0.01, 0.99, 5)
    ours = pydlk.distributions.Normal(
        pydlk.tensor(loc, requires_grad=True), pydlk.tensor(scale, requires_grad=True)
    )
    theirs = torch.distributions.Normal(
        torch.tensor(loc, requires_grad=True), torch.tensor(scale, requires_grad=True)
    )
    c, tc = ours.cdf(pydlk.tensor(v)), theirs.cdf(torch.tensor(v))
    np.testing.assert_allclose(c.detach().numpy(), tc.detach().numpy(), rtol=1e-14)
    q, tq = ours.icdf(pydlk.tensor(p)), theirs.icdf(torch.tensor(p))
    np.testing.assert_allclose(q.detach().numpy(), tq.detach().numpy(), rtol=1e-13)
    (c.sum() + q.sum()).backward()
    (tc.sum() + tq.sum()).backward()
    np.testing.assert_allclose(ours.loc.grad.numpy(), theirs.loc.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.scale.grad.numpy(), theirs.scale.grad.numpy(), rtol=1e-12)
    # icdf inverts cdf; scalar parameters
    std = pydlk.distributions.Normal(0.0, 1.0)
    np.testing.assert_allclose(std.cdf(std.icdf(pydlk.tensor(p))).numpy(), p, rtol=1e-14)
    assert float(std.cdf(pydlk.tensor(0.0))) == 0.5


# --------------------------------------------------------------------------- the GPU
def test_gpu_special_function_matches_the_cpu(rng):
    from _gpu_helpers import cupy_or_skip, host

    cp = cupy_or_skip()
    from pydlk import _cuda

    for dtype in (np.float32, np.float64):
        for name in ("erf", "erfc", "erfinv", "lgamma", "digamma", "trigamma"):
            a = _domain(name if name != "trigamma" else "digamma", rng, 300).astype(dtype)
            a[:3] = [0.0, np.nan, -2.0] if name != "erfinv" else [1.0, -1.0, np.nan]
            got = host(_cuda.special_function(cp.asarray(a), name))
            want = _C.special_function(a, name)
            np.testing.assert_allclose(
                got, want, rtol=2e-15 if dtype == np.float64 else 6e-7, atol=1e-15
            )
    x = pydlk.tensor(rng.uniform(-0.9, 0.9, 20), requires_grad=True)
    xg = x.detach().to("cuda").requires_grad_()
    for name in OPS:
        y, yg = getattr(pydlk, name)(x), getattr(pydlk, name)(xg)
        assert str(yg.device) == "cuda:0"
        np.testing.assert_allclose(host(yg), y.detach().numpy(), rtol=1e-14)
    with pytest.raises(ValueError, match="special_function: function must be one of"):
        _cuda.special_function(cp.zeros(3), "gamma")


@pytest.mark.parametrize("name", OPS)
def test_zero_dimensional_input_keeps_its_shape(name):
    # the kernel wants a C-contiguous array, and NumPy's ascontiguousarray makes a 0-d one 1-d
    x = 0.5
    p = pydlk.tensor(x, dtype=pydlk.float64, requires_grad=True)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yp, yt = getattr(pydlk, name)(p), getattr(torch, name)(t)
    assert tuple(yp.shape) == tuple(yt.shape) == ()
    np.testing.assert_allclose(yp.item(), yt.item(), rtol=1e-14)
    yp.backward()
    yt.backward()
    assert tuple(p.grad.shape) == ()
    # torch's trigamma (digamma's derivative) is within 3e-10 here; pydlk's is pi^2 / 2
    np.testing.assert_allclose(p.grad.item(), t.grad.item(), rtol=1e-9)
    if name == "digamma":
        np.testing.assert_allclose(p.grad.item(), math.pi**2 / 2, rtol=1e-15)
