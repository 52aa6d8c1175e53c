"""conv2d: reference, gradient check, torch oracle, properties, edge cases, bad input."""

import warnings

import numpy as np
import pydlk._C as C
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """From the definition, in float64:
    y[n, k, oh, ow] = b[k] + sum_{c, r, s} w[k, c, r, s]
                               * xpad[n, g*Cg + c, oh*sh + r*dh, ow*sw + s*dw]
    with g = k // (K/groups) and xpad the input with `padding` zeros on each side."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, Cin, H, W = x.shape
    K, Cg, R, S = w.shape
    Kg = K // groups
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    OH = (H + 2 * ph - dh * (R - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (S - 1) - 1) // sw + 1
    y = np.zeros((N, K, OH, OW))
    for g in range(groups):
        for r in range(R):
            for s in range(S):
                patch = xp[
                    :,
                    g * Cg : (g + 1) * Cg,
                    r * dh : r * dh + sh * (OH - 1) + 1 : sh,
                    s * dw : s * dw + sw * (OW - 1) + 1 : sw,
                ]
                y[:, g * Kg : (g + 1) * Kg] += np.einsum(
                    "nchw,kc->nkhw", patch, w[g * Kg : (g + 1) * Kg, :, r, s]
                )
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]
    return y


# (N, C, H, W, K, kernel, stride, padding, dilation, groups)
CONFIGS = [
    (2, 3, 9, 8, 5, 3, 1, 0, 1, 1),  # odd sizes, 3 -> 5
    (2, 3, 9, 8, 5, 3, 2, 1, 1, 1),  # stride 2, padding
    (1, 4, 9, 10, 6, (3, 2), 1, (1, 2), 2, 2),  # batch 1, dilation 2, groups 2, rectangular
    (3, 6, 10, 9, 6, 3, 2, 1, 1, 6),  # depthwise, stride 2
    (2, 6, 10, 9, 12, 3, 1, 1, 1, 6),  # depthwise, channel multiplier 2
    (3, 1, 12, 12, 6, 5, 1, 0, 1, 1),  # one input channel (LeNet conv1-like)
    (2, 5, 7, 7, 4, 1, 1, 0, 1, 1),  # 1x1
    (1, 3, 5, 5, 2, 5, 1, 0, 1, 1),  # kernel equal to input
    (2, 3, 8, 8, 4, 2, 3, 0, 1, 1),  # stride larger than kernel
    (2, 1, 7, 9, 3, (3, 2), (2, 1), (1, 2), (2, 1), 1),  # mixed per-axis hyperparameters
    (5, 6, 12, 12, 16, 5, 1, 0, 1, 1),  # LeNet conv2-like
    (9, 3, 8, 8, 5, 3, 1, 1, 1, 1),  # batched im2col chunks
    (2, 2, 6, 6, 3, 3, 1, 4, 1, 1),  # padding larger than the kernel
    (2, 4, 9, 11, 4, 3, 1, 2, 2, 4),  # depthwise, dilation 2 (direct, wide rows)
    (2, 3, 10, 9, 6, (3, 2), (2, 3), (1, 0), (2, 1), 3),  # depthwise x2, strided + dilated
]


def _data(rng, cfg, dtype=np.float32):
    N, Cin, H, W, K, k, stride, padding, dilation, groups = cfg
    R, S = _pair(k)
    x = rng.standard_normal((N, Cin, H, W)).astype(dtype)
    w = rng.standard_normal((K, Cin // groups, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("bias", [True, False])
def test_forward_matches_reference(rng, cfg, bias):
    x, w, b, kw = _data(rng, cfg)
    b = b if bias else None
    y = F.conv2d(x, w, b, **kw)
    ref = conv2d_ref(x, w, b, **kw)
    assert y.dtype == np.float32 and y.shape == ref.shape
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c[1] // c[9] == 1])
@pytest.mark.parametrize("algorithm", ["gemm", "direct"])
def test_both_algorithms_match_reference(rng, cfg, algorithm):
    # Shapes with one input channel per group can run either way; both must be right.
    x, w, b, kw = _data(rng, cfg)
    args = (kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    y = C.conv2d_forward(x, w, b, *args, algorithm=algorithm)
    np.testing.assert_allclose(y, conv2d_ref(x, w, b, **kw), rtol=1e-4, atol=1e-4)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    got = C.conv2d_backward(dy, x, w, *args, True, True, True, algorithm=algorithm)
    want = C.conv2d_backward(
        dy, x, w, *args, True, True, True, algorithm="gemm" if algorithm == "direct" else "direct"
    )
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c[4] * c[1] < 96])  # small ones: fast
def test_gradcheck(rng, cfg):
    x, w, b, kw = _data(rng, cfg, np.float64)
    x, w, b = x[:2], w, b  # keep it small
    assert pydlk.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), (t64(x), t64(w), t64(b)))


def test_gradcheck_one_input_at_a_time(rng):
    x, w, b, kw = _data(rng, CONFIGS[1], np.float64)
    assert pydlk.gradcheck(lambda x: F.conv2d(x, w, b, **kw), (t64(x),))
    assert pydlk.gradcheck(lambda w: F.conv2d(x, w, None, **kw), (t64(w),))
    assert pydlk.gradcheck(lambda b: F.conv2d(x, w, b, **kw), (t64(b),))


def test_backward_matches_adjoint_of_reference(rng):
    # <dy, conv(x + e v)> differences against <dx, v>, on the test's own reference.
    x, w, b, kw = _data(rng, CONFIGS[2], np.float64)
    dy = rng.standard_normal(conv2d_ref(x, w, b, **kw).shape)
    tx, tw, tb = t64(x), t64(w), t64(b)
    F.conv2d(tx, tw, tb, **kw).backward(dy)
    eps = 1e-6
    for grad, arg in [(tx.grad, 0), (tw.grad, 1), (tb.grad, 2)]:
        v = rng.standard_normal(grad.shape)
        args_p = [x, w, b]
        args_m = [x, w, b]
        args_p[arg] = args_p[arg] + eps * v
        args_m[arg] = args_m[arg] - eps * v
        num = (np.sum(conv2d_ref(*args_p, **kw) * dy) - np.sum(conv2d_ref(*args_m, **kw) * dy)) / (
            2 * eps
        )
        np.testing.assert_allclose(np.sum(np.asarray(grad) * v), num, rtol=1e-6)


GRID = [
    (N, Cin, K, k, stride, padding, dilation, groups)
    for N, Cin, K, groups in [(1, 3, 4, 1), (4, 4, 6, 2), (3, 8, 8, 8), (2, 1, 6, 1)]
    for k, stride, padding, dilation in [
        (1, 1, 0, 1),
        (3, 1, 1, 1),
        (3, 2, 0, 2),
        (5, 3, 2, 1),
        ((2, 3), (1, 2), (0, 1), 1),
    ]
]


@pytest.mark.parametrize("cfg", GRID)
def test_matches_torch(rng, cfg):
    torch = pytest.importorskip("torch")
    N, Cin, K, k, stride, padding, dilation, groups = cfg
    R, S = _pair(k)
    x = rng.standard_normal((N, Cin, 11, 10)).astype(np.float32)
    w = rng.standard_normal((K, Cin // groups, R, S)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, **kw)
    dy = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(dy))
    px, pw, pb = (pydlk.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(px, pw, pb, **kw)
    y.backward(dy)
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    for p, t in [(px, tx), (pw, tw), (pb, tb)]:
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-4, atol=2e-4)


@pytest.mark.parametrize("k,dilation", [(3, 1), (4, 1), ((2, 5), 1), (3, 2), ((4, 3), (1, 2))])
def test_padding_strings_match_torch(rng, k, dilation):
    torch = pytest.importorskip("torch")
    R, S = _pair(k)
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, R, S))
    b = rng.standard_normal(4)
    for padding in ["same", "valid"]:
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        with warnings.catch_warnings():  # torch warns that it copies the input for odd totals
            warnings.simplefilter("ignore", UserWarning)
            ty = torch.nn.functional.conv2d(tx, tw, tb, padding=padding, dilation=dilation)
        dy = rng.standard_normal(tuple(ty.shape))
        ty.backward(torch.tensor(dy))
        px, pw, pb = t64(x), t64(w), t64(b)
        y = F.conv2d(px, pw, pb, padding=padding, dilation=dilation)
        y.backward(dy)
        if padding == "same":
            assert y.shape == x.shape[:1] + (4,) + x.shape[2:]
        np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
        for p, t in [(px, tx), (pw, tw), (pb, tb)]:
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_padding_same_gradcheck_odd_total(rng):
    x, w = t64(rng.standard_normal((1, 2, 5, 6))), t64(rng.standard_normal((3, 2, 4, 2)))
    assert pydlk.gradcheck(lambda x, w: F.conv2d(x, w, padding="same"), (x, w))


def test_unbatched_input_as_torch(rng):
    x, w, b = (
        rng.standard_normal((3, 7, 6)),
        rng.standard_normal((2, 3, 3, 3)),
        rng.standard_normal(2),
    )
    y = F.conv2d(x, w, b, padding=1)
    assert y.shape == (2, 7, 6)
    np.testing.assert_allclose(np.asarray(y), conv2d_ref(x[None], w, b, padding=1)[0], rtol=1e-12)
    assert pydlk.gradcheck(lambda x, w: F.conv2d(x, w, padding=1), (t64(x), t64(w)))


# ------------------------------------------------------------------------------ properties


def test_identity_kernel_returns_input(rng):
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    w = np.zeros((3, 3, 3, 3), np.float32)
    for c in range(3):
        w[c, c, 1, 1] = 1
    np.testing.assert_array_equal(np.asarray(F.conv2d(x, w, padding=1)), x)


def test_linear_in_weight_and_grad_bias_is_sum(rng):
    x, w, b, kw = _data(rng, CONFIGS[1], np.float64)
    w2 = rng.standard_normal(w.shape)
    np.testing.assert_allclose(
        np.asarray(F.conv2d(x, w + w2, **kw)),
        np.asarray(F.conv2d(x, w, **kw)) + np.asarray(F.conv2d(x, w2, **kw)),
        rtol=1e-10,
        atol=1e-12,
    )
    tb = t64(b)
    y = F.conv2d(x, w, tb, **kw)
    dy = rng.standard_normal(y.shape)
    y.backward(dy)
    np.testing.assert_allclose(tb.grad, dy.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("cfg", [CONFIGS[1], CONFIGS[3], CONFIGS[5]])
@pytest.mark.parametrize("algorithm", ["auto", "gemm"])
def test_nan_reaches_exactly_its_receptive_field(rng, cfg, algorithm):
    x, w, b, kw = _data(rng, cfg, np.float64)
    x[0, 0, 3, 4] = np.nan
    y = C.conv2d_forward(
        x, w, b, kw["stride"], kw["padding"], kw["dilation"], kw["groups"], algorithm=algorithm
    )
    probe = np.zeros_like(x)
    probe[0, 0, 3, 4] = 1
    touched = conv2d_ref(probe, np.abs(w) + 1, None, **kw) != 0
    np.testing.assert_array_equal(np.isnan(y), touched)


# ------------------------------------------------------------------------------ edge cases


def test_zero_size_batch(rng):
    w, b = rng.standard_normal((4, 3, 3, 3)).astype(np.float32), np.ones(4, np.float32)
    x = pydlk.tensor(np.zeros((0, 3, 8, 8), np.float32), requires_grad=True)
    tw, tb = pydlk.tensor(w, requires_grad=True), pydlk.tensor(b, requires_grad=True)
    y = F.conv2d(x, tw, tb, stride=2, padding=1)
    assert y.shape == (0, 4, 4, 4)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 8, 8)
    np.testing.assert_array_equal(tw.grad, 0)
    np.testing.assert_array_equal(tb.grad, 0)
    # depthwise (direct path) too
    xd = np.zeros((0, 3, 8, 8), np.float32)
    dx, dw, db = C.conv2d_backward(
        np.zeros((0, 3, 8, 8), np.float32),
        xd,
        np.ones((3, 1, 3, 3), np.float32),
        1,
        1,
        1,
        3,
        True,
        True,
        True,
    )
    assert dx.shape == (0, 3, 8, 8)
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)


def test_float64_and_noncontiguous_inputs(rng):
    x = rng.standard_normal((2, 8, 9, 3)).transpose(0, 3, 1, 2)  # (2, 3, 8, 9), not C-contiguous
    w = rng.standard_normal((3, 3, 5, 4))[:, :, ::2, ::2]  # (3, 3, 3, 2), strided
    b = rng.standard_normal(6)[::2]
    assert not (x.flags.c_contiguous or w.flags.c_contiguous or b.flags.c_contiguous)
    y = F.conv2d(x, w, b, padding=1)
    assert y.dtype == np.float64
    np.testing.assert_allclose(np.asarray(y), conv2d_ref(x, w, b, padding=1), rtol=1e-12)
    tx, tw = t64(x), t64(w)
    F.conv2d(tx, tw, padding=1).backward(np.ones(y.shape))
    assert tx.grad.shape == x.shape and tw.grad.shape == w.shape


def _adjoint_ref(shape, f, dy):
    """The gradient of <dy, f(a)> for f linear in a (conv2d_ref in x or in w), in float64:
    entry j is <dy, f(e_j)> with e_j the j-th unit array."""
    g = np.zeros(shape)
    for j in np.ndindex(shape):
        e = np.zeros(shape)
        e[j] = 1.0
        g[j] = np.sum(f(e) * dy)
    return g


def _torch_grads(x, w, b, dy, **kw):
    """(y, dx, dw, db) from torch in float64."""
    torch = pytest.importorskip("torch")
    tx, tw, tb = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, **kw)
    ty.backward(torch.tensor(dy, dtype=torch.float64))
    return ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


def test_only_the_asked_gradients(rng):
    # The kernel computes only the gradients asked for, and each is right: checked against the
    # adjoint of conv2d_ref (float64) and against torch.
    x, w, b, kw = _data(rng, CONFIGS[0])
    dy = rng.standard_normal((2, 5, 7, 6)).astype(np.float32)
    ref_dx = _adjoint_ref(x.shape, lambda e: conv2d_ref(e, w, None, **kw), dy)
    ref_dw = _adjoint_ref(w.shape, lambda e: conv2d_ref(x, e, None, **kw), dy)
    _, t_dx, t_dw, t_db = _torch_grads(x, w, b, dy, **kw)
    np.testing.assert_allclose(ref_dx, t_dx, rtol=1e-10, atol=1e-10)  # the two references agree
    np.testing.assert_allclose(ref_dw, t_dw, rtol=1e-10, atol=1e-10)
    for need, want in [
        ((True, False, False), (ref_dx, None, None)),
        ((False, True, False), (None, ref_dw, None)),
        ((False, False, True), (None, None, t_db)),
        ((True, True, True), (ref_dx, ref_dw, t_db)),
    ]:
        got = C.conv2d_backward(dy, x, w, 1, 0, 1, 1, *need)
        for g, r in zip(got, want, strict=True):
            assert (g is None) == (r is None), need
            if r is not None:
                np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)
    # Through autograd: only the input asks for a gradient, so only it gets one.
    tx, tw = pydlk.tensor(x, requires_grad=True), pydlk.tensor(w)
    F.conv2d(tx, tw, b).backward(dy)
    assert tw.grad is None
    np.testing.assert_allclose(np.asarray(tx.grad), ref_dx, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------ bad inputs


def test_bad_inputs_name_the_argument():
    x = np.ones((2, 3, 8, 8), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match="input must be 3-D .* or 4-D"):
        F.conv2d(np.ones((3, 8), np.float32), w)
    with pytest.raises(ValueError, match="weight must be 4-D"):
        F.conv2d(x, np.ones((4, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"input has 3 channels, weight expects 4 \(groups=1"):
        F.conv2d(x, np.ones((4, 4, 3, 3), np.float32))
    with pytest.raises(ValueError, match="input has 3 channels, not divisible by groups=2"):
        F.conv2d(x, np.ones((4, 1, 3, 3), np.float32), groups=2)
    with pytest.raises(ValueError, match="weight has 5 output channels, not divisible by groups=3"):
        F.conv2d(x, np.ones((5, 1, 3, 3), np.float32), groups=3)
    with pytest.raises(ValueError, match="stride must be positive"):
        F.conv2d(x, w, stride=-1)
    with pytest.raises(ValueError, match="stride must be positive"):
        F.conv2d(x, w, stride=(1, 0))
    with pytest.raises(ValueError, match="dilation must be positive"):
        F.conv2d(x, w, dilation=0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        F.conv2d(x, w, padding=-1)
    with pytest.raises(ValueError, match="groups must be positive"):
        F.conv2d(x, w, groups=0)
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        F.conv2d(np.ones((2, 3, 2, 8), np.float32), w)
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        F.conv2d(x, w, dilation=5)
    with pytest.raises(ValueError, match="bias must have shape"):
        F.conv2d(x, w, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        F.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be 'valid', 'same'"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(TypeError, match="stride must be an int or a pair"):
        F.conv2d(x, w, stride=1.5)
    with pytest.raises(ValueError, match="padding must have 2 values"):
        F.conv2d(x, w, padding=(1, 1, 1))
    with pytest.raises(TypeError, match="input must be float32 or float64, got int64"):
        F.conv2d(np.ones((2, 3, 8, 8), np.int64), w)
    with pytest.raises(TypeError, match="weight must be float32 or float64, got int32"):
        F.conv2d(x, w.astype(np.int32))
    with pytest.raises(TypeError, match="weight must have the same dtype"):
        F.conv2d(x, w.astype(np.float64))
    with pytest.raises(TypeError, match="bias"):
        F.conv2d(x, w, "b")


def test_bad_inputs_at_the_binding():
    x = np.ones((2, 3, 8, 8), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match="conv2d: input must be 4-D"):
        C.conv2d_forward(x[0], w)
    with pytest.raises(
        ValueError, match="conv2d: stride must be in \\[1, 2\\*\\*31\\), got \\(-2, 1\\)"
    ):
        C.conv2d_forward(x, w, None, (-2, 1))
    with pytest.raises(TypeError, match="conv2d: input must be a C-contiguous"):
        C.conv2d_forward(x.transpose(0, 1, 3, 2), w)
    with pytest.raises(ValueError, match="grad_output must have shape \\(2, 4, 6, 6\\)"):
        C.conv2d_backward(np.ones((2, 4, 5, 6), np.float32), x, w)
    with pytest.raises(ValueError, match="algorithm='direct' needs one input channel per group"):
        C.conv2d_forward(x, w[:1], algorithm="direct")  # one output from three inputs
    with pytest.raises(TypeError, match="padding must be an int or a pair"):
        C.conv2d_forward(x, w, None, 1, "same")


# ------------------------------------------------------------------------------ threads


@pytest.mark.parametrize(
    "cfg",
    [
        (16, 6, 12, 12, 16, 5, 1, 0, 1, 1),  # gemm, batched chunks
        (8, 1, 28, 28, 6, 5, 1, 0, 1, 1),  # direct
        (4, 16, 16, 16, 16, 3, 2, 1, 1, 16),  # depthwise, strided
        (4, 16, 15, 17, 16, 3, 1, 1, 1, 16),  # depthwise (direct)
        (1, 32, 24, 24, 32, 3, 1, 1, 1, 1),
    ],
)  # one image: split GEMM
def test_one_and_two_threads_agree(rng, threads, cfg):
    x, w, b, kw = _data(rng, cfg)
    args = (kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    out = []
    for n in (1, 2):
        threads(n)
        y = C.conv2d_forward(x, w, b, *args)
        dy = np.cos(np.arange(y.size, dtype=np.float32)).reshape(y.shape)
        out.append((y,) + C.conv2d_backward(dy, x, w, *args))
    for a, b_ in zip(*out):
        np.testing.assert_allclose(a, b_, rtol=1e-5, atol=1e-4)
    # Against the references the error is bounded relative to the largest value: the last
    # shape runs Winograd ('auto', float32), whose rounding is about 5e-6 of that (the direct
    # sum's about 2e-7; see tests/test_conv2d_winograd.py).
    ref = conv2d_ref(x, w, b, **kw)
    assert np.abs(out[0][0] - ref).max() <= 2e-5 * np.abs(ref).max()
    # the gradients too, against torch in float64 (the one-thread run; the two-thread run
    # equals it above)
    dy = np.cos(np.arange(out[0][0].size, dtype=np.float32)).reshape(out[0][0].shape)
    for a, r in zip(out[0][1:], _torch_grads(x, w, b, dy, **kw)[1:], strict=True):
        assert np.abs(a - r).max() <= 2e-5 * np.abs(r).max()


def _narrow_case(rng, threads, cfg):
    """A narrow layer's data, torch's float64 dx and dw, and 'auto' (dx, dw) on 1 and 2
    threads."""
    x, w, b, kw = _data(rng, cfg)
    args = (kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    dy = rng.standard_normal(C.conv2d_forward(x, w, b, *args).shape).astype(np.float32)
    _, t_dx, t_dw, _ = _torch_grads(x, w, b, dy, **kw)
    got = {}
    for n in (1, 2):
        threads(n)
        got[n] = C.conv2d_backward(dy, x, w, *args, True, True, False)
    return x, w, dy, args, t_dx, t_dw, got


def _ran_and_turns_off(got, gemm, again):
    """A direct gradient kernel ran where the CPU has AVX-512 (its sums are ordered otherwise
    than gemm's, so the bits differ), and allow_direct_conv = False hands the gradient back to
    gemm: ``again()`` recomputes it then."""
    if C.conv_direct_supported():
        assert not np.array_equal(got, gemm)
    try:
        pydlk.backends.cpu.allow_direct_conv = False
        np.testing.assert_array_equal(again(), gemm)
    finally:
        pydlk.backends.cpu.allow_direct_conv = True


# The weight gradient of narrow float32 layers (9-16 outputs, one group, 3x3 or 5x5, no
# dilation) runs csrc/conv2d_dw512.cpp on CPUs with AVX-512 ('auto'; elsewhere gemm again);
# algorithm='gemm' keeps im2col + GEMM. Both against torch in float64.
@pytest.mark.parametrize(
    "cfg",
    [
        (10, 3, 9, 11, 9, 3, 2, 1, 1, 1),  # 9 outputs (7 idle lanes), stride 2, odd sizes, 8 blocks
        (3, 5, 12, 10, 16, 5, 1, 2, 1, 1),  # 5x5, padding 2, fewer samples than blocks
        (9, 2, 7, 8, 13, 3, (1, 2), (0, 1), 1, 1),  # per-axis stride and padding
        (4, 6, 14, 14, 16, 5, 1, 0, 1, 1),  # LeNet conv2
    ],
)
def test_narrow_weight_gradient(rng, threads, cfg):
    x, w, dy, args, t_dx, t_dw, got = _narrow_case(rng, threads, cfg)
    np.testing.assert_array_equal(got[1][1], got[2][1])  # fixed sample blocks: the same bits
    gemm = C.conv2d_backward(dy, x, w, *args, False, True, False, "gemm")[1]
    for dw in (got[2][1], gemm):
        assert np.abs(dw - t_dw).max() <= 1e-5 * np.abs(t_dw).max()
    assert np.abs(got[2][0] - t_dx).max() <= 1e-5 * np.abs(t_dx).max()  # dx after it, right


# The weight gradient of float32 layers with 1-8 outputs, one group, stride 1, no dilation and
# a kernel larger than 1x1 runs the few-outputs kernel of csrc/conv2d_dw512.cpp on CPUs with
# AVX-512 (16 output pixels per vector; 'auto'); algorithm='gemm' keeps im2col + GEMM.
@pytest.mark.parametrize(
    "cfg",
    [
        (4, 1, 32, 32, 6, 5, 1, 0, 1, 1),  # LeNet conv1: rows of 28 = a whole piece + 12 lanes
        (10, 3, 9, 11, 8, 3, 1, 1, 1, 1),  # 8 outputs, padding, 10 samples in 8 blocks
        (3, 2, 20, 37, 1, 5, 1, 2, 1, 1),  # one output: 12 taps a block, 50 taps = 5 blocks
        (2, 5, 7, 17, 3, (3, 2), 1, (1, 0), 1, 1),  # rows of exactly 16, rectangular kernel
        (3, 4, 6, 6, 4, 3, 1, 1, 1, 1),  # 6x6: every piece has idle lanes
        (2, 7, 12, 12, 5, 3, 1, 2, 1, 1),  # padding 2, 63 taps: the last block padded
    ],
)
def test_few_output_weight_gradient(rng, threads, cfg):
    x, w, dy, args, t_dx, t_dw, got = _narrow_case(rng, threads, cfg)
    np.testing.assert_array_equal(got[1][1], got[2][1])  # fixed sample blocks: the same bits
    gemm = C.conv2d_backward(dy, x, w, *args, False, True, False, "gemm")[1]
    for dw in (got[2][1], gemm):
        assert dw.shape == w.shape
        assert np.abs(dw - t_dw).max() <= 1e-5 * np.abs(t_dw).max()
    assert np.abs(got[2][0] - t_dx).max() <= 1e-5 * np.abs(t_dx).max()  # dx beside it, right
    np.testing.assert_array_equal(  # dw alone is the same
        C.conv2d_backward(dy, x, w, *args, False, True, False)[1], got[2][1]
    )
    _ran_and_turns_off(got[2][1], gemm, lambda: C.conv2d_backward(dy, x, w, *args)[1])
    # A NaN in x reaches exactly the weights whose taps see it (not every tap of its channel,
    # as multiplying the idle lanes by zero would)
    h, col = 1, x.shape[3] - 1
    xn = x.copy()
    xn[0, 0, h, col] = np.nan
    (ph, pw), (OH, OW) = _pair(args[1]), dy.shape[2:]
    seen = np.zeros(w.shape, bool)  # tap (r, q) meets x[h, col] at output (h+ph-r, col+pw-q)
    for r in range(w.shape[2]):
        for q in range(w.shape[3]):
            seen[:, 0, r, q] = 0 <= h + ph - r < OH and 0 <= col + pw - q < OW
    assert seen.any() and not seen.all()
    dw = C.conv2d_backward(dy, xn, w, *args, False, True, False)[1]
    np.testing.assert_array_equal(np.isnan(dw), seen)


# The input gradient of narrow float32 layers (at most 16 outputs, one group, stride 1, 3x3
# or 5x5, no dilation, rows at most 32 wide; at least 2 input channels, 6 on rows wider than
# 16) runs csrc/conv2d_dx512.cpp on CPUs with AVX-512 ('auto'; elsewhere gemm again);
# algorithm='gemm' keeps w^T @ dy + col2im. Both against torch in float64.
@pytest.mark.parametrize(
    "cfg",
    [
        (4, 6, 14, 14, 16, 5, 1, 0, 1, 1),  # LeNet conv2: dy 10x10 inside a 14x14 dx
        (3, 11, 13, 9, 9, 3, 1, 1, 1, 1),  # 8 + 3 channels, odd height (a lone last row)
        (2, 2, 7, 16, 12, 5, 1, (4, 1), 1, 1),  # padding up to R-1, rows of exactly 16
        (2, 6, 5, 17, 16, 3, 1, (0, 2), 1, 1),  # two vectors, the second one lane wide
        (3, 9, 20, 32, 10, 5, 1, 2, 1, 1),  # two full vectors, 4 + 4 + 1 channels
        (2, 16, 3, 6, 16, 5, 1, 1, 1, 1),  # dy of 1 row: most taps reach nothing
    ],
)
def test_narrow_input_gradient(rng, threads, cfg):
    x, w, dy, args, t_dx, t_dw, got = _narrow_case(rng, threads, cfg)
    np.testing.assert_array_equal(got[1][0], got[2][0])  # one sample per thread: same bits
    gemm = C.conv2d_backward(dy, x, w, *args, True, False, False, "gemm")[0]
    for dx in (got[2][0], gemm):
        assert dx.shape == x.shape
        assert np.abs(dx - t_dx).max() <= 1e-5 * np.abs(t_dx).max()
    assert np.abs(got[2][1] - t_dw).max() <= 1e-5 * np.abs(t_dw).max()  # dw beside it, right
    # dx alone (the weight gradient not asked for) is the same
    np.testing.assert_array_equal(
        C.conv2d_backward(dy, x, w, *args, True, False, False)[0], got[2][0]
    )
    _ran_and_turns_off(got[2][0], gemm, lambda: C.conv2d_backward(dy, x, w, *args)[0])


@pytest.mark.parametrize(
    "cfg", [(16, 6, 12, 12, 16, 5, 1, 0, 1, 1), (8, 8, 9, 9, 8, 3, 1, 1, 1, 8)]
)
def test_repeatable_with_two_threads(rng, threads, cfg):
    # Work is handed out dynamically, but each dw partial covers a fixed block: same bits.
    x, w, b, kw = _data(rng, cfg)
    args = (kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    threads(2)
    dy = rng.standard_normal(C.conv2d_forward(x, w, b, *args).shape).astype(np.float32)
    first = C.conv2d_backward(dy, x, w, *args)
    for _ in range(3):
        for a, r in zip(C.conv2d_backward(dy, x, w, *args), first):
            np.testing.assert_array_equal(a, r)


def conv2d_grads_ref(x, w, dy, stride=1, padding=0, groups=1):
    """dx and dw of conv2d (no dilation) from the definition, in float64: with xpad the padded
    input and each tap (r, s) reading xpad[n, g*Cg + c, oh*sh + r, ow*sw + s],
        dw[k, c, r, s] = sum_{n, oh, ow} dy[n, k, oh, ow] * xpad[n, g*Cg + c, oh*sh + r, ow*sw + s]
        dxpad[n, g*Cg + c, oh*sh + r, ow*sw + s] += sum_k dy[n, k, oh, ow] * w[k, c, r, s]
    and dx the interior of dxpad."""
    x, w, dy = (np.asarray(a, np.float64) for a in (x, w, dy))
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    N, Cin, H, W = x.shape
    K, Cg, R, S = w.shape
    Kg, (OH, OW) = K // groups, dy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dw = np.zeros_like(xp), np.zeros(w.shape)
    for g in range(groups):
        cs, ks = slice(g * Cg, (g + 1) * Cg), slice(g * Kg, (g + 1) * Kg)
        for r in range(R):
            for s in range(S):
                rows = slice(r, r + sh * (OH - 1) + 1, sh)
                cols = slice(s, s + sw * (OW - 1) + 1, sw)
                dw[ks, :, r, s] = np.einsum("nkhw,nchw->kc", dy[:, ks], xp[:, cs, rows, cols])
                dxp[:, cs, rows, cols] += np.einsum("nkhw,kc->nchw", dy[:, ks], w[ks, :, r, s])
    return dxp[:, :, ph : ph + H, pw : pw + W], dw


# Stride-2 layers with three columns of taps and padding 1 along W, or one column and no
# padding, and even widths W = 2*OW with OW = 4, 8 or 16 (ResNet's downsampling 3x3 layers and
# 1x1 shortcuts) build the gemm path's im2col and col2im in
# vector registers (csrc/conv2d_s2_rows.h): forward with algorithm='gemm' (im2col), both
# gradients (im2col for dw, col2im for dx), against the references and torch.
@pytest.mark.parametrize(
    "cfg",
    [
        (3, 16, 32, 32, 32, 3, 2, 1, 1, 1),  # ResNet 16->32, 32x32 -> 16x16
        (2, 32, 16, 16, 64, 3, 2, 1, 1, 1),  # ResNet 32->64, 16x16 -> 8x8
        (2, 4, 9, 8, 6, 3, 2, 1, 1, 2),  # 8 wide -> 4, odd height (last row padding), groups 2
        (2, 3, 16, 16, 5, (5, 3), 2, (2, 1), 1, 1),  # five rows of taps, padding 2 along H
        (2, 3, 11, 32, 4, (1, 3), 2, (0, 1), 1, 1),  # one row of taps, no padding along H
        (3, 16, 32, 32, 32, 1, 2, 0, 1, 1),  # ResNet's 1x1 shortcut 16->32
        (2, 8, 9, 16, 6, (3, 1), 2, (1, 0), 1, 2),  # one column, three rows, groups 2
    ],
)
def test_stride2_register_rows(rng, cfg):
    x, w, b, kw = _data(rng, cfg)
    args = (kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    y = C.conv2d_forward(x, w, b, *args, algorithm="gemm")
    ref = conv2d_ref(x, w, b, **kw)
    assert np.abs(y - ref).max() <= 2e-6 * np.abs(ref).max()
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = C.conv2d_backward(dy, x, w, *args, True, True, True, algorithm="gemm")
    ref_dx, ref_dw = conv2d_grads_ref(x, w, dy, kw["stride"], kw["padding"], kw["groups"])
    _, t_dx, t_dw, t_db = _torch_grads(x, w, b, dy, **kw)
    np.testing.assert_allclose(ref_dx, t_dx, rtol=1e-10, atol=1e-10)  # the references agree
    np.testing.assert_allclose(ref_dw, t_dw, rtol=1e-10, atol=1e-10)
    assert np.abs(dx - ref_dx).max() <= 2e-6 * np.abs(ref_dx).max()
    assert np.abs(dw - ref_dw).max() <= 2e-6 * np.abs(ref_dw).max()
    np.testing.assert_allclose(db, t_db, rtol=1e-5)


# Shapes taken by the blocked direct forward (stride 1, 2 ... 16 outputs per group, several
# input channels per group; float32 only, float64 takes gemm): block remainders (13 = 6 + 6 + 1
# outputs), planes shorter than one vector, padding, dilation, groups.
@pytest.mark.parametrize(
    "cfg",
    [
        (2, 6, 14, 14, 16, 5, 1, 0, 1, 1),  # LeNet conv2 (14x14)
        (3, 4, 11, 13, 13, 3, 1, 1, 1, 1),  # odd sizes, padding
        (2, 6, 10, 12, 10, 3, 1, 1, 2, 2),  # groups 2, dilation 2
        (2, 1, 9, 9, 7, (2, 3), 1, (0, 1), 1, 1),
        (2, 2, 3, 3, 4, 3, 1, 0, 1, 1),  # one output position
        (2, 3, 3, 4, 5, 1, 1, 0, 1, 1),
    ],
)  # 12 positions
def test_blocked_direct_forward_matches_reference(rng, cfg):
    dtype = np.float32
    x, w, b, kw = _data(rng, cfg, dtype)
    args = (kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    for bias in (b, None):
        y = C.conv2d_forward(x, w, bias, *args)
        assert y.dtype == dtype
        np.testing.assert_allclose(y, conv2d_ref(x, w, bias, **kw), rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ AVX-512 direct forward
# Shapes for the dense direct forward (float32, at least 2 outputs per group): strides 1-3,
# dilation, groups, odd and rectangular sizes, output blocks of 8 with remainders (13, 20),
# wide grids of exactly one vector, ResNet's stride-2 layers and LeNet's conv2.
DENSE = [
    (4, 16, 32, 32, 32, 3, 2, 1, 1, 1),  # ResNet stage 2 entry
    (3, 32, 16, 16, 64, 3, 2, 1, 1, 1),  # ResNet stage 3 entry (tail blocks of 2 vectors)
    (5, 6, 14, 14, 16, 5, 1, 0, 1, 1),  # LeNet conv2
    (2, 5, 11, 13, 13, 3, 1, 1, 1, 1),  # odd sizes, 8 + 5 outputs
    (2, 7, 13, 9, 20, (3, 2), (2, 1), (1, 0), 1, 1),  # per-axis stride, rectangular kernel
    (2, 4, 17, 15, 8, 3, 3, 2, 1, 1),  # stride 3, odd padding
    (2, 8, 12, 12, 16, 3, 1, 2, 2, 2),  # dilation 2, groups 2 (4 in, 8 out each)
    (2, 6, 9, 10, 9, 3, 2, 1, (2, 1), 1),  # stride 2 with dilation
    (3, 3, 6, 6, 8, 3, 1, 1, 1, 1),  # wide grid of 46 positions: one block of 3 vectors
    (2, 4, 5, 5, 8, 2, 1, 0, 1, 1),  # 4x4 output, wide grid 19: blocks overlap at the end
    (2, 3, 10, 11, 2, 3, 1, 1, 1, 1),  # two outputs: the smallest register block
    (2, 4, 9, 9, 6, 3, 2, 1, 1, 2),  # groups 2 with 3 outputs each, stride 2
    (3, 3, 12, 12, 7, 5, 1, 0, 1, 1),  # 7 outputs: one partial block
    # stride-2 rows of 8 and 16 split in vector shuffles, with column padding 0 and 2
    (2, 4, 16, 8, 6, 3, 2, (1, 0), 1, 1),
    (2, 3, 9, 16, 5, 3, 2, 2, 1, 1),
]


@pytest.mark.skipif(not C.conv_direct_supported(), reason="this CPU has no AVX-512")
@pytest.mark.parametrize("cfg", DENSE)
def test_direct_forward_matches_reference(rng, cfg):
    x, w, b, kw = _data(rng, cfg)
    args = (kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    for bias in (b, None):
        ref = conv2d_ref(x, w, bias, **kw)
        y = C.conv2d_forward(x, w, bias, *args, algorithm="direct")
        assert y.dtype == np.float32 and y.shape == ref.shape
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=2e-5 * np.abs(ref).max())
    # not a word of the output left unwritten: a NaN in one pixel reaches exactly its
    # receptive field
    _assert_nan_reaches_its_field(x, w, b, kw, (0, 0, 1, 1), algorithm="direct")


def _assert_nan_reaches_its_field(x, w, b, kw, pixel, **call):
    """Every output written, and a NaN at x[pixel] reaches exactly its receptive field."""
    xn = x.copy()
    xn[pixel] = np.nan
    args = (kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    hit = np.isnan(conv2d_ref(xn, w, b, **kw))
    np.testing.assert_array_equal(np.isnan(C.conv2d_forward(xn, w, b, *args, **call)), hit)


@pytest.mark.skipif(not C.conv_direct_supported(), reason="this CPU has no AVX-512")
def test_direct_forward_against_torch_and_auto_choice(rng):
    torch = pytest.importorskip("torch")
    # ResNet-8's stride-2 3x3 layer as 'auto' runs it (the direct kernel), against torch
    x, w, b, kw = _data(rng, (8, 16, 32, 32, 32, 3, 2, 1, 1, 1))
    want = torch.nn.functional.conv2d(*map(torch.from_numpy, (x, w, b)), stride=2, padding=1)
    y = C.conv2d_forward(x, w, b, 2, 1)
    assert np.abs(y - want.numpy()).max() <= 2e-6 * np.abs(want.numpy()).max()
    with pytest.raises(TypeError, match="allow_direct_conv must be True or False, got 1"):
        pydlk.backends.cpu.allow_direct_conv = 1
    try:
        pydlk.backends.cpu.allow_direct_conv = False
        assert C.get_conv_direct() is False
        y2 = C.conv2d_forward(x, w, b, 2, 1)  # im2col + GEMM: same values, other rounding
        np.testing.assert_allclose(y2, y, rtol=1e-5, atol=1e-5 * np.abs(y).max())
    finally:
        pydlk.backends.cpu.allow_direct_conv = True
    assert pydlk.backends.cpu.allow_direct_conv is True


# Stride 1, a multiple of 16 outputs, and a wide grid a quarter or more larger than the output:
# 'auto' runs the outputs-in-lanes kernel (csrc/conv2d_k16.cpp). Register blocks of 2 rows x
# 10 columns (LeNet's conv2) and 3 x 5, 3 x 8, 3 x 7 with row tails of 2 and 1; 2 and 3 blocks
# of 16 outputs; rows split into column chunks (13 = 7 + 6, 14 = 7 + 7); padding per axis and
# a rectangular kernel; transposes of 16 pixels with and without a partial last group (100,
# 25, 8 pixels); one sample (no thread split).
K16 = [
    (5, 6, 14, 14, 16, 5, 1, 0, 1, 1),  # LeNet conv2
    (3, 6, 9, 9, 32, 5, 1, 0, 1, 1),
    (2, 8, 12, 12, 48, 5, 1, 0, 1, 1),
    (2, 16, 14, 14, 32, 5, 1, 2, 1, 1),
    (2, 3, 14, 17, 16, 5, 1, 0, 1, 1),
    (2, 3, 20, 7, 16, (3, 5), 1, (1, 2), 1, 1),
    (2, 4, 6, 6, 16, 3, 1, 0, 1, 1),
    (1, 7, 6, 8, 16, 5, 1, 0, 1, 1),
]


@pytest.mark.skipif(not C.conv_direct_supported(), reason="this CPU has no AVX-512")
@pytest.mark.parametrize("cfg", K16)
def test_outputs_in_lanes_forward(rng, cfg):
    torch = pytest.importorskip("torch")
    x, w, b, kw = _data(rng, cfg)
    args = (kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    for bias in (b, None):
        ref = conv2d_ref(x, w, bias, **kw)
        y = C.conv2d_forward(x, w, bias, *args)
        assert y.dtype == np.float32 and y.shape == ref.shape
        assert np.abs(y - ref).max() <= 2e-6 * np.abs(ref).max()
    want = torch.nn.functional.conv2d(*map(torch.from_numpy, (x, w, b)), **kw).numpy()
    y = C.conv2d_forward(x, w, b, *args)
    assert np.abs(y - want).max() <= 2e-6 * np.abs(want).max()
    threads = pydlk.get_num_threads()
    try:  # each sample whole on one thread: the same bits on one thread
        pydlk.set_num_threads(1)
        np.testing.assert_array_equal(C.conv2d_forward(x, w, b, *args), y)
    finally:
        pydlk.set_num_threads(threads)
    _assert_nan_reaches_its_field(x, w, b, kw, (-1, 0, 2, 3))


# One input channel per group with 2+ outputs: 'auto' runs these through the dense kernel on
# AVX-512 CPUs ('direct' by name keeps the depthwise loops for them): LeNet's conv1, a
# two-output layer, depthwise with channel multipliers 2 and 4 (stride 2, dilation).
ONE_CHANNEL = [
    (3, 1, 32, 32, 6, 5, 1, 0, 1, 1),  # LeNet conv1
    (2, 1, 13, 17, 2, 3, 1, 1, 1, 1),
    (2, 8, 16, 16, 16, 3, 1, 1, 1, 8),
    (2, 4, 15, 14, 16, 5, 2, 2, 1, 4),
    (2, 3, 12, 12, 9, 3, 1, 2, 2, 3),
]


@pytest.mark.parametrize("cfg", ONE_CHANNEL)
def test_one_input_channel_auto_forward(rng, cfg):
    torch = pytest.importorskip("torch")
    x, w, b, kw = _data(rng, cfg)
    args = (kw["stride"], kw["padding"], kw["dilation"], kw["groups"])
    ref = conv2d_ref(x, w, b, **kw)
    y = C.conv2d_forward(x, w, b, *args)
    assert y.dtype == np.float32 and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=2e-5 * np.abs(ref).max())
    want = torch.nn.functional.conv2d(*map(torch.from_numpy, (x, w, b)), **kw).numpy()
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=2e-5 * np.abs(want).max())
    try:  # the other kernels give the same values
        pydlk.backends.cpu.allow_direct_conv = False
        np.testing.assert_allclose(C.conv2d_forward(x, w, b, *args), ref, rtol=1e-5, atol=1e-4)
    finally:
        pydlk.backends.cpu.allow_direct_conv = True
    _assert_nan_reaches_its_field(x, w, b, kw, (-1, -1, 2, 3))


def test_direct_forward_refusals():
    x = np.ones((2, 16, 8, 8), np.float32)
    w = np.ones((16, 16, 3, 3), np.float32)
    # the backward has no dense direct kernel, float64 neither
    with pytest.raises(ValueError, match="conv2d_backward: algorithm='direct' needs one input"):
        C.conv2d_backward(np.ones((2, 16, 6, 6), np.float32), x, w, algorithm="direct")
    with pytest.raises(ValueError, match="conv2d: algorithm='direct' needs one input channel"):
        C.conv2d_forward(x.astype(np.float64), w.astype(np.float64), algorithm="direct")
    # fewer than 2 outputs per group
    with pytest.raises(ValueError, match="at least 2 outputs per group; got 16 input and 1"):
        C.conv2d_forward(x, w[:1], algorithm="direct")
    assert isinstance(pydlk.backends.cpu.direct_conv_supported(), bool)
