"""unfold/fold (and nn.Unfold/Fold), interpolate's 'bicubic', 'area' and 'trilinear' modes
(and nn.Upsample with them), affine_grid and grid_sample: torch 2.13 as the oracle for values
and the gradients of every differentiable input (float64, many option sets; float32 spot
checks), per-pixel NumPy references written here, float64 gradcheck and gradgradcheck, and
bad arguments raising errors that name the op."""

import itertools
import warnings

import numpy as np
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F
import pydlk.nn as nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return np.asarray(t.detach())
    return t.detach().numpy()


def _vs_torch(fn_p, fn_t, arrays, rng, rtol=1e-12, atol=1e-12, grads=None):
    """The same inputs to both; outputs and the gradients of sum(out * dy) with respect to each
    input (or those marked in ``grads``) must agree."""
    grads = grads or [True] * len(arrays)
    ps = [pydlk.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    ts = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    yp, yt = fn_p(*ps), fn_t(*ts)
    assert tuple(yp.shape) == tuple(yt.shape)
    assert np.dtype(yp.dtype) == np.dtype(str(yt.dtype).replace("torch.", ""))
    np.testing.assert_allclose(_np(yp), _np(yt), rtol=rtol, atol=atol)
    dy = rng.standard_normal(tuple(yt.shape)).astype(arrays[0].dtype)
    yt.backward(torch.tensor(dy))
    yp.backward(pydlk.tensor(dy))
    for p, t, g in zip(ps, ts, grads):
        if g:
            np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=rtol, atol=10 * atol)
    return _np(yp)


def _keeps_constants(fn, shape, dtype=np.float64, tol=1e-12):
    """A resampling of a constant image is that constant (its weights sum to 1)."""
    out = _np(fn(pydlk.tensor(np.full(shape, 2.5, dtype))))
    np.testing.assert_allclose(out, 2.5, rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- unfold / fold

_BLOCKS = [
    {"kernel_size": 3},
    {"kernel_size": (2, 3)},
    {"kernel_size": 2, "stride": 2},
    {"kernel_size": (3, 2), "dilation": (2, 1), "padding": (1, 2), "stride": (2, 3)},
    {"kernel_size": 1, "padding": 1},
    {"kernel_size": [2, 2], "dilation": 2, "padding": [0, 1], "stride": [1, 2]},
    {"kernel_size": (5, 6), "padding": 1},  # one block position along each axis
]


@pytest.mark.parametrize("kw", _BLOCKS)
@pytest.mark.parametrize("shape", [(2, 3, 7, 6), (3, 5, 4), (1, 1, 5, 9), (0, 2, 6, 6)])
def test_unfold_fold_vs_torch(rng, kw, shape):
    x = rng.standard_normal(shape)
    if _blocks_empty(shape, kw):
        return
    _vs_torch(lambda t: F.unfold(t, **kw), lambda t: TF.unfold(t, **kw), [x], rng)
    cols = TF.unfold(torch.tensor(x), **kw)
    c = rng.standard_normal(tuple(cols.shape))
    size = shape[-2:]
    _vs_torch(lambda t: F.fold(t, size, **kw), lambda t: TF.fold(t, size, **kw), [c], rng)
    _vs_torch(lambda t: nn.Unfold(**kw)(t), lambda t: torch.nn.Unfold(**kw)(t), [x], rng)
    _vs_torch(lambda t: nn.Fold(size, **kw)(t), lambda t: torch.nn.Fold(size, **kw)(t), [c], rng)
    # textbook: C*kh*kw rows, one column per block position; fold(unfold(x)) counts each pixel
    # once per block covering it, which fold(unfold(ones)) counts
    k, d, p, st = (
        np.broadcast_to(kw.get(n, dv), 2)
        for n, dv in (("kernel_size", 1), ("dilation", 1), ("padding", 0), ("stride", 1))
    )
    blocks = [(shape[-2 + i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // st[i] + 1 for i in range(2)]
    cols = _np(F.unfold(pydlk.tensor(x), **kw))
    assert cols.shape == shape[:-3] + (shape[-3] * k[0] * k[1], blocks[0] * blocks[1])
    covered = _np(F.fold(F.unfold(pydlk.ones(*shape, dtype=pydlk.float64), **kw), size, **kw))
    back = _np(F.fold(pydlk.tensor(cols), size, **kw))
    np.testing.assert_allclose(back, x * covered, rtol=1e-12, atol=1e-12)


def _blocks_empty(shape, kw):
    k = np.broadcast_to(kw["kernel_size"], 2)
    p = np.broadcast_to(kw.get("padding", 0), 2)
    d = np.broadcast_to(kw.get("dilation", 1), 2)
    return any(shape[-2 + a] + 2 * p[a] < d[a] * (k[a] - 1) + 1 for a in range(2))


def test_unfold_float32_and_bool_vs_torch(rng):
    x = rng.standard_normal((2, 3, 8, 7)).astype(np.float32)
    kw = {"kernel_size": (3, 2), "padding": 1, "stride": 2}
    _vs_torch(lambda t: F.unfold(t, **kw), lambda t: TF.unfold(t, **kw), [x], rng, 1e-6, 1e-6)
    c = rng.standard_normal((2, 18, 16)).astype(np.float32)
    _vs_torch(
        lambda t: F.fold(t, (8, 7), **kw), lambda t: TF.fold(t, (8, 7), **kw), [c], rng, 1e-6, 1e-6
    )
    b = x > 0
    out = F.unfold(b, **kw)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(np.asarray(out), TF.unfold(torch.tensor(b), **kw).numpy())


def test_unfold_reference_loop(rng):
    """A per-block loop over the padded image, written from torch's definition."""
    x = rng.standard_normal((2, 2, 6, 5))
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (2, 3), (2, 1), (1, 0), (1, 2)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (6 + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (5 + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    ref = np.zeros((2, 2 * kh * kw, oh * ow))
    for n, c, i, j, r, q in itertools.product(
        range(2), range(2), range(kh), range(kw), range(oh), range(ow)
    ):
        ref[n, (c * kh + i) * kw + j, r * ow + q] = xpad[n, c, r * sh + i * dh, q * sw + j * dw]
    out = F.unfold(x, (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))
    np.testing.assert_array_equal(np.asarray(out), ref)


def test_fold_is_unfold_adjoint_and_counts_overlaps(rng):
    kw = {"kernel_size": 3, "padding": 1, "stride": 2, "dilation": 1}
    x = rng.standard_normal((2, 3, 7, 8))
    cols = F.unfold(x, **kw)
    c = rng.standard_normal(cols.shape)
    lhs = (np.asarray(cols) * c).sum()
    rhs = (x * np.asarray(F.fold(c, (7, 8), **kw))).sum()
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)
    # fold(unfold(x)) multiplies each pixel by the number of blocks that cover it
    cover = np.asarray(F.fold(F.unfold(np.ones((1, 1, 7, 8)), **kw), (7, 8), **kw))
    np.testing.assert_allclose(np.asarray(F.fold(cols, (7, 8), **kw)), x * cover, rtol=1e-12)


def test_unfold_fold_gradcheck_and_double_backward(rng):
    kw = {"kernel_size": (2, 3), "padding": 1, "stride": (1, 2), "dilation": (1, 2)}
    x = t64(rng.standard_normal((1, 2, 5, 6)))
    assert pydlk.gradcheck(lambda t: F.unfold(t, **kw), (x,))
    assert pydlk.autograd.gradgradcheck(lambda t: F.unfold(t * t, **kw), (x,))
    c = t64(rng.standard_normal((2, 12, 12)))
    assert pydlk.gradcheck(lambda t: F.fold(t, (5, 6), **kw), (c,))
    assert pydlk.autograd.gradgradcheck(lambda t: F.fold(t * t, (5, 6), **kw), (c,))
    u = t64(rng.standard_normal((12, 12)))  # unbatched
    assert pydlk.autograd.gradgradcheck(lambda t: F.unfold(F.fold(t.sin(), (5, 6), **kw), 2), (u,))


def test_fold_unfold_module_repr():
    assert repr(nn.Unfold(3, padding=1)) == repr(torch.nn.Unfold(3, padding=1))
    assert repr(nn.Fold((4, 5), 2, stride=(1, 2))) == repr(torch.nn.Fold((4, 5), 2, stride=(1, 2)))


@pytest.mark.parametrize(
    "call, exc, words",
    [
        (lambda x, c: F.unfold(x, 0), RuntimeError, "unfold: kernel size should be greater"),
        (lambda x, c: F.unfold(x, 3, dilation=0), RuntimeError, "unfold: dilation"),
        (lambda x, c: F.unfold(x, 3, padding=-1), RuntimeError, "unfold: padding"),
        (lambda x, c: F.unfold(x, 3, stride=(1, 0)), RuntimeError, "unfold: stride"),
        (lambda x, c: F.unfold(x, 7), RuntimeError, "unfold: .* at least one"),
        (lambda x, c: F.unfold(x[None], 3), RuntimeError, "unfold: Expected 3D or 4D"),
        (lambda x, c: F.unfold(x[:, :0], 3), RuntimeError, "unfold: Expected 3D or 4D"),
        (lambda x, c: F.unfold(x, (2, 3, 4)), RuntimeError, "unfold: .*kernel_size equals to 2"),
        (lambda x, c: F.unfold(x, 2.5), TypeError, "unfold: kernel_size"),
        (lambda x, c: F.unfold(x.astype(np.int64), 3), NotImplementedError, "unfold: .*int64"),
        (lambda x, c: F.fold(c, (5, 5), 3), RuntimeError, "fold: .*divisible by the product"),
        (lambda x, c: F.fold(c, (6, 5), 2), RuntimeError, "fold: .*number of sliding blocks"),
        (lambda x, c: F.fold(c, (1, 1), 2), RuntimeError, "fold: .*0 \\* 0 = 0"),
        (lambda x, c: F.fold(c[0, 0], (5, 5), 2), RuntimeError, "fold: Expected 2D or 3D"),
        (lambda x, c: F.fold(c, (0, 5), 2), RuntimeError, "fold: output size"),
        (lambda x, c: F.fold(c, (5, 5), 2, stride=0), RuntimeError, "fold: stride"),
        (lambda x, c: F.fold(c > 0, (5, 5), 2), NotImplementedError, "fold: .*bool"),
    ],
)
def test_unfold_fold_bad_arguments(call, exc, words):
    x = np.zeros((2, 3, 5, 5), np.float32)
    c = np.zeros((2, 12, 16), np.float32)
    with pytest.raises(exc, match=words):
        call(x, c)


# ----------------------------------------------------------------------------- interpolate

_RESIZES = [
    {"size": (9, 13)},  # up, non-square
    {"size": (3, 2)},  # down
    {"size": (1, 1)},
    {"size": 5},
    {"scale_factor": 1.7},
    {"scale_factor": (0.6, 2.5)},
    {"scale_factor": 2, "recompute_scale_factor": True},
    {"scale_factor": 1.3, "recompute_scale_factor": False},
    {"size": (5, 7)},  # the input's own size
]


@pytest.mark.parametrize("kw", _RESIZES)
@pytest.mark.parametrize("align", [False, True])
def test_bicubic_vs_torch(rng, kw, align):
    x = rng.standard_normal((2, 3, 5, 7))
    fp = lambda t: F.interpolate(t, mode="bicubic", align_corners=align, **kw)  # noqa: E731
    ft = lambda t: TF.interpolate(t, mode="bicubic", align_corners=align, **kw)  # noqa: E731
    y = _vs_torch(fp, ft, [x], rng)
    if "size" in kw:  # a 1 x 1 image: every tap clamps to it
        _vs_torch(fp, ft, [x[:1, :1, :1, :1]], rng)
    # the cubic weights sum to 1: a constant image resamples to itself
    c = _np(fp(pydlk.tensor(np.full(x.shape, 2.5))))
    np.testing.assert_allclose(c, 2.5, rtol=1e-12)
    if align:  # align_corners: the corner pixels are sampled exactly
        np.testing.assert_allclose(y[..., 0, 0], x[..., 0, 0], rtol=1e-12, atol=1e-12)
        if y.shape[-2] > 1 and y.shape[-1] > 1:
            np.testing.assert_allclose(y[..., -1, -1], x[..., -1, -1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kw", _RESIZES)
def test_area_vs_torch(rng, kw):
    x = rng.standard_normal((2, 3, 5, 7))
    fp = lambda t: F.interpolate(t, mode="area", **kw)  # noqa: E731
    ft = lambda t: TF.interpolate(t, mode="area", **kw)  # noqa: E731
    y = _vs_torch(fp, ft, [x], rng)
    _keeps_constants(fp, x.shape)
    # textbook: output cell (i, j) is the mean of input rows floor(i H / h) .. ceil((i+1) H / h)
    # and the same columns (adaptive average pooling)
    h, w = y.shape[-2:]
    H, W = x.shape[-2:]
    for i, j in ((0, 0), (h - 1, w - 1), (h // 2, w // 3)):
        rows = slice(i * H // h, -(-(i + 1) * H // h))
        cols = slice(j * W // w, -(-(j + 1) * W // w))
        np.testing.assert_allclose(y[..., i, j], x[..., rows, cols].mean((-2, -1)), rtol=1e-12)


@pytest.mark.parametrize(
    "mode, shape, kw",
    [
        ("area", (2, 3, 11), {"size": 4}),
        ("area", (2, 3, 11), {"scale_factor": 0.7}),
        ("area", (2, 3, 4), {"size": 9}),
        ("area", (1, 2, 4, 5, 6), {"size": (3, 7, 2)}),
        ("trilinear", (1, 2, 4, 5, 6), {"size": (3, 7, 2)}),
        ("trilinear", (1, 2, 4, 5, 6), {"size": (6, 2, 9), "align_corners": True}),
        ("trilinear", (1, 2, 4, 5, 6), {"scale_factor": (1.5, 0.5, 2.0)}),
        ("nearest", (1, 2, 4, 5, 6), {"scale_factor": 1.5}),
        ("nearest-exact", (1, 2, 4, 5, 6), {"size": (3, 7, 2)}),
    ],
)
def test_area_1d_3d_and_5d_modes_vs_torch(rng, mode, shape, kw):
    x = rng.standard_normal(shape)
    fp = lambda t: F.interpolate(t, mode=mode, **kw)  # noqa: E731
    ft = lambda t: TF.interpolate(t, mode=mode, **kw)  # noqa: E731
    y = _vs_torch(fp, ft, [x], rng)
    _keeps_constants(fp, x.shape)
    assert y.min() >= x.min() - 1e-12 and y.max() <= x.max() + 1e-12  # convex combinations


def test_bicubic_area_float32_and_upsample_modules(rng):
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    for mode, kw in [
        ("bicubic", {"size": (16, 16), "align_corners": False}),
        ("bicubic", {"scale_factor": 0.5, "align_corners": True}),
        ("area", {"size": (4, 3)}),
    ]:
        _vs_torch(
            lambda t: F.interpolate(t, mode=mode, **kw),
            lambda t: TF.interpolate(t, mode=mode, **kw),
            [x],
            rng,
            1e-5,
            1e-5,
        )
        up = _vs_torch(
            lambda t: nn.Upsample(mode=mode, **kw)(t),
            lambda t: torch.nn.Upsample(mode=mode, **kw)(t),
            [x],
            rng,
            1e-5,
            1e-5,
        )
        assert up.dtype == np.float32
        _keeps_constants(lambda t: F.interpolate(t, mode=mode, **kw), x.shape, np.float32, 1e-6)


def test_bicubic_reference_loop(rng):
    """Keys' cubic convolution (a = -0.75) per output pixel, with the edge pixel repeated past
    the border, written from the definition; and linear ramps kept where no tap clamps."""

    def kernel(d):
        d, a = abs(d), -0.75
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a if d < 2 else 0.0

    x = rng.standard_normal((1, 1, 4, 6))
    oh, ow = 7, 5
    ref = np.zeros((oh, ow))
    for r, q in itertools.product(range(oh), range(ow)):
        sy, sx = (r + 0.5) * 4 / oh - 0.5, (q + 0.5) * 6 / ow - 0.5
        y0, x0 = int(np.floor(sy)), int(np.floor(sx))
        for i, j in itertools.product(range(-1, 3), range(-1, 3)):
            v = x[0, 0, min(max(y0 + i, 0), 3), min(max(x0 + j, 0), 5)]
            ref[r, q] += kernel(sy - (y0 + i)) * kernel(sx - (x0 + j)) * v
    out = np.asarray(F.interpolate(x, size=(oh, ow), mode="bicubic"))[0, 0]
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    ramp = np.add.outer(np.arange(6.0), 0.5 * np.arange(10.0))[None, None]
    y = np.asarray(F.interpolate(ramp, size=(11, 19), mode="bicubic", align_corners=True))
    want = np.add.outer(np.linspace(0, 5, 11), 0.5 * np.linspace(0, 9, 19))
    np.testing.assert_allclose(y[0, 0, 2:-2, 2:-2], want[2:-2, 2:-2], atol=1e-12)


def test_area_is_adaptive_avg_pool(rng):
    x = rng.standard_normal((2, 3, 8, 6))
    np.testing.assert_allclose(
        np.asarray(F.interpolate(x, size=(4, 2), mode="area")),
        x.reshape(2, 3, 4, 2, 2, 3).mean(axis=(3, 5)),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        np.asarray(F.interpolate(x, size=(5, 4), mode="area")),
        np.asarray(F.adaptive_avg_pool2d(x, (5, 4))),
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    "mode, kw",
    [
        ("bicubic", {"size": (6, 4)}),
        ("bicubic", {"scale_factor": 1.5, "align_corners": True}),
        ("area", {"size": (3, 2)}),
        ("area", {"size": (7, 9)}),
    ],
)
def test_new_modes_gradcheck_and_double_backward(rng, mode, kw):
    x = t64(rng.standard_normal((1, 2, 4, 5)))
    assert pydlk.gradcheck(lambda t: F.interpolate(t, mode=mode, **kw), (x,))
    assert pydlk.autograd.gradgradcheck(lambda t: F.interpolate(t * t, mode=mode, **kw), (x,))


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"size": 4, "mode": "area", "align_corners": False}, ValueError, "bicubic"),
        ({"size": 4, "mode": "bicubic", "recompute_scale_factor": True}, ValueError, "explicit"),
        ({"size": 4, "mode": "area", "antialias": True}, ValueError, "antialias"),
        ({"size": 4, "mode": "trilinear"}, ValueError, "5-D"),
    ],
)
def test_new_modes_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc, match="interpolate: .*" + words):
        F.interpolate(np.zeros((1, 2, 3, 3), np.float32), **kwargs)
    with pytest.raises(ValueError, match="interpolate: mode 'bicubic' expects a 4-D"):
        F.interpolate(np.zeros((1, 2, 3), np.float32), size=4, mode="bicubic")


# ----------------------------------------------------------------------------- affine_grid


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("size", [(3, 2, 4, 5), (3, 1, 7, 1), (3, 2, 12, 10), (3, 1, 3, 4, 5)])
def test_affine_grid_vs_torch(rng, dtype, align, size):
    k = len(size) - 2
    theta = rng.standard_normal((3, k, k + 1)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unit-size grids with align_corners=True warn (both)
        yt = TF.affine_grid(torch.tensor(theta), size, align)
        yp = F.affine_grid(theta, size, align)
    # the same float rounding as torch, so equal to the last bit
    np.testing.assert_array_equal(np.asarray(yp), yt.numpy())
    if 1 not in size[2:]:
        _vs_torch(
            lambda t: F.affine_grid(t, size, align),
            lambda t: TF.affine_grid(t, size, align),
            [theta],
            rng,
            1e-12 if dtype == np.float64 else 1e-5,
            1e-12 if dtype == np.float64 else 1e-5,
        )


def test_affine_grid_double_backward_and_warnings(rng):
    theta = t64(rng.standard_normal((2, 2, 3)))
    assert pydlk.autograd.gradgradcheck(lambda t: F.affine_grid(t * t, (2, 1, 3, 4), False), theta)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.affine_grid(theta.detach(), (2, 1, 3, 4))
    with pytest.warns(UserWarning, match="unit-size grids"):
        F.affine_grid(theta.detach(), (2, 1, 1, 4), align_corners=True)


@pytest.mark.parametrize(
    "theta, size, exc, words",
    [
        (np.zeros((2, 2, 3), np.int64), (2, 1, 3, 4), ValueError, "floating point"),
        (np.zeros((2, 2, 3)), (2, 1, 3), NotImplementedError, "4D and 5D sizes"),
        (np.zeros((2, 3, 3)), (2, 1, 3, 4), ValueError, "Nx2x3"),
        (np.zeros((2, 2, 3)), (2, 1, 3, 4, 5), ValueError, "Nx3x4"),
        (np.zeros((2, 2, 3)), (2, 1, 0, 4), ValueError, "positive output size"),
        (np.zeros((2, 2, 3)), (3, 1, 3, 4), RuntimeError, "batch of 3"),
    ],
)
def test_affine_grid_bad_arguments(theta, size, exc, words):
    with pytest.raises(exc, match=words):
        F.affine_grid(theta, size, align_corners=False)


# ----------------------------------------------------------------------------- grid_sample

_SAMPLE_CASES = list(
    itertools.product(
        ["bilinear", "nearest", "bicubic"], ["zeros", "border", "reflection"], [False, True]
    )
)


def _grids(rng, n, ho, wo):
    """Inside the image, well outside it, and on exact pixel centres and edges."""
    inside = rng.uniform(-0.95, 0.95, (n, ho, wo, 2))
    outside = rng.uniform(-3.5, 3.5, (n, ho, wo, 2))
    lattice = rng.integers(-8, 9, (n, ho, wo, 2)) / 4.0
    return {"inside": inside, "outside": outside, "lattice": lattice}


@pytest.mark.parametrize("mode, padding, align", _SAMPLE_CASES)
@pytest.mark.parametrize("shape", [(2, 3, 5, 7, 4, 6), (1, 2, 1, 4, 3, 3), (3, 1, 6, 6, 9, 2)])
def test_grid_sample_vs_torch(rng, mode, padding, align, shape):
    n, c, h, w, ho, wo = shape
    x = rng.standard_normal((n, c, h, w))
    for name, grid in _grids(rng, n, ho, wo).items():
        # on exact pixel positions the grid's gradient has kinks (torch takes one side there)
        grads = [True, name != "lattice" and mode != "nearest"]
        y = _vs_torch(
            lambda a, g: F.grid_sample(a, g, mode, padding, align),
            lambda a, g: TF.grid_sample(a, g, mode, padding, align),
            [x, grid],
            rng,
            grads=grads,
        )
        _grid_sample_properties(x, grid, y, mode, padding, align)
        assert y.shape == (n, c, ho, wo)
        if mode != "bicubic":  # convex combinations of pixels (and zeros outside)
            assert np.abs(y).max() <= np.abs(x).max() + 1e-12


@pytest.mark.parametrize("mode, padding, align", _SAMPLE_CASES[::2])
def test_grid_sample_float32_vs_torch(rng, mode, padding, align):
    x = rng.random((2, 3, 12, 10), dtype=np.float32)
    grid = rng.uniform(-1.2, 1.2, (2, 7, 9, 2)).astype(np.float32)
    y = _vs_torch(
        lambda a, g: F.grid_sample(a, g, mode, padding, align),
        lambda a, g: TF.grid_sample(a, g, mode, padding, align),
        [x, grid],
        rng,
        1e-4,
        1e-5,
        grads=[True, mode != "nearest"],
    )
    assert y.dtype == np.float32
    _grid_sample_properties(x, grid, y, mode, padding, align, tol=1e-5)


def _grid_sample_properties(x, grid, y, mode, padding, align, tol=1e-12):
    """Textbook properties: bilinear and nearest samples are convex combinations of pixels (and
    zeros); with border or reflection padding a constant image samples to that constant; the
    sample is linear in the image."""
    if mode != "bicubic":
        assert np.abs(y).max() <= np.abs(x).max() + tol
    g = pydlk.tensor(grid)
    if padding != "zeros":
        const = _np(F.grid_sample(pydlk.tensor(np.full_like(x, 2.5)), g, mode, padding, align))
        np.testing.assert_allclose(const, 2.5, rtol=tol, atol=tol)
    y2 = _np(F.grid_sample(pydlk.tensor(3 * x + 1), g, mode, padding, align))
    ones = _np(F.grid_sample(pydlk.tensor(np.ones_like(x)), g, mode, padding, align))
    np.testing.assert_allclose(y2, 3 * y + ones, rtol=10 * tol, atol=10 * tol)


def test_grid_sample_references(rng):
    x = rng.standard_normal((2, 3, 5, 4))
    ident = np.tile(np.array([[1.0, 0, 0], [0, 1, 0]]), (2, 1, 1))
    for align in (False, True):
        grid = F.affine_grid(ident, (2, 3, 5, 4), align_corners=align)
        for mode in ("bilinear", "nearest", "bicubic"):
            out = F.grid_sample(x, grid, mode, align_corners=align)
            np.testing.assert_allclose(np.asarray(out), x, atol=1e-12)
    # a horizontal flip, and the midpoint between two pixel centres (align_corners=True)
    flip = np.tile(np.array([[-1.0, 0, 0], [0, 1, 0]]), (2, 1, 1))
    grid = F.affine_grid(flip, (2, 3, 5, 4), align_corners=False)
    np.testing.assert_allclose(
        np.asarray(F.grid_sample(x, grid, align_corners=False)), x[..., ::-1], atol=1e-12
    )
    mid = np.array([[[[-1 + 1 / 3, -1.0]]]]).repeat(2, 0)
    out = np.asarray(F.grid_sample(x, mid, align_corners=True))
    np.testing.assert_allclose(out[..., 0, 0], (x[:, :, 0, 0] + x[:, :, 0, 1]) / 2, rtol=1e-12)


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_nonfinite_grid_and_input(rng, mode):
    """A NaN or inf coordinate samples NaN (zero for 'nearest'), as torch with zero padding; an
    inf pixel is never read by a sample outside the image."""
    x = rng.standard_normal((1, 2, 4, 4))
    x[0, 0, 0, 0] = np.inf
    grid = np.array([[[[np.nan, 0.0], [0.2, np.inf], [-np.inf, 0.3], [1e20, 0.1], [5.0, 5.0]]]])
    # and three samples whose taps miss pixel (0, 0), even bicubic's
    grid = np.concatenate([grid, [[[[0.5, 0.1], [0.6, 0.5], [0.3, 0.4]]]]], axis=2)
    out = np.asarray(F.grid_sample(x, grid, mode, align_corners=False))
    ref = TF.grid_sample(torch.tensor(x), torch.tensor(grid), mode, align_corners=False)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-12)
    assert np.isfinite(out[..., 5:]).all()
    assert np.isnan(out[..., :3]).all() != (mode == "nearest")
    np.testing.assert_array_equal(out[..., 3:5], 0.0)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_grid_sample_gradcheck(rng, mode, padding):
    x = t64(rng.standard_normal((2, 2, 4, 5)))
    grid = t64(rng.uniform(-1.3, 1.3, (2, 3, 2, 2)), requires_grad=mode != "nearest")
    assert pydlk.gradcheck(lambda a, g: F.grid_sample(a, g, mode, padding, False), (x, grid))
    # linear in the input for a fixed grid: the input's gradient differentiates again
    g0 = grid.detach()
    assert pydlk.autograd.gradgradcheck(
        lambda a: F.grid_sample(a * a, g0, mode, padding, True), (x,)
    )


def test_grid_sample_nearest_grid_grad_is_zero(rng):
    x = t64(rng.standard_normal((1, 2, 4, 5)))
    grid = t64(rng.uniform(-1, 1, (1, 3, 3, 2)))
    F.grid_sample(x, grid, "nearest", align_corners=False).sum().backward()
    np.testing.assert_array_equal(np.asarray(grid.grad), 0.0)


@pytest.mark.parametrize("mode, padding, align", _SAMPLE_CASES)
def test_grid_sample_double_backward_vs_torch(rng, mode, padding, align):
    """Second derivatives through both gradients (a gradient penalty's pattern) with respect to
    the input and the grid, against torch; and gradgradcheck."""
    x = rng.standard_normal((2, 2, 4, 5))
    grid = rng.uniform(-1.3, 1.3, (2, 3, 2, 2))
    res = []
    for lib in (pydlk, torch):
        a, g = lib.tensor(x, requires_grad=True), lib.tensor(grid, requires_grad=True)
        y = (lib.nn.functional.grid_sample(a, g, mode, padding, align) ** 2).sum()
        ga, gg = lib.autograd.grad(y, (a, g), create_graph=True)
        ((ga**2).sum() + (gg * gg.detach()).sum() + (ga.sum() * gg).sum()).backward()
        res.append([_np(t) for t in (ga, gg, a.grad, g.grad)])
    for p, t in zip(*res):
        np.testing.assert_allclose(p, t, rtol=1e-10, atol=1e-10)
    a, g = t64(x[:1, :, :3, :4]), t64(grid[:1, :2])
    assert pydlk.autograd.gradgradcheck(
        lambda a, g: F.grid_sample(a, g, mode, padding, align), (a, g)
    )


def test_grid_sample_warns_without_align_corners(rng):
    x, grid = np.zeros((1, 1, 3, 3)), np.zeros((1, 2, 2, 2))
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(x, grid)


@pytest.mark.parametrize(
    "x_shape, g_shape, kw, exc, words",
    [
        ((2, 3, 5, 5), (1, 4, 6, 2), {}, RuntimeError, "same batch size"),
        ((2, 3, 5, 5), (2, 4, 6, 1), {}, RuntimeError, "size 2 in last dimension"),
        ((3, 5, 5), (4, 6, 2), {}, RuntimeError, "4D or 5D input and grid"),
        ((2, 3, 0, 5), (2, 4, 6, 2), {}, RuntimeError, "non-empty spatial"),
        ((2, 3, 5, 5), (2, 4, 6, 2), {"mode": "foo"}, ValueError, "expected mode"),
        ((2, 3, 5, 5), (2, 4, 6, 2), {"padding_mode": "wrap"}, ValueError, "padding_mode"),
        ((2, 3, 5, 5, 5), (2, 4, 6, 6, 2), {}, RuntimeError, "size 3 in last dimension"),
        ((2, 3, 5, 5, 5), (2, 4, 6, 6, 3), {"mode": "bicubic"}, RuntimeError, "bicubic .* 4D"),
    ],
)
def test_grid_sample_bad_arguments(x_shape, g_shape, kw, exc, words):
    with pytest.raises(exc, match=words):
        F.grid_sample(np.zeros(x_shape), np.zeros(g_shape), align_corners=False, **kw)


def test_grid_sample_dtype_errors():
    with pytest.raises(
        RuntimeError, match="grid_sampler\\(\\): expected input and grid to have same"
    ):
        F.grid_sample(
            np.zeros((1, 1, 3, 3), np.float32), np.zeros((1, 2, 2, 2)), align_corners=True
        )
    with pytest.raises(TypeError, match="grid_sample: input must be float"):
        F.grid_sample(np.zeros((1, 1, 3, 3), np.int64), np.zeros((1, 2, 2, 2)), align_corners=True)


# ----------------------------------------------------------------------------- on a GPU


def test_gpu_sampling_ops_match_cpu(rng):
    """unfold, fold, the new interpolate modes, affine_grid and grid_sample on CuPy arrays give
    the CPU's values and gradients (float64, so the two differ only by summation order)."""
    from _gpu_helpers import cupy_or_skip, host

    cp = cupy_or_skip()
    x = rng.standard_normal((2, 3, 6, 5))
    grid = rng.uniform(-1.3, 1.3, (2, 4, 7, 2))
    theta = rng.standard_normal((2, 2, 3))
    ops = [
        lambda a: F.unfold(a, (2, 3), padding=1, stride=(1, 2)),
        lambda a: F.fold(F.unfold(a, 3, padding=1), (6, 5), 3, padding=1),
        lambda a: F.interpolate(a, size=(9, 4), mode="bicubic", align_corners=False),
        lambda a: F.interpolate(a, scale_factor=0.6, mode="area"),
    ]
    for op in ops:
        xc, xg = (
            pydlk.tensor(x, requires_grad=True),
            pydlk.tensor(cp.asarray(x), requires_grad=True),
        )
        yc, yg = op(xc), op(xg)
        np.testing.assert_allclose(host(yg), host(yc), rtol=1e-12, atol=1e-12)
        dy = rng.standard_normal(yc.shape)
        yc.backward(pydlk.tensor(dy))
        yg.backward(pydlk.tensor(cp.asarray(dy)))
        np.testing.assert_allclose(host(xg.grad), host(xc.grad), rtol=1e-12, atol=1e-12)
    for mode, padding in [("bilinear", "zeros"), ("bicubic", "reflection"), ("nearest", "border")]:
        ins = [x, grid, theta]
        cpu = [pydlk.tensor(a, requires_grad=True) for a in ins]
        gpu = [pydlk.tensor(cp.asarray(a), requires_grad=True) for a in ins]
        outs = []
        for a, g, t in (cpu, gpu):
            y = (
                F.grid_sample(a, g, mode, padding, True)
                + F.affine_grid(t, (2, 3, 6, 5), True).sum()
            )
            y.sum().backward()
            outs.append(y)
        np.testing.assert_allclose(host(outs[1]), host(outs[0]), rtol=1e-12, atol=1e-12)
        for c, g in zip(cpu, gpu):
            np.testing.assert_allclose(host(g.grad), host(c.grad), rtol=1e-12, atol=1e-12)


def test_poisson_of_a_zero_dimensional_rate():
    # NumPy's poisson gives a Python int for a 0-d rate; the draw keeps the rate's shape and dtype
    pydlk.manual_seed(0)
    y = pydlk.poisson(pydlk.tensor(3.0))
    assert tuple(y.shape) == () and y.dtype == np.float32
    ys = pydlk.poisson(pydlk.full((20000,), 3.0))
    assert abs(ys.mean().item() - 3.0) < 5 * (3.0 / 20000) ** 0.5  # within 5 standard errors


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic", "area"])
def test_interpolate_to_the_same_size_returns_a_new_tensor(mode):
    torch = pytest.importorskip("torch")
    kw = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    for lib in (pydlk, torch):
        x = lib.ones(1, 2, 4, 4, requires_grad=True)
        y = lib.nn.functional.interpolate(x, size=(4, 4), mode=mode, **kw)
        assert y is not x and y.data_ptr() != x.data_ptr(), lib.__name__
        with lib.no_grad():
            y.add_(1)
        assert float(x.detach().sum()) == 32.0, lib.__name__
        (y * 3).sum().backward()
        assert x.grad.tolist() == lib.full((1, 2, 4, 4), 3.0).tolist(), lib.__name__
