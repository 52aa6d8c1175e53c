"""optim.Adafactor and optim.Muon against torch 2.x: several steps on matrices, vectors,
3-D and 0-d parameters, state dicts both ways (torch's keys, shapes and step counts), LR
schedulers, parameters without gradients, errors; Adafactor's first step and Muon's
Newton-Schulz iteration worked out in NumPy in the tests. The ``test_gpu_*`` tests step CuPy
parameters against the CPU (on a GPU, or under tools/run_cuda_tests_on_host.py)."""

import inspect

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


def _pair(rng, shapes, dtype, cls, kw):
    w = [rng.standard_normal(s).astype(dtype) for s in shapes]
    tp = [torch.tensor(x, requires_grad=True) for x in w]
    pp = [nn.Parameter(x.copy()) for x in w]
    return tp, pp, getattr(torch.optim, cls)(tp, **kw), getattr(pydlk.optim, cls)(pp, **kw)


def _grads(rng, tp, pp):
    for t, p in zip(tp, pp):
        g = rng.standard_normal(tuple(t.shape)).astype(_np(p).dtype)
        t.grad, p.grad = torch.tensor(g), pydlk.tensor(g)


def _torch_sd(sd):
    """A pydlk state dict as torch's optimisers take it (Tensors converted)."""
    return {
        "state": {
            i: {
                k: torch.from_numpy(_np(v).copy()) if isinstance(v, pydlk.Tensor) else v
                for k, v in st.items()
            }
            for i, st in sd["state"].items()
        },
        "param_groups": sd["param_groups"],
    }


# ----------------------------------------------------------------------------- Adafactor

_ADAFACTOR_KW = [
    {},
    {"lr": 0.05, "weight_decay": 0.1, "beta2_decay": -0.5, "d": 2.0, "eps": (1e-20, 1e-3)},
    {"maximize": True, "eps": (1e-30, 0.0), "foreach": True},
    {"lr": 0.3, "beta2_decay": -1.0, "d": 1.0},
]
_SHAPES = [(4, 5), (6,), (2, 3, 4), ()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", _ADAFACTOR_KW, ids=range(len(_ADAFACTOR_KW)))
def test_adafactor_several_steps_and_state_match_torch(rng, kw, dtype):
    tp, pp, to, po = _pair(rng, _SHAPES, dtype, "Adafactor", kw)
    for _ in range(7):
        _grads(rng, tp, pp)
        to.step()
        po.step()
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-14}
    for t, p in zip(tp, pp):
        np.testing.assert_allclose(_np(p), _np(t), **tol)
    ts, ps = to.state_dict(), po.state_dict()
    for i in range(len(_SHAPES)):
        assert list(ps["state"][i]) == list(ts["state"][i])
        assert ps["state"][i]["step"] == int(ts["state"][i]["step"]) == 7
        for k in list(ts["state"][i])[1:]:
            assert tuple(ps["state"][i][k].shape) == tuple(ts["state"][i][k].shape)
            np.testing.assert_allclose(_np(ps["state"][i][k]), _np(ts["state"][i][k]), **tol)
    assert list(ps["state"][0]) == ["step", "row_var", "col_var"]
    assert list(ps["state"][1]) == ["step", "variance"]
    assert tuple(ps["state"][2]["row_var"].shape) == (2, 3, 1)
    assert tuple(ps["state"][2]["col_var"].shape) == (2, 1, 4)
    for k in ("lr", "beta2_decay", "eps", "d", "weight_decay", "maximize", "foreach"):
        assert ps["param_groups"][0][k] == ts["param_groups"][0][k]


def test_adafactor_first_step_by_the_formula():
    """Step 1: beta = 1 ** -0.8 = 1, so row_var = mean(G^2, -1), col_var = mean(G^2, -2),
    V = row_var col_var / mean(row_var), U = G / sqrt(V), rho = min(lr, 1) and
    p -= max(eps2, RMS(p)) rho / max(1, RMS(U)) U (after p *= 1 - lr wd)."""
    lr, wd = 0.02, 0.5
    p0 = np.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]])
    g = np.array([[0.3, -1.0, 2.0], [1.0, 0.5, -0.25]])
    v0 = np.array([0.5, -4.0])
    gv = np.array([2.0, 0.1])
    p, q = nn.Parameter(p0.copy()), nn.Parameter(v0.copy())
    opt = pydlk.optim.Adafactor([p, q], lr=lr, weight_decay=wd)
    p.grad, q.grad = pydlk.tensor(g), pydlk.tensor(gv)
    opt.step()
    row = (g**2).mean(1, keepdims=True)
    col = (g**2).mean(0, keepdims=True)
    u = g / np.sqrt(row @ col / row.mean())
    alpha = max(1e-3, np.sqrt((p0**2).mean())) * lr
    ref = p0 * (1 - lr * wd) - alpha / max(1.0, np.sqrt((u**2).mean())) * u
    np.testing.assert_allclose(_np(p), ref, rtol=1e-14)
    np.testing.assert_allclose(_np(opt.state[p]["row_var"]), row, rtol=1e-15)
    np.testing.assert_allclose(_np(opt.state[p]["col_var"]), col, rtol=1e-15)
    uv = gv / np.abs(gv)  # variance = G^2 at step 1
    alpha_v = max(1e-3, np.sqrt((v0**2).mean())) * lr
    ref_v = v0 * (1 - lr * wd) - alpha_v / max(1.0, np.sqrt((uv**2).mean())) * uv
    np.testing.assert_allclose(_np(q), ref_v, rtol=1e-14)
    assert opt.state[q]["step"] == 1 and list(opt.state[q]) == ["step", "variance"]


def test_adafactor_state_dict_round_trips_with_torch_both_ways(rng):
    kw = {"lr": 0.05, "weight_decay": 0.01}
    tp, pp, to, po = _pair(rng, _SHAPES, np.float64, "Adafactor", kw)
    for _ in range(3):
        _grads(rng, tp, pp)
        to.step()
        po.step()
    pp2 = [nn.Parameter(_np(t).copy()) for t in tp]
    tp2 = [torch.tensor(_np(p).copy(), requires_grad=True) for p in pp]
    po2 = pydlk.optim.Adafactor(pp2, **kw)
    po2.load_state_dict(to.state_dict())
    to2 = torch.optim.Adafactor(tp2, **kw)
    to2.load_state_dict(_torch_sd(po.state_dict()))
    assert po2.state_dict()["state"][0]["step"] == 3 and float(to2.state[tp2[0]]["step"]) == 3
    for _ in range(4):
        gs = [rng.standard_normal(tuple(t.shape)) for t in tp]
        for group in (tp, tp2):
            for t, g in zip(group, gs):
                t.grad = torch.tensor(g)
        for group in (pp, pp2):
            for p, g in zip(group, gs):
                p.grad = pydlk.tensor(g)
        for o in (to, po, to2, po2):
            o.step()
    for a, b, c, d in zip(tp, pp, tp2, pp2):
        np.testing.assert_allclose(_np(b), _np(a), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(_np(c), _np(a), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(_np(d), _np(a), rtol=1e-12, atol=1e-14)


def test_adafactor_skips_parameters_without_gradients_and_works_with_schedulers(rng):
    tp, pp, to, po = _pair(rng, [(3, 4), (4,)], np.float64, "Adafactor", {"lr": 0.2})
    ts = torch.optim.lr_scheduler.CosineAnnealingLR(to, T_max=5)
    ps = pydlk.optim.lr_scheduler.CosineAnnealingLR(po, T_max=5)
    b0 = _np(pp[1]).copy()
    for _ in range(4):
        g = rng.standard_normal((3, 4))
        tp[0].grad, pp[0].grad = torch.tensor(g), pydlk.tensor(g)
        to.step()
        po.step()
        ts.step()
        ps.step()
        to.zero_grad()
        po.zero_grad()
    assert po.param_groups[0]["lr"] == pytest.approx(to.param_groups[0]["lr"], rel=1e-15)
    np.testing.assert_allclose(_np(pp[0]), _np(tp[0]), rtol=1e-12)
    np.testing.assert_array_equal(_np(pp[1]), b0)  # never had a gradient: untouched, no state
    assert pp[1] not in po.state and 1 not in po.state_dict()["state"]
    assert list(po.state_dict()["state"]) == list(to.state_dict()["state"]) == [0]
    po.state = {}
    assert po.state == {}


def test_adafactor_signature_and_errors_match_torch():
    sig_p, sig_t = (
        inspect.signature(pydlk.optim.Adafactor),
        inspect.signature(torch.optim.Adafactor),
    )
    for name, par in sig_t.parameters.items():
        assert sig_p.parameters[name].default == par.default
        assert sig_p.parameters[name].kind == par.kind
    zp = [nn.Parameter(np.zeros(2, np.float32))]
    zt = [torch.zeros(2, requires_grad=True)]
    for kw in (
        {"lr": -1.0},
        {"beta2_decay": 0.5},
        {"eps": (-1.0, 1e-3)},
        {"eps": (None, -1.0)},
        {"d": 0.5},
        {"weight_decay": -0.1},
    ):
        with pytest.raises(ValueError) as t_err:
            torch.optim.Adafactor(zt, **kw)
        with pytest.raises(ValueError) as p_err:
            pydlk.optim.Adafactor(zp, **kw)
        assert str(p_err.value) == str(t_err.value)
    assert {"Adafactor", "Muon"} <= set(pydlk.optim.__all__)


# ----------------------------------------------------------------------------- Muon


def test_muon_newton_schulz_in_bfloat16_matches_torch_and_numpy(rng):
    """The quintic iteration X <- a X + (b A + c A^2) X, A = X X^T, from X = G / |G|_F, each
    result rounded to bfloat16 (ml_dtypes in float64 NumPy here): torch's values."""
    import ml_dtypes
    from torch.optim._muon import _zeropower_via_newtonschulz

    from pydlk.optim.muon import zeropower_via_newtonschulz

    def bf(a):
        return np.asarray(a, np.float32).astype(ml_dtypes.bfloat16).astype(np.float32)

    a, b, c = 3.4445, -4.7750, 2.0315
    for shape in ((6, 4), (4, 6), (16, 16)):
        g = rng.standard_normal(shape).astype(np.float32)
        x = bf(g).T if shape[0] > shape[1] else bf(g)
        x = bf(x / max(bf(np.sqrt((x.astype(np.float64) ** 2).sum())), bf(1e-7)))
        for _ in range(5):
            gram = bf(x @ x.T)
            x = bf(np.float32(a) * x + bf(np.float32(b) * gram + np.float32(c) * gram @ gram) @ x)
        ref = x.T if shape[0] > shape[1] else x
        ours = zeropower_via_newtonschulz(g, (a, b, c), 5, 1e-7)
        theirs = _zeropower_via_newtonschulz(torch.tensor(g), (a, b, c), 5, 1e-7).float()
        np.testing.assert_array_equal(ours, ref)
        np.testing.assert_array_equal(ours, theirs.numpy())
        s = np.linalg.svd(ours.astype(np.float64), compute_uv=False)
        assert 0.5 < s.min() and s.max() < 1.3  # roughly orthogonal, as the iteration intends


def test_muon_bfloat16_rounding_is_torchs(rng):
    """Round to nearest, ties to even, of float32 values (a double goes through float first,
    as torch's): 1 + 2^-8 is a tie and goes to 1, 1 + 3 * 2^-8 goes up to 1 + 2^-6."""
    from pydlk.optim.muon import _bf16

    x = rng.standard_normal(50000) * 10.0 ** rng.integers(-30, 30, 50000)
    x = np.concatenate([x, [1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-30, np.inf, -0.0]])
    ours = _bf16(x.astype(np.float32))
    np.testing.assert_array_equal(ours, torch.tensor(x).bfloat16().float().numpy())
    np.testing.assert_array_equal(ours[-5:], [1.0, 1 + 2**-6, 1.0, np.inf, -0.0])
    assert np.isnan(_bf16(np.array([np.nan], np.float32)))[0]


_MUON_KW = [
    {},
    {"lr": 0.02, "nesterov": False, "momentum": 0.3, "adjust_lr_fn": "match_rms_adamw"},
    {"ns_steps": 3, "weight_decay": 0.0, "adjust_lr_fn": "original", "eps": 1e-5},
    {"lr": 0.01, "ns_coefficients": (2.0, -1.5, 0.5), "momentum": 0.9},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", _MUON_KW, ids=range(len(_MUON_KW)))
def test_muon_several_steps_and_state_match_torch(rng, kw, dtype):
    tp, pp, to, po = _pair(rng, [(8, 5), (5, 8), (24, 16)], dtype, "Muon", kw)
    lr = kw.get("lr", 1e-3)
    for _ in range(5):
        _grads(rng, tp, pp)
        to.step()
        po.step()
    for t, p in zip(tp, pp):
        # an update is lr * O(1) bfloat16 values: equal, or a bfloat16 ulp apart
        np.testing.assert_allclose(_np(p), _np(t), rtol=0, atol=2e-2 * lr)
    ts, ps = to.state_dict(), po.state_dict()
    for i in range(3):
        assert list(ps["state"][i]) == list(ts["state"][i]) == ["momentum_buffer"]
        np.testing.assert_allclose(
            _np(ps["state"][i]["momentum_buffer"]),
            _np(ts["state"][i]["momentum_buffer"]),
            rtol=1e-5 if dtype == np.float32 else 1e-12,
            atol=1e-6 if dtype == np.float32 else 1e-13,
        )
    for k in ("lr", "weight_decay", "momentum", "nesterov", "ns_coefficients", "eps", "ns_steps"):
        assert ps["param_groups"][0][k] == ts["param_groups"][0][k]


def test_muon_state_dicts_move_both_ways_and_schedulers_set_lr(rng):
    kw = {"lr": 0.02, "momentum": 0.9}
    tp, pp, to, po = _pair(rng, [(6, 4), (3, 7)], np.float64, "Muon", kw)
    _grads(rng, tp, pp)
    to.step()
    po.step()
    pp2 = [nn.Parameter(_np(t).copy()) for t in tp]
    tp2 = [torch.tensor(_np(p).copy(), requires_grad=True) for p in pp]
    po2, to2 = pydlk.optim.Muon(pp2, **kw), torch.optim.Muon(tp2, **kw)
    po2.load_state_dict(to.state_dict())
    to2.load_state_dict(_torch_sd(po.state_dict()))
    sch = [
        torch.optim.lr_scheduler.StepLR(to, 1, gamma=0.5),
        pydlk.optim.lr_scheduler.StepLR(po, 1, gamma=0.5),
        torch.optim.lr_scheduler.StepLR(to2, 1, gamma=0.5),
        pydlk.optim.lr_scheduler.StepLR(po2, 1, gamma=0.5),
    ]
    for _ in range(3):
        gs = [rng.standard_normal(tuple(t.shape)) for t in tp]
        for t, t2, p, p2, g in zip(tp, tp2, pp, pp2, gs):
            t.grad, t2.grad = torch.tensor(g), torch.tensor(g)
            p.grad, p2.grad = pydlk.tensor(g), pydlk.tensor(g)
        for o in (to, po, to2, po2):
            o.step()
        for s in sch:
            s.step()
    assert po2.param_groups[0]["lr"] == to.param_groups[0]["lr"] == 0.02 * 0.5**3
    for a, b, c, d in zip(tp, pp, tp2, pp2):
        for x in (b, c, d):
            np.testing.assert_allclose(_np(x), _np(a), rtol=0, atol=1e-3 * 0.02)
        np.testing.assert_allclose(
            _np(po2.state[d]["momentum_buffer"]), _np(to.state[a]["momentum_buffer"]), rtol=1e-12
        )


def test_muon_refuses_parameters_that_are_not_matrices_and_bad_arguments():
    with pytest.raises(ValueError, match=r"Muon only supports 2D parameters .* size: .*3"):
        pydlk.optim.Muon([nn.Parameter(np.zeros((2, 2), np.float32)), nn.Parameter(np.zeros(3))])
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        pydlk.optim.Muon([nn.Parameter(np.zeros((2, 2, 2), np.float32))])
    zp = [nn.Parameter(np.zeros((2, 2), np.float32))]
    zt = [torch.zeros(2, 2, requires_grad=True)]
    for kw in ({"lr": -1.0}, {"momentum": -0.1}, {"weight_decay": -1.0}, {"adjust_lr_fn": "x"}):
        with pytest.raises(ValueError) as t_err:
            torch.optim.Muon(zt, **kw)
        with pytest.raises(ValueError) as p_err:
            pydlk.optim.Muon(zp, **kw)
        assert str(p_err.value) == str(t_err.value)
    from pydlk.optim.muon import zeropower_via_newtonschulz

    with pytest.raises(ValueError, match="less than 100"):
        zeropower_via_newtonschulz(np.zeros((2, 2), np.float32), (1, 2, 3), 100, 1e-7)
    sig_p, sig_t = inspect.signature(pydlk.optim.Muon), inspect.signature(torch.optim.Muon)
    for name, par in sig_t.parameters.items():
        assert sig_p.parameters[name].default == par.default


# ----------------------------------------------------------------------------- GPU


@pytest.mark.parametrize("cls", ["Adafactor", "Muon"])
def test_gpu_adafactor_and_muon_step_like_the_cpu(rng, cls):
    cp = cupy_or_skip()
    shapes = [(6, 4), (3, 5)] if cls == "Muon" else [(6, 4), (5,), (2, 3, 4)]
    w = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    pc = [nn.Parameter(x.copy()) for x in w]
    pg = [nn.Parameter(cp.asarray(x)) for x in w]
    oc, og = getattr(pydlk.optim, cls)(pc, lr=0.05), getattr(pydlk.optim, cls)(pg, lr=0.05)
    for _ in range(3):
        for a, b in zip(pc, pg):
            g = rng.standard_normal(tuple(a.shape)).astype(np.float32)
            a.grad, b.grad = pydlk.tensor(g), pydlk.tensor(cp.asarray(g))
        oc.step()
        og.step()
    for a, b in zip(pc, pg):
        assert isinstance(b._data, cp.ndarray)
        np.testing.assert_allclose(host(b), _np(a), rtol=1e-5, atol=1e-3 if cls == "Muon" else 1e-6)
    sd = og.state_dict()
    for k, v in sd["state"][0].items():
        if k != "step":
            assert isinstance(v._data, cp.ndarray)
    oc2 = getattr(pydlk.optim, cls)([nn.Parameter(host(p)) for p in pg], lr=0.05)
    oc2.load_state_dict(sd)  # GPU state into a CPU optimiser
    for k, v in oc2.state_dict()["state"][0].items():
        if k != "step":
            assert isinstance(v._data, np.ndarray)
            np.testing.assert_allclose(host(v), host(sd["state"][0][k]), rtol=1e-6)
