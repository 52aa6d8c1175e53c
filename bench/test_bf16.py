"""bfloat16 (autocast) on CPUs with AVX512_BF16: the bf16 GEMM against NumPy's float32 sgemm
and torch's bf16 matmul, attention-shaped batched products (bf16 against float32 and torch's
bf16 bmm), ResNet-8's 3x3 convolutions (fwd+bwd), and a ResNet-8 training step
(CIFAR-sized input, batch 64, SGD) in pydlk float32, pydlk autocast, torch float32 and torch
CPU autocast, in one run.
Run with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` (see README)."""

import numpy as np
import pytest

import pydlk
from pydlk import _C, models, nn, optim

pytestmark = pytest.mark.skipif(not _C.bf16_supported(), reason="CPU has no AVX512_BF16")

SIZES = [(64, 576, 1024), (256, 1024, 1024), (1024, 1024, 1024)]


def _mats(rng, M, K, N):
    return (rng.standard_normal((M, K)).astype(np.float32),
            rng.standard_normal((K, N)).astype(np.float32))  # fmt: skip


def _flops(benchmark, M, K, N):
    benchmark.group = f"GEMM {M}x{K}x{N}"
    benchmark.extra_info["gflop"] = 2 * M * K * N / 1e9


@pytest.mark.parametrize("M,K,N", SIZES)
def test_gemm_pydlk_bf16(benchmark, rng, M, K, N):
    _flops(benchmark, M, K, N)
    a, b = _mats(rng, M, K, N)
    benchmark(_C.gemm_bf16, a, b)


@pytest.mark.parametrize("M,K,N", SIZES)
def test_gemm_numpy_fp32(benchmark, rng, M, K, N):
    _flops(benchmark, M, K, N)
    a, b = _mats(rng, M, K, N)
    benchmark(np.matmul, a, b)


@pytest.mark.parametrize("M,K,N", SIZES)
def test_gemm_torch_bf16(benchmark, rng, torch, M, K, N):
    _flops(benchmark, M, K, N)
    a, b = (torch.tensor(v).bfloat16() for v in _mats(rng, M, K, N))
    benchmark(torch.matmul, a, b)


# Batched products as attention makes them (batch 16 x 4 heads, 128 tokens, head dim 64):
# scores q @ k^T and the output p @ v; _C.matmul_bf16 is what autocast's matmul and
# scaled_dot_product_attention call.
BMM = [(64, 128, 64, 128), (64, 128, 128, 64)]


def _bmm(benchmark, rng, B, M, K, N):
    benchmark.group = f"batched matmul {B}x({M}x{K} @ {K}x{N})"
    benchmark.extra_info["gflop"] = 2 * B * M * K * N / 1e9
    return (rng.standard_normal((B, M, K)).astype(np.float32),
            rng.standard_normal((B, K, N)).astype(np.float32))  # fmt: skip


@pytest.mark.parametrize("B,M,K,N", BMM)
def test_bmm_pydlk_bf16(benchmark, rng, B, M, K, N):
    benchmark(_C.matmul_bf16, *_bmm(benchmark, rng, B, M, K, N))


@pytest.mark.parametrize("B,M,K,N", BMM)
def test_bmm_pydlk_fp32(benchmark, rng, B, M, K, N):
    benchmark(_C.matmul, *_bmm(benchmark, rng, B, M, K, N))


@pytest.mark.parametrize("B,M,K,N", BMM)
def test_bmm_numpy_fp32(benchmark, rng, B, M, K, N):
    benchmark(np.matmul, *_bmm(benchmark, rng, B, M, K, N))


@pytest.mark.parametrize("B,M,K,N", BMM)
def test_bmm_torch_bf16(benchmark, rng, torch, B, M, K, N):
    a, b = (torch.tensor(v).bfloat16() for v in _bmm(benchmark, rng, B, M, K, N))
    benchmark(torch.bmm, a, b)


# ResNet-8's 3x3 convolutions (batch 64, stride 1, padding 1): fwd + bwd (input and weight).
# ResNet-8's 3x3 layers; the stride-2 one takes the strided input gradient.
LAYERS = [(16, 16, 32, 1), (32, 64, 16, 1), (64, 64, 8, 1), (16, 32, 32, 2)]


def _layer(benchmark, rng, C, K, H, S):
    OH = (H - 1) // S + 1
    benchmark.group = f"conv2d fwd+bwd N64 {C}->{K} {H}x{H} k3 p1" + (f" s{S}" if S > 1 else "")
    benchmark.extra_info["gflop"] = 3 * 2 * 64 * K * C * 9 * OH * OH / 1e9
    x = rng.standard_normal((64, C, H, H)).astype(np.float32)
    w = (0.1 * rng.standard_normal((K, C, 3, 3))).astype(np.float32)
    return x, w, rng.standard_normal((64, K, OH, OH)).astype(np.float32)


@pytest.mark.parametrize("mode", ["fp32", "autocast"])
@pytest.mark.parametrize("C,K,H,S", LAYERS)
def test_conv_layer_pydlk(benchmark, rng, C, K, H, S, mode):
    x, w, dy = _layer(benchmark, rng, C, K, H, S)
    xt, wt, dyt = (
        pydlk.tensor(x, requires_grad=True),
        pydlk.tensor(w, requires_grad=True),
        pydlk.tensor(dy),
    )

    def step():
        with pydlk.autocast(enabled=mode == "autocast"):
            y = pydlk.functional.conv2d(xt, wt, None, S, 1)
        y.backward(dyt)

    benchmark(step)


@pytest.mark.parametrize("mode", ["fp32", "autocast"])
@pytest.mark.parametrize("C,K,H,S", LAYERS)
def test_conv_layer_torch(benchmark, rng, torch, C, K, H, S, mode):
    x, w, dy = _layer(benchmark, rng, C, K, H, S)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    dyt = torch.tensor(dy)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "autocast"):
            y = torch.nn.functional.conv2d(xt, wt, None, S, 1)
        y.backward(dyt)

    benchmark(step)


def _batch(rng):
    return rng.standard_normal((64, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, 64)


@pytest.mark.parametrize("mode", ["fp32", "autocast"])
def test_resnet8_pydlk(benchmark, rng, mode):
    benchmark.group = "ResNet-8 train step, batch 64, 3x32x32"
    x, y = _batch(rng)
    pydlk.manual_seed(0)
    model = models.resnet_small(10, 3)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    xt = pydlk.tensor(x)

    def step():
        with pydlk.autocast(enabled=mode == "autocast"):
            loss = loss_fn(model(xt), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    benchmark(step)


def _torch_resnet8(torch):
    T = torch.nn

    class Block(T.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1, self.b1 = T.Conv2d(cin, cout, 3, stride, 1, bias=False), T.BatchNorm2d(cout)
            self.c2, self.b2 = T.Conv2d(cout, cout, 3, 1, 1, bias=False), T.BatchNorm2d(cout)
            self.short = T.Sequential()
            if stride != 1 or cin != cout:
                self.short = T.Sequential(T.Conv2d(cin, cout, 1, stride, bias=False),
                                          T.BatchNorm2d(cout))  # fmt: skip

        def forward(self, x):
            out = torch.relu(self.b1(self.c1(x)))
            return torch.relu(self.b2(self.c2(out)) + self.short(x))

    return T.Sequential(
        T.Conv2d(3, 16, 3, 1, 1, bias=False), T.BatchNorm2d(16), T.ReLU(),
        Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
        T.AdaptiveAvgPool2d(1), T.Flatten(), T.Linear(64, 10),
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["fp32", "autocast"])
def test_resnet8_torch(benchmark, rng, torch, mode):
    benchmark.group = "ResNet-8 train step, batch 64, 3x32x32"
    x, y = _batch(rng)
    torch.manual_seed(0)
    model = _torch_resnet8(torch)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "autocast"):
            loss = torch.nn.functional.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()

    benchmark(step)
