"""torch's ``weight=`` of mse_loss, l1_loss and huber_loss: against torch 2.13 (values and the
gradients of input, target and weight), the textbook formula in NumPy, and the shape check."""

import numpy as np
import pydlk.nn.functional as F
import pytest

import pydlk

torch = pytest.importorskip("torch")

CASES = [
    ("mse_loss", {}, lambda d: d * d, True),
    ("l1_loss", {}, np.abs, True),
    (
        "huber_loss",
        {"delta": 0.7},
        lambda d: np.where(np.abs(d) < 0.7, 0.5 * d * d, 0.7 * (np.abs(d) - 0.35)),
        False,
    ),
]


@pytest.mark.parametrize("name,kw,elem,mean_over_weight", CASES)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_weighted_loss_matches_torch_and_formula(name, kw, elem, mean_over_weight, reduction):
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((2, 4, 3, 5))
    w = rng.uniform(0.1, 2.0, (4, 3, 5))
    px, pt, pw = (pydlk.tensor(a, requires_grad=True) for a in (x, t, w))
    out = getattr(F, name)(px, pt, reduction=reduction, weight=pw, **kw)
    tx, tt, tw = (torch.tensor(a, requires_grad=True) for a in (x, t, w))
    ref = getattr(torch.nn.functional, name)(tx, tt, reduction=reduction, weight=tw, **kw)
    np.testing.assert_allclose(np.asarray(out.detach()), ref.detach().numpy(), rtol=1e-12)
    # the formula, in NumPy
    e = elem(x - t) * w
    want = {"none": e, "sum": e.sum(), "mean": e.sum() / (w.sum() if mean_over_weight else e.size)}
    np.testing.assert_allclose(np.asarray(out.detach()), want[reduction], rtol=1e-12)
    gy = rng.standard_normal(out.shape)
    out.backward(pydlk.tensor(gy))
    ref.backward(torch.tensor(gy))
    for p, r in ((px, tx), (pt, tt), (pw, tw)):
        np.testing.assert_allclose(np.asarray(p.grad), r.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_weight_of_another_shape_is_refused(name):
    x = pydlk.tensor(np.ones((3, 2)))
    with pytest.raises(ValueError, match=f"{name}: weight must have the input's shape"):
        getattr(F, name)(x, x, weight=np.ones(2))
