"""Short-side resize, affine with scale and shear, ten-crop and multi-scale testing: NumPy
references, torch's interpolate/grid_sample as oracles, torchvision when installed."""

import math

import numpy as np
import pytest

import pydlk
from pydlk import nn
from pydlk.data.augment_extra import (
    RandomAffineShearScale,
    RandomShortSideResize,
    affine_matrix,
    five_crop,
    multi_scale_predict,
    resize,
    ten_crop,
)


def _bilinear_ref(img, oh, ow):
    """Loop reference of half-pixel bilinear resizing (align_corners=False, clamp at 0)."""
    C, H, W = img.shape
    out = np.zeros((C, oh, ow))
    for i in range(oh):
        sy = max((i + 0.5) * H / oh - 0.5, 0.0)
        y0 = min(int(math.floor(sy)), H - 1)
        y1, wy = min(y0 + 1, H - 1), sy - y0
        for j in range(ow):
            sx = max((j + 0.5) * W / ow - 0.5, 0.0)
            x0 = min(int(math.floor(sx)), W - 1)
            x1, wx = min(x0 + 1, W - 1), sx - x0
            out[:, i, j] = (1 - wy) * ((1 - wx) * img[:, y0, x0] + wx * img[:, y0, x1]) + wy * (
                (1 - wx) * img[:, y1, x0] + wx * img[:, y1, x1]
            )
    return out


def test_resize_matches_reference(rng):
    x = rng.uniform(size=(2, 3, 9, 14)).astype(np.float32)
    out = resize(x, 6)  # short side 6, long side int(6 * 14 / 9) = 9
    assert out.shape == (2, 3, 6, 9)
    np.testing.assert_allclose(out[1], _bilinear_ref(x[1].astype(np.float64), 6, 9), atol=1e-6)
    up = resize(x, (20, 5))
    np.testing.assert_allclose(up[0], _bilinear_ref(x[0].astype(np.float64), 20, 5), atol=1e-6)
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.interpolate(
        torch.tensor(x), size=(20, 5), mode="bilinear", align_corners=False
    ).numpy()
    np.testing.assert_allclose(up, ref, atol=1e-6)


def test_short_side_resize_crop(rng):
    x = rng.uniform(size=(4, 3, 20, 30)).astype(np.float32)
    t = RandomShortSideResize(24, 32, crop=16)
    out = t(x, np.random.default_rng(5))
    assert out.shape == (4, 3, 16, 16)
    # the same draws, redone by hand: resize then crop
    g = np.random.Generator(np.random.Philox(key=int(np.random.default_rng(5).integers(1 << 63))))
    sizes, offs = t.params(x, g)
    for n in range(4):
        h, w = sizes[n]
        assert 24 <= min(h, w) <= 32 and w == int(h * 30 / 20)
        full = _bilinear_ref(x[n].astype(np.float64), h, w)
        top, left = offs[n]
        np.testing.assert_allclose(out[n], full[:, top : top + 16, left : left + 16], atol=1e-5)
    np.testing.assert_array_equal(out, t(x, np.random.default_rng(5)))
    whole = RandomShortSideResize(10, 12)(x, np.random.default_rng(1))
    assert whole.shape[2] in (10, 11, 12) and whole.shape[3] == int(whole.shape[2] * 1.5)
    with pytest.raises(ValueError, match="RandomShortSideResize: crop"):
        RandomShortSideResize(8, 8, crop=12)(x)
    with pytest.raises(ValueError, match="min_size"):
        RandomShortSideResize(10, 5)


def test_affine_matrix_inverts_forward_map():
    for p in [
        (30.0, (2, -3), 1.2, (10.0, 0.0)),
        (-45.0, (0, 0), 0.8, (0.0, 20.0)),
        (10.0, (1, 1), 1.0, (15.0, -5.0)),
    ]:
        m = affine_matrix(*p)
        rot, sx, sy = map(math.radians, (p[0], *p[3]))
        # torchvision's forward RSS (from its derivation comment), scaled, plus translation
        a = math.cos(rot - sy) / math.cos(sy)
        b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
        c = math.sin(rot - sy) / math.cos(sy)
        d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
        fwd = np.array([[a, b, p[1][0]], [c, d, p[1][1]], [0, 0, 1]])
        fwd[:2, :2] *= p[2]
        np.testing.assert_allclose(m, np.linalg.inv(fwd)[:2], atol=1e-12)
    # hand-worked: a pure x-shear of 30 degrees maps (x, y) to (x - tan(30) y, y); its inverse
    # adds tan(30) y back. Scale 2 alone halves source coordinates.
    t30 = math.tan(math.radians(30))
    np.testing.assert_allclose(
        affine_matrix(0, (0, 0), 1, (30, 0)), [[1, t30, 0], [0, 1, 0]], atol=1e-12
    )
    np.testing.assert_allclose(
        affine_matrix(0, (4, 0), 2, (0, 0)), [[0.5, 0, -2], [0, 0.5, 0]], atol=1e-12
    )


def test_affine_special_cases(rng):
    img = rng.uniform(size=(1, 2, 7, 7)).astype(np.float32)
    t = RandomAffineShearScale(degrees=(90, 90), interpolation="nearest")
    np.testing.assert_array_equal(t(img)[0], np.rot90(img[0], -1, axes=(1, 2)))  # clockwise
    t = RandomAffineShearScale(degrees=0, translate=(0.3, 0.3))
    out = t(img, np.random.default_rng(2))
    g = np.random.Generator(np.random.Philox(key=int(np.random.default_rng(2).integers(1 << 63))))
    ((_, (tx, ty), _, _),) = t.params(img, g)
    ref = np.zeros_like(img[0])
    ref[:, max(ty, 0) : 7 + min(ty, 0), max(tx, 0) : 7 + min(tx, 0)] = img[0][
        :, max(-ty, 0) : 7 + min(-ty, 0), max(-tx, 0) : 7 + min(-tx, 0)
    ]
    np.testing.assert_allclose(out[0], ref, atol=1e-6)
    ident = RandomAffineShearScale(degrees=0, scale=(1, 1), shear=0)(img)
    np.testing.assert_allclose(ident, img, atol=1e-6)
    with pytest.raises(ValueError, match="RandomAffineShearScale: scale"):
        RandomAffineShearScale(scale=(0, 1))
    with pytest.raises(ValueError, match="interpolation"):
        RandomAffineShearScale(interpolation="cubic")


def test_affine_vs_torch_grid_sample(rng):
    torch = pytest.importorskip("torch")
    x = rng.uniform(size=(3, 2, 9, 12)).astype(np.float32)
    t = RandomAffineShearScale(
        degrees=40, translate=(0.1, 0.2), scale=(0.7, 1.3), shear=(-20, 20, -10, 10)
    )
    for interp in ("bilinear", "nearest"):
        t.interpolation = interp
        out = t(x, np.random.default_rng(7))
        g = np.random.Generator(
            np.random.Philox(key=int(np.random.default_rng(7).integers(1 << 63)))
        )
        for n, p in enumerate(t.params(x, g)):
            assert abs(p[3][0]) <= 20 and abs(p[3][1]) <= 10 and 0.7 <= p[2] <= 1.3
            theta = torch.tensor(affine_matrix(*p), dtype=torch.float32)[None]
            # torchvision's _gen_affine_grid: pixel-centre grid about the centre, / (W/2, H/2)
            H, W = 9, 12
            xs = torch.linspace(-W * 0.5 + 0.5, W * 0.5 - 0.5, W)
            ys = torch.linspace(-H * 0.5 + 0.5, H * 0.5 - 0.5, H)
            base = torch.ones(1, H, W, 3)
            base[..., 0] = xs
            base[..., 1] = ys[:, None]
            grid = base.view(1, H * W, 3).bmm(theta.transpose(1, 2) / torch.tensor([W / 2, H / 2]))
            ref = torch.nn.functional.grid_sample(
                torch.tensor(x[n : n + 1]),
                grid.view(1, H, W, 2),
                mode=interp,
                padding_mode="zeros",
                align_corners=False,
            )[0].numpy()
            if interp == "bilinear":
                np.testing.assert_allclose(out[n], ref, atol=1e-5)
            else:  # a source point on a pixel boundary may round either way
                assert np.mean(np.abs(out[n] - ref) > 1e-6) < 0.02


def test_five_and_ten_crop(rng):
    x = rng.standard_normal((2, 1, 6, 7)).astype(np.float32)
    crops = five_crop(x, (3, 4))
    np.testing.assert_array_equal(crops[0], x[..., 0:3, 0:4])
    np.testing.assert_array_equal(crops[1], x[..., 0:3, 3:7])
    np.testing.assert_array_equal(crops[2], x[..., 3:6, 0:4])
    np.testing.assert_array_equal(crops[3], x[..., 3:6, 3:7])
    np.testing.assert_array_equal(crops[4], x[..., 2:5, 2:6])  # round(1.5) = 2, round(1.5) = 2
    ten = ten_crop(x, (3, 4))
    assert len(ten) == 10
    np.testing.assert_array_equal(ten[5], x[..., ::-1][..., 0:3, 0:4])
    np.testing.assert_array_equal(ten[9], x[..., ::-1][..., 2:5, 2:6])
    with pytest.raises(ValueError, match="five_crop: size"):
        five_crop(x, 8)
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    ref = tv.transforms.functional.ten_crop(torch.tensor(x), [3, 4])
    for a, b in zip(ten, ref):
        np.testing.assert_array_equal(a, b.numpy())


class _GAP(nn.Module):
    """Per-channel means through a fixed linear map: works at any input size."""

    def forward(self, x):
        return x.mean(dim=(2, 3)) @ pydlk.tensor(
            np.array([[1.0, -1.0, 0.5], [0.2, 0.3, -2.0]], np.float32)
        )


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_multi_scale_predict(rng):
    x = rng.uniform(size=(3, 2, 12, 16)).astype(np.float32)
    W = np.array([[1.0, -1.0, 0.5], [0.2, 0.3, -2.0]])
    model = _GAP()
    views = []
    for s in (8, 12):
        xs = resize(x, s)
        views += [xs, xs[..., ::-1]]
    ref = np.mean([_softmax(v.mean(axis=(2, 3)) @ W) for v in views], 0)
    np.testing.assert_allclose(multi_scale_predict(model, x, (8, 12)), ref, rtol=1e-5)
    crops = [c for s in (10,) for c in ten_crop(resize(x, s), 6)]
    ref = np.mean([_softmax(c.mean(axis=(2, 3)) @ W) for c in crops], 0)
    np.testing.assert_allclose(multi_scale_predict(model, x, (10,), crop=6), ref, rtol=1e-5)
