"""linear forward+backward, LeNet-sized (batch 64, 400 -> 120) and a wide layer
(256, 1024 -> 1024)."""

import numpy as np
import pydlk._C as C
import pytest

import pydlk

SHAPES = {"lenet_fc1": (64, 400, 120), "wide": (256, 1024, 1024)}


def _data(rng, N, IN, OUT):
    f = np.float32
    return (
        rng.standard_normal((N, IN)).astype(f),
        rng.standard_normal((OUT, IN)).astype(f),
        rng.standard_normal(OUT).astype(f),
        rng.standard_normal((N, OUT)).astype(f),
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_pydlk(benchmark, rng, shape):
    benchmark.group = f"linear fwd+bwd {shape}"
    x, w, b, dy = _data(rng, *SHAPES[shape])

    def step():
        C.linear_forward(x, w, b)
        C.linear_backward(dy, x, w)

    benchmark(step)


@pytest.mark.parametrize("shape", SHAPES)
def test_numpy(benchmark, rng, shape):
    benchmark.group = f"linear fwd+bwd {shape}"
    x, w, b, dy = _data(rng, *SHAPES[shape])

    def step():
        x @ w.T + b
        dy @ w, dy.T @ x, dy.sum(0)

    benchmark(step)


@pytest.mark.parametrize("shape", SHAPES)
def test_torch(benchmark, rng, torch, shape):
    benchmark.group = f"linear fwd+bwd {shape}"
    x, w, b, dy = (torch.from_numpy(a) for a in _data(rng, *SHAPES[shape]))
    x.requires_grad_(), w.requires_grad_(), b.requires_grad_()

    def step():
        x.grad = w.grad = b.grad = None
        torch.nn.functional.linear(x, w, b).backward(dy)

    benchmark(step)


# ----------------------------------------------------------------------------- batched matmul

# attention's score product: q (B*H, T, E) @ k^T, k read as a transposed view
BMM = (64, 128, 64)


def _bmm(rng):
    q = rng.standard_normal(BMM).astype(np.float32)
    return q, rng.standard_normal(BMM).astype(np.float32)


def test_bmm_pydlk(benchmark, rng):
    benchmark.group = f"matmul q @ k^T {BMM}"
    q, k = (pydlk.tensor(a) for a in _bmm(rng))
    benchmark(lambda: pydlk.matmul(q, k.transpose(-1, -2)))


def test_bmm_numpy(benchmark, rng):
    benchmark.group = f"matmul q @ k^T {BMM}"
    q, k = _bmm(rng)
    benchmark(lambda: q @ k.swapaxes(-1, -2))


def test_bmm_torch(benchmark, rng, torch):
    benchmark.group = f"matmul q @ k^T {BMM}"
    q, k = (torch.from_numpy(a) for a in _bmm(rng))
    benchmark(lambda: torch.matmul(q, k.transpose(-1, -2)))
