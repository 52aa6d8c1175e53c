"""Newton, Newton-CG and BFGS (pydlk/optim/newton.py) against closed forms and scipy."""

import numpy as np
import pytest

import pydlk
import pydlk.functional as F
from pydlk.optim import BFGS, LBFGS, Newton

rng = np.random.default_rng(1)


def test_newton_solves_a_convex_quadratic_in_one_step():
    M = rng.standard_normal((5, 5))
    A = M @ M.T + 5 * np.eye(5)
    b = rng.standard_normal(5)
    x = pydlk.tensor(np.zeros(5), requires_grad=True)
    At, bt = pydlk.tensor(A), pydlk.tensor(b)
    opt = Newton([x], line_search_fn=None)  # the pure Newton step, t = 1
    opt.step(lambda: 0.5 * (x @ (At @ x)) - bt @ x)
    np.testing.assert_allclose(np.asarray(x.detach()), np.linalg.solve(A, b), rtol=1e-12)


def _logreg_data():
    X = rng.standard_normal((80, 4))
    y = (X @ np.array([1.5, -2.0, 0.5, 0.0]) + 0.8 * rng.standard_normal(80) > 0).astype(float)
    return X, y


def _numpy_newton(X, y, lam):
    """Reference: float64 Newton on mean logistic loss + lam/2 |w|^2 (closed-form H)."""
    w = np.zeros(X.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-X @ w))
        g = X.T @ (p - y) / len(y) + lam * w
        H = X.T @ (X * (p * (1 - p))[:, None]) / len(y) + lam * np.eye(len(w))
        w -= np.linalg.solve(H, g)
    return w


@pytest.mark.parametrize("hessian", ["exact", "cg"])
@pytest.mark.parametrize("line_search_fn", ["strong_wolfe", "backtracking"])
def test_newton_logistic_regression_matches_reference(hessian, line_search_fn):
    X, y = _logreg_data()
    lam = 1e-2
    Xt, yt = pydlk.tensor(X), pydlk.tensor(y)
    w = pydlk.tensor(np.zeros(4), requires_grad=True)

    def closure():
        z = Xt @ w  # mean logistic loss log(1 + e^z) - y z, plus an L2 term
        return (F.softplus(z) - yt * z).mean() + (w * w).sum() * (lam / 2)

    opt = Newton([w], hessian=hessian, line_search_fn=line_search_fn, max_iter=30)
    opt.step(closure)
    ref = _numpy_newton(X, y, lam)
    np.testing.assert_allclose(np.asarray(w.detach()), ref, atol=1e-6)
    try:  # a second reference where scipy is installed
        import scipy.optimize as scipy_opt
    except ImportError:
        return

    def f(v):
        z = X @ v
        return np.mean(np.logaddexp(0, z) - y * z) + lam / 2 * v @ v

    res = scipy_opt.minimize(f, np.zeros(4), method="BFGS", options={"gtol": 1e-10})
    np.testing.assert_allclose(np.asarray(w.detach()), res.x, atol=1e-6)


def test_bfgs_reaches_the_rosenbrock_minimum():
    x = pydlk.tensor(np.array([-1.2, 1.0]), requires_grad=True)
    opt = BFGS([x], max_iter=200)

    def closure():
        opt.zero_grad()
        loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(np.asarray(x.detach()), [1.0, 1.0], atol=1e-6)


def test_bad_arguments_name_the_optimizer_and_argument():
    w = pydlk.tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(ValueError, match="Newton: hessian must be 'exact' or 'cg'"):
        Newton([w], hessian="diag")
    with pytest.raises(ValueError, match="BFGS: line_search_fn must be"):
        BFGS([w], line_search_fn="armijo")
    with pytest.raises(ValueError, match="Newton: damping must be >= 0"):
        Newton([w], damping=-1)


def _mlp_problem(seed=3, n=40, din=4, hidden=3):
    """A small tanh MLP with a logistic loss and an L2 term, float64: non-convex (the Hessian at
    the start has a negative eigenvalue, checked in the test)."""
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, din))
    y = (np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] > 0).astype(float)
    W0, v0 = r.standard_normal((hidden, din)), r.standard_normal(hidden)
    Xt, yt = pydlk.tensor(X), pydlk.tensor(y)

    def make():
        W = pydlk.tensor(W0.copy(), requires_grad=True)
        v = pydlk.tensor(v0.copy(), requires_grad=True)

        def loss():
            z = F.tanh(F.linear(Xt, W)) @ v
            return (F.softplus(z) - yt * z).mean() + ((W * W).sum() + (v * v).sum()) * 5e-4

        return [W, v], loss

    return make


def _numpy_mlp_grad(theta, make):
    """The loss gradient by central differences of the loss (no autograd)."""
    params, loss = make()

    def f(t):
        k = 0
        for p in params:
            p._data[...] = t[k : k + p._data.size].reshape(p.shape)
            k += p._data.size
        with pydlk.no_grad():
            return float(loss())

    h = 1e-5
    return np.array([(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])


def test_newton_reaches_lbfgs_loss_on_a_non_convex_mlp():
    make = _mlp_problem()
    params, loss = make()
    theta0 = np.concatenate([np.asarray(p.detach()).ravel() for p in params])
    # the Hessian at the start, by central differences of finite-difference gradients: indefinite
    h = 1e-4
    H = np.stack(
        [
            (_numpy_mlp_grad(theta0 + h * e, make) - _numpy_mlp_grad(theta0 - h * e, make))
            / (2 * h)
            for e in np.eye(theta0.size)
        ]
    )
    assert np.linalg.eigvalsh((H + H.T) / 2).min() < -1e-3

    params, loss = make()

    def closure():
        lbfgs.zero_grad()
        out = loss()
        out.backward()
        return out

    lbfgs = LBFGS(
        params,
        max_iter=500,
        tolerance_grad=1e-12,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )
    lbfgs.step(closure)
    with pydlk.no_grad():
        target = float(loss())

    for hessian in ("exact", "cg"):
        params, loss = make()
        opt = Newton(params, hessian=hessian, max_iter=30)
        opt.step(loss)
        with pydlk.no_grad():
            got = float(loss())
        assert abs(got - target) < 1e-6, (hessian, got, target)
        theta = np.concatenate([np.asarray(p.detach()).ravel() for p in params])
        assert np.abs(_numpy_mlp_grad(theta, make)).max() < 1e-6
        # with the damping held fixed, the indefinite start sends both elsewhere
        params, loss = make()
        Newton(params, hessian=hessian, max_iter=30, adapt_damping=False).step(loss)
        with pydlk.no_grad():
            assert float(loss()) > target + 1e-3


@pytest.mark.parametrize("hessian", ["exact", "cg"])
def test_newton_damping_adapts(hessian):
    """lambda rises while the Hessian is indefinite or the model poor, then falls geometrically
    near the minimum (a fixed lambda fails both checks)."""
    params, loss = _mlp_problem()()
    opt = Newton(params, hessian=hessian, damping=1e-4)
    trace = []
    for _ in range(30):
        opt.step(loss)
        trace.append(opt.damping)
    assert max(trace) > 1e-2  # raised at least a hundredfold from the start
    assert trace[-1] < max(trace) * 1e-3  # and lowered once the Newton model is good
