"""Batch norm fused with the add and ReLU after it (_C.batchnorm_add_relu_*), as BatchNorm
modules run it inside Sequential, the ResNet stem and BasicBlock: against the NumPy formula,
bitwise against the separate ops, a float64 gradient check, torch as an oracle, and the cases
where fusion must not happen (hooks, lazy modules, subclasses)."""

import numpy as np
import pydlk._C as C
import pytest

import pydlk
from pydlk import models, nn
from pydlk.functional import norm as nrm_functional
from pydlk.functional.norm import _batch_norm_add_relu


def _ref(x, r, w, b, eps=1e-5):
    """relu(batch_norm(x) + r), training statistics, float64 (the textbook formula)."""
    x = x.astype(np.float64)
    ax = (0,) + tuple(range(2, x.ndim))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    m, v = x.mean(axis=ax, keepdims=True), x.var(axis=ax, keepdims=True)
    y = (x - m) / np.sqrt(v + eps) * w.reshape(shp) + b.reshape(shp)
    return np.maximum(y + (0 if r is None else r), 0)


@pytest.mark.parametrize("shape", [(8, 5, 6, 7), (16, 4), (6, 3, 10)])
@pytest.mark.parametrize("with_res", [False, True])
def test_kernel_against_formula_and_separate_ops(rng, shape, with_res):
    x = rng.standard_normal(shape).astype(np.float32)
    r = rng.standard_normal(shape).astype(np.float32) if with_res else None
    C_ = shape[1]
    w, b = rng.standard_normal(C_).astype(np.float32), rng.standard_normal(C_).astype(np.float32)
    rm, rv = np.zeros(C_, np.float32), np.ones(C_, np.float32)
    rm2, rv2 = rm.copy(), rv.copy()
    y, m, s = C.batchnorm_add_relu_forward(x, r, w, b, rm, rv, True, 0.1, 1e-5)
    np.testing.assert_allclose(y, _ref(x, r, w, b), rtol=1e-5, atol=1e-5)
    # bitwise the separate kernels: batch norm, add, relu (and their backwards)
    y0, m0, s0 = C.batchnorm_forward(x, w, b, rm2, rv2, True, 0.1, 1e-5)
    z = C.relu_forward(y0 if r is None else y0 + r)
    assert np.array_equal(y, z) and np.array_equal(rm, rm2) and np.array_equal(rv, rv2)
    dz = rng.standard_normal(shape).astype(np.float32)
    g = C.relu_backward(dz, z)
    want = C.batchnorm_backward(g, x, w, m0, s0, True)
    got = C.batchnorm_add_relu_backward(dz, y, x, w, m, s, True)
    for a, e in zip(got[:3], want):
        assert np.array_equal(a, e)
    assert np.array_equal(got[3], g)
    only_r = C.batchnorm_add_relu_backward(dz, y, x, w, m, s, False, False, False, False, True)
    assert only_r[:3] == (None, None, None) and np.array_equal(only_r[3], g)
    # Without the residual's gradient the mask is applied inside both passes (no masked copy):
    # still bitwise the separate ops, for every subset of gradients, training or not (z has
    # zeros where the relu cut, so a pass that skipped the mask would differ)
    assert (z == 0).any() and (z > 0).any()
    for training in (True, False):
        want = C.batchnorm_backward(g, x, w, m0, s0, training)
        for need in [
            (True, True, True),
            (True, False, False),
            (False, True, True),
            (False, True, False),
        ]:
            got = C.batchnorm_add_relu_backward(dz, y, x, w, m, s, training, *need, False)
            assert got[3] is None
            for a, e, n in zip(got[:3], want, need, strict=True):
                assert (a is None) if not n else np.array_equal(a, e)


def _near_zero_input(rng, shape, dtype):
    """x whose normalised values land on and right around 0 after the affine step: a channel's
    values repeat a few levels, one of them the mean (exactly), others a rounding away from
    where (x - m) a + b changes sign; plus a constant channel and NaN-free noise."""
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(shape[0], shape[1], -1)
    flat[:, 0] = rng.choice(np.array([-1.0, 0.0, 1.0], dtype), flat[:, 0].shape)  # mean 0-ish
    if shape[1] > 2:
        flat[:, 2] = 0.5  # constant: normalises to exactly 0
    return x


@pytest.mark.parametrize("shape", [(8, 5, 6, 7), (16, 1500), (5, 3, 1100), (4, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mask_recomputed_from_input_is_the_read_mask(rng, shape, dtype):
    # output=None: the relu's mask comes from x, the saved statistics, weight and bias (the
    # forward's own expression), not from reading y. Bitwise the same gradients as reading y,
    # for every subset of gradients, training or not, with weights of both signs and a bias
    # that puts values on the relu's edge (x at the mean and b = 0 gives exactly 0: masked).
    x = _near_zero_input(rng, shape, dtype)
    C_ = shape[1]
    w = rng.standard_normal(C_).astype(dtype)
    b = rng.standard_normal(C_).astype(dtype)
    b[0] = 0
    if C_ > 2:
        b[2] = 0
    dz = rng.standard_normal(shape).astype(dtype)
    for training in (True, False):
        rm, rv = np.zeros(C_, dtype), np.ones(C_, dtype)
        y, m, s = C.batchnorm_add_relu_forward(x, None, w, b, rm, rv, training, 0.1, 1e-5)
        assert (y == 0).any() and (y > 0).any()
        for need in [(True, True, True), (True, False, False), (False, True, True)]:
            read = C.batchnorm_add_relu_backward(dz, y, x, w, m, s, training, *need, False)
            got = C.batchnorm_add_relu_backward(
                dz, None, x, w, m, s, training, *need, False, bias=b
            )
            for a, e in zip(got, read, strict=True):
                assert (a is None and e is None) or np.array_equal(a, e)
    # no weight or no bias: the forward's 1 and 0
    y, m, s = C.batchnorm_add_relu_forward(x, None, None, None, None, None, True)
    read = C.batchnorm_add_relu_backward(dz, y, x, None, m, s, True, need_residual=False)
    got = C.batchnorm_add_relu_backward(dz, None, x, None, m, s, True, need_residual=False)
    for a, e in zip(got, read, strict=True):
        assert (a is None and e is None) or np.array_equal(a, e)


def test_recomputed_mask_refuses_the_residual_gradient(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y, m, s = C.batchnorm_add_relu_forward(x, None, None, None, None, None, True)
    with pytest.raises(
        ValueError, match="batch_norm_add_relu_backward: need_residual needs output"
    ):
        C.batchnorm_add_relu_backward(x, None, x, None, m, s, True)
    with pytest.raises(ValueError, match="batch_norm_add_relu_backward: bias must have shape"):
        C.batchnorm_add_relu_backward(
            x, None, x, None, m, s, True, need_residual=False, bias=np.ones(4, np.float32)
        )


def test_nan_and_negative_zero_pass_as_relu_does():
    x = np.array([[0.0, 1.0], [np.nan, 3.0], [2.0, 5.0]], np.float32)
    y, _, _ = C.batchnorm_add_relu_forward(x, None, None, None, None, None, True, 0.1, 1e-5)
    assert np.isnan(y[:, 0]).all() and np.isfinite(y[:, 1]).all()  # NaN spreads through the mean
    # bn of a constant channel is exactly 0; adding -0 keeps +0 (0 + -0 = +0), and a -0
    # residual on a 0 output passes through the relu unchanged, as relu_forward keeps -0
    y, _, _ = C.batchnorm_add_relu_forward(
        np.ones((3, 2), np.float32), np.full((3, 2), -0.0, np.float32), training=True
    )
    z = C.relu_forward(np.zeros((3, 2), np.float32) + np.full((3, 2), -0.0, np.float32))
    assert np.array_equal(np.signbit(y), np.signbit(z)) and np.all(y == 0)


@pytest.mark.parametrize("with_res", [False, True])
def test_gradcheck_float64(rng, with_res):
    x = pydlk.tensor(rng.standard_normal((4, 3, 5)), requires_grad=True)
    r = pydlk.tensor(rng.standard_normal((4, 3, 5)) * 0.3, requires_grad=True)
    w = pydlk.tensor(rng.standard_normal(3), requires_grad=True)
    b = pydlk.tensor(rng.standard_normal(3) + 0.5, requires_grad=True)
    if with_res:
        f = lambda x, r, w, b: _batch_norm_add_relu(x, r, None, None, w, b, True)  # noqa: E731
        assert pydlk.gradcheck(f, (x, r, w, b))
    else:
        f = lambda x, w, b: _batch_norm_add_relu(x, None, None, None, w, b, True)  # noqa: E731
        assert pydlk.gradcheck(f, (x, w, b))


def test_against_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((8, 4, 6, 6)).astype(np.float32)
    r = rng.standard_normal(x.shape).astype(np.float32)
    dz = rng.standard_normal(x.shape).astype(np.float32)
    tb = torch.nn.BatchNorm2d(4)
    tx, tr = torch.tensor(x, requires_grad=True), torch.tensor(r, requires_grad=True)
    ty = torch.relu(tb(tx) + tr)
    ty.backward(torch.tensor(dz))
    pb = nn.BatchNorm2d(4)
    px, pr = pydlk.tensor(x, requires_grad=True), pydlk.tensor(r, requires_grad=True)
    y = pb._forward_add_relu(px, pr)
    y.backward(pydlk.tensor(dz))
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(px.grad), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(pr.grad), tr.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(pb.weight.grad), tb.weight.grad.numpy(), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(pb.bias.grad), tb.bias.grad.numpy(), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(pb.running_mean), tb.running_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(pb.running_var), tb.running_var.numpy(), rtol=1e-5)


def _train_twice(make, x, dz, fuse):
    """Forward/backward of a fresh model (seeded), with fusion on or off; outputs and grads.
    The batch norm + ReLU + max pool fusion stays off in both (tests/test_bn_relu_pool.py):
    LeNet's pairs go through the fusion under test here."""
    import pydlk.nn.container as cont
    import pydlk.nn.normalization as nrm

    real = nrm.bn_relu_fusable
    off = lambda a, b: False  # noqa: E731
    saved = (cont.bn_relu_fusable, nrm.bn_relu_fusable, cont.bn_relu_pool_fusable)
    f = real if fuse else off
    cont.bn_relu_fusable = nrm.bn_relu_fusable = f
    cont.bn_relu_pool_fusable = lambda a, b, c: False
    try:
        pydlk.manual_seed(0)
        m = make()
        xt = pydlk.tensor(x, requires_grad=True)
        y = m(xt)
        y.backward(pydlk.tensor(dz[: y.numel()].reshape(y.shape)))
        return (
            [np.asarray(y), np.asarray(xt.grad)]
            + [np.asarray(p.grad) for p in m.parameters()]
            + [np.asarray(b) for b in m.buffers()]
        )
    finally:
        cont.bn_relu_fusable, nrm.bn_relu_fusable, cont.bn_relu_pool_fusable = saved


MODELS = [
    (lambda: models.resnet_small(num_classes=10), (4, 3, 16, 16)),
    (lambda: nn.BasicBlock(4, 8, 2), (4, 4, 8, 8)),
    (lambda: nn.BasicBlock(4, 4, 1), (4, 4, 8, 8)),
    (lambda: models.LeNet5(num_classes=10, in_channels=1, in_size=28), (6, 1, 28, 28)),
    (lambda: nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.ReLU()), (9, 5)),
]


@pytest.mark.parametrize("recompute", ["large inputs", "always"])
@pytest.mark.parametrize("make, shape", MODELS)
def test_models_bitwise_equal_with_and_without_fusion(rng, make, shape, recompute, monkeypatch):
    # "always": every fused batch norm without residual recomputes the relu's mask in its
    # backward (the size from which it does is lowered to 0); the default does it from 1 MiB.
    if recompute == "always":
        monkeypatch.setattr(nrm_functional, "_RECOMPUTE_MASK_BYTES", 0)
    x = rng.standard_normal(shape).astype(np.float32)
    dz = rng.standard_normal(10**5).astype(np.float32)
    fused, plain = _train_twice(make, x, dz, True), _train_twice(make, x, dz, False)
    assert len(fused) == len(plain)
    for a, b in zip(fused, plain):
        assert np.array_equal(a, b)


def test_large_lenet_recomputes_the_mask_and_matches_the_separate_ops(rng, monkeypatch):
    # (64, 6, 28, 28) after conv1 is over 1 MiB: its backward recomputes the mask by default.
    calls = []
    real = C.batchnorm_add_relu_backward
    monkeypatch.setattr(
        C,
        "batchnorm_add_relu_backward",
        lambda *a, **k: calls.append(a[1] is None) or real(*a, **k),
    )
    make = lambda: models.LeNet5(num_classes=10, in_channels=1, in_size=28)  # noqa: E731
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    dz = rng.standard_normal(10**5).astype(np.float32)
    fused = _train_twice(make, x, dz, True)
    assert calls == [False, False, False, True]  # backward order: BN1d, BN1d, BN2d(16), BN2d(6)
    plain = _train_twice(make, x, dz, False)
    for a, b in zip(fused, plain, strict=True):
        assert np.array_equal(a, b)


def test_fusion_is_used_and_hooks_or_lazy_modules_turn_it_off(rng, monkeypatch):
    calls = []
    real = C.batchnorm_add_relu_forward
    monkeypatch.setattr(C, "batchnorm_add_relu_forward", lambda *a: calls.append(1) or real(*a))
    x = pydlk.tensor(rng.standard_normal((4, 3, 5, 5)).astype(np.float32))
    seq = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    seq(x)
    assert calls == [1]
    seen = []
    h = seq[2].register_forward_hook(lambda m, i, o: seen.append(o))
    y = seq(x)
    assert calls == [1] and len(seen) == 1 and np.array_equal(np.asarray(seen[0]), np.asarray(y))
    h.remove()
    h = seq[1].register_forward_pre_hook(lambda m, i: seen.append("pre"))
    seq(x)
    assert calls == [1] and seen[-1] == "pre"
    h.remove()
    lazy = nn.Sequential(nn.LazyBatchNorm2d(), nn.ReLU())
    lazy(x)  # the lazy module must materialise through its own call
    assert calls == [1] and lazy[0].num_features == 3

    class MyBN(nn.BatchNorm2d):
        def forward(self, input):
            return super().forward(input) * 2

    z = nn.Sequential(MyBN(3), nn.ReLU())(x)
    assert calls == [1] and np.all(np.asarray(z) >= 0)


def test_bad_residual_is_a_clear_error(rng):
    x = pydlk.tensor(rng.standard_normal((4, 3, 5)).astype(np.float32))
    with pytest.raises(ValueError, match="batch_norm_add_relu: residual must have the input's"):
        _batch_norm_add_relu(x, np.zeros((4, 3, 4), np.float32), None, None, training=True)
    with pytest.raises(ValueError, match="batch_norm_add_relu: residual must have the input's"):
        C.batchnorm_add_relu_forward(np.asarray(x), np.zeros((4, 3, 4), np.float32), training=True)
    with pytest.raises((ValueError, TypeError), match="residual"):
        C.batchnorm_add_relu_forward(np.asarray(x), np.zeros((4, 3, 5)), training=True)


@pytest.mark.parametrize(
    "kw", [{}, {"affine": False}, {"track_running_stats": False}, {"momentum": None}]
)
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_options_and_eval_mode_bitwise(rng, kw, train):
    x = rng.standard_normal((6, 3, 5, 5)).astype(np.float32)
    dz = rng.standard_normal(10**4).astype(np.float32)

    def make():
        m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, **kw), nn.ReLU())
        m(pydlk.tensor(x))  # one training batch moves the running statistics off 0 and 1
        return m.train(train)

    fused, plain = _train_twice(make, x, dz, True), _train_twice(make, x, dz, False)
    for a, b in zip(fused, plain):
        assert np.array_equal(a, b)
