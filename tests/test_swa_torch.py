"""pydlk.optim.swa_utils against torch.optim.swa_utils (torch 2.x on the CPU): AveragedModel as an
nn.Module (SWA, EMA via multi_avg_fn / avg_fn, use_buffers), its forward and state_dict,
update_bn, SWALR and the torchvision-style EMA subclass, from the same initial weights."""

import copy

import numpy as np
import pytest

import pydlk
from pydlk.optim import swa_utils

torch = pytest.importorskip("torch")
tsu = torch.optim.swa_utils


def _models(rng, bn=True):
    """The same small MLP (with a BatchNorm1d) in torch and pydlk, from torch's weights."""
    torch.manual_seed(int(rng.integers(1 << 30)))

    def build(nn):
        layers = [nn.Linear(4, 8)]
        if bn:
            layers.append(nn.BatchNorm1d(8))
        layers += [nn.ReLU(), nn.Linear(8, 3)]
        return nn.Sequential(*layers)

    tm, pm = build(torch.nn), build(pydlk.nn)
    pm.load_state_dict({k: pydlk.tensor(v.numpy().copy()) for k, v in tm.state_dict().items()})
    return tm, pm


def _step(rng, tm, pm, popt=None):
    """Move both models alike: new parameter values (in place, so an optimizer's arena stays
    intact) and a training-mode forward (the BatchNorm running statistics and batch count)."""
    with torch.no_grad():
        for t, p in zip(tm.parameters(), pm.parameters()):
            v = rng.standard_normal(tuple(t.shape)).astype(np.float32)
            t.copy_(torch.from_numpy(v))
            p.data[...] = v
    x = rng.standard_normal((16, 4)).astype(np.float32)
    tm.train(), pm.train()
    with torch.no_grad():
        tm(torch.from_numpy(x))
    with pydlk.no_grad():
        pm(pydlk.tensor(x))


def _assert_state_equal(pd, td, rtol=1e-5, atol=1e-6):
    assert list(pd.keys()) == list(td.keys())
    for k, v in td.items():
        got = np.asarray(pd[k])
        want = v.detach().numpy()
        assert got.shape == want.shape, k
        if want.dtype.kind in "iub":
            np.testing.assert_array_equal(got, want, err_msg=k)
        else:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=k)


def _assert_forward_equal(pswa, tswa, rng):
    x = rng.standard_normal((5, 4)).astype(np.float32)
    pswa.eval(), tswa.eval()
    with torch.no_grad():
        want = tswa(torch.from_numpy(x)).numpy()
    with pydlk.no_grad():
        got = np.asarray(pswa(pydlk.tensor(x)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _run(rng, steps, kw_p, kw_t, with_optimizer):
    tm, pm = _models(rng)
    popt = pydlk.optim.SGD(pm.parameters(), lr=0.1) if with_optimizer else None
    pswa = swa_utils.AveragedModel(pm, **kw_p)
    tswa = tsu.AveragedModel(tm, **kw_t)
    for _ in range(steps):
        _step(rng, tm, pm, popt)
        pswa.update_parameters(pm)
        tswa.update_parameters(tm)
    return tm, pm, pswa, tswa, popt


@pytest.mark.parametrize("with_optimizer", [False, True])
@pytest.mark.parametrize("use_buffers", [False, True])
def test_swa_default_against_torch(rng, use_buffers, with_optimizer):
    kw = dict(use_buffers=use_buffers)
    tm, pm, pswa, tswa, opt = _run(rng, 4, kw, kw, with_optimizer)
    assert isinstance(pswa, pydlk.nn.Module)
    assert type(pswa.module).__name__ == "Sequential"
    assert pswa.module is not pm
    assert int(pswa.n_averaged) == 4 and pswa.n_averaged.dtype == np.int64
    _assert_state_equal(pswa.state_dict(), tswa.state_dict())
    _assert_forward_equal(pswa, tswa, rng)
    if with_optimizer:  # the fast path: the copies are views of one flat buffer per arena
        assert len(pswa._flat) == len(opt._arenas[0])
        flats = [g.flat for g in pswa._flat.values()]
        for p in pswa.module.parameters():
            assert any(np.shares_memory(np.asarray(p), f) for f in flats)
        # the live model is untouched by the averaging
        for p, t in zip(pm.parameters(), tm.parameters()):
            np.testing.assert_allclose(np.asarray(p), t.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("with_optimizer", [False, True])
@pytest.mark.parametrize("use_buffers", [False, True])
def test_ema_multi_avg_fn_against_torch(rng, use_buffers, with_optimizer):
    kp = dict(multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.9), use_buffers=use_buffers)
    kt = dict(multi_avg_fn=tsu.get_ema_multi_avg_fn(0.9), use_buffers=use_buffers)
    _, _, pswa, tswa, _ = _run(rng, 5, kp, kt, with_optimizer)
    _assert_state_equal(pswa.state_dict(), tswa.state_dict())
    _assert_forward_equal(pswa, tswa, rng)


@pytest.mark.parametrize("use_buffers", [False, True])
def test_ema_avg_fn_against_torch(rng, use_buffers):
    kp = dict(avg_fn=swa_utils.get_ema_avg_fn(0.8), use_buffers=use_buffers)
    kt = dict(avg_fn=tsu.get_ema_avg_fn(0.8), use_buffers=use_buffers)
    _, _, pswa, tswa, _ = _run(rng, 4, kp, kt, True)
    assert not pswa._flat  # an avg_fn is applied per tensor
    _assert_state_equal(pswa.state_dict(), tswa.state_dict())
    _assert_forward_equal(pswa, tswa, rng)


def test_swa_avg_fn_and_multi_avg_fn_builders_against_torch(rng):
    for p_fn, t_fn, key in [
        (swa_utils.get_swa_avg_fn(), tsu.get_swa_avg_fn(), "avg_fn"),
        (swa_utils.get_swa_multi_avg_fn(), tsu.get_swa_multi_avg_fn(), "multi_avg_fn"),
    ]:
        _, _, pswa, tswa, _ = _run(rng, 3, {key: p_fn}, {key: t_fn}, False)
        _assert_state_equal(pswa.state_dict(), tswa.state_dict())


def test_custom_avg_fn_and_multi_avg_fn(rng):
    """User rules get Tensors and n_averaged as a tensor, as in torch; a multi_avg_fn updates
    the averaged tensors in place."""
    seen = []

    def p_avg(avg, cur, n):
        seen.append(int(n))
        return avg * 0.25 + cur * 0.75

    def t_avg(avg, cur, n):
        return avg * 0.25 + cur * 0.75

    def p_multi(avgs, curs, n):
        assert isinstance(n, pydlk.Tensor)
        for a, c in zip(avgs, curs):
            a.data[...] = np.asarray(a) * 0.5 + np.asarray(c) * 0.5

    def t_multi(avgs, curs, n):
        for a, c in zip(avgs, curs):
            a.mul_(0.5).add_(c * 0.5)

    _, _, pswa, tswa, _ = _run(rng, 3, dict(avg_fn=p_avg), dict(avg_fn=t_avg), True)
    _assert_state_equal(pswa.state_dict(), tswa.state_dict())
    assert set(seen) == {1, 2}
    _, _, pswa, tswa, _ = _run(rng, 3, dict(multi_avg_fn=p_multi), dict(multi_avg_fn=t_multi), True)
    _assert_state_equal(pswa.state_dict(), tswa.state_dict())


def test_torchvision_style_ema_subclass(rng):
    def make(su):
        class ExponentialMovingAverage(su.AveragedModel):
            def __init__(self, model, decay, device="cpu"):
                def ema_avg(avg, param, num_averaged):
                    return decay * avg + (1 - decay) * param

                super().__init__(model, device, ema_avg, use_buffers=True)

        class EMAMulti(su.AveragedModel):
            def __init__(self, model, decay, device="cpu"):
                super().__init__(
                    model, device, multi_avg_fn=su.get_ema_multi_avg_fn(decay), use_buffers=True
                )

        return ExponentialMovingAverage, EMAMulti

    (pa, pb), (ta, tb) = make(swa_utils), make(tsu)
    tm, pm = _models(rng)
    pydlk.optim.SGD(pm.parameters(), lr=0.1)
    p_emas, t_emas = [pa(pm, 0.9), pb(pm, 0.99)], [ta(tm, 0.9), tb(tm, 0.99)]
    for _ in range(4):
        _step(rng, tm, pm)
        for p, t in zip(p_emas, t_emas):
            p.update_parameters(pm)
            t.update_parameters(tm)
    for p, t in zip(p_emas, t_emas):
        _assert_state_equal(p.state_dict(), t.state_dict())
        _assert_forward_equal(p, t, rng)


def test_update_bn_against_torch(rng):
    tm, pm = _models(rng)
    for _ in range(2):
        _step(rng, tm, pm)
    xs = [rng.standard_normal((n, 4)).astype(np.float32) for n in (8, 5, 11)]
    ys = [rng.standard_normal((len(x), 3)).astype(np.float32) for x in xs]
    tm.eval(), pm.eval()
    tm[1].momentum = pm[1].momentum = 0.3
    t_loader = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in zip(xs, ys)]
    p_loader = [(pydlk.tensor(x), pydlk.tensor(y)) for x, y in zip(xs, ys)]
    tsu.update_bn(t_loader, tm)
    swa_utils.update_bn(p_loader, pm)
    _assert_state_equal(pm.state_dict(), tm.state_dict())
    assert not pm.training and pm[1].momentum == 0.3  # mode and momentum restored
    # plain tensors, device given, a train-mode AveragedModel
    pswa, tswa = swa_utils.AveragedModel(pm), tsu.AveragedModel(tm)
    pswa.update_parameters(pm)
    tswa.update_parameters(tm)
    pswa.train(), tswa.train()
    tsu.update_bn([torch.from_numpy(x) for x in xs], tswa, device="cpu")
    swa_utils.update_bn([pydlk.tensor(x) for x in xs], pswa, device="cpu")
    assert pswa.training
    _assert_state_equal(pswa.state_dict(), tswa.state_dict())
    _assert_forward_equal(pswa, tswa, rng)


def test_update_bn_without_batchnorm_is_a_no_op(rng):
    _, pm = _models(rng, bn=False)
    pm.eval()
    swa_utils.update_bn([1, 2], pm)  # never iterated
    assert not pm.training


@pytest.mark.parametrize(
    "kw",
    [
        dict(swa_lr=0.05),
        dict(swa_lr=[0.05, 0.5], anneal_epochs=3, anneal_strategy="linear"),
        dict(swa_lr=0.01, anneal_epochs=0),
        dict(swa_lr=[0.2, 0.02], anneal_epochs=4, anneal_strategy="cos"),
    ],
)
def test_swalr_sequence_against_torch(kw):
    pw = [pydlk.nn.Parameter(np.zeros(2, np.float32)) for _ in range(2)]
    tw = [torch.nn.Parameter(torch.zeros(2)) for _ in range(2)]
    po = pydlk.optim.SGD([{"params": [pw[0]]}, {"params": [pw[1]], "lr": 0.3}], lr=1.0)
    to = torch.optim.SGD([{"params": [tw[0]]}, {"params": [tw[1]], "lr": 0.3}], lr=1.0)
    ps, ts = swa_utils.SWALR(po, **kw), tsu.SWALR(to, **kw)
    got, want = [], []
    for _ in range(12):
        got.append([g["lr"] for g in po.param_groups])
        want.append([g["lr"] for g in to.param_groups])
        po.step(), to.step()
        ps.step(), ts.step()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(ps.get_last_lr(), ts.get_last_lr(), rtol=1e-12)


def test_state_dict_round_trip_and_deepcopy(rng):
    tm, pm, pswa, tswa, opt = _run(rng, 3, {}, {}, True)
    sd = pswa.state_dict()
    assert list(sd) == list(tswa.state_dict())
    # a torch state_dict loads into a fresh pydlk AveragedModel, and back
    fresh = swa_utils.AveragedModel(pm)
    fresh.load_state_dict({k: pydlk.tensor(v.numpy().copy()) for k, v in tswa.state_dict().items()})
    assert int(fresh.n_averaged) == 3
    _assert_state_equal(fresh.state_dict(), tswa.state_dict())
    # a deep copy is independent, holds no optimizer, and keeps averaging correctly
    dup = copy.deepcopy(pswa)
    assert not dup._flat
    _step(rng, tm, pm)
    for s in (pswa, dup):
        s.update_parameters(pm)
    tswa.update_parameters(tm)
    _assert_state_equal(pswa.state_dict(), tswa.state_dict())
    _assert_state_equal(dup.state_dict(), tswa.state_dict())


def test_repacks_after_a_new_optimizer_or_a_move(rng):
    """A newer optimizer re-packs the source parameters, load_state_dict or a dtype change may
    rebind the copies' arrays: the averages stay right."""
    tm, pm, pswa, tswa, _ = _run(rng, 2, {}, {}, True)
    pydlk.optim.Adam(pm.parameters(), lr=0.1)  # re-packs pm into a new arena
    for _ in range(2):
        _step(rng, tm, pm)
        pswa.update_parameters(pm)
        tswa.update_parameters(tm)
    _assert_state_equal(pswa.state_dict(), tswa.state_dict())
    pswa.to("cpu")
    pswa.load_state_dict(pswa.state_dict())
    _step(rng, tm, pm)
    pswa.update_parameters(pm)
    tswa.update_parameters(tm)
    _assert_state_equal(pswa.state_dict(), tswa.state_dict())
    # an optimizer over the averaged copy: its arena is left alone (per-tensor averaging)
    sopt = pydlk.optim.SGD(pswa.parameters(), lr=0.1)
    _step(rng, tm, pm)
    pswa.update_parameters(pm)
    tswa.update_parameters(tm)
    assert not pswa._flat
    arena = sopt._arenas[0][0]
    for p in pswa.module.parameters():
        assert np.shares_memory(np.asarray(p), arena.param)
    _assert_state_equal(pswa.state_dict(), tswa.state_dict())


def test_device_argument_and_errors(rng):
    tm, pm = _models(rng)
    pswa = swa_utils.AveragedModel(pm, device="cpu")
    assert pswa.n_averaged.device == pydlk.device("cpu")
    with pytest.raises(AssertionError, match="Only one"):
        swa_utils.AveragedModel(pm, avg_fn=swa_utils.get_swa_avg_fn(), multi_avg_fn=lambda *a: 0)
    for f in (swa_utils.get_ema_multi_avg_fn, swa_utils.get_ema_avg_fn):
        with pytest.raises(ValueError, match="decay"):
            f(1.5)
    assert set(tsu.__all__) <= set(swa_utils.__all__)
