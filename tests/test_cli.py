"""The pydlk command line: configuration precedence, tune through fit, preemption exit codes."""

import os
import signal
import subprocess
import sys

import pytest
from conftest import child_env

import pydlk
from pydlk import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _captured(monkeypatch, name):
    seen = {}
    monkeypatch.setattr(cli, name, lambda cfg: seen.update(cfg) or 0)
    return seen


def test_config_file_beats_defaults_and_flags_beat_the_file(tmp_path, monkeypatch):
    cfg = tmp_path / "run.toml"
    cfg.write_text("trials = 2\nworkers = 3\ntune-epochs = 5\nlr = 0.5\n")
    seen = _captured(monkeypatch, "cmd_tune")
    assert cli.main(["tune", "--config", str(cfg)]) == 0
    assert (seen["trials"], seen["workers"], seen["tune_epochs"], seen["lr"]) == (2, 3, 5, 0.5)
    seen.clear()
    assert cli.main(["tune", "--config", str(cfg), "--trials", "7", "--tune-epochs", "1"]) == 0
    assert (seen["trials"], seen["workers"], seen["tune_epochs"]) == (7, 3, 1)
    seen.clear()
    assert cli.main(["tune"]) == 0  # no file: the documented defaults
    assert (seen["trials"], seen["workers"], seen["tune_epochs"]) == (8, 1, 3)


def test_tune_trains_through_fit(monkeypatch):
    from pydlk import train

    calls = []
    real_fit = train.fit

    def spy(*a, **k):
        calls.append(k)
        return real_fit(*a, **k)

    monkeypatch.setattr(train, "fit", spy)
    reports = []
    cfg = dict(cli.DEFAULTS, model="mlp", epochs=2, batch_size=256)
    acc = cli._tune_objective({"lr": 3e-3, "reg": 1e-5}, lambda s, v: reports.append((s, v)), cfg)
    assert len(calls) == 1 and calls[0]["epochs"] == 2
    assert [s for s, _ in reports] == [0, 1] and acc == reports[-1][1] and 0 < acc <= 1


_TRAIN = """
import sys, time
import pydlk.train as t
from pydlk import cli
from pydlk.train import Callback

class Ready(Callback):
    def on_batch_end(self, batch, logs):
        if batch == 1 and self.trainer.epoch == 0:
            print("ready", flush=True)
        time.sleep(0.05)

orig = t.fit
def fit(*a, callbacks=(), **k):  # pace the run so that the signal lands mid-epoch
    return orig(*a, callbacks=[*callbacks, Ready()], **k)
t.fit = fit
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_train_exits_128_plus_signal_after_saving(tmp_path, signum):
    env = child_env(OMP_NUM_THREADS="1")
    args = [
        "train",
        "--model",
        "mlp",
        "--epochs",
        "3",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--batch-size",
        "32",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", _TRAIN, *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip().endswith("threads")  # the banner
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 128 + signum, err
    saved = tmp_path / "digits-mlp" / "interrupted.npz"
    assert f"--resume {saved}" in err
    state = pydlk.load(saved)
    assert state["epoch"] == 0 and state["position"]["batch"] >= 2


def _cli(tmp_path, *args, timeout=300):
    """Run ``python -m pydlk.cli ARGS`` outside the checkout; returns the CompletedProcess."""
    env = child_env(OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "pydlk.cli", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_shows_every_flag_with_its_default_and_version(tmp_path):
    for cmd in ("train", "doctor", "tune", "summary"):
        r = cli.build_parser()._subparsers._group_actions[0].choices[cmd]
        for action in r._actions:
            if action.option_strings and action.dest != "help":
                assert action.help and "default" in action.help, (cmd, action.dest)
    out = _cli(tmp_path, "train", "--help").stdout
    assert "(default: 0.003)" in out and "(default: 64)" in out and "default: None" not in out
    r = _cli(tmp_path, "--version")
    assert r.returncode == 0 and r.stdout.startswith("pydlk ")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "--lr", "-0.1"], "--lr must be a number > 0"),
        (["train", "--batch-size", "-5"], "--batch-size must be an integer >= 1"),
        (["train", "--config", "missing.toml"], "missing.toml: no such file"),
        (["train", "--resume", "missing.npz"], "missing.npz: no such file"),
        (["doctor", "--optimizer", "sgd", "--lr", "5"], "unrecognized arguments: --lr"),
        (["doctor", "--epochs", "5"], "unrecognized arguments"),
        (["summary", "--epochs", "3"], "unrecognized arguments"),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path, args, needle):
    r = _cli(tmp_path, *args)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr
    if "unrecognized" not in needle:
        assert r.stderr.strip().count("\n") == 0
        assert r.stderr.startswith(f"pydlk {args[0]}: error: ")


@pytest.mark.parametrize(
    "text,needle",
    [
        ("learning_rate = 5\n", "unknown key 'learning_rate'"),
        ("epochz = 3\n", "did you mean 'epochs'"),
        ('lr = "fast"\n', "--lr must be a number > 0, got 'fast'"),
    ],
)
def test_config_keys_and_values_are_checked(tmp_path, capsys, text, needle):
    cfg = tmp_path / "run.toml"
    cfg.write_text(text)
    assert cli.main(["train", "--config", str(cfg), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pydlk train: error: ") and needle in err, err


def test_epochs_zero_trains_nothing_and_says_so(tmp_path):
    r = _cli(tmp_path, "train", "--model", "mlp", "--epochs", "0", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "nothing trained" in r.stdout and "Traceback" not in r.stderr


def test_closed_pipe_exits_quietly(tmp_path):
    env = child_env(OMP_NUM_THREADS="1")
    cmd = (
        f"{sys.executable} -m pydlk.cli train --model mlp --epochs 2 --batch-size 512 "
        f"--out {tmp_path} | head -1"
    )
    r = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.stdout.startswith("pydlk train:")
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr


def test_resume_continues_from_the_last_epoch_and_the_schedule(tmp_path):
    base = [
        "train",
        "--model",
        "mlp",
        "--batch-size",
        "256",
        "--out",
        str(tmp_path),
        "--no-progress",
    ]
    assert cli.main([*base, "--epochs", "2"]) == 0
    run = tmp_path / "digits-mlp"
    last, best = run / "last.npz", run / "best.npz"
    assert last.exists() and best.exists() and (run / "checkpoint.npz").exists()
    assert pydlk.load(str(last))["epoch"] == 2
    assert cli.main([*base, "--epochs", "4", "--resume", str(last)]) == 0
    state = pydlk.load(str(last))
    assert state["epoch"] == 4 and state["history"]["epoch"] == [1, 2, 3, 4]
    # the cosine schedule continued from its saved state (T_max=2 of the first run): epoch 3
    # runs at the curve's minimum, it does not restart at the initial lr
    lrs = state["history"]["history"]["lr"]
    assert lrs[0] == pytest.approx(3e-3) and lrs[1] == pytest.approx(1.5e-3)
    assert lrs[2] == pytest.approx(0.0, abs=1e-9) and lrs[3] < lrs[1], lrs


def test_tune_names_the_study_writes_best_toml_and_honours_fixed_lr(tmp_path, capsys):
    pytest.importorskip("optuna")
    args = [
        "tune",
        "--model",
        "mlp",
        "--trials",
        "2",
        "--tune-epochs",
        "1",
        "--batch-size",
        "256",
        "--out",
        str(tmp_path),
        "--lr",
        "0.01",
        "--sampler",
        "random",
    ]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    best = tmp_path / "digits-mlp" / "best.toml"
    assert "best: val acc" in out and best.exists()
    import optuna

    from pydlk.tune import resolve_storage

    study = optuna.load_study(
        study_name="digits-mlp",
        storage=resolve_storage(str(tmp_path / "digits-mlp" / "tune.journal")),
    )
    assert len(study.trials) == 2 and all("lr" not in t.params for t in study.trials)
    assert "lr = 0.01" in best.read_text()
    # the file is a valid train config
    assert cli.main(["train", "--config", str(best), "--epochs", "0", "--out", str(tmp_path)]) == 0


def test_doctor_sweeps_the_given_optimizer(monkeypatch, capsys):
    from pydlk import doctor as D
    from pydlk import optim

    seen = []
    real = D.lr_range_test

    def spy(*a, make_optimizer=None, **k):
        def make(params):
            opt = make_optimizer(params)
            seen.append(opt)
            return opt

        return real(*a, make_optimizer=make, **k)

    monkeypatch.setattr(D, "lr_range_test", spy)
    monkeypatch.setattr(D, "check_overfit", lambda *a, **k: D.Check("overfit", True, "skipped"))
    cli.main(["doctor", "--model", "mlp", "--optimizer", "sgd", "--batch-size", "32"])
    assert len(seen) == 1 and isinstance(seen[0], optim.SGD)


def test_bench_passes_its_arguments_to_pytest_with_or_without_a_separator(monkeypatch):
    import subprocess as sp

    calls = []
    monkeypatch.setattr(sp, "call", lambda cmd, **k: calls.append(cmd) or 0)
    monkeypatch.setattr(cli, "bench_dir", lambda: ROOT)
    assert cli.main(["bench", "-k", "conv2d"]) == 0
    assert cli.main(["bench", "--", "-k", "conv2d"]) == 0
    assert calls[0][-2:] == ["-k", "conv2d"] and calls[1][-2:] == ["-k", "conv2d"]
    assert "--" not in calls[1]


def test_bench_prints_the_blas_kernel_warning(monkeypatch, capsys):
    import subprocess as sp

    from pydlk import _config

    monkeypatch.setattr(_config, "blas_kernel_warning", lambda: "OPENBLAS_CORETYPE=Haswell")
    monkeypatch.setattr(sp, "call", lambda *a, **k: 0)  # the suite itself is not run
    monkeypatch.setattr(cli, "bench_dir", lambda: ROOT)
    assert cli.main(["bench", "-k", "nothing"]) == 0
    assert "pydlk bench: warning: OPENBLAS_CORETYPE=Haswell" in capsys.readouterr().err
