"""dropout, dropout2d: NumPy reference from Philox, seeds and threads, statistics, gradients."""

import numpy as np
import pytest
from conftest import t64
from test_philox import philox_np

import pydlk
import pydlk.functional as F
from pydlk import _C
from pydlk.functional.dropout import _dropout, _dropout2d


def dropout_ref(x, p, seed, offset):
    """y = x * (u >= p) / (1 - p) in float64, u from the test's NumPy Philox."""
    x = np.asarray(x, np.float64)
    u = (philox_np(seed, offset, x.size) >> 8).astype(np.float64) / 2.0**24
    keep = (u >= p).reshape(x.shape)
    return x * keep / (1 - p), keep


@pytest.mark.parametrize("shape", [(1,), (7,), (64,), (65,), (3, 5, 7), (40, 1001)])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_forward_matches_reference(rng, shape, p):
    x = rng.standard_normal(shape).astype(np.float32)
    seed, offset = 1234567, 20
    y = _dropout(x, p, seed, offset)
    want, _ = dropout_ref(x, p, seed, offset)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-6, atol=0)


def test_mask_fixed_by_seed(rng):
    x = rng.standard_normal(1000).astype(np.float32)
    pydlk.manual_seed(3)
    a = np.asarray(F.dropout(x)).copy()
    b = np.asarray(F.dropout(x)).copy()  # the offset advanced: another mask
    pydlk.manual_seed(3)
    a2 = np.asarray(F.dropout(x))
    np.testing.assert_array_equal(a, a2)
    assert not np.array_equal(a != 0, b != 0)
    pydlk.manual_seed(4)
    assert not np.array_equal(a != 0, np.asarray(F.dropout(x)) != 0)


def test_same_mask_with_one_and_two_threads(rng, threads):
    x = rng.standard_normal((300, 1001)).astype(np.float32)  # above the grain size
    dy = rng.standard_normal(x.shape).astype(np.float32)
    out = []
    for t in (1, 2):
        threads(t)
        y, mask = _C.dropout_forward(x, 0.3, 77, 8)
        out.append(
            (
                y,
                mask,
                _C.dropout_backward(dy, mask, 0.3, 77, 8),
                _C.dropout_backward(dy, None, 0.3, 77, 8),
            )
        )
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)
    # and right: the NumPy Philox reference
    want, keep = dropout_ref(x, 0.3, 77, 8)
    y, _, dx, dx_regen = out[0]
    np.testing.assert_allclose(y, want, rtol=1e-6)
    np.testing.assert_allclose(dx, dy * keep / 0.7, rtol=1e-6)
    np.testing.assert_allclose(dx_regen, dy * keep / 0.7, rtol=1e-6)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keep_rate_within_binomial_bounds(p):
    n = 200_000
    y = np.asarray(_dropout(np.ones(n, np.float32), p, 2024, 0))
    kept = int(np.count_nonzero(y))
    sd = np.sqrt(n * p * (1 - p))
    assert abs(kept - n * (1 - p)) < 5 * sd
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p), rtol=1e-6)


def test_expectation_is_the_input():
    n, p, x = 400_000, 0.4, 3.0
    y = np.asarray(_dropout(np.full(n, x), p, 99, 0))
    sd = x * np.sqrt(p / (1 - p) / n)  # std of the mean of x * keep / (1 - p)
    assert abs(y.mean() - x) < 5 * sd


def test_backward_uses_the_same_mask(rng):
    x = rng.standard_normal((33, 17))
    x[0, :3] = 0
    dy = rng.standard_normal(x.shape)
    tx = t64(x)
    pydlk.manual_seed(5)
    y = F.dropout(tx, 0.35)
    y.backward(dy)
    nz = x != 0
    np.testing.assert_allclose(tx.grad[nz] / dy[nz], np.asarray(y)[nz] / x[nz], rtol=1e-12)
    _, keep = dropout_ref(x, 0.35, 5, 0)
    np.testing.assert_allclose(tx.grad, dy * keep / 0.65, rtol=1e-12)


def test_bit_mask_and_regenerated_backward_agree(rng):
    dy = rng.standard_normal(1000).astype(np.float32)
    y, mask = _C.dropout_forward(np.ones(1000, np.float32), 0.5, 3, 4)
    assert mask.dtype == np.uint32 and mask.shape == (32,)
    bits = np.unpackbits(mask.view(np.uint8), bitorder="little")[:1000].astype(bool)
    np.testing.assert_array_equal(bits, y != 0)
    np.testing.assert_array_equal(
        _C.dropout_backward(dy, mask, 0.5, 3, 4), _C.dropout_backward(dy, None, 0.5, 3, 4)
    )


def test_gradcheck_with_explicit_seed(rng):
    x = t64(rng.standard_normal((4, 9)))
    assert pydlk.gradcheck(lambda x: _dropout(x, 0.3, 42, 0), (x,))
    # the public function: reseeding inside fn gives every forward the same mask
    assert pydlk.gradcheck(lambda x: (pydlk.manual_seed(8), F.dropout(x, 0.6))[1], (x,))
    assert pydlk.gradcheck(
        lambda x: _dropout2d(x, 0.5, 42, 0), (t64(rng.standard_normal((3, 4, 2, 2))),)
    )


def test_gradcheck_fails_when_the_mask_changes(rng):
    x = t64(rng.standard_normal(40))
    with pytest.raises(pydlk.GradcheckError):
        pydlk.gradcheck(lambda x: F.dropout(x, 0.5), (x,))  # a new mask on every forward


def test_backward_matches_torch_given_our_mask(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((50, 13)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    px = pydlk.tensor(x, requires_grad=True)
    pydlk.manual_seed(1)
    y = F.dropout(px, 0.25)
    y.backward(dy)
    mask = torch.from_numpy(np.asarray(y) != 0)
    ty = torch.ops.aten.native_dropout_backward(torch.from_numpy(x), mask, 1 / 0.75)
    tdx = torch.ops.aten.native_dropout_backward(torch.from_numpy(dy), mask, 1 / 0.75)
    np.testing.assert_allclose(np.asarray(y), ty.numpy(), rtol=1e-6)
    np.testing.assert_allclose(px.grad, tdx.numpy(), rtol=1e-6)
    # torch's keep rate on the same size agrees statistically
    tk = torch.nn.functional.dropout(torch.ones(100_000), 0.25).count_nonzero().item()
    pk = np.count_nonzero(np.asarray(F.dropout(np.ones(100_000, np.float32), 0.25)))
    assert abs(tk - pk) < 6 * np.sqrt(2 * 100_000 * 0.25 * 0.75)


def test_identity_cases_and_p_one(rng):
    x = rng.standard_normal((5, 6)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(F.dropout(x, 0.5, training=False)), x)
    np.testing.assert_array_equal(np.asarray(F.dropout(x, 0.0)), x)
    np.testing.assert_array_equal(np.asarray(F.dropout2d(x[None], 0.5, training=False)), x[None])
    tx = pydlk.tensor(x, requires_grad=True)
    y = F.dropout(tx, 1.0)
    assert np.all(np.asarray(y) == 0) and np.all(np.isfinite(np.asarray(y)))
    y.backward(np.ones_like(x))
    assert np.all(np.asarray(tx.grad) == 0)
    assert np.all(np.asarray(F.dropout2d(x.reshape(1, 5, 6), 1.0)) == 0)


def test_nan_propagates_as_in_torch():
    x = np.array([np.nan] * 64, np.float32)
    assert np.all(np.isnan(np.asarray(_dropout(x, 0.5, 1, 0))))  # x * 0 is NaN, as torch's x * mask


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_bad_p(p):
    with pytest.raises(ValueError, match="p="):
        F.dropout(np.ones(3, np.float32), p)
    with pytest.raises(ValueError, match="p="):
        F.dropout2d(np.ones((1, 2, 3), np.float32), p)
    with pytest.raises(ValueError, match="p must be in"):
        _C.dropout_forward(np.ones(3, np.float32), p, 0, 0)


def test_bad_inputs():
    with pytest.raises(TypeError, match="input"):
        F.dropout(np.ones(3, np.int64))
    with pytest.raises(TypeError, match="p"):
        F.dropout(np.ones(3), "0.5")
    with pytest.raises(ValueError, match="dropout2d: input"):
        F.dropout2d(np.ones(3))  # 2-D input warns and drops per element, as torch
    with pytest.raises(ValueError, match="mask"):
        _C.dropout_backward(np.ones(100, np.float32), np.zeros(3, np.uint32), 0.5, 0, 0)
    with pytest.raises(TypeError, match="mask"):
        _C.dropout_backward(np.ones(100, np.float32), np.zeros(4, np.int32), 0.5, 0, 0)
    with pytest.raises(ValueError, match="out"):
        _C.dropout_forward(np.ones(100, np.float32), 0.5, 0, 0, out=np.ones(99, np.float32))
    with pytest.raises(TypeError, match="out"):
        _C.dropout_forward(np.ones(100, np.float32), 0.5, 0, 0, out=np.ones(100))
    with pytest.raises(ValueError, match="scale"):
        _C.channel_scale(np.ones((2, 3, 4)), np.ones((3, 2)))
    with pytest.raises(RuntimeError, match="in-place"):
        F.dropout(pydlk.tensor(np.ones(3), requires_grad=True), inplace=True)


def test_zero_size_float64_noncontiguous(rng):
    assert F.dropout(np.empty((0, 5), np.float32)).shape == (0, 5)
    assert F.dropout2d(np.empty((0, 3, 2, 2))).shape == (0, 3, 2, 2)
    x = rng.standard_normal((8, 6))
    y = _dropout(x.T, 0.5, 9, 0)  # non-contiguous, float64
    assert y.dtype == np.float64
    want, _ = dropout_ref(np.ascontiguousarray(x.T), 0.5, 9, 0)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-15)


def test_inplace(rng):
    x = rng.standard_normal(100).astype(np.float32)
    want = np.asarray(_dropout(x, 0.5, 3, 0))
    x2 = x.copy()
    y = _dropout(x2, 0.5, 3, 0, inplace=True)
    np.testing.assert_array_equal(x2, want)
    assert np.shares_memory(np.asarray(y), x2)
    x3 = rng.standard_normal((8, 6))
    xt = x3.T  # non-contiguous: written back
    want = np.asarray(_dropout(xt, 0.5, 3, 0))
    _dropout(xt, 0.5, 3, 0, inplace=True)
    np.testing.assert_array_equal(xt, want)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 7, 3), (3, 17, 1, 1)])
def test_dropout2d_matches_reference(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    p, seed, offset = 0.4, 31, 4
    y = np.asarray(_dropout2d(x, p, seed, offset))
    u = (philox_np(seed, offset, shape[0] * shape[1]) >> 8).astype(np.float64) / 2.0**24
    keep = (u >= p).reshape(shape[:2] + (1,) * (len(shape) - 2))
    np.testing.assert_allclose(y, x * keep / (1 - p), rtol=1e-6)


def test_dropout2d_drops_whole_channels_and_backward(rng):
    x = rng.standard_normal((16, 32, 5, 5)) + 10  # no zeros in x
    dy = rng.standard_normal(x.shape)
    tx = t64(x)
    pydlk.manual_seed(2)
    y = F.dropout2d(tx, 0.5)
    y.backward(dy)
    zero = np.all(np.asarray(y) == 0, axis=(2, 3))
    assert np.array_equal(
        zero, np.any(np.asarray(y) == 0, axis=(2, 3))
    )  # all or nothing per channel
    assert 0.3 < zero.mean() < 0.7
    np.testing.assert_allclose(tx.grad, dy * (~zero)[:, :, None, None] / 0.5, rtol=1e-12)


def test_dropout2d_same_with_one_and_two_threads(rng, threads):
    x = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    out = []
    for t in (1, 2):
        threads(t)
        out.append(np.asarray(_dropout2d(x, 0.5, 5, 0)))
    np.testing.assert_array_equal(*out)
    u = (philox_np(5, 0, 8 * 16) >> 8).astype(np.float64) / 2.0**24  # one draw per channel
    keep = (u >= 0.5).reshape(8, 16, 1, 1)
    np.testing.assert_allclose(out[0], x * keep / 0.5, rtol=1e-6)
