"""one_hot, pad, interpolate, cosine_similarity, pairwise_distance, prelu, conv1d,
conv_transpose1d/2d and dropout2d on 2-D input: NumPy references written here, float64
finite-difference gradient checks, torch as the oracle (forward and gradients), bad arguments."""

import numpy as np
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _np(t):
    return np.asarray(
        t.detach().numpy()
        if hasattr(t, "detach") and not isinstance(t, pydlk.Tensor)
        else (np.asarray(t) if isinstance(t, pydlk.Tensor) else t)
    )


def _vs_torch(fn_p, fn_t, arrays, rng, rtol=1e-5, atol=1e-6, grad=True):
    """Same float32 inputs to both; outputs and the gradients of sum(out * dy) must agree."""
    ps = [pydlk.tensor(a, requires_grad=grad) for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad) for a in arrays]
    yp, yt = fn_p(*ps), fn_t(*ts)
    np.testing.assert_allclose(_np(yp), _np(yt), rtol=rtol, atol=atol)
    if grad:
        dy = rng.standard_normal(yt.shape).astype(np.float32)
        yt.backward(torch.tensor(dy))
        yp.backward(pydlk.tensor(dy))
        for p, t in zip(ps, ts):
            np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=rtol, atol=10 * atol)


# ----------------------------------------------------------------------------- one_hot


def test_one_hot_reference_and_torch(rng):
    idx = rng.integers(0, 5, size=(3, 4))
    out = F.one_hot(idx)
    assert out.dtype == np.int64 and out.shape == (3, 4, 5)
    np.testing.assert_array_equal(np.asarray(out), np.eye(5, dtype=np.int64)[idx])
    np.testing.assert_array_equal(
        np.asarray(F.one_hot(pydlk.tensor(idx), num_classes=7)),
        TF.one_hot(torch.tensor(idx), num_classes=7).numpy(),
    )
    np.testing.assert_array_equal(np.asarray(F.one_hot(idx)), TF.one_hot(torch.tensor(idx)).numpy())


@pytest.mark.parametrize(
    "args, exc, words",
    [
        ((np.array([0, 1.0]),), TypeError, "one_hot: tensor"),
        ((np.array([0, -1]),), ValueError, "non-negative"),
        ((np.array([0, 3]), 3), ValueError, "smaller than num_classes"),
        ((np.array([0, 1]), 0), ValueError, "num_classes"),
        ((np.array([0, 1]), 2.0), TypeError, "num_classes"),
        ((np.zeros(0, np.int64),), ValueError, "empty"),
    ],
)
def test_one_hot_bad_arguments(args, exc, words):
    with pytest.raises(exc, match=words):
        F.one_hot(*args)


# ----------------------------------------------------------------------------- pad

_NP_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", list(_NP_MODE))
@pytest.mark.parametrize(
    "shape, pad",
    [
        ((2, 3, 7), (2, 1)),
        ((2, 3, 5, 6), (1, 2, 3, 0)),
        ((3, 5, 6), (0, 2, 1, 1)),
        ((1, 2, 3, 4, 5), (1, 1, 2, 0, 0, 2)),
    ],
)
def test_pad_reference_torch_gradcheck(rng, mode, shape, pad):
    x = rng.standard_normal(shape)
    k = len(pad) // 2
    widths = [(0, 0)] * (x.ndim - k) + [(pad[2 * j], pad[2 * j + 1]) for j in reversed(range(k))]
    kw = {"constant_values": 0.5} if mode == "constant" else {}
    value = 0.5 if mode == "constant" else None
    ref = np.pad(x, widths, mode=_NP_MODE[mode], **kw)
    np.testing.assert_allclose(
        np.asarray(F.pad(x, pad, mode=mode, value=value)), ref, rtol=0, atol=0
    )
    _vs_torch(
        lambda t: F.pad(t, pad, mode, value),
        lambda t: TF.pad(t, pad, mode, value),
        [x.astype(np.float32)],
        rng,
    )
    assert pydlk.gradcheck(lambda t: F.pad(t, pad, mode, value), (t64(x),))


def test_pad_negative_crops_constant(rng):
    x = rng.standard_normal((2, 3, 5, 6))
    y = F.pad(x, (-1, 2, 0, -2))
    ref = np.pad(x[:, :, :-2, 1:], [(0, 0), (0, 0), (0, 0), (0, 2)])
    np.testing.assert_array_equal(np.asarray(y), ref)
    _vs_torch(
        lambda t: F.pad(t, (-1, 2, 0, -2)),
        lambda t: TF.pad(t, (-1, 2, 0, -2)),
        [x.astype(np.float32)],
        rng,
    )
    assert pydlk.gradcheck(lambda t: F.pad(t, (-1, 2, 0, -2)), (t64(x),))


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"pad": (1,)}, ValueError, "divisible by 2"),
        ({"pad": (1, 1, 1, 1, 1, 1, 1, 1, 1, 1)}, ValueError, "Padding length"),
        ({"pad": (1, 1), "mode": "wrap"}, ValueError, "pad: mode"),
        ({"pad": (4, 0), "mode": "reflect"}, ValueError, "reflect padding size"),
        ({"pad": (1, 0), "mode": "reflect", "value": 2.0}, ValueError, "value"),
        ({"pad": (1.5, 0)}, TypeError, "pad: pad"),
        ({"pad": (6, 0), "mode": "circular"}, ValueError, "circular"),
        ({"pad": (1, 1, 1, 1, 1, 1), "mode": "replicate"}, ValueError, "replicate"),
    ],
)
def test_pad_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        F.pad(np.zeros((2, 3, 4), np.float32), **kwargs)


# ----------------------------------------------------------------------------- interpolate


@pytest.mark.parametrize(
    "mode, align",
    [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True)],
)
@pytest.mark.parametrize(
    "kw",
    [
        {"size": (7, 4)},
        {"size": 3},
        {"scale_factor": 1.7},
        {"scale_factor": (2, 0.5)},
        {"scale_factor": 3},
    ],
)
def test_interpolate_2d_vs_torch(rng, mode, align, kw):
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    _vs_torch(
        lambda t: F.interpolate(t, mode=mode, align_corners=align, **kw),
        lambda t: TF.interpolate(t, mode=mode, align_corners=align, **kw),
        [x],
        rng,
    )


@pytest.mark.parametrize(
    "mode, align", [("nearest", None), ("linear", False), ("linear", True), ("nearest-exact", None)]
)
def test_interpolate_1d_vs_torch(rng, mode, align):
    x = rng.standard_normal((2, 3, 7)).astype(np.float32)
    for kw in ({"size": 11}, {"scale_factor": 0.6}, {"scale_factor": 2.5}):
        _vs_torch(
            lambda t, kw=kw: F.interpolate(t, mode=mode, align_corners=align, **kw),
            lambda t, kw=kw: TF.interpolate(t, mode=mode, align_corners=align, **kw),
            [x],
            rng,
        )


def test_interpolate_recompute_scale_factor(rng):
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    kw = {"scale_factor": 1.7, "mode": "bilinear", "recompute_scale_factor": True}
    _vs_torch(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw), [x], rng)


def test_interpolate_references(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    # nearest with an integer factor repeats each pixel
    np.testing.assert_array_equal(
        np.asarray(F.interpolate(x, scale_factor=2)), x.repeat(2, axis=2).repeat(2, axis=3)
    )
    # bilinear with align_corners=True keeps the corners and interpolates the midpoints
    y = np.asarray(F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=True))
    np.testing.assert_allclose(y[:, :, ::2, ::2], x, rtol=1e-12)
    np.testing.assert_allclose(y[:, :, 1::2, ::2], (x[:, :, :-1] + x[:, :, 1:]) / 2, rtol=1e-12)


@pytest.mark.parametrize(
    "mode, kw",
    [
        ("nearest", {"size": (7, 3)}),
        ("bilinear", {"scale_factor": 1.5}),
        ("bilinear", {"size": (3, 8), "align_corners": True}),
    ],
)
def test_interpolate_gradcheck(rng, mode, kw):
    x = t64(rng.standard_normal((1, 2, 4, 5)))
    assert pydlk.gradcheck(lambda t: F.interpolate(t, mode=mode, **kw), (x,))


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({}, ValueError, "exactly one of size or scale_factor"),
        ({"size": 4, "scale_factor": 2}, ValueError, "exactly one"),
        ({"size": 4, "mode": "lanczos"}, ValueError, "interpolate: mode"),
        ({"size": 4, "mode": "linear"}, ValueError, "3-D"),
        ({"size": 4, "align_corners": True}, ValueError, "align_corners"),
        ({"size": (4, 4, 4)}, ValueError, "size shape"),
        ({"scale_factor": -1.0}, ValueError, "scale_factor"),
        ({"size": 0}, ValueError, "size"),
    ],
)
def test_interpolate_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        F.interpolate(np.zeros((1, 2, 3, 3), np.float32), **kwargs)


# ----------------------------------------------------------------------------- similarity


def test_cosine_similarity_reference_torch_gradcheck(rng):
    a, b = rng.standard_normal((4, 6, 3)), rng.standard_normal((1, 6, 3))
    ref = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(np.asarray(F.cosine_similarity(a, b)), ref, rtol=1e-12)
    for dim in (1, -1, 0):
        _vs_torch(
            lambda x, y, dim=dim: F.cosine_similarity(x, y, dim=dim),
            lambda x, y, dim=dim: TF.cosine_similarity(x, y, dim=dim),
            [a.astype(np.float32), b.astype(np.float32)],
            rng,
        )
    assert pydlk.gradcheck(lambda x, y: F.cosine_similarity(x, y), (t64(a), t64(b)))


def test_cosine_similarity_tiny_vectors_follow_torch(rng):
    # norms below eps are clamped one by one (torch 2.x), not as a product
    a = (rng.standard_normal((3, 4)) * 1e-6).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float32)
    _vs_torch(
        lambda x, y: F.cosine_similarity(x, y, eps=1e-5),
        lambda x, y: TF.cosine_similarity(x, y, eps=1e-5),
        [a, b],
        rng,
    )


def test_cosine_similarity_bad_shapes():
    with pytest.raises(ValueError, match="cosine_similarity: x1"):
        F.cosine_similarity(np.zeros((2, 3)), np.zeros((4, 3)))
    with pytest.raises(TypeError, match="cosine_similarity: x2"):
        F.cosine_similarity(np.zeros((2, 3)), np.zeros((2, 3), np.int64))


def test_pairwise_distance(rng):
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    np.testing.assert_allclose(
        np.asarray(F.pairwise_distance(a, b)), np.sqrt(((a - b + 1e-6) ** 2).sum(-1)), rtol=1e-12
    )
    _vs_torch(
        F.pairwise_distance, TF.pairwise_distance, [a.astype(np.float32), b.astype(np.float32)], rng
    )


# ----------------------------------------------------------------------------- prelu


@pytest.mark.parametrize(
    "shape, nw", [((2, 3, 4, 5), 3), ((2, 3), 1), ((5,), 1), ((2, 4, 3), 4), ((2, 4, 3), 1)]
)
def test_prelu(rng, shape, nw):
    x = rng.standard_normal(shape)
    w = rng.standard_normal(nw) * 0.3
    ws = w.reshape([1, nw] + [1] * (len(shape) - 2)) if len(shape) > 1 and nw > 1 else w
    ref = np.where(x > 0, x, ws * x)
    np.testing.assert_allclose(np.asarray(F.prelu(x, w)), ref, rtol=1e-12)
    _vs_torch(F.prelu, TF.prelu, [x.astype(np.float32), w.astype(np.float32)], rng)
    assert pydlk.gradcheck(F.prelu, (t64(x), t64(w)))


def test_prelu_bad_weight():
    with pytest.raises(ValueError, match="prelu: weight has 4"):
        F.prelu(np.zeros((2, 3), np.float32), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="prelu: weight has 5 elements but the input has 1"):
        F.prelu(np.zeros(5, np.float32), np.zeros(5, np.float32))  # 1-D: one channel, as torch


# ----------------------------------------------------------------------------- convolutions


def _conv_t_ref(x, w, b, stride, padding, output_padding, groups, dilation):
    """conv_transpose2d by its definition: each input pixel scatters w into the output."""
    N, C, H, W = x.shape
    _, og, kh, kw = w.shape
    Ho = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    Wo = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    full = np.zeros(
        (
            N,
            og * groups,
            Ho + 2 * padding[0] + kh * dilation[0],
            Wo + 2 * padding[1] + kw * dilation[1],
        )
    )
    cg = C // groups
    for n in range(N):
        for c in range(C):
            g = c // cg
            for i in range(H):
                for j in range(W):
                    for a in range(kh):
                        for bb in range(kw):
                            full[
                                n,
                                g * og : (g + 1) * og,
                                i * stride[0] + a * dilation[0],
                                j * stride[1] + bb * dilation[1],
                            ] += x[n, c, i, j] * w[c, :, a, bb]
    y = full[:, :, padding[0] : padding[0] + Ho, padding[1] : padding[1] + Wo]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


_CT_CASES = [
    {},
    {"stride": 2, "padding": 1, "output_padding": 1},
    {"stride": (2, 3), "padding": (1, 0), "output_padding": (1, 2), "dilation": (2, 1)},
    {"groups": 2, "stride": 2},
    {"dilation": 2, "output_padding": 1, "stride": 1},  # output_padding < dilation only
]


@pytest.mark.parametrize("kw", _CT_CASES)
def test_conv_transpose2d_reference_torch_gradcheck(rng, kw):
    groups = kw.get("groups", 1)
    x = rng.standard_normal((2, 4, 4, 5))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(3 * groups)
    full = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "dilation": 1, **kw}
    pairs = {k: (v, v) if isinstance(v, int) and k != "groups" else v for k, v in full.items()}
    ref = _conv_t_ref(
        x,
        w,
        b,
        pairs["stride"],
        pairs["padding"],
        pairs["output_padding"],
        groups,
        pairs["dilation"],
    )
    np.testing.assert_allclose(
        np.asarray(F.conv_transpose2d(x, w, b, **kw)), ref, rtol=1e-10, atol=1e-10
    )
    _vs_torch(
        lambda *a: F.conv_transpose2d(*a, **kw),
        lambda *a: TF.conv_transpose2d(*a, **kw),
        [x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)],
        rng,
        rtol=1e-4,
        atol=1e-5,
    )
    assert pydlk.gradcheck(
        lambda *a: F.conv_transpose2d(*a, **kw), (t64(x[:1, :, :3, :3]), t64(w), t64(b))
    )


def test_conv_transpose2d_unbatched_no_bias(rng):
    x = rng.standard_normal((4, 3, 3)).astype(np.float32)
    w = rng.standard_normal((4, 2, 2, 2)).astype(np.float32)
    _vs_torch(
        lambda a, c: F.conv_transpose2d(a, c, stride=2),
        lambda a, c: TF.conv_transpose2d(a, c, stride=2),
        [x, w],
        rng,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "kw", [{}, {"stride": 2, "padding": 1, "output_padding": 1}, {"groups": 2, "dilation": 2}]
)
def test_conv_transpose1d(rng, kw):
    groups = kw.get("groups", 1)
    x = rng.standard_normal((2, 4, 7))
    w = rng.standard_normal((4, 3, 3))
    b = rng.standard_normal(3 * groups)
    _vs_torch(
        lambda *a: F.conv_transpose1d(*a, **kw),
        lambda *a: TF.conv_transpose1d(*a, **kw),
        [x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)],
        rng,
        rtol=1e-4,
        atol=1e-5,
    )
    assert pydlk.gradcheck(lambda *a: F.conv_transpose1d(*a, **kw), (t64(x[:1]), t64(w), t64(b)))


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"stride": 2, "padding": 1},
        {"padding": "same", "dilation": 2},
        {"groups": 2, "padding": "valid"},
        {"padding": (2,)},
    ],
)
def test_conv1d(rng, kw):
    groups = kw.get("groups", 1)
    x = rng.standard_normal((2, 4, 9))
    w = rng.standard_normal((6, 4 // groups, 4))
    b = rng.standard_normal(6)
    if kw == {}:  # the definition, for one case
        ref = np.stack([np.einsum("nck,ock->no", x[:, :, i : i + 4], w) for i in range(6)], -1)
        np.testing.assert_allclose(np.asarray(F.conv1d(x, w, b)), ref + b[:, None], rtol=1e-10)
    _vs_torch(
        lambda *a: F.conv1d(*a, **kw),
        lambda *a: TF.conv1d(*a, **kw),
        [x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)],
        rng,
        rtol=1e-4,
        atol=1e-5,
    )
    assert pydlk.gradcheck(lambda *a: F.conv1d(*a, **kw), (t64(x[:1]), t64(w), t64(b)))


def test_conv1d_unbatched(rng):
    x = rng.standard_normal((4, 9)).astype(np.float32)
    w = rng.standard_normal((2, 4, 3)).astype(np.float32)
    _vs_torch(F.conv1d, TF.conv1d, [x, w], rng, atol=1e-5)


@pytest.mark.parametrize(
    "fn, args, exc, words",
    [
        (
            F.conv_transpose2d,
            ((2, 4, 3, 3), (3, 2, 2, 2)),
            ValueError,
            "conv_transpose2d: input has 4",
        ),
        (F.conv_transpose2d, ((2, 4, 3, 3), (4, 2, 2)), ValueError, "conv_transpose2d: weight"),
        (
            F.conv_transpose1d,
            ((2, 4, 3), (4, 2, 2)),
            ValueError,
            "conv_transpose1d: output padding",
        ),
        (F.conv1d, ((2, 4, 3, 3), (4, 2, 2)), ValueError, "conv1d: input"),
        (F.conv1d, ((2, 4, 5), (4, 4, 2, 2)), ValueError, "conv1d: weight"),
    ],
)
def test_conv_bad_arguments(fn, args, exc, words):
    kw = {"output_padding": 2, "stride": 2} if "output padding" in words else {}
    with pytest.raises(exc, match=words):
        fn(*(np.zeros(s, np.float32) for s in args), **kw)


def test_conv_transpose2d_bad_stride_type():
    with pytest.raises(TypeError, match="conv_transpose2d: stride"):
        F.conv_transpose2d(
            np.zeros((1, 2, 3, 3), np.float32), np.zeros((2, 2, 2, 2), np.float32), stride=1.5
        )


# ----------------------------------------------------------------------------- dropout2d


def test_dropout2d_2d_input_warns_and_drops_elements():
    x = np.ones((8, 2000), np.float32)
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        y = F.dropout2d(x, 0.5)
    assert set(np.unique(np.asarray(y))) == {0.0, 2.0}
    rate = (np.asarray(y) == 0).mean(1)
    assert np.all(np.abs(rate - 0.5) < 0.05)  # independent per element, not whole rows
    with pytest.warns(UserWarning, match="Received a 2-D input"):
        torch_y = TF.dropout2d(torch.ones(8, 2000), 0.5)
    assert set(torch_y.unique().tolist()) == {0.0, 2.0}
    with pytest.warns(UserWarning, match="Received a 2-D input"):
        m = pydlk.nn.Dropout2d(0.3)(pydlk.tensor(x))
    assert abs((np.asarray(m) == 0).mean() - 0.3) < 0.02


def test_dropout2d_5d_input_drops_whole_volumes():
    x = np.ones((4, 50, 2, 2, 2), np.float32)
    with pytest.warns(UserWarning, match="Received a 5-D input"):
        y = np.asarray(F.dropout2d(x, 0.5)).reshape(4, 50, -1)
    assert np.all(y.std(-1) == 0) and 0 < (y[:, :, 0] == 0).mean() < 1


def test_dropout2d_2d_gradient_uses_the_same_mask():
    x = pydlk.tensor(np.ones((4, 30), np.float32), requires_grad=True)
    with pytest.warns(UserWarning):
        y = F.dropout2d(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), np.asarray(y))
