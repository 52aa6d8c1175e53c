"""nn.LazyConvTranspose1d/2d/3d and nn.CrossMapLRN2d against torch 2.x: the lazy layers infer
in_channels on the first call and become ConvTranspose*d with torch's weight layout and
state_dict; CrossMapLRN2d's forward and backward are torch's legacy formulas (worked out in
NumPy in the tests). The ``test_gpu_*`` tests run them on CuPy arrays against the CPU (on a GPU,
or under tools/run_cuda_tests_on_host.py)."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
from pydlk import nn

torch = pytest.importorskip("torch")


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return host(t.detach())
    return t.detach().numpy()


# ----------------------------------------------------------------------------- lazy transposed

_LAZY = [
    ("LazyConvTranspose1d", 1, {"stride": 2, "padding": 1, "output_padding": 1}),
    ("LazyConvTranspose2d", 2, {"stride": (2, 1), "groups": 2, "dilation": 2}),
    ("LazyConvTranspose3d", 3, {"padding": 1, "bias": False}),
]


@pytest.mark.parametrize("name,nd,kw", _LAZY, ids=[c[0] for c in _LAZY])
def test_lazy_conv_transpose_infers_in_channels_and_matches_torch(rng, name, nd, kw):
    x = rng.standard_normal((2, 4) + (5,) * nd).astype(np.float32)
    pm = getattr(nn, name)(6, 3, **kw)
    tm = getattr(torch.nn, name)(6, 3, **kw)
    assert repr(pm) == repr(tm)  # "(0, 6, ...)" before the first call, as torch
    assert pm.has_uninitialized_params()
    y = pm(pydlk.tensor(x))
    with torch.no_grad():
        tm(torch.tensor(x))  # materialise torch's too
        tm.weight.copy_(torch.tensor(_np(pm.weight)))
        if pm.bias is not None:
            tm.bias.copy_(torch.tensor(_np(pm.bias)))
    ty = tm(torch.tensor(x))
    base = name.replace("Lazy", "")
    assert type(pm) is getattr(nn, base) and type(tm) is getattr(torch.nn, base)
    assert pm.in_channels == tm.in_channels == 4
    assert tuple(pm.weight.shape) == tuple(tm.weight.shape) == (4, 6 // pm.groups) + (3,) * nd
    assert repr(pm) == repr(tm)
    assert list(pm.state_dict()) == list(tm.state_dict())
    np.testing.assert_allclose(_np(y), _np(ty), rtol=1e-4, atol=1e-5)


def test_lazy_conv_transpose_initialises_as_torch_does(rng):
    """torch's ConvTranspose init: kaiming_uniform(a=sqrt(5)) with fan_in = weight.size(1) *
    prod(kernel) (out_channels / groups * k, the transposed layout), bias U(+-1/sqrt(fan_in))."""
    pydlk.manual_seed(0)
    m = nn.LazyConvTranspose2d(8, 3)
    m(pydlk.tensor(rng.standard_normal((1, 50, 4, 4)).astype(np.float32)))
    w, b = _np(m.weight), _np(m.bias)
    bound = 1 / np.sqrt(8 * 9)  # gain sqrt(2 / (1 + 5)) * sqrt(3 / fan_in) = 1 / sqrt(fan_in)
    assert w.shape == (50, 8, 3, 3)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound and b.std() > 0.3 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound


def test_lazy_conv_transpose_unbatched_input_output_size_and_optimizer(rng):
    m = nn.LazyConvTranspose1d(3, 4, stride=3)
    opt = pydlk.optim.SGD(m.parameters(), lr=0.1)  # built before the first call, as torch allows
    x = rng.standard_normal((5, 7)).astype(np.float32)  # unbatched (C, L)
    y = m(pydlk.tensor(x), output_size=[23])
    assert tuple(y.shape) == (3, 23) and m.in_channels == 5
    t = torch.nn.ConvTranspose1d(5, 3, 4, stride=3)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(_np(m.weight)))
        t.bias.copy_(torch.tensor(_np(m.bias)))
    ty = t(torch.tensor(x), output_size=[23])
    np.testing.assert_allclose(_np(y), _np(ty), rtol=1e-5, atol=1e-6)
    w0 = _np(m.weight).copy()
    y.sum().backward()
    opt.step()
    assert not np.allclose(_np(m.weight), w0)


def test_lazy_conv_transpose_loads_torchs_state_dict(rng):
    t = torch.nn.ConvTranspose2d(6, 4, 3, groups=2)
    m = nn.LazyConvTranspose2d(4, 3, groups=2)
    m.load_state_dict({k: pydlk.tensor(_np(v)) for k, v in t.state_dict().items()})
    assert type(m) is nn.ConvTranspose2d and m.in_channels == 6
    x = rng.standard_normal((2, 6, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(
        _np(m(pydlk.tensor(x))), _np(t(torch.tensor(x))), rtol=1e-4, atol=1e-5
    )


def test_lazy_conv_transpose_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.LazyConvTranspose2d(4, 3, groups=2)(pydlk.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="at least 4 dimensions"):
        nn.LazyConvTranspose3d(4, 3)(pydlk.zeros(3, 4, 4))
    with pytest.raises(ValueError):
        nn.LazyConvTranspose2d(4, 3, padding="same")


# ----------------------------------------------------------------------------- CrossMapLRN2d


def _lrn_reference(x, size, alpha, beta, k, dy):
    """torch's legacy CrossMapLRN2d, forward and backward, in float64 NumPy: the running
    window sum never takes x[:, 0]^2 out again, and the backward's window is offset by
    (size + 1) // 2 in a zero-padded copy (torch's int(size - (size - 1) / 2))."""
    n, c = x.shape[:2]
    sq = x * x
    pre = (size + 1) // 2
    s = np.zeros_like(x)
    s[:, 0] = sq[:, : min(pre, c)].sum(1)
    for i in range(1, c):
        s[:, i] = s[:, i - 1]
        if i + pre - 1 < c:
            s[:, i] += sq[:, i + pre - 1]
        if i > pre:
            s[:, i] -= sq[:, i - pre]
    scale = k + alpha / size * s
    y = x * scale**-beta
    ipp = (size + 1) // 2
    padded = np.zeros((n, c + size - 1) + x.shape[2:])
    padded[:, ipp : ipp + c] = dy * y / scale
    dx = scale**-beta * dy
    for i in range(c):
        dx[:, i] -= 2 * alpha * beta / size * x[:, i] * padded[:, i : i + size].sum(1)
    return y, dx


@pytest.mark.parametrize("size,c", [(5, 9), (3, 4), (4, 6), (2, 3), (7, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_map_lrn2d_forward_and_backward_match_torch(rng, size, c, dtype):
    x = rng.standard_normal((2, c, 3, 4)).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    alpha, beta, k = 0.7, 0.75, 1.5
    m = nn.CrossMapLRN2d(size, alpha=alpha, beta=beta, k=k)
    xp = pydlk.tensor(x, requires_grad=True)
    y = m(xp)
    y.backward(pydlk.tensor(dy))
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.CrossMapLRN2d(size, alpha=alpha, beta=beta, k=k)(xt)
    yt.backward(torch.tensor(dy))
    ry, rdx = _lrn_reference(x.astype(np.float64), size, alpha, beta, k, dy.astype(np.float64))
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}
    assert y.dtype == dtype
    np.testing.assert_allclose(_np(y), _np(yt), **tol)
    np.testing.assert_allclose(_np(xp.grad), _np(xt.grad), **tol)
    np.testing.assert_allclose(_np(y), ry, **tol)
    np.testing.assert_allclose(_np(xp.grad), rdx, **tol)


def test_cross_map_lrn2d_is_torchs_legacy_op_not_local_response_norm(rng):
    """From channel (size + 1) // 2 on, x[:, 0]^2 stays in the window (torch's quirk): the
    result differs from LocalResponseNorm there and agrees before."""
    x = rng.standard_normal((1, 6, 2, 2))
    y = _np(nn.CrossMapLRN2d(3, alpha=1.0)(pydlk.tensor(x)))
    ref = _np(nn.LocalResponseNorm(3, alpha=1.0)(pydlk.tensor(x)))
    np.testing.assert_allclose(y[:, :2], ref[:, :2], rtol=1e-12)
    assert not np.allclose(y[:, 2:], ref[:, 2:])
    s2 = x[:, 0] ** 2 + x[:, 1] ** 2 + x[:, 2] ** 2 + x[:, 3] ** 2  # channel 2's window + x0^2
    np.testing.assert_allclose(y[:, 2], x[:, 2] * (1 + s2 / 3) ** -0.75, rtol=1e-12)


def test_cross_map_lrn2d_errors_and_repr():
    with pytest.raises(ValueError, match="Expected input to be 4D, got 3D instead"):
        nn.CrossMapLRN2d(3)(pydlk.zeros(2, 3, 4))
    x = pydlk.zeros(1, 3, 2, 2, requires_grad=True)
    y = nn.CrossMapLRN2d(1)(x)  # torch's backward fails for size 1 (its narrow is too long)
    with pytest.raises(RuntimeError, match="exceeds dimension size"):
        y.sum().backward()
    assert repr(nn.CrossMapLRN2d(5)) == repr(torch.nn.CrossMapLRN2d(5))
    assert repr(nn.CrossMapLRN2d(3, 1e-3, 0.5, 2)) == repr(torch.nn.CrossMapLRN2d(3, 1e-3, 0.5, 2))


# ----------------------------------------------------------------------------- GPU


def test_gpu_lazy_conv_transpose_and_cross_map_lrn(rng):
    cp = cupy_or_skip()
    x = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    m = nn.LazyConvTranspose2d(3, 3, stride=2)
    y = m(pydlk.tensor(cp.asarray(x)))
    assert isinstance(m.weight._data, cp.ndarray) and type(m) is nn.ConvTranspose2d
    ref = nn.ConvTranspose2d(4, 3, 3, stride=2)
    ref.load_state_dict({k: pydlk.tensor(host(v)) for k, v in m.state_dict().items()})
    np.testing.assert_allclose(host(y), _np(ref(pydlk.tensor(x))), rtol=1e-4, atol=1e-5)

    dy = rng.standard_normal(x.shape).astype(np.float32)
    lrn = nn.CrossMapLRN2d(5, alpha=0.5)
    xg = pydlk.tensor(cp.asarray(x), requires_grad=True)
    yg = lrn(xg)
    yg.backward(pydlk.tensor(cp.asarray(dy)))
    xc = pydlk.tensor(x, requires_grad=True)
    yc = lrn(xc)
    yc.backward(pydlk.tensor(dy))
    assert isinstance(yg._data, cp.ndarray) and isinstance(xg.grad._data, cp.ndarray)
    np.testing.assert_allclose(host(yg), _np(yc), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(xg.grad), _np(xc.grad), rtol=1e-5, atol=1e-6)


def test_cross_map_lrn2d_backward_is_torchs_not_the_derivative(rng):
    """torch's legacy backward is not its forward's derivative (its float64 gradcheck fails);
    pydlk keeps torch's backward, so its gradcheck fails the same way and the gradients are
    torch's."""
    x = rng.standard_normal((1, 4, 2, 2))
    xt = torch.tensor(x, requires_grad=True)
    xp = pydlk.tensor(x, requires_grad=True)
    fn = torch.nn.CrossMapLRN2d(3, alpha=0.5)
    assert not torch.autograd.gradcheck(fn, (xt,), raise_exception=False)
    assert not pydlk.gradcheck(nn.CrossMapLRN2d(3, alpha=0.5), (xp,), raise_exception=False)
    dy = rng.standard_normal(x.shape)
    nn.CrossMapLRN2d(3, alpha=0.5)(xp).backward(pydlk.tensor(dy))
    fn(xt).backward(torch.tensor(dy))
    np.testing.assert_allclose(_np(xp.grad), _np(xt.grad), rtol=1e-12)
