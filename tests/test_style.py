"""Gram matrix and the Gatys style/content losses: NumPy formulas, finite differences, torch."""

import numpy as np
import pytest
from conftest import t64

import pydlk
from pydlk import functional as F


def test_gram_formula(rng):
    f = rng.standard_normal((2, 3, 4, 5))
    m = f.reshape(2, 3, 20)
    ref = np.einsum("bcn,bdn->bcd", m, m)
    np.testing.assert_allclose(F.gram_matrix(f, normalize=False).numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(F.gram_matrix(f).numpy(), ref / 60, rtol=1e-12)
    np.testing.assert_allclose(F.gram_matrix(f[0]).numpy(), ref[:1] / 60, rtol=1e-12)
    with pytest.raises(ValueError, match="gram_matrix: features"):
        F.gram_matrix(f[0, 0])


def test_losses_formula(rng):
    a, b = rng.standard_normal((1, 3, 4, 4)), rng.standard_normal((1, 3, 4, 4))
    ga = a.reshape(3, 16) @ a.reshape(3, 16).T / 48
    gb = b.reshape(3, 16) @ b.reshape(3, 16).T / 48
    np.testing.assert_allclose(float(F.style_loss(a, b)), ((ga - gb) ** 2).mean(), rtol=1e-12)
    np.testing.assert_allclose(
        float(F.style_loss(a, gb[None])), ((ga - gb) ** 2).mean(), rtol=1e-12
    )
    np.testing.assert_allclose(float(F.content_loss(a, b)), ((a - b) ** 2).mean(), rtol=1e-12)


def test_gradients(rng):
    x = t64(rng.standard_normal((2, 3, 3, 4)))
    tgt = rng.standard_normal((2, 3, 3, 4))
    assert pydlk.gradcheck(lambda v: F.gram_matrix(v), (x,))
    assert pydlk.gradcheck(lambda v: F.style_loss(v, tgt), (x,))
    assert pydlk.gradcheck(lambda v: F.content_loss(v, tgt), (x,))


def test_vs_torch(rng):
    torch = pytest.importorskip("torch")
    a, b = rng.standard_normal((2, 4, 5, 3)), rng.standard_normal((2, 4, 5, 3))

    def gram(t):
        m = t.reshape(2, 4, 15)
        return m @ m.transpose(1, 2) / 60

    at = torch.tensor(a, requires_grad=True)
    lt = torch.nn.functional.mse_loss(gram(at), gram(torch.tensor(b)))
    lt.backward()
    ap = pydlk.tensor(a, requires_grad=True)
    lp = F.style_loss(ap, b)
    lp.backward()
    np.testing.assert_allclose(float(lp), lt.item(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ap.grad), at.grad.numpy(), rtol=1e-10)
