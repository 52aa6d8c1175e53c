"""nn.AdditiveAttention (Bahdanau): a NumPy formula, masks, finite differences, torch."""

import numpy as np
import pytest

import pydlk
from pydlk import nn


def _ref(Wq, Wk, v, q, k, val, mask=None):
    s = np.tanh((q @ Wq.T)[:, :, None, :] + (k @ Wk.T)[:, None, :, :]) @ v.T  # (B, Tq, Tk, 1)
    s = s[..., 0]
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return w @ val, w


def _module(rng):
    m = nn.AdditiveAttention(3, 4, 5, dtype=np.float64)
    for p in m.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    return m


def test_formula_and_mask(rng):
    m = _module(rng)
    q, k, val = (rng.standard_normal(s) for s in ((2, 3, 3), (2, 6, 4), (2, 6, 2)))
    mask = rng.uniform(size=(2, 1, 6)) > 0.3
    mask[..., 0] = True
    P = [p.detach().numpy() for p in (m.W_q.weight, m.W_k.weight, m.v.weight)]
    for mk in (None, mask):
        out, w = m(q, pydlk.tensor(k), pydlk.tensor(val), mask=mk)
        ro, rw = _ref(*P, q, k, val, mk)
        np.testing.assert_allclose(out.detach().numpy(), ro, rtol=1e-10)
        np.testing.assert_allclose(w.detach().numpy(), rw, rtol=1e-10)
    assert np.all(w.detach().numpy()[np.broadcast_to(~mask, (2, 3, 6))] == 0)
    o1, _ = m(q[:, 0], pydlk.tensor(k), pydlk.tensor(val), mask=mask[:, 0])
    np.testing.assert_allclose(o1.detach().numpy(), out.detach().numpy()[:, 0], rtol=1e-12)
    with pytest.raises(TypeError, match="AdditiveAttention: mask"):
        m(q, pydlk.tensor(k), pydlk.tensor(val), mask=mask.astype(int))
    with pytest.raises(ValueError, match="AdditiveAttention: need"):
        m(q, pydlk.tensor(k), pydlk.tensor(val[:, :2]))


def test_gradcheck(rng):
    m = _module(rng)
    q = pydlk.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    k = pydlk.tensor(rng.standard_normal((2, 4, 4)), requires_grad=True)
    val = pydlk.tensor(rng.standard_normal((2, 4, 2)), requires_grad=True)
    mask = np.array([[True, True, False, True]])
    assert pydlk.gradcheck(lambda a, b, c: m(a, b, c, mask=mask), (q, k, val))
    W = m.W_q.weight

    # parameter gradients: finite differences through the weight values
    out = m(q.detach(), k.detach(), val.detach())[0].sum()
    W.grad = None
    out.backward()
    g = np.array(W.grad)
    eps, num = 1e-6, np.zeros_like(g)
    for idx in np.ndindex(g.shape):
        old = np.asarray(W)[idx]
        W.data[idx] = old + eps
        lp = float(m(q.detach(), k.detach(), val.detach())[0].sum())
        W.data[idx] = old - eps
        lm = float(m(q.detach(), k.detach(), val.detach())[0].sum())
        W.data[idx] = old
        num[idx] = (lp - lm) / (2 * eps)
    np.testing.assert_allclose(g, num, atol=1e-7)


def test_vs_torch(rng):
    torch = pytest.importorskip("torch")
    m = _module(rng)
    q, k, val = (rng.standard_normal(s) for s in ((2, 3, 3), (2, 5, 4), (2, 5, 2)))
    Wq, Wk, v = (torch.tensor(p.detach().numpy()) for p in (m.W_q.weight, m.W_k.weight, m.v.weight))
    qt = torch.tensor(q, requires_grad=True)
    s = (torch.tanh((qt @ Wq.T)[:, :, None] + (torch.tensor(k) @ Wk.T)[:, None]) @ v.T)[..., 0]
    out_t = torch.softmax(s, -1) @ torch.tensor(val)
    out_t.sum().backward()
    qp = pydlk.tensor(q, requires_grad=True)
    out = m(qp, pydlk.tensor(k), pydlk.tensor(val))[0]
    out.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), out_t.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(qp.grad), qt.grad.numpy(), rtol=1e-8)
