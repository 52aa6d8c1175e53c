"""Proximal L1: soft-thresholding after each step, so that weights reach exact zeros.

A subgradient step on ``l1 * |w|`` (``l1_weight_decay``) moves each weight by ``lr * l1 *
sign(w)``; near zero it jumps back and forth across 0 and stalls at about ``lr * l1`` in
magnitude, never exactly 0. The proximal operator of ``lr * l1 * |w|`` is the soft threshold
``w <- sign(w) * max(|w| - lr * l1, 0)`` (ISTA / proximal gradient descent), which sets small
weights to exactly 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from ..autograd import Tensor
from .optimizer import Optimizer

__all__ = ["ProximalL1", "prox_l1_"]


def _array(p):
    return p._data if isinstance(p, Tensor) else p


def prox_l1_(params: Tensor | np.ndarray | Iterable[Any], lr: float, l1: float) -> None:
    """Soft-threshold every parameter in place: ``w <- sign(w) * max(|w| - lr * l1, 0)``.

    ``params`` is one Tensor/array or an iterable of them; they are written into (so parameters
    in an optimiser's arena stay in their slots)."""
    if not lr >= 0 or not l1 >= 0:
        raise ValueError(f"prox_l1_: lr and l1 must be >= 0, got lr={lr}, l1={l1}")
    if isinstance(params, (Tensor, np.ndarray)) or is_cupy(params):
        params = [params]
    thr = lr * l1
    for p in params:
        w = _array(p)
        if not (isinstance(w, np.ndarray) or is_cupy(w)) or w.dtype.kind != "f":
            raise TypeError(
                f"prox_l1_: parameters must be floating-point arrays or Tensors, "
                f"got {type(p).__name__}"
            )
        # sign(w) * max(|w| - thr, 0) == w - clip(w, -thr, thr), written into w
        w -= get_array_module(w).clip(w, -thr, thr)


class ProximalL1:
    """Wrap an optimiser: ``step()`` runs the inner optimiser's step, then the L1 proximal step
    ``prox_l1_(group params, group['lr'], l1)`` with each group's current learning rate (so a
    schedule applies to both). ``l1`` is a number or one per parameter group. Not in torch.

    Everything else (``zero_grad``, ``param_groups``, ``state_dict``) is the inner optimiser's.
    """

    def __init__(self, optimizer: Optimizer, l1: float | list = 0.0) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"ProximalL1: optimizer must be a pydlk Optimizer, got {type(optimizer).__name__}"
            )
        n = len(optimizer.param_groups)
        l1s = list(l1) if isinstance(l1, (list, tuple)) else [l1] * n
        if len(l1s) != n or any(not (v >= 0) for v in l1s):
            raise ValueError(
                f"ProximalL1: l1 must be >= 0, one number or one per parameter "
                f"group ({n}), got {l1!r}"
            )
        self.optimizer = optimizer
        self.l1 = [float(v) for v in l1s]

    def __getattr__(self, name):
        return getattr(self.optimizer, name)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = self.optimizer.step(closure) if closure is not None else self.optimizer.step()
        for group, l1 in zip(self.optimizer.param_groups, self.l1):
            if l1 > 0:
                prox_l1_([p for p in group["params"] if p.requires_grad], group["lr"], l1)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none)
