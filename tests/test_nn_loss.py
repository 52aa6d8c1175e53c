"""Losses: the extra functional losses against NumPy formulas and torch, gradchecks, modules,
reductions, bad arguments. The cross-entropy family's modules run once F.cross_entropy lands."""

import numpy as np
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F
from pydlk import nn


def reduce(l, reduction):
    return {"none": l, "mean": l.mean(), "sum": l.sum()}[reduction]


def ref_bce_logits(x, y, w=None, pw=None):
    p = 1 / (1 + np.exp(-x))
    pw = 1 if pw is None else pw
    l = -(pw * y * np.log(p) + (1 - y) * np.log(1 - p))
    return l * (1 if w is None else w)


def ref_triplet(a, p, n, margin, pn, eps, swap):
    d = lambda u, v: (np.abs(u - v + eps) ** pn).sum(-1) ** (1 / pn)  # noqa: E731
    dn = d(a, n)
    if swap:
        dn = np.minimum(dn, d(p, n))
    return np.maximum(d(a, p) - dn + margin, 0)


def ref_cosine(x1, x2, y, margin):
    cos = (x1 * x2).sum(-1) / np.sqrt(((x1**2).sum(-1) + 1e-12) * ((x2**2).sum(-1) + 1e-12))
    return np.where(y == 1, 1 - cos, np.maximum(0, cos - margin))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_forward_against_numpy(reduction, rng):
    x = rng.standard_normal((5, 7)).astype(np.float32) * 3
    y = rng.random((5, 7)).astype(np.float32)
    w = rng.random(7).astype(np.float32)
    pw = rng.random(7).astype(np.float32) * 3
    pr = 1 / (1 + np.exp(-x.astype(np.float64)))
    d = x.astype(np.float64) - y
    cases = [
        (
            F.binary_cross_entropy_with_logits(x, y, w, reduction=reduction, pos_weight=pw),
            ref_bce_logits(x.astype(np.float64), y, w, pw),
        ),
        (
            F.binary_cross_entropy(pr.astype(np.float32), y, reduction=reduction),
            -(y * np.log(pr) + (1 - y) * np.log(1 - pr)),
        ),
        (F.mse_loss(x, y, reduction=reduction), d**2),
        (F.l1_loss(x, y, reduction=reduction), np.abs(d)),
        (
            F.huber_loss(x, y, reduction=reduction, delta=0.7),
            np.where(np.abs(d) < 0.7, 0.5 * d**2, 0.7 * (np.abs(d) - 0.35)),
        ),
        (
            F.smooth_l1_loss(x, y, reduction=reduction, beta=0.5),
            np.where(np.abs(d) < 0.5, d**2, np.abs(d) - 0.25),
        ),
    ]
    for got, want in cases:
        np.testing.assert_allclose(np.asarray(got), reduce(want, reduction), rtol=1e-4, atol=1e-5)
    a, p, n = (rng.standard_normal((6, 4)).astype(np.float32) for _ in range(3))
    for pn, swap in ((2, False), (1, True), (3, False)):
        got = F.triplet_margin_loss(a, p, n, margin=0.8, p=pn, swap=swap, reduction=reduction)
        want = ref_triplet(a.astype(np.float64), p, n, 0.8, pn, 1e-6, swap)
        np.testing.assert_allclose(np.asarray(got), reduce(want, reduction), rtol=1e-4, atol=1e-5)
    t = np.array([1, -1, 1, -1, -1, 1])
    got = F.cosine_embedding_loss(a, p, t, margin=-0.2, reduction=reduction)
    np.testing.assert_allclose(
        np.asarray(got),
        reduce(ref_cosine(a.astype(np.float64), p, t, -0.2), reduction),
        rtol=1e-4,
        atol=1e-5,
    )


def test_bce_with_logits_is_stable():
    x = np.array([-1000.0, 1000.0, 0.0], np.float32)
    y = np.array([1.0, 0.0, 1.0], np.float32)
    l = np.asarray(F.binary_cross_entropy_with_logits(x, y, reduction="none"))
    np.testing.assert_allclose(l, [1000, 1000, np.log(2)], rtol=1e-6)
    assert np.all(np.isfinite(l))
    p = np.array([0.0, 1.0], np.float32)
    l = np.asarray(F.binary_cross_entropy(p, np.array([1.0, 0.0], np.float32), reduction="none"))
    np.testing.assert_allclose(l, [100, 100])  # logs clamped at -100, as torch


def test_gradchecks(rng):
    x, y = t64(rng.standard_normal((3, 4)) * 2), t64(rng.random((3, 4)))
    w, pw = rng.random(4), rng.random(4) * 2
    pydlk.gradcheck(
        lambda x, y: F.binary_cross_entropy_with_logits(
            x, y, pydlk.tensor(w), pos_weight=pydlk.tensor(pw)
        ),
        (x, y),
    )
    p = t64(rng.uniform(0.1, 0.9, (3, 4)))
    pydlk.gradcheck(lambda p, y: F.binary_cross_entropy(p, y, reduction="sum"), (p, y))
    pydlk.gradcheck(lambda x, y: F.mse_loss(x, y), (x, y))
    pydlk.gradcheck(lambda x, y: F.l1_loss(x, y, reduction="none"), (x, y))
    pydlk.gradcheck(lambda x, y: F.huber_loss(x, y, delta=0.5), (x, y))
    pydlk.gradcheck(lambda x, y: F.smooth_l1_loss(x, y, beta=0.3), (x, y))
    a, pp, n = (t64(rng.standard_normal((5, 3))) for _ in range(3))
    for pn, swap in ((2, False), (2, True), (1, False), (3, True)):
        pydlk.gradcheck(
            lambda a, pp, n: F.triplet_margin_loss(
                a, pp, n, margin=1.0, p=pn, swap=swap, reduction="none"
            ),
            (a, pp, n),
        )
    t = np.array([1, -1, -1, 1, -1])
    pydlk.gradcheck(lambda a, b: F.cosine_embedding_loss(a, b, t, margin=-0.5), (a, pp))


def test_against_torch(rng):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x = rng.standard_normal((4, 5))
    y = rng.random((4, 5))
    pw = rng.random(5) * 2
    a, p, n = (rng.standard_normal((4, 5)) for _ in range(3))
    t = np.array([1, -1, 1, -1])
    cases = [
        (lambda m, *v: m.binary_cross_entropy_with_logits(*v, pos_weight=PW(m)), (x, y)),
        (lambda m, *v: m.mse_loss(*v), (x, y)),
        (lambda m, *v: m.l1_loss(*v, reduction="sum"), (x, y)),
        (lambda m, *v: m.huber_loss(*v, delta=0.6), (x, y)),
        (lambda m, *v: m.smooth_l1_loss(*v, beta=0.4), (x, y)),
        (lambda m, *v: m.triplet_margin_loss(*v, margin=2.0, p=2, swap=True), (a, p, n)),
        (lambda m, *v: m.cosine_embedding_loss(*v, T(m), margin=0.1), (a, p)),
    ]

    def PW(m):
        return torch.tensor(pw) if m is TF else pydlk.tensor(pw)

    def T(m):
        return torch.tensor(t) if m is TF else t

    for fn, args in cases:
        tt = [torch.tensor(v, requires_grad=True) for v in args]
        pt = [t64(v) for v in args]
        tl, pl = fn(TF, *tt), fn(F, *pt)
        np.testing.assert_allclose(np.asarray(pl), tl.detach().numpy(), rtol=1e-10, atol=1e-12)
        tl.backward()
        pl.backward()
        for a1, b1 in zip(pt, tt):
            if b1.grad is not None:
                np.testing.assert_allclose(a1.grad, b1.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_modules(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    y = rng.random((3, 4)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(nn.MSELoss(reduction="sum")(x, y)),
        ((x.astype(np.float64) - y) ** 2).sum(),
        rtol=1e-5,
    )
    np.testing.assert_allclose(np.asarray(nn.L1Loss()(x, y)), np.abs(x - y).mean(), rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(nn.HuberLoss(delta=2.0)(x, y)), np.asarray(F.huber_loss(x, y, delta=2.0))
    )
    np.testing.assert_allclose(
        np.asarray(nn.BCEWithLogitsLoss(pos_weight=np.full(4, 2, np.float32))(x, y)),
        ref_bce_logits(x.astype(np.float64), y, pw=2).mean(),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        np.asarray(nn.BCELoss()(1 / (1 + np.exp(-x)), y)),
        ref_bce_logits(x.astype(np.float64), y).mean(),
        rtol=1e-4,
    )
    a, p, n = (rng.standard_normal((6, 4)).astype(np.float32) for _ in range(3))
    assert nn.TripletMarginLoss(margin=0.5)(a, p, n).shape == ()
    assert nn.CosineEmbeddingLoss(reduction="none")(a, p, np.ones(6)).shape == (6,)
    assert nn.SmoothL1Loss(beta=0.5)(x, y).shape == ()
    assert "reduction='sum'" in repr(nn.MSELoss(reduction="sum"))
    # legacy size_average / reduce mapped as torch does
    assert nn.MSELoss(size_average=False).reduction == "sum"
    assert nn.MSELoss(reduce=False).reduction == "none"


def test_cross_entropy_modules(rng):
    if not callable(getattr(F, "cross_entropy", None)):
        pytest.skip("F.cross_entropy has not landed yet")
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((5, 4))
    t = np.array([0, 3, 1, 1, 2])
    w = rng.random(4) + 0.5
    m = nn.CrossEntropyLoss(weight=w, ignore_index=1, label_smoothing=0.1)
    tm = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=1, label_smoothing=0.1)
    np.testing.assert_allclose(
        np.asarray(m(t64(x), t)), tm(torch.tensor(x), torch.tensor(t)).numpy(), rtol=1e-6
    )
    lp = x - np.log(np.exp(x).sum(1, keepdims=True))
    np.testing.assert_allclose(
        np.asarray(nn.NLLLoss()(t64(lp), t)), -lp[np.arange(5), t].mean(), rtol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(nn.MultiMarginLoss(margin=0.5)(t64(x), t)),
        torch.nn.MultiMarginLoss(margin=0.5)(torch.tensor(x), torch.tensor(t)).numpy(),
        rtol=1e-6,
    )


def test_bad_arguments(rng):
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.L1Loss(reduction="max")
    with pytest.raises(ValueError, match="target"):
        F.mse_loss(x, np.zeros((4,), np.float32))
    with pytest.raises(TypeError, match="input"):
        F.l1_loss(x.astype(np.int32), x)
    with pytest.raises(ValueError, match="delta"):
        nn.HuberLoss(delta=0)
    with pytest.raises(ValueError, match="margin"):
        nn.TripletMarginLoss(margin=-1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(x + 2, x)
    with pytest.raises(ValueError, match="same shape"):
        F.triplet_margin_loss(x, x, np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="target"):
        F.cosine_embedding_loss(x, x, np.ones(3))
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=2)


def test_float64_noncontiguous_and_empty(rng):
    x = rng.standard_normal((4, 6))[:, ::2]
    y = rng.standard_normal((4, 3))
    np.testing.assert_allclose(np.asarray(F.mse_loss(x, y)), ((x - y) ** 2).mean())
    assert F.mse_loss(x, y).dtype == np.float64
    e = np.zeros((0, 3))
    assert np.asarray(F.l1_loss(e, e, reduction="sum")) == 0
    assert F.l1_loss(e, e, reduction="none").shape == (0, 3)
