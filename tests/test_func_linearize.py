"""torch.func.linearize and functionalize against torch 2.13 and central differences."""

import numpy as np
import pytest

import pydlk
from pydlk.func import functionalize, jvp, linearize


def _f(lib):
    def f(x, w):
        return (x @ w).tanh() * x.sum(), (w * w).sum()

    return f


# torch's linearize traces f with make_fx, which warns about its own graph internals
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:Attempted to insert a get_attr Node:UserWarning")
def test_linearize_matches_torch_jvp_and_finite_differences(rng):
    torch = pytest.importorskip("torch")
    xv, wv = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    calls = []

    def counted(x, w):
        calls.append(1)
        return _f(pydlk)(x, w)

    (y, s), jvp_fn = linearize(counted, pydlk.tensor(xv), pydlk.tensor(wv))
    assert not y.requires_grad
    (ty, ts), tjvp = torch.func.linearize(_f(torch), torch.tensor(xv), torch.tensor(wv))
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)
    for _ in range(3):  # several tangents, one run of f
        tx, tw = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
        dy, ds = jvp_fn(pydlk.tensor(tx), pydlk.tensor(tw))
        tdy, tds = tjvp(torch.tensor(tx), torch.tensor(tw))
        np.testing.assert_allclose(dy.numpy(), tdy.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(float(ds), float(tds), rtol=1e-10)

        # central differences of the NumPy function
        def f_np(x, w):
            return np.tanh(x @ w) * x.sum()

        h = 1e-6
        fd = (f_np(xv + h * tx, wv + h * tw) - f_np(xv - h * tx, wv - h * tw)) / (2 * h)
        np.testing.assert_allclose(dy.numpy(), fd, rtol=1e-6, atol=1e-8)
        _, (jy, _) = jvp(_f(pydlk), (pydlk.tensor(xv), pydlk.tensor(wv)),
                         (pydlk.tensor(tx), pydlk.tensor(tw)))  # fmt: skip
        np.testing.assert_allclose(dy.numpy(), jy.numpy(), rtol=1e-12)
    assert len(calls) == 1


def test_linearize_bad_tangents_raise(rng):
    _, jvp_fn = linearize(lambda x: x.exp(), pydlk.ones(3))
    with pytest.raises(RuntimeError, match=r"Expected a tangent of shape \(3,\), got \(2,\)"):
        jvp_fn(pydlk.ones(2))
    with pytest.raises(RuntimeError, match="same structure as the primals"):
        jvp_fn(pydlk.ones(3), pydlk.ones(3))
    with pytest.raises(RuntimeError, match="Expected primals to be Tensors"):
        linearize(lambda x: x, [1.0])


def test_functionalize_runs_the_function_with_the_same_results():
    torch = pytest.importorskip("torch")

    def f(lib):
        def g(x):
            y = x.clone()
            y.add_(1)
            return y.view(-1) * 2

        return g

    x = np.arange(6.0).reshape(2, 3)
    mine = functionalize(f(pydlk))(pydlk.tensor(x))
    theirs = torch.func.functionalize(f(torch))(torch.tensor(x))
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert functionalize(f(pydlk)).__name__ == "g"
    with pytest.raises(RuntimeError, match="invalid argument for remove=views"):
        functionalize(f(pydlk), remove="views")
