"""History: the metrics returned by ``fit``, per epoch (Keras' ``History``) and per training
iteration, and their plot."""

from __future__ import annotations

import os
from typing import Any

from .._atomic import atomic_write


class History:
    """The logs of a ``fit`` run, saved in checkpoints through ``state_dict``: ``epoch`` and
    ``history`` (name -> one value per epoch) as Keras' ``History``;
    ``iterations`` (name -> one value per optimiser step): ``step`` (the global step, 1-based:
    Lightning's ``global_step`` after that step), ``epoch`` (1-based, as logged), ``loss`` (the
    batch's loss, on this process's batch under ``mpiexec``) and ``lr`` (the learning rate the
    step used)."""

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}
        self.iterations: dict[str, list[float]] = {}

    def append(self, epoch: int, logs: dict[str, Any]) -> None:
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))

    @property
    def global_step(self) -> int:
        """Optimiser steps recorded so far (Lightning's ``trainer.global_step``)."""
        steps = self.iterations.get("step")
        return int(steps[-1]) if steps else 0

    def append_iteration(self, epoch: int, logs: dict[str, Any]) -> None:
        """Record one optimiser step of ``epoch`` (1-based): its ``logs`` and the next step."""
        self.iterations.setdefault("step", []).append(self.global_step + 1)
        self.iterations.setdefault("epoch", []).append(int(epoch))
        for k, v in logs.items():
            self.iterations.setdefault(k, []).append(float(v))

    def __getitem__(self, key):
        return self.history[key]

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": list(self.epoch),
            "history": {k: list(v) for k, v in self.history.items()},
            "iterations": {k: list(v) for k, v in self.iterations.items()},
        }

    def load_state_dict(self, state) -> None:
        self.epoch = [int(e) for e in state["epoch"]]
        self.history = {k: [float(x) for x in v] for k, v in state["history"].items()}
        ints = ("step", "epoch")
        self.iterations = {  # absent in checkpoints written before per-iteration records
            k: [int(x) if k in ints else float(x) for x in v]
            for k, v in state.get("iterations", {}).items()
        }

    def _iteration_x(self):
        """Each recorded step's position in epochs: step j of n in epoch e at e - 1 + j / n,
        so an epoch's steps lead up to its per-epoch point at e."""
        eps = self.iterations.get("epoch", [])
        counts = {}
        for e in eps:
            counts[e] = counts.get(e, 0) + 1
        seen, x = {}, []
        for e in eps:
            seen[e] = seen.get(e, 0) + 1
            x.append(e - 1 + seen[e] / counts[e])
        return x

    def plot(
        self,
        path: str | os.PathLike[str],
        log_loss: bool = False,
        monitor: str | None = None,
        epochs: bool = True,
        iterations: bool = True,
    ) -> str | os.PathLike[str]:
        """Write loss, accuracy and learning-rate curves to a PNG (needs matplotlib: the
        ``plot`` extra), atomically. ``log_loss`` puts the loss axis on a log scale. The best
        epoch (of ``monitor``: by default ``val_accuracy``, else ``val_loss``, else ``loss``) is
        marked on every panel. ``iterations``: the per-iteration loss and lr (where recorded)
        as thin lines under the per-epoch curves; ``epochs=False`` draws the per-iteration
        curves only. Draws on its own ``Figure`` with the Agg canvas: the process's
        matplotlib backend and pyplot state are left alone."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install 'pydlk[plot]'") from None
        titles = [
            ("loss", ["loss", "val_loss"]),
            ("accuracy", ["accuracy", "val_accuracy"]),
            ("learning rate", ["lr"]),
        ]
        per_epoch = self.history if epochs else {}
        per_step = self.iterations if iterations else {}
        if not epochs and not per_step.get("step"):
            raise ValueError("History.plot: epochs=False needs per-iteration records")
        panels = [
            (t, [k for k in keys if k in per_epoch], [k for k in keys if k in per_step])
            for t, keys in titles
        ]
        panels = [p for p in panels if p[1] or p[2]]
        best = self.best_epoch(monitor) if epochs else None
        xs = self._iteration_x()
        n = max(1, len(panels))
        fig = Figure(figsize=(4.5 * n, 3.4))
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, n, squeeze=False)[0]
        for ax, (title, keys, step_keys) in zip(axes, panels):
            for k in step_keys:
                ax.plot(xs, per_step[k], lw=0.6, alpha=0.6, label=f"{k} (per iteration)")
            for k in keys:
                ax.plot(self.epoch, self.history[k], marker="o", ms=3, label=k)
            if best is not None:
                ax.axvline(best, color="gray", ls="--", lw=1, label=f"best epoch {best}")
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.set_ylabel(title)
            if title == "learning rate" or (title == "loss" and log_loss):
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        with atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=100)
        return path

    def best_epoch(self, monitor: str | None = None) -> int | None:
        """The epoch (1-based, as logged) with the best ``monitor`` value, or None."""
        if monitor is None:
            monitor = next(
                (k for k in ("val_accuracy", "val_loss", "loss") if k in self.history), None
            )
        if monitor is None or monitor not in self.history or not self.epoch:
            return None
        v = self.history[monitor]
        k = (
            max(range(len(v)), key=v.__getitem__)
            if "acc" in monitor
            else min(range(len(v)), key=v.__getitem__)
        )
        return self.epoch[k]
