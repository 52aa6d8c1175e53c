"""History's per-iteration records (loss and lr of every optimiser step): against a manual
training loop over the same seeded batches, through a resume, and in the plot."""

import numpy as np
import pytest

import pydlk
from pydlk import models, nn, optim
from pydlk.data import DataLoader, TensorDataset
from pydlk.datasets import digits
from pydlk.train import History, ModelCheckpoint, fit


@pytest.fixture(scope="module")
def train_data():
    x, y = digits("train")
    return x[:600], y[:600]


def _setup(data, seed=0):
    pydlk.manual_seed(seed)
    model = models.MLP(64, (32,), 10, dropout=0.2)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(TensorDataset(*data), batch_size=64, shuffle=True)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3 * len(loader))
    return model, opt, loader, sched


def test_per_iteration_loss_and_lr_are_the_steps_of_a_manual_loop(train_data):
    loss_fn = nn.CrossEntropyLoss()
    model, opt, loader, sched = _setup(train_data)
    h = fit(model, loss_fn, opt, loader, epochs=3, scheduler=sched, verbose=False)

    # the same seeded model, shuffles and dropout masks, trained by hand
    model, opt, loader, sched = _setup(train_data)
    losses, lrs, epochs = [], [], []
    model.train()
    for epoch in range(3):
        for x, y in loader:
            out = model(pydlk.tensor(x))
            loss = loss_fn(out, y)
            opt.zero_grad()
            loss.backward()
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
            losses.append(loss.item())
            epochs.append(epoch + 1)
    n = len(losses)
    assert n == 3 * 10
    assert h.iterations["step"] == list(range(1, n + 1)) and h.global_step == n
    assert h.iterations["epoch"] == epochs
    assert h.iterations["loss"] == losses  # bit for bit
    assert h.iterations["lr"] == lrs
    assert len(set(lrs)) > 10  # OneCycleLR moved the rate every step
    # each epoch's figure is the sample-weighted mean of its steps (last batch: 600 - 9 * 64)
    w = np.array([64] * 9 + [24])
    for e in range(3):
        per = np.array(losses[10 * e : 10 * e + 10])
        assert h["loss"][e] == pytest.approx((per * w).sum() / w.sum(), rel=1e-12)


def test_resume_keeps_the_per_iteration_records(train_data, tmp_path):
    loss_fn = nn.CrossEntropyLoss()
    model, opt, loader, sched = _setup(train_data)
    straight = fit(model, loss_fn, opt, loader, epochs=3, scheduler=sched, verbose=False)

    path = str(tmp_path / "ckpt.npz")
    model, opt, loader, sched = _setup(train_data)
    first = fit(
        model,
        loss_fn,
        opt,
        loader,
        epochs=1,
        scheduler=sched,
        verbose=False,
        callbacks=[ModelCheckpoint(path)],
    )
    assert first.global_step == 10
    model, opt, loader, sched = _setup(train_data, seed=7)
    h = fit(model, loss_fn, opt, loader, epochs=3, scheduler=sched, verbose=False, resume=path)
    assert h.iterations == straight.iterations  # lists of Python floats: bit for bit


def test_state_dict_round_trip_and_older_checkpoints():
    h = History()
    h.append_iteration(1, {"loss": 0.1 + 0.2, "lr": 1e-3})
    h.append_iteration(1, {"loss": np.float32(0.7), "lr": 1e-3})
    g = History()
    g.load_state_dict(h.state_dict())
    assert g.iterations == h.iterations and g.global_step == 2
    g.load_state_dict({"epoch": [1], "history": {"loss": [0.5]}})  # no "iterations" key
    assert g.iterations == {} and g.global_step == 0


def test_plot_draws_iterations_and_epochs(tmp_path):
    pytest.importorskip("matplotlib")
    h = History()
    rng = np.random.default_rng(0)
    for e in (1, 2, 3):
        losses = 2.0 / e + 0.1 * rng.standard_normal(7)
        for v in losses:
            h.append_iteration(e, {"loss": v, "lr": 0.1 / e})
        h.append(e, {"loss": losses.mean(), "lr": 0.1 / e, "val_loss": 2.2 / e})
    assert h._iteration_x()[:7] == pytest.approx(np.arange(1, 8) / 7)
    for kw in ({}, {"epochs": False}, {"iterations": False}):
        png = tmp_path / f"h{len(kw)}{list(kw)}.png"
        h.plot(str(png), **kw)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="History.plot: epochs=False needs per-iteration"):
        History().plot(str(tmp_path / "x.png"), epochs=False)
