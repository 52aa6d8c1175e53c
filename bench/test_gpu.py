"""GPU benchmarks: pydlk (CuPy) against torch CUDA on the same work, one run. Each timed call
ends with a device synchronisation, so the time is the GPU's. Skips without CuPy and a GPU, or
without a CUDA build of torch.

    pytest bench/test_gpu.py --benchmark-group-by=group

Rows (the reference figures from an H200 are in the architecture notes): the LeNet-5+BN Adam
training step eager and as one CUDA graph at batch 64/256/4096; conv2d fwd+bwd on two shapes;
max_pool2d and BatchNorm2d fwd+bwd on (256, 64, 64, 64); dropout fwd+bwd on 256M floats; Adam on
256M floats and over LeNet-5+BN's parameters.
"""

import numpy as np
import pytest

import pydlk
import pydlk.functional as F
from pydlk import nn

cp = pytest.importorskip("cupy")
if not pydlk.cuda.is_available() or getattr(cp, "__host_emulator__", False):
    pytest.skip("no CUDA GPU", allow_module_level=True)
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("torch has no CUDA", allow_module_level=True)


def _sync_pydlk():
    cp.cuda.runtime.deviceSynchronize()


def _timed(benchmark, fn, sync, rounds=20):
    def run():
        fn()
        sync()

    for _ in range(3):  # compile kernels, fill the memory pools
        run()
    benchmark.pedantic(run, rounds=rounds, iterations=1)


def _lenet_pydlk():
    from pydlk.models import LeNet5

    return LeNet5(num_classes=10, in_channels=1, in_size=28).to("cuda")


def _lenet_torch():
    t = torch.nn
    return t.Sequential(
        t.Conv2d(1, 6, 5, padding=2), t.BatchNorm2d(6), t.ReLU(), t.MaxPool2d(2),
        t.Conv2d(6, 16, 5), t.BatchNorm2d(16), t.ReLU(), t.MaxPool2d(2), t.Flatten(),
        t.Linear(400, 120), t.BatchNorm1d(120), t.ReLU(),
        t.Linear(120, 84), t.BatchNorm1d(84), t.ReLU(), t.Linear(84, 10),
    ).cuda()  # fmt: skip


BATCHES = [64, 256, 4096]


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("lib", ["pydlk", "torch"])
def test_lenet_step_eager(benchmark, lib, n):
    benchmark.group = f"lenet5-bn adam step eager N{n}"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, n)
    if lib == "pydlk":
        m = _lenet_pydlk()
        opt = pydlk.optim.Adam(m.parameters(), lr=1e-3)
        gx, gy, loss_fn = (
            pydlk.tensor(cp.asarray(x)),
            pydlk.tensor(cp.asarray(y)),
            nn.CrossEntropyLoss(),
        )

        def step():
            opt.zero_grad()
            loss_fn(m(gx), gy).backward()
            opt.step()

        _timed(benchmark, step, _sync_pydlk)
    else:
        m = _lenet_torch()
        opt = torch.optim.Adam(m.parameters(), lr=1e-3, fused=True)
        tx, ty = torch.tensor(x, device="cuda"), torch.tensor(y, device="cuda")
        loss_fn = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss_fn(m(tx), ty).backward()
            opt.step()

        _timed(benchmark, step, torch.cuda.synchronize)


@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("lib", ["pydlk", "torch"])
def test_lenet_step_graphed(benchmark, lib, n):
    """Both graph an Adam step with the step count on the device (capturable=True): pydlk's
    graph_train_step (zero_grad's memset, forward, backward, one fused Adam kernel) against
    torch's captured backward and capturable Adam."""
    benchmark.group = f"lenet5-bn step as a CUDA graph N{n}"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, n)
    if lib == "pydlk":
        m = _lenet_pydlk()
        opt = pydlk.optim.Adam(m.parameters(), lr=1e-3, capturable=True)
        gx, gy = cp.asarray(x), cp.asarray(y)
        step = pydlk.cuda.graph_train_step(m, nn.CrossEntropyLoss(), opt, gx, gy)
        _timed(benchmark, lambda: step(gx, gy), _sync_pydlk)
    else:
        m = _lenet_torch()
        opt = torch.optim.Adam(m.parameters(), lr=1e-3, capturable=True)
        sx, sy = torch.tensor(x, device="cuda"), torch.tensor(y, device="cuda")
        loss_fn = torch.nn.CrossEntropyLoss()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                opt.zero_grad(set_to_none=True)
                loss_fn(m(sx), sy).backward()
                opt.step()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(g):
            loss_fn(m(sx), sy).backward()
            opt.step()
        _timed(benchmark, g.replay, torch.cuda.synchronize)


CONVS = [(64, 32, 64, 16), (256, 64, 64, 32)]


@pytest.mark.parametrize("shape", CONVS, ids=lambda s: f"N{s[0]}-{s[1]}to{s[2]}-{s[3]}px")
@pytest.mark.parametrize("lib", ["pydlk", "torch"])
def test_conv2d_fwd_bwd(benchmark, lib, shape):
    n, cin, cout, hw = shape
    benchmark.group = f"conv2d k3 p1 fwd+bwd N{n} {cin}->{cout} {hw}x{hw}"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, cin, hw, hw)).astype(np.float32)
    w = (rng.standard_normal((cout, cin, 3, 3)) * 0.1).astype(np.float32)
    _fwd_bwd(benchmark, lib, lambda X, W: F.conv2d(X, W, padding=1),
             lambda X, W: torch.nn.functional.conv2d(X, W, padding=1), x, w)  # fmt: skip


def _fwd_bwd(benchmark, lib, pfn, tfn, *arrays):
    if lib == "pydlk":
        ts = [pydlk.tensor(cp.asarray(a), requires_grad=True) for a in arrays]
        _timed(benchmark, lambda: pfn(*ts).sum().backward(), _sync_pydlk)
    else:
        ts = [torch.tensor(a, device="cuda", requires_grad=True) for a in arrays]
        _timed(benchmark, lambda: tfn(*ts).sum().backward(), torch.cuda.synchronize)


@pytest.mark.parametrize("lib", ["pydlk", "torch"])
def test_max_pool2d_fwd_bwd(benchmark, lib):
    benchmark.group = "max_pool2d 2x2 fwd+bwd (256, 64, 64, 64)"
    x = np.random.default_rng(0).standard_normal((256, 64, 64, 64), dtype=np.float32)
    _fwd_bwd(benchmark, lib, lambda X: F.max_pool2d(X, 2),
             lambda X: torch.nn.functional.max_pool2d(X, 2), x)  # fmt: skip


@pytest.mark.parametrize("lib", ["pydlk", "torch"])
def test_batchnorm2d_fwd_bwd(benchmark, lib):
    benchmark.group = "BatchNorm2d train fwd+bwd (256, 64, 64, 64)"
    x = np.random.default_rng(0).standard_normal((256, 64, 64, 64), dtype=np.float32)
    if lib == "pydlk":
        m = nn.BatchNorm2d(64, device="cuda")
        t = pydlk.tensor(cp.asarray(x), requires_grad=True)
        _timed(benchmark, lambda: m(t).sum().backward(), _sync_pydlk)
    else:
        m = torch.nn.BatchNorm2d(64).cuda()
        t = torch.tensor(x, device="cuda", requires_grad=True)
        _timed(benchmark, lambda: m(t).sum().backward(), torch.cuda.synchronize)


BIG = 256 * 2**20  # 256M floats


@pytest.mark.parametrize("lib", ["pydlk", "torch"])
def test_dropout_fwd_bwd(benchmark, lib):
    benchmark.group = "dropout p=0.5 fwd+bwd 256M floats"
    if lib == "pydlk":
        t = pydlk.tensor(cp.ones(BIG, cp.float32), requires_grad=True)
        _timed(benchmark, lambda: F.dropout(t, 0.5).sum().backward(), _sync_pydlk, rounds=10)
    else:
        t = torch.ones(BIG, device="cuda", requires_grad=True)
        f = torch.nn.functional.dropout
        _timed(benchmark, lambda: f(t, 0.5).sum().backward(), torch.cuda.synchronize, rounds=10)


@pytest.mark.parametrize("lib", ["pydlk", "torch"])
def test_adam_256m(benchmark, lib):
    benchmark.group = "Adam step 256M floats"
    if lib == "pydlk":
        p = pydlk.tensor(cp.zeros(BIG, cp.float32), requires_grad=True)
        opt = pydlk.optim.Adam([p])
        p.grad = pydlk.tensor(cp.ones(BIG, cp.float32))
        _timed(benchmark, opt.step, _sync_pydlk, rounds=10)
    else:
        p = torch.zeros(BIG, device="cuda", requires_grad=True)
        p.grad = torch.ones(BIG, device="cuda")
        opt = torch.optim.Adam([p], fused=True)
        _timed(benchmark, opt.step, torch.cuda.synchronize, rounds=10)


@pytest.mark.parametrize("lib", ["pydlk", "torch"])
def test_adam_lenet_parameters(benchmark, lib):
    """pydlk: one kernel over LeNet-5+BN's flat arena; torch: its fused Adam over the tensors."""
    benchmark.group = "Adam step over LeNet-5+BN's parameters"
    if lib == "pydlk":
        m = _lenet_pydlk()
        opt = pydlk.optim.Adam(m.parameters())
        for p in m.parameters():
            p.grad = pydlk.tensor(cp.ones(p.shape, cp.float32))
        _timed(benchmark, opt.step, _sync_pydlk, rounds=100)
    else:
        m = _lenet_torch()
        opt = torch.optim.Adam(m.parameters(), fused=True)
        for p in m.parameters():
            p.grad = torch.ones_like(p)
        _timed(benchmark, opt.step, torch.cuda.synchronize, rounds=100)
