"""interpolate(..., antialias=True), 'bilinear' and 'bicubic': torch 2.13 as the oracle for
values and gradients (float32 and float64; downscales by non-integer factors, large ones,
upscales, unchanged axes, 1-pixel outputs, scale_factor with and without
recompute_scale_factor, align_corners both ways, sizes large enough for the banded products),
uint8 images bit for bit, a PIL-style triangle and cubic filter written here with plain
loops, float64 gradcheck and gradgradcheck, and the arguments torch refuses."""

import numpy as np
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

MODES = ["bilinear", "bicubic"]

# (H, W) -> (OH, OW): non-integer and large downscales, upscales, one axis unchanged, both
# unchanged, 1-pixel outputs and inputs, and outputs of 48+ rows (several row blocks)
SIZES = [
    ((10, 13), (4, 7)),
    ((64, 64), (5, 5)),
    ((64, 48), (5, 13)),
    ((7, 9), (15, 20)),
    ((8, 8), (8, 3)),
    ((6, 6), (6, 6)),
    ((9, 9), (1, 1)),
    ((5, 6), (1, 2)),
    ((1, 1), (3, 4)),
    ((31, 17), (11, 29)),
    ((150, 130), (61, 50)),
    ((20, 30), (70, 96)),
]


def _np(t):
    return np.asarray(t.detach()) if isinstance(t, pydlk.Tensor) else t.detach().numpy()


def _both(x, dy, **kw):
    """pydlk's and torch's outputs and input gradients of sum(out * dy) for the same x."""
    xp, xt = pydlk.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yp, yt = F.interpolate(xp, antialias=True, **kw), TF.interpolate(xt, antialias=True, **kw)
    if dy is None:
        dy = np.random.default_rng(7).standard_normal(tuple(yt.shape)).astype(x.dtype)
    yp.backward(pydlk.tensor(dy))
    yt.backward(torch.tensor(dy))
    return _np(yp), _np(yt), _np(xp.grad), _np(xt.grad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hw, out", SIZES)
def test_size_vs_torch(rng, mode, align, dtype, hw, out):
    x = rng.standard_normal((2, 3, *hw)).astype(dtype)
    yp, yt, gp, gt = _both(x, None, size=out, mode=mode, align_corners=align)
    assert yp.shape == yt.shape == (2, 3, *out) and yp.dtype == dtype and gp.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(yp, yt, rtol=tol, atol=tol)
    np.testing.assert_allclose(gp, gt, rtol=tol, atol=4 * tol)


def test_large_downscale_vs_torch(rng):
    """The benchmark's shape, one sample: 224 -> 112 in several row blocks per axis."""
    x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    for mode in MODES:
        yp, yt, gp, gt = _both(x, None, size=(112, 112), mode=mode)
        np.testing.assert_allclose(yp, yt, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(gp, gt, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("recompute", [None, False, True])
@pytest.mark.parametrize("factor", [0.37, 0.5, (0.3, 1.7), 2.5, (1 / 3, 0.75)])
def test_scale_factor_vs_torch(rng, mode, align, recompute, factor, dtype):
    # with a factor the scale is 1/factor (not in/out) unless recompute_scale_factor is True
    x = rng.standard_normal((1, 2, 23, 19)).astype(dtype)
    kw = dict(scale_factor=factor, mode=mode, align_corners=align)
    yp, yt, gp, gt = _both(x, None, recompute_scale_factor=recompute, **kw)
    assert yp.shape == yt.shape
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(yp, yt, rtol=tol, atol=tol)
    np.testing.assert_allclose(gp, gt, rtol=tol, atol=4 * tol)


def test_scale_factor_is_not_in_over_out(rng):
    """23 * 0.37 = 8.51 -> 8 outputs: the scale 1/0.37 samples elsewhere than 23/8, as torch's."""
    x = rng.standard_normal((1, 1, 23, 23))
    kw = dict(scale_factor=0.37, mode="bilinear", antialias=True)
    a = _np(F.interpolate(x, **kw))
    b = _np(F.interpolate(x, recompute_scale_factor=True, **kw))
    assert a.shape == b.shape == (1, 1, 8, 8)
    assert np.abs(a - b).max() > 1e-3
    np.testing.assert_allclose(a, TF.interpolate(torch.tensor(x), **kw).numpy(), atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_factor_that_keeps_the_size_copies(rng, mode):
    """10 * 1.05 -> 10: torch copies the axis in the forward. The gradient here is that copy's
    adjoint, dy itself (torch's backward resamples with the scale 1/1.05, unlike its forward)."""
    x = rng.standard_normal((1, 2, 10, 10))
    xp = pydlk.tensor(x, requires_grad=True)
    y = F.interpolate(xp, scale_factor=1.05, mode=mode, antialias=True)
    yt = TF.interpolate(torch.tensor(x), scale_factor=1.05, mode=mode, antialias=True)
    np.testing.assert_array_equal(_np(y), yt.numpy())
    np.testing.assert_array_equal(_np(y), x)
    assert np.shares_memory(_np(y), x) is False  # a new tensor, as torch's
    dy = rng.standard_normal(x.shape)
    y.backward(pydlk.tensor(dy))
    np.testing.assert_array_equal(_np(xp.grad), dy)
    # one axis kept, one resized: the kept axis is copied, the other filtered
    yp = F.interpolate(x, scale_factor=(1.05, 0.5), mode=mode, antialias=True)
    yt = TF.interpolate(torch.tensor(x), scale_factor=(1.05, 0.5), mode=mode, antialias=True)
    np.testing.assert_allclose(_np(yp), yt.numpy(), rtol=1e-12, atol=1e-12)
    assert pydlk.gradcheck(
        lambda t: F.interpolate(t, scale_factor=(1.05, 0.5), mode=mode, antialias=True), (t64(x),)
    )


@pytest.mark.parametrize("n_in, n_out", [(17, 6), (64, 5), (7, 3), (5, 12), (9, 1)])
def test_triangle_filter_by_loops(rng, n_in, n_out):
    """PIL's bilinear resampling written out, one output pixel at a time: weight
    max(0, 1 - |j + 0.5 - center| / s) with s = max(in/out, 1), normalised (width only: the
    height is unchanged, so it is copied)."""
    x = rng.standard_normal((1, 2, 3, n_in))
    scale = n_in / n_out
    s = max(scale, 1.0)
    want = np.zeros((1, 2, 3, n_out))
    for i in range(n_out):
        center = scale * (i + 0.5)
        w = np.array([max(0.0, 1.0 - abs(j + 0.5 - center) / s) for j in range(n_in)])
        want[..., i] = (x * (w / w.sum())).sum(-1)
    got = _np(F.interpolate(x, size=(3, n_out), mode="bilinear", antialias=True))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_cubic_filter_by_loops_both_axes(rng):
    """Keys' cubic with a = -0.5, stretched by the scale, over the taps inside the image, in
    both axes (separable: the 2-D weight of (r, c) is wh[r] * ww[c]), written out per pixel."""

    def keys(t, a=-0.5):
        t = abs(t)
        if t < 1:
            return ((a + 2) * t - (a + 3)) * t * t + 1
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a if t < 2 else 0.0

    def weights(n_in, n_out):
        scale = n_in / n_out
        s = max(scale, 1.0)
        rows = []
        for i in range(n_out):
            center = scale * (i + 0.5)
            w = np.array([keys((j + 0.5 - center) / s) for j in range(n_in)])
            rows.append(w / w.sum())
        return rows

    x = rng.standard_normal((1, 1, 19, 8))
    wh, ww = weights(19, 7), weights(8, 11)  # down in H, up in W
    want = np.zeros((1, 1, 7, 11))
    for i in range(7):
        for k in range(11):
            want[0, 0, i, k] = sum(
                wh[i][r] * ww[k][c] * x[0, 0, r, c] for r in range(19) for c in range(8)
            )
    got = _np(F.interpolate(x, size=(7, 11), mode="bicubic", antialias=True))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_upscale_differs_from_plain_bicubic_only(rng, mode):
    """Upscaling with antialias is the unstretched filter: for bilinear the plain result where
    no tap falls off the image; bicubic uses a = -0.5 instead of -0.75, so it differs."""
    x = rng.standard_normal((1, 1, 6, 6))
    aa = _np(F.interpolate(x, size=(12, 12), mode=mode, antialias=True))
    plain = _np(F.interpolate(x, size=(12, 12), mode=mode))
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    if mode == "bilinear":
        np.testing.assert_allclose(aa[inner], plain[inner], rtol=1e-12, atol=1e-12)
    else:
        assert np.abs(aa[inner] - plain[inner]).max() > 1e-3
    np.testing.assert_allclose(
        aa, TF.interpolate(torch.tensor(x), size=(12, 12), mode=mode, antialias=True).numpy(),
        rtol=1e-12, atol=1e-12,
    )  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_constants_kept_and_bilinear_bounded(rng, mode):
    """The weights of each output sum to 1; the triangle's are also non-negative."""
    c = np.full((2, 3, 37, 29), 2.5)
    np.testing.assert_allclose(
        _np(F.interpolate(c, size=(11, 40), mode=mode, antialias=True)), 2.5, rtol=1e-13
    )
    x = rng.uniform(-1, 1, (2, 3, 37, 29))
    y = _np(F.interpolate(x, size=(11, 40), mode=mode, antialias=True))
    if mode == "bilinear":
        assert y.min() >= x.min() - 1e-12 and y.max() <= x.max() + 1e-12
    else:  # the cubic's negative lobes overshoot, as torch's
        yt = TF.interpolate(torch.tensor(x), size=(11, 40), mode=mode, antialias=True).numpy()
        np.testing.assert_allclose(y, yt, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "kw",
    [
        {"size": (3, 4)},
        {"size": (9, 11), "align_corners": True},
        {"scale_factor": 0.6},
        {"scale_factor": (1.5, 0.4), "recompute_scale_factor": True},
    ],
)
def test_gradcheck_and_double_backward(rng, mode, kw):
    x = t64(rng.standard_normal((1, 2, 7, 6)))
    assert pydlk.gradcheck(lambda t: F.interpolate(t, mode=mode, antialias=True, **kw), (x,))
    assert pydlk.autograd.gradgradcheck(
        lambda t: F.interpolate(t * t, mode=mode, antialias=True, **kw), (x,)
    )


def test_non_contiguous_input(rng):
    x = rng.standard_normal((2, 5, 30, 3)).transpose(0, 3, 2, 1)  # (2, 3, 30, 5), strided
    y = _np(F.interpolate(x, size=(7, 4), mode="bicubic", antialias=True))
    want = TF.interpolate(torch.tensor(x), size=(7, 4), mode="bicubic", antialias=True)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("channels", [1, 3, 5])
@pytest.mark.parametrize(
    "hw, out", [((10, 13), (4, 7)), ((64, 64), (5, 5)), ((7, 9), (15, 20)), ((8, 8), (8, 3)),
                ((150, 130), (61, 50))],
)  # fmt: skip
def test_uint8_bit_for_bit(rng, mode, align, channels, hw, out):
    """torch's integer path: int16 weights, a rounding shift per pass, the width pass rounded
    to uint8 before the height pass; the same bytes."""
    x = rng.integers(0, 256, (2, channels, *hw)).astype(np.uint8)
    y = F.interpolate(pydlk.tensor(x), size=out, mode=mode, align_corners=align, antialias=True)
    yt = TF.interpolate(torch.tensor(x), size=out, mode=mode, align_corners=align, antialias=True)
    assert y.dtype == np.uint8 and not y.requires_grad
    np.testing.assert_array_equal(_np(y), yt.numpy())


def test_uint8_scale_factor_and_saturation():
    """A checkerboard of 0 and 255 under bicubic overshoots; uint8 saturates it as torch's."""
    x = (np.indices((40, 40)).sum(0) % 2 * 255).astype(np.uint8)[None, None].repeat(2, 1)
    y = _np(F.interpolate(x, scale_factor=0.3, mode="bicubic", antialias=True))
    yt = TF.interpolate(torch.tensor(x), scale_factor=0.3, mode="bicubic", antialias=True)
    np.testing.assert_array_equal(y, yt.numpy())
    up = _np(F.interpolate(x, scale_factor=2.5, mode="bicubic", antialias=True))
    upt = TF.interpolate(torch.tensor(x), scale_factor=2.5, mode="bicubic", antialias=True)
    np.testing.assert_array_equal(up, upt.numpy())
    assert up.min() == 0 and up.max() == 255  # clamped, not wrapped


@pytest.mark.parametrize(
    "shape, kw",
    [
        ((1, 2, 5, 5), {"mode": "nearest"}),
        ((1, 2, 5, 5), {"mode": "nearest-exact"}),
        ((1, 2, 5, 5), {"mode": "area"}),
        ((1, 2, 5), {"mode": "linear"}),
        ((1, 2, 5, 5, 5), {"mode": "trilinear"}),
        ((1, 2, 5), {"mode": "bilinear"}),
        ((1, 2, 5, 5, 5), {"mode": "bicubic"}),
    ],
)
def test_other_modes_and_shapes_refused(shape, kw):
    """torch: 'Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and
    requires a 4-D tensor as input' (a ValueError)."""
    x = np.zeros(shape, np.float32)
    size = (2,) * (len(shape) - 2)
    with pytest.raises(ValueError, match="interpolate: antialias=True is restricted to"):
        F.interpolate(x, size=size, antialias=True, **kw)
    with pytest.raises(ValueError, match="Anti-alias option is restricted"):
        TF.interpolate(torch.tensor(x), size=size, antialias=True, **kw)


def test_bad_dtypes_and_arguments():
    with pytest.raises(TypeError, match=r"interpolate: input must be float32 or float64.*int32"):
        F.interpolate(np.zeros((1, 1, 4, 4), np.int32), size=2, mode="bilinear", antialias=True)
    with pytest.raises(TypeError, match="got float16"):
        F.interpolate(np.zeros((1, 1, 4, 4), np.float16), size=2, mode="bicubic", antialias=True)
    with pytest.raises(ValueError, match="interpolate: exactly one of size or scale_factor"):
        F.interpolate(np.zeros((1, 1, 4, 4)), mode="bicubic", antialias=True)
    with pytest.raises(ValueError, match="interpolate: recompute_scale_factor is not meaningful"):
        F.interpolate(
            np.zeros((1, 1, 4, 4)), size=2, mode="bicubic", antialias=True,
            recompute_scale_factor=True,
        )  # fmt: skip
    with pytest.raises(ValueError, match="gives an empty output"):
        F.interpolate(np.zeros((1, 1, 4, 4)), scale_factor=0.1, mode="bilinear", antialias=True)
