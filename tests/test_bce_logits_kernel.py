"""binary_cross_entropy_with_logits on the kernels (csrc/loss_bce.cpp: _C.bce_with_logits_*):
against the textbook formula in float64 NumPy (w ((1 - t) x + (1 + (pw - 1) t) log(1 + e^-x)))
and torch 2.13, for every reduction, weight and pos_weight layout and both dtypes, extreme and
non-finite logits, float64 gradcheck and double backward, the general path when the target
requires grad, errors, and the GPU counterpart."""

import numpy as np
import pytest

import pydlk
import pydlk.functional as F
from pydlk import _C
from pydlk.functional.bce_logits import _BCEWithLogits

torch = pytest.importorskip("torch")


def _textbook(x, t, w=None, pw=None):
    x, t = x.astype(np.float64), t.astype(np.float64)
    lw = 1 + ((pw.astype(np.float64) if pw is not None else 1) - 1) * t
    sp = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)  # log(1 + e^-x)
    loss = (1 - t) * x + lw * sp
    dx = (1 - t) - lw / (1 + np.exp(x))  # d/dx: sigmoid(-x) = 1 / (1 + e^x)
    if w is not None:
        loss, dx = loss * w, dx * w
    return loss, dx


LAYOUTS = ["none", "weight_last", "pos_last", "both_last", "weight_full", "weight_row_pos_last"]


def _weights(rng, layout, shape, dtype):
    C = shape[-1]
    w = pw = None
    if layout in ("weight_last", "both_last"):
        w = rng.uniform(0.5, 2, C).astype(dtype)
    if layout in ("pos_last", "both_last", "weight_row_pos_last"):
        pw = rng.uniform(0.5, 3, C).astype(dtype)
    if layout == "weight_full":
        w = rng.uniform(0.5, 2, shape).astype(dtype)
    if layout == "weight_row_pos_last":  # (N, 1): per sample, broadcast over the classes
        w = rng.uniform(0.5, 2, (shape[0], 1)).astype(dtype)
    return w, pw


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_the_textbook_formula_and_torch(rng, layout, reduction, dtype):
    shape = (6, 7)
    x = (rng.standard_normal(shape) * 6).astype(dtype)
    t = rng.uniform(0, 1, shape).astype(dtype)
    w, pw = _weights(rng, layout, shape, dtype)
    loss_ref, dx_ref = _textbook(x, t, w, pw)
    px = pydlk.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    kw = lambda lib: dict(  # noqa: E731
        weight=None if w is None else lib.tensor(w),
        pos_weight=None if pw is None else lib.tensor(pw),
        reduction=reduction,
    )
    y = F.binary_cross_entropy_with_logits(px, pydlk.tensor(t), **kw(pydlk))
    ty = torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.tensor(t), **kw(torch))
    assert y.grad_fn.fn is _BCEWithLogits  # the kernel path ran
    tol = 1e-5 if dtype == np.float32 else 1e-12
    ref = {"none": loss_ref, "sum": loss_ref.sum(), "mean": loss_ref.mean()}[reduction]
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(shape).astype(dtype) if reduction == "none" else np.array(1.5, dtype)
    y.backward(pydlk.tensor(g))
    ty.backward(torch.tensor(g))
    dref = dx_ref * g / (x.size if reduction == "mean" else 1)
    np.testing.assert_allclose(px.grad.numpy(), dref, rtol=tol, atol=tol)
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_and_non_finite_logits(dtype):
    x = np.array([0.0, 1e-8, -1e-8, 30, -30, 90, -90, 200, -200, np.nan], dtype)
    t = np.array([0.3, 1, 0, 1, 0, 0.5, 0.5, 1, 0, 1], dtype)
    loss, total = _C.bce_with_logits_forward(x, t)
    dx = _C.bce_with_logits_backward(np.ones_like(x), x, t)
    ref, dref = _textbook(x, t)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(loss[:-1], ref[:-1], rtol=tol, atol=tol)
    np.testing.assert_allclose(dx[:-1], dref[:-1], rtol=tol, atol=tol)
    assert np.isnan(loss[-1]) and np.isnan(dx[-1]) and np.isnan(total)


def test_gradcheck_and_double_backward(rng):
    x = pydlk.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    t = pydlk.tensor(rng.uniform(0, 1, (3, 4)))
    pw = pydlk.tensor(rng.uniform(0.5, 2, 4))
    for red in ("mean", "sum"):
        f = lambda a: F.binary_cross_entropy_with_logits(a, t, pos_weight=pw, reduction=red)  # noqa: E731
        assert pydlk.gradcheck(f, (x,))
        assert pydlk.gradgradcheck(f, (x,))
    xs, tt = rng.standard_normal((3, 4)), rng.uniform(0, 1, (3, 4))
    px, tx = pydlk.tensor(xs, requires_grad=True), torch.tensor(xs, requires_grad=True)
    (g,) = pydlk.autograd.grad(
        F.binary_cross_entropy_with_logits(px, pydlk.tensor(tt)), px, create_graph=True
    )
    (tg,) = torch.autograd.grad(
        torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.tensor(tt)),
        tx,
        create_graph=True,
    )
    (g**2).sum().backward()
    (tg**2).sum().backward()
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_target_requiring_grad_takes_the_general_path(rng):
    x, t = rng.standard_normal((3, 4)), rng.uniform(0, 1, (3, 4))
    px, pt = pydlk.tensor(x, requires_grad=True), pydlk.tensor(t, requires_grad=True)
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    y = F.binary_cross_entropy_with_logits(px, pt)
    assert y.grad_fn.fn is not _BCEWithLogits
    y.backward()
    torch.nn.functional.binary_cross_entropy_with_logits(tx, tt).backward()
    np.testing.assert_allclose(pt.grad.numpy(), tt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_kernel_errors_name_the_op_and_argument():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="bce_with_logits_forward: target must have shape"):
        _C.bce_with_logits_forward(x, np.zeros((3, 2)))
    with pytest.raises(TypeError, match="target must have the same dtype"):
        _C.bce_with_logits_forward(x, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="weight must hold input's 6 values or its last dim"):
        _C.bce_with_logits_forward(x, x, np.ones(2))
    with pytest.raises(ValueError, match="weight and pos_weight one size"):
        _C.bce_with_logits_forward(x, x, np.ones(3), np.ones((2, 3)))
    with pytest.raises(ValueError, match="grad must have input's shape"):
        _C.bce_with_logits_backward(np.ones(2), x, x)


def test_gpu_counterpart_matches_the_cpu_kernel(rng):
    from _gpu_helpers import cupy_or_skip, host

    cp = cupy_or_skip()
    from pydlk import _cuda

    x = rng.standard_normal((5, 4)).astype(np.float32)
    t = rng.uniform(0, 1, (5, 4)).astype(np.float32)
    pw = rng.uniform(0.5, 2, 4).astype(np.float32)
    loss, total = _C.bce_with_logits_forward(x, t, None, pw)
    gl, gt = _cuda.bce_with_logits_forward(cp.asarray(x), cp.asarray(t), None, cp.asarray(pw))
    np.testing.assert_allclose(host(gl), loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(host(gt)), total, rtol=1e-5)
    dx = _C.bce_with_logits_backward(np.array(2.0, np.float32), x, t, None, pw, 0.5)
    gdx = _cuda.bce_with_logits_backward(
        cp.asarray(np.array(2.0, np.float32)),
        cp.asarray(x),
        cp.asarray(t),
        None,
        cp.asarray(pw),
        0.5,
    )
    np.testing.assert_allclose(host(gdx), dx, rtol=1e-5, atol=1e-6)
