"""``fit``: the training loop, written out so one step can be followed from loader to optimiser.

    for x, y in train_loader:            # contiguous float32 NCHW batch, int64 labels
        out = model(x)                   # forward records the tape
        loss = loss_fn(out, y)
        optimizer.zero_grad()            # one memset over the optimiser's flat gradient buffer
        loss.backward()                  # gradients land in the flat buffer's slots
        (callbacks' on_before_step)      # e.g. TerminateOnNaN: stop before a bad step is taken
        optimizer.step()                 # one fused kernel call per parameter group
    scheduler.step()                     # next learning rate (per epoch, or per batch for
                                         # OneCycleLR/CyclicLR)

SIGTERM and SIGINT (a preempted job, Ctrl-C) are caught when ``fit`` has somewhere to write
(``preempt_path``): the step in flight finishes, the full training state is written there, and
``TrainingInterrupted`` is raised; ``fit(resume=preempt_path)`` continues bitwise-identically.
"""

from __future__ import annotations

import inspect
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _random
from .._backend import device_of, get_array_module, host_array, is_cupy
from .._typing import DeviceLike
from ..autograd import Tensor, no_grad
from ..distributed import fit_support as _dist
from .device_batch import to_device, to_host
from .history import History

if TYPE_CHECKING:
    from ..metrics import Metric
    from ..nn.module import Module
    from ..optim.optimizer import Optimizer
    from .callbacks import Callback

_log = logging.getLogger("pydlk")


class TrainingInterrupted(Exception):
    """Raised by ``fit`` after a SIGTERM/SIGINT once the training state has been saved to
    ``path``; ``signum`` is the signal, ``history`` what was trained so far."""

    def __init__(self, signum, path: str | os.PathLike[str], epoch: int, batch, history) -> None:
        self.signum, self.path, self.epoch, self.batch = signum, path, epoch, batch
        self.history = history
        name = signal.Signals(signum).name
        super().__init__(
            f"fit: {name} received; the training state at epoch {epoch + 1}, "
            f"batch {batch} was saved to {path}; continue with "
            f"fit(..., resume={path!r})"
        )


class _Meter:
    """Sample-weighted running mean of the loss and, for class labels, the accuracy: the one
    accumulator behind fit's and evaluate's logs."""

    def __init__(self):
        self.total, self.n, self.correct, self.has_acc = 0.0, 0, 0, True

    def update(self, loss_value, out, y):
        k = len(y)
        self.total += float(loss_value) * k
        self.n += k
        c = _correct(out, y)
        self.has_acc = self.has_acc and c is not None
        self.correct += c or 0

    def logs(self):
        logs = {"loss": self.total / max(self.n, 1)}
        if self.has_acc and self.n:
            logs["accuracy"] = self.correct / self.n
        return logs

    def state_dict(self):
        return {"total": self.total, "n": self.n, "correct": self.correct, "has_acc": self.has_acc}

    def load_state_dict(self, state):
        self.total, self.n = float(state["total"]), int(state["n"])
        self.correct, self.has_acc = int(state["correct"]), bool(state["has_acc"])


class Trainer:
    """What callbacks see: the objects being trained and the loop's state."""

    def __init__(
        self,
        model: Module,
        loss_fn: Callable[..., Tensor],
        optimizer: Optimizer,
        scheduler,
        train_loader: Iterable[Any],
        val_loader: Iterable[Any] | None,
        history,
        extra_state=None,
        device=None,
    ) -> None:
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.device = device  # where fit moves each batch ('cpu', 'cuda:N'), None: nowhere
        self.extra_state = dict(extra_state or {})
        self.scheduler, self.train_loader, self.val_loader = scheduler, train_loader, val_loader
        self.history = history
        self.epoch = 0
        self.batch = 0  # batches done in the current epoch (0 at an epoch boundary)
        self.meter = _Meter()
        self.stop_training = False
        self.stop_reason = None

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: model, optimiser, scheduler, loader, RNG, and
        mid-epoch the position and running metrics of the epoch in progress."""
        state = {
            "epoch": self.epoch,
            "model": _dist.unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": _random.get_rng_state(),
            "history": self.history.state_dict(),
        }
        if self.batch:
            state["position"] = {"batch": self.batch, "meter": self.meter.state_dict()}
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        if hasattr(self.train_loader, "state_dict"):
            state["loader"] = self.train_loader.state_dict()
        if self.extra_state:
            state["extra"] = {k: v.state_dict() for k, v in self.extra_state.items()}
        return state

    def load_state_dict(self, state) -> None:
        _dist.unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])
        if "loader" in state and hasattr(self.train_loader, "load_state_dict"):
            self.train_loader.load_state_dict(state["loader"])
        for k, obj in self.extra_state.items():
            if k not in state.get("extra", {}):
                raise KeyError(f"fit(resume=...): the checkpoint has no extra state '{k}'")
            obj.load_state_dict(state["extra"][k])
        _random.set_rng_state(state["rng"])
        self.history.load_state_dict(state["history"])
        self.epoch = int(state["epoch"])
        self.meter = _Meter()
        self.batch = 0
        if "position" in state:
            self.batch = int(state["position"]["batch"])
            self.meter.load_state_dict(state["position"]["meter"])


# ----------------------------------------------------------------------------- schedulers


def _steps_per_batch(scheduler):
    """Whether ``scheduler`` steps after every batch: its ``step_per_batch`` attribute when it
    has one, else whether it is a OneCycleLR or CyclicLR (torch steps those per batch)."""
    from ..optim.lr_scheduler import CyclicLR, OneCycleLR

    flag = getattr(scheduler, "step_per_batch", None)
    return bool(flag) if flag is not None else isinstance(scheduler, (OneCycleLR, CyclicLR))


def _wants_metrics(scheduler):
    """Whether ``scheduler.step`` takes the monitored metric (ReduceLROnPlateau and anything
    whose ``step`` has a required argument)."""
    from ..optim.lr_scheduler import ReduceLROnPlateau

    if isinstance(scheduler, ReduceLROnPlateau):
        return True
    try:
        params = inspect.signature(scheduler.step).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in params
    )


# ----------------------------------------------------------------------------- helpers


def _correct(out, y):
    out = out._data if isinstance(out, Tensor) else out
    xp = get_array_module(out)  # counted where the outputs are; int() brings one number back
    out, y = xp.asarray(out), xp.asarray(y._data if isinstance(y, Tensor) else y)
    if out.ndim == 2 and out.shape[1] > 1 and y.ndim == 1 and y.dtype.kind in "iu":
        return int((out.argmax(1) == y).sum())
    # binary logits, (N, 1) or (N,), against 0/1 targets (BCEWithLogitsLoss takes floats):
    # the decision is at logit 0 (probability 0.5)
    if (
        (out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1))
        and y.size == len(out)
        and y.dtype.kind in "iufb"
        and bool(((y == 0) | (y == 1)).all())
    ):
        return int(((out.reshape(-1) > 0) == (y.reshape(-1) > 0.5)).sum())
    return None


def _host(v):
    """A torch tensor (e.g. from a torch DataLoader) as a NumPy array; anything else as is."""
    if type(v).__module__.startswith("torch"):
        return v.detach().cpu().numpy()
    return v


def _xy(batch, device=None):
    x, y = _host(batch[0]), _host(batch[1])
    if device is not None:
        x, y = to_device(x, device), to_device(y, device)
    return x, y


def _check_device(model, device, op):
    """``device`` as 'cpu'/'cuda:N' (None stays None), after checking that the model's
    parameters are there: the model is moved by the caller, before its optimiser is built."""
    if device is None:
        return None
    from .._device import device_str

    dev = device_str(device)
    params = getattr(model, "parameters", None)
    where = {p.device for p in params()} if callable(params) else set()
    if where and where != {dev}:
        raise ValueError(
            f"{op}: device={device!r} but the model's parameters are on "
            f"{', '.join(sorted(str(w) for w in where))}; call model.to({dev!r}) before building "
            f"the optimizer, then pass device={dev!r}"
        )
    return dev


def _metric_logs(metrics):
    """Scalar metric values by name; array-valued ones (a confusion matrix) are not logged
    per epoch: read them from the metric object after ``fit``/``evaluate``."""
    out = {}
    for m in metrics:
        v = m.compute()
        if np.ndim(v) == 0:
            out[m.name] = float(v)
    return out


def _update_metrics(metrics, out, y):
    if metrics:
        o = to_host(out._data if isinstance(out, Tensor) else out)
        for m in metrics:
            m.update(o, to_host(y))


def _graphed_step(graphed, model, loss_fn, optimizer, scheduler, x, y):
    """One training step replayed from a CUDA graph captured for these batch shapes. The first
    batch of a shape is trained eagerly once (the warm-up step) and then captured, which runs
    nothing: so every batch is trained exactly once. Returns the step's (outputs, loss)."""
    from ..cuda import graph_train_step

    key = (x.shape, getattr(y, "shape", None))
    step = graphed.get(key)
    if step is None:
        step = graphed[key] = graph_train_step(
            model, loss_fn, optimizer, x, y, scheduler, num_warmup_iters=1
        )
        return tuple(step.warm)
    loss = step(x, y)
    return step.output, loss


def _lr(optimizer):
    return float(optimizer.param_groups[0]["lr"])


def evaluate(
    model: Module,
    loss_fn: Callable[..., Tensor],
    loader: Iterable[Any],
    metrics: Sequence[Metric] = (),
    device: DeviceLike | None = None,
) -> dict[str, Any]:
    """Mean loss (and accuracy, for class labels or binary logits) over ``loader`` in eval
    mode, no gradients; each of ``metrics`` (``pydlk.metrics``) is reset, updated per batch and
    logged under its ``name``. Batches of torch tensors are converted to NumPy; with
    ``device``, each batch is moved there.

    Under ``mpiexec`` (a process group of several ranks) call it on every rank, each with its
    shard of the data (``pydlk.distributed.fit_support.eval_shard``): the sample counts, loss
    sums and metric states are summed over ranks, so every rank gets the figures of the whole
    data (as torchmetrics' ``sync_on_compute``)."""
    dev = _check_device(model, device, "evaluate")
    was_training = getattr(model, "training", False)
    model.eval()
    meter = _Meter()
    metrics = list(metrics)
    for m in metrics:
        m.reset()
    try:
        with no_grad():
            for batch in loader:
                x, y = _xy(batch, dev)
                out = model(Tensor(x))
                meter.update(loss_fn(out, y).item(), out, y)
                _update_metrics(metrics, out, y)
    finally:
        model.train(was_training)
    # under mpiexec each rank evaluated its shard: counts and sums are added over the ranks
    meter.total, meter.n, meter.correct = _dist.sum_across_ranks(
        meter.total, meter.n, meter.correct
    )
    _dist.sum_metric_states(metrics)
    logs = meter.logs()
    logs.update(_metric_logs(metrics))
    return logs


def _model_device(model: Module) -> str | None:
    """'cuda:N' for a model whose first parameter (or buffer) is on a GPU, else None."""
    for get in ("parameters", "buffers"):
        for t in getattr(model, get, lambda: ())():
            a = t._data if isinstance(t, Tensor) else t
            return device_of(a) if is_cupy(a) else None
    return None


def predict(model: Module, data: Any, batch_size: int = 256) -> np.ndarray:
    """Model outputs for an array or a Tensor (batched; a GPU Tensor's batches stay on its GPU)
    or a loader, as one NumPy array, in eval mode. For a model on a GPU, host batches (arrays,
    CPU Tensors, a loader's batches) are copied to its device first, as ``evaluate(device=)``
    does."""
    dev = _model_device(model)
    was_training = getattr(model, "training", False)
    model.eval()
    outs = []
    try:
        with no_grad():
            batches: Any
            if isinstance(data, Tensor) or is_cupy(data):  # batches of rows, not row by row
                batches = (data[s : s + batch_size] for s in range(0, len(data), batch_size))
            elif hasattr(data, "__iter__") and not isinstance(data, np.ndarray):
                batches = (b[0] if isinstance(b, (tuple, list)) else b for b in data)
            else:
                arr = np.ascontiguousarray(np.asarray(data, dtype=np.float32))
                batches = (arr[s : s + batch_size] for s in range(0, len(arr), batch_size))
            for x in batches:
                if dev is not None:
                    x = to_device(_host(x._data if isinstance(x, Tensor) else x), dev)
                outs.append(host_array(model(Tensor(x))._data))
    finally:
        model.train(was_training)
    return np.concatenate(outs) if outs else np.zeros((0,))


def tta_predict(
    model: Module, x: Any, flips: bool = True, shifts: int = 0, batch_size: int = 256
) -> np.ndarray:
    """Test-time augmentation: the mean softmax over the original batch, its mirror image (with
    ``flips``) and, for ``shifts`` = s > 0, the four diagonal shifts by s pixels (zero fill);
    the views come from ``pydlk.data.augment.tta_views``."""
    from ..data.augment import tta_views

    probs: Any = 0  # the sum of the views' softmax outputs
    views = tta_views(x, flips, shifts)
    for v in views:
        out = predict(model, v, batch_size)
        e = np.exp(out - out.max(axis=1, keepdims=True))
        probs = probs + e / e.sum(axis=1, keepdims=True)
    return probs / len(views)


class _SignalCatcher:
    """SIGTERM/SIGINT set a flag the loop reads at the next step boundary; a second SIGINT
    interrupts at once (KeyboardInterrupt). Installed only in the main thread (Python delivers
    signals there) and only when there is a ``preempt_path`` to save to."""

    def __init__(self, active):
        self.active = active and threading.current_thread() is threading.main_thread()
        self.signum = None
        self.old = {}

    def _handler(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self):
        if self.active:
            for s in (signal.SIGTERM, signal.SIGINT):
                self.old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, h in self.old.items():
            signal.signal(s, h)


def fit(
    model: Module,
    loss_fn: Callable[..., Tensor],
    optimizer: Optimizer,
    train_loader: Iterable[Any],
    val_loader: Iterable[Any] | None = None,
    epochs: int = 1,
    scheduler: Any = None,
    callbacks: Sequence[Callback] = (),
    resume: str | os.PathLike[str] | None = None,
    verbose: bool = True,
    extra_state: dict[str, Any] | None = None,
    preempt_path: str | os.PathLike[str] | None = None,
    metrics: Sequence[Metric] = (),
    device: DeviceLike | None = None,
    cuda_graph: bool = False,
) -> History:
    """Train for ``epochs`` epochs and return a ``History`` (per-epoch loss, accuracy, lr and
    their ``val_`` counterparts; per-iteration loss and lr in ``History.iterations``).
    ``resume`` is a checkpoint written by ``ModelCheckpoint`` or by a preemption: training
    continues exactly where it stopped (model, optimiser, scheduler, loader, RNG, and the
    position within the epoch). ``extra_state`` ({name: object with state_dict /
    load_state_dict}, e.g. a fitted ``Standardize``) travels in the checkpoint too.

    With ``preempt_path``, SIGTERM or SIGINT makes ``fit`` finish the current step, save the
    training state to ``preempt_path`` and raise ``TrainingInterrupted``.

    ``metrics`` (``pydlk.metrics`` objects) are computed on the training batches and, with
    ``val_loader``, on the validation set (``val_`` + name). Loaders may yield torch tensors
    (a torch ``DataLoader``): they are converted to NumPy arrays.

    A callback that sets ``trainer.stop_training`` in ``on_before_step`` (after backward,
    before ``optimizer.step()``) stops the run without taking that step.

    ``device`` ('cpu', 'cuda', 'cuda:N'): each batch is moved there (on a GPU through pinned
    memory on a side stream, see ``pydlk/train/device_batch.py``). The model must already be
    there (``model.to(device)`` before the optimiser is built, as in torch); a model elsewhere
    is a ValueError saying so. ``cuda_graph=True`` (GPU, static batch shapes) captures the step
    once and replays it (``pydlk.cuda.graph_train_step``, which lists what it refuses); a batch
    of another shape (a short last batch) runs eagerly, and ``on_before_step`` then sees the
    step after it was taken."""
    from ..serialization import load, save
    from .callbacks import CallbackList, ProgressBar

    metrics = list(metrics)
    dev = _check_device(model, device, "fit")
    if cuda_graph and (dev is None or dev == "cpu"):
        raise ValueError("fit: cuda_graph=True needs device='cuda' (a CUDA graph runs on a GPU)")
    graphed: dict[Any, Any] = {}  # batch shapes -> captured step
    history = History()
    trainer = Trainer(
        model, loss_fn, optimizer, scheduler, train_loader, val_loader, history, extra_state, dev
    )
    given = list(callbacks)
    if verbose and not any(isinstance(c, ProgressBar) for c in given):
        given.insert(0, ProgressBar())
    cbs = CallbackList(_dist.rank_zero_callbacks(given), trainer)
    if resume is not None:
        # onto the host: load_state_dict copies into the model and optimiser wherever they
        # are, so a checkpoint written on a GPU resumes on a machine without one
        trainer.load_state_dict(load(resume, map_location="cpu"))
    per_batch = scheduler is not None and _steps_per_batch(scheduler)
    plateau = scheduler is not None and not per_batch and _wants_metrics(scheduler)

    def preempt(catcher):
        if catcher.signum is None:
            return
        save(trainer.state_dict(), preempt_path)
        raise TrainingInterrupted(
            catcher.signum, preempt_path, trainer.epoch, trainer.batch, history
        )

    with _SignalCatcher(preempt_path is not None) as catcher:
        cbs.call("on_train_begin")
        for epoch in range(trainer.epoch, epochs):
            trainer.epoch = epoch
            model.train()
            _dist.set_epoch(train_loader, epoch)
            cbs.call("on_epoch_begin", epoch)
            meter, start = trainer.meter, trainer.batch
            if start == 0:
                for m in metrics:
                    m.reset()
            for b, batch in enumerate(train_loader, start):
                x, y = _xy(batch, dev)
                if cuda_graph:
                    out, loss = _graphed_step(graphed, model, loss_fn, optimizer, scheduler, x, y)
                else:
                    out = model(Tensor(x))
                    loss = loss_fn(out, y)
                    optimizer.zero_grad()
                    loss.backward()
                lv = float(loss.item())
                meter.update(lv, out, y)
                _update_metrics(metrics, out, y)
                cbs.call("on_before_step", b, {"loss": lv})
                if trainer.stop_training:
                    break
                lr = _lr(optimizer)  # the rate this step uses
                if not cuda_graph:
                    optimizer.step()
                if per_batch:
                    scheduler.step()
                trainer.batch = b + 1
                history.append_iteration(epoch + 1, {"loss": lv, "lr": lr})
                cbs.call("on_batch_end", b, {"loss": lv})
                if trainer.stop_training:
                    break
                preempt(catcher)
            # under mpiexec each rank saw its shard: the epoch's figures are summed over ranks
            meter.total, meter.n, meter.correct = _dist.sum_across_ranks(
                meter.total, meter.n, meter.correct
            )
            _dist.sum_metric_states(metrics)
            m = meter.logs()
            logs = {"loss": m.pop("loss"), "lr": _lr(optimizer), **m}
            logs.update(_metric_logs(metrics))
            if val_loader is not None and not trainer.stop_training:
                val = evaluate(model, loss_fn, val_loader, metrics, dev)
                logs.update({f"val_{k}": v for k, v in val.items()})
            if scheduler is not None and not per_batch:
                if plateau:
                    scheduler.step(logs.get("val_loss", logs["loss"]))
                else:
                    scheduler.step()
            trainer.epoch, trainer.batch, trainer.meter = epoch + 1, 0, _Meter()
            history.append(epoch + 1, logs)
            cbs.call("on_epoch_end", epoch, logs)
            if trainer.stop_training:
                _log.info(
                    "training stopped after epoch %d: %s",
                    epoch + 1,
                    trainer.stop_reason or "a callback set stop_training",
                )
                break
            preempt(catcher)
        cbs.call("on_train_end")
    return history
