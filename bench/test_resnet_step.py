"""One whole training step of ResNet-8 (models.resnet_small: 16-32-64 channels, one BasicBlock
per stage, BatchNorm) on CIFAR-sized 3x32x32 inputs, batch 64: forward, cross-entropy, backward,
SGD with momentum. pydlk against the same network in torch, same threads. No NumPy row: the
per-op benchmarks carry those comparisons."""

import numpy as np

import pydlk
from pydlk import models, nn, optim

BATCH = 64
GROUP = f"ResNet-8 train step, batch {BATCH}"


def _data(rng):
    return rng.standard_normal((BATCH, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, BATCH)


def test_pydlk(benchmark, rng):
    benchmark.group = GROUP
    x, y = _data(rng)
    pydlk.manual_seed(0)
    model = models.resnet_small(num_classes=10)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    xt = pydlk.tensor(x)

    def step():
        loss = loss_fn(model(xt), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    benchmark(step)


def _torch_resnet8(torch):
    """The same network in torch (torchvision's BasicBlock written out: torch alone is needed)."""
    T = torch.nn

    class Block(T.Module):
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            self.conv1 = T.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = T.BatchNorm2d(planes)
            self.conv2 = T.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = T.BatchNorm2d(planes)
            self.relu = T.ReLU()
            self.down = None
            if stride != 1 or inplanes != planes:
                self.down = T.Sequential(
                    T.Conv2d(inplanes, planes, 1, stride, bias=False), T.BatchNorm2d(planes)
                )

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + (x if self.down is None else self.down(x)))

    return T.Sequential(
        T.Conv2d(3, 16, 3, 1, 1, bias=False),
        T.BatchNorm2d(16),
        T.ReLU(),
        Block(16, 16, 1),
        Block(16, 32, 2),
        Block(32, 64, 2),
        T.AdaptiveAvgPool2d(1),
        T.Flatten(),
        T.Linear(64, 10),
    )


def test_torch(benchmark, rng, torch):
    benchmark.group = GROUP
    x, y = _data(rng)
    model = _torch_resnet8(torch)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        loss = loss_fn(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    benchmark(step)


def test_same_network(torch):
    # The two contenders must train the same architecture: same parameter shapes, in order.
    ours = [tuple(p.shape) for p in models.resnet_small(num_classes=10).parameters()]
    theirs = [tuple(p.shape) for p in _torch_resnet8(torch).parameters()]
    assert sorted(ours) == sorted(theirs)
