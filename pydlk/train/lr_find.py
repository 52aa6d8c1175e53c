"""The learning-rate range test (Smith 2017, fastai's ``lr_find``): train for a few batches
while the learning rate grows geometrically, record the smoothed loss, stop once it diverges.
``pydlk doctor`` and ``pydlk lr-find`` both use ``sweep``."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..autograd import Tensor

if TYPE_CHECKING:
    from .._typing import DeviceLike
    from ..nn.module import Module
    from ..optim.optimizer import Optimizer


def sweep(
    step, start_lr: float, end_lr: float, num_iter: int, smooth: float = 0.05, diverge: float = 5.0
):
    """Call ``step(lr) -> loss`` along ``num_iter`` geometric steps from ``start_lr`` to
    ``end_lr``; returns (lrs, smoothed losses). The loss is an exponential moving average with
    weight ``smooth`` on the newest value, bias-corrected; the sweep stops after a non-finite
    loss or once the smoothed loss exceeds ``diverge`` times its minimum."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"lr_find: need 0 < start_lr < end_lr, got {start_lr}, {end_lr}")
    if num_iter < 2:
        raise ValueError(f"lr_find: num_iter must be >= 2, got {num_iter}")
    if not 0 < smooth <= 1:
        raise ValueError(f"lr_find: smooth must be in (0, 1], got {smooth}")
    factor = (end_lr / start_lr) ** (1 / (num_iter - 1))
    lrs, losses, avg, best, lr = [], [], 0.0, float("inf"), start_lr
    for i in range(num_iter):
        v = float(step(lr))
        avg = (1 - smooth) * avg + smooth * v
        s = avg / (1 - (1 - smooth) ** (i + 1))
        lrs.append(lr)
        losses.append(s if math.isfinite(s) else float("inf"))
        best = min(best, s)
        if not math.isfinite(v) or s > diverge * best:
            break
        lr *= factor
    return lrs, losses


def steepest(lrs, losses):
    """The learning rate where the smoothed loss falls fastest (most negative slope of the
    loss against log lr), over the sweep before its minimum; None for a too-short sweep."""
    lo = int(np.argmin(losses))
    if lo < 2:
        return None
    g = np.gradient(np.asarray(losses[: lo + 1]), np.log(np.asarray(lrs[: lo + 1])))
    return float(lrs[int(np.argmin(g))])


class LRFinderResult:
    """``lrs``, smoothed ``losses`` and ``suggestion`` (steepest descent) of ``lr_find``."""

    def __init__(self, lrs, losses, suggestion) -> None:
        self.lrs, self.losses, self.suggestion = list(lrs), list(losses), suggestion

    def plot(self, path: str | os.PathLike[str], skip_end: int = 3) -> str | os.PathLike[str]:
        """Loss against learning rate (log axis) with the suggestion marked, to a PNG (needs
        matplotlib); draws on its own Agg figure, leaving the process's backend alone."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from .._atomic import atomic_write

        fig = Figure(figsize=(5, 3.6))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        n = max(2, len(self.lrs) - skip_end)  # the last points are the blow-up
        ax.plot(self.lrs[:n], self.losses[:n])
        if self.suggestion is not None:
            ax.axvline(self.suggestion, color="red", ls="--", label=f"{self.suggestion:.1e}")
            ax.legend()
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("smoothed loss")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        with atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=100)
        return path


def lr_find(
    model: Module,
    loss_fn: Callable[..., Tensor],
    optimizer: Optimizer,
    loader: Iterable[Any],
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    smooth: float = 0.05,
    diverge: float = 5.0,
    device: DeviceLike | None = None,
):
    """Range test with ``optimizer`` (any pydlk optimiser) on batches of ``loader`` (cycled if
    shorter than ``num_iter``). The model's and the optimiser's state are restored afterwards.
    Returns an ``LRFinderResult``; ``suggestion`` is the steepest descent of the smoothed loss
    (fastai's 'steep' point), None when the sweep ended too early to tell. With ``device``
    ('cpu', 'cuda', 'cuda:N'; the model already there, as for ``fit``) each batch is moved
    there.

    Raises:
        ValueError: ``device`` is not where the model's parameters are."""
    from .loop import _check_device, _xy

    dev = _check_device(model, device, "lr_find")
    model_state = copy.deepcopy(model.state_dict())
    opt_state = copy.deepcopy(optimizer.state_dict())
    was_training = getattr(model, "training", True)
    batches = iter(())

    def step(lr):
        nonlocal batches
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        x, y = _xy(batch, dev)  # torch tensors as NumPy arrays, then onto the device
        for g in optimizer.param_groups:
            g["lr"] = lr
        loss = loss_fn(model(Tensor(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    model.train()
    try:
        lrs, losses = sweep(step, start_lr, end_lr, num_iter, smooth, diverge)
    finally:
        model.load_state_dict(model_state)
        optimizer.load_state_dict(opt_state)
        model.train(was_training)
    return LRFinderResult(lrs, losses, steepest(lrs, losses))
