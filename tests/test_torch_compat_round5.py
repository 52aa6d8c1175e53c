"""Fifth round of torch scripts run unchanged (REINFORCE/PPO, GNNs, forecasters, distillation,
HuggingFace-style loops, PINNs, recommenders, autoencoders, GANs), with torch 2.x as the
oracle: each test pins one thing such a script needed and pydlk lacked or did differently."""

import warnings

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return np.asarray(t.detach())
    return t.detach().numpy()


# ------------------------------------------------------------ autograd.grad's full signature


def _gp(lib, only_inputs=True):
    """WGAN-GP's gradient penalty, spelled as the papers' code spells it."""
    r = np.random.default_rng(0)
    w = lib.tensor(r.standard_normal((3, 1)), requires_grad=True)
    x = lib.tensor(r.standard_normal((4, 3)), requires_grad=True)
    d = (x @ w).tanh().view(-1)
    g = lib.autograd.grad(
        outputs=d,
        inputs=x,
        grad_outputs=lib.ones_like(d),
        create_graph=True,
        retain_graph=True,
        only_inputs=only_inputs,
    )[0]
    pen = ((g.norm(2, dim=1) - 1) ** 2).mean()
    pen.backward()
    return pen, w.grad


def test_grad_only_inputs_gradient_penalty():
    (pt, gt), (pp, gp) = _gp(torch), _gp(pydlk)
    np.testing.assert_allclose(_np(pp), _np(pt), rtol=1e-10)
    np.testing.assert_allclose(_np(gp), _np(gt), rtol=1e-10)
    with pytest.warns(FutureWarning, match="only_inputs argument is deprecated"):
        _gp(pydlk, only_inputs=False)


def test_grad_materialize_grads_and_allow_unused_default():
    for lib in (torch, pydlk):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0], requires_grad=True)
        (ga, gb) = lib.autograd.grad((a * a).sum(), (a, b), materialize_grads=True)
        np.testing.assert_array_equal(_np(ga), [2.0, 4.0])
        np.testing.assert_array_equal(_np(gb), [0.0])
        with pytest.raises(ValueError, match="allow_unused"):
            lib.autograd.grad((a * a).sum(), (a, b), materialize_grads=True, allow_unused=False)
        with pytest.raises(RuntimeError, match="not have been used"):
            lib.autograd.grad((a * a).sum(), (a, b))
        with pytest.raises(RuntimeError, match="cannot be empty"):
            lib.autograd.grad((a * a).sum(), [])


def test_grad_dict_inputs_and_batched_grads():
    res = {}
    for lib in (torch, pydlk):
        x = lib.tensor([[1.0, 2.0, 3.0]], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]], dtype=lib.float64, requires_grad=True)
        y = (x @ w).sin()
        d = lib.autograd.grad(y.sum(), {"x": x, "w": w}, retain_graph=True)
        assert list(d) == ["x", "w"]
        eye = lib.eye(2, dtype=lib.float64).unsqueeze(1)  # (2, 1, 2): one row of the Jacobian each
        (jx,) = lib.autograd.grad(y, x, eye, retain_graph=True, is_grads_batched=True)
        res[lib.__name__] = (_np(d["x"]), _np(d["w"]), _np(jx))
    for a, b in zip(res["pydlk"], res["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert res["pydlk"][2].shape == (2, 1, 3)
