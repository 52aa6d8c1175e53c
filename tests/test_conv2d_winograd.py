"""conv2d's Winograd F(4x4, 3x3) kernels (csrc/conv2d_winograd.cpp): the direct-sum reference in
float64, a finite-difference check of both gradients, torch as oracle, float32 rounding
bounded, which shapes 'auto' sends there, threads, and bad arguments."""

import numpy as np
import pydlk._C as C
import pytest
import torch
from test_conv2d import conv2d_ref

# (N, C, K, H, W, padding): tile edges cut (sizes not multiples of 4), padding 0/1/2 and
# asymmetric, one image, one channel, an output of one position, sizes ResNet uses.
SHAPES = [
    (2, 3, 5, 7, 9, 1),
    (1, 1, 1, 3, 3, 0),
    (1, 4, 6, 13, 5, 0),
    (2, 5, 7, 6, 11, 2),
    (3, 16, 8, 8, 8, 1),
    (2, 8, 4, 10, 10, (0, 2)),
    (1, 2, 3, 3, 3, 1),
    (5, 16, 16, 8, 8, 1),
]


def _data(rng, N, Cin, K, H, W, dtype=np.float64):
    x = rng.standard_normal((N, Cin, H, W))
    w = rng.standard_normal((K, Cin, 3, 3)) / np.sqrt(9 * Cin)
    b = rng.standard_normal(K)
    return x.astype(dtype), w.astype(dtype), b.astype(dtype)


def _grads_ref(x, w, dy, padding):
    """dx and dw from the definition: dx = sum over taps of w^T dy placed back, dw = sum of
    dy * shifted x (float64, direct loops over the 9 taps)."""
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    N, Cin, H, W = x.shape
    OH, OW = dy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for r in range(3):
        for s in range(3):
            win = xp[:, :, r : r + OH, s : s + OW]
            dw[:, :, r, s] = np.einsum("nkhw,nchw->kc", dy, win)
            dxp[:, :, r : r + OH, s : s + OW] += np.einsum("nkhw,kc->nchw", dy, w[:, :, r, s])
    return dxp[:, :, ph : ph + H, pw : pw + W], dw


@pytest.mark.parametrize("shape", SHAPES)
def test_float64_matches_definition(rng, shape):
    N, Cin, K, H, W, p = shape
    x, w, b = _data(rng, N, Cin, K, H, W)
    y = C.conv2d_forward(x, w, b, 1, p, 1, 1, algorithm="winograd")
    np.testing.assert_allclose(y, conv2d_ref(x, w, b, padding=p), rtol=1e-11, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = C.conv2d_backward(dy, x, w, 1, p, 1, 1, True, True, True, algorithm="winograd")
    rdx, rdw = _grads_ref(x, w, dy, p)
    np.testing.assert_allclose(dx, rdx, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(dw, rdw, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[3], SHAPES[5]])
def test_finite_differences(rng, shape):
    # <dy, y(x + e v)> differences against <dx, v>, and the same for w, in float64.
    N, Cin, K, H, W, p = shape
    x, w, b = _data(rng, N, Cin, K, H, W)

    def f(x_, w_):
        return C.conv2d_forward(x_, w_, b, 1, p, 1, 1, algorithm="winograd")

    dy = rng.standard_normal(f(x, w).shape)
    dx, dw, _ = C.conv2d_backward(dy, x, w, 1, p, 1, 1, True, True, False, algorithm="winograd")
    eps = 1e-6
    for grad, which in ((dx, 0), (dw, 1)):
        v = rng.standard_normal(grad.shape)
        plus = [x, w]
        minus = [x, w]
        plus[which] = plus[which] + eps * v
        minus[which] = minus[which] - eps * v
        num = (np.sum(f(*plus) * dy) - np.sum(f(*minus) * dy)) / (2 * eps)
        np.testing.assert_allclose(np.sum(grad * v), num, rtol=1e-7)


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[4], SHAPES[7]])
def test_matches_torch(rng, shape):
    N, Cin, K, H, W, p = shape
    x, w, b = _data(rng, N, Cin, K, H, W)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=p)
    dy = rng.standard_normal(ty.shape)
    ty.backward(torch.tensor(dy))
    y = C.conv2d_forward(x, w, b, 1, p, 1, 1, algorithm="winograd")
    got = C.conv2d_backward(dy, x, w, 1, p, 1, 1, True, True, True, algorithm="winograd")
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-11, atol=1e-12)
    for g, t in zip(got, (tx.grad, tw.grad, tb.grad), strict=True):
        np.testing.assert_allclose(g, t.numpy(), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("channels", [16, 64, 256])
def test_float32_rounding_is_bounded(rng, channels):
    # The transforms scale by up to 8 and 1/24, so float32 carries more rounding than the
    # direct sum; measured about 1e-6 relative to the largest value at 16 channels and 1e-5
    # at 256 (the direct float32 sum: about 2e-7). Bound: 3e-5.
    x, w, b = _data(rng, 4, channels, 32, 12, 12)
    y64 = conv2d_ref(x, w, b, padding=1)
    dy = rng.standard_normal(y64.shape)
    rdx, rdw = _grads_ref(x, w, dy, 1)
    f = np.float32
    y = C.conv2d_forward(x.astype(f), w.astype(f), b.astype(f), 1, 1, algorithm="winograd")
    dx, dw, _ = C.conv2d_backward(
        dy.astype(f), x.astype(f), w.astype(f), 1, 1, 1, 1, True, True, False, algorithm="winograd"
    )
    for got, ref in ((y, y64), (dx, rdx), (dw, rdw)):
        assert got.dtype == np.float32
        assert np.abs(got - ref).max() / np.abs(ref).max() < 3e-5


def test_auto_takes_winograd_for_float32_with_channels(rng):
    # 8 or more channels each way, float32: 'auto' is Winograd (same bits); float64 and
    # thin layers stay on the direct sum (same bits as 'gemm').
    x, w, b = _data(rng, 16, 16, 16, 8, 8, np.float32)
    auto = C.conv2d_forward(x, w, b, 1, 1)
    np.testing.assert_array_equal(auto, C.conv2d_forward(x, w, b, 1, 1, algorithm="winograd"))
    assert not np.array_equal(auto, C.conv2d_forward(x, w, b, 1, 1, algorithm="gemm"))
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    np.testing.assert_array_equal(
        C.conv2d_forward(x64, w64, b64, 1, 1),
        C.conv2d_forward(x64, w64, b64, 1, 1, algorithm="gemm"),
    )
    x, w, b = _data(rng, 2, 3, 16, 8, 8, np.float32)
    assert not np.array_equal(
        C.conv2d_forward(x, w, b, 1, 1), C.conv2d_forward(x, w, b, 1, 1, algorithm="winograd")
    )
    # too few tiles for the weight transform to pay off (2 images of 2x2 tiles): a direct sum
    x, w, b = _data(rng, 2, 16, 16, 8, 8, np.float32)
    auto = C.conv2d_forward(x, w, b, 1, 1)
    assert not np.array_equal(auto, C.conv2d_forward(x, w, b, 1, 1, algorithm="winograd"))
    np.testing.assert_allclose(auto, conv2d_ref(x, w, b, padding=1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "shape", [(16, 16, 16, 8, 8, 1), (1, 32, 32, 24, 24, 1), (9, 8, 8, 5, 7, 0)]
)
def test_one_and_two_threads_give_the_same_bits(rng, threads, shape):
    # Blocks are whole images and each weight-gradient partial covers a fixed run of blocks,
    # so where the blocks are shared out the thread count does not change a bit (one image
    # here runs its small GEMMs whole as well); and the result is the definition's. (A batch
    # too small to share, with GEMMs large enough to be split over the threads, can differ in
    # the last bits, as the gemm path: test_large_channels_one_partial.)
    N, Cin, K, H, W, p = shape
    x, w, b = _data(rng, N, Cin, K, H, W, np.float32)
    dy = np.cos(np.arange(N * K * (H + 2 * p - 2) * (W + 2 * p - 2), dtype=np.float32))
    dy = dy.reshape(N, K, H + 2 * p - 2, W + 2 * p - 2)
    out = []
    for n in (1, 2, 2):
        threads(n)
        y = C.conv2d_forward(x, w, b, 1, p, algorithm="winograd")
        out.append((y, *C.conv2d_backward(dy, x, w, 1, p, 1, 1, algorithm="winograd")))
    for run in out[1:]:
        for a, r in zip(run, out[0], strict=True):
            np.testing.assert_array_equal(a, r)
    rdx, rdw = _grads_ref(x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64), p)
    np.testing.assert_allclose(out[0][0], conv2d_ref(x, w, b, padding=p), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out[0][1], rdx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out[0][2], rdw, rtol=1e-4, atol=1e-3)


def test_only_the_asked_gradients(rng):
    x, w, b = _data(rng, 2, 4, 5, 9, 7)
    dy = rng.standard_normal((2, 5, 9, 7))
    rdx, rdw = _grads_ref(x, w, dy, 1)
    dx, dw, db = C.conv2d_backward(dy, x, w, 1, 1, 1, 1, True, False, False, algorithm="winograd")
    assert dw is None and db is None
    np.testing.assert_allclose(dx, rdx, rtol=1e-11, atol=1e-12)
    dx, dw, db = C.conv2d_backward(dy, x, w, 1, 1, 1, 1, False, True, False, algorithm="winograd")
    assert dx is None and db is None
    np.testing.assert_allclose(dw, rdw, rtol=1e-11, atol=1e-11)


def test_empty_batch_and_no_outputs(rng):
    x, w, b = _data(rng, 0, 4, 5, 8, 8)
    assert C.conv2d_forward(x, w, b, 1, 1, algorithm="winograd").shape == (0, 5, 8, 8)
    dx, dw, db = C.conv2d_backward(
        np.zeros((0, 5, 8, 8)), x, w, 1, 1, 1, 1, True, True, True, algorithm="winograd"
    )
    assert dx.shape == (0, 4, 8, 8)
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)


@pytest.mark.parametrize(
    "kw, what",
    [
        ({"stride": 2}, "stride"),
        ({"dilation": 2}, "dilation"),
        ({"groups": 2}, "groups"),
    ],
)
def test_shapes_it_cannot_take_are_refused(rng, kw, what):
    x, w, b = _data(rng, 1, 4, 4, 8, 8)
    if what == "groups":
        w = np.ascontiguousarray(w[:, :2])
    args = {"stride": 1, "padding": 1, "dilation": 1, "groups": 1, **kw}
    with pytest.raises(
        ValueError, match=rf"conv2d: algorithm='winograd' needs a 3x3 kernel.*{what}"
    ):
        y = C.conv2d_forward(x, w, b, *args.values(), algorithm="winograd")
    y = C.conv2d_forward(x, w, b, *args.values(), algorithm="gemm")
    with pytest.raises(ValueError, match=r"conv2d_backward: algorithm='winograd' needs"):
        C.conv2d_backward(np.zeros_like(y), x, w, *args.values(), algorithm="winograd")


def test_a_5x5_kernel_is_refused(rng):
    x = rng.standard_normal((1, 2, 8, 8))
    w = rng.standard_normal((3, 2, 5, 5))
    with pytest.raises(ValueError, match=r"needs a 3x3 kernel.*got a 5x5 kernel"):
        C.conv2d_forward(x, w, None, 1, 2, algorithm="winograd")
    with pytest.raises(ValueError, match=r"'auto', 'gemm', 'direct' or 'winograd', got 'wino'"):
        C.conv2d_forward(x, w, None, 1, 2, algorithm="wino")


def test_allow_winograd_switch(rng):
    # pydlk.backends.cpu.allow_winograd = False: 'auto' is the direct sum again (F.conv2d, the
    # path users call, gives the gemm kernel's bits); True restores Winograd's bits.
    import pydlk
    import pydlk.functional as F

    x, w, b = _data(rng, 16, 16, 16, 8, 8, np.float32)
    wino = C.conv2d_forward(x, w, b, 1, 1, algorithm="winograd")
    assert pydlk.backends.cpu.allow_winograd is True
    try:
        pydlk.backends.cpu.allow_winograd = False
        assert pydlk.backends.cpu.allow_winograd is False
        y = np.asarray(F.conv2d(pydlk.tensor(x), pydlk.tensor(w), pydlk.tensor(b), padding=1))
        assert not np.array_equal(y, wino)
        np.testing.assert_allclose(y, conv2d_ref(x, w, b, padding=1), rtol=1e-5, atol=1e-5)
        # an explicit algorithm is not affected
        np.testing.assert_array_equal(C.conv2d_forward(x, w, b, 1, 1, algorithm="winograd"), wino)
    finally:
        pydlk.backends.cpu.allow_winograd = True
    y = np.asarray(F.conv2d(pydlk.tensor(x), pydlk.tensor(w), pydlk.tensor(b), padding=1))
    np.testing.assert_array_equal(y, wino)
    with pytest.raises(TypeError, match=r"allow_winograd must be True or False, got 'no'"):
        pydlk.backends.cpu.allow_winograd = "no"


def test_large_channels_one_partial(rng, threads):
    # 512 channels each way: one weight-gradient partial (its 38 MB cap the workspace the
    # binding keeps), blocks in turn with each GEMM split over the threads; 1 and 2 threads
    # agree to rounding and with the float64 definition.
    x, w, _ = _data(rng, 2, 512, 512, 6, 6, np.float32)
    dy = rng.standard_normal((2, 512, 6, 6)).astype(np.float32)
    rdx, rdw = _grads_ref(x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64), 1)
    for n in (1, 2):
        threads(n)
        dx, dw, _ = C.conv2d_backward(dy, x, w, 1, 1, 1, 1, True, True, False, algorithm="winograd")
        assert np.abs(dx - rdx).max() <= 3e-5 * np.abs(rdx).max()
        assert np.abs(dw - rdw).max() <= 3e-5 * np.abs(rdw).max()


@pytest.mark.parametrize(
    "shape", [(2, 3, 4, 30, 32, 1), (1, 2, 3, 33, 31, 0), (3, 8, 8, 32, 32, 1)]
)
def test_float32_rows_of_eight_tiles(rng, shape):
    # Outputs 29-32 wide (8 tiles per row) take float32-only vector shuffles when the input
    # rows are split into the tiles' columns; against the float64 definition.
    case, refs = _float64_case(rng, shape)
    y, dx, dw = _winograd_float32(*case, shape[5])
    assert y.shape[3] > 28
    for got, ref in zip((y, dx, dw), refs, strict=True):
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


def _float64_case(rng, shape):
    """(x, w, b, dy) in float64 for shape (N, C, K, H, W, padding), and (y, dx, dw) of the
    definition."""
    N, Cin, K, H, W, p = shape
    x, w, b = _data(rng, N, Cin, K, H, W)
    y64 = conv2d_ref(x, w, b, padding=p)
    dy = rng.standard_normal(y64.shape)
    return (x, w, b, dy), (y64, *_grads_ref(x, w, dy, p))


def _winograd_float32(x, w, b, dy, p):
    """(y, dx, dw) of the float32 Winograd kernels on those arrays rounded to float32."""
    x, w, b, dy = (a.astype(np.float32) for a in (x, w, b, dy))
    y = C.conv2d_forward(x, w, b, 1, p, algorithm="winograd")
    dx, dw, _ = C.conv2d_backward(dy, x, w, 1, p, 1, 1, True, True, False, algorithm="winograd")
    return y, dx, dw


@pytest.mark.parametrize(
    "shape",
    [(7, 8, 8, 16, 16, 1), (13, 4, 8, 14, 15, 1), (10, 16, 8, 8, 8, 1), (5, 8, 9, 16, 16, 0)],
)
def test_float32_rows_of_four_tiles_and_uneven_blocks(rng, threads, shape):
    # Outputs 13-16 wide (4 tiles per row) take float32-only 4x4 transposes when rows are split
    # into and merged from the tiles' columns; batches of 5-13 images are cut into a multiple
    # of 4 blocks of unequal sizes (nb and nb - 1 images). Against the float64 definition, and
    # the same bits on one and two threads.
    case, refs = _float64_case(rng, shape)
    out = []
    for n in (1, 2):
        threads(n)
        out.append(_winograd_float32(*case, shape[5]))
    for a, r in zip(out[1], out[0], strict=True):
        np.testing.assert_array_equal(a, r)
    for got, ref in zip(out[0], refs, strict=True):
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
