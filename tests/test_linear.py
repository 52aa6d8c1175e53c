"""linear: reference, gradient check, torch oracle, edge cases, bad input."""

import numpy as np
import pydlk._C as C
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F


def linear_ref(x, w, b):
    """y[n, o] = sum_i x[n, i] * w[o, i] + b[o], in float64."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    y = np.einsum("ni,oi->no", x.reshape(-1, x.shape[-1]), w)
    if b is not None:
        y = y + np.asarray(b, np.float64)
    return y.reshape(*x.shape[:-1], w.shape[0])


@pytest.mark.parametrize("N,IN,OUT", [(1, 1, 1), (7, 13, 5), (64, 120, 84), (3, 17, 33)])
@pytest.mark.parametrize("bias", [True, False])
def test_forward_matches_reference(rng, N, IN, OUT, bias):
    x = rng.standard_normal((N, IN)).astype(np.float32)
    w = rng.standard_normal((OUT, IN)).astype(np.float32)
    b = rng.standard_normal(OUT).astype(np.float32) if bias else None
    y = F.linear(x, w, b)
    assert y.dtype == np.float32 and y.shape == (N, OUT)
    np.testing.assert_allclose(np.asarray(y), linear_ref(x, w, b), rtol=1e-4, atol=1e-4)


def test_backward_matches_reference(rng):
    x, w, b = (rng.standard_normal(s) for s in [(6, 9), (4, 9), (4,)])
    dy = rng.standard_normal((6, 4))
    tx, tw, tb = t64(x), t64(w), t64(b)
    F.linear(tx, tw, tb).backward(dy)
    np.testing.assert_allclose(tx.grad, dy @ w, rtol=1e-12)
    np.testing.assert_allclose(tw.grad, dy.T @ x, rtol=1e-12)
    np.testing.assert_allclose(tb.grad, dy.sum(0), rtol=1e-12)


@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7), (1, 7)])
def test_gradcheck(rng, shape):
    x = t64(rng.standard_normal(shape))
    w, b = t64(rng.standard_normal((4, 7))), t64(rng.standard_normal(4))
    assert pydlk.gradcheck(F.linear, (x, w, b))
    assert pydlk.gradcheck(lambda x, w: F.linear(x, w), (x, w))


def test_gradcheck_catches_a_wrong_gradient(rng):
    class Wrong(pydlk.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g  # should be 2 x g

    with pytest.raises(pydlk.GradcheckError, match="element"):
        pydlk.gradcheck(Wrong.apply, (t64(rng.standard_normal(5) + 3),))


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in [(8, 3, 11), (6, 11), (6,)])
    dy = rng.standard_normal((8, 3, 6)).astype(np.float32)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.linear(tx, tw, tb).backward(torch.tensor(dy))
    px, pw, pb = (pydlk.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.linear(px, pw, pb)
    y.backward(dy)
    ty = torch.nn.functional.linear(tx, tw, tb).detach().numpy()
    np.testing.assert_allclose(np.asarray(y), ty, rtol=1e-5, atol=1e-5)
    for p, t in [(px, tx), (pw, tw), (pb, tb)]:
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_float64_and_noncontiguous_inputs(rng):
    x = rng.standard_normal((9, 5))
    w = rng.standard_normal((5, 4)).T  # (4, 5), not C-contiguous
    y = F.linear(x, w)
    assert y.dtype == np.float64
    np.testing.assert_allclose(np.asarray(y), linear_ref(x, w, None), rtol=1e-12)


def test_zero_size_batch(rng):
    w, b = rng.standard_normal((3, 4)).astype(np.float32), np.ones(3, np.float32)
    x = pydlk.tensor(np.zeros((0, 4), np.float32), requires_grad=True)
    tw = pydlk.tensor(w, requires_grad=True)
    tb = pydlk.tensor(b, requires_grad=True)
    y = F.linear(x, tw, tb)
    assert y.shape == (0, 3)
    y.sum().backward()
    assert x.grad.shape == (0, 4)
    np.testing.assert_array_equal(tw.grad, 0)
    np.testing.assert_array_equal(tb.grad, 0)


def test_bad_inputs_name_the_argument(rng):
    x = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match="input has 4 features, weight expects 5"):
        F.linear(x, np.ones((3, 5), np.float32))
    with pytest.raises(ValueError, match="bias must have shape"):
        F.linear(x, np.ones((3, 4), np.float32), np.ones(2, np.float32))
    with pytest.raises(TypeError, match="input must be float32 or float64, got int64"):
        F.linear(np.ones((2, 4), np.int64), np.ones((3, 4), np.float32))
    with pytest.raises(TypeError, match="weight must have the same dtype"):
        F.linear(x, np.ones((3, 4), np.float64))
    with pytest.raises(TypeError, match="weight"):
        F.linear(x, "w")


def test_one_and_two_threads_agree(rng, threads):
    x, w = (
        rng.standard_normal((256, 300)).astype(np.float32),
        rng.standard_normal((200, 300)).astype(np.float32),
    )
    threads(1)
    y1 = np.asarray(F.linear(x, w))
    threads(2)
    y2 = np.asarray(F.linear(x, w))
    np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-5)
    # and right: y = x w^T in float64
    np.testing.assert_allclose(
        y1, x.astype(np.float64) @ w.T.astype(np.float64), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("N,IN,OUT", [(64, 400, 120), (33, 517, 70), (40, 20, 700)])
def test_backward_products_side_by_side(rng, threads, N, IN, OUT):
    # With both gradients asked for (and 1e6 flops or more), dx and dw run side by side, each on
    # half the team and split by columns of IN (517: a last block of 5 columns; 20: one block
    # each): on 1, 2 and 3 threads, against float64, and the values of asking for each alone
    # (not the bits: OpenBLAS rounds a narrow column block otherwise than a wide one)
    x, w, dy = (rng.standard_normal(s).astype(np.float32) for s in [(N, IN), (OUT, IN), (N, OUT)])
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    want = (dy64 @ w64, dy64.T @ x64, dy64.sum(0))
    for n in (1, 2, 3):
        threads(n)
        got = C.linear_backward(dy, x, w)
        for g, r in zip(got, want, strict=True):
            assert g.dtype == np.float32 and g.shape == r.shape
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4 * np.abs(r).max())
        alone = C.linear_backward(dy, x, w, True, False, False)[0]
        np.testing.assert_allclose(alone, got[0], rtol=1e-5, atol=1e-5 * np.abs(want[0]).max())
        alone = C.linear_backward(dy, x, w, False, True, False)[1]
        np.testing.assert_allclose(alone, got[1], rtol=1e-5, atol=1e-5 * np.abs(want[1]).max())
