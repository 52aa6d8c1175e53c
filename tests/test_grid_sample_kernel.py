"""The compiled grid_sample (csrc/grid_sample.cpp: _C.grid_sample_forward/backward, bilinear,
trilinear and nearest): against torch 2.13 for images and volumes, every padding mode,
align_corners and both float dtypes (values and both gradients); against the tap code of
pydlk/functional/grid_sampling.py, which the GPU runs (another implementation of the same
formulas), including non-finite coordinates; textbook values (pixel centres read back exactly,
a half-way point the mean of two pixels); float64 gradcheck through F.grid_sample; errors."""

import itertools

import numpy as np
import pytest

import pydlk
import pydlk.functional as F
from pydlk import _C
from pydlk.functional import grid_sampling as gs

torch = pytest.importorskip("torch")

CASES = list(
    itertools.product(
        [2, 3], ["bilinear", "nearest"], ["zeros", "border", "reflection"], [False, True]
    )
)


def _data(rng, k, dtype, lo=-1.3, hi=1.3):
    xs = (2, 3) + ((5, 6) if k == 2 else (4, 5, 6))
    grid = (2,) + ((7, 4) if k == 2 else (3, 4, 5)) + (k,)
    return rng.standard_normal(xs).astype(dtype), rng.uniform(lo, hi, grid).astype(dtype)


@pytest.mark.parametrize("k, mode, padding, align", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_torch(rng, k, mode, padding, align, dtype):
    x, g = _data(rng, k, dtype)
    y = _C.grid_sample_forward(x, g, mode, padding, align)
    tx = torch.tensor(x, requires_grad=True)
    tg = torch.tensor(g, requires_grad=True)
    ty = torch.nn.functional.grid_sample(
        tx, tg, mode=mode, padding_mode=padding, align_corners=align
    )
    dy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(dy))
    dx, dg = _C.grid_sample_backward(dy, x, g, mode, padding, align)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert y.dtype == dtype and dx.dtype == dtype and dg.dtype == dtype
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(dg, tg.grad.numpy(), rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("k, mode, padding, align", CASES)
def test_kernel_matches_the_tap_code_with_non_finite_coordinates(rng, k, mode, padding, align):
    x, g = _data(rng, k, np.float64, -2.5, 2.5)
    flat = g.reshape(-1)
    flat[::7] = np.nan
    flat[3::11] = np.inf
    flat[5::13] = -np.inf
    flat[6::17] = 3e9  # beyond int range: read as outside
    taps = gs._taps(g, x.shape[2:], mode, padding, align)
    dy = rng.standard_normal((2, 3) + g.shape[1:-1])
    with np.errstate(all="ignore"):
        y = _C.grid_sample_forward(x, g, mode, padding, align)
        dx, dg = _C.grid_sample_backward(dy, x, g, mode, padding, align)
        ref_y = gs._sample(x, taps, g.shape[1:-1])
        ref_dx = gs._sample_adjoint(dy, taps, x.shape[2:])
    np.testing.assert_allclose(y, ref_y, rtol=1e-12, atol=1e-12)  # NaN where the taps give NaN
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)
    if mode == "nearest":
        np.testing.assert_array_equal(dg, 0)
    else:
        with np.errstate(all="ignore"):
            ref_dg = gs._grid_grad(x, dy, taps, g.shape)
        finite = np.isfinite(g).all(-1)  # NaN coordinates: both give NaN or 0 products
        np.testing.assert_allclose(dg[finite], ref_dg[finite], rtol=1e-12, atol=1e-12)
    assert np.isnan(y[0, :, 0, 0] if k == 2 else y[0, :, 0, 0, 0]).all() or mode == "nearest"


def test_textbook_values():
    x = np.arange(2 * 3 * 4, dtype=np.float64).reshape(1, 2, 3, 4)
    # align_corners=True: -1 and 1 are the centres of the corner pixels
    xs, ys = np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-1, 1, 3))
    grid = np.stack([xs, ys], -1)[None]
    for mode in ("bilinear", "nearest"):
        y = _C.grid_sample_forward(x, grid, mode, "zeros", True)
        np.testing.assert_allclose(y, x, atol=1e-12)  # every pixel centre read back
    # half-way between pixel (0, 0) and (0, 1) of channel 1: their mean
    half = np.array([[[[-1 + 1 / 3, -1.0]]]])
    y = _C.grid_sample_forward(x, half, "bilinear", "zeros", True)
    np.testing.assert_allclose(y[0, :, 0, 0], (x[0, :, 0, 0] + x[0, :, 0, 1]) / 2)
    # a volume's centre voxel with align_corners=True, and a point beyond the edge: zero
    v = np.arange(27.0).reshape(1, 1, 3, 3, 3)
    y = _C.grid_sample_forward(v, np.array([[[[[0.0, 0.0, 0.0], [5.0, 0, 0]]]]]), "bilinear")
    np.testing.assert_allclose(y.ravel(), [13.0, 0.0], atol=1e-12)
    # the input's gradient of a sum is the count of reads (nearest, one read per pixel)
    dx, dg = _C.grid_sample_backward(np.ones((1, 2, 3, 4)), x, grid, "nearest", "zeros", True)
    np.testing.assert_array_equal(dx, 1)
    np.testing.assert_array_equal(dg, 0)
    dx, dg = _C.grid_sample_backward(
        np.ones((1, 2, 3, 4)), x, grid, input_grad=False, grid_grad=False
    )
    assert dx is None and dg is None


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_gradcheck_through_the_kernel(rng, mode, padding):
    x = pydlk.tensor(rng.standard_normal((1, 2, 4, 5)), requires_grad=True)
    grid = pydlk.tensor(rng.uniform(-1.2, 1.2, (1, 3, 2, 2)), requires_grad=mode != "nearest")
    assert pydlk.gradcheck(lambda a, g: F.grid_sample(a, g, mode, padding, False), (x, grid))


def test_double_backward_after_the_kernel_forward(rng):
    # the forward ran the kernel; create_graph asks for the tap code's recorded gradients
    xa, ga = rng.standard_normal((1, 2, 4, 5)), rng.uniform(-0.9, 0.9, (1, 3, 2, 2))
    x = pydlk.tensor(xa, requires_grad=True)
    grid = pydlk.tensor(ga, requires_grad=True)
    (gx,) = pydlk.autograd.grad(
        F.grid_sample(x, grid, align_corners=False).pow(2).sum(), x, create_graph=True
    )
    gx.sum().backward()
    tx, tg = torch.tensor(xa, requires_grad=True), torch.tensor(ga, requires_grad=True)
    (tgx,) = torch.autograd.grad(
        torch.nn.functional.grid_sample(tx, tg, align_corners=False).pow(2).sum(),
        tx,
        create_graph=True,
    )
    tgx.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grid.grad.numpy(), tg.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_kernel_errors_name_the_op_and_argument():
    x, g = np.zeros((1, 2, 3, 4)), np.zeros((1, 2, 2, 2))
    with pytest.raises(ValueError, match="grid_sample_forward: mode must be 'bilinear' or"):
        _C.grid_sample_forward(x, g, "bicubic")
    with pytest.raises(ValueError, match="grid_sample_forward: padding_mode must be"):
        _C.grid_sample_forward(x, g, "bilinear", "wrap")
    with pytest.raises(ValueError, match="grid_sample_forward: input must be 4-D"):
        _C.grid_sample_forward(np.zeros((2, 3, 4)), g)
    with pytest.raises(
        ValueError, match=r"grid_sample_forward: grid must have shape \(N, \*out, 2\)"
    ):
        _C.grid_sample_forward(x, np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="grid must have shape"):
        _C.grid_sample_forward(x, np.zeros((1, 2, 2, 3)))
    with pytest.raises(TypeError, match="grid_sample_forward: grid must have the same dtype"):
        _C.grid_sample_forward(x, g.astype(np.float32))
    with pytest.raises(ValueError, match="spatial sizes must be positive"):
        _C.grid_sample_forward(np.zeros((1, 2, 0, 4)), g)
    with pytest.raises(ValueError, match="grid_sample_backward: grad_output must have shape"):
        _C.grid_sample_backward(np.zeros((1, 2, 3, 3)), x, g)
    with pytest.raises(TypeError, match="grid_sample_forward: out must have the same dtype"):
        _C.grid_sample_forward(x, g, out=np.zeros((1, 2, 2, 2), np.float32))


@pytest.mark.parametrize(
    "mode, padding, align", [("bilinear", "zeros", False), ("nearest", "border", True)]
)
def test_gpu_counterpart_matches_the_cpu_kernel(rng, mode, padding, align):
    # _cuda.grid_sample_forward/backward (the tap code on CuPy) against _C on the same data
    from _gpu_helpers import cupy_or_skip, host

    cp = cupy_or_skip()
    from pydlk import _cuda

    x, g = _data(rng, 2, np.float32)
    dy = rng.standard_normal((2, 3, 7, 4)).astype(np.float32)
    y = _C.grid_sample_forward(x, g, mode, padding, align)
    dx, dg = _C.grid_sample_backward(dy, x, g, mode, padding, align)
    gy = _cuda.grid_sample_forward(cp.asarray(x), cp.asarray(g), mode, padding, align)
    gdx, gdg = _cuda.grid_sample_backward(
        cp.asarray(dy), cp.asarray(x), cp.asarray(g), mode, padding, align
    )
    for c, d in ((y, gy), (dx, gdx), (dg, gdg)):
        np.testing.assert_allclose(host(d), c, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="grid_sample_forward: mode must be"):
        _cuda.grid_sample_forward(cp.asarray(x), cp.asarray(g), "bicubic")
