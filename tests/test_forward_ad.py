"""pydlk.autograd.forward_ad (torch.autograd.forward_ad): tangents of results against torch 2.13's
forward AD on the same functions and against central finite differences in float64, the level
rules and the errors. (torch's forward AD scripts a helper on first use, which warns that
torch.jit.script is deprecated: those tests ignore that warning.)"""

import numpy as np
import pydlk.autograd.forward_ad as fwAD
import pytest

import pydlk


def _f(lib, W, b):
    def f(x):
        return (W @ x.sin() + b).tanh() * x.exp().sum()

    return f


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_tangent_matches_torch_and_finite_differences(rng):
    torch = pytest.importorskip("torch")
    xv, tv = rng.standard_normal(4), rng.standard_normal(4)
    Wv, bv = rng.standard_normal((3, 4)), rng.standard_normal(3)
    with fwAD.dual_level():
        d = fwAD.make_dual(pydlk.tensor(xv), pydlk.tensor(tv))
        y = _f(pydlk, pydlk.tensor(Wv), pydlk.tensor(bv))(d)
        primal, tangent = fwAD.unpack_dual(y)
    assert primal is y
    T = torch.autograd.forward_ad
    with T.dual_level():
        td = T.make_dual(torch.tensor(xv), torch.tensor(tv))
        ty = _f(torch, torch.tensor(Wv), torch.tensor(bv))(td)
        want = T.unpack_dual(ty).tangent.numpy()
    np.testing.assert_allclose(tangent.numpy(), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(primal.detach().numpy(), T.unpack_dual(ty).primal.numpy())

    # J t by central differences of the same function in NumPy
    def f_np(x):
        return np.tanh(Wv @ np.sin(x) + bv) * np.exp(x).sum()

    h = 1e-6
    fd = (f_np(xv + h * tv) - f_np(xv - h * tv)) / (2 * h)
    np.testing.assert_allclose(tangent.numpy(), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_module_jvp_with_two_duals_matches_torch(rng):
    torch = pytest.importorskip("torch")
    tm = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    pm = pydlk.nn.Sequential(pydlk.nn.Linear(5, 4), pydlk.nn.Tanh(), pydlk.nn.Linear(4, 2)).double()
    pm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    av, bv = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    ta, tb = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    with fwAD.dual_level():
        a = fwAD.make_dual(pydlk.tensor(av), pydlk.tensor(ta))
        b = fwAD.make_dual(pydlk.tensor(bv), pydlk.tensor(tb))
        mine = fwAD.unpack_dual(pm(a) * pm(b).sigmoid()).tangent.numpy()
    T = torch.autograd.forward_ad
    with T.dual_level():
        a = T.make_dual(torch.tensor(av), torch.tensor(ta))
        b = T.make_dual(torch.tensor(bv), torch.tensor(tb))
        theirs = T.unpack_dual(tm(a) * tm(b).sigmoid()).tangent.detach().numpy()
    np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


def test_reverse_mode_still_reaches_a_tensor_that_requires_grad(rng):
    x = pydlk.tensor(rng.standard_normal(3), requires_grad=True)
    t = pydlk.tensor(rng.standard_normal(3))
    with fwAD.dual_level():
        d = fwAD.make_dual(x, t)
        y = (d * d).sum()
        tangent = fwAD.unpack_dual(y).tangent
        y.backward()
    xv, tv = x.detach().numpy(), t.numpy()
    np.testing.assert_allclose(float(tangent), 2 * (xv * tv).sum(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), 2 * xv, rtol=1e-6)


def test_duals_results_independent_tensors_and_levels():
    x, t = pydlk.tensor([1.0, 2.0]), pydlk.tensor([3.0, 4.0])
    other = pydlk.tensor([5.0, 6.0])
    assert fwAD.unpack_dual(x).tangent is None  # no level
    with fwAD.dual_level() as level:
        assert isinstance(level, int)
        d = fwAD.make_dual(x, t)
        np.testing.assert_array_equal(fwAD.unpack_dual(d).tangent.numpy(), [3.0, 4.0])
        assert fwAD.unpack_dual(other * 2).tangent is None  # depends on no dual
        assert fwAD.unpack_dual(x).tangent is None  # the primal itself is no dual
        with pytest.raises(RuntimeError, match="Nested forward mode AD is not supported"):
            fwAD.enter_dual_level()
        z = (d * 2).sum()
    assert fwAD.unpack_dual(d).tangent is None and fwAD.unpack_dual(z).tangent is None
    level = fwAD.enter_dual_level()
    fwAD.exit_dual_level(level=level)
    with pytest.raises(RuntimeError, match="no forward AD level is active"):
        fwAD.exit_dual_level()


def test_bad_duals_raise():
    with pytest.raises(RuntimeError, match="no level exists"):
        fwAD.make_dual(pydlk.ones(2), pydlk.ones(2))
    with fwAD.dual_level():
        with pytest.raises(RuntimeError, match=r"Tensor is of size \[2\] while the given"):
            fwAD.make_dual(pydlk.ones(2), pydlk.ones(3))
        with pytest.raises(ValueError, match="floating point or complex"):
            fwAD.make_dual(pydlk.ones(2, dtype=pydlk.int64), pydlk.ones(2))
        with pytest.raises(TypeError, match="tangent must be a Tensor"):
            fwAD.make_dual(pydlk.ones(2), [1.0, 1.0])
