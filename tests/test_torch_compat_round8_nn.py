"""Eighth round of torch.nn / torch.optim pieces, with torch 2.x as the oracle and a value worked
out in each test: LayerNorm's and GroupNorm's reset_parameters, optim.ASGD (several steps,
state dicts both ways, schedulers, pydlk.save), MaxUnpool3d, LPPool3d and FractionalMaxPool3d
(and their functional forms), AdaptiveLogSoftmaxWithLoss (torch's state dicts load) and
MultiheadAttention called with bare arrays. The ``test_gpu_*`` tests run the layers on CuPy
arrays against the CPU (on a GPU, or under tools/run_cuda_tests_on_host.py)."""

import inspect
import math
import warnings

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
import pydlk.functional as F
from pydlk import nn

torch = pytest.importorskip("torch")


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return host(t.detach())
    return t.detach().numpy()


# ----------------------------------------------------------------------------- reset_parameters


def test_every_torch_layer_with_reset_parameters_has_it():
    missing = []
    for name in dir(torch.nn):
        cls = getattr(torch.nn, name)
        if not (inspect.isclass(cls) and issubclass(cls, torch.nn.Module)):
            continue
        if hasattr(nn, name) and hasattr(cls, "reset_parameters"):
            if not hasattr(getattr(nn, name), "reset_parameters"):
                missing.append(name)
    assert missing == []


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.LayerNorm((3, 4)),
        lambda m: m.LayerNorm(5, bias=False),
        lambda m: m.LayerNorm(5, elementwise_affine=False),
        lambda m: m.GroupNorm(2, 6),
        lambda m: m.GroupNorm(3, 6, bias=False),
        lambda m: m.GroupNorm(3, 6, affine=False),
    ],
)
def test_norm_reset_parameters_restores_torchs_initial_values(make):
    p, t = make(nn), make(torch.nn)
    with pydlk.no_grad():
        for q in p.parameters():
            q.uniform_(-3, 3)
    p.reset_parameters()
    t.reset_parameters()
    ps, ts = p.state_dict(), t.state_dict()
    assert list(ps) == list(ts)
    for k in ps:
        np.testing.assert_array_equal(_np(ps[k]), ts[k].numpy())
    # the textbook start: scale one, shift zero
    if getattr(p, "weight", None) is not None:
        assert (_np(p.weight) == 1).all()
    if getattr(p, "bias", None) is not None:
        assert (_np(p.bias) == 0).all()


def test_layer_norm_subclass_reset_parameters_runs_in_the_constructor():
    class Half(nn.LayerNorm):
        def reset_parameters(self):
            if self.elementwise_affine:
                self.weight.data.fill_(0.5)

    assert (_np(Half(3).weight) == 0.5).all()


# ----------------------------------------------------------------------------- ASGD

_ASGD_KW = [
    {},
    {"lr": 0.1, "lambd": 0.01, "alpha": 0.5, "t0": 2, "weight_decay": 0.1},
    {"lr": 0.05, "t0": 0, "maximize": True},
    {"lr": 0.2, "lambd": 0.3, "alpha": 1.0, "t0": 3.5, "foreach": False, "capturable": False},
]


def _asgd_pair(rng, dtype, kw):
    w0 = rng.standard_normal((3, 4)).astype(dtype)
    b0 = rng.standard_normal(4).astype(dtype)
    tp = [torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)]
    pp = [nn.Parameter(w0.copy()), nn.Parameter(b0.copy())]
    return tp, pp, torch.optim.ASGD(tp, **kw), pydlk.optim.ASGD(pp, **kw)


def _steps(rng, tp, pp, to, po, n):
    for _ in range(n):
        for t, p in zip(tp, pp):
            g = rng.standard_normal(tuple(t.shape)).astype(_np(p).dtype)
            t.grad, p.grad = torch.tensor(g), pydlk.tensor(g)
        to.step()
        po.step()


def _tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", _ASGD_KW, ids=range(len(_ASGD_KW)))
def test_asgd_several_steps_and_state_match_torch(rng, kw, dtype):
    tp, pp, to, po = _asgd_pair(rng, dtype, kw)
    _steps(rng, tp, pp, to, po, 7)
    for t, p in zip(tp, pp):
        np.testing.assert_allclose(_np(p), _np(t), **_tol(dtype))
    ts, ps = to.state_dict(), po.state_dict()
    for i in (0, 1):
        assert list(ps["state"][i]) == list(ts["state"][i]) == ["step", "eta", "mu", "ax"]
        assert ps["state"][i]["step"] == int(ts["state"][i]["step"]) == 7
        for k in ("eta", "mu"):
            assert ps["state"][i][k].shape == ()
            assert float(ps["state"][i][k]) == float(ts["state"][i][k])
        np.testing.assert_allclose(
            _np(ps["state"][i]["ax"]), _np(ts["state"][i]["ax"]), **_tol(dtype)
        )
        assert po.state[pp[i]]["ax"].shape == pp[i].shape
    for k in ("lr", "lambd", "alpha", "t0", "weight_decay", "maximize", "foreach"):
        assert ps["param_groups"][0][k] == ts["param_groups"][0][k]


def test_asgd_defaults_and_positional_arguments_are_torchs():
    sig_p = inspect.signature(pydlk.optim.ASGD)
    sig_t = inspect.signature(torch.optim.ASGD)
    tp = list(sig_t.parameters)
    assert list(sig_p.parameters)[: len(tp)] == tp
    for name in tp[1:]:
        assert sig_p.parameters[name].default == sig_t.parameters[name].default
    assert "ASGD" in pydlk.optim.__all__


def test_asgd_steps_by_the_formula():
    """Polyak averaging worked in float64: eta_t = lr / (1 + lambd lr t)^alpha, mu_t =
    1 / max(1, t - t0), p <- p (1 - lambd eta) - eta (g + wd p), ax <- ax + mu (p - ax)."""
    pydlk.set_default_dtype(np.float64)  # eta and mu then float64, as torch's scalar dtype
    try:
        lr, lambd, alpha, t0, wd = 0.3, 0.2, 0.75, 1, 0.05
        p0 = np.array([1.0, -2.0, 0.5])
        p = nn.Parameter(p0.copy())
        opt = pydlk.optim.ASGD([p], lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=wd)
        ref, ax, eta, mu = p0.copy(), np.zeros(3), lr, 1.0
        grads = [np.array([0.3, -1.0, 2.0]), np.array([1.0, 0.5, -0.25]), np.array([-2, 1, 0.1])]
        for t, g in enumerate(grads, start=1):
            p.grad = pydlk.tensor(g)
            opt.step()
            ref = ref * (1 - lambd * eta) - eta * (g + wd * ref)
            ax = ref.copy() if mu == 1 else ax + mu * (ref - ax)
            eta, mu = lr / (1 + lambd * lr * t) ** alpha, 1 / max(1, t - t0)
        np.testing.assert_allclose(_np(p), ref, rtol=1e-14)
        st = opt.state[p]
        np.testing.assert_allclose(_np(st["ax"]), ax, rtol=1e-14)
        # after three steps: eta = 0.3 / 1.18 ** 0.75, mu = 1 / (3 - 1)
        assert float(st["eta"]) == pytest.approx(0.3 / 1.18**0.75, rel=1e-15)
        assert float(st["mu"]) == 0.5
        # the first step, by hand: p1 = p0 (1 - 0.2 * 0.3) - 0.3 (g + 0.05 p0)
        p1 = p0 * 0.94 - 0.3 * (grads[0] + 0.05 * p0)
        assert p1[0] == pytest.approx(1.0 * 0.94 - 0.3 * (0.3 + 0.05))
    finally:
        pydlk.set_default_dtype(np.float32)


def test_asgd_state_dict_round_trips_with_torch_both_ways(rng):
    kw = {"lr": 0.1, "lambd": 0.01, "alpha": 0.5, "t0": 2, "weight_decay": 0.1}
    tp, pp, to, po = _asgd_pair(rng, np.float64, kw)
    _steps(rng, tp, pp, to, po, 4)
    # torch's state into a fresh pydlk optimiser, pydlk's into a fresh torch one
    pp2 = [nn.Parameter(_np(t).copy()) for t in tp]
    tp2 = [torch.tensor(_np(p).copy(), requires_grad=True) for p in pp]
    po2 = pydlk.optim.ASGD(pp2, **kw)
    po2.load_state_dict(to.state_dict())
    to2 = torch.optim.ASGD(tp2, **kw)
    sd = po.state_dict()
    to2.load_state_dict(
        {
            "state": {
                i: {
                    k: torch.tensor(float(v), dtype=torch.float32)
                    if k == "step"
                    else torch.from_numpy(_np(v).copy())
                    for k, v in st.items()
                }
                for i, st in sd["state"].items()
            },
            "param_groups": sd["param_groups"],
        }
    )
    for _ in range(3):
        for a, b, c, d in zip(tp, pp, tp2, pp2):
            g = rng.standard_normal(tuple(a.shape))
            a.grad, c.grad = torch.tensor(g), torch.tensor(g)
            b.grad, d.grad = pydlk.tensor(g), pydlk.tensor(g)
        for o in (to, po, to2, po2):
            o.step()
    for a, b, c, d in zip(tp, pp, tp2, pp2):
        np.testing.assert_allclose(_np(b), _np(a), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(_np(d), _np(a), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(_np(c), _np(a), rtol=1e-12, atol=1e-13)
    assert po2.state_dict()["state"][0]["step"] == 7


def test_asgd_state_survives_save_and_load(tmp_path, rng):
    p = nn.Parameter(rng.standard_normal(5).astype(np.float32))
    opt = pydlk.optim.ASGD([p], lr=0.1, t0=0)
    for _ in range(3):
        p.grad = pydlk.tensor(rng.standard_normal(5).astype(np.float32))
        opt.step()
    pydlk.save(opt.state_dict(), tmp_path / "asgd.pt")
    q = nn.Parameter(_np(p).copy())
    opt2 = pydlk.optim.ASGD([q], lr=0.1, t0=0)
    opt2.load_state_dict(pydlk.load(tmp_path / "asgd.pt"))
    assert float(opt2.state[q]["mu"]) == pytest.approx(1 / 3)
    g = rng.standard_normal(5).astype(np.float32)
    p.grad, q.grad = pydlk.tensor(g), pydlk.tensor(g)
    opt.step()
    opt2.step()
    np.testing.assert_array_equal(_np(p), _np(q))
    np.testing.assert_array_equal(_np(opt.state[p]["ax"]), _np(opt2.state[q]["ax"]))
    opt2.state = {}  # a reset, as scripts write it: eta back to lr, mu to 1
    assert float(opt2.state[q]["eta"]) == pytest.approx(0.1) and float(opt2.state[q]["mu"]) == 1


def test_asgd_with_a_scheduler_matches_torch(rng):
    kw = {"lr": 0.2, "lambd": 0.05, "t0": 3}
    tp, pp, to, po = _asgd_pair(rng, np.float64, kw)
    ts = torch.optim.lr_scheduler.StepLR(to, step_size=2, gamma=0.5)
    ps = pydlk.optim.lr_scheduler.StepLR(po, step_size=2, gamma=0.5)
    for _ in range(6):
        _steps(rng, tp, pp, to, po, 1)
        ts.step()
        ps.step()
    assert po.param_groups[0]["lr"] == to.param_groups[0]["lr"] == 0.2 * 0.5**3
    for t, p in zip(tp, pp):
        np.testing.assert_allclose(_np(p), _np(t), rtol=1e-12, atol=1e-13)
    assert float(po.state[pp[0]]["eta"]) == float(to.state[tp[0]]["eta"])


@pytest.mark.parametrize("kw", [{"lr": -0.1}, {"weight_decay": -1.0}])
def test_asgd_bad_arguments_raise_as_torch(kw):
    with pytest.raises(ValueError) as t_err:
        torch.optim.ASGD([torch.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError) as p_err:
        pydlk.optim.ASGD([nn.Parameter(np.zeros(2, np.float32))], **kw)
    assert str(p_err.value) == str(t_err.value)


# ----------------------------------------------------------------------------- MaxUnpool3d


def test_max_unpool3d_inverts_max_pool3d_as_torch(rng):
    x = rng.standard_normal((2, 3, 7, 5, 7))
    to, ti = torch.nn.functional.max_pool3d(torch.tensor(x), 2, return_indices=True)
    po, pi = F.max_pool3d(pydlk.tensor(x), 2, return_indices=True)
    u = rng.standard_normal(tuple(to.shape))
    tu, pu = torch.tensor(u, requires_grad=True), pydlk.tensor(u, requires_grad=True)
    a = torch.nn.MaxUnpool3d(2)(tu, ti, output_size=x.shape)
    b = nn.MaxUnpool3d(2)(pu, pi, output_size=x.shape)
    assert b.shape == a.shape == x.shape
    np.testing.assert_array_equal(_np(b), _np(a))
    w = rng.standard_normal(x.shape)
    (a * torch.tensor(w)).sum().backward()
    (b * pydlk.tensor(w)).sum().backward()
    np.testing.assert_array_equal(_np(pu.grad), _np(tu.grad))
    # unbatched, with stride and padding, and the default output size
    to, ti = torch.nn.functional.max_pool3d(torch.tensor(x[0]), 3, 2, 1, return_indices=True)
    po, pi = F.max_pool3d(pydlk.tensor(x[0]), 3, 2, 1, return_indices=True)
    a = torch.nn.functional.max_unpool3d(to, ti, 3, 2, 1)
    b = F.max_unpool3d(po, pi, 3, 2, 1)
    assert tuple(b.shape) == tuple(a.shape) == (3, 7, 5, 7)  # (4 - 1) * 2 - 2 + 3 = 7, ...
    np.testing.assert_array_equal(_np(b), _np(a))
    assert repr(nn.MaxUnpool3d(2, 1, 1)) == repr(torch.nn.MaxUnpool3d(2, 1, 1))


def test_max_unpool3d_by_hand():
    """Each value lands at its flat index d*H*W + h*W + w of a zero volume."""
    v = np.array([[[[[5.0]]], [[[7.0]]]]])  # (1, 2, 1, 1, 1)
    idx = np.array([[[[[6]]], [[[1]]]]])  # (d, h, w) = (1, 1, 0) and (0, 0, 1) in 2x2x2
    out = _np(F.max_unpool3d(pydlk.tensor(v), pydlk.tensor(idx), 2))
    want = np.zeros((1, 2, 2, 2, 2))
    want[0, 0, 1, 1, 0], want[0, 1, 0, 0, 1] = 5.0, 7.0
    np.testing.assert_array_equal(out, want)


def test_max_unpool3d_bad_input():
    with pytest.raises(ValueError, match="max_unpool3d"):
        F.max_unpool3d(pydlk.zeros(2, 2, 2), pydlk.zeros(2, 2, 2, dtype=pydlk.int64), 2)
    with pytest.raises(RuntimeError, match="invalid max index"):
        F.max_unpool3d(pydlk.ones(1, 1, 1, 1), pydlk.tensor([[[[8]]]]), 2)


# ----------------------------------------------------------------------------- LPPool3d


@pytest.mark.parametrize(
    "p, k, s, ceil", [(2, 2, None, False), (3, (2, 3, 2), (1, 2, 2), True), (1.5, 3, 2, False)]
)
def test_lp_pool3d_matches_torch(rng, p, k, s, ceil):
    x = np.abs(rng.standard_normal((2, 3, 6, 7, 8))) + 0.1
    tx, px = torch.tensor(x, requires_grad=True), pydlk.tensor(x, requires_grad=True)
    a, b = torch.nn.LPPool3d(p, k, s, ceil)(tx), nn.LPPool3d(p, k, s, ceil)(px)
    assert b.shape == a.shape
    np.testing.assert_allclose(_np(b), _np(a), rtol=1e-12)
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(_np(px.grad), _np(tx.grad), rtol=1e-10, atol=1e-12)
    assert repr(nn.LPPool3d(p, k, s, ceil)) == repr(torch.nn.LPPool3d(p, k, s, ceil))
    # unbatched input, as torch takes it
    np.testing.assert_allclose(
        _np(F.lp_pool3d(px[0], p, k, s, ceil)),
        _np(torch.nn.functional.lp_pool3d(tx[0], p, k, s, ceil)),
        rtol=1e-12,
    )


def test_lp_pool3d_by_hand():
    """p = 2 is the Euclidean norm of each window; p = 1 the window's sum."""
    x = np.arange(1.0, 9.0).reshape(1, 1, 2, 2, 2)
    assert float(F.lp_pool3d(pydlk.tensor(x), 2, 2).reshape(())) == pytest.approx(
        math.sqrt(sum(v * v for v in range(1, 9))), rel=1e-14
    )
    assert float(F.lp_pool3d(pydlk.tensor(x), 1, 2).reshape(())) == pytest.approx(36.0)


# ----------------------------------------------------------------------------- FractionalMaxPool3d


@pytest.mark.parametrize(
    "shape, k, kw",
    [
        ((2, 3, 7, 9, 11), 2, {"output_size": (4, 5, 6)}),
        ((3, 6, 8, 7), (2, 3, 2), {"output_ratio": (0.5, 0.6, 0.7)}),
        ((2, 2, 5, 5, 5), 1, {"output_size": 4}),
        ((1, 2, 6, 6, 6), 2, {"output_ratio": 0.5}),
    ],
)
def test_fractional_max_pool3d_matches_torch(rng, shape, k, kw):
    x = rng.standard_normal(shape)
    n = 1 if len(shape) == 4 else shape[0]
    samples = rng.random((n, shape[-4], 3))
    tx, px = torch.tensor(x, requires_grad=True), pydlk.tensor(x, requires_grad=True)
    a, ai = torch.nn.functional.fractional_max_pool3d(
        tx, k, return_indices=True, _random_samples=torch.tensor(samples), **kw
    )
    b, bi = F.fractional_max_pool3d(px, k, return_indices=True, _random_samples=samples, **kw)
    np.testing.assert_array_equal(_np(bi), _np(ai))
    np.testing.assert_array_equal(_np(b), _np(a))
    w = rng.standard_normal(tuple(a.shape))
    (a * torch.tensor(w)).sum().backward()
    (b * pydlk.tensor(w)).sum().backward()
    np.testing.assert_allclose(_np(px.grad), _np(tx.grad), rtol=1e-14)
    # the module, with its samples as a buffer as torch's, and the indices MaxUnpool3d takes
    tm = torch.nn.FractionalMaxPool3d(
        k, return_indices=True, _random_samples=torch.tensor(samples), **kw
    )
    pm = nn.FractionalMaxPool3d(k, return_indices=True, _random_samples=pydlk.tensor(samples), **kw)
    assert list(pm.state_dict()) == list(tm.state_dict()) == ["_random_samples"]
    assert (pm.kernel_size, pm.output_size, pm.output_ratio) == (
        tm.kernel_size,
        tm.output_size,
        tm.output_ratio,
    )
    assert repr(pm) == repr(tm)
    np.testing.assert_array_equal(_np(pm(px)[1]), _np(ai))


def test_fractional_max_pool3d_windows_by_hand():
    """Window starts int((i + u) * alpha) - int(u * alpha), alpha = (in - k) / (out - 1), the
    last flush with the end: over an increasing input each window's maximum is its last
    element. With u = 0: T = 7, out 4, k 2 -> alpha 5/3, starts 0, 1, 3, 5; H = 9, out 4 ->
    alpha 7/3, starts 0, 2, 4, 7; W = 11, out 3 -> alpha 4.5, starts 0, 4, 9."""
    x = np.arange(7 * 9 * 11, dtype=np.float64).reshape(1, 1, 7, 9, 11)
    out, idx = F.fractional_max_pool3d(
        pydlk.tensor(x), 2, (4, 4, 3), return_indices=True, _random_samples=np.zeros((1, 1, 3))
    )
    t, h, w = np.array([0, 1, 3, 5]) + 1, np.array([0, 2, 4, 7]) + 1, np.array([0, 4, 9]) + 1
    want = t[:, None, None] * 99 + h[None, :, None] * 11 + w[None, None, :]
    np.testing.assert_array_equal(_np(idx)[0, 0], want)
    np.testing.assert_array_equal(_np(out)[0, 0], want.astype(np.float64))


def test_fractional_max_pool3d_draws_and_checks(rng):
    pydlk.manual_seed(0)
    x = pydlk.tensor(rng.standard_normal((2, 3, 8, 8, 8)).astype(np.float32))
    y = nn.FractionalMaxPool3d(3, output_ratio=0.5)(x)
    assert y.shape == (2, 3, 4, 4, 4) and y.dtype == pydlk.float32
    with pytest.raises(ValueError, match="output_size or an output_ratio"):
        F.fractional_max_pool3d(x, 2)
    with pytest.raises(ValueError, match="too large"):
        F.fractional_max_pool3d(x, 2, output_size=7)  # torch needs out + k - 1 < in in 3-D
    with pytest.raises(ValueError, match="_random_samples"):
        F.fractional_max_pool3d(x, 2, output_size=4, _random_samples=np.zeros((2, 3, 2)))
    for kw in ({}, {"output_size": 2, "output_ratio": 0.5}, {"output_ratio": 1.5}):
        with pytest.raises(ValueError):
            nn.FractionalMaxPool3d(2, **kw)
    with pytest.raises(ValueError, match="kernel_size must be greater than 0"):
        nn.FractionalMaxPool3d(0, output_size=2)


# ----------------------------------------------------------------------------- AdaptiveLogSoftmax


def _asm_pair(head_bias, div_value=2.0):
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [4, 10, 15], div_value, head_bias).double()
    pm = nn.AdaptiveLogSoftmaxWithLoss(
        16, 20, [4, 10, 15], div_value=div_value, head_bias=head_bias, dtype=np.float64
    )
    assert list(pm.state_dict()) == list(tm.state_dict())
    pm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    return tm, pm


@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_log_softmax_matches_torch(rng, head_bias):
    tm, pm = _asm_pair(head_bias)
    assert repr(pm) == repr(tm)
    x, t = rng.standard_normal((9, 16)), np.array([0, 3, 4, 9, 10, 14, 15, 19, 2])
    tx, px = torch.tensor(x, requires_grad=True), pydlk.tensor(x, requires_grad=True)
    a, b = tm(tx, torch.tensor(t)), pm(px, pydlk.tensor(t))
    assert type(b).__name__ == "_ASMoutput" and b._fields == ("output", "loss")
    np.testing.assert_allclose(_np(b.output), _np(a.output), rtol=1e-12)
    assert float(b.loss) == pytest.approx(float(a.loss.detach()), rel=1e-12)
    a.loss.backward()
    b.loss.backward()
    np.testing.assert_allclose(_np(px.grad), _np(tx.grad), rtol=1e-10, atol=1e-14)
    for (name, q), r in zip(pm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(_np(q.grad), _np(r.grad), rtol=1e-10, atol=1e-14, err_msg=name)
    lp = _np(pm.log_prob(x))
    np.testing.assert_allclose(lp, _np(tm.log_prob(tx)), rtol=1e-12)
    np.testing.assert_array_equal(_np(pm.predict(x)), _np(tm.predict(tx)))
    # one example with a 0-d target, as torch takes it
    a0, b0 = tm(tx[3], torch.tensor(9)), pm(x[3], np.array(9))
    assert b0.output.shape == ()
    assert float(b0.output) == pytest.approx(float(a0.output.detach()), rel=1e-12)
    # textbook: a distribution over all classes, and the output is the target's log-probability
    np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(_np(b.output), lp[np.arange(9), t], rtol=1e-12)


def test_adaptive_log_softmax_by_the_formula(rng):
    """log p(c) = head log-softmax for c < cutoff; for c in cluster i, head's log-probability of
    the cluster plus the cluster's log-softmax of x W1^T W2^T."""
    m = nn.AdaptiveLogSoftmaxWithLoss(4, 5, [2], div_value=2.0, head_bias=True, dtype=np.float64)
    x = rng.standard_normal((3, 4))

    def log_softmax(z):
        return z - np.log(np.exp(z).sum(1, keepdims=True))

    head = log_softmax(x @ _np(m.head.weight).T + _np(m.head.bias))  # 2 classes + 1 cluster
    w1, w2 = _np(m.tail[0][0].weight), _np(m.tail[0][1].weight)
    assert w1.shape == (2, 4) and w2.shape == (3, 2)  # 4 // 2 hidden, classes 2..4
    want = np.concatenate([head[:, :2], log_softmax(x @ w1.T @ w2.T) + head[:, 2:3]], axis=1)
    np.testing.assert_allclose(_np(m.log_prob(x)), want, rtol=1e-12)
    out = m(x, np.array([0, 3, 4]))
    np.testing.assert_allclose(_np(out.output), want[[0, 1, 2], [0, 3, 4]], rtol=1e-12)
    assert float(out.loss) == pytest.approx(-want[[0, 1, 2], [0, 3, 4]].mean(), rel=1e-12)
    np.testing.assert_array_equal(_np(m.predict(x)), want.argmax(1))


def test_adaptive_log_softmax_with_a_zero_width_cluster_matches_torch(rng):
    """8 // 4 ** 2 = 0: the second cluster's projection has no hidden units, so its classes
    get the uniform log(1/5) under the cluster's head log-probability, as in torch."""
    with warnings.catch_warnings():  # torch: "Initializing zero-element tensors is a no-op"
        warnings.simplefilter("ignore", UserWarning)
        tm = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 12, [3, 7]).double()
    pm = nn.AdaptiveLogSoftmaxWithLoss(8, 12, [3, 7], dtype=np.float64)
    pm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x, t = rng.standard_normal((5, 8)), np.array([0, 4, 11, 8, 2])
    tx, px = torch.tensor(x, requires_grad=True), pydlk.tensor(x, requires_grad=True)
    a, b = tm(tx, torch.tensor(t)), pm(px, t)
    np.testing.assert_allclose(_np(b.output), _np(a.output), rtol=1e-12)
    a.loss.backward()
    b.loss.backward()
    np.testing.assert_allclose(_np(px.grad), _np(tx.grad), rtol=1e-10, atol=1e-14)
    lp = _np(pm.log_prob(x))
    head = _np(pm.head(x))
    head = head - np.log(np.exp(head).sum(1, keepdims=True))
    np.testing.assert_allclose(lp[:, 7:], np.repeat(head[:, 4:5] + np.log(1 / 5), 5, 1), rtol=1e-12)


def test_linear_with_zero_width_input_is_its_bias():
    lin = nn.Linear(0, 3)
    x = pydlk.zeros(2, 4, 0, requires_grad=True)
    y = lin(x)
    assert y.shape == (2, 4, 3)
    np.testing.assert_array_equal(_np(y), np.broadcast_to(_np(lin.bias), (2, 4, 3)))
    y.sum().backward()
    np.testing.assert_array_equal(_np(lin.bias.grad), [8.0, 8.0, 8.0])
    assert x.grad.shape == (2, 4, 0) and lin.weight.grad.shape == (3, 0)


def test_adaptive_log_softmax_checks_as_torch():
    for cutoffs in ([], [5, 3], [0, 3], [3, 20], [3, 3]):
        with pytest.raises(ValueError, match="cutoffs"):
            nn.AdaptiveLogSoftmaxWithLoss(8, 20, cutoffs)
    m = nn.AdaptiveLogSoftmaxWithLoss(8, 20, [4, 10])
    with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 19\]"):
        m(pydlk.zeros(2, 8), pydlk.tensor([1, 20]))
    with pytest.raises(RuntimeError, match="same size in the batch dimension"):
        m(pydlk.zeros(3, 8), pydlk.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="multi-target not supported"):
        m(pydlk.zeros(2, 8), pydlk.zeros(2, 2, dtype=pydlk.int64))
    before = [_np(p).copy() for p in m.parameters()]
    m.reset_parameters()  # Linear's redraw (tail.1's projection is 8 // 16 = 0 wide: empty)
    assert [tuple(p.shape) for p in m.parameters()][-2:] == [(0, 8), (10, 0)]
    assert all(not np.array_equal(b, _np(p)) for b, p in zip(before, m.parameters()) if b.size)


# ----------------------------------------------------------------------------- MultiheadAttention


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_takes_bare_arrays(rng, batch_first):
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first).double()
    pm = nn.MultiheadAttention(8, 2, batch_first=batch_first, dtype=np.float64)
    pm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    q, kv = rng.standard_normal((3, 2, 8)), rng.standard_normal((4, 2, 8))
    if batch_first:
        q, kv = q.transpose(1, 0, 2), kv.transpose(1, 0, 2)
    out, w = pm(q, kv, kv)  # NumPy arrays, as every other layer takes them
    tout, tw = tm(torch.tensor(q), torch.tensor(kv), torch.tensor(kv))
    np.testing.assert_allclose(_np(out), _np(tout), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(_np(w), _np(tw), rtol=1e-12, atol=1e-14)
    out2, _ = pm(pydlk.tensor(q), pydlk.tensor(kv), pydlk.tensor(kv))
    np.testing.assert_array_equal(_np(out), _np(out2))
    # unbatched arrays, and the attention weights of one query row sum to one
    q1, kv1 = (q[0], kv[0]) if batch_first else (q[:, 0], kv[:, 0])
    o1, w1 = pm(q1, kv1, kv1)
    assert o1.shape == (3, 8) and w1.shape == (3, 4)
    np.testing.assert_allclose(_np(w1).sum(-1), 1.0, rtol=1e-12)


# ----------------------------------------------------------------------------- on the GPU


def _gpu_pair(cp, rng, shape):
    v = rng.standard_normal(shape).astype(np.float32)
    return pydlk.tensor(v, requires_grad=True), pydlk.tensor(cp.asarray(v), requires_grad=True)


def test_gpu_3d_unpool_and_lp_pool_match_the_cpu(rng):
    cp = cupy_or_skip()
    xc, xg = _gpu_pair(cp, rng, (2, 3, 6, 6, 8))
    (yc, ic), (yg, ig) = (F.max_pool3d(x, 2, return_indices=True) for x in (xc, xg))
    uc = nn.MaxUnpool3d(2)(yc, ic)
    ug = nn.MaxUnpool3d(2)(yg, ig)
    assert str(ug.device) == "cuda:0"
    np.testing.assert_array_equal(host(ug), host(uc))
    (uc * uc).sum().backward()
    (ug * ug).sum().backward()
    np.testing.assert_allclose(host(xg.grad), host(xc.grad), rtol=1e-6)
    pc, pg = _gpu_pair(cp, rng, (2, 3, 6, 6, 8))
    lc, lg = nn.LPPool3d(2, 2)(pc), nn.LPPool3d(2, 2)(pg)
    assert str(lg.device) == "cuda:0"
    np.testing.assert_allclose(host(lg), host(lc), rtol=1e-5)
    lc.sum().backward()
    lg.sum().backward()
    np.testing.assert_allclose(host(pg.grad), host(pc.grad), rtol=1e-5, atol=1e-6)
    # the first window's L2 norm, by hand
    w = host(pc)[0, 0, :2, :2, :2]
    assert host(lg)[0, 0, 0, 0, 0] == pytest.approx(float(np.sqrt((w * w).sum())), rel=1e-5)


def test_gpu_fractional_max_pool3d_matches_the_cpu(rng):
    cp = cupy_or_skip()
    xc, xg = _gpu_pair(cp, rng, (2, 3, 7, 9, 11))
    s = rng.random((2, 3, 3)).astype(np.float32)
    yc, ic = F.fractional_max_pool3d(xc, 2, (4, 5, 6), return_indices=True, _random_samples=s)
    yg, ig = F.fractional_max_pool3d(
        xg, 2, (4, 5, 6), return_indices=True, _random_samples=cp.asarray(s)
    )
    assert str(yg.device) == "cuda:0"
    np.testing.assert_array_equal(host(ig), host(ic))
    np.testing.assert_array_equal(host(yg), host(yc))
    yc.sum().backward()
    yg.sum().backward()
    np.testing.assert_array_equal(host(xg.grad), host(xc.grad))
    # the values are the input at the indices; drawn samples run on the device too
    flat = host(xc).reshape(2, 3, -1)
    np.testing.assert_array_equal(
        host(yc).reshape(2, 3, -1), np.take_along_axis(flat, host(ic).reshape(2, 3, -1), 2)
    )
    yd = nn.FractionalMaxPool3d(2, output_ratio=0.5)(xg)
    assert str(yd.device) == "cuda:0" and yd.shape == (2, 3, 3, 4, 5)


def test_gpu_adaptive_log_softmax_and_attention_on_arrays_match_the_cpu(rng):
    cp = cupy_or_skip()
    pydlk.manual_seed(0)
    mc = nn.AdaptiveLogSoftmaxWithLoss(8, 12, [3, 7])
    mg = nn.AdaptiveLogSoftmaxWithLoss(8, 12, [3, 7]).cuda()
    mg.load_state_dict(mc.state_dict())
    x = rng.standard_normal((6, 8)).astype(np.float32)
    t = np.array([0, 4, 11, 2, 8, 5])
    oc, og = mc(x, t), mg(cp.asarray(x), cp.asarray(t))
    assert str(og.output.device) == "cuda:0"
    np.testing.assert_allclose(host(og.output), host(oc.output), rtol=1e-5, atol=1e-6)
    oc.loss.backward()
    og.loss.backward()
    for a, b in zip(mc.parameters(), mg.parameters()):
        np.testing.assert_allclose(host(b.grad), host(a.grad), rtol=1e-4, atol=1e-6)
    lp = host(mg.log_prob(cp.asarray(x)))
    np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(host(mg.predict(cp.asarray(x))), lp.argmax(1))
    ac = nn.MultiheadAttention(8, 2)
    ag = nn.MultiheadAttention(8, 2).cuda()
    ag.load_state_dict(ac.state_dict())
    q = rng.standard_normal((3, 2, 8)).astype(np.float32)
    (yc, _), (yg, wg) = ac(q, q, q), ag(cp.asarray(q), cp.asarray(q), cp.asarray(q))
    assert str(yg.device) == "cuda:0"
    np.testing.assert_allclose(host(yg), host(yc), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(wg).sum(-1), 1.0, rtol=1e-5)


def test_gpu_asgd_steps_as_on_the_cpu(rng):
    cp = cupy_or_skip()
    v = rng.standard_normal((4, 3)).astype(np.float32)
    pc, pg = nn.Parameter(v.copy()), nn.Parameter(cp.asarray(v))
    kw = {"lr": 0.1, "lambd": 0.01, "t0": 1, "weight_decay": 0.1}
    oc, og = pydlk.optim.ASGD([pc], **kw), pydlk.optim.ASGD([pg], **kw)
    for _ in range(4):
        g = rng.standard_normal((4, 3)).astype(np.float32)
        pc.grad, pg.grad = pydlk.tensor(g), pydlk.tensor(cp.asarray(g))
        oc.step()
        og.step()
    np.testing.assert_allclose(host(pg), host(pc), rtol=1e-6, atol=1e-7)
    sd = og.state_dict()["state"][0]
    assert str(sd["ax"].device) == "cuda:0" and str(sd["eta"].device) == "cuda:0"
    np.testing.assert_allclose(host(sd["ax"]), host(oc.state[pc]["ax"]), rtol=1e-6, atol=1e-7)
    # mu after four steps with t0 = 1: 1 / (4 - 1)
    assert float(host(sd["mu"])) == pytest.approx(1 / 3, rel=1e-6)
