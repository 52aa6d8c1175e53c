"""cross_entropy forward+backward (mean over the batch) on ImageNet-like logits (256, 1000) and
CIFAR-like (4096, 10): pydlk kernels, plain NumPy, torch."""

import numpy as np
import pydlk._C as C
import pytest

import pydlk

SHAPES = {"256x1000": (256, 1000), "4096x10": (4096, 10)}


def _data(rng, N, Cn):
    x = rng.standard_normal((N, Cn)).astype(np.float32) * 3
    t = rng.integers(0, Cn, N).astype(np.int64)
    return x, t


@pytest.mark.parametrize("shape", SHAPES)
def test_pydlk(benchmark, rng, shape):
    benchmark.group = f"cross_entropy fwd+bwd {shape}"
    x, t = _data(rng, *SHAPES[shape])

    def step():  # the loss and the gradient of its mean, from one kernel call
        loss, lse, total, denom, dx = C.cross_entropy_forward(x, t, None, -100, 0.0, "mean")

    benchmark(step)


@pytest.mark.parametrize("shape", SHAPES)
def test_pydlk_autograd(benchmark, rng, shape):
    """As users call it: pydlk.functional.cross_entropy and backward (fresh outputs)."""
    benchmark.group = f"cross_entropy fwd+bwd {shape}"
    x, t = _data(rng, *SHAPES[shape])
    x, t = pydlk.tensor(x, requires_grad=True), pydlk.tensor(t)

    def step():
        x.grad = None
        pydlk.functional.cross_entropy(x, t).backward()

    benchmark(step)


@pytest.mark.parametrize("shape", SHAPES)
def test_numpy(benchmark, rng, shape):
    benchmark.group = f"cross_entropy fwd+bwd {shape}"
    x, t = _data(rng, *SHAPES[shape])
    rows = np.arange(len(t))

    def step():
        z = x - x.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = (np.log(s[:, 0]) - z[rows, t]).mean()
        dx = e / s
        dx[rows, t] -= 1
        dx /= len(t)
        return loss, dx

    benchmark(step)


@pytest.mark.parametrize("shape", SHAPES)
def test_torch(benchmark, rng, torch, shape):
    benchmark.group = f"cross_entropy fwd+bwd {shape}"
    x, t = _data(rng, *SHAPES[shape])
    x, t = torch.from_numpy(x).requires_grad_(), torch.from_numpy(t)

    def step():
        x.grad = None
        torch.nn.functional.cross_entropy(x, t).backward()

    benchmark(step)


# ------------------------------------------------------- binary cross-entropy on logits

BCE = (4096, 1024)


def _bce(rng):
    x = rng.standard_normal(BCE).astype(np.float32)
    return (
        x,
        (rng.random(BCE) < 0.3).astype(np.float32),
        rng.uniform(0.5, 2, BCE[1]).astype(np.float32),
    )


def test_bce_logits_pydlk(benchmark, rng):
    benchmark.group = f"binary_cross_entropy_with_logits fwd+bwd {BCE}, pos_weight"
    x, t, pw = _bce(rng)
    x, t, pw = pydlk.tensor(x, requires_grad=True), pydlk.tensor(t), pydlk.tensor(pw)
    f = pydlk.nn.functional.binary_cross_entropy_with_logits

    def step():
        x.grad = None
        f(x, t, pos_weight=pw).backward()

    benchmark(step)


def test_bce_logits_numpy(benchmark, rng):
    benchmark.group = f"binary_cross_entropy_with_logits fwd+bwd {BCE}, pos_weight"
    x, t, pw = _bce(rng)

    def step():  # the stable textbook form and its derivative
        e = np.exp(-np.abs(x))
        lw = 1 + (pw - 1) * t
        loss = ((1 - t) * x + lw * (np.log1p(e) + np.maximum(-x, 0))).mean()
        sig_neg = np.where(x >= 0, e / (1 + e), 1 / (1 + e))
        return loss, ((1 - t) - lw * sig_neg) / x.size

    benchmark(step)


def test_bce_logits_torch(benchmark, rng, torch):
    benchmark.group = f"binary_cross_entropy_with_logits fwd+bwd {BCE}, pos_weight"
    x, t, pw = _bce(rng)
    x, t, pw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(t), torch.from_numpy(pw)
    f = torch.nn.functional.binary_cross_entropy_with_logits

    def step():
        x.grad = None
        f(x, t, pos_weight=pw).backward()

    benchmark(step)
