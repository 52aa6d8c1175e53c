"""interpolate on uint8 images without antialias, as torch resizes them: 'nearest' and
'nearest-exact' pick the same pixels as the float path; 'bilinear' and 'bicubic' take torch's
separable integer path (int16 weights, a rounding shift per pass, width first, clamped to
[0, 255]). torch 2.13 is the oracle, bit for bit; a NumPy reference written here (two float
passes, each rounded and clamped) agrees within the int16 weights' rounding; other modes are
refused as torch refuses them."""

import numpy as np
import pytest

import pydlk
import pydlk.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

SIZES = [((7, 9), (13, 5)), ((16, 16), (32, 32)), ((10, 12), (4, 6)), ((5, 5), (5, 9)),
         ((3, 3), (36, 4)), ((40, 31), (9, 17)), ((1, 6), (3, 2))]  # fmt: skip


def _u8(rng, shape):
    return rng.integers(0, 256, shape).astype(np.uint8)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("hw, out", SIZES)
def test_bilinear_bicubic_bit_for_bit_with_torch(rng, mode, align, hw, out):
    x = _u8(rng, (2, 3, *hw))
    y = F.interpolate(pydlk.tensor(x), size=out, mode=mode, align_corners=align)
    yt = TF.interpolate(torch.tensor(x), size=out, mode=mode, align_corners=align)
    assert y.dtype == np.uint8 and not y.requires_grad and y.shape == (2, 3, *out)
    np.testing.assert_array_equal(np.asarray(y), yt.numpy())


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("sf", [(0.5, 0.75), (2.0, 1.5), (2.5, 3.0), (1.0, 0.4)])
def test_scale_factor_bit_for_bit_with_torch(rng, mode, sf):
    x = _u8(rng, (1, 2, 11, 13))
    for rsf in (None, True):
        y = F.interpolate(pydlk.tensor(x), scale_factor=sf, mode=mode, recompute_scale_factor=rsf)
        yt = TF.interpolate(torch.tensor(x), scale_factor=sf, mode=mode, recompute_scale_factor=rsf)
        np.testing.assert_array_equal(np.asarray(y), yt.numpy())


def _taps_linear(n_in, n_out, align):
    """The textbook linear weights (n_out, n_in), as F.interpolate's float mode defines them."""
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        if align:
            src = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = min(int(np.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = src - i0
        m[o, i0] += 1 - lam
        m[o, i1] += lam
    return m


def _taps_cubic(n_in, n_out, align, a=-0.75):
    """Keys' cubic convolution with edge-clamped taps, written out per output pixel."""

    def k(t):
        t = abs(t)
        if t <= 1:
            return (a + 2) * t**3 - (a + 3) * t**2 + 1
        if t < 2:
            return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
        return 0.0

    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        if align:
            src = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = (o + 0.5) * n_in / n_out - 0.5
        x0 = min(int(np.floor(src)), n_in - 1)
        t = min(max(src - x0, 0.0), 1.0)
        for j in range(-1, 3):
            m[o, min(max(x0 + j, 0), n_in - 1)] += k(j - t)
    return m


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align", [False, True])
def test_two_rounded_passes_reference(rng, mode, align):
    """Width pass, rounded half up and clamped to [0, 255], then the height pass, the same: the
    kernel agrees within 1 (its weights are int16, the reference's exact)."""
    x = _u8(rng, (2, 2, 12, 17))
    oh, ow = 9, 23
    taps = _taps_linear if mode == "bilinear" else _taps_cubic
    mw, mh = taps(17, ow, align), taps(12, oh, align)
    mid = np.clip(np.floor(x.astype(np.float64) @ mw.T + 0.5), 0, 255)
    ref = np.clip(np.floor(np.einsum("oh,nchw->ncow", mh, mid) + 0.5), 0, 255)
    y = np.asarray(F.interpolate(pydlk.tensor(x), size=(oh, ow), mode=mode, align_corners=align))
    assert np.abs(y.astype(int) - ref.astype(int)).max() <= 1
    if mode == "bicubic":  # the first pass's clamping matters: not one rounding of the float
        flt = np.asarray(F.interpolate(x.astype(np.float32), size=(oh, ow), mode=mode))
        assert np.abs(y.astype(int) - np.clip(np.round(flt), 0, 255)).max() > 1


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("shape, size", [((2, 3, 7), (11,)), ((2, 3, 7, 9), (13, 5)),
                                         ((1, 2, 3, 4, 5), (6, 2, 7))])  # fmt: skip
def test_nearest_picks_the_float_paths_pixels(rng, mode, shape, size):
    x = _u8(rng, shape)
    y = F.interpolate(pydlk.tensor(x), size=size, mode=mode)
    assert y.dtype == np.uint8
    flt = F.interpolate(pydlk.tensor(x.astype(np.float32)), size=size, mode=mode)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(flt).astype(np.uint8))
    np.testing.assert_array_equal(np.asarray(y), TF.interpolate(torch.tensor(x), size, mode=mode))


def test_same_size_is_a_new_uint8_tensor(rng):
    x = pydlk.tensor(_u8(rng, (1, 1, 4, 4)))
    y = F.interpolate(x, size=(4, 4), mode="nearest")
    y[0, 0, 0, 0] = 7 if int(x[0, 0, 0, 0]) != 7 else 8
    assert int(x[0, 0, 0, 0]) != int(y[0, 0, 0, 0])


@pytest.mark.parametrize(
    "shape, mode", [((1, 1, 4, 4), "area"), ((1, 1, 4), "linear"), ((1, 1, 2, 2, 2), "trilinear")]
)
def test_other_modes_refuse_uint8_as_torch(shape, mode):
    x = np.zeros(shape, np.uint8)
    size = (2,) * (len(shape) - 2)
    with pytest.raises(TypeError, match=f"interpolate: a uint8 input resizes with modes.*'{mode}'"):
        F.interpolate(pydlk.tensor(x), size=size, mode=mode)
    with pytest.raises(RuntimeError, match="not implemented for 'Byte'"):
        TF.interpolate(torch.tensor(x), size=size, mode=mode)
