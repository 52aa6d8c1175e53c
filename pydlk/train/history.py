"""History: per-epoch metrics returned by ``fit`` (Keras' ``History``), and its plot."""

from .._atomic import atomic_write


class History:
    """Per-epoch logs of a ``fit`` run (Keras's History): ``history['val_loss']`` is the list
    of that metric's values, ``epoch`` the epoch numbers. Saved in checkpoints through
    ``state_dict``.
    """

    def __init__(self):
        self.epoch = []
        self.history = {}

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))

    def __getitem__(self, key):
        return self.history[key]

    def state_dict(self):
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state):
        self.epoch = [int(e) for e in state["epoch"]]
        self.history = {k: [float(x) for x in v] for k, v in state["history"].items()}

    def plot(self, path, log_loss=False, monitor=None):
        """Write loss, accuracy and learning-rate curves to a PNG (needs matplotlib: the
        ``plot`` extra), atomically. ``log_loss`` puts the loss axis on a log scale. The best
        epoch (of ``monitor``: by default ``val_accuracy``, else ``val_loss``, else ``loss``) is
        marked on every panel. Draws on its own ``Figure`` with the Agg canvas: the process's
        matplotlib backend and pyplot state are left alone."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install 'pydlk[plot]'") from None
        panels = [
            ("loss", ["loss", "val_loss"]),
            ("accuracy", ["accuracy", "val_accuracy"]),
            ("learning rate", ["lr"]),
        ]
        panels = [(t, [k for k in keys if k in self.history]) for t, keys in panels]
        panels = [(t, keys) for t, keys in panels if keys]
        best = self.best_epoch(monitor)
        n = max(1, len(panels))
        fig = Figure(figsize=(4.5 * n, 3.4))
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, n, squeeze=False)[0]
        for ax, (title, keys) in zip(axes, panels):
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

    def best_epoch(self, monitor=None):
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
