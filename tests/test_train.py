"""The training workflow: fit/evaluate/predict, callbacks, exact resume, diagnostics, doctor."""

import math
import types

import numpy as np
import pytest

import pydlk
from pydlk import models, nn, optim
from pydlk.data import DataLoader, TensorDataset
from pydlk.datasets import digits
from pydlk.train import (
    CSVLogger,
    EarlyStopping,
    EMAEvaluation,
    LearningRateLogger,
    ModelCheckpoint,
    SnapshotEnsemble,
    TerminateOnNaN,
    evaluate,
    fit,
    predict,
)


@pytest.fixture(scope="module")
def data():
    return {s: digits(s) for s in ("train", "val", "test")}


def _setup(data, seed=0, dropout=0.2, lr=3e-3, batch_size=128):
    pydlk.manual_seed(seed)
    model = models.MLP(64, (64,), 10, dropout=dropout)
    opt = optim.Adam(model.parameters(), lr=lr)
    train = DataLoader(TensorDataset(*data["train"]), batch_size=batch_size, shuffle=True)
    val = DataLoader(TensorDataset(*data["val"]), batch_size=512)
    return model, opt, train, val


def test_fit_learns_digits_and_reports_history(data):
    model, opt, train, val = _setup(data, lr=1e-2)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)
    h = fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=6, scheduler=sched, verbose=False)
    assert h.epoch == [1, 2, 3, 4, 5, 6]
    assert {"loss", "accuracy", "lr", "val_loss", "val_accuracy"} <= set(h.history)
    assert h["loss"][-1] < h["loss"][0] / 3
    assert h["val_accuracy"][-1] > 0.9
    assert h["lr"][0] == pytest.approx(1e-2) and h["lr"][-1] < h["lr"][0]
    res = evaluate(model, nn.CrossEntropyLoss(), DataLoader(TensorDataset(*data["test"]), 512))
    out = predict(model, data["test"][0])
    assert out.shape == (270, 10)
    assert res["accuracy"] == pytest.approx(float((out.argmax(1) == data["test"][1]).mean()))
    assert model.training  # evaluate/predict restore the mode


def test_resume_from_checkpoint_matches_an_uninterrupted_run_bit_for_bit(data, tmp_path):
    loss_fn = nn.CrossEntropyLoss()
    model, opt, train, val = _setup(data)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    fit(model, loss_fn, opt, train, val, epochs=4, scheduler=sched, verbose=False)
    straight = {k: v.clone() for k, v in model.state_dict().items()}

    path = str(tmp_path / "ckpt.npz")
    model, opt, train, val = _setup(data)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    fit(
        model,
        loss_fn,
        opt,
        train,
        val,
        epochs=2,
        scheduler=sched,
        verbose=False,
        callbacks=[ModelCheckpoint(path)],
    )
    # a fresh process would build everything anew (different init, different RNG position)
    model, opt, train, val = _setup(data, seed=99)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    h = fit(model, loss_fn, opt, train, val, epochs=4, scheduler=sched, verbose=False, resume=path)
    assert h.epoch == [1, 2, 3, 4]
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, straight[k], err_msg=k)


def test_early_stopping_restores_the_best_weights(data):
    model = models.MLP(64, (8,), 10)
    trainer = types.SimpleNamespace(model=model, stop_training=False, stop_reason=None)
    es = EarlyStopping(monitor="val_loss", patience=2)  # Keras: stop at the 2nd epoch w/o gain
    es.trainer = trainer
    w = model.state_dict()["1.weight"]
    snapshots = []
    for epoch, v in enumerate([1.0, 0.5, 0.7, 0.8, 0.1]):
        with pydlk.no_grad():
            w[...] = epoch
        snapshots.append(w.clone())
        es.on_epoch_end(epoch, {"val_loss": v})
        if trainer.stop_training:
            break
    assert epoch == 3 and "did not improve for 2 epochs" in trainer.stop_reason
    es.on_train_end()
    np.testing.assert_array_equal(model.state_dict()["1.weight"], snapshots[1])
    with pytest.raises(KeyError, match="val_accuracy"):
        EarlyStopping("val_accuracy").on_epoch_end(0, {"loss": 1.0})


def test_terminate_on_nan_says_where(data, caplog):
    model, opt, train, _ = _setup(data, lr=1e-3)
    calls = {"n": 0}

    def loss_fn(out, y):
        calls["n"] += 1
        loss = nn.functional.cross_entropy(out, y)
        return loss * float("nan") if calls["n"] == 3 else loss

    before = {}

    class Snap(pydlk.train.Callback):
        def on_batch_end(self, batch, logs):
            before.update({k: np.array(v, copy=True) for k, v in model.state_dict().items()})

    h = fit(
        model, loss_fn, opt, train, epochs=3, callbacks=[Snap(), TerminateOnNaN()], verbose=False
    )
    err = caplog.text
    assert "loss became nan at epoch 1, batch 3" in err
    assert "the loss function made it" in err and "step was skipped" in err
    assert h.epoch == [1]
    for k, v in model.state_dict().items():  # the bad step was not taken
        assert np.all(np.isfinite(v)), k
        np.testing.assert_array_equal(v, before[k])


class _LogOfNegative(nn.Module):
    """log(x - 1e6) on one chosen call: NaN out of this module only."""

    def __init__(self, bad_call):
        super().__init__()
        self.calls, self.bad_call = 0, bad_call

    def forward(self, x):
        self.calls += 1
        return (x - 1e6).log() if self.calls == self.bad_call else x


def test_terminate_on_nan_names_the_module_and_keeps_weights_finite(data, caplog):
    pydlk.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), _LogOfNegative(2), nn.Linear(32, 10)
    )
    opt = optim.SGD(model.parameters(), lr=0.1)
    train = DataLoader(TensorDataset(*data["train"]), batch_size=128)
    w0 = {}

    class Snap(pydlk.train.Callback):
        def on_batch_end(self, batch, logs):
            w0.update({k: np.array(v, copy=True) for k, v in model.state_dict().items()})

    fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        train,
        epochs=1,
        callbacks=[Snap(), TerminateOnNaN()],
        verbose=False,
    )
    err = caplog.text
    assert "batch 2" in err and "module '3' (_LogOfNegative)" in err
    assert "'1.weight'" not in err
    for k, v in model.state_dict().items():
        assert np.all(np.isfinite(v)), k
        np.testing.assert_array_equal(v, w0[k])


def test_terminate_on_nan_catches_a_non_finite_gradient(data, caplog):
    pydlk.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    opt = optim.SGD(model.parameters(), lr=0.1)
    train = DataLoader(TensorDataset(*data["train"]), batch_size=128)

    class PoisonGrad(pydlk.train.Callback):  # runs before TerminateOnNaN's check
        def on_before_step(self, batch, logs):
            if batch == 1:
                model[1].bias.grad[3] = np.inf

    w = np.asarray(model[1].weight).copy()
    fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        train,
        epochs=1,
        callbacks=[PoisonGrad(), TerminateOnNaN()],
        verbose=False,
    )
    err = caplog.text
    assert "parameter '1.bias' has a non-finite gradient" in err and "batch 2" in err
    assert np.all(np.isfinite(np.asarray(model[1].bias)))
    assert not np.array_equal(np.asarray(model[1].weight), w)  # batch 1's step was taken


def test_csv_logger_plot_and_lr_logger_with_a_per_batch_schedule(data, tmp_path):
    model, opt, train, val = _setup(data)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=2 * len(train))
    lrlog = LearningRateLogger()
    csv_path = tmp_path / "h.csv"
    h = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        train,
        val,
        epochs=2,
        scheduler=sched,
        callbacks=[lrlog, CSVLogger(csv_path)],
        verbose=False,
    )
    assert len(lrlog.lrs) == 2 * len(train)
    lrs = [r[0] for r in lrlog.lrs]
    assert max(lrs) > 5 * lrs[0] and lrs[-1] < max(lrs) / 10  # warm-up then anneal
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) == 3
    pytest.importorskip("matplotlib")
    png = tmp_path / "h.png"
    h.plot(str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_snapshot_ensemble_and_ema_evaluation(data):
    model, opt, train, val = _setup(data, dropout=0.0)
    sched = optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2)
    snap = SnapshotEnsemble(cycle_len=2)
    h = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        train,
        val,
        epochs=4,
        scheduler=sched,
        callbacks=[snap, EMAEvaluation(decay=0.9)],
        verbose=False,
    )
    assert len(snap.snapshots) == 2
    p = snap.predict(data["test"][0])
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    assert (p.argmax(1) == data["test"][1]).mean() > 0.8
    assert len(h["val_accuracy_ema"]) == 4 and h["val_accuracy_ema"][-1] > 0.8


def test_diagnostics_table(data):
    from pydlk.diagnostics import diagnose_step

    pydlk.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10)
    )
    opt = optim.SGD(model.parameters(), lr=1e-2)
    x, y = data["train"][0][:64], data["train"][1][:64]
    d = diagnose_step(model, nn.CrossEntropyLoss(), opt, x, y)
    tanh = d.activations["2"]
    assert 0 <= tanh["saturated"] <= 1 and "dead" in d.activations["4"]
    # update/weight ratio of plain SGD is lr * ||g|| / ||w||
    w = model.state_dict()["1.weight"]
    assert d.ratios["1.weight"] == pytest.approx(
        1e-2 * d.grads["1.weight"] / np.linalg.norm(w), rel=1e-3
    )
    table = d.table()
    assert "update/weight" in table and "1.weight" in table and "(Tanh)" in table
    # a dead ReLU layer: every unit negative for every sample
    with pydlk.no_grad():
        model[3].bias.data[...] = -1e3
    d = diagnose_step(model, nn.CrossEntropyLoss(), opt, x, y)
    assert d.activations["4"]["dead"] == 1.0


def test_doctor_passes_on_lenet_and_flags_a_bad_initial_loss(data):
    from pydlk.doctor import check_initial_loss, doctor

    x, y = data["train"]
    checks = doctor(lambda: models.LeNet5(10, 1, 8), nn.CrossEntropyLoss(), x, y, verbose=False)
    assert [c.ok for c in checks] == [True] * 4, [c.line() for c in checks]
    assert 1e-5 < checks[3].numbers["suggested_lr"] < 1

    def too_large():
        m = models.MLP(64, (32,), 10)
        with pydlk.no_grad():
            m[-1].weight.data *= 100
        return m

    bad = check_initial_loss(too_large, nn.CrossEntropyLoss(), x, y, 10)
    assert not bad.ok and "ln(10)" in bad.verdict


def test_cli_train_writes_checkpoint_and_plot(tmp_path, capsys):
    from pydlk.cli import main

    rc = main(["train", "--model", "mlp", "--epochs", "2", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "test accuracy" in out
    run = tmp_path / "digits-mlp"
    assert (run / "checkpoint.npz").exists() and (run / "history.csv").exists()
    ckpt = pydlk.load(str(run / "checkpoint.npz"))
    assert {"model", "optimizer", "rng", "epoch"} <= set(ckpt)


def test_cli_config_file_and_bad_flags(tmp_path, capsys):
    from pydlk.cli import main

    cfg = tmp_path / "run.toml"
    cfg.write_text('model = "mlp"\nepochs = 1\nbatch-size = 256\nschedule = "none"\n')
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path), "--no-progress"]) == 0
    assert "mlp on digits" in capsys.readouterr().out
    assert main(["train", "--data", "imagenet", "--out", str(tmp_path)]) == 2
    assert "pydlk train: error: unknown data set" in capsys.readouterr().err
    assert main(["train", "--data", "mnist", "--out", str(tmp_path)]) == 2
    assert "needs a directory" in capsys.readouterr().err
    assert main(["train", "--data", f"mnist:{tmp_path}", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--download" in err and "download=True" not in err


@pytest.mark.parametrize(
    "patience,values,stop_epoch",
    [
        (2, [1.0, 0.5, 0.7, 0.8, 0.1, 0.1], 4),  # two epochs without improvement: 0.7, 0.8
        (0, [1.0, 0.5, 0.7, 0.1], 3),  # patience 0: the first one
        (1, [1.0, 1.0, 0.5], 2),
    ],
)  # equal is not an improvement
def test_early_stopping_patience_counts_like_keras(data, caplog, patience, values, stop_epoch):
    """fit stops after exactly ``patience`` epochs without improvement, logs why."""
    import logging

    from pydlk.train import Callback

    model, opt, train, val = _setup(data, lr=1e-3)
    feed = iter(values)

    class Fake(Callback):  # replaces the monitored value with a scripted sequence
        def on_epoch_end(self, epoch, logs):
            logs["val_loss"] = next(feed)

    es = EarlyStopping(monitor="val_loss", patience=patience, restore_best=False)
    with caplog.at_level(logging.INFO, logger="pydlk"):
        h = fit(
            model,
            nn.CrossEntropyLoss(),
            opt,
            train,
            val,
            epochs=len(values),
            callbacks=[Fake(), es],
            verbose=False,
        )
    assert len(h.epoch) == stop_epoch
    assert any("did not improve" in r.getMessage() and r.name == "pydlk" for r in caplog.records)


def test_cli_ratio_table(tmp_path):
    import json

    from pydlk.cli import ratio_table

    bench = {
        "benchmarks": [
            {"name": "test_pydlk[a]", "group": "conv a", "stats": {"median": 0.001}},
            {"name": "test_numpy[a]", "group": "conv a", "stats": {"median": 0.004}},
            {"name": "test_torch_fused[a]", "group": "conv a", "stats": {"median": 0.003}},
            {"name": "test_torch_foreach[a]", "group": "conv a", "stats": {"median": 0.002}},
        ]
    }
    p = tmp_path / "b.json"
    p.write_text(json.dumps(bench))
    row = ratio_table(str(p)).splitlines()[1].split()
    assert row[-2:] == ["0.50", "0.25"]  # against the faster torch variant
    assert math.isclose(float(row[-4]), 4.0)


def test_preprocessing_state_travels_in_the_checkpoint(data, tmp_path):
    from pydlk.data import Standardize

    path = str(tmp_path / "ckpt.npz")
    std = Standardize().fit(data["train"][0])
    model, opt, train, _ = _setup(data)
    fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        train,
        epochs=1,
        verbose=False,
        callbacks=[ModelCheckpoint(path)],
        extra_state={"standardize": std},
    )
    fresh = Standardize()
    model, opt, train, _ = _setup(data)
    fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        train,
        epochs=1,
        verbose=False,
        resume=path,
        extra_state={"standardize": fresh},
    )
    np.testing.assert_allclose(fresh.transform(data["val"][0]), std.transform(data["val"][0]))
    with pytest.raises(KeyError, match="no extra state 'other'"):
        fit(
            model,
            nn.CrossEntropyLoss(),
            opt,
            train,
            epochs=1,
            verbose=False,
            resume=path,
            extra_state={"other": Standardize()},
        )


def test_cli_info_and_bench(tmp_path, capsys):
    from pydlk.cli import main

    assert main(["info"]) == 0
    assert "SIMD in use" in capsys.readouterr().out
    pytest.importorskip("pytest_benchmark")
    rc = main(
        [
            "bench",
            "-k",
            "linear and lenet",
            "--benchmark-min-rounds=1",
            "--benchmark-max-time=0.01",
            "--benchmark-warmup=off",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "pydlk/torch" in out and "linear fwd+bwd lenet_fc1" in out


def test_scheduler_dispatch_does_not_depend_on_class_names(data):
    from pydlk.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau

    class MyPlateau(ReduceLROnPlateau):
        pass

    class MyOneCycle(OneCycleLR):
        pass

    class WantsMetric:  # duck-typed: step(metrics) takes the monitored value
        def __init__(self):
            self.seen = []

        def step(self, metrics):
            self.seen.append(metrics)

        def state_dict(self):
            return {}

    model, opt, train, val = _setup(data)
    sched = MyPlateau(opt, patience=0, factor=0.5)
    h = fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=2, scheduler=sched, verbose=False)
    assert sched.best == min(h["val_loss"])
    model, opt, train, val = _setup(data)
    sched = MyOneCycle(opt, max_lr=1e-2, total_steps=2 * len(train))
    lrs = LearningRateLogger()
    fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        train,
        epochs=2,
        scheduler=sched,
        callbacks=[lrs],
        verbose=False,
    )
    assert sched.last_epoch == 2 * len(train)  # stepped after every batch
    assert len({round(r[0], 12) for r in lrs.lrs}) > len(lrs.lrs) // 2
    model, opt, train, val = _setup(data)
    w = WantsMetric()
    h = fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=2, scheduler=w, verbose=False)
    assert w.seen == h["val_loss"]


def test_fit_and_evaluate_log_the_sample_weighted_mean(data):
    """Uneven last batch: the epoch loss is sum(batch_loss * batch_size) / N in both."""
    model, opt, _, _ = _setup(data, dropout=0.0)
    x, y = data["val"]
    loader = DataLoader(TensorDataset(x, y), batch_size=100)  # last batch is smaller
    loss_fn = nn.CrossEntropyLoss()
    got = evaluate(model, loss_fn, loader)
    with pydlk.no_grad():
        model.eval()
        out = np.asarray(np.asarray(model(pydlk.tensor(x))), np.float64)
    logp = out - out.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    np.testing.assert_allclose(got["loss"], -logp[np.arange(len(y)), y].mean(), rtol=1e-5)
    assert got["accuracy"] == (out.argmax(1) == y).mean()
    model, opt, _, _ = _setup(data, dropout=0.0, lr=0.0)  # lr 0: the weights do not move
    h = fit(model, loss_fn, opt, loader, epochs=1, verbose=False)
    ref = evaluate(model, loss_fn, loader)
    np.testing.assert_allclose(h["loss"][0], ref["loss"], rtol=1e-6)
    assert h["accuracy"][0] == ref["accuracy"]


def test_data_does_not_import_train():
    import ast
    import pathlib

    root = pathlib.Path(pydlk.__file__).parent / "data"
    for f in root.glob("*.py*"):
        if f.suffix not in (".py", ".pyx"):
            continue
        for node in ast.walk(ast.parse(f.read_text())) if f.suffix == ".py" else ():
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith(("train", "pydlk.train")) and not (
                    node.level >= 2 and (node.module or "").startswith("train")
                ), f
    from pydlk.train import tta_predict

    model, *_ = _setup(data={"train": digits("train"), "val": digits("val")}, dropout=0.0)
    x = digits("test")[0][:10]
    p = tta_predict(model, x, flips=True, shifts=1)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    assert p.shape == (10, 10)


def test_history_plot_keeps_the_backend_and_marks_the_best_epoch(tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    from pydlk.train import History

    h = History()
    for e, (l, vl, va) in enumerate([(2.0, 1.9, 0.3), (1.0, 1.2, 0.7), (0.5, 1.4, 0.6)], 1):
        h.append(e, {"loss": l, "val_loss": vl, "val_accuracy": va, "lr": 0.1 / e})
    assert h.best_epoch() == 2 and h.best_epoch("loss") == 3
    before = matplotlib.get_backend()
    calls = []
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: calls.append(a))
    png = tmp_path / "h.png"
    h.plot(str(png), log_loss=True)
    assert not calls and matplotlib.get_backend() == before
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_bar_only_on_a_terminal(data, monkeypatch, capsys):
    import io

    from pydlk.train import ProgressBar

    class Tty(io.StringIO):
        def isatty(self):
            return True

    made = []
    import tqdm.auto

    real = tqdm.auto.tqdm
    monkeypatch.setattr(tqdm.auto, "tqdm", lambda *a, **k: made.append(1) or real(*a, **k))
    model, opt, train, _ = _setup(data)
    fit(model, nn.CrossEntropyLoss(), opt, train, epochs=1, callbacks=[ProgressBar()])
    assert not made and "epoch 1:" in capsys.readouterr().out  # pytest's stdout: not a tty
    fit(model, nn.CrossEntropyLoss(), opt, train, epochs=1, callbacks=[ProgressBar(Tty())])
    assert made


def test_tensorboard_logger_writes_scalars(data, tmp_path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        from pydlk.train.tensorboard import TensorBoardLogger

        with pytest.raises(ImportError, match="pydlk\\[tensorboard\\]"):
            TensorBoardLogger(str(tmp_path))
        pytest.skip("tensorboard is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from pydlk.train.tensorboard import TensorBoardLogger

    model, opt, train, val = _setup(data)
    h = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        train,
        val,
        epochs=2,
        verbose=False,
        callbacks=[TensorBoardLogger(str(tmp_path))],
    )
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    got = [e.value for e in acc.Scalars("val_loss")]
    assert got == pytest.approx(h["val_loss"], rel=1e-6)


def test_lr_find_restores_state_and_suggests_a_descending_lr(data, tmp_path):
    from pydlk.train import lr_find
    from pydlk.train.lr_find import steepest

    model, _, train, _ = _setup(data, dropout=0.0)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    fit(model, nn.CrossEntropyLoss(), opt, train, epochs=1, verbose=False)  # momentum state
    before_m = {k: v.clone() for k, v in model.state_dict().items()}
    before_o = opt.state_dict()
    res = lr_find(model, nn.CrossEntropyLoss(), opt, train, start_lr=1e-5, end_lr=10, num_iter=60)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before_m[k], err_msg=k)
    assert opt.param_groups[0]["lr"] == 0.05
    after_o = opt.state_dict()
    for k, s in before_o["state"].items():
        for n, v in s.items():
            np.testing.assert_array_equal(np.asarray(after_o["state"][k][n]), np.asarray(v))
    assert 1e-5 <= res.lrs[0] < res.lrs[-1] and len(res.lrs) <= 60
    # the suggestion is where the smoothed loss falls fastest against log lr (reference:
    # finite differences written out here)
    lo = int(np.argmin(res.losses))
    L, lg = np.asarray(res.losses[: lo + 1]), np.log(res.lrs[: lo + 1])
    slopes = [
        (L[min(i + 1, lo)] - L[max(i - 1, 0)]) / (lg[min(i + 1, lo)] - lg[max(i - 1, 0)])
        for i in range(lo + 1)
    ]
    assert res.suggestion == pytest.approx(res.lrs[int(np.argmin(slopes))])
    assert res.suggestion < res.lrs[lo]
    assert steepest([1e-3, 1e-2], [1.0, 0.5]) is None
    pytest.importorskip("matplotlib")
    png = tmp_path / "lr.png"
    res.plot(str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_lr_find_writes_the_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from pydlk.cli import main

    assert (
        main(
            [
                "lr-find",
                "--model",
                "mlp",
                "--optimizer",
                "sgd",
                "--num-iter",
                "30",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert "suggested lr" in capsys.readouterr().out
    assert (tmp_path / "digits-mlp" / "lr_find.png").exists()
