"""grid_sample on volumes (N, C, D, H, W) with a (N, Do, Ho, Wo, 3) grid: trilinear and
nearest, every padding mode and align_corners, against torch 2.13 (values, the input's and the
grid's gradients, second derivatives), a per-voxel trilinear reference written here, identity
and flip round trips through affine_grid, float64 gradcheck and gradgradcheck, and torch's
errors."""

import itertools

import numpy as np
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

CASES = list(
    itertools.product(["bilinear", "nearest"], ["zeros", "border", "reflection"], [False, True])
)


def _grids(rng, n, shape):
    return {
        "inside": rng.uniform(-0.95, 0.95, (n, *shape, 3)),
        "outside": rng.uniform(-3.5, 3.5, (n, *shape, 3)),
        "lattice": rng.integers(-8, 9, (n, *shape, 3)) / 4.0,
    }


def _np(t):
    return np.asarray(t.detach()) if isinstance(t, pydlk.Tensor) else t.detach().numpy()


@pytest.mark.parametrize("mode, padding, align", CASES)
def test_values_and_gradients_match_torch(rng, mode, padding, align):
    x = rng.standard_normal((2, 3, 4, 5, 6))
    for name, grid in _grids(rng, 2, (3, 2, 4)).items():
        # on exact lattice positions the grid's gradient has kinks (torch takes one side there)
        grid_grad = name != "lattice" and mode != "nearest"
        ps = [pydlk.tensor(x, requires_grad=True), pydlk.tensor(grid, requires_grad=grid_grad)]
        ts = [torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=grid_grad)]
        yp = F.grid_sample(*ps, mode, padding, align)
        yt = TF.grid_sample(*ts, mode, padding, align)
        assert tuple(yp.shape) == (2, 3, 3, 2, 4)
        np.testing.assert_allclose(_np(yp), _np(yt), rtol=1e-12, atol=1e-12)
        dy = rng.standard_normal(tuple(yt.shape))
        yp.backward(pydlk.tensor(dy))
        yt.backward(torch.tensor(dy))
        np.testing.assert_allclose(_np(ps[0].grad), _np(ts[0].grad), rtol=1e-12, atol=1e-11)
        if grid_grad:
            np.testing.assert_allclose(_np(ps[1].grad), _np(ts[1].grad), rtol=1e-10, atol=1e-10)


def test_float32_matches_torch(rng):
    x = rng.random((2, 3, 6, 5, 7), dtype=np.float32)
    grid = rng.uniform(-1.2, 1.2, (2, 4, 3, 5, 3)).astype(np.float32)
    yp = F.grid_sample(x, grid, "bilinear", "border", False)
    yt = TF.grid_sample(torch.tensor(x), torch.tensor(grid), "bilinear", "border", False)
    assert yp.dtype == np.float32
    np.testing.assert_allclose(_np(yp), yt.numpy(), rtol=1e-5, atol=1e-6)


def test_trilinear_reference_and_affine_round_trips(rng):
    x = rng.standard_normal((1, 2, 3, 4, 5))
    # one point by the textbook formula: the 8 corners weighted by products of fractions
    pt = np.array([0.3, -0.4, 0.1])  # (x, y, z), align_corners=True: index = (p + 1) (n - 1) / 2
    ix, iy, iz = ((pt + 1) * (np.array([5, 4, 3]) - 1)) / 2
    x0, y0, z0 = int(ix), int(iy), int(iz)
    fx, fy, fz = ix - x0, iy - y0, iz - z0
    want = sum(
        x[0, :, z0 + k, y0 + j, x0 + i]
        * (fx if i else 1 - fx)
        * (fy if j else 1 - fy)
        * (fz if k else 1 - fz)
        for i, j, k in itertools.product((0, 1), repeat=3)
    )
    got = np.asarray(F.grid_sample(x, pt.reshape(1, 1, 1, 1, 3), align_corners=True))
    np.testing.assert_allclose(got[0, :, 0, 0, 0], want, rtol=1e-12)
    ident = np.array([[[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]])
    for align in (False, True):
        grid = F.affine_grid(ident, (1, 2, 3, 4, 5), align_corners=align)
        for mode in ("bilinear", "nearest"):
            out = np.asarray(F.grid_sample(x, grid, mode, align_corners=align))
            np.testing.assert_allclose(out, x, atol=1e-12)
    flip = np.array([[[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, -1, 0]]])  # z mirrored
    grid = F.affine_grid(flip, (1, 2, 3, 4, 5), align_corners=False)
    out = np.asarray(F.grid_sample(x, grid, align_corners=False))
    np.testing.assert_allclose(out, x[:, :, ::-1], atol=1e-12)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "reflection"])
def test_gradcheck_and_second_derivatives(rng, mode, padding):
    x = t64(rng.standard_normal((1, 2, 3, 3, 4)))
    grid = t64(rng.uniform(-1.3, 1.3, (1, 2, 2, 1, 3)), requires_grad=mode != "nearest")
    assert pydlk.gradcheck(lambda a, g: F.grid_sample(a, g, mode, padding, False), (x, grid))
    assert pydlk.autograd.gradgradcheck(
        lambda a, g: F.grid_sample(a, g, mode, padding, True), (x, grid)
    )


def test_double_backward_matches_torch(rng):
    x = rng.standard_normal((2, 2, 3, 4, 3))
    grid = rng.uniform(-1.3, 1.3, (2, 2, 3, 2, 3))
    res = []
    for lib in (pydlk, torch):
        a, g = lib.tensor(x, requires_grad=True), lib.tensor(grid, requires_grad=True)
        y = (lib.nn.functional.grid_sample(a, g, "bilinear", "border", False) ** 2).sum()
        ga, gg = lib.autograd.grad(y, (a, g), create_graph=True)
        ((ga**2).sum() + (gg * gg.detach()).sum() + (ga.sum() * gg).sum()).backward()
        res.append([_np(t) for t in (ga, gg, a.grad, g.grad)])
    for p, t in zip(*res):
        np.testing.assert_allclose(p, t, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "x_shape, g_shape, kw, words",
    [
        ((1, 2, 3, 4, 5), (1, 2, 2, 2, 2), {}, "expected grid to have size 3 in last dimension"),
        ((1, 2, 3, 4, 5), (1, 2, 2, 3), {}, "expected 5D input and grid with same number"),
        ((1, 2, 3, 4, 5), (1, 2, 2, 2, 3), {"mode": "bicubic"}, "bicubic interpolation only"),
        ((1, 2, 0, 4, 5), (1, 2, 2, 2, 3), {}, "dimension 2 being empty"),
        ((2, 2, 3, 4, 5), (1, 2, 2, 2, 3), {}, "same batch size"),
    ],
)
def test_errors_as_torch(x_shape, g_shape, kw, words):
    for fn, mk in ((F.grid_sample, np.zeros), (TF.grid_sample, torch.zeros)):
        with pytest.raises(RuntimeError, match=words):
            fn(mk(x_shape), mk(g_shape), align_corners=False, **kw)


def test_gpu_matches_the_cpu(rng):
    from _gpu_helpers import cupy_or_skip, host

    cupy_or_skip()
    x = rng.standard_normal((2, 2, 3, 4, 5))
    grid = rng.uniform(-1.2, 1.2, (2, 2, 3, 2, 3))
    out = []
    for dev in ("cpu", "cuda"):
        a = pydlk.tensor(x, requires_grad=True, device=dev)
        g = pydlk.tensor(grid, requires_grad=True, device=dev)
        y = F.grid_sample(a, g, "bilinear", "reflection", True)
        assert y.device.type == dev
        (y**2).sum().backward()
        out.append([host(y), host(a.grad), host(g.grad)])
    for c, g in zip(*out):
        np.testing.assert_allclose(g, c, rtol=1e-10, atol=1e-10)
