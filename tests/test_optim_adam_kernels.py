"""The fused Adamax, NAdam and RAdam kernels (``_C.adamax_step``, ``nadam_step``,
``radam_step``) against NumPy transcriptions of torch.optim's single-tensor formulas, float64
and float32, every flag; argument errors. The optimisers built on them are checked against
torch itself in tests/test_adam_variants.py."""

import math

import numpy as np
import pytest

from pydlk import _C


def _gprime(p, g, wd, l1, maximize):
    return (-g if maximize else g) + wd * p + l1 * np.sign(p)


def ref_adamax(p, m, u, g, lr, b1, b2, eps, wd, l1, step, maximize):
    gi = _gprime(p, g, wd, l1, maximize)
    m = m + (1 - b1) * (gi - m)
    u = np.maximum(b2 * u, np.abs(gi) + eps)
    return p - lr / (1 - b1**step) * (m / u), m, u


def ref_nadam(p, m, v, g, lr, b1, b2, eps, wd, l1, mu, mu_next, prod, step, decoupled, maximize):
    if decoupled:
        p = p * (1 - lr * wd)
    gi = _gprime(p, g, 0.0 if decoupled else wd, l1, maximize)
    m = m + (1 - b1) * (gi - m)
    v = b2 * v + (1 - b2) * gi * gi
    d = np.sqrt(v / (1 - b2**step)) + eps
    p = p - lr * (1 - mu) / (1 - prod) * (gi / d)
    p = p - lr * mu_next / (1 - prod * mu_next) * (m / d)
    return p, m, v


def ref_radam(p, m, v, g, lr, b1, b2, eps, wd, l1, step, decoupled, maximize):
    if decoupled:
        p = p * (1 - lr * wd)
    gi = _gprime(p, g, 0.0 if decoupled else wd, l1, maximize)
    m = m + (1 - b1) * (gi - m)
    v = b2 * v + (1 - b2) * gi * gi
    bc1, bc2 = 1 - b1**step, 1 - b2**step
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * step * b2**step / bc2
    if rho_t > 5:
        r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        return p - (m / bc1) * lr * (math.sqrt(bc2) / (np.sqrt(v) + eps)) * r, m, v
    return p - (m / bc1) * lr, m, v


def _arrays(rng, dtype, n=257):
    p, g = rng.standard_normal(n), rng.standard_normal(n)
    p[::17] = 0.0  # sign(0) = 0 for the L1 term
    m, v = 0.1 * rng.standard_normal(n), rng.uniform(0.1, 1.0, n)
    return [a.astype(dtype) for a in (p, m, v, g)]


def _run(kernel, ref, dtype, steps, hyper, flags):
    rng = np.random.default_rng(0)
    p, m, v, g = _arrays(rng, dtype)
    rp, rm, rv = (a.astype(np.float64) for a in (p, m, v))
    tol = dict(rtol=1e-12, atol=1e-13) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    for step in range(1, steps + 1):
        g = rng.standard_normal(p.size).astype(dtype)
        extra = flags(step) if callable(flags) else flags
        kernel(p, m, v, g, *hyper, step=step, **extra)
        rp, rm, rv = ref(rp, rm, rv, g.astype(np.float64), *hyper, step=step, **extra)
        np.testing.assert_allclose(p, rp, **tol)
        np.testing.assert_allclose(m, rm, **tol)
        np.testing.assert_allclose(v, rv, **tol)


def _kw_adamax(ref):
    def call(p, m, u, g, lr, b1, b2, eps, wd, l1, step, maximize=False):
        return ref(p, m, u, g, lr, b1, b2, eps, wd, l1, step, maximize)

    return call


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("wd,l1", [(0.0, 0.0), (0.1, 0.01)])
def test_adamax_step_matches_the_formula(dtype, maximize, wd, l1):
    _run(
        _C.adamax_step,
        _kw_adamax(ref_adamax),
        dtype,
        6,
        (0.01, 0.8, 0.99, 1e-8, wd, l1),
        dict(maximize=maximize),
    )


def _mu(b1, psi, t):
    return b1 * (1.0 - 0.5 * 0.96 ** (t * psi))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("decoupled,maximize", [(False, False), (True, True), (False, True)])
def test_nadam_step_matches_the_formula(dtype, decoupled, maximize):
    b1, psi = 0.9, 4e-3

    def flags(t):
        prod = math.prod(_mu(b1, psi, k) for k in range(1, t + 1))
        return dict(
            mu=_mu(b1, psi, t),
            mu_next=_mu(b1, psi, t + 1),
            mu_product=prod,
            decoupled=decoupled,
            maximize=maximize,
        )

    def ref(p, m, v, g, lr, b1, b2, eps, wd, l1, step, mu, mu_next, mu_product, **f):
        return ref_nadam(p, m, v, g, lr, b1, b2, eps, wd, l1, mu, mu_next, mu_product, step, **f)

    _run(_C.nadam_step, ref, dtype, 6, (0.01, b1, 0.999, 1e-8, 0.05, 0.01), flags)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("decoupled,maximize", [(False, False), (True, True), (False, True)])
def test_radam_step_matches_the_formula_both_sides_of_the_threshold(dtype, decoupled, maximize):
    def ref(p, m, v, g, lr, b1, b2, eps, wd, l1, step, **f):
        return ref_radam(p, m, v, g, lr, b1, b2, eps, wd, l1, step, **f)

    # beta2 = 0.999: rho_t <= 5 for the first five steps, the rectified step from the sixth
    _run(
        _C.radam_step,
        ref,
        dtype,
        9,
        (0.01, 0.9, 0.999, 1e-8, 0.05, 0.01),
        dict(decoupled=decoupled, maximize=maximize),
    )


def _args(dtype=np.float32, n=8):
    return [np.zeros(n, dtype) for _ in range(4)]


@pytest.mark.parametrize("name", ["adamax_step", "nadam_step", "radam_step"])
def test_arguments_are_checked(name):
    k = getattr(_C, name)
    p, m, v, g = _args()
    extra = dict(mu_product=0.5) if name == "nadam_step" else {}
    with pytest.raises(ValueError, match=f"{name}: beta1 must be in \\[0, 1\\)"):
        k(p, m, v, g, 0.1, 1.0, 0.9, 1e-8, **extra)
    with pytest.raises(ValueError, match=f"{name}: beta2 must be in \\[0, 1\\)"):
        k(p, m, v, g, 0.1, 0.9, -0.5, 1e-8, **extra)
    with pytest.raises(ValueError, match=f"{name}: lr must be finite"):
        k(p, m, v, g, float("nan"), 0.9, 0.9, 1e-8, **extra)
    with pytest.raises(ValueError, match=f"{name}: step"):
        k(p, m, v, g, 0.1, 0.9, 0.9, 1e-8, step=0, **extra)
    with pytest.raises(ValueError, match=f"{name}: grad has 7 elements, param has 8"):
        k(p, m, v, g[:7], 0.1, 0.9, 0.9, 1e-8, **extra)
    with pytest.raises((TypeError, ValueError), match=name):
        k(p, m.astype(np.float64), v, g, 0.1, 0.9, 0.9, 1e-8, **extra)
    ro = p.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=f"{name}: param must be writable"):
        k(ro, m, v, g, 0.1, 0.9, 0.9, 1e-8, **extra)
    with pytest.raises((TypeError, ValueError), match=name):
        k(p.astype(np.int32), m, v, g, 0.1, 0.9, 0.9, 1e-8, **extra)


def test_nadam_step_refuses_a_product_that_would_divide_by_zero():
    p, m, v, g = _args()
    with pytest.raises(ValueError, match="nadam_step: mu_product must be < 1"):
        _C.nadam_step(p, m, v, g, 0.1, 0.9, 0.9, 1e-8, mu=0.5, mu_next=0.5, mu_product=1.0)
