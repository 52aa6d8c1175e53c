"""The pydlk command line: configuration precedence, tune through fit, preemption exit codes."""
import os
import signal
import subprocess
import sys

import pytest

import pydlk
from pydlk import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _captured(monkeypatch, name):
    seen = {}
    monkeypatch.setattr(cli, name, lambda cfg: seen.update(cfg) or 0)
    return seen


def test_config_file_beats_defaults_and_flags_beat_the_file(tmp_path, monkeypatch):
    cfg = tmp_path / "run.toml"
    cfg.write_text('trials = 2\nworkers = 3\ntune-epochs = 5\nlr = 0.5\n')
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
    acc = cli._tune_objective({"lr": 3e-3, "reg": 1e-5}, lambda s, v: reports.append((s, v)),
                              cfg)
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
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    args = ["train", "--model", "mlp", "--epochs", "3", "--out", str(tmp_path),
            "--no-progress", "--batch-size", "32"]
    proc = subprocess.Popen([sys.executable, "-c", _TRAIN, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
