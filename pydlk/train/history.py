"""History: per-epoch metrics returned by ``fit`` (Keras' ``History``), and its plot."""
from .._atomic import atomic_write


class History:
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

    def plot(self, path):
        """Write loss, accuracy and learning-rate curves to a PNG (needs matplotlib: the
        ``plot`` extra). The file is written atomically."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install 'pydlk[plot]'") from None
        panels = [("loss", ["loss", "val_loss"]), ("accuracy", ["accuracy", "val_accuracy"]),
                  ("learning rate", ["lr"])]
        panels = [(t, [k for k in keys if k in self.history]) for t, keys in panels]
        panels = [(t, keys) for t, keys in panels if keys]
        fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4.5 * max(1, len(panels)), 3.4))
        axes = axes if hasattr(axes, "__len__") else [axes]
        for ax, (title, keys) in zip(axes, panels):
            for k in keys:
                ax.plot(self.epoch, self.history[k], marker="o", ms=3, label=k)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            if title == "learning rate":
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        try:
            with atomic_write(path) as f:
                fig.savefig(f, format="png", dpi=100)
        finally:
            plt.close(fig)
        return path
