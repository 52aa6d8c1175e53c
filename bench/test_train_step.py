"""One whole training step of LeNet-5 with BatchNorm on 1x32x32 inputs (forward, cross-entropy,
backward, Adam), batch 64 and 256: pydlk against the same network in torch, same threads.
There is no plain-NumPy row here: the per-op benchmarks carry those comparisons."""

import numpy as np
import pytest

import pydlk
from pydlk import models, nn, optim

BATCHES = [64, 256]


def _data(rng, n):
    return rng.standard_normal((n, 1, 32, 32)).astype(np.float32), rng.integers(0, 10, n)


@pytest.mark.parametrize("batch", BATCHES)
def test_pydlk(benchmark, rng, batch):
    benchmark.group = f"LeNet-5+BN train step, batch {batch}"
    x, y = _data(rng, batch)
    pydlk.manual_seed(0)
    model = models.LeNet5(num_classes=10, in_channels=1, in_size=32)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt = pydlk.tensor(x)

    def step():
        loss = loss_fn(model(xt), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    benchmark(step)


@pytest.mark.parametrize("batch", BATCHES)
def test_torch(benchmark, rng, torch, batch):
    benchmark.group = f"LeNet-5+BN train step, batch {batch}"
    x, y = _data(rng, batch)
    T = torch.nn
    model = T.Sequential(
        T.Conv2d(1, 6, 5),
        T.BatchNorm2d(6),
        T.ReLU(),
        T.MaxPool2d(2),
        T.Conv2d(6, 16, 5),
        T.BatchNorm2d(16),
        T.ReLU(),
        T.MaxPool2d(2),
        T.Flatten(),
        T.Linear(400, 120),
        T.BatchNorm1d(120),
        T.ReLU(),
        T.Linear(120, 84),
        T.BatchNorm1d(84),
        T.ReLU(),
        T.Linear(84, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    loss_fn = T.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        loss = loss_fn(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    benchmark(step)
