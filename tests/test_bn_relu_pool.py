"""Batch norm fused with the ReLU and the 2x2 max pool after it (_C.batchnorm_relu_maxpool2d_*),
as Sequential runs BatchNorm2d, ReLU, MaxPool2d(2) (LeNet's and VGG's blocks): against the
NumPy formula in float64, bitwise against the separate kernels (forward, arg-maxes, running
statistics), the backward against the separate kernels and torch, a float64 gradient check,
odd and narrow planes, NaN, and the cases where fusion must not happen."""

import numpy as np
import pydlk._C as C
import pytest

import pydlk
from pydlk import models, nn
from pydlk.functional.norm import _batch_norm_relu_max_pool2d

# wide rows (OW >= 8: vector rows), narrow planes (LeNet's 10x10: rows copied together), odd
# sizes (a last row / column no window covers), the smallest plane, a plane too narrow and odd
SHAPES = [(8, 3, 28, 28), (16, 4, 10, 10), (3, 4, 7, 9), (2, 3, 2, 2), (4, 5, 33, 17), (3, 2, 6, 5)]


def _windows(a):
    """(N, C, OH, OW, 4): each 2x2 window's values in max_pool2d's order a b / c d."""
    N, C_, H, W = a.shape
    OH, OW = H // 2, W // 2
    v = a[:, :, : 2 * OH, : 2 * OW].reshape(N, C_, OH, 2, OW, 2)
    return v.transpose(0, 1, 2, 4, 3, 5).reshape(N, C_, OH, OW, 4)


def _reference(x, w, b, dy, eps=1e-5):
    """The textbook formula in float64: y = maxpool(relu(bn(x))) and its gradients (the pool's
    gradient goes to each window's first maximum; relu'(0) = 0)."""
    x = x.astype(np.float64)
    m = x.mean(axis=(0, 2, 3), keepdims=True)
    v = x.var(axis=(0, 2, 3), keepdims=True)
    rs = 1 / np.sqrt(v + eps)
    xh = (x - m) * rs
    z = xh * w.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)
    r = np.maximum(z, 0)
    win = _windows(r)
    q = win.argmax(axis=-1)
    y = np.take_along_axis(win, q[..., None], -1)[..., 0]
    # max pool backward: dy at each window's arg-max
    dwin = np.zeros(win.shape)
    np.put_along_axis(dwin, q[..., None], dy.astype(np.float64)[..., None], -1)
    N, C_, H, W = x.shape
    OH, OW = H // 2, W // 2
    dr = np.zeros(x.shape)
    dr[:, :, : 2 * OH, : 2 * OW] = (
        dwin.reshape(N, C_, OH, OW, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(N, C_, 2 * OH, -1)
    )
    dz = dr * (z > 0)
    dw = (dz * xh).sum(axis=(0, 2, 3))
    db = dz.sum(axis=(0, 2, 3))
    g = dz * w.reshape(1, -1, 1, 1)
    dx = rs * (
        g
        - g.mean(axis=(0, 2, 3), keepdims=True)
        - xh * (g * xh).mean(axis=(0, 2, 3), keepdims=True)
    )
    return y, q, dx, dw, db


def _data(rng, shape, dtype=np.float32):
    C_ = shape[1]
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(C_).astype(dtype)
    b = rng.standard_normal(C_).astype(dtype)
    return x, w, b


def _separate(x, w, b, dy, rm, rv, training=True):
    """The same work by the separate kernels: fused batch norm + ReLU, max pool, their backwards."""
    N, C_, H, W = x.shape
    y, m, s = C.batchnorm_add_relu_forward(x, None, w, b, rm, rv, training, 0.1, 1e-5)
    p, idx = C.max_pool2d_forward(y, 2, 2, 0, 1, False, True)
    g = C.max_pool2d_backward(dy, idx, (H, W), 2)
    grads = C.batchnorm_add_relu_backward(g, y, x, w, m, s, training, True, True, True, False)
    return p, m, s, idx, grads[:3]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_kernels_against_formula_and_separate_ops(rng, shape, dtype):
    x, w, b = _data(rng, shape, dtype)
    N, C_, H, W = shape
    dy = rng.standard_normal((N, C_, H // 2, W // 2)).astype(dtype)
    rm, rv = np.zeros(C_, dtype), np.ones(C_, dtype)
    rm2, rv2 = rm.copy(), rv.copy()
    y, m, s, arg = C.batchnorm_relu_maxpool2d_forward(x, w, b, rm, rv, True, 0.1, 1e-5)
    assert y.dtype == dtype and arg.dtype == np.uint8 and y.shape == arg.shape == dy.shape
    dx, dw, db = C.batchnorm_relu_maxpool2d_backward(dy, arg, x, w, b, m, s, True)
    ry, rq, rdx, rdw, rdb = _reference(x, w, b, dy)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(y, ry, **tol)
    np.testing.assert_allclose(dx, rdx, **tol)
    np.testing.assert_allclose(dw, rdw, **tol)
    np.testing.assert_allclose(db, rdb, **tol)
    # the separate kernels: the same bits forward (output, statistics, running statistics,
    # arg-maxes as max_pool2d's flat indices name them); the backward to rounding
    p, m2, s2, idx, (sdx, sdw, sdb) = _separate(x, w, b, dy, rm2, rv2)
    for a, e in [(y, p), (m, m2), (s, s2), (rm, rm2), (rv, rv2)]:
        assert np.array_equal(a, e)
    rows = 2 * np.arange(H // 2)[:, None] + arg // 2
    cols = 2 * np.arange(W // 2)[None, :] + arg % 2
    assert np.array_equal(rows * W + cols, idx)
    # where the reference's ties (relu zeros) agree, the arg-max bytes are the formula's too
    assert np.array_equal(arg[ry > 0], rq[ry > 0])
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for a, e in [(dx, sdx), (dw, sdw), (db, sdb)]:
        np.testing.assert_allclose(a, e, **tol)


@pytest.mark.parametrize("training", [True, False])
def test_subsets_of_gradients_and_eval_mode(rng, training):
    shape = (6, 3, 12, 14)
    x, w, b = _data(rng, shape)
    dy = rng.standard_normal((6, 3, 6, 7)).astype(np.float32)
    rm = rng.standard_normal(3).astype(np.float32)
    rv = rng.uniform(0.5, 2, 3).astype(np.float32)
    rm2, rv2 = rm.copy(), rv.copy()
    y, m, s, arg = C.batchnorm_relu_maxpool2d_forward(x, w, b, rm, rv, training, 0.1, 1e-5)
    p, m2, s2, _, want = _separate(x, w, b, dy, rm2, rv2, training)
    assert np.array_equal(y, p) and np.array_equal(rm, rm2) and np.array_equal(rv, rv2)
    for need in [(True, False, False), (False, True, True), (False, True, False)]:
        got = C.batchnorm_relu_maxpool2d_backward(dy, arg, x, w, b, m, s, training, *need)
        for a, e, n in zip(got, want, need, strict=True):
            if n:
                np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
            else:
                assert a is None
    # no affine parameters: w = 1, b = 0
    y, m, s, arg = C.batchnorm_relu_maxpool2d_forward(x, None, None, None, None, True)
    one, zero = np.ones(3, np.float32), np.zeros(3, np.float32)
    p, *_ = _separate(x, one, zero, dy, None, None)
    assert np.array_equal(y, p)
    dx, dw, db = C.batchnorm_relu_maxpool2d_backward(dy, arg, x, None, None, m, s, True)
    _, _, _, _, (sdx, sdw, sdb) = _separate(x, one, zero, dy, None, None)
    np.testing.assert_allclose(dx, sdx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dw, sdw, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_gradient_written_over_the_input(rng, shape):
    """grad_input=input: each value is read before its gradient replaces it (the vector rows'
    last block, moved back over windows already done, stores only its new ones)."""
    x, w, b = _data(rng, shape)
    y, m, s, arg = C.batchnorm_relu_maxpool2d_forward(x, w, b, None, None, True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    want = C.batchnorm_relu_maxpool2d_backward(dy, arg, x, w, b, m, s, True)
    got = C.batchnorm_relu_maxpool2d_backward(dy, arg, x, w, b, m, s, True, grad_input=x)
    assert got[0] is x and np.array_equal(x, want[0])


def test_nan_wins_its_window_as_max_pool2d_keeps_it(rng):
    x, w, b = _data(rng, (4, 2, 8, 18))
    x[0, 0, 0, 5] = x[1, 1, 3, 17] = np.nan  # one inside a window, one in the uncovered column
    rm, rv = np.zeros(2, np.float32), np.ones(2, np.float32)
    y, m, s, arg = C.batchnorm_relu_maxpool2d_forward(x, w, b, rm.copy(), rv.copy(), True)
    p, *_ = _separate(x, w, b, np.zeros(y.shape, np.float32), rm, rv)
    assert np.array_equal(y, p, equal_nan=True) and np.isnan(y).any()


def test_backward_reads_the_low_two_bits_of_any_byte(rng):
    x, w, b = _data(rng, (4, 3, 10, 16))
    y, m, s, arg = C.batchnorm_relu_maxpool2d_forward(x, w, b, None, None, True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    want = C.batchnorm_relu_maxpool2d_backward(dy, arg, x, w, b, m, s, True)
    got = C.batchnorm_relu_maxpool2d_backward(dy, arg | 0xFC, x, w, b, m, s, True)
    for a, e in zip(got, want, strict=True):
        assert np.array_equal(a, e)


def test_gradcheck_float64(rng):
    x = pydlk.tensor(rng.standard_normal((3, 2, 6, 5)), requires_grad=True)
    w = pydlk.tensor(rng.standard_normal(2), requires_grad=True)
    b = pydlk.tensor(rng.standard_normal(2) + 0.3, requires_grad=True)
    f = lambda x, w, b: _batch_norm_relu_max_pool2d(x, None, None, w, b, True)  # noqa: E731
    assert pydlk.gradcheck(f, (x, w, b))


def test_against_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((8, 4, 14, 13)).astype(np.float32)
    dz = rng.standard_normal((8, 4, 7, 6)).astype(np.float32)
    T = torch.nn
    tm = T.Sequential(T.BatchNorm2d(4), T.ReLU(), T.MaxPool2d(2))
    pm = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
    with torch.no_grad():
        tm[0].weight.copy_(torch.tensor(rng.standard_normal(4).astype(np.float32)))
        tm[0].bias.copy_(torch.tensor(rng.standard_normal(4).astype(np.float32)))
    pm[0].weight.data = pydlk.tensor(tm[0].weight.detach().numpy().copy())
    pm[0].bias.data = pydlk.tensor(tm[0].bias.detach().numpy().copy())
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    ty.backward(torch.tensor(dz))
    px = pydlk.tensor(x, requires_grad=True)
    y = pm(px)
    y.backward(pydlk.tensor(dz))
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(px.grad), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for p, t in [(pm[0].weight, tm[0].weight), (pm[0].bias, tm[0].bias)]:
        np.testing.assert_allclose(np.asarray(p.grad), t.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(pm[0].running_mean), tm[0].running_mean.numpy(), 1e-5)
    np.testing.assert_allclose(np.asarray(pm[0].running_var), tm[0].running_var.numpy(), 1e-5)
    pm.eval(), tm.eval()
    np.testing.assert_allclose(
        np.asarray(pm(pydlk.tensor(x))), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


def _run(make, x, dy, fuse, monkeypatch):
    """Forward/backward of a fresh seeded model with the pool fusion on or off: outputs,
    gradients, buffers."""
    import pydlk.nn.container as cont

    real = cont.bn_relu_pool_fusable
    monkeypatch.setattr(cont, "bn_relu_pool_fusable", real if fuse else (lambda *a: False))
    pydlk.manual_seed(0)
    m = make()
    xt = pydlk.tensor(x, requires_grad=True)
    y = m(xt)
    y.backward(pydlk.tensor(dy[: y.numel()].reshape(y.shape)))
    monkeypatch.setattr(cont, "bn_relu_pool_fusable", real)
    return y, xt.grad, m


@pytest.mark.parametrize("train", [True, False])
def test_lenet_with_and_without_fusion(rng, monkeypatch, train):
    make = lambda: models.LeNet5(num_classes=10, in_channels=1, in_size=32).train(train)  # noqa: E731
    x = rng.standard_normal((32, 1, 32, 32)).astype(np.float32)
    dy = rng.standard_normal(10**4).astype(np.float32)
    calls = []
    real = C.batchnorm_relu_maxpool2d_forward
    monkeypatch.setattr(
        C, "batchnorm_relu_maxpool2d_forward", lambda *a: calls.append(a[0].shape) or real(*a)
    )
    y1, g1, m1 = _run(make, x, dy, True, monkeypatch)
    assert calls == [(32, 6, 28, 28), (32, 16, 10, 10)]
    y0, g0, m0 = _run(make, x, dy, False, monkeypatch)
    assert len(calls) == 2
    assert np.array_equal(np.asarray(y1), np.asarray(y0))  # the forward is bitwise
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g0), rtol=1e-4, atol=1e-6)
    for p1, p0 in zip(m1.parameters(), m0.parameters(), strict=True):
        np.testing.assert_allclose(np.asarray(p1.grad), np.asarray(p0.grad), rtol=1e-4, atol=1e-5)
    for b1, b0 in zip(m1.buffers(), m0.buffers(), strict=True):
        assert np.array_equal(np.asarray(b1), np.asarray(b0))


def test_only_the_plain_2x2_pool_after_bn_and_relu_fuses(rng, monkeypatch):
    calls = []
    real = C.batchnorm_relu_maxpool2d_forward
    monkeypatch.setattr(
        C, "batchnorm_relu_maxpool2d_forward", lambda *a: calls.append(1) or real(*a)
    )
    x = pydlk.tensor(rng.standard_normal((4, 3, 8, 8)).astype(np.float32))

    def block(pool, bn=None):
        return nn.Sequential(bn or nn.BatchNorm2d(3), nn.ReLU(), pool)

    for pool in [nn.MaxPool2d(2), nn.MaxPool2d((2, 2), stride=2), nn.MaxPool2d(2, 2, 0, 1)]:
        block(pool)(x)
    assert len(calls) == 3
    for pool in [
        nn.MaxPool2d(3),
        nn.MaxPool2d(2, stride=1),
        nn.MaxPool2d(2, padding=1),
        nn.MaxPool2d(2, dilation=2),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.AvgPool2d(2),
    ]:
        block(pool)(x)
    out, idx = block(nn.MaxPool2d(2, return_indices=True))(x)
    assert idx.dtype == np.int64
    seen = []
    pool = nn.MaxPool2d(2)
    pool.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    block(pool)(x)
    assert seen == [(4, 3, 4, 4)]
    # a 1-pixel-wide input has no whole window: the modules' own calls (and max pool's error)
    with pytest.raises(Exception, match="max_pool2d"):
        block(nn.MaxPool2d(2))(pydlk.tensor(rng.standard_normal((4, 3, 1, 8)).astype(np.float32)))
    assert len(calls) == 3


def test_bad_arguments_are_clear_errors(rng):
    x, w, b = _data(rng, (4, 3, 6, 6))
    y, m, s, arg = C.batchnorm_relu_maxpool2d_forward(x, w, b, None, None, True)
    dy = np.ones(y.shape, np.float32)
    op = "batch_norm_relu_max_pool2d"
    with pytest.raises(ValueError, match=f"{op}: input must be 4-D"):
        C.batchnorm_relu_maxpool2d_forward(x[:, :, 0].copy(), w, b, None, None, True)
    with pytest.raises(ValueError, match=f"{op}: input must be 4-D .* at least 2"):
        C.batchnorm_relu_maxpool2d_forward(x[:, :, :1].copy(), w, b, None, None, True)
    with pytest.raises(ValueError, match=f"{op}: input must be 4-D"):
        _batch_norm_relu_max_pool2d(pydlk.tensor(x[:, :, :, :1].copy()), None, None, training=True)
    with pytest.raises(TypeError, match=f"{op}_backward: argmax must be a C-contiguous uint8"):
        C.batchnorm_relu_maxpool2d_backward(dy, arg.astype(np.int64), x, w, b, m, s, True)
    with pytest.raises(ValueError, match=f"{op}_backward: argmax must have shape"):
        C.batchnorm_relu_maxpool2d_backward(dy, arg[:, :, :2].copy(), x, w, b, m, s, True)
    with pytest.raises(ValueError, match=f"{op}_backward: grad_output must have the pooled"):
        C.batchnorm_relu_maxpool2d_backward(np.ones(x.shape, np.float32), arg, x, w, b, m, s, True)
    with pytest.raises(TypeError, match=f"{op}_backward: grad_output must have the same dtype"):
        C.batchnorm_relu_maxpool2d_backward(dy.astype(np.float64), arg, x, w, b, m, s, True)
    with pytest.raises(ValueError, match=f"{op}: out must have shape"):
        C.batchnorm_relu_maxpool2d_forward(x, w, b, None, None, True, out=np.empty_like(x))


def test_double_backward_through_the_fused_ops_is_the_separate_ops(rng):
    """create_graph=True through the fused Functions gives the second derivatives of the
    separate modules called one by one (tests/test_double_backward_layers.py: against torch)."""
    x0 = rng.standard_normal((3, 2, 5, 4))
    w = rng.standard_normal(x0.shape)
    for mods in ([nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2)], [nn.BatchNorm2d(2), nn.ReLU()]):
        m = nn.Sequential(*mods).double()
        got = []
        for fused in (True, False):
            x = pydlk.tensor(x0, requires_grad=True)
            y = x
            for mod in [m] if fused else mods:  # the modules' own calls: no fusion
                y = mod(y)
            (gx,) = pydlk.autograd.grad((y * y).sum(), x, create_graph=True)
            (h,) = pydlk.autograd.grad((gx * pydlk.tensor(w)).sum(), x)
            got.append((np.asarray(gx.detach()), np.asarray(h)))
        for a, b in zip(*got):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "kw", [{}, {"affine": False}, {"track_running_stats": False}, {"momentum": None}]
)
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_options_and_eval_mode(rng, monkeypatch, kw, train):
    """The BatchNorm2d options reach the fused kernel as the module's own call passes them:
    the same output and running statistics bitwise, the same gradients to rounding."""
    x = rng.standard_normal((6, 3, 9, 8)).astype(np.float32)
    dy = rng.standard_normal(10**4).astype(np.float32)

    def make():
        m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, **kw), nn.ReLU(), nn.MaxPool2d(2))
        m(pydlk.tensor(x))  # one training batch moves the running statistics off 0 and 1
        return m.train(train)

    y1, g1, m1 = _run(make, x, dy, True, monkeypatch)
    y0, g0, m0 = _run(make, x, dy, False, monkeypatch)
    assert np.array_equal(np.asarray(y1), np.asarray(y0))
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g0), rtol=1e-4, atol=1e-6)
    for p1, p0 in zip(m1.parameters(), m0.parameters(), strict=True):
        np.testing.assert_allclose(np.asarray(p1.grad), np.asarray(p0.grad), rtol=1e-4, atol=1e-5)
    for b1, b0 in zip(m1.buffers(), m0.buffers(), strict=True):
        assert np.array_equal(np.asarray(b1), np.asarray(b0))
