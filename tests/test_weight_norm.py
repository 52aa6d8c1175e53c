"""nn.utils.weight_norm / remove_weight_norm and nn.utils.spectral_norm / remove_spectral_norm
against torch's: the same initial weights (and, for spectral norm, torch's u and v copied in),
then forward outputs, gradients, state_dict keys, the power iteration's buffers, eval mode and
removal compared."""

import warnings

import numpy as np
import pytest

import pydlk
import pydlk.nn as nn
from pydlk.nn.utils import remove_spectral_norm, remove_weight_norm, spectral_norm, weight_norm

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-4, 1e-5


def _devices():
    devs = ["cpu"]
    if pydlk.cuda.is_available():
        devs.append("cuda")
    return devs


def _np(t):
    """Either library's tensor as a NumPy array (both spell it the same)."""
    return t.detach().cpu().numpy()


def _close(a, b, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol)
    return True


def _pair(kind):
    """(torch module, pydlk module, input shape) with the same initial parameters."""
    torch.manual_seed(0)
    if kind == "linear":
        tm, pm, shape = torch.nn.Linear(5, 4), nn.Linear(5, 4), (3, 5)
    elif kind == "conv2d":
        tm, pm, shape = torch.nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 3), (2, 3, 6, 6)
    else:  # convtranspose2d
        tm, pm = torch.nn.ConvTranspose2d(3, 4, 3), nn.ConvTranspose2d(3, 4, 3)
        shape = (2, 3, 5, 5)
    pm.load_state_dict(tm.state_dict())
    return tm, pm, shape


def _tw(f, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return f(*args, **kw)


def _run(tm, pm, x, device):
    """One forward and backward of ``sum(out * r)`` in both libraries; returns the outputs."""
    tx = torch.tensor(x, requires_grad=True)
    px = pydlk.tensor(x, device=device, requires_grad=True)
    tout = tm(tx)
    pout = pm(px)
    r = np.random.default_rng(1).standard_normal(tuple(tout.shape)).astype(np.float32)
    (tout * torch.tensor(r)).sum().backward()
    (pout * pydlk.tensor(r, device=device)).sum().backward()
    _close(tout, pout)
    _close(tx.grad, px.grad)
    return tout, pout


# -- weight_norm ---------------------------------------------------------------------------


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize(
    "kind,dim", [("linear", 0), ("linear", 1), ("linear", None), ("conv2d", 0), ("conv2d", 2)]
)
def test_weight_norm_matches_torch(kind, dim, device):
    tm, pm, shape = _pair(kind)
    _tw(torch.nn.utils.weight_norm, tm, dim=dim)
    weight_norm(pm.to(device), dim=dim)
    assert list(pm.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in pm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert tuple(pm.weight_g.shape) == tuple(tm.weight_g.shape)
    _close(tm.weight_g, pm.weight_g)
    _close(tm.weight_v, pm.weight_v)
    _close(tm.weight, pm.weight)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    _run(tm, pm, x, device)
    for name in ("weight_g", "weight_v", "bias"):
        _close(getattr(tm, name).grad, getattr(pm, name).grad)


def test_weight_norm_tracks_changes_to_g_and_v():
    tm, pm, shape = _pair("linear")
    _tw(torch.nn.utils.weight_norm, tm)
    weight_norm(pm)
    with torch.no_grad():
        tm.weight_g.mul_(2.0)
        tm.weight_v.add_(0.5)
    pm.load_state_dict(tm.state_dict())
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    _run(tm, pm, x, "cpu")
    g, v = _np(pm.weight_g), _np(pm.weight_v)
    want = g * v / np.linalg.norm(v, axis=1, keepdims=True)  # w = g v / ||v|| (dim 0)
    np.testing.assert_allclose(_np(pm.weight), want, rtol=1e-6)
    assert _close(tm.weight, pm.weight)
    assert _close(tm.weight_v.grad, pm.weight_v.grad)
    assert _close(tm.weight_g.grad, pm.weight_g.grad)


def test_remove_weight_norm_restores_a_plain_weight():
    tm, pm, shape = _pair("conv2d")
    _tw(torch.nn.utils.weight_norm, tm)
    weight_norm(pm)
    with torch.no_grad():
        tm.weight_g.mul_(3.0)
    pm.load_state_dict(tm.state_dict())
    torch.nn.utils.remove_weight_norm(tm)
    assert remove_weight_norm(pm) is pm
    assert set(pm.state_dict()) == set(tm.state_dict()) == {"weight", "bias"}
    assert isinstance(pm.weight, nn.Parameter)
    assert not pm._forward_pre_hooks
    _close(tm.weight, pm.weight)
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    _run(tm, pm, x, "cpu")
    _close(tm.weight.grad, pm.weight.grad)
    with pytest.raises(ValueError):
        remove_weight_norm(pm)


def test_weight_norm_twice_raises():
    m = weight_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError):
        weight_norm(m)


# -- spectral_norm -------------------------------------------------------------------------


def _sn_pair(kind, device, **kw):
    tm, pm, shape = _pair(kind)
    torch.nn.utils.spectral_norm(tm, **kw)
    spectral_norm(pm.to(device), **kw)
    assert list(pm.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in pm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in pm.named_buffers()] == [n for n, _ in tm.named_buffers()]
    pm.load_state_dict(tm.state_dict())  # torch's random u and v, so the iterations match
    return tm, pm, shape


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize(
    "kind,n_iter", [("linear", 1), ("linear", 3), ("conv2d", 1), ("convtranspose2d", 2)]
)
def test_spectral_norm_training_matches_torch(kind, n_iter, device):
    tm, pm, shape = _sn_pair(kind, device, n_power_iterations=n_iter)
    rng = np.random.default_rng(0)
    for _ in range(4):
        tm.zero_grad()
        pm.zero_grad()
        x = rng.standard_normal(shape).astype(np.float32)
        _run(tm, pm, x, device)
        w, u, v = _np(pm.weight_orig), _np(pm.weight_u), _np(pm.weight_v)
        mat = np.moveaxis(w, 1 if kind == "convtranspose2d" else 0, 0).reshape(u.size, -1)
        sigma = u @ mat @ v  # the power iteration's estimate of the top singular value
        np.testing.assert_allclose(_np(pm.weight), w / sigma, rtol=1e-5, atol=1e-6)
        assert _close(tm.weight_u, pm.weight_u)
        assert _close(tm.weight_v, pm.weight_v)
        assert _close(tm.weight, pm.weight)
        for name in ("weight_orig", "bias"):
            assert _close(getattr(tm, name).grad, getattr(pm, name).grad, rtol=1e-3, atol=1e-4)
        with torch.no_grad():  # a step changes the weight, so the next iterations differ
            tm.weight_orig.sub_(0.1 * tm.weight_orig.grad)
        pm.load_state_dict(tm.state_dict())


def test_spectral_norm_eval_does_not_update_u_v():
    tm, pm, shape = _sn_pair("linear", "cpu")
    tm.eval()
    pm.eval()
    u0, v0 = _np(pm.weight_u).copy(), _np(pm.weight_v).copy()
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    for _ in range(2):
        tm.zero_grad()
        pm.zero_grad()
        _run(tm, pm, x, "cpu")
        _close(tm.weight_orig.grad, pm.weight_orig.grad, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(_np(pm.weight_u), u0)
    np.testing.assert_array_equal(_np(pm.weight_v), v0)
    _close(tm.weight_u, pm.weight_u)


def test_spectral_norm_sigma_converges_to_the_largest_singular_value():
    m = spectral_norm(nn.Linear(6, 4), n_power_iterations=50)
    m(pydlk.randn(2, 6))
    s = np.linalg.svd(_np(m.weight), compute_uv=False)
    np.testing.assert_allclose(s[0], 1.0, rtol=1e-4)


def test_remove_spectral_norm_restores_a_plain_weight():
    tm, pm, shape = _sn_pair("conv2d", "cpu")
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    _run(tm, pm, x, "cpu")
    torch.nn.utils.remove_spectral_norm(tm)
    assert remove_spectral_norm(pm) is pm
    assert set(pm.state_dict()) == set(tm.state_dict()) == {"weight", "bias"}
    assert not list(pm.buffers())
    assert isinstance(pm.weight, nn.Parameter)
    _close(tm.weight, pm.weight)
    with pytest.raises(ValueError):
        remove_spectral_norm(pm)


def test_spectral_norm_argument_errors():
    with pytest.raises(ValueError):
        spectral_norm(nn.Linear(3, 2), n_power_iterations=0)
    m = spectral_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError):
        spectral_norm(m)
    assert spectral_norm(nn.ConvTranspose2d(2, 3, 3))._forward_pre_hooks
    h = next(iter(spectral_norm(nn.ConvTranspose2d(2, 3, 3))._forward_pre_hooks.values()))
    assert h.dim == 1
