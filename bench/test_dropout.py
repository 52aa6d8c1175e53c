"""dropout p=0.5 forward+backward on 16M float32 (64 MB per tensor): pydlk (packed bit mask, and
mask regenerated from (seed, offset) in the backward), plain NumPy, torch. Memory-bound: the
pass moves x, y, dy, dx = 256 MB (+ 4 MB of mask bits); GB/s = 256 MB / median.
Outputs are preallocated and reused (warm memory) for the pydlk kernel rows; the pydlk autograd
row, NumPy and torch allocate as their users' code does (fresh 64 MB outputs: page faults)."""

import numpy as np
import pydlk._C as C
import pytest

import pydlk

N = 16 * 1024 * 1024
P = 0.5
GROUP = "dropout fwd+bwd 16M float32"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N, dtype=np.float32)
    dy = rng.standard_normal(N, dtype=np.float32)
    return x, dy


def test_pydlk_bitmask(benchmark, data, record_bandwidth):
    benchmark.group = GROUP
    x, dy = data
    y, dx = np.empty_like(x), np.empty_like(x)
    mask = np.empty((N + 31) // 32, np.uint32)
    y.fill(0), dx.fill(0)

    def step():
        C.dropout_forward(x, P, 1234, 0, out=y, mask=mask)
        C.dropout_backward(dy, mask, P, 1234, 0, out=dx)

    benchmark(step)
    record_bandwidth(4 * N * 4)


def test_pydlk_regenerate(benchmark, data, record_bandwidth):
    benchmark.group = GROUP
    x, dy = data
    y, dx = np.empty_like(x), np.empty_like(x)
    y.fill(0), dx.fill(0)

    def step():
        C.dropout_forward(x, P, 1234, 0, out=y, save_mask=False)
        C.dropout_backward(dy, None, P, 1234, 0, out=dx)

    benchmark(step)
    record_bandwidth(4 * N * 4)


def test_pydlk_autograd(benchmark, data, record_bandwidth):
    benchmark.group = GROUP
    x, dy = (pydlk.tensor(a) for a in data)
    x.requires_grad_()

    def step():
        x.grad = None
        pydlk.functional.dropout(x, P).backward(dy)

    benchmark(step)
    record_bandwidth(4 * N * 4)


def test_numpy(benchmark, data):
    benchmark.group = GROUP
    x, dy = data
    rng = np.random.default_rng(1)

    def step():
        mask = rng.random(x.shape) >= P
        y = x * mask / (1 - P)
        dx = dy * mask / (1 - P)
        return y, dx

    benchmark(step)


def test_torch(benchmark, data, torch):
    benchmark.group = GROUP
    x, dy = (torch.from_numpy(a) for a in data)
    x.requires_grad_()

    def step():
        x.grad = None
        torch.nn.functional.dropout(x, P).backward(dy)

    benchmark(step)
