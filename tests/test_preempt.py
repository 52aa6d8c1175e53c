"""fit under SIGTERM/SIGINT: the state is saved at the next step boundary, and a resumed run
ends bitwise-identical to one that was never interrupted."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import child_env

import pydlk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Dropout, a seedless shuffled loader with augmentation and a per-batch schedule: every stream
# a resume has to restore.
_RUN = """
import os, sys, time
import numpy as np
import pydlk
from pydlk import models, nn, optim
from pydlk.data import DataLoader, TensorDataset, augment as A
from pydlk.datasets import digits
from pydlk.train import Callback, ModelCheckpoint, TrainingInterrupted, fit

mode, out, ckpt = sys.argv[1], sys.argv[2], sys.argv[3]
pydlk.manual_seed(0)
x, y = digits("train")
x, y = x[:600], y[:600]
model = models.MLP(64, (32,), 10, dropout=0.3)
opt = optim.Adam(model.parameters(), lr=3e-3)
sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=3 * 10)
train = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True,
                   transform=A.Compose([A.RandomCrop(padding=1)]))

class Slow(Callback):
    def on_batch_end(self, batch, logs):
        if mode in ("interrupt", "kill"):
            if self.trainer.epoch == 1 and batch == 2:
                print("ready", flush=True)  # the parent sends the signal now
            time.sleep(0.05)

# "kill": SIGKILL runs no handler; the last epoch checkpoint is what a resume has.
every_epoch = [ModelCheckpoint(ckpt)] if mode in ("kill", "resume-killed") else []
try:
    h = fit(model, nn.CrossEntropyLoss(), opt, train, epochs=3, scheduler=sched,
            callbacks=[Slow()] + every_epoch, verbose=False, preempt_path=ckpt,
            resume=ckpt if mode in ("resume", "resume-killed") else None)
except TrainingInterrupted as e:
    print(e, flush=True)
    sys.exit(128 + e.signum)
pydlk.save({"model": model.state_dict(), "opt": opt.state_dict(), "loss": h["loss"],
            "acc": h["accuracy"]}, out)
"""


def _run(mode, tmp_path, signum=None):
    env = child_env(OMP_NUM_THREADS="1")
    out = tmp_path / f"{mode}.npz"
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN, mode, str(out), str(tmp_path / "preempt.npz")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if signum is not None:
            assert proc.stdout.readline().strip() == "ready"
            proc.send_signal(signum)
        stdout, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return proc.returncode, stdout, out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_and_resume_is_bitwise_identical(tmp_path, signum):
    rc, stdout, _ = _run("interrupt", tmp_path, signum)
    assert rc == 128 + signum, stdout
    assert signal.Signals(signum).name in stdout and "preempt.npz" in stdout
    state = pydlk.load(tmp_path / "preempt.npz")
    assert state["epoch"] == 1 and state["position"]["batch"] >= 3  # mid-epoch
    rc, _, resumed = _run("resume", tmp_path)
    assert rc == 0
    rc, _, straight = _run("straight", tmp_path)
    assert rc == 0
    _assert_same_run(resumed, straight)


def _assert_same_run(resumed, straight):
    a, b = pydlk.load(resumed), pydlk.load(straight)
    for k in b["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k])
    for i, s in b["opt"]["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(np.asarray(a["opt"]["state"][i][k]), np.asarray(v))
    assert a["loss"] == b["loss"] and a["acc"] == b["acc"]


def test_kill_9_then_resume_from_the_epoch_checkpoint_is_bitwise_identical(tmp_path):
    rc, _, _ = _run("kill", tmp_path, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    state = pydlk.load(tmp_path / "preempt.npz")  # written by ModelCheckpoint after epoch 1
    assert state["epoch"] == 1
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]
    rc, _, resumed = _run("resume-killed", tmp_path)
    assert rc == 0
    rc, _, straight = _run("straight", tmp_path)
    assert rc == 0
    _assert_same_run(resumed, straight)


def test_signal_handlers_are_restored(tmp_path):
    from pydlk import nn, optim
    from pydlk.data import DataLoader, TensorDataset
    from pydlk.train import fit

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    model = nn.Linear(3, 2)
    x = np.zeros((4, 3), np.float32)
    y = np.zeros(4, np.int64)
    fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.1),
        DataLoader(TensorDataset(x, y), batch_size=2),
        verbose=False,
        preempt_path=tmp_path / "p.npz",
    )
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert not (tmp_path / "p.npz").exists()
