"""pool2d forward+backward on a CIFAR-sized activation: N=64, C=32, 32x32 float32 (8 MiB in).

pydlk runs with preallocated outputs (warm memory: out, indices and grad_input reused across
rounds); `pydlk_alloc` is the same call letting the binding allocate fresh outputs each round.
NumPy is the reshape-and-max / argmax version most people write; torch runs with autograd on the
same thread count. Bytes moved per step are recorded (extra_info["bytes"]) to turn medians into
GB/s: max pool reads x, writes y and int64 indices, reads dy and indices, writes dx; avg pool the
same without indices.
"""

import numpy as np
import pydlk._C as C
import pytest

N, CH, H, W = 64, 32, 32, 32
SHAPE = (N, CH, H, W)
CASES = {  # name: (kernel_size, stride, padding)
    "max 2x2/2": (2, 2, 0),
    "max 3x3/2 pad 1": (3, 2, 1),
    "avg 2x2/2": (2, 2, 0),
}


def _out(k, s, p):
    return (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1


def _data(rng, case):
    k, s, p = CASES[case]
    OH, OW = _out(k, s, p)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    dy = rng.standard_normal((N, CH, OH, OW)).astype(np.float32)
    return x, dy


def _bytes(case):
    k, s, p = CASES[case]
    OH, OW = _out(k, s, p)
    nx, ny = N * CH * H * W, N * CH * OH * OW
    if case.startswith("max"):
        return 4 * nx + 4 * ny + 8 * ny + 4 * ny + 8 * ny + 4 * nx
    return 4 * nx + 4 * ny + 4 * ny + 4 * nx


def _group(benchmark, case):
    benchmark.group = f"{case} fwd+bwd {SHAPE} float32"
    benchmark.extra_info["bytes"] = _bytes(case)


@pytest.mark.parametrize("case", CASES)
def test_pydlk(benchmark, rng, case):
    _group(benchmark, case)
    k, s, p = CASES[case]
    x, dy = _data(rng, case)
    dx = np.empty_like(x)
    y = np.empty_like(dy)
    idx = np.empty(dy.shape, np.int64)
    if case.startswith("max"):

        def step():
            C.max_pool2d_forward(x, k, s, p, out=y, indices=idx)
            C.max_pool2d_backward(dy, idx, (H, W), k, s, p, grad_input=dx)
    else:

        def step():
            C.avg_pool2d_forward(x, k, s, p, out=y)
            C.avg_pool2d_backward(dy, (H, W), k, s, p, grad_input=dx)

    benchmark(step)


@pytest.mark.parametrize("case", CASES)
def test_pydlk_alloc(benchmark, rng, case):
    _group(benchmark, case)
    k, s, p = CASES[case]
    x, dy = _data(rng, case)
    if case.startswith("max"):

        def step():
            _, idx = C.max_pool2d_forward(x, k, s, p)
            C.max_pool2d_backward(dy, idx, (H, W), k, s, p)
    else:

        def step():
            C.avg_pool2d_forward(x, k, s, p)
            C.avg_pool2d_backward(dy, (H, W), k, s, p)

    benchmark(step)


def _windows(x):
    """(N, C, OH, OW, 4): the 2x2 windows, the usual reshape/transpose trick."""
    return (
        x.reshape(N, CH, H // 2, 2, W // 2, 2)
        .transpose(0, 1, 2, 4, 3, 5)
        .reshape(N, CH, H // 2, W // 2, 4)
    )


@pytest.mark.parametrize("case", ["max 2x2/2", "avg 2x2/2"])
def test_numpy(benchmark, rng, case):
    _group(benchmark, case)
    x, dy = _data(rng, case)
    if case.startswith("max"):

        def step():
            win = _windows(x)
            a = win.argmax(-1)
            np.take_along_axis(win, a[..., None], -1)[..., 0]  # y
            dwin = np.zeros(win.shape, x.dtype)
            np.put_along_axis(dwin, a[..., None], dy[..., None], -1)
            dwin.reshape(N, CH, H // 2, W // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(SHAPE)
    else:

        def step():
            x.reshape(N, CH, H // 2, 2, W // 2, 2).mean(axis=(3, 5))  # y
            np.repeat(np.repeat(dy / 4, 2, axis=2), 2, axis=3)  # dx

    benchmark(step)


@pytest.mark.parametrize("case", CASES)
def test_torch(benchmark, rng, torch, case):
    _group(benchmark, case)
    k, s, p = CASES[case]
    x, dy = (torch.from_numpy(a) for a in _data(rng, case))
    x.requires_grad_()
    fn = (
        torch.nn.functional.max_pool2d if case.startswith("max") else torch.nn.functional.avg_pool2d
    )

    def step():
        x.grad = None
        fn(x, k, s, p).backward(dy)

    benchmark(step)


# ----------------------------------------------------------------------------- global average
# A ResNet's head: adaptive_avg_pool2d to (1, 1) on its last activation, (64, 64, 8, 8) for the
# CIFAR ResNet-8 of bench/test_resnet_step.py; as users call it (fresh outputs each round).
GAP = (64, 64, 8, 8)


def _gap_data(rng):
    return (
        rng.standard_normal(GAP).astype(np.float32),
        rng.standard_normal(GAP[:2] + (1, 1)).astype(np.float32),
    )


def _gap_group(benchmark):
    benchmark.group = f"global average pool fwd+bwd {GAP} float32"
    benchmark.extra_info["bytes"] = 2 * 4 * int(np.prod(GAP))


def test_gap_pydlk(benchmark, rng):
    _gap_group(benchmark)
    x, dy = _gap_data(rng)

    def step():
        C.adaptive_avg_pool2d_forward(x, (1, 1))
        C.adaptive_avg_pool2d_backward(dy, GAP[2:])

    benchmark(step)


def test_gap_numpy(benchmark, rng):
    _gap_group(benchmark)
    x, dy = _gap_data(rng)

    def step():
        x.mean(axis=(2, 3), keepdims=True)  # y
        np.broadcast_to(dy / (GAP[2] * GAP[3]), GAP).copy()  # dx

    benchmark(step)


def test_gap_torch(benchmark, rng, torch):
    _gap_group(benchmark)
    x, dy = (torch.from_numpy(a) for a in _gap_data(rng))
    x.requires_grad_()

    def step():
        x.grad = None
        torch.nn.functional.adaptive_avg_pool2d(x, (1, 1)).backward(dy)

    benchmark(step)
