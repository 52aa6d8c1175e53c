"""The multiclass SVM loss at the lecture's scale, the inverse-sqrt schedule and proximal L1."""

import math

import numpy as np
import pytest
from conftest import t64

import pydlk
from pydlk import functional as F
from pydlk.nn import Parameter
from pydlk.optim import SGD, InverseSqrtLR, ProximalL1, prox_l1_


def _svm_ref(s, y, margin):
    n = s.shape[0]
    m = np.maximum(0, s - s[np.arange(n), y][:, None] + margin)
    m[np.arange(n), y] = 0
    return m.sum(1)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_svm_loss_matches_formula(rng, reduction):
    s = rng.standard_normal((7, 5))
    y = rng.integers(0, 5, 7)
    ref = _svm_ref(s, y, 1.5)
    ref = {"mean": ref.mean(), "sum": ref.sum(), "none": ref}[reduction]
    out = F.multiclass_svm_loss(pydlk.tensor(s), pydlk.tensor(y), margin=1.5, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)


def test_svm_loss_at_init_is_c_minus_one():
    s = np.zeros((3, 10))
    assert float(F.multiclass_svm_loss(pydlk.tensor(s), pydlk.tensor(np.array([1, 2, 3])))) == 9.0


def test_svm_loss_gradient(rng):
    s = t64(rng.standard_normal((6, 4)))
    y = pydlk.tensor(rng.integers(0, 4, 6))
    assert pydlk.gradcheck(lambda a: F.multiclass_svm_loss(a, y), (s,))
    # the analytic subgradient of the notes: -count at y, +1 at each violating class, / N
    s.grad = None
    F.multiclass_svm_loss(s, y).backward()
    a = s.detach().numpy()
    viol = (a - a[np.arange(6), y.numpy()][:, None] + 1 > 0).astype(float)
    viol[np.arange(6), y.numpy()] = 0
    ref = viol.copy()
    ref[np.arange(6), y.numpy()] = -viol.sum(1)
    np.testing.assert_allclose(np.asarray(s.grad), ref / 6, rtol=1e-12)


def test_svm_loss_vs_torch(rng):
    torch = pytest.importorskip("torch")
    s = rng.standard_normal((5, 6))
    y = rng.integers(0, 6, 5)
    ref = torch.nn.functional.multi_margin_loss(torch.tensor(s), torch.tensor(y)).item() * 6
    assert math.isclose(
        float(F.multiclass_svm_loss(pydlk.tensor(s), pydlk.tensor(y))), ref, rel_tol=1e-12
    )


def test_svm_loss_bad_margin():
    with pytest.raises(TypeError, match="multiclass_svm_loss: margin"):
        F.multiclass_svm_loss(
            pydlk.tensor(np.zeros((2, 3))), pydlk.tensor(np.array([0, 1])), margin="1"
        )


def _opt(lr=1.0):
    return SGD([Parameter(np.zeros(3, np.float32))], lr=lr)


@pytest.mark.parametrize("warmup", [0, 1, 4, 10])
def test_inverse_sqrt_formula(warmup):
    opt = _opt(0.5)
    sched = InverseSqrtLR(opt, warmup_steps=warmup)
    for t in range(30):
        if warmup:
            ref = 0.5 * min(1, t / warmup) * math.sqrt(warmup / max(t, warmup))
        else:
            ref = 0.5 / math.sqrt(max(t, 1))
        assert math.isclose(opt.param_groups[0]["lr"], ref, rel_tol=1e-12), t
        assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
        opt.step()
        sched.step()


def test_inverse_sqrt_is_vaswani():
    d_model, warm = 512, 4000
    opt = _opt((d_model * warm) ** -0.5)
    sched = InverseSqrtLR(opt, warmup_steps=warm)
    for t in (1, 100, 3999, 4000, 4001, 20000):
        sched.step(t)
        ref = d_model**-0.5 * min(t**-0.5, t * warm**-1.5)
        assert math.isclose(opt.param_groups[0]["lr"], ref, rel_tol=1e-9)


def test_inverse_sqrt_state_dict():
    opt = _opt()
    s = InverseSqrtLR(opt, warmup_steps=5)
    for _ in range(7):
        s.step()
    state = s.state_dict()
    opt2 = _opt()
    s2 = InverseSqrtLR(opt2, warmup_steps=5)
    s2.load_state_dict(state)
    s.step()
    s2.step()
    assert s2.last_epoch == 8 and s2.get_last_lr() == s.get_last_lr()
    with pytest.raises(ValueError, match="InverseSqrtLR: warmup_steps"):
        InverseSqrtLR(_opt(), warmup_steps=-1)


def test_prox_formula(rng):
    w = rng.standard_normal(100)
    ref = np.sign(w) * np.maximum(np.abs(w) - 0.3 * 0.7, 0)
    prox_l1_(w, 0.3, 0.7)
    np.testing.assert_array_equal(w, ref)
    with pytest.raises(ValueError, match="prox_l1_"):
        prox_l1_(w, -1, 1)


def _sparse_regression(proximal, steps=3000):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 20))
    true = np.zeros(20)
    true[:3] = [2.0, -1.5, 1.0]
    yv = X @ true + 0.01 * rng.standard_normal(200)
    w = Parameter(np.zeros(20))
    lr, l1 = 0.05, 0.05
    if proximal:
        opt = ProximalL1(SGD([w], lr=lr), l1=l1)
    else:
        opt = SGD([w], lr=lr, l1_weight_decay=l1)
    Xt, yt = pydlk.tensor(X), pydlk.tensor(yv)
    for _ in range(steps):
        opt.zero_grad()
        loss = (((Xt @ w) - yt) ** 2).mean() * 0.5
        loss.backward()
        opt.step()
    return w.detach().numpy()


def test_proximal_reaches_exact_zeros():
    w_prox = _sparse_regression(True)
    w_sub = _sparse_regression(False)
    assert np.all(w_prox[3:] == 0.0)
    assert np.all(np.abs(w_prox[:3]) > 0.5)
    # the subgradient form oscillates about 0 at the scale of lr * l1 and never lands on it
    assert np.count_nonzero(w_sub[3:] == 0.0) < 3
    assert np.abs(w_sub[3:]).max() > 1e-4
    # both reach the same solution on the support
    np.testing.assert_allclose(w_prox[:3], w_sub[:3], atol=5e-3)
