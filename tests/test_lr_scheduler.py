"""Each schedule's learning-rate sequence against torch's for 100 steps (torch as the oracle),
plus InverseTimeLR (not in torch) against its formula, and state_dict round trips."""

import math

import numpy as np
import pytest

from pydlk.nn import Parameter
from pydlk.optim import SGD, Adam
from pydlk.optim import lr_scheduler as S
from pydlk.optim.swa_utils import SWALR

STEPS = 100


def _opt(cls=SGD, two_groups=True, **kw):
    p = [Parameter(np.zeros(2, np.float32)), Parameter(np.zeros(3, np.float32))]
    kw.setdefault("lr", 0.1)
    if cls is SGD:
        kw.setdefault("momentum", 0.9)
    groups = [{"params": p[:1]}, {"params": p[1:], "lr": 0.05}] if two_groups else p
    return cls(groups, **kw)


def _topt(torch, cls=SGD, two_groups=True, **kw):
    p = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    kw.setdefault("lr", 0.1)
    if cls is SGD:
        kw.setdefault("momentum", 0.9)
    groups = [{"params": p[:1]}, {"params": p[1:], "lr": 0.05}] if two_groups else p
    return getattr(torch.optim, cls.__name__)(groups, **kw)


SCHEDULES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[10, 30, 30, 80], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.97),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=30, eta_min=0.001),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=10, T_mult=2, eta_min=1e-4
    ),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=40),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=20),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=50, power=2.0),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lr_lambda=[lambda e: 0.95**e, lambda e: 1 / (1 + e)]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lr_lambda=lambda e: 0.98),
    "CyclicLR": lambda m, o: m.CyclicLR(
        o, base_lr=0.01, max_lr=[0.1, 0.2], step_size_up=7, step_size_down=13
    ),
    "CyclicLR-triangular2": lambda m, o: m.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=5, mode="triangular2"
    ),
    "CyclicLR-exp_range": lambda m, o: m.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range", gamma=0.99
    ),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.3], total_steps=STEPS),
    "OneCycleLR-3phase-linear": lambda m, o: m.OneCycleLR(
        o, max_lr=0.5, total_steps=STEPS, three_phase=True, anneal_strategy="linear"
    ),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o,
        [
            m.LinearLR(o, start_factor=0.1, total_iters=10),
            m.CosineAnnealingLR(o, T_max=40),
            m.ExponentialLR(o, gamma=0.9),
        ],
        milestones=[10, 50],
    ),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler(
        [m.ExponentialLR(o, gamma=0.99), m.StepLR(o, step_size=9, gamma=0.5)]
    ),
}


def _momentum(group):
    return group["betas"][0] if "betas" in group else group.get("momentum")


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("cls", [SGD, Adam])
def test_sequence_matches_torch(name, cls):
    torch = pytest.importorskip("torch")
    o, to = _opt(cls), _topt(torch, cls)
    s, ts = SCHEDULES[name](S, o), SCHEDULES[name](torch.optim.lr_scheduler, to)
    for step in range(STEPS):
        assert s.get_last_lr() == ts.get_last_lr(), (name, step)
        assert [g["lr"] for g in o.param_groups] == [g["lr"] for g in to.param_groups]
        assert [_momentum(g) for g in o.param_groups] == [_momentum(g) for g in to.param_groups]
        if step == STEPS - 1 and name.startswith("OneCycle"):
            break
        o.step()
        to.step()
        s.step()
        ts.step()
    assert getattr(s, "last_epoch", None) == getattr(ts, "last_epoch", None)


def test_reduce_on_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    metrics = np.concatenate(
        [
            np.linspace(1, 0.5, 20),
            0.5 + 0.01 * rng.random(40),
            np.linspace(0.5, 0.2, 20),
            np.full(20, 0.2),
        ]
    )
    for kw in [
        dict(),
        dict(mode="max", factor=0.5, patience=3, threshold_mode="abs", cooldown=2),
        dict(patience=2, min_lr=[0.01, 0.02], threshold=0.01),
    ]:
        o, to = _opt(), _topt(torch)
        s = S.ReduceLROnPlateau(o, **kw)
        ts = torch.optim.lr_scheduler.ReduceLROnPlateau(to, **kw)
        for m in metrics:
            o.step()
            to.step()
            s.step(m)
            ts.step(m)
            assert s.get_last_lr() == ts.get_last_lr()
        assert s.get_last_lr() != [0.1, 0.05]


def test_swalr_matches_torch():
    torch = pytest.importorskip("torch")
    for kw in [
        dict(swa_lr=0.01, anneal_epochs=10),
        dict(swa_lr=[0.02, 0.01], anneal_epochs=5, anneal_strategy="linear"),
    ]:
        o, to = _opt(), _topt(torch)
        s, ts = SWALR(o, **kw), torch.optim.swa_utils.SWALR(to, **kw)
        for _ in range(30):
            assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-15)
            o.step(), to.step(), s.step(), ts.step()


def test_inverse_time():
    o = _opt()
    s = S.InverseTimeLR(o, decay_rate=0.5)
    for t in range(STEPS):
        assert s.get_last_lr() == [0.1 / (1 + 0.5 * t), 0.05 / (1 + 0.5 * t)]
        o.step()
        s.step()
    with pytest.raises(ValueError, match="decay_rate"):
        S.InverseTimeLR(o, decay_rate=-1)


@pytest.mark.parametrize(
    "name",
    [
        "StepLR",
        "CosineAnnealingLR",
        "CyclicLR",
        "OneCycleLR",
        "SequentialLR",
        "CosineAnnealingWarmRestarts",
    ],
)
def test_state_dict_resume(name):
    o1 = _opt()
    s1 = SCHEDULES[name](S, o1)
    seq = []
    for _ in range(60):
        o1.step()
        s1.step()
        seq.append(s1.get_last_lr())
    o2 = _opt()
    s2 = SCHEDULES[name](S, o2)
    for _ in range(25):
        o2.step()
        s2.step()
    sd_o, sd_s = o2.state_dict(), s2.state_dict()
    o3 = _opt()
    s3 = SCHEDULES[name](S, o3)
    o3.load_state_dict(sd_o)
    s3.load_state_dict(sd_s)
    for i in range(25, 60):
        o3.step()
        s3.step()
        assert s3.get_last_lr() == seq[i]


def test_initial_lr_and_errors():
    o = _opt()
    S.StepLR(o, 3)
    assert [g["initial_lr"] for g in o.param_groups] == [0.1, 0.05]
    o2 = _opt()
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(o2, 3, last_epoch=5)
    with pytest.raises(TypeError, match="not an Optimizer"):
        S.StepLR(object(), 3)
    with pytest.raises(ValueError, match="T_0"):
        S.CosineAnnealingWarmRestarts(o, T_0=0)
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(o, max_lr=1.0)
    assert math.isclose(S.ExponentialLR(_opt(), 0.5).get_last_lr()[0], 0.1)


@pytest.mark.parametrize("T_0, T_mult", [(2, 2), (3, 3), (1, 2), (1, 3), (5, 1)])
@pytest.mark.parametrize(
    "epochs",
    [
        [0.5, 1, 1.7, 2, 2.5, 3, 5.9, 6, 7, 13.2, 14, 30, 40.25],  # fractional, crossing restarts
        list(range(45)),  # integer epochs, including every restart boundary
        [3, None, None, 10, None, 6.5, None],  # step(epoch) mixed with step()
    ],
)
def test_warm_restarts_step_epoch_matches_torch(T_0, T_mult, epochs):
    import warnings

    torch = pytest.importorskip("torch")
    from pydlk import nn, optim

    tp = torch.nn.Parameter(torch.zeros(1))
    to = torch.optim.SGD([tp], lr=0.5)
    ts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        to, T_0=T_0, T_mult=T_mult, eta_min=0.01
    )
    po = optim.SGD(nn.Linear(1, 1).parameters(), lr=0.5)
    ps = optim.lr_scheduler.CosineAnnealingWarmRestarts(po, T_0=T_0, T_mult=T_mult, eta_min=0.01)
    for e in epochs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch deprecates step(epoch), pydlk keeps it
            ts.step(e)
        ps.step(e)
        assert po.param_groups[0]["lr"] == pytest.approx(
            to.param_groups[0]["lr"], rel=1e-12, abs=1e-15
        ), e
        assert ps.T_i == ts.T_i and ps.T_cur == pytest.approx(ts.T_cur, abs=1e-12)
