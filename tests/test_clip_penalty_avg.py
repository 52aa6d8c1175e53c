"""Gradient clipping, regularisation penalties and parameter averaging."""

import numpy as np
import pytest
from conftest import t64

from pydlk.gradcheck import gradcheck
from pydlk.nn import Module, Parameter
from pydlk.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    elastic_net_penalty,
    l1_penalty,
    l2_penalty,
)
from pydlk.optim import SGD, Adam
from pydlk.optim.swa_utils import AveragedModel, ExponentialMovingAverage


def _params(rng, dtype=np.float32):
    return [Parameter(rng.standard_normal(s).astype(dtype)) for s in [(5, 3), (5,), (2, 5), (7,)]]


def _set_grads(rng, ps, scale=1.0):
    gs = [(scale * rng.standard_normal(p.shape)).astype(np.asarray(p).dtype) for p in ps]
    for p, g in zip(ps, gs):
        p.grad = g.copy()
    return gs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, np.inf])
@pytest.mark.parametrize("in_arena", [False, True])
def test_clip_grad_norm_against_numpy(rng, norm_type, in_arena):
    ps = _params(rng)
    opt = SGD(ps, lr=0.1) if in_arena else None
    gs = _set_grads(rng, ps, 3.0)
    if in_arena:  # gradients as backward leaves them: in the slots
        for p in ps:
            p._grad_slot[...] = p.grad
            p.grad = p._grad_slot
        assert opt is not None
    flat = np.concatenate([g.ravel().astype(np.float64) for g in gs])
    ref = (
        np.abs(flat).max()
        if np.isinf(norm_type)
        else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    )
    total = clip_grad_norm_(ps, 1.0, norm_type)
    np.testing.assert_allclose(float(np.asarray(total)), ref, rtol=1e-5)
    coef = 1.0 / (ref + 1e-6)
    for p, g in zip(ps, gs):
        np.testing.assert_allclose(p.grad, g * coef, rtol=1e-5)
    # below the limit: untouched
    gs2 = [np.array(p.grad) for p in ps]
    clip_grad_norm_(ps, 100.0, norm_type)
    for p, g in zip(ps, gs2):
        np.testing.assert_array_equal(p.grad, g)


def test_clip_grad_norm_against_torch(rng):
    torch = pytest.importorskip("torch")
    ps = _params(rng)
    SGD(ps, lr=0.1)
    gs = _set_grads(rng, ps, 2.0)
    tps = [torch.zeros(p.shape, requires_grad=True) for p in ps]
    for t, g in zip(tps, gs):
        t.grad = torch.from_numpy(g.copy())
    for norm_type in (2.0, 1.0, float("inf")):
        a = clip_grad_norm_(ps, 0.5, norm_type)
        b = torch.nn.utils.clip_grad_norm_(tps, 0.5, norm_type)
        np.testing.assert_allclose(float(np.asarray(a)), float(b), rtol=1e-5)
        for p, t in zip(ps, tps):
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_nonfinite_and_value(rng):
    ps = _params(rng)
    _set_grads(rng, ps)
    ps[1].grad[0] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    gs = _set_grads(rng, ps, 3.0)
    clip_grad_value_(ps, 0.5)
    for p, g in zip(ps, gs):
        np.testing.assert_array_equal(p.grad, np.clip(g, -0.5, 0.5))


def test_penalties_values_and_gradients(rng):
    ps = [t64(rng.standard_normal((3, 4))), t64(rng.standard_normal(5))]
    flat = np.concatenate([np.asarray(p).ravel() for p in ps])
    np.testing.assert_allclose(float(np.asarray(l1_penalty(ps))), np.abs(flat).sum(), rtol=1e-12)
    np.testing.assert_allclose(float(np.asarray(l2_penalty(ps))), (flat**2).sum(), rtol=1e-12)
    np.testing.assert_allclose(
        float(np.asarray(elastic_net_penalty(ps, 0.3, 0.7))),
        0.3 * np.abs(flat).sum() + 0.7 * (flat**2).sum(),
        rtol=1e-12,
    )
    assert gradcheck(lambda a, b: elastic_net_penalty([a, b], 0.3, 0.7), ps)
    loss = l1_penalty(ps)
    loss.backward()
    np.testing.assert_array_equal(ps[0].grad, np.sign(np.asarray(ps[0])))


def test_penalty_matches_fused_weight_decay(rng):
    """SGD on (wd/2)*l2_penalty gives the same step as weight_decay=wd; the fused L1 option
    matches the l1_penalty gradient."""
    a = [Parameter(rng.standard_normal((4, 3)))]
    b = [Parameter(np.asarray(a[0]).copy())]
    oa = SGD(a, lr=0.1)
    ob = SGD(b, lr=0.1, weight_decay=0.2, l1_weight_decay=0.05)
    for _ in range(3):
        oa.zero_grad()
        (l2_penalty(a) * 0.1 + l1_penalty(a) * 0.05).backward()
        oa.step()
        b[0].grad = np.zeros((4, 3))
        ob.step()
    np.testing.assert_allclose(np.asarray(a[0]), np.asarray(b[0]), rtol=1e-12)


@pytest.mark.parametrize("source", ["params", "optimizer"])
def test_ema_against_numpy(rng, source):
    ps = _params(rng)
    opt = Adam(ps, lr=0.1)
    ema = ExponentialMovingAverage(opt if source == "optimizer" else ps, decay=0.9)
    shadow = [np.asarray(p).astype(np.float64) for p in ps]
    for _ in range(7):
        _set_grads(rng, ps)
        opt.step()
        ema.update()
        shadow = [0.9 * s + 0.1 * np.asarray(p) for s, p in zip(shadow, ps)]
    for s, e in zip(shadow, ema.averaged_parameters()):
        np.testing.assert_allclose(e.reshape(s.shape), s, rtol=1e-5, atol=1e-6)
    live = [np.asarray(p).copy() for p in ps]
    with ema.average_parameters():
        for p, s in zip(ps, shadow):
            np.testing.assert_allclose(np.asarray(p), s, rtol=1e-5, atol=1e-6)
            assert np.shares_memory(np.asarray(p), opt._arenas[0][0].param)
    for p, v in zip(ps, live):
        np.testing.assert_array_equal(np.asarray(p), v)


class _Holder(Module):
    """A module whose parameters are the given ones (in order)."""

    def __init__(self, ps):
        super().__init__()
        for i, p in enumerate(ps):
            self.register_parameter(f"p{i}", p)


@pytest.mark.parametrize("in_arena", [False, True])
def test_swa_equal_average(rng, in_arena):
    ps = _params(rng)
    model = _Holder(ps)
    opt = SGD(ps, lr=0.1) if in_arena else None
    swa = AveragedModel(model)
    seen = []
    for _ in range(5):
        if opt is not None:
            _set_grads(rng, ps)
            opt.step()
        else:
            for p in ps:
                p.data[...] = rng.standard_normal(p.shape).astype(np.float32)
        swa.update_parameters(model)
        seen.append([np.asarray(p).astype(np.float64) for p in ps])
    assert int(swa.n_averaged) == 5
    for i, a in enumerate(swa.module.parameters()):
        np.testing.assert_allclose(
            np.asarray(a), np.mean([s[i] for s in seen], axis=0), rtol=1e-5, atol=1e-6
        )
    if in_arena:  # the averaged copies are packed as the arena: one flat buffer
        (g,) = swa._flat.values()
        assert all(np.shares_memory(np.asarray(a), g.flat) for a in swa.module.parameters())


def test_swa_params_against_torch(rng):
    torch = pytest.importorskip("torch")
    ps = _params(rng)
    model = _Holder(ps)
    swa = AveragedModel(model)
    m = torch.nn.Module()
    for i, p in enumerate(ps):
        m.register_parameter(f"p{i}", torch.nn.Parameter(torch.from_numpy(np.asarray(p).copy())))
    tswa = torch.optim.swa_utils.AveragedModel(m)
    for _ in range(4):
        for p, t in zip(ps, m.parameters()):
            v = rng.standard_normal(p.shape).astype(np.float32)
            p.data[...] = v
            with torch.no_grad():
                t.copy_(torch.from_numpy(v))
        swa.update_parameters(model)
        tswa.update_parameters(m)
    for a, t in zip(swa.module.parameters(), tswa.module.parameters()):
        np.testing.assert_allclose(np.asarray(a), t.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_ema_bad_decay(rng):
    with pytest.raises(ValueError, match="decay"):
        ExponentialMovingAverage(_params(rng), decay=1.5)


@pytest.mark.parametrize("norm_type", [1, 2, 3, float("inf")])
def test_get_total_norm_against_torch(rng, norm_type):
    torch = pytest.importorskip("torch")
    from pydlk.nn.utils import get_total_norm

    arrs = [rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (5,), (2, 3, 2))]
    arrs.append(arrs[0].T)  # a non-contiguous one
    got = get_total_norm(arrs, norm_type)
    want = torch.nn.utils.get_total_norm([torch.from_numpy(np.array(a)) for a in arrs], norm_type)
    np.testing.assert_allclose(float(np.asarray(got)), float(want), rtol=1e-5)
    flat = np.concatenate([a.ravel() for a in arrs]).astype(np.float64)
    ref = (
        np.abs(flat).max()
        if norm_type == float("inf")
        else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    )
    np.testing.assert_allclose(float(np.asarray(got)), ref, rtol=1e-5)


@pytest.mark.parametrize("norm_type", [None, 1.0, 3.0, float("inf")])
def test_clip_grad_norm_default_and_non_contiguous_grads_against_torch(rng, norm_type):
    torch = pytest.importorskip("torch")
    shapes = [(4, 6), (6,), (3, 5)]
    grads = [rng.standard_normal(s).astype(np.float32) * 3 for s in shapes]
    ps = [Parameter(np.zeros(s[::-1], np.float32)) for s in shapes]
    for p, g in zip(ps, grads):
        p.grad = g.T  # a transposed view: not C-contiguous (except the 1-D one)
    assert not np.asarray(ps[0].grad).flags.c_contiguous
    tps = [torch.nn.Parameter(torch.zeros(s[::-1])) for s in shapes]
    for p, g in zip(tps, grads):
        p.grad = torch.from_numpy(g.copy()).t()  # its own memory: both clip in place
    kw = {} if norm_type is None else {"norm_type": norm_type}
    got = clip_grad_norm_(ps, 1.0, **kw)
    want = torch.nn.utils.clip_grad_norm_(tps, 1.0, **kw)
    np.testing.assert_allclose(float(np.asarray(got)), float(want), rtol=1e-5)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-5, atol=1e-7)
    # the clipped gradients now have norm max_norm (to torch's 1e-6 in the coefficient)
    n = 2.0 if norm_type is None else norm_type
    flat = np.concatenate([np.ravel(p.grad) for p in ps]).astype(np.float64)
    total = np.abs(flat).max() if n == float("inf") else (np.abs(flat) ** n).sum() ** (1 / n)
    np.testing.assert_allclose(total, 1.0, rtol=1e-4)
