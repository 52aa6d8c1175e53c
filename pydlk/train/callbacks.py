"""Callbacks for ``fit`` (Keras' names): each hook receives the Trainer as ``self.trainer``."""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from .._atomic import atomic_write
from .._backend import get_array_module, is_cupy
from ..autograd import Tensor

if TYPE_CHECKING:
    from ..nn.module import Module

_log = logging.getLogger("pydlk")  # library messages; the CLI shows warnings


class Callback:
    """Base class for ``fit`` callbacks: override any of the ``on_*`` hooks (train begin/end,
    epoch begin/end with the epoch's ``logs`` dict, batch end). ``self.trainer`` is set
    before training starts; a callback stops training by setting ``trainer.stop_training``.
    """

    trainer: Any = None  # the Trainer running this callback (set by CallbackList)

    def on_train_begin(self) -> None:
        pass

    def on_train_end(self) -> None:
        pass

    def on_epoch_begin(self, epoch: int) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        pass

    def on_before_step(self, batch, logs: dict[str, Any]) -> None:
        pass  # after backward, before optimizer.step()

    def on_batch_end(self, batch, logs: dict[str, Any]) -> None:
        pass


class CallbackList:
    def __init__(self, callbacks, trainer) -> None:
        self.callbacks = callbacks
        for c in callbacks:
            c.trainer = trainer

    def call(self, hook: str, *args: Any) -> None:
        for c in self.callbacks:
            getattr(c, hook)(*args)


def _fmt(logs):
    return "  ".join(f"{k} {v:.4g}" for k, v in logs.items())


class ProgressBar(Callback):
    """A tqdm bar per epoch (``tqdm.auto``: a widget in notebooks) only when stdout (or
    ``file``) is a terminal, and one printed summary line per epoch in every case."""

    def __init__(self, file=None) -> None:
        self.file = file
        self.bar = None

    def _tty(self):
        f = self.file or sys.stdout
        try:
            return bool(f.isatty())
        except (AttributeError, ValueError):  # no isatty, or a closed file
            return False

    def on_epoch_begin(self, epoch: int) -> None:
        if self._tty():
            from tqdm.auto import tqdm

            total = (
                len(self.trainer.train_loader)
                if hasattr(self.trainer.train_loader, "__len__")
                else None
            )
            self.bar = tqdm(
                total=total,
                desc=f"epoch {epoch + 1}",
                leave=False,
                file=self.file,
                dynamic_ncols=True,
            )

    def on_batch_end(self, batch, logs: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        print(f"epoch {epoch + 1}: {_fmt(logs)}", file=self.file or sys.stdout, flush=True)


def _better(mode, monitor):
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


def _snapshot(model):
    """A copy of the model's state, each value where the model keeps it (a GPU model's on its
    GPU, as ``copy.deepcopy(model.state_dict())`` in torch)."""
    return {
        k: v.detach().clone() if isinstance(v, Tensor) else v for k, v in model.state_dict().items()
    }


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs in a row
    (Keras/Lightning semantics: ``patience=2`` stops at the second epoch without improvement;
    ``patience=0`` at the first); with ``restore_best`` the model gets the weights of its best
    epoch back at the end. Why it stopped goes to ``trainer.stop_reason`` and the 'pydlk'
    logger."""

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 0,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best: bool = True,
    ) -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(min_delta)
        self.mode = _better(mode, monitor)
        self.restore_best = restore_best
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict[str, Any] | None = None
        self.wait = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.monitor not in logs:
            raise KeyError(
                f"EarlyStopping: '{self.monitor}' is not among the logged metrics {sorted(logs)}"
            )
        v = logs[self.monitor]
        improved = self.best is None or (
            v < self.best - self.min_delta if self.mode == "min" else v > self.best + self.min_delta
        )
        if improved:
            self.best, self.best_epoch, self.wait = v, epoch, 0
            if self.restore_best:
                self.best_state = _snapshot(self.trainer.model)
        else:
            self.wait += 1
            if self.wait >= max(1, self.patience):
                assert self.best_epoch is not None  # the first epoch always improves
                self.trainer.stop_training = True
                self.trainer.stop_reason = (
                    f"EarlyStopping: {self.monitor} did not improve for "
                    f"{self.wait} epochs (best {self.best:.4g} at epoch "
                    f"{self.best_epoch + 1})"
                )

    def on_train_end(self) -> None:
        if self.restore_best and self.best_state is not None:
            self.trainer.model.load_state_dict(self.best_state)


class ModelCheckpoint(Callback):
    """Write the full training state (model, optimiser, scheduler, loader, RNG, history) at the
    end of each epoch, atomically; ``fit(resume=path)`` continues from it exactly. With
    ``save_best_only`` only improvements of ``monitor`` are written. ``path`` may contain
    ``{epoch}``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
    ) -> None:
        self.path, self.monitor, self.save_best_only = str(path), monitor, save_best_only
        self.mode = _better(mode, monitor)
        self.best: float | None = None
        self.last_path: str | None = None

    def on_train_begin(self) -> None:
        # A resumed run's history holds the earlier epochs: the best so far is among them, so
        # the first resumed epoch does not overwrite a better checkpoint.
        if not self.save_best_only or self.best is not None:
            return
        history = getattr(self.trainer, "history", None)
        past = [
            v
            for v in (
                history.history.get(self.monitor, [])
                if history is not None and hasattr(history, "history")
                else []
            )
            if v is not None
        ]
        if past:
            self.best = min(past) if self.mode == "min" else max(past)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        from ..serialization import save

        if self.save_best_only:
            v = logs.get(self.monitor)
            if v is None:
                raise KeyError(
                    f"ModelCheckpoint: '{self.monitor}' is not among the logged "
                    f"metrics {sorted(logs)}"
                )
            if self.best is not None and not (
                v < self.best if self.mode == "min" else v > self.best
            ):
                return
            self.best = v
        path = self.path.format(epoch=epoch + 1)
        d = os.path.dirname(path)
        if d:
            os.makedirs(d, exist_ok=True)
        save(self.trainer.state_dict(), path)
        self.last_path = path


class TerminateOnNaN(Callback):
    """Stop as soon as the loss or a gradient is NaN or infinite, before ``optimizer.step()``
    (so the weights stay finite), saying where: epoch, batch, and the module whose output first
    became non-finite in the forward pass (or the parameter with the first non-finite gradient).

    Forward hooks on every module record the first non-finite output of each batch; the test
    is one sum per output (a non-finite sum is confirmed with ``isfinite``)."""

    def __init__(self) -> None:
        self.first = None  # (module path, what) of this batch's first non-finite output
        self._handles: list[Any] = []

    def on_train_begin(self) -> None:
        model = self.trainer.model
        if not hasattr(model, "named_modules"):
            return
        for name, mod in model.named_modules():
            self._handles.append(mod.register_forward_hook(self._hook(name or "(model)")))

    def on_train_end(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _hook(self, name):
        def hook(module, args, output):
            if self.first is not None:
                return
            for o in output if isinstance(output, (tuple, list)) else (output,):
                a = o._data if isinstance(o, Tensor) else o
                is_array = isinstance(a, np.ndarray) or is_cupy(a)
                if is_array and a.dtype.kind in "fc" and not _finite(a):
                    self.first = (name, type(module).__name__)
                    return

        return hook

    def on_before_step(self, batch, logs: dict[str, Any]) -> None:
        first, self.first = self.first, None
        loss = logs["loss"]
        if math.isfinite(loss):
            where = None
            for name, p in self.trainer.model.named_parameters():
                if p._grad is not None and not _finite(p._grad):
                    where = f"parameter '{name}' has a non-finite gradient (the loss is finite)"
                    break
            if where is None:
                return
            what = f"a gradient became non-finite at epoch {self.trainer.epoch + 1}"
        else:
            what = f"loss became {loss} at epoch {self.trainer.epoch + 1}"
            if first is not None:
                where = f"the first non-finite output came from module '{first[0]}' ({first[1]})"
            else:
                where = "every module's output was finite: the loss function made it"
        msg = (
            f"TerminateOnNaN: {what}, batch {batch + 1}; {where}; the optimiser step was "
            "skipped, the weights are those before this batch"
        )
        _log.warning(msg)
        self.trainer.stop_training = True
        self.trainer.stop_reason = msg


def _finite(a):
    """All of ``a`` finite: one sum, confirmed elementwise only when the sum is not finite (a
    sum of large finite values may overflow). A GPU array is tested on its GPU: one bool comes
    back."""
    xp = get_array_module(a)
    with np.errstate(all="ignore"):
        if bool(xp.isfinite(a.sum())):
            return True
    return bool(xp.isfinite(a).all())


class LearningRateLogger(Callback):
    """Records the learning rate of every parameter group after every batch (``self.lrs``)."""

    def __init__(self) -> None:
        self.lrs: list[list[float]] = []  # per batch, one per parameter group

    def on_batch_end(self, batch, logs: dict[str, Any]) -> None:
        self.lrs.append([float(g["lr"]) for g in self.trainer.optimizer.param_groups])


class EMAEvaluation(Callback):
    """Keeps an exponential moving average of the weights (Polyak averaging, ``decay=0.995``),
    updated after every step, and evaluates the validation set with the averaged weights at the
    end of each epoch (logged as ``val_loss_ema`` / ``val_accuracy_ema``)."""

    def __init__(self, decay: float = 0.995) -> None:
        self.decay = decay
        self.ema: Any = None  # an ExponentialMovingAverage once training starts

    def on_train_begin(self) -> None:
        from ..optim.swa_utils import ExponentialMovingAverage

        self.ema = ExponentialMovingAverage(self.trainer.optimizer, decay=self.decay)

    def on_batch_end(self, batch, logs: dict[str, Any]) -> None:
        self.ema.update()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.trainer.val_loader is None:
            return
        from .loop import evaluate

        t = self.trainer
        with self.ema.average_parameters():  # on the device fit moves the batches to
            res = evaluate(t.model, t.loss_fn, t.val_loader, device=getattr(t, "device", None))
        for k, v in res.items():
            logs[f"val_{k}_ema"] = v
            self.trainer.history.history.setdefault(f"val_{k}_ema", []).append(float(v))


class SnapshotEnsemble(Callback):
    """Keeps a copy of the weights at the end of each learning-rate cycle (every ``cycle_len``
    epochs, matching CosineAnnealingWarmRestarts(T_0=cycle_len)); ``predict`` averages the
    snapshots' softmax outputs (Huang et al., 2017)."""

    def __init__(self, cycle_len: int, max_snapshots: int | None = None) -> None:
        if cycle_len < 1:
            raise ValueError(f"SnapshotEnsemble: cycle_len must be >= 1, got {cycle_len}")
        self.cycle_len, self.max_snapshots = cycle_len, max_snapshots
        self.snapshots: list[Any] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if (epoch + 1) % self.cycle_len == 0:
            self.snapshots.append(_snapshot(self.trainer.model))
            if self.max_snapshots and len(self.snapshots) > self.max_snapshots:
                self.snapshots.pop(0)

    def predict(self, data, model: Module | None = None):
        from .loop import predict

        model = model or self.trainer.model
        if not self.snapshots:
            raise RuntimeError("SnapshotEnsemble: no snapshot taken yet")
        current = _snapshot(model)
        probs: Any = None
        try:
            for snap in self.snapshots:
                model.load_state_dict(snap)
                out = predict(model, data)
                e = np.exp(out - out.max(axis=1, keepdims=True))
                p = e / e.sum(axis=1, keepdims=True)
                probs = p if probs is None else probs + p
        finally:
            model.load_state_dict(current)
        return probs / len(self.snapshots)


class CSVLogger(Callback):
    """One row per epoch (epoch and every logged metric); the file is rewritten atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        h = self.trainer.history
        keys = sorted(h.history)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["epoch"] + keys)
        for i, e in enumerate(h.epoch):
            w.writerow([e] + [h.history[k][i] if i < len(h.history[k]) else "" for k in keys])
        with atomic_write(self.path, "w") as f:
            f.write(buf.getvalue())


__all__ = [
    "CSVLogger",
    "Callback",
    "EMAEvaluation",
    "EarlyStopping",
    "LearningRateLogger",
    "ModelCheckpoint",
    "ProgressBar",
    "SnapshotEnsemble",
    "TerminateOnNaN",
]
