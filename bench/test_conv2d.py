"""conv2d forward+backward (grads of input, weight and bias): LeNet's two convolutions and
CIFAR-sized ones (ResNet-8's stride-1 layers among them), pydlk against plain NumPy (im2col
with stride tricks + matmul) and torch. The float32 3x3 stride-1 shapes with 8+ channels run
Winograd ('auto'); test_pydlk_gemm_path times the im2col + GEMM path on the same shapes.

Warm memory: pydlk's im2col workspace is reused across calls (thread-local in the binding);
outputs are allocated by each call, as torch's and NumPy's are."""

import numpy as np
import pydlk._C as C
import pytest
from numpy.lib.stride_tricks import sliding_window_view

# name: (N, C, H, W, K, k, padding)
SHAPES = {
    "lenet_conv1": (64, 1, 28, 28, 6, 5, 0),
    "lenet_conv2": (64, 6, 12, 12, 16, 5, 0),
    "cifar_3to32": (64, 3, 32, 32, 32, 3, 1),
    "cifar_32to64": (64, 32, 16, 16, 64, 3, 1),
    "cifar_64to64": (64, 64, 32, 32, 64, 3, 1),
    "resnet_16to16": (64, 16, 32, 32, 16, 3, 1),
    "resnet_64to64_8x8": (64, 64, 8, 8, 64, 3, 1),
}
WINOGRAD = ["cifar_32to64", "cifar_64to64", "resnet_16to16", "resnet_64to64_8x8"]


def _data(rng, N, Cin, H, W, K, k, p):
    f = np.float32
    OH, OW = H + 2 * p - k + 1, W + 2 * p - k + 1
    return (
        rng.standard_normal((N, Cin, H, W)).astype(f),
        rng.standard_normal((K, Cin, k, k)).astype(f) * 0.1,
        rng.standard_normal(K).astype(f),
        rng.standard_normal((N, K, OH, OW)).astype(f),
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_pydlk(benchmark, rng, shape):
    benchmark.group = f"conv2d fwd+bwd {shape}"
    x, w, b, dy = _data(rng, *SHAPES[shape])
    p = SHAPES[shape][-1]

    def step():
        C.conv2d_forward(x, w, b, 1, p)
        C.conv2d_backward(dy, x, w, 1, p)

    benchmark(step)


@pytest.mark.parametrize("shape", ["lenet_conv1"])
def test_pydlk_direct_path(benchmark, rng, shape):
    # 'direct' by name on this one-input-channel shape: the depthwise loops, forward and backward
    # ('auto' runs the AVX-512 dense forward and the gemm backward; see conv2d.cpp).
    benchmark.group = f"conv2d fwd+bwd {shape}"
    x, w, b, dy = _data(rng, *SHAPES[shape])
    p = SHAPES[shape][-1]

    def step():
        C.conv2d_forward(x, w, b, 1, p, algorithm="direct")
        C.conv2d_backward(dy, x, w, 1, p, algorithm="direct")

    benchmark(step)


@pytest.mark.parametrize("shape", WINOGRAD)
def test_pydlk_gemm_path(benchmark, rng, shape):
    # What Winograd replaces on these shapes: im2col + GEMM, the exact direct sum.
    benchmark.group = f"conv2d fwd+bwd {shape}"
    x, w, b, dy = _data(rng, *SHAPES[shape])
    p = SHAPES[shape][-1]

    def step():
        C.conv2d_forward(x, w, b, 1, p, algorithm="gemm")
        C.conv2d_backward(dy, x, w, 1, p, algorithm="gemm")

    benchmark(step)


def numpy_conv_fwd_bwd(x, w, b, dy, p):
    N, Cin, H, W = x.shape
    K, _, R, S = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    OH, OW = xp.shape[2] - R + 1, xp.shape[3] - S + 1
    # im2col: (N*OH*OW, C*R*S) from a strided window view
    cols = sliding_window_view(xp, (R, S), axis=(2, 3)).transpose(0, 2, 3, 1, 4, 5)
    cols = cols.reshape(N * OH * OW, Cin * R * S)
    w2 = w.reshape(K, -1)
    y = (cols @ w2.T + b).reshape(N, OH, OW, K).transpose(0, 3, 1, 2)
    # backward
    dy2 = dy.transpose(0, 2, 3, 1).reshape(-1, K)
    dw = (dy2.T @ cols).reshape(w.shape)
    db = dy2.sum(0)
    dcols = (dy2 @ w2).reshape(N, OH, OW, Cin, R, S)
    dxp = np.zeros_like(xp)
    for r in range(R):
        for s in range(S):
            dxp[:, :, r : r + OH, s : s + OW] += dcols[..., r, s].transpose(0, 3, 1, 2)
    dx = dxp[:, :, p : p + H, p : p + W]
    return y, dx, dw, db


@pytest.mark.parametrize("shape", SHAPES)
def test_numpy(benchmark, rng, shape):
    benchmark.group = f"conv2d fwd+bwd {shape}"
    x, w, b, dy = _data(rng, *SHAPES[shape])
    benchmark(numpy_conv_fwd_bwd, x, w, b, dy, SHAPES[shape][-1])


@pytest.mark.parametrize("shape", SHAPES)
def test_torch(benchmark, rng, torch, shape):
    benchmark.group = f"conv2d fwd+bwd {shape}"
    x, w, b, dy = (torch.from_numpy(a) for a in _data(rng, *SHAPES[shape]))
    x.requires_grad_(), w.requires_grad_(), b.requires_grad_()
    p = SHAPES[shape][-1]

    def step():
        x.grad = w.grad = b.grad = None
        torch.nn.functional.conv2d(x, w, b, padding=p).backward(dy)

    benchmark(step)


def test_numpy_reference_is_right(rng):
    # The NumPy contender must do the same work correctly, or the comparison means nothing.
    x, w, b, dy = _data(rng, 2, 3, 9, 9, 4, 3, 1)
    y, dx, dw, db = numpy_conv_fwd_bwd(x, w, b, dy, 1)
    np.testing.assert_allclose(y, C.conv2d_forward(x, w, b, 1, 1), rtol=1e-4, atol=1e-4)
    for a, r in zip((dx, dw, db), C.conv2d_backward(dy, x, w, 1, 1)):
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-4)
