"""Parameter averaging: an exponential moving average (Polyak averaging with decay) and
stochastic weight averaging (equal average over epochs, torch.optim.swa_utils.AveragedModel's
rule), each update one fused pass per buffer (``average_update`` of pydlk._C, or of pydlk._cuda
for buffers on a GPU), plus SWALR. The averages live on the parameters' device.

Given an optimizer, the averages are kept as flat buffers parallel to its arenas (one kernel call
per arena); given a list of parameters (or an object with ``.parameters()``), one buffer per
parameter. Differences from torch: there is no nn.Module deep copy; ``AveragedModel`` keeps the
averages and offers ``average_parameters()`` / ``copy_to()`` to put them into the live
parameters (BatchNorm statistics are not recomputed: call your own pass as torch's
``update_bn`` would).
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING

import numpy as np

from .._backend import kernels_for
from .._typing import ParamsT
from ..autograd import Tensor
from .lr_scheduler import LRScheduler, _format_param
from .optimizer import Optimizer

if TYPE_CHECKING:
    from ..nn.module import Module

__all__ = ["ExponentialMovingAverage", "AveragedModel", "SWALR"]


class _Averager:
    def __init__(self, source):
        if isinstance(source, Optimizer):
            self._opt = source
            self._arenas = [a for arenas in source._arenas for a in arenas]
            self._params = None
            srcs = [a.param for a in self._arenas]
        else:
            if hasattr(source, "parameters") and callable(source.parameters):
                source = source.parameters()
            self._opt = None
            self._params = [p for p in ([source] if isinstance(source, Tensor) else source)]
            if not self._params:
                raise ValueError(f"{type(self).__name__}: got an empty parameter list")
            for p in self._params:
                if not isinstance(p, Tensor) or p._data.dtype not in (np.float32, np.float64):
                    raise TypeError(
                        f"{type(self).__name__}: parameters must be float32/float64 Tensors"
                    )
            srcs = [p._data for p in self._params]
        self.shadow = [s.copy() for s in srcs]  # on the parameters' device

    def _sources(self):
        """The live arrays (re-read each time: an optimizer built later rebinds p._data)."""
        if self._params is None:
            for a in self._arenas:
                a.check(f"{type(self).__name__}")
            return [a.param for a in self._arenas]
        return [p._data if p._data.flags.c_contiguous else None for p in self._params]

    def _blend(self, w):
        for s, x, p in zip(self.shadow, self._sources(), self._params or [None] * len(self.shadow)):
            if x is None:  # a non-contiguous parameter: plain NumPy
                s += w * (p._data - s)
            else:
                x = x.reshape(s.shape) if x.shape != s.shape else x
                kernels_for(s).average_update(s, x, w)

    def copy_to(self):
        """Write the averages into the live parameters (in place: arenas stay intact)."""
        for s, x, p in zip(self.shadow, self._sources(), self._params or [None] * len(self.shadow)):
            (p._data if x is None else x)[...] = s

    @contextlib.contextmanager
    def average_parameters(self):
        """Swap the averages in for the block (e.g. evaluation) and the live values back out."""
        live = [
            (p._data if x is None else x).copy()
            for x, p in zip(self._sources(), self._params or [None] * len(self.shadow))
        ]
        self.copy_to()
        try:
            yield self
        finally:
            for b, x, p in zip(live, self._sources(), self._params or [None] * len(self.shadow)):
                (p._data if x is None else x)[...] = b

    def averaged_parameters(self):
        """The averages as arrays shaped like the parameters (views of the average buffers)."""
        if self._params is not None:
            return list(self.shadow)
        out = []
        for a, s in zip(self._arenas, self.shadow):
            out.extend(a.slice(s, i) for i in range(len(a.params)))
        return out

    def state_dict(self):
        d = {
            k: v
            for k, v in self.__dict__.items()
            if k not in ("_opt", "_arenas", "_params", "shadow")
        }
        d["shadow"] = [s.copy() for s in self.shadow]
        return d

    def load_state_dict(self, state_dict):
        for s, v in zip(self.shadow, state_dict["shadow"]):
            s[...] = v
        for k, v in state_dict.items():
            if k != "shadow":
                setattr(self, k, v)


class ExponentialMovingAverage(_Averager):
    """``shadow = decay*shadow + (1-decay)*param`` at each ``update()``; the shadow starts at the
    parameters' values at construction. ``average_parameters()`` swaps it in for a block.

    ``use_num_updates=True`` uses ``min(decay, (1+n)/(10+n))`` (TensorFlow's warm-up rule)."""

    def __init__(
        self, parameters: ParamsT, decay: float = 0.995, use_num_updates: bool = False
    ) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"ExponentialMovingAverage: decay must be in [0, 1], got {decay}")
        super().__init__(parameters)
        self.decay = decay
        self.num_updates = 0 if use_num_updates else None

    def update(self) -> None:
        d = self.decay
        if self.num_updates is not None:
            self.num_updates += 1
            d = min(d, (1 + self.num_updates) / (10 + self.num_updates))
        self._blend(1.0 - d)


class AveragedModel(_Averager):
    """Stochastic weight averaging: ``update_parameters()`` adds the current parameters to an
    equal running average (the first call copies them), as torch's AveragedModel with its default
    avg_fn; ``n_averaged`` counts the calls. ``avg_fn(avg, param, n)`` (arrays, in place is not
    required: return the new average) replaces the rule."""

    def __init__(self, model: Module, avg_fn=None) -> None:
        super().__init__(model)
        self.avg_fn = avg_fn
        self.n_averaged = 0

    def update_parameters(self, model: Module | None = None) -> None:
        if self.n_averaged == 0:
            self.copy_from_live()
        elif self.avg_fn is None:
            self._blend(1.0 / (self.n_averaged + 1))
        else:
            for s, x, p in zip(
                self.shadow, self._sources(), self._params or [None] * len(self.shadow)
            ):
                s[...] = self.avg_fn(
                    s, (p._data if x is None else x).reshape(s.shape), self.n_averaged
                )
        self.n_averaged += 1

    def copy_from_live(self) -> None:
        for s, x, p in zip(self.shadow, self._sources(), self._params or [None] * len(self.shadow)):
            s[...] = (p._data if x is None else x).reshape(s.shape)

    def state_dict(self):
        d = super().state_dict()
        d.pop("avg_fn", None)
        return d


class SWALR(LRScheduler):
    """Anneals each group's lr to ``swa_lr`` over ``anneal_epochs`` epochs (cos or linear), then
    holds it (torch.optim.swa_utils.SWALR)."""

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: float | list[float],
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        last_epoch: int = -1,
    ) -> None:
        for lr, g in zip(_format_param("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            g["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self._anneal_strategy = anneal_strategy
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, t) -> float:
        if self._anneal_strategy == "cos":
            return (1 - math.cos(math.pi * t)) / 2
        return t

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self):
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        prev = [
            self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha)
            for g in self.optimizer.param_groups
        ]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [
            g["swa_lr"] * alpha + lr * (1 - alpha)
            for g, lr in zip(self.optimizer.param_groups, prev)
        ]
