"""pydlk.utils.checkpoint: values and gradients of a checkpointed segment against the plain
call and torch 2.13's checkpoint (inputs requiring grad or not, tuple outputs with non-Tensor
values, keyword arguments, checkpoint_sequential), dropout masks replayed from the saved random
state, the segment's activations released after the forward (weak references), retain_graph
backward twice, float64 gradcheck, and the errors torch raises."""

import gc
import weakref

import numpy as np
import pytest

import pydlk
from pydlk.utils.checkpoint import checkpoint, checkpoint_sequential

torch = pytest.importorskip("torch")


def _pair(rng):
    def build(lib):
        nn = lib.nn
        return nn.Sequential(
            nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 12), nn.GELU(), nn.Linear(12, 3)
        )

    pm, tm = build(pydlk).double(), build(torch).double()
    with torch.no_grad(), pydlk.no_grad():
        for p, q in zip(pm.parameters(), tm.parameters()):
            v = rng.standard_normal(tuple(p.shape))
            p.copy_(pydlk.tensor(v))
            q.copy_(torch.tensor(v))
    return pm, tm


def _close(pm, tm):
    for p, q in zip(pm.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_grad", [False, True])
def test_module_segment_matches_torch_and_the_plain_call(rng, x_grad):
    pm, tm = _pair(rng)
    x = rng.standard_normal((4, 6))
    px, tx = pydlk.tensor(x, requires_grad=x_grad), torch.tensor(x, requires_grad=x_grad)
    y = checkpoint(pm, px, use_reentrant=False)
    ty = torch.utils.checkpoint.checkpoint(tm, tx, use_reentrant=False)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    (y**2).sum().backward()
    (ty**2).sum().backward()
    _close(pm, tm)  # parameters get gradients even when the input needs none
    if x_grad:
        np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    # the plain call, by hand: the same gradients
    grads = [p.grad.numpy().copy() for p in pm.parameters()]
    pm.zero_grad()
    (pm(pydlk.tensor(x)) ** 2).sum().backward()
    for g, p in zip(grads, pm.parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_function_with_tuple_output_extra_args_and_kwargs(rng):
    pm, tm = _pair(rng)
    x = rng.standard_normal((4, 6))
    px, tx = pydlk.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def seg(lib, m):
        return lambda a, s, *, shift: (m(a) * s + shift, a.sum(), "tag")

    out = checkpoint(seg(pydlk, pm), px, 2.0, shift=1.0, use_reentrant=False)
    tout = torch.utils.checkpoint.checkpoint(
        seg(torch, tm), tx, 2.0, shift=1.0, use_reentrant=False
    )
    assert isinstance(out, tuple) and out[2] == "tag"
    (out[0].pow(2).sum() + out[1]).backward()
    (tout[0].pow(2).sum() + tout[1]).backward()
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    _close(pm, tm)


def test_checkpoint_sequential_matches_torch(rng):
    pm, tm = _pair(rng)
    x = rng.standard_normal((4, 6))
    for segments in (1, 2, 3):
        pm.zero_grad()
        tm.zero_grad()
        px, tx = pydlk.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y = checkpoint_sequential(pm, segments, px, use_reentrant=False)
        ty = torch.utils.checkpoint.checkpoint_sequential(tm, segments, tx, use_reentrant=False)
        y.pow(2).sum().backward()
        ty.pow(2).sum().backward()
        np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
        _close(pm, tm)


def test_dropout_masks_are_replayed(rng):
    x = rng.standard_normal((8, 6)).astype(np.float32)
    m = pydlk.nn.Sequential(pydlk.nn.Linear(6, 32), pydlk.nn.Dropout(0.5), pydlk.nn.Linear(32, 1))
    pydlk.manual_seed(3)
    a = pydlk.tensor(x, requires_grad=True)
    m(a).sum().backward()
    plain_x, plain_w = a.grad.numpy().copy(), m[0].weight.grad.numpy().copy()
    m.zero_grad()
    pydlk.manual_seed(3)
    a = pydlk.tensor(x, requires_grad=True)
    checkpoint(m, a).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), plain_x)
    np.testing.assert_array_equal(m[0].weight.grad.numpy(), plain_w)
    # the stream after the backward is where the forward left it (the replay is forked)
    pydlk.manual_seed(4)
    checkpoint(m, pydlk.tensor(x, requires_grad=True)).sum().backward()
    after = pydlk.rand(3).numpy()
    pydlk.manual_seed(4)
    m(pydlk.tensor(x, requires_grad=True))
    np.testing.assert_array_equal(after, pydlk.rand(3).numpy())


def test_activations_inside_are_not_kept(rng):
    lin = pydlk.nn.Linear(6, 6)
    kept = []

    def seg(a):
        h = lin(a).tanh()  # tanh saves its output for the backward of a recorded call
        kept.append(weakref.ref(h._data))
        return h.sum(1)

    x = pydlk.tensor(rng.standard_normal((4, 6)).astype(np.float32), requires_grad=True)
    y_plain = seg(x)
    y_ckpt = checkpoint(seg, x, use_reentrant=False)
    gc.collect()
    assert kept[0]() is not None  # the plain call's graph holds the activation
    assert kept[1]() is None  # the checkpointed one does not
    y_ckpt.sum().backward()
    g = x.grad.numpy().copy()
    x.grad = None
    y_plain.sum().backward()
    np.testing.assert_allclose(g, x.grad.numpy(), rtol=1e-6)


def test_retain_graph_backward_twice_and_gradcheck(rng):
    lin = pydlk.nn.Linear(3, 3).double()
    x = pydlk.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    y = checkpoint(lambda a: lin(a).sin(), x, use_reentrant=False).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-12)
    assert pydlk.gradcheck(lambda a: checkpoint(lambda b: (b * b).exp(), a), (x,))


def test_plain_call_under_no_grad_and_for_functions_with_nothing_to_differentiate(rng):
    x = pydlk.tensor(rng.standard_normal((2, 3)))
    with pydlk.no_grad():
        y = checkpoint(lambda a: a * 2, x)
    assert not y.requires_grad
    y = checkpoint(lambda a: a * 2, x)
    assert not y.requires_grad and y.grad_fn is None


def test_errors_as_torch():
    lin = pydlk.nn.Linear(2, 2)
    x = pydlk.ones(1, 2)
    with pytest.raises(ValueError, match="keyword arguments to the function are only supported"):
        checkpoint(lambda a, b: a, x, b=1, use_reentrant=True)
    with pytest.raises(ValueError, match="determinism_check must be"):
        checkpoint(lin, x, determinism_check="x")
    with pytest.raises(ValueError, match="segments must be a positive int"):
        checkpoint_sequential(pydlk.nn.Sequential(lin), 0, x)
