"""Fractional max pooling: torch's interval formula written out in NumPy, torch as an oracle,
finite-difference gradients."""

import numpy as np
import pytest
from conftest import t64

import pydlk
from pydlk import functional as F
from pydlk import nn


def _ref(x, k, out, u):
    """Loop reference of torch's FractionalMaxPool2d.cpp, float64 interval arithmetic in x's
    dtype done by hand."""
    N, C, H, W = x.shape
    kh, kw = k
    oh, ow = out
    y = np.empty((N, C, oh, ow), x.dtype)
    idx = np.empty((N, C, oh, ow), np.int64)

    def starts(s, n_in, n_out, pool):
        dt = x.dtype.type
        seq = [0] * n_out
        if n_out > 1:
            alpha = dt(n_in - pool) / dt(n_out - 1)
            for i in range(n_out - 1):
                seq[i] = int(dt(dt(i) + dt(s)) * alpha) - int(dt(s) * alpha)
        seq[-1] = n_in - pool
        return seq

    for n in range(N):
        for c in range(C):
            sw = starts(u[n, c, 0], W, ow, kw)
            sh = starts(u[n, c, 1], H, oh, kh)
            for i in range(oh):
                for j in range(ow):
                    best, bi = -np.inf, sh[i] * W + sw[j]
                    for a in range(sh[i], sh[i] + kh):
                        for b in range(sw[j], sw[j] + kw):
                            if x[n, c, a, b] > best:
                                best, bi = x[n, c, a, b], a * W + b
                    y[n, c, i, j], idx[n, c, i, j] = best, bi
    return y, idx


@pytest.mark.parametrize(
    "shape,k,out",
    [
        ((2, 3, 11, 9), (3, 2), (5, 6)),
        ((1, 2, 7, 7), 2, (3, 3)),
        ((2, 1, 10, 13), (2, 3), (9, 1)),
        ((1, 1, 5, 5), 1, (5, 5)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference(rng, shape, k, out, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    u = rng.uniform(size=shape[:2] + (2,)).astype(dtype)
    y, i = F.fractional_max_pool2d(x, k, output_size=out, return_indices=True, _random_samples=u)
    kk = k if isinstance(k, tuple) else (k, k)
    ry, ri = _ref(x, kk, out, u)
    np.testing.assert_array_equal(y.numpy(), ry)
    np.testing.assert_array_equal(i.numpy(), ri)


def test_matches_torch_forward_backward(rng):
    torch = pytest.importorskip("torch")
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 3, 16, 12)).astype(dtype)
        u = rng.uniform(size=(2, 3, 2)).astype(dtype)
        dy = rng.standard_normal((2, 3, 8, 8)).astype(dtype)
        xp = pydlk.tensor(x, requires_grad=True)
        y, i = F.fractional_max_pool2d(
            xp, 3, output_ratio=(0.5, 0.7), return_indices=True, _random_samples=u
        )
        (y * pydlk.tensor(dy)).sum().backward()
        xt = torch.tensor(x, requires_grad=True)
        yt, it = torch.nn.functional.fractional_max_pool2d(
            xt, 3, output_ratio=(0.5, 0.7), return_indices=True, _random_samples=torch.tensor(u)
        )
        (yt * torch.tensor(dy)).sum().backward()
        np.testing.assert_array_equal(y.detach().numpy(), yt.detach().numpy())
        np.testing.assert_array_equal(i.numpy(), it.numpy())
        np.testing.assert_allclose(np.asarray(xp.grad), xt.grad.numpy(), rtol=1e-6)
    m = nn.FractionalMaxPool2d(2, output_size=(4, 5), _random_samples=u[:1])
    mt = torch.nn.FractionalMaxPool2d(2, output_size=(4, 5), _random_samples=torch.tensor(u[:1]))
    np.testing.assert_array_equal(m(x[:1]).numpy(), mt(torch.tensor(x[:1])).detach().numpy())


def test_gradcheck_and_unbatched(rng):
    x = t64(rng.standard_normal((2, 9, 8)))
    u = rng.uniform(size=(1, 2, 2))
    assert pydlk.gradcheck(
        lambda a: F.fractional_max_pool2d(a, 3, output_size=(4, 5), _random_samples=u), (x,)
    )
    y = F.fractional_max_pool2d(x, 3, output_size=(4, 5), _random_samples=u)
    assert y.shape == (2, 4, 5)
    # overlapping windows: gradients add up at inputs that win several windows
    x.grad = None
    y.sum().backward()
    assert np.asarray(x.grad).sum() == pytest.approx(2 * 4 * 5)


def test_random_samples_drawn_and_errors(rng):
    x = rng.standard_normal((2, 2, 10, 10)).astype(np.float32)
    pydlk.manual_seed(3)
    a = F.fractional_max_pool2d(x, 2, output_ratio=0.5).numpy()
    pydlk.manual_seed(3)
    b = F.fractional_max_pool2d(x, 2, output_ratio=0.5).numpy()
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="fractional_max_pool2d: kernel_size"):
        F.fractional_max_pool2d(x, 4, output_size=(8, 8))
    with pytest.raises(ValueError, match="exactly one"):
        F.fractional_max_pool2d(x, 2)
    with pytest.raises(ValueError, match="_random_samples"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="output_ratio"):
        nn.FractionalMaxPool2d(2, output_ratio=1.5)
