"""``fit``: the training loop, written out so one step can be followed from loader to optimiser.

    for x, y in train_loader:            # contiguous float32 NCHW batch, int64 labels
        out = model(x)                   # forward records the tape
        loss = loss_fn(out, y)
        optimizer.zero_grad()            # one memset over the optimiser's flat gradient buffer
        loss.backward()                  # gradients land in the flat buffer's slots
        optimizer.step()                 # one fused kernel call per parameter group
    scheduler.step()                     # next learning rate (per epoch, or per batch for
                                         # OneCycleLR/CyclicLR)
"""
import numpy as np

from .. import _random
from ..autograd import Tensor, no_grad
from ..distributed import fit_support as _dist
from .history import History


class Trainer:
    """What callbacks see: the objects being trained and the loop's state."""

    def __init__(self, model, loss_fn, optimizer, scheduler, train_loader, val_loader, history,
                 extra_state=None):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.extra_state = dict(extra_state or {})
        self.scheduler, self.train_loader, self.val_loader = scheduler, train_loader, val_loader
        self.history = history
        self.epoch = 0
        self.stop_training = False
        self.stop_reason = None

    def state_dict(self):
        """Everything needed to continue exactly: model, optimiser, scheduler, loader, RNG."""
        state = {"epoch": self.epoch, "model": self.model.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "rng": _random.get_rng_state(),
                 "history": self.history.state_dict()}
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        if hasattr(self.train_loader, "state_dict"):
            state["loader"] = self.train_loader.state_dict()
        if self.extra_state:
            state["extra"] = {k: v.state_dict() for k, v in self.extra_state.items()}
        return state

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
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


def _per_batch(scheduler):
    return type(scheduler).__name__ in ("OneCycleLR", "CyclicLR")


def _correct(out, y):
    out = np.asarray(out.data if isinstance(out, Tensor) else out)
    y = np.asarray(y)
    if out.ndim == 2 and y.ndim == 1 and y.dtype.kind in "iu":
        return int((out.argmax(1) == y).sum())
    return None


def _lr(optimizer):
    return float(optimizer.param_groups[0]["lr"])


def evaluate(model, loss_fn, loader):
    """Mean loss (and accuracy, for class labels) over ``loader`` in eval mode, no gradients."""
    was_training = getattr(model, "training", False)
    model.eval()
    total, n, correct, has_acc = 0.0, 0, 0, True
    try:
        with no_grad():
            for batch in loader:
                x, y = batch[0], batch[1]
                out = model(Tensor(x))
                total += float(loss_fn(out, y).item()) * len(y)
                c = _correct(out, y)
                has_acc = has_acc and c is not None
                correct += c or 0
                n += len(y)
    finally:
        model.train(was_training)
    logs = {"loss": total / max(n, 1)}
    if has_acc and n:
        logs["accuracy"] = correct / n
    return logs


def predict(model, data, batch_size=256):
    """Model outputs for an array (batched) or a loader, as one NumPy array, in eval mode."""
    was_training = getattr(model, "training", False)
    model.eval()
    outs = []
    try:
        with no_grad():
            if hasattr(data, "__iter__") and not isinstance(data, np.ndarray):
                batches = (b[0] if isinstance(b, tuple) else b for b in data)
            else:
                arr = np.ascontiguousarray(np.asarray(data, dtype=np.float32))
                batches = (arr[s:s + batch_size] for s in range(0, len(arr), batch_size))
            for x in batches:
                outs.append(np.asarray(model(Tensor(x)).data))
    finally:
        model.train(was_training)
    return np.concatenate(outs) if outs else np.zeros((0,))


def fit(model, loss_fn, optimizer, train_loader, val_loader=None, epochs=1, scheduler=None,
        callbacks=(), resume=None, verbose=True, extra_state=None):
    """Train for ``epochs`` epochs and return a ``History`` (per-epoch loss, accuracy, lr and
    their ``val_`` counterparts). ``resume`` is a checkpoint written by ``ModelCheckpoint``:
    training continues exactly where it stopped (model, optimiser, scheduler, loader, RNG).
    ``extra_state`` ({name: object with state_dict/load_state_dict}, e.g. a fitted
    ``Standardize``) travels in the checkpoint too and is restored on resume."""
    from .callbacks import CallbackList, ProgressBar

    history = History()
    trainer = Trainer(model, loss_fn, optimizer, scheduler, train_loader, val_loader, history,
                      extra_state)
    cbs = list(callbacks)
    if verbose and not any(isinstance(c, ProgressBar) for c in cbs):
        cbs.insert(0, ProgressBar())
    cbs = CallbackList(_dist.rank_zero_callbacks(cbs), trainer)
    if resume is not None:
        from ..serialization import load
        trainer.load_state_dict(load(resume))
    cbs.call("on_train_begin")
    per_batch = scheduler is not None and _per_batch(scheduler)
    for epoch in range(trainer.epoch, epochs):
        trainer.epoch = epoch
        model.train()
        _dist.set_epoch(train_loader, epoch)
        cbs.call("on_epoch_begin", epoch)
        total, n, correct, has_acc = 0.0, 0, 0, True
        for b, batch in enumerate(train_loader):
            x, y = batch[0], batch[1]
            out = model(Tensor(x))
            loss = loss_fn(out, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
            lv = float(loss.item())
            total += lv * len(y)
            n += len(y)
            c = _correct(out, y)
            has_acc = has_acc and c is not None
            correct += c or 0
            cbs.call("on_batch_end", b, {"loss": lv})
            if trainer.stop_training:
                break
        total, n, correct = _dist.sum_across_ranks(total, n, correct)
        logs = {"loss": total / max(n, 1), "lr": _lr(optimizer)}
        if has_acc and n:
            logs["accuracy"] = correct / n
        if val_loader is not None and not trainer.stop_training:
            val = _dist.average_logs(evaluate(model, loss_fn, val_loader))
            logs.update({f"val_{k}": v for k, v in val.items()})
        if scheduler is not None and not per_batch:
            if type(scheduler).__name__ == "ReduceLROnPlateau":
                scheduler.step(logs.get("val_loss", logs["loss"]))
            else:
                scheduler.step()
        trainer.epoch = epoch + 1
        history.append(epoch + 1, logs)
        cbs.call("on_epoch_end", epoch, logs)
        if trainer.stop_training:
            break
    cbs.call("on_train_end")
    return history
