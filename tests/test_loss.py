"""cross_entropy, nll_loss, multi_margin_loss: float64 references, gradcheck, torch oracle."""

import itertools

import numpy as np
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F
from pydlk import _C

# ----------------------------------------------------------------------------- references


def _wshape(x, w):
    C = x.shape[1]
    w = np.ones(C) if w is None else np.asarray(w, np.float64)
    return w, w.reshape((1, C) + (1,) * (x.ndim - 2))


def log_softmax_ref(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def _reduce(per, denom, reduction):
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.float64(per.sum()) / np.float64(denom)


def ce_ref(x, t, w=None, ignore_index=-100, reduction="mean", eps=0.0):
    """torch's cross_entropy from its formula, float64: per sample
    (1-eps) w[y] (-log p[y]) + eps/C sum_c w[c] (-log p[c]); 'mean' divides by sum of w[y]."""
    x = np.asarray(x, np.float64)
    C = x.shape[1]
    lp = log_softmax_ref(x)
    wv, wb = _wshape(x, w)
    if t.dtype.kind == "f":
        tt = np.asarray(t, np.float64) * (1 - eps) + eps / C
        per = -(lp * tt * wb).sum(axis=1)
        return _reduce(per, per.size, reduction)
    valid = t != ignore_index
    ts = np.where(valid, t, 0)
    nll = -np.take_along_axis(lp, ts[:, None], axis=1)[:, 0] * wv[ts]
    smooth = -(lp * wb).sum(axis=1)
    per = np.where(valid, (1 - eps) * nll + eps / C * smooth, 0.0)
    return _reduce(per, wv[ts][valid].sum(), reduction)


def nll_ref(x, t, w=None, ignore_index=-100, reduction="mean"):
    x = np.asarray(x, np.float64)
    wv, _ = _wshape(x, w)
    valid = t != ignore_index
    ts = np.where(valid, t, 0)
    per = np.where(valid, -np.take_along_axis(x, ts[:, None], axis=1)[:, 0] * wv[ts], 0.0)
    return _reduce(per, wv[ts][valid].sum(), reduction)


def mm_ref(x, t, p=1, margin=1.0, w=None, reduction="mean"):
    """sum_{i != y} w[y] max(0, margin - x[y] + x[i])^p / C, by loops."""
    x = np.asarray(x, np.float64)
    N, C = x.shape
    per = np.zeros(N)
    for n in range(N):
        y = t[n]
        for i in range(C):
            if i != y:
                per[n] += max(0.0, margin - x[n, y] + x[n, i]) ** p
        per[n] *= (1.0 if w is None else w[y]) / C
    return _reduce(per, N, reduction)


def _targets(rng, shape, C, ignore=None, frac=0.3):
    t = rng.integers(0, C, shape).astype(np.int64)
    if ignore is not None:
        t[rng.random(shape) < frac] = ignore
    return t


# ----------------------------------------------------------------------------- forward


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (3, 1000), (4, 3, 5), (2, 6, 3, 4)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_reference(rng, shape, reduction):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    t = _targets(rng, (shape[0],) + shape[2:], shape[1])
    y = F.cross_entropy(x, t, reduction=reduction)
    assert y.dtype == np.float32
    np.testing.assert_allclose(
        np.asarray(y), ce_ref(x, t, reduction=reduction), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("eps", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_options_match_reference(rng, eps, weighted, reduction):
    x = rng.standard_normal((9, 6, 2))
    t = _targets(rng, (9, 2), 6, ignore=4)
    w = rng.random(6) + 0.1 if weighted else None
    y = F.cross_entropy(x, t, weight=w, ignore_index=4, reduction=reduction, label_smoothing=eps)
    want = ce_ref(x, t, w, ignore_index=4, reduction=reduction, eps=eps)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 2)])
@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_cross_entropy_probability_targets_match_reference(rng, shape, eps):
    x = rng.standard_normal(shape)
    t = rng.random(shape)
    t /= t.sum(axis=1, keepdims=True)
    w = rng.random(shape[1]) + 0.5
    for reduction in ("mean", "sum", "none"):
        y = F.cross_entropy(x, t, weight=w, reduction=reduction, label_smoothing=eps)
        np.testing.assert_allclose(
            np.asarray(y), ce_ref(x, t, w, reduction=reduction, eps=eps), rtol=1e-10
        )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_matches_reference(rng, weighted, reduction):
    x = log_softmax_ref(rng.standard_normal((8, 5, 3)))
    t = _targets(rng, (8, 3), 5, ignore=-100)
    w = rng.random(5) + 0.1 if weighted else None
    y = F.nll_loss(x, t, weight=w, reduction=reduction)
    np.testing.assert_allclose(np.asarray(y), nll_ref(x, t, w, reduction=reduction), rtol=1e-12)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("margin", [1.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multi_margin_matches_reference(rng, p, margin, weighted, reduction):
    x = rng.standard_normal((11, 7)).astype(np.float32)
    t = _targets(rng, (11,), 7)
    w = (rng.random(7) + 0.1).astype(np.float32) if weighted else None
    y = F.multi_margin_loss(x, t, p=p, margin=margin, weight=w, reduction=reduction)
    np.testing.assert_allclose(
        np.asarray(y), mm_ref(x, t, p, margin, w, reduction), rtol=1e-5, atol=1e-6
    )


def test_unbatched_inputs(rng):
    x = rng.standard_normal(6)
    t = np.array(2, np.int64)
    np.testing.assert_allclose(np.asarray(F.cross_entropy(x, t)), ce_ref(x[None], t[None]))
    np.testing.assert_allclose(np.asarray(F.nll_loss(x, t)), nll_ref(x[None], t[None]))
    np.testing.assert_allclose(np.asarray(F.multi_margin_loss(x, t)), mm_ref(x[None], t[None]))
    assert F.cross_entropy(x, t, reduction="none").shape == ()
    tx = t64(x)
    F.cross_entropy(tx, t).backward()
    assert tx.grad.shape == (6,)


# ----------------------------------------------------------------------------- gradients


def test_gradcheck_cross_entropy(rng):
    x = t64(rng.standard_normal((5, 4)))
    t = _targets(rng, (5,), 4)
    t[1] = -100
    w = rng.random(4) + 0.5
    for red in ("mean", "sum", "none"):
        assert pydlk.gradcheck(lambda x: F.cross_entropy(x, t, reduction=red), (x,))
        assert pydlk.gradcheck(
            lambda x: F.cross_entropy(x, t, weight=w, reduction=red, label_smoothing=0.25), (x,)
        )
    x4 = t64(rng.standard_normal((2, 3, 2, 2)))
    t4 = _targets(rng, (2, 2, 2), 3, ignore=1)
    assert pydlk.gradcheck(
        lambda x: F.cross_entropy(x, t4, weight=w[:3], ignore_index=1, label_smoothing=0.1), (x4,)
    )
    pt = rng.random((2, 3, 2, 2))
    assert pydlk.gradcheck(
        lambda x: F.cross_entropy(x, pt, weight=w[:3], label_smoothing=0.2, reduction="none"), (x4,)
    )


def test_gradcheck_nll_and_multi_margin(rng):
    x = t64(rng.standard_normal((6, 5)))
    t = _targets(rng, (6,), 5, ignore=-100)
    w = rng.random(5) + 0.5
    for red in ("mean", "sum", "none"):
        assert pydlk.gradcheck(lambda x: F.nll_loss(x, t, weight=w, reduction=red), (x,))
    t = _targets(rng, (6,), 5)
    for p in (1, 2):
        for red in ("mean", "none"):
            assert pydlk.gradcheck(
                lambda x: F.multi_margin_loss(x, t, p=p, margin=0.7, weight=w, reduction=red), (x,)
            )


def test_cross_entropy_gradient_is_softmax_minus_smoothed_one_hot(rng):
    x = rng.standard_normal((4, 5))
    t = _targets(rng, (4,), 5)
    tx = t64(x)
    F.cross_entropy(tx, t, reduction="sum", label_smoothing=0.1).backward()
    p = np.exp(log_softmax_ref(x))
    oh = np.eye(5)[t] * 0.9 + 0.1 / 5
    np.testing.assert_allclose(tx.grad, p - oh, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(
        np.asarray(tx.grad).sum(axis=1), 0, atol=1e-12
    )  # rows of dx sum to 0


# ----------------------------------------------------------------------------- torch oracle


def _torch_check(torch, fn_p, fn_t, x, reduction, rng, rtol=1e-4, atol=1e-5):
    px = pydlk.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    y = fn_p(px)
    ty = fn_t(tx)
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=rtol, atol=atol)
    dy = rng.standard_normal(ty.shape).astype(x.dtype)
    if np.all(np.isfinite(ty.detach().numpy())):
        y.backward(dy)
        ty.backward(torch.tensor(dy))
        np.testing.assert_allclose(px.grad, tx.grad.numpy(), rtol=rtol, atol=atol)


CE_CASES = list(
    itertools.product(
        [False, True], [0.0, 0.15], [-100, 2], ["mean", "sum", "none"], [(6, 5), (3, 5, 2, 3)]
    )
)


@pytest.mark.parametrize("weighted,eps,ignore_index,reduction,shape", CE_CASES)
def test_cross_entropy_matches_torch(rng, weighted, eps, ignore_index, reduction, shape):
    torch = pytest.importorskip("torch")
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    t = _targets(rng, (shape[0],) + shape[2:], shape[1], ignore=ignore_index)
    w = (rng.random(shape[1]) + 0.2).astype(np.float32) if weighted else None
    tw = None if w is None else torch.tensor(w)
    _torch_check(
        torch,
        lambda a: F.cross_entropy(
            a, t, weight=w, ignore_index=ignore_index, reduction=reduction, label_smoothing=eps
        ),
        lambda a: torch.nn.functional.cross_entropy(
            a,
            torch.tensor(t),
            weight=tw,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=eps,
        ),
        x,
        reduction,
        rng,
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 2, 3)])
def test_cross_entropy_probability_targets_match_torch(rng, weighted, eps, reduction, shape):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape).astype(np.float32)
    t = rng.random(shape).astype(np.float32)
    t /= t.sum(axis=1, keepdims=True)
    w = (rng.random(shape[1]) + 0.2).astype(np.float32) if weighted else None
    tw = None if w is None else torch.tensor(w)
    _torch_check(
        torch,
        lambda a: F.cross_entropy(a, t, weight=w, reduction=reduction, label_smoothing=eps),
        lambda a: torch.nn.functional.cross_entropy(
            a, torch.tensor(t), weight=tw, reduction=reduction, label_smoothing=eps
        ),
        x,
        reduction,
        rng,
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 2, 3)])
def test_nll_loss_matches_torch(rng, weighted, reduction, shape):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape).astype(np.float32)
    t = _targets(rng, (shape[0],) + shape[2:], shape[1], ignore=-100)
    w = (rng.random(shape[1]) + 0.2).astype(np.float32) if weighted else None
    tw = None if w is None else torch.tensor(w)
    _torch_check(
        torch,
        lambda a: F.nll_loss(a, t, weight=w, reduction=reduction),
        lambda a: torch.nn.functional.nll_loss(a, torch.tensor(t), weight=tw, reduction=reduction),
        x,
        reduction,
        rng,
    )


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multi_margin_matches_torch(rng, p, weighted, reduction):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((9, 6)).astype(np.float32)
    t = _targets(rng, (9,), 6)
    w = (rng.random(6) + 0.2).astype(np.float32) if weighted else None
    tw = None if w is None else torch.tensor(w)
    _torch_check(
        torch,
        lambda a: F.multi_margin_loss(a, t, p=p, margin=0.8, weight=w, reduction=reduction),
        lambda a: torch.nn.functional.multi_margin_loss(
            a, torch.tensor(t), p=p, margin=0.8, weight=tw, reduction=reduction
        ),
        x,
        reduction,
        rng,
    )


# ----------------------------------------------------------------------------- edge cases


def test_all_targets_ignored_gives_nan_mean_as_torch():
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = np.full(3, -100, np.int64)
    tx = t64(x)
    y = F.cross_entropy(tx, t)
    assert np.isnan(y.item())
    y.backward()
    assert np.all(np.asarray(tx.grad) == 0)
    assert F.cross_entropy(x, t, reduction="sum").item() == 0
    assert np.isnan(F.nll_loss(x, t).item())
    torch = pytest.importorskip("torch")
    assert np.isnan(torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t)).item())


def test_large_logits_stay_finite(rng):
    x = (rng.standard_normal((6, 9)) * 1e4).astype(np.float32)
    t = _targets(rng, (6,), 9)
    tx = pydlk.tensor(x, requires_grad=True)
    y = F.cross_entropy(tx, t, label_smoothing=0.1)
    y.backward()
    assert np.isfinite(y.item()) and np.all(np.isfinite(tx.grad))
    np.testing.assert_allclose(y.item(), ce_ref(x, t, eps=0.1), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(tx.grad).sum(axis=1), 0, atol=1e-6)


def test_nan_logit_gives_nan_loss():
    x = np.array([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]], np.float32)
    loss = np.asarray(F.cross_entropy(x, np.array([0, 1]), reduction="none"))
    assert np.isnan(loss[0]) and np.isfinite(loss[1])


def test_zero_size_batch_float64_noncontiguous(rng):
    x = np.empty((0, 5))
    assert np.isnan(F.cross_entropy(x, np.empty(0, np.int64)).item())  # torch: nan
    assert F.cross_entropy(x, np.empty(0, np.int64), reduction="sum").item() == 0
    assert F.cross_entropy(x, np.empty(0, np.int64), reduction="none").shape == (0,)
    xt = rng.standard_normal((5, 7)).T  # (7, 5), not contiguous
    t = _targets(rng, (7,), 5)
    y = F.cross_entropy(xt, t)
    assert y.dtype == np.float64
    np.testing.assert_allclose(np.asarray(y), ce_ref(xt, t), rtol=1e-12)
    assert F.multi_margin_loss(xt, t).dtype == np.float64


@pytest.mark.parametrize("shape", [(512, 100), (4099, 10)])  # long rows; short rows in blocks
def test_one_and_two_threads_agree(rng, threads, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    t = _targets(rng, shape[:1], shape[1], ignore=-100)
    res = []
    for n in (1, 2):
        threads(n)
        tx = pydlk.tensor(x, requires_grad=True)
        y = F.cross_entropy(tx, t, label_smoothing=0.1)
        y.backward()
        m = pydlk.tensor(x, requires_grad=True)
        F.multi_margin_loss(m, t.clip(0), p=2).backward()
        res.append((np.asarray(y), tx.grad, m.grad))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(res[0][0], ce_ref(x, t, eps=0.1), rtol=1e-5)
    # the gradients too, against torch in float64
    torch = pytest.importorskip("torch")
    tx, tm = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for _ in range(2))
    tt = torch.tensor(t)
    torch.nn.functional.cross_entropy(tx, tt, label_smoothing=0.1).backward()
    torch.nn.functional.multi_margin_loss(tm, tt.clip(0), p=2).backward()
    np.testing.assert_allclose(res[0][1], tx.grad.numpy(), rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(res[0][2], tm.grad.numpy(), rtol=1e-4, atol=1e-9)


# ----------------------------------------------------------------------------- bad inputs


def test_bad_target_values_never_read_out_of_bounds():
    x = np.zeros((3, 5), np.float32)
    with pytest.raises(ValueError, match="target has value 5"):
        F.cross_entropy(x, np.array([0, 5, 1]))
    with pytest.raises(ValueError, match="target has value -3"):
        F.cross_entropy(x, np.array([0, -3, 1]))
    with pytest.raises(ValueError, match="target has value -100"):  # ignore_index moved
        F.nll_loss(x, np.array([0, -100, 1]), ignore_index=0)
    with pytest.raises(ValueError, match="target has value -100"):  # no ignore_index here
        F.multi_margin_loss(x, np.array([0, -100, 1]))
    with pytest.raises(ValueError, match="target has value 9"):
        _C.cross_entropy_backward(None, 1.0, x, np.zeros(3, np.float32), np.array([0, 9, 1]))


def test_bad_arguments(rng):
    x = np.zeros((3, 5), np.float32)
    t = np.array([0, 1, 2])
    with pytest.raises(TypeError, match="target"):
        F.cross_entropy(x, t.astype(np.int32))
    with pytest.raises(ValueError, match="target must have shape"):
        F.cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="probability target"):
        F.cross_entropy(x, np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="probability target"):
        F.cross_entropy(x, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="weight"):
        F.cross_entropy(x, t, weight=np.ones(4, np.float32))
    with pytest.raises(TypeError, match="weight"):
        F.cross_entropy(x, t, weight=np.ones(5))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, t, reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, t, label_smoothing=-0.1)
    with pytest.raises(TypeError, match="input"):
        F.cross_entropy(x.astype(np.int64), t)
    with pytest.raises(ValueError, match="input"):
        F.cross_entropy(np.float32(1.0) * np.ones(()), np.array(0))
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        F.multi_margin_loss(x, t, p=3)
    with pytest.raises(ValueError, match="input"):
        F.multi_margin_loss(np.zeros((2, 3, 4)), np.zeros((2, 4), np.int64))
    with pytest.raises(ValueError, match="margin"):
        F.multi_margin_loss(x, t, margin=float("inf"))
    with pytest.raises(ValueError, match="label_smoothing"):
        _C.cross_entropy_forward(x, t, None, -100, 2.0)
    with pytest.raises(ValueError, match="no classes"):
        _C.cross_entropy_forward(np.zeros((3, 0), np.float32), t, None, -100, 0.0)


def test_wide_logits_match_float64_and_nan_in_long_rows():
    # Rows long enough for the vector loops (C = 1000 and a 37-wide tail), logits spread over
    # +-100 so that most exps underflow against the row max: loss and gradient against the
    # float64 formula. NaN anywhere in a row (vector body or tail) makes only that row NaN.
    rng = np.random.default_rng(5)
    for C in (1000, 37):
        x = (rng.standard_normal((16, C)) * 40).astype(np.float32)
        t = rng.integers(0, C, 16)
        tx = pydlk.tensor(x, requires_grad=True)
        F.cross_entropy(tx, t, reduction="sum").backward()
        x64 = x.astype(np.float64)
        lp = log_softmax_ref(x64)
        want = -lp[np.arange(16), t]
        got = np.asarray(F.cross_entropy(x, t, reduction="none"))
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-5)
        dwant = np.exp(lp)
        dwant[np.arange(16), t] -= 1
        np.testing.assert_allclose(np.asarray(tx.grad), dwant, rtol=1e-5, atol=1e-6)
        xn = x.copy()
        xn[3, C // 2] = np.nan
        xn[7, C - 1] = np.nan
        loss = np.asarray(F.cross_entropy(xn, t, reduction="none"))
        assert np.array_equal(np.isnan(loss), np.isin(np.arange(16), [3, 7]))


# The forward of a reduced loss whose input needs a gradient also returns that gradient (one
# exp per logit for both passes); contiguous rows of 32+ classes take the fused row kernel,
# shorter or strided rows the backward's own pass. Against torch, with every option, for an
# upstream gradient of 1 (handed over as it is) and of 2.5 (scaled), and twice with
# retain_graph (the saved gradient is not consumed by the first pass).
@pytest.mark.parametrize("shape", [(9, 40), (4, 1000), (6, 5), (3, 40, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "weighted,eps,reduction,prob",
    [
        (False, 0.0, "mean", False),
        (True, 0.1, "mean", False),
        (True, 0.0, "sum", False),
        (False, 0.2, "sum", True),
        (True, 0.0, "mean", True),
    ],
)
def test_cross_entropy_gradient_from_the_forward_matches_torch(
    rng, shape, dtype, weighted, eps, reduction, prob
):
    torch = pytest.importorskip("torch")
    C = shape[1]
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    if prob:
        t = rng.random(shape).astype(dtype)
        t /= t.sum(axis=1, keepdims=True)
        tt = torch.tensor(t)
    else:
        t = _targets(rng, (shape[0],) + shape[2:], C, ignore=-100)
        tt = torch.tensor(t)
    w = (rng.random(C) + 0.2).astype(dtype) if weighted else None
    tw = None if w is None else torch.tensor(w)
    tol = dict(rtol=1e-4, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-13)
    for upstream in (1.0, 2.5):
        px = pydlk.tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        loss = F.cross_entropy(px, t, weight=w, reduction=reduction, label_smoothing=eps)
        tloss = torch.nn.functional.cross_entropy(
            tx, tt, weight=tw, reduction=reduction, label_smoothing=eps
        )
        np.testing.assert_allclose(np.asarray(loss), tloss.item(), **tol)
        (loss * upstream).backward(retain_graph=True)
        (tloss * upstream).backward(retain_graph=True)
        np.testing.assert_allclose(np.asarray(px.grad), tx.grad.numpy(), **tol)
        first = np.array(px.grad)
        px.grad.add_(1.0)  # the leaf's gradient is its own array, not the saved one
        (loss * upstream).backward()
        np.testing.assert_allclose(np.asarray(px.grad), 2 * first + 1.0, **tol)


def test_cross_entropy_forward_grad_of_argument():
    x = np.zeros((2, 40), np.float32)
    t = np.array([0, 39])
    assert len(_C.cross_entropy_forward(x, t)) == 4
    out = _C.cross_entropy_forward(x, t, None, -100, 0.0, "mean")
    assert len(out) == 5 and out[4].shape == x.shape and out[4].dtype == np.float32
    want = np.full((2, 40), 1 / 40 / 2, np.float32)  # (softmax - one-hot) / N
    want[0, 0] -= 0.5
    want[1, 39] -= 0.5
    np.testing.assert_allclose(out[4], want, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="cross_entropy: grad_of must be 'none', 'sum' or"):
        _C.cross_entropy_forward(x, t, None, -100, 0.0, "avg")
    # every target ignored: the mean is nan (0 / 0) and its gradient zero, as torch
    out = _C.cross_entropy_forward(x, np.array([-100, -100]), None, -100, 0.0, "mean")
    assert out[3] == 0 and not np.any(out[4])
    px = pydlk.tensor(x, requires_grad=True)
    loss = F.cross_entropy(px, np.array([-100, -100]))
    assert np.isnan(float(loss))
    loss.backward()
    assert not np.any(np.asarray(px.grad))
