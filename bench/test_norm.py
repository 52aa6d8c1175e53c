"""Normalisation forward+backward (training): pydlk against plain NumPy and torch.

batch norm (64, 32, 32, 32), layer norm (4096, 1024), group norm (64, 32, 32, 32) with 8 groups,
float32. The `_pydlk` rows call the kernels with outputs allocated once outside the timed call
(warm memory); the `_pydlk_autograd` rows call pydlk as users do (functional op and backward,
fresh outputs), like the torch rows (torch's allocator, warm after the first rounds).
extra_info["GB/s"] is the minimum traffic (forward: read x, write y; backward: read x and dy,
write dx) over the median time.
"""

import numpy as np
import pydlk._C as C
import pytest

import pydlk
import pydlk.functional as F

EPS = 1e-5
BN = (64, 32, 32, 32)
LN = (4096, 1024)
GN, GROUPS = (64, 32, 32, 32), 8


def _data(rng, shape, P):
    f = np.float32
    return (
        rng.standard_normal(shape).astype(f),
        rng.standard_normal(P).astype(f),
        rng.standard_normal(P).astype(f),
        rng.standard_normal(shape).astype(f),
    )


# ----------------------------------------------------------------------------- batch norm


def test_batch_norm_pydlk(benchmark, rng, record_bandwidth):
    benchmark.group = f"batch_norm train fwd+bwd {BN}"
    x, w, b, dy = _data(rng, BN, BN[1])
    rm, rv = np.zeros(BN[1], np.float32), np.ones(BN[1], np.float32)
    y, m, r = np.empty_like(x), np.empty_like(w), np.empty_like(w)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(w)

    def step():
        C.batchnorm_forward(x, w, b, rm, rv, True, 0.1, EPS, y, m, r)
        C.batchnorm_backward(dy, x, w, m, r, True, grad_input=dx, grad_weight=dw, grad_bias=db)

    benchmark(step)
    record_bandwidth(5 * x.nbytes)


def test_batch_norm_pydlk_autograd(benchmark, rng, record_bandwidth):
    benchmark.group = f"batch_norm train fwd+bwd {BN}"
    x, w, b, dy = (pydlk.tensor(a) for a in _data(rng, BN, BN[1]))
    rm, rv = pydlk.zeros(BN[1]), pydlk.ones(BN[1])
    x.requires_grad_(), w.requires_grad_(), b.requires_grad_()

    def step():
        x.grad = w.grad = b.grad = None
        F.batch_norm(x, rm, rv, w, b, True, 0.1, EPS).backward(dy)

    benchmark(step)
    record_bandwidth(5 * np.asarray(x).nbytes)


def test_batch_norm_numpy(benchmark, rng, record_bandwidth):
    benchmark.group = f"batch_norm train fwd+bwd {BN}"
    x, w, b, dy = _data(rng, BN, BN[1])
    rm, rv = np.zeros(BN[1], np.float32), np.ones(BN[1], np.float32)
    ax, M = (0, 2, 3), BN[0] * BN[2] * BN[3]
    sh = (1, -1, 1, 1)

    def step():
        mean = x.mean(ax)
        var = x.var(ax)
        rm[:] = 0.9 * rm + 0.1 * mean
        rv[:] = 0.9 * rv + 0.1 * var * M / (M - 1)
        rstd = 1 / np.sqrt(var + EPS)
        xhat = (x - mean.reshape(sh)) * rstd.reshape(sh)
        w.reshape(sh) * xhat + b.reshape(sh)
        db = dy.sum(ax)
        dw = (dy * xhat).sum(ax)
        (w * rstd / M).reshape(sh) * (M * dy - db.reshape(sh) - xhat * dw.reshape(sh))

    benchmark(step)
    record_bandwidth(5 * x.nbytes)


def test_batch_norm_torch(benchmark, rng, torch, record_bandwidth):
    benchmark.group = f"batch_norm train fwd+bwd {BN}"
    x, w, b, dy = (torch.from_numpy(a) for a in _data(rng, BN, BN[1]))
    rm, rv = torch.zeros(BN[1]), torch.ones(BN[1])
    x.requires_grad_(), w.requires_grad_(), b.requires_grad_()

    def step():
        x.grad = w.grad = b.grad = None
        torch.nn.functional.batch_norm(x, rm, rv, w, b, True, 0.1, EPS).backward(dy)

    benchmark(step)
    record_bandwidth(5 * x.nbytes)


# ------------------------------------------------- batch norm + add + ReLU (a ResNet block's tail)


def test_bn_add_relu_pydlk_fused(benchmark, rng):
    """relu(batch_norm(x) + r) and its backward as BasicBlock runs it: one fused kernel each way."""
    benchmark.group = f"batch_norm+add+relu train fwd+bwd {BN}"
    x, w, b, dy = _data(rng, BN, BN[1])
    r = rng.standard_normal(BN).astype(np.float32)
    rm, rv = np.zeros(BN[1], np.float32), np.ones(BN[1], np.float32)

    def step():
        y, m, s = C.batchnorm_add_relu_forward(x, r, w, b, rm, rv, True, 0.1, EPS)
        C.batchnorm_add_relu_backward(dy, y, x, w, m, s, True)

    benchmark(step)


def test_bn_add_relu_pydlk_separate(benchmark, rng):
    """The same work as the separate pydlk kernels: batch norm, NumPy add, relu (fwd and bwd)."""
    benchmark.group = f"batch_norm+add+relu train fwd+bwd {BN}"
    x, w, b, dy = _data(rng, BN, BN[1])
    r = rng.standard_normal(BN).astype(np.float32)
    rm, rv = np.zeros(BN[1], np.float32), np.ones(BN[1], np.float32)

    def step():
        y, m, s = C.batchnorm_forward(x, w, b, rm, rv, True, 0.1, EPS)
        z = C.relu_forward(y + r)
        g = C.relu_backward(dy, z)
        C.batchnorm_backward(g, x, w, m, s, True)

    benchmark(step)


def test_bn_add_relu_numpy(benchmark, rng):
    benchmark.group = f"batch_norm+add+relu train fwd+bwd {BN}"
    x, w, b, dy = _data(rng, BN, BN[1])
    r = rng.standard_normal(BN).astype(np.float32)
    ax, M = (0, 2, 3), BN[0] * BN[2] * BN[3]
    wc, bc = w.reshape(1, -1, 1, 1), b.reshape(1, -1, 1, 1)

    def step():
        mu = x.mean(axis=ax, keepdims=True)
        rs = 1 / np.sqrt(x.var(axis=ax, keepdims=True) + EPS)
        xh = (x - mu) * rs
        z = np.maximum(xh * wc + bc + r, 0)
        g = dy * (z > 0)
        gh = g * wc
        dx = (
            rs
            / M
            * (M * gh - gh.sum(axis=ax, keepdims=True) - xh * (gh * xh).sum(axis=ax, keepdims=True))
        )
        return dx, (g * xh).sum(axis=ax), g.sum(axis=ax), g

    benchmark(step)


def test_bn_add_relu_torch(benchmark, rng, torch):
    benchmark.group = f"batch_norm+add+relu train fwd+bwd {BN}"
    x, w, b, dy = (torch.from_numpy(a) for a in _data(rng, BN, BN[1]))
    r = torch.from_numpy(rng.standard_normal(BN).astype(np.float32)).requires_grad_()
    rm, rv = torch.zeros(BN[1]), torch.ones(BN[1])
    x.requires_grad_(), w.requires_grad_(), b.requires_grad_()

    def step():
        x.grad = w.grad = b.grad = r.grad = None
        y = torch.nn.functional.batch_norm(x, rm, rv, w, b, True, 0.1, EPS)
        torch.relu(y + r).backward(dy)

    benchmark(step)


# --------------------------------- batch norm + ReLU + 2x2 max pool (LeNet's and VGG's blocks)
BRP = (256, 6, 28, 28)  # LeNet-5's first block at batch 256


@pytest.mark.parametrize("fuse", ["fused", "separate"])
def test_bn_relu_pool_pydlk(benchmark, rng, fuse, monkeypatch):
    """BatchNorm2d, ReLU, MaxPool2d(2) as a Sequential runs them, forward and backward (fresh
    outputs): one fused kernel each way, or (separate) the fused batch norm + ReLU and the
    pool's kernels, as before the three were fused."""
    import pydlk.nn.container as cont
    from pydlk import nn

    benchmark.group = f"batch_norm+relu+max_pool2d train fwd+bwd {BRP}"
    if fuse == "separate":
        monkeypatch.setattr(cont, "bn_relu_pool_fusable", lambda *a: False)
    m = nn.Sequential(nn.BatchNorm2d(BRP[1]), nn.ReLU(), nn.MaxPool2d(2))
    x = pydlk.tensor(rng.standard_normal(BRP).astype(np.float32), requires_grad=True)
    dy = pydlk.tensor(rng.standard_normal((*BRP[:2], BRP[2] // 2, BRP[3] // 2)).astype(np.float32))

    def step():
        x.grad = None
        m.zero_grad()
        m(x).backward(dy)

    benchmark(step)


def test_bn_relu_pool_numpy(benchmark, rng):
    """The same in NumPy: batch norm, ReLU, the pool by a reshape into windows, and back."""
    benchmark.group = f"batch_norm+relu+max_pool2d train fwd+bwd {BRP}"
    N, Cn, H, W = BRP
    x = rng.standard_normal(BRP).astype(np.float32)
    w, b = np.ones((1, Cn, 1, 1), np.float32), np.zeros((1, Cn, 1, 1), np.float32)
    dy = rng.standard_normal((N, Cn, H // 2, W // 2)).astype(np.float32)
    ax, M = (0, 2, 3), N * H * W

    def step():
        mu = x.mean(axis=ax, keepdims=True)
        rs = 1 / np.sqrt(x.var(axis=ax, keepdims=True) + EPS)
        xh = (x - mu) * rs
        z = np.maximum(xh * w + b, 0)
        win = z.reshape(N, Cn, H // 2, 2, W // 2, 2)
        y = win.max(axis=(3, 5))
        at_max = win == y[:, :, :, None, :, None]
        g = (at_max * dy[:, :, :, None, :, None]).reshape(BRP)  # ties all get it (the quick way)
        g = g * (z > 0)
        gh = g * w
        dx = (
            rs
            / M
            * (M * gh - gh.sum(axis=ax, keepdims=True) - xh * (gh * xh).sum(axis=ax, keepdims=True))
        )
        return y, dx, (g * xh).sum(axis=ax), g.sum(axis=ax)

    benchmark(step)


def test_bn_relu_pool_torch(benchmark, rng, torch):
    benchmark.group = f"batch_norm+relu+max_pool2d train fwd+bwd {BRP}"
    T = torch.nn
    m = T.Sequential(T.BatchNorm2d(BRP[1]), T.ReLU(), T.MaxPool2d(2))
    x = torch.from_numpy(rng.standard_normal(BRP).astype(np.float32)).requires_grad_()
    dy = torch.from_numpy(
        rng.standard_normal((*BRP[:2], BRP[2] // 2, BRP[3] // 2)).astype(np.float32)
    )

    def step():
        x.grad = None
        m.zero_grad()
        m(x).backward(dy)

    benchmark(step)


# ----------------------------------------------------------------------------- layer norm


def test_layer_norm_pydlk(benchmark, rng, record_bandwidth):
    benchmark.group = f"layer_norm fwd+bwd {LN}"
    x, w, b, dy = _data(rng, LN, LN[1])
    y, m, r = np.empty_like(x), np.empty(LN[0], np.float32), np.empty(LN[0], np.float32)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(w)

    def step():
        C.layernorm_forward(x, w, b, EPS, y, m, r)
        C.layernorm_backward(dy, x, w, m, r, grad_input=dx, grad_weight=dw, grad_bias=db)

    benchmark(step)
    record_bandwidth(5 * x.nbytes)


def test_layer_norm_pydlk_autograd(benchmark, rng, record_bandwidth):
    benchmark.group = f"layer_norm fwd+bwd {LN}"
    x, w, b, dy = (pydlk.tensor(a) for a in _data(rng, LN, LN[1]))
    x.requires_grad_(), w.requires_grad_(), b.requires_grad_()

    def step():
        x.grad = w.grad = b.grad = None
        F.layer_norm(x, (LN[1],), w, b, EPS).backward(dy)

    benchmark(step)
    record_bandwidth(5 * np.asarray(x).nbytes)


def test_layer_norm_numpy(benchmark, rng, record_bandwidth):
    benchmark.group = f"layer_norm fwd+bwd {LN}"
    x, w, b, dy = _data(rng, LN, LN[1])
    D = LN[1]

    def step():
        mean = x.mean(1, keepdims=True)
        var = x.var(1, keepdims=True)
        rstd = 1 / np.sqrt(var + EPS)
        xhat = (x - mean) * rstd
        xhat * w + b
        (dy * xhat).sum(0), dy.sum(0)  # weight and bias gradients
        g = dy * w
        rstd / D * (D * g - g.sum(1, keepdims=True) - xhat * (g * xhat).sum(1, keepdims=True))

    benchmark(step)
    record_bandwidth(5 * x.nbytes)


def test_layer_norm_torch(benchmark, rng, torch, record_bandwidth):
    benchmark.group = f"layer_norm fwd+bwd {LN}"
    x, w, b, dy = (torch.from_numpy(a) for a in _data(rng, LN, LN[1]))
    x.requires_grad_(), w.requires_grad_(), b.requires_grad_()

    def step():
        x.grad = w.grad = b.grad = None
        torch.nn.functional.layer_norm(x, (LN[1],), w, b, EPS).backward(dy)

    benchmark(step)
    record_bandwidth(5 * x.nbytes)


# ----------------------------------------------------------------------------- group norm


def test_group_norm_pydlk(benchmark, rng, record_bandwidth):
    benchmark.group = f"group_norm fwd+bwd {GN} groups={GROUPS}"
    x, w, b, dy = _data(rng, GN, GN[1])
    st = (GN[0], GROUPS)
    y, m, r = np.empty_like(x), np.empty(st, np.float32), np.empty(st, np.float32)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(w)

    def step():
        C.groupnorm_forward(x, GROUPS, w, b, EPS, y, m, r)
        C.groupnorm_backward(dy, x, GROUPS, w, m, r, grad_input=dx, grad_weight=dw, grad_bias=db)

    benchmark(step)
    record_bandwidth(5 * x.nbytes)


def test_group_norm_numpy(benchmark, rng, record_bandwidth):
    benchmark.group = f"group_norm fwd+bwd {GN} groups={GROUPS}"
    x, w, b, dy = _data(rng, GN, GN[1])
    N, Cn = GN[:2]
    gs = (N, GROUPS, -1)
    sh = (1, Cn, 1, 1)
    D = x[0].size // GROUPS

    def step():
        xg = x.reshape(gs)
        mean = xg.mean(2, keepdims=True)
        var = xg.var(2, keepdims=True)
        rstd = 1 / np.sqrt(var + EPS)
        xhat = ((xg - mean) * rstd).reshape(x.shape)
        xhat * w.reshape(sh) + b.reshape(sh)
        (dy * xhat).sum((0, 2, 3)), dy.sum((0, 2, 3))  # weight and bias gradients
        g = (dy * w.reshape(sh)).reshape(gs)
        xh = xhat.reshape(gs)
        rstd / D * (D * g - g.sum(2, keepdims=True) - xh * (g * xh).sum(2, keepdims=True))

    benchmark(step)
    record_bandwidth(5 * x.nbytes)


def test_group_norm_torch(benchmark, rng, torch, record_bandwidth):
    benchmark.group = f"group_norm fwd+bwd {GN} groups={GROUPS}"
    x, w, b, dy = (torch.from_numpy(a) for a in _data(rng, GN, GN[1]))
    x.requires_grad_(), w.requires_grad_(), b.requires_grad_()

    def step():
        x.grad = w.grad = b.grad = None
        torch.nn.functional.group_norm(x, GROUPS, w, b, EPS).backward(dy)

    benchmark(step)
    record_bandwidth(5 * x.nbytes)
