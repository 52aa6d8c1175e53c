"""interpolate(..., antialias=True) on GPU tensors against the same call on the CPU: values and
gradients (float32, float64, several row blocks per axis, upscales and 1-pixel outputs),
double backward, and uint8 images byte for byte. They run under the host emulation
(tools/run_cuda_tests_on_host.py), which refuses what CuPy refuses, and skip without CuPy."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
import pydlk.functional as F


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize(
    "shape, kw",
    [
        ((2, 3, 150, 130), {"size": (61, 50)}),
        ((1, 2, 20, 30), {"size": (70, 96), "align_corners": True}),
        ((2, 1, 9, 9), {"size": (1, 4)}),
        ((1, 2, 23, 19), {"scale_factor": (0.37, 1.0)}),
    ],
)
def test_gpu_interpolate_antialias_matches_the_cpu(rng, mode, dtype, shape, kw):
    cupy_or_skip()
    x = rng.standard_normal(shape).astype(dtype)
    xc = pydlk.tensor(x, requires_grad=True)
    xg = pydlk.tensor(x).cuda().requires_grad_()
    yc = F.interpolate(xc, mode=mode, antialias=True, **kw)
    yg = F.interpolate(xg, mode=mode, antialias=True, **kw)
    assert str(yg.device) == "cuda:0" and yg.dtype == yc.dtype and yg.shape == yc.shape
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(host(yg), host(yc), rtol=tol, atol=tol)
    dy = rng.standard_normal(tuple(yc.shape)).astype(dtype)
    yc.backward(pydlk.tensor(dy))
    yg.backward(pydlk.tensor(dy).cuda())
    assert str(xg.grad.device) == "cuda:0"
    np.testing.assert_allclose(host(xg.grad), host(xc.grad), rtol=tol, atol=4 * tol)


def test_gpu_interpolate_antialias_double_backward(rng):
    cupy_or_skip()
    x = rng.standard_normal((1, 2, 40, 12))
    grads = []
    for dev in ("cpu", "cuda"):
        t = pydlk.tensor(x).to(dev).requires_grad_()
        y = F.interpolate(t * t, size=(13, 30), mode="bicubic", antialias=True)
        (g,) = pydlk.autograd.grad(y.sum(), t, create_graph=True)
        (gg,) = pydlk.autograd.grad((g * g).sum(), t)
        grads.append((host(g), host(gg)))
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_gpu_interpolate_antialias_uint8_matches_the_cpu(rng, mode):
    cupy_or_skip()
    x = rng.integers(0, 256, (2, 3, 100, 64)).astype(np.uint8)
    yc = F.interpolate(pydlk.tensor(x), size=(37, 90), mode=mode, antialias=True)
    yg = F.interpolate(pydlk.tensor(x).cuda(), size=(37, 90), mode=mode, antialias=True)
    assert str(yg.device) == "cuda:0" and yg.dtype == np.uint8
    np.testing.assert_array_equal(host(yg), host(yc))


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest", "nearest-exact"])
def test_gpu_interpolate_uint8_without_antialias_matches_the_cpu(rng, mode):
    cupy_or_skip()
    x = rng.integers(0, 256, (2, 3, 40, 27)).astype(np.uint8)
    yc = F.interpolate(pydlk.tensor(x), size=(17, 61), mode=mode)
    yg = F.interpolate(pydlk.tensor(x).cuda(), size=(17, 61), mode=mode)
    assert str(yg.device) == "cuda:0" and yg.dtype == np.uint8
    np.testing.assert_array_equal(host(yg), host(yc))
