"""Babysitting the learning process: what the lectures ask a practitioner to watch.

Per layer, gathered with forward hooks: activation mean and std, the fraction of saturated
units for tanh/sigmoid (|tanh| > 0.99, sigmoid outside [0.01, 0.99]), and the dead-ReLU fraction
(units that output 0 for every sample of the batch). Per parameter: the gradient norm and the
update-to-weight ratio ||dW|| / ||W|| of the last optimiser step (about 1e-3 is healthy; much
larger means the learning rate is too high, much smaller too low).

    diag = Diagnostics(model)
    with diag:                      # hooks attached inside the block
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(); loss.backward()
        diag.before_step(); optimizer.step(); diag.after_step()
    print(diag.table())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._backend import host_array
from ._typing import TensorLike
from .autograd import Tensor
from .nn.module import Module, RemovableHandle

if TYPE_CHECKING:
    from .optim.optimizer import Optimizer

_RELU = ("ReLU", "ReLU6", "LeakyReLU")
_SAT = {"Tanh": lambda y: np.abs(y) > 0.99, "Sigmoid": lambda y: (y < 0.01) | (y > 0.99)}


def _array(t: Any) -> np.ndarray:
    return host_array(t._data if isinstance(t, Tensor) else t)


class Diagnostics:
    """Forward/backward statistics of ``model``'s leaf layers (see the module docstring):
    activations, gradient norms and update-to-weight ratios; use as a context manager, call
    ``before_step()``/``after_step()`` around ``optimizer.step()``, print ``table()``.
    """

    def __init__(self, model: Module) -> None:
        self.model = model
        self.activations: dict[str, dict[str, Any]] = {}
        self.grads: dict[str, float] = {}
        self.ratios: dict[str, float] = {}
        self._handles: list[RemovableHandle] = []
        self._before: dict[str, np.ndarray] | None = None

    # -- hooks ---------------------------------------------------------------------------
    def attach(self) -> Diagnostics:
        for name, m in self.model.named_modules():
            if name and not list(m.children()):
                self._handles.append(m.register_forward_hook(self._forward_hook(name)))
        return self

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> Diagnostics:
        return self.attach()

    def __exit__(self, *exc: object) -> Literal[False]:
        self.detach()
        return False

    def _forward_hook(self, name: str) -> Callable[[Module, tuple[Any, ...], Any], None]:
        def hook(module: Module, inputs: tuple[Any, ...], output: Any) -> None:
            if not isinstance(output, Tensor):
                return
            y = _array(output).astype(np.float64, copy=False)
            kind = type(module).__name__
            row: dict[str, Any] = {
                "layer": f"{name} ({kind})",
                "mean": float(y.mean()) if y.size else 0.0,
                "std": float(y.std()) if y.size else 0.0,
            }
            if kind in _SAT and y.size:
                row["saturated"] = float(_SAT[kind](y).mean())
            if kind in _RELU and y.size and y.ndim >= 2:
                # a unit is a feature (N, F) or a channel (N, C, ...): dead if 0 for every sample
                units = (y.reshape(y.shape[0], y.shape[1], -1) > 0).any(axis=(0, 2))
                row["dead"] = float(1.0 - units.mean())
            self.activations[name] = row

        return hook

    # -- gradients and updates --------------------------------------------------------------
    def gradient_norms(self) -> dict[str, float]:
        self.grads = {
            n: float(np.linalg.norm(_array(p._grad)))
            for n, p in self.model.named_parameters()
            if p._grad is not None
        }
        return self.grads

    def before_step(self) -> None:
        self.gradient_norms()
        self._before = {n: _array(p._data).copy() for n, p in self.model.named_parameters()}

    def after_step(self) -> dict[str, float]:
        if self._before is None:
            raise RuntimeError("Diagnostics.after_step: call before_step() before optimizer.step()")
        self.ratios = {}
        for n, p in self.model.named_parameters():
            w = _array(p._data)
            wn = float(np.linalg.norm(w))
            self.ratios[n] = (
                float(np.linalg.norm(w - self._before[n])) / wn if wn > 0 else float("nan")
            )
        self._before = None
        return self.ratios

    # -- report ------------------------------------------------------------------------------
    def table(self) -> str:
        lines = []
        if self.activations:
            lines.append(
                f"{'layer':<34}{'act mean':>10}{'act std':>10}{'saturated':>11}{'dead':>8}"
            )
            for row in self.activations.values():
                sat = f"{row['saturated']:.1%}" if "saturated" in row else "-"
                dead = f"{row['dead']:.1%}" if "dead" in row else "-"
                lines.append(
                    f"{row['layer']:<34}{row['mean']:>10.4f}{row['std']:>10.4f}{sat:>11}{dead:>8}"
                )
        if self.grads or self.ratios:
            if lines:
                lines.append("")
            lines.append(f"{'parameter':<34}{'grad norm':>12}{'update/weight':>15}  verdict")
            for name, _ in self.model.named_parameters():
                g = self.grads.get(name, float("nan"))
                r = self.ratios.get(name, float("nan"))
                lines.append(f"{name:<34}{g:>12.3e}{r:>15.2e}  {ratio_verdict(r)}")
        return "\n".join(lines)


def ratio_verdict(r: float) -> str:
    """'high', 'low' or 'ok' for an update-to-weight ratio (healthy between 1e-4 and 1e-2);
    '' for nan.
    """
    if not np.isfinite(r):
        return ""
    if r > 1e-2:
        return "high (learning rate too large?)"
    if r < 1e-4:
        return "low (learning rate too small?)"
    return "ok"


def diagnose_step(
    model: Module,
    loss_fn: Callable[[Tensor, Any], Tensor],
    optimizer: Optimizer,
    x: TensorLike,
    y: Any,
) -> Diagnostics:
    """Run one training step on (x, y) with diagnostics attached; returns the Diagnostics."""
    diag = Diagnostics(model)
    model.train()
    with diag:
        loss = loss_fn(model(Tensor(np.asarray(x))), y)
        optimizer.zero_grad()
        loss.backward()
        diag.before_step()
        optimizer.step()
        diag.after_step()
    return diag


__all__ = ["Diagnostics", "diagnose_step", "ratio_verdict"]
