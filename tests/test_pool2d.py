"""pool2d: max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d.

Reference from the definition (float64 window loops), gradient checks, torch as an oracle over a
grid of hyperparameters, properties, edge cases, bad input, preallocated outputs, threads.
"""

import contextlib
import itertools
import math

import numpy as np
import pydlk._C as C
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F


def two(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ----------------------------------------------------------------------------- references


def out_size(n, k, s, p, d, ceil_mode):
    """torch's documented output size: floor (or ceil) of (n + 2p - d(k-1) - 1)/s + 1; with
    ceil_mode a last window that would start in the right padding is dropped."""
    span = n + 2 * p - d * (k - 1) - 1
    o = (math.ceil(span / s) if ceil_mode else math.floor(span / s)) + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def max_pool_ref(x, k, s, p, d, ceil_mode):
    """(y, idx) in float64: padding is -inf, windows walked row-major, an element replaces the
    running max when larger or NaN (so ties keep the first, NaN wins)."""
    x = np.asarray(x, np.float64)
    N, Cc, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = two(k), two(s), two(p), two(d)
    OH, OW = out_size(H, kh, sh, ph, dh, ceil_mode), out_size(W, kw, sw, pw, dw, ceil_mode)
    y = np.empty((N, Cc, OH, OW))
    idx = np.empty((N, Cc, OH, OW), np.int64)
    for n, c, oh, ow in itertools.product(range(N), range(Cc), range(OH), range(OW)):
        m, mi = None, None
        for i, j in itertools.product(range(kh), range(kw)):
            ih, iw = oh * sh - ph + i * dh, ow * sw - pw + j * dw
            if not (0 <= ih < H and 0 <= iw < W):
                continue
            v = x[n, c, ih, iw]
            if mi is None or v > m or np.isnan(v):
                m, mi = v, ih * W + iw
        y[n, c, oh, ow], idx[n, c, oh, ow] = m, mi
    return y, idx


def avg_pool_ref(x, k, s, p, ceil_mode, count_include_pad, divisor_override):
    """Mean over each window in float64. The window's elements inside the input are summed; the
    divisor is divisor_override, or the number of window positions inside the padded input
    (count_include_pad), or the number inside the input."""
    x = np.asarray(x, np.float64)
    N, Cc, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = two(k), two(s), two(p)
    OH, OW = out_size(H, kh, sh, ph, 1, ceil_mode), out_size(W, kw, sw, pw, 1, ceil_mode)
    y = np.empty((N, Cc, OH, OW))
    for n, c, oh, ow in itertools.product(range(N), range(Cc), range(OH), range(OW)):
        total, real, padded = 0.0, 0, 0
        for i, j in itertools.product(range(kh), range(kw)):
            ih, iw = oh * sh - ph + i, ow * sw - pw + j
            if -ph <= ih < H + ph and -pw <= iw < W + pw:
                padded += 1
            if 0 <= ih < H and 0 <= iw < W:
                real += 1
                total += x[n, c, ih, iw]
        div = divisor_override or (padded if count_include_pad else real)
        y[n, c, oh, ow] = total / div
    return y


def adaptive_windows(n, o):
    """Output i covers [floor(i*n/o), ceil((i+1)*n/o))."""
    return [(i * n // o, -((-(i + 1) * n) // o)) for i in range(o)]


def adaptive_ref(x, OH, OW, kind):
    x = np.asarray(x, np.float64)
    N, Cc, H, W = x.shape
    y = np.empty((N, Cc, OH, OW))
    idx = np.empty((N, Cc, OH, OW), np.int64)
    for oh, (h0, h1) in enumerate(adaptive_windows(H, OH)):
        for ow, (w0, w1) in enumerate(adaptive_windows(W, OW)):
            win = x[:, :, h0:h1, w0:w1].reshape(N, Cc, -1)
            if kind == "avg":
                y[:, :, oh, ow] = win.sum(-1) / win.shape[-1]
            else:
                a = np.argmax(win, -1)  # first maximum (inputs here have no NaN)
                y[:, :, oh, ow] = np.take_along_axis(win, a[..., None], -1)[..., 0]
                idx[:, :, oh, ow] = (h0 + a // (w1 - w0)) * W + w0 + a % (w1 - w0)
    return y, idx


# ----------------------------------------------------------------------------- grids

# (kernel_size, stride, padding, dilation, ceil_mode): odd sizes, stride > kernel, 2x2 fast path
MAX_CASES = [
    (2, None, 0, 1, False),
    (2, None, 0, 1, True),
    (2, 2, 1, 1, True),
    (3, 2, 1, 1, False),
    (3, 2, 1, 1, True),
    (3, 1, 1, 1, False),
    (1, 1, 0, 1, False),
    (2, 3, 0, 1, False),
    (2, 3, 1, 1, True),
    ((3, 2), (2, 1), (1, 0), 1, True),
    (3, 2, 1, 2, False),
    ((2, 3), (1, 2), (1, 1), (2, 1), True),
    (4, 3, 2, 1, True),
    (3, 4, 0, 1, True),
]
AVG_CASES = [(k, s, p, c) for k, s, p, _, c in MAX_CASES]


def test_output_size_examples():
    # H = 7, k = 3, s = 2, p = 1: floor((7 + 2 - 3)/2) + 1 = 4; ceil gives 4 as well.
    assert out_size(7, 3, 2, 1, 1, False) == 4 and out_size(7, 3, 2, 1, 1, True) == 4
    # H = 4, k = 2, s = 2, p = 1, ceil: ceil(3/2) + 1 = 3, last window starts at 3 < 4 + 1: kept
    assert out_size(4, 2, 2, 1, 1, True) == 3
    # H = 5, k = 2, s = 3, p = 0, ceil: ceil(3/3) + 1 = 2 (starts 0, 3)
    assert out_size(5, 2, 3, 0, 1, True) == 2


@pytest.mark.parametrize("case", MAX_CASES)
def test_max_forward_matches_reference(rng, case):
    k, s, p, d, ceil_mode = case
    x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
    y, idx = F.max_pool2d(x, k, s, p, d, ceil_mode, return_indices=True)
    ry, ridx = max_pool_ref(x, k, s if s is not None else k, p, d, ceil_mode)
    assert y.dtype == np.float32 and idx.dtype == np.int64
    np.testing.assert_array_equal(np.asarray(y), ry)  # a max is exact
    np.testing.assert_array_equal(np.asarray(idx), ridx)


@pytest.mark.parametrize("case", AVG_CASES)
@pytest.mark.parametrize(
    "count_include_pad,divisor_override", [(True, None), (False, None), (True, 5)]
)
def test_avg_forward_matches_reference(rng, case, count_include_pad, divisor_override):
    k, s, p, ceil_mode = case
    x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
    y = F.avg_pool2d(x, k, s, p, ceil_mode, count_include_pad, divisor_override)
    ry = avg_pool_ref(
        x, k, s if s is not None else k, p, ceil_mode, count_include_pad, divisor_override
    )
    np.testing.assert_allclose(np.asarray(y), ry, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("out", [(1, 1), (3, 4), (7, 9), (5, 2), (10, 13)])
def test_adaptive_forward_matches_reference(rng, out):
    x = rng.standard_normal((2, 5, 7, 9)).astype(np.float32)
    ry, ridx = adaptive_ref(x, *out, "avg")
    np.testing.assert_allclose(np.asarray(F.adaptive_avg_pool2d(x, out)), ry, rtol=1e-4, atol=1e-6)
    ry, ridx = adaptive_ref(x, *out, "max")
    y, idx = F.adaptive_max_pool2d(x, out, return_indices=True)
    np.testing.assert_array_equal(np.asarray(y), ry)
    np.testing.assert_array_equal(np.asarray(idx), ridx)


def test_adaptive_output_size_none_and_int(rng):
    x = rng.standard_normal((1, 2, 6, 5))
    assert F.adaptive_avg_pool2d(x, (None, 2)).shape == (1, 2, 6, 2)
    assert F.adaptive_max_pool2d(x, (3, None)).shape == (1, 2, 3, 5)
    assert F.adaptive_avg_pool2d(x, 4).shape == (1, 2, 4, 4)
    np.testing.assert_allclose(np.asarray(F.adaptive_avg_pool2d(x, 1))[..., 0, 0], x.mean((2, 3)))


# ----------------------------------------------------------------------------- gradients


def distinct(rng, shape):
    """float64 values 0, 1, 2, ... in random order: no ties, gaps far above gradcheck's eps."""
    return rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)


@pytest.mark.parametrize(
    "case",
    [
        (2, None, 0, 1, False),
        (3, 2, 1, 1, True),
        (3, 1, 1, 2, False),
        ((2, 3), (3, 1), (1, 1), 1, True),
    ],
)
def test_max_gradcheck(rng, case):
    k, s, p, d, ceil_mode = case
    x = t64(distinct(rng, (2, 2, 6, 7)))
    assert pydlk.gradcheck(lambda x: F.max_pool2d(x, k, s, p, d, ceil_mode), (x,))


@pytest.mark.parametrize(
    "case",
    [
        (2, None, 0, False, True, None),
        (3, 2, 1, True, True, None),
        (3, 2, 1, True, False, None),
        (3, 1, 1, False, True, 7),
        ((2, 3), (3, 1), (1, 1), True, False, None),
    ],
)
def test_avg_gradcheck(rng, case):
    k, s, p, ceil_mode, cip, dv = case
    x = t64(rng.standard_normal((2, 2, 6, 7)))
    assert pydlk.gradcheck(lambda x: F.avg_pool2d(x, k, s, p, ceil_mode, cip, dv), (x,))


@pytest.mark.parametrize("out", [(1, 1), (4, 3), (8, 9)])
def test_adaptive_gradcheck(rng, out):
    x = t64(distinct(rng, (2, 2, 6, 7)))
    assert pydlk.gradcheck(lambda x: F.adaptive_avg_pool2d(x, out), (x,))
    assert pydlk.gradcheck(lambda x: F.adaptive_max_pool2d(x, out), (x,))


def test_gradcheck_through_return_indices_and_unbatched(rng):
    x = t64(distinct(rng, (3, 6, 7)))
    assert pydlk.gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True), (x,))
    assert pydlk.gradcheck(lambda x: F.adaptive_max_pool2d(x, 3, return_indices=True), (x,))
    assert pydlk.gradcheck(lambda x: F.avg_pool2d(x, 2, 1, 1), (x,))


# ----------------------------------------------------------------------------- torch oracle


@contextlib.contextmanager
def one_torch_thread(torch):
    """The grids make ~1000 tiny torch calls: one thread keeps them fast on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _torch_pool(torch, fn, x, dy, **kw):
    tx = torch.tensor(x, requires_grad=True)
    out = fn(tx, **kw)
    y = out[0] if isinstance(out, tuple) else out
    y.backward(torch.tensor(dy))
    idx = out[1].numpy() if isinstance(out, tuple) else None
    return y.detach().numpy(), idx, tx.grad.numpy()


def _pydlk_pool(fn, x, dy, **kw):
    tx = pydlk.tensor(x, requires_grad=True)
    out = fn(tx, **kw)
    y = out[0] if isinstance(out, tuple) else out
    if isinstance(out, tuple):
        assert not out[1].requires_grad and out[1].dtype == np.int64
    y.backward(dy)
    return np.asarray(y), (np.asarray(out[1]) if isinstance(out, tuple) else None), tx.grad


def test_max_matches_torch_over_grid(rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    with one_torch_thread(torch):
        _max_matches_torch_over_grid(torch, tf, rng)


def _max_matches_torch_over_grid(torch, tf, rng):
    checked = 0
    grid = list(
        itertools.product(
            [(7, 9), (5, 12)],
            [1, 2, 3, (2, 3)],
            [None, 1, 2, 3, (3, 1)],
            [0, 1, (1, 0)],
            [1, 2, (1, 2)],
            [False, True],
        )
    )
    for i in rng.permutation(len(grid))[:240]:  # a fixed random half of the grid
        (H, W), k, s, p, d, ceil_mode = grid[i]
        kw = dict(
            kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil_mode, return_indices=True
        )
        x = rng.standard_normal((2, 3, H, W)).astype(np.float32)
        try:
            ty = tf.max_pool2d(torch.tensor(x), **kw)
        except RuntimeError:
            with pytest.raises(ValueError):  # torch refuses: so must we
                F.max_pool2d(x, **kw)
            continue
        dy = rng.standard_normal(ty[0].shape).astype(np.float32)
        want = _torch_pool(torch, tf.max_pool2d, x, dy, **kw)
        got = _pydlk_pool(F.max_pool2d, x, dy, **kw)
        for name, g, w in zip(["output", "indices", "grad"], got, want):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6, err_msg=f"{name} {H, W} {kw}")
        checked += 1
    assert checked > 100


def test_avg_matches_torch_over_grid(rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    with one_torch_thread(torch):
        _avg_matches_torch_over_grid(torch, tf, rng)


def _avg_matches_torch_over_grid(torch, tf, rng):
    checked = 0
    grid = list(
        itertools.product(
            [(7, 9), (8, 8)],
            [1, 2, 3, (2, 3)],
            [None, 1, 2, 3, (3, 1)],
            [0, 1, (1, 0)],
            [False, True],
            [True, False],
            [None, 3, -2],
        )
    )
    for i in rng.permutation(len(grid))[:240]:  # a fixed random third of the grid
        (H, W), k, s, p, ceil_mode, cip, dv = grid[i]
        kw = dict(
            kernel_size=k,
            stride=s,
            padding=p,
            ceil_mode=ceil_mode,
            count_include_pad=cip,
            divisor_override=dv,
        )
        x = rng.standard_normal((2, 3, H, W)).astype(np.float32)
        try:
            ty = tf.avg_pool2d(torch.tensor(x), **kw)
        except RuntimeError:
            with pytest.raises(ValueError):
                F.avg_pool2d(x, **kw)
            continue
        dy = rng.standard_normal(ty.shape).astype(np.float32)
        want = _torch_pool(torch, tf.avg_pool2d, x, dy, **kw)
        got = _pydlk_pool(F.avg_pool2d, x, dy, **kw)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6, err_msg=f"y {kw}")
        np.testing.assert_allclose(got[2], want[2], rtol=1e-5, atol=1e-6, err_msg=f"dx {kw}")
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("out", [(1, 1), (2, 3), (5, 4), (7, 9), (11, 10), (None, 2)])
def test_adaptive_matches_torch(rng, out):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = rng.standard_normal((3, 4, 7, 9)).astype(np.float32)
    OH = 7 if out[0] is None else out[0]
    dy = rng.standard_normal((3, 4, OH, out[1])).astype(np.float32)
    want = _torch_pool(torch, tf.adaptive_avg_pool2d, x, dy, output_size=out)
    got = _pydlk_pool(F.adaptive_avg_pool2d, x, dy, output_size=out)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-5, atol=1e-6)
    want = _torch_pool(torch, tf.adaptive_max_pool2d, x, dy, output_size=out, return_indices=True)
    got = _pydlk_pool(F.adaptive_max_pool2d, x, dy, output_size=out, return_indices=True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_nan_and_inf_in_max_pool_match_torch(rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = rng.standard_normal((2, 2, 8, 9)).astype(np.float32)
    x[0, 0, 0, 1] = np.nan  # one NaN in a 2x2 window
    x[0, 0, 2, 2] = x[0, 0, 3, 3] = np.nan  # two NaNs in one window: torch keeps the last
    x[1, 1] = -np.inf  # a plane of -inf: index of the first element
    x[1, 0, 4:6, 4:6] = 7.0  # ties: the first
    for kw in [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)]:
        tx = x
        dy = rng.standard_normal(tf.max_pool2d(torch.tensor(tx), **kw).shape).astype(np.float32)
        want = _torch_pool(torch, tf.max_pool2d, tx, dy, return_indices=True, **kw)
        got = _pydlk_pool(F.max_pool2d, tx, dy, return_indices=True, **kw)
        np.testing.assert_array_equal(got[0], want[0])  # NaN == NaN here
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[2], want[2])
    y = np.asarray(F.max_pool2d(x, 2))
    assert np.isnan(y[0, 0, 0, 0]) and np.isnan(y[0, 0, 1, 1])
    want = _torch_pool(
        torch,
        tf.adaptive_max_pool2d,
        x,
        np.ones((2, 2, 3, 4), np.float32),
        output_size=(3, 4),
        return_indices=True,
    )
    got = _pydlk_pool(
        F.adaptive_max_pool2d,
        x,
        np.ones((2, 2, 3, 4), np.float32),
        output_size=(3, 4),
        return_indices=True,
    )
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


# ----------------------------------------------------------------------------- properties


@pytest.mark.parametrize("k,s", [(2, 2), (2, 3), ((3, 2), (3, 2)), (3, 4)])
def test_nonoverlapping_max_pool_keeps_gradient_sum(rng, k, s):
    x = pydlk.tensor(rng.standard_normal((3, 4, 9, 11)), requires_grad=True)
    y = F.max_pool2d(x, k, s)
    dy = rng.standard_normal(y.shape)
    y.backward(dy)
    np.testing.assert_allclose(x.grad.sum(), dy.sum(), rtol=1e-12)
    # every gradient lands on exactly one element that equals its window's max
    assert np.count_nonzero(x.grad) == dy.size
    np.testing.assert_array_equal(
        np.sort(np.asarray(x)[x.grad != 0]), np.sort(np.asarray(y).ravel())
    )


def test_avg_pool_2x2_spreads_gradient_evenly(rng):
    x = pydlk.tensor(rng.standard_normal((2, 3, 8, 7)), requires_grad=True)
    y = F.avg_pool2d(x, 2)
    dy = rng.standard_normal(y.shape)
    y.backward(dy)
    np.testing.assert_allclose(x.grad[..., :8, :6], np.repeat(np.repeat(dy, 2, 2), 2, 3) / 4)
    np.testing.assert_array_equal(x.grad[..., 6], 0)  # the odd last column is in no window


def test_indices_point_at_the_maxima(rng):
    x = rng.standard_normal((2, 3, 11, 10)).astype(np.float32)
    y, idx = F.max_pool2d(x, 3, 2, 1, dilation=2, return_indices=True)
    flat = x.reshape(2, 3, -1)
    np.testing.assert_array_equal(
        np.take_along_axis(flat, np.asarray(idx).reshape(2, 3, -1), 2),
        np.asarray(y).reshape(2, 3, -1),
    )


# ----------------------------------------------------------------------------- edge cases


def test_zero_size_batch(rng):
    for fn, kw, out in [
        (F.max_pool2d, dict(kernel_size=2), (0, 3, 4, 4)),
        (F.avg_pool2d, dict(kernel_size=3, stride=2, padding=1), (0, 3, 4, 4)),
        (F.adaptive_avg_pool2d, dict(output_size=3), (0, 3, 3, 3)),
        (F.adaptive_max_pool2d, dict(output_size=(2, 5)), (0, 3, 2, 5)),
    ]:
        x = pydlk.tensor(np.zeros((0, 3, 8, 8), np.float32), requires_grad=True)
        y = fn(x, **kw)
        assert y.shape == out
        y.sum().backward()
        assert x.grad.shape == (0, 3, 8, 8)


def test_float64_noncontiguous_and_unbatched(rng):
    base = rng.standard_normal((2, 9, 3, 8))
    x = base.transpose(0, 2, 1, 3)  # (2, 3, 9, 8), not C-contiguous
    assert not x.flags.c_contiguous
    y, idx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    ry, ridx = max_pool_ref(x, 3, 2, 1, 1, False)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(y), ry)
    np.testing.assert_array_equal(np.asarray(idx), ridx)
    np.testing.assert_allclose(
        np.asarray(F.avg_pool2d(x, 2, 1, 1)),
        avg_pool_ref(x, 2, 1, 1, False, True, None),
        rtol=1e-12,
    )
    # unbatched (C, H, W) gives the batched result's first item, gradient included
    x3 = pydlk.tensor(x[1], requires_grad=True)
    y3, i3 = F.max_pool2d(x3, 3, 2, 1, return_indices=True)
    assert y3.shape == (3, 5, 4) and i3.shape == (3, 5, 4)
    np.testing.assert_array_equal(np.asarray(y3), ry[1])
    y3.sum().backward()
    assert x3.grad.shape == (3, 9, 8)
    for fn, kw in [
        (F.avg_pool2d, dict(kernel_size=2)),
        (F.adaptive_avg_pool2d, dict(output_size=2)),
        (F.adaptive_max_pool2d, dict(output_size=2)),
    ]:
        np.testing.assert_array_equal(np.asarray(fn(x[1], **kw)), np.asarray(fn(x, **kw))[1])


def test_tensor_input_without_grad_returns_no_indices_unless_asked(rng):
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    assert isinstance(F.max_pool2d(x, 2), pydlk.Tensor)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    assert idx.dtype == np.int64 and idx.shape == y.shape


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_name_the_argument():
    x = np.ones((1, 2, 6, 6), np.float32)
    with pytest.raises(ValueError, match="max_pool2d: input must be 3-D .* or 4-D"):
        F.max_pool2d(np.ones((6, 6), np.float32), 2)
    with pytest.raises(ValueError, match="avg_pool2d: input must be 3-D"):
        F.avg_pool2d(np.ones((1, 1, 1, 6, 6), np.float32), 2)
    with pytest.raises(TypeError, match="max_pool2d: input must be float32 or float64, got int64"):
        F.max_pool2d(np.ones((1, 2, 6, 6), np.int64), 2)
    with pytest.raises(ValueError, match="max_pool2d: stride must be positive"):
        F.max_pool2d(x, 2, stride=-1)
    with pytest.raises(ValueError, match="avg_pool2d: kernel_size must be positive"):
        F.avg_pool2d(x, (0, 2))
    with pytest.raises(ValueError, match="padding must be >= 0"):
        F.max_pool2d(x, 2, padding=-1)
    with pytest.raises(ValueError, match="max_pool2d: padding must be at most half of kernel_size"):
        F.max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match="dilation must be positive"):
        F.max_pool2d(x, 2, dilation=0)
    with pytest.raises(ValueError, match="max_pool2d: output size .* is too small"):
        F.max_pool2d(x, 4, dilation=2)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        F.max_pool2d(x, "2")
    with pytest.raises(ValueError, match="kernel_size must have 2 values"):
        F.max_pool2d(x, (2, 2, 2))
    with pytest.raises(ValueError, match="divisor_override must not be zero"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(TypeError, match="divisor_override must be an int"):
        F.avg_pool2d(x, 2, divisor_override=1.5)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size must be positive"):
        F.adaptive_avg_pool2d(x, (0, 2))
    with pytest.raises(ValueError, match="adaptive_max_pool2d: output_size must have 2 values"):
        F.adaptive_max_pool2d(x, (1, 2, 3))
    with pytest.raises(TypeError, match="adaptive_max_pool2d: input must be float32"):
        F.adaptive_max_pool2d(np.ones((1, 2, 6, 6), np.int32), 2)


def test_bindings_check_everything():
    x = np.ones((1, 2, 6, 6), np.float32)
    with pytest.raises(ValueError, match="max_pool2d: input must be 4-D"):
        C.max_pool2d_forward(x[0], 2)
    with pytest.raises(ValueError, match="input must have non-zero C, H and W"):
        C.max_pool2d_forward(np.ones((1, 0, 6, 6), np.float32), 2)
    with pytest.raises(TypeError, match="max_pool2d: input must be a C-contiguous"):
        C.max_pool2d_forward(np.ones((1, 2, 6, 6), np.float16), 2)
    with pytest.raises(TypeError, match="not C-contiguous"):
        C.avg_pool2d_forward(np.ones((1, 2, 6, 6), np.float32).transpose(0, 1, 3, 2), 2)
    with pytest.raises(ValueError, match="max_pool2d: stride must be in \\[1, 2\\*\\*31\\), got 0"):
        C.max_pool2d_forward(x, 2, 0)
    with pytest.raises(ValueError, match="avg_pool2d: padding must be at most half"):
        C.avg_pool2d_forward(x, 2, 2, 2)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        C.max_pool2d_forward(x, 2.5)
    with pytest.raises(ValueError, match="divisor_override must not be zero"):
        C.avg_pool2d_forward(x, 2, divisor_override=0)
    with pytest.raises(
        ValueError, match="adaptive_max_pool2d: output_size must be in \\[1, 2\\*\\*31\\)"
    ):
        C.adaptive_max_pool2d_forward(x, (2, -1))
    # preallocated outputs are checked for dtype, shape, layout and writability
    with pytest.raises(TypeError, match="out must have the same dtype"):
        C.max_pool2d_forward(x, 2, out=np.empty((1, 2, 3, 3), np.float64))
    with pytest.raises(
        ValueError, match="out must have shape \\(1, 2, 3, 3\\), got \\(1, 2, 3, 4\\)"
    ):
        C.avg_pool2d_forward(x, 2, out=np.empty((1, 2, 3, 4), np.float32))
    with pytest.raises(TypeError, match="out must be a C-contiguous"):
        C.adaptive_avg_pool2d_forward(x, 3, out=np.empty((1, 2, 3, 3), np.float32, order="F"))
    ro = np.empty((1, 2, 3, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writable"):
        C.max_pool2d_forward(x, 2, out=ro)
    with pytest.raises(TypeError, match="indices must be a C-contiguous int64"):
        C.max_pool2d_forward(x, 2, indices=np.empty((1, 2, 3, 3), np.int32))
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        C.max_pool2d_forward(x, 2, out=[1, 2])
    # backward: grad_output, indices and grad_input must fit the geometry
    dy = np.ones((1, 2, 3, 3), np.float32)
    idx = np.zeros((1, 2, 3, 3), np.int64)
    with pytest.raises(
        ValueError,
        match="max_pool2d_backward: grad_output has spatial size \\(3, 3\\), "
        "the pooling gives \\(2, 2\\)",
    ):
        C.max_pool2d_backward(dy, idx, (6, 6), 3)
    with pytest.raises(ValueError, match="indices must have shape"):
        C.max_pool2d_backward(dy, idx[:, :1], (6, 6), 2)
    with pytest.raises(ValueError, match="grad_input must have shape"):
        C.max_pool2d_backward(dy, idx, (6, 6), 2, grad_input=np.empty((1, 2, 6, 5), np.float32))
    with pytest.raises(ValueError, match="input_size must be in \\[1, 2\\*\\*31\\)"):
        C.avg_pool2d_backward(dy, (0, 6), 2)
    with pytest.raises(TypeError, match="adaptive_max_pool2d_backward: indices must be"):
        C.adaptive_max_pool2d_backward(dy, idx.astype(np.float32), (6, 6))


def test_backward_ignores_out_of_range_indices():
    dy = np.ones((1, 1, 2, 2), np.float32)
    idx = np.array([0, -5, 10**12, 3], np.int64).reshape(1, 1, 2, 2)
    dx = C.adaptive_max_pool2d_backward(dy, idx, (2, 2))
    np.testing.assert_array_equal(dx.ravel(), [1, 0, 0, 1])


def test_preallocated_outputs_are_used(rng):
    x = rng.standard_normal((2, 3, 8, 9)).astype(np.float32)
    for kw in [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)]:
        want_y, want_i = C.max_pool2d_forward(x, **kw)
        out, ind = np.full_like(want_y, 5), np.full(want_i.shape, 5, np.int64)
        y, i = C.max_pool2d_forward(x, **kw, out=out, indices=ind)
        assert y is out and i is ind
        np.testing.assert_array_equal(out, want_y)
        np.testing.assert_array_equal(ind, want_i)
        dy = rng.standard_normal(out.shape).astype(np.float32)
        gi = np.full_like(x, 9)  # grad_input is overwritten, not added to
        assert C.max_pool2d_backward(dy, ind, (8, 9), grad_input=gi, **kw) is gi
        np.testing.assert_array_equal(gi, C.max_pool2d_backward(dy, ind, (8, 9), **kw))
        ya = np.full_like(want_y, 5)
        assert C.avg_pool2d_forward(x, **kw, out=ya) is ya
        np.testing.assert_array_equal(ya, C.avg_pool2d_forward(x, **kw))
        gi = np.full_like(x, 9)
        C.avg_pool2d_backward(dy, (8, 9), **kw, grad_input=gi)
        np.testing.assert_array_equal(gi, C.avg_pool2d_backward(dy, (8, 9), **kw))
    y, none = C.max_pool2d_forward(x, 2, return_indices=False)
    assert none is None
    ya = np.empty((2, 3, 3, 4), np.float32)
    C.adaptive_avg_pool2d_forward(x, (3, 4), out=ya)
    np.testing.assert_array_equal(ya, C.adaptive_avg_pool2d_forward(x, (3, 4)))
    gi = np.full_like(x, 9)
    C.adaptive_avg_pool2d_backward(ya, (8, 9), grad_input=gi)
    np.testing.assert_array_equal(gi, C.adaptive_avg_pool2d_backward(ya, (8, 9)))


def test_one_and_two_threads_agree(rng, threads):
    x = rng.standard_normal((4, 16, 33, 32)).astype(np.float32)
    dy2 = rng.standard_normal((4, 16, 16, 16)).astype(np.float32)
    dy3 = rng.standard_normal((4, 16, 17, 16)).astype(np.float32)

    def run():
        y, i = C.max_pool2d_forward(x, 2)
        y3, i3 = C.max_pool2d_forward(x, 3, 2, 1)
        return [
            y,
            i,
            C.max_pool2d_backward(dy2, i, (33, 32), 2),
            y3,
            i3,
            C.max_pool2d_backward(dy3, i3, (33, 32), 3, 2, 1),
            C.avg_pool2d_forward(x, 2),
            C.avg_pool2d_backward(dy2, (33, 32), 2),
            C.avg_pool2d_forward(x, 3, 2, 1),
            C.avg_pool2d_backward(dy3, (33, 32), 3, 2, 1),
            C.adaptive_avg_pool2d_forward(x, 5),
            C.adaptive_max_pool2d_forward(x, 5)[0],
        ]

    def run_torch():
        # The same list from torch: outputs, indices, and the input gradients of dy2 / dy3.
        torch = pytest.importorskip("torch")
        tF = torch.nn.functional
        out = []
        for pool, dy in [
            (lambda t: tF.max_pool2d(t, 2, return_indices=True), dy2),
            (lambda t: tF.max_pool2d(t, 3, 2, 1, return_indices=True), dy3),
            (lambda t: (tF.avg_pool2d(t, 2),), dy2),
            (lambda t: (tF.avg_pool2d(t, 3, 2, 1),), dy3),
        ]:
            tx = torch.tensor(x, requires_grad=True)
            y, *idx = pool(tx)
            y.backward(torch.tensor(dy))
            out += [y.detach().numpy(), *(i.numpy() for i in idx), tx.grad.numpy()]
        tx = torch.tensor(x)
        return out + [
            tF.adaptive_avg_pool2d(tx, 5).numpy(),
            tF.adaptive_max_pool2d(tx, 5).numpy(),
        ]

    threads(1)
    one = run()
    threads(2)
    two_ = run()
    for a, b in zip(one, two_):
        np.testing.assert_array_equal(a, b)
    for a, r in zip(one, run_torch(), strict=True):
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_2x2_fast_path_on_wide_rows_matches_reference(rng, dtype):
    # rows of 37 columns: 18 outputs = two 8-wide vector blocks, a scalar tail and an unused
    # last column; NaNs, ties and -inf placed in vector lanes and in the tail
    x = rng.standard_normal((2, 3, 7, 37)).astype(dtype)
    x[0, 0, 0, 3] = x[0, 0, 1, 2] = np.nan  # two NaNs in one window: the last wins
    x[0, 1, 2:4, 10:12] = 3.0  # a four-way tie: the first
    x[1, 2, 4:6, 34:36] = -np.inf  # a window of -inf in the tail
    x[1, 0, 0, 5] = np.nan
    x[1, 1, 3, 20] = x[1, 1, 3, 21] = 9.0  # a tie in one row
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    ry, ridx = max_pool_ref(x, 2, 2, 0, 1, False)
    np.testing.assert_array_equal(np.asarray(y), ry.astype(dtype))
    np.testing.assert_array_equal(np.asarray(idx), ridx)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = C.max_pool2d_backward(dy, np.asarray(idx), (7, 37), 2)
    want = np.zeros(x.shape, dtype).reshape(2, 3, -1)
    np.put_along_axis(want, ridx.reshape(2, 3, -1), dy.reshape(2, 3, -1), 2)
    np.testing.assert_array_equal(dx, want.reshape(x.shape))
    xa = rng.standard_normal((2, 3, 7, 37)).astype(dtype)
    np.testing.assert_allclose(
        np.asarray(F.avg_pool2d(xa, 2)),
        avg_pool_ref(xa, 2, 2, 0, False, True, None),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        np.asarray(F.avg_pool2d(xa, 2, divisor_override=3)),
        avg_pool_ref(xa, 2, 2, 0, False, True, 3),
        rtol=1e-5,
        atol=1e-6,
    )
    da = C.avg_pool2d_backward(dy, (7, 37), 2)
    want = np.zeros(x.shape, dtype)
    want[:, :, :6, :36] = np.repeat(np.repeat(dy, 2, 2), 2, 3) / 4
    np.testing.assert_allclose(da, want, rtol=1e-6)


@pytest.mark.parametrize(
    "k,s,p,d", [(3, 1, 1, 1), (3, 2, 1, 1), (2, 3, 1, 1), (3, 2, 1, 2), ((2, 4), (1, 5), (1, 2), 1)]
)
def test_max_vector_blocks_match_reference(rng, k, s, p, d):
    # rows wide enough for the 8-output vector blocks (stride 1, 2 and any other), with ties
    x = rng.integers(-3, 4, (2, 2, 9, 45)).astype(np.float32)
    x[0, 1, 4, 17] = np.nan
    for ceil_mode in (False, True):
        y, idx = F.max_pool2d(x, k, s, p, d, ceil_mode, return_indices=True)
        ry, ridx = max_pool_ref(x, k, s, p, d, ceil_mode)
        np.testing.assert_array_equal(np.asarray(y), ry)
        np.testing.assert_array_equal(np.asarray(idx), ridx)


def test_avg_very_wide_rows_take_the_generic_path(rng):
    # W > 2048 skips the tabulated row passes: the window loops must agree with the reference
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((1, 2, 3, 2101)).astype(np.float32)
    for kw in [
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        dict(kernel_size=(2, 3), stride=1, padding=1, divisor_override=4),
        dict(kernel_size=2, stride=3, padding=1, ceil_mode=True),
    ]:
        ref = avg_pool_ref(
            x,
            kw["kernel_size"],
            kw["stride"],
            kw["padding"],
            kw.get("ceil_mode", False),
            kw.get("count_include_pad", True),
            kw.get("divisor_override"),
        )
        dy = rng.standard_normal(ref.shape).astype(np.float32)
        got = _pydlk_pool(F.avg_pool2d, x, dy, **kw)
        want = _torch_pool(torch, torch.nn.functional.avg_pool2d, x, dy, **kw)
        np.testing.assert_allclose(got[0], ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[2], want[2], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("W", [16, 17, 18, 22, 28, 29, 30, 46])
def test_2x2_rows_whose_width_is_not_a_multiple_of_the_vector_block(rng, W):
    """The 2x2/stride-2 fast path moves its last 8-wide block back to end at OW; every output,
    index and gradient must still equal the reference (and torch), with ties present."""
    x = rng.integers(-3, 4, (2, 3, 6, W)).astype(np.float32)  # many ties
    dy = rng.standard_normal((2, 3, 3, W // 2)).astype(np.float32)
    y, idx, dx = _pydlk_pool(F.max_pool2d, x, dy, kernel_size=2, return_indices=True)
    ry, ridx = max_pool_ref(x, 2, 2, 0, 1, False)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    rdx = np.zeros(x.shape, np.float64)
    for n, c in itertools.product(range(2), range(3)):
        np.add.at(rdx[n, c].reshape(-1), ridx[n, c].reshape(-1), dy[n, c].reshape(-1))
    np.testing.assert_allclose(dx, rdx, rtol=1e-6)
    ay, _, adx = _pydlk_pool(F.avg_pool2d, x, dy, kernel_size=2)
    np.testing.assert_allclose(ay, avg_pool_ref(x, 2, 2, 0, False, True, None), rtol=1e-6)
    ref_adx = np.zeros(x.shape, np.float64)
    ref_adx[..., : (W // 2) * 2] = np.repeat(np.repeat(dy, 2, axis=2), 2, axis=3) / 4
    np.testing.assert_allclose(adx, ref_adx, rtol=1e-6)
    torch = pytest.importorskip("torch")
    ty, tidx, tdx = _torch_pool(
        torch, torch.nn.functional.max_pool2d, x, dy, kernel_size=2, return_indices=True
    )
    np.testing.assert_array_equal(idx, tidx)
    np.testing.assert_allclose(dx, tdx, rtol=1e-6)


@pytest.mark.parametrize("NC", [(3, 4), (5, 31)])
@pytest.mark.parametrize("H,W", [(10, 10), (11, 10), (6, 8), (4, 14), (2, 4), (8, 2), (5, 12)])
def test_2x2_narrow_planes_match_reference(rng, H, W, NC):
    """Planes too narrow for the vector rows (fewer than 8 outputs per row): where the windows
    tile the planes exactly, consecutive planes go together (chunks of up to 1024 floats per
    half, the last one shorter: 155 planes of 10x10 are 7 chunks of 20 and one of 15) through
    one vector row made of their even and odd rows (indices shifted back per plane), other
    even widths one plane at a time, the rest through the branch-free scalar loop; NaN, ties
    and -inf included, and on several fresh inputs (a branchy loop is only fast on an input
    the branch predictor has seen)."""
    N, C_ = NC
    for trial in range(3):
        x = rng.integers(-3, 4, (N, C_, H, W)).astype(np.float32)  # many ties
        x[0, 0, 1, 1] = np.nan
        x[1, 2, 0:2, 0:2] = -np.inf
        x[N - 1, C_ - 1, 0, 0:2] = np.nan  # the last plane of the last chunk
        if trial == 2:
            x[2, 3, H - 2, W - 1] = np.nan
        dy = rng.standard_normal((N, C_, H // 2, W // 2)).astype(np.float32)
        y, idx, dx = _pydlk_pool(F.max_pool2d, x, dy, kernel_size=2, return_indices=True)
        ry, ridx = max_pool_ref(x, 2, 2, 0, 1, False)
        np.testing.assert_array_equal(y, ry)
        np.testing.assert_array_equal(idx, ridx)
        rdx = np.zeros(x.shape, np.float64)
        for n, c in itertools.product(range(N), range(C_)):
            np.add.at(rdx[n, c].reshape(-1), ridx[n, c].reshape(-1), dy[n, c].reshape(-1))
        np.testing.assert_allclose(dx, rdx, rtol=1e-6)
    torch = pytest.importorskip("torch")
    ty, tidx, tdx = _torch_pool(
        torch, torch.nn.functional.max_pool2d, x, dy, kernel_size=2, return_indices=True
    )
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(idx, tidx)
    np.testing.assert_allclose(dx, tdx, rtol=1e-6)
