"""torch 2's split form of ``autograd.Function``: ``forward(*args)`` without ctx and
``setup_context(ctx, inputs, output)``, against torch 2.13 running the same class body, and
against the derivative written out by hand."""

import numpy as np
import pytest

import pydlk


def _make(lib):
    class ScaledExp(lib.autograd.Function):
        @staticmethod
        def forward(x, k):
            e = (x * k).exp()
            return e, (x > 0).to(x.dtype)

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, k = inputs
            e, mask = output
            ctx.k = k
            ctx.mark_non_differentiable(mask)
            ctx.save_for_backward(x, e)

        @staticmethod
        def backward(ctx, g, g_mask):
            x, e = ctx.saved_tensors
            assert g_mask is None or float(g_mask.abs().sum()) == 0.0
            return g * e * ctx.k, None

    return ScaledExp


def test_split_form_matches_torch_and_the_derivative(rng):
    torch = pytest.importorskip("torch")
    xv = rng.standard_normal((3, 4))
    res = {}
    for lib in (pydlk, torch):
        x = lib.tensor(xv, requires_grad=True)
        e, mask = _make(lib).apply(x, 1.5)
        assert not mask.requires_grad and e.requires_grad
        (e * lib.tensor(np.arange(12.0).reshape(3, 4))).sum().backward()
        res[lib.__name__] = (e.detach().numpy(), mask.numpy(), x.grad.numpy())
    for a, b in zip(res["pydlk"], res["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(
        res["pydlk"][2], 1.5 * np.exp(1.5 * xv) * np.arange(12.0).reshape(3, 4), rtol=1e-12
    )


def test_split_form_forward_runs_without_ctx_and_setup_sees_args_and_result():
    seen = {}

    class Probe(pydlk.autograd.Function):
        @staticmethod
        def forward(x, scale=2.0):
            seen["grad_mode_in_forward"] = pydlk.is_grad_enabled()
            return x * scale

        @staticmethod
        def setup_context(ctx, inputs, output):
            seen["inputs"], seen["output"] = inputs, output
            seen["grad_mode_in_setup"] = pydlk.is_grad_enabled()
            ctx.scale = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.scale, None

    x = pydlk.tensor([1.0, -2.0], requires_grad=True)
    y = Probe.apply(x, 3.0)
    assert seen["inputs"][0] is x and seen["inputs"][1] == 3.0 and seen["output"] is y
    assert seen["grad_mode_in_forward"] is False and seen["grad_mode_in_setup"] is False
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_split_form_double_backward_matches_torch(rng):
    torch = pytest.importorskip("torch")

    def make(lib):
        class Cube(lib.autograd.Function):
            @staticmethod
            def forward(x):
                return x**3

            @staticmethod
            def setup_context(ctx, inputs, output):
                ctx.save_for_backward(inputs[0])

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 3 * x**2 * g

        return Cube

    xv = rng.standard_normal(5)
    grads = {}
    for lib in (pydlk, torch):
        x = lib.tensor(xv, requires_grad=True)
        (g,) = lib.autograd.grad(make(lib).apply(x).sum(), x, create_graph=True)
        g.sum().backward()
        grads[lib.__name__] = (g.detach().numpy(), x.grad.numpy())
    np.testing.assert_allclose(grads["pydlk"][0], 3 * xv**2, rtol=1e-12)
    np.testing.assert_allclose(grads["pydlk"][1], 6 * xv, rtol=1e-12)
    for a, b in zip(grads["pydlk"], grads["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_old_form_is_unchanged():
    class Double(pydlk.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = pydlk.tensor([1.0, 2.0], requires_grad=True)
    Double.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
