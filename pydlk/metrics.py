"""Streaming metrics (torchmetrics/Keras names): ``update(output, target)`` per batch,
``compute()`` at the end, ``reset()`` to start again.

Every metric's ``state`` is a dict of NumPy arrays whose element-wise sum over shards is the
state of the whole data set, so ranks merge by summing (``merge`` does it for a list of states).
Outputs may be GPU Tensors (copied to the host per batch, where the state lives).
Outputs are logits or scores: (N, C) multi-class (argmax / top-k), (N, 1) or (N,) binary with
the decision at 0 (a logit of 0 is probability 0.5). ``name`` is the key ``fit``/``evaluate``
log the value under.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._backend import host_array, is_cupy

if TYPE_CHECKING:
    from .autograd import Tensor

__all__ = [
    "Accuracy",
    "ConfusionMatrix",
    "F1Score",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Metric",
    "Precision",
    "Recall",
    "TopKAccuracy",
    "merge",
]


def _np(x) -> np.ndarray:
    """A NumPy view of a pydlk Tensor (with or without grad), a torch tensor or an array-like;
    a GPU Tensor or CuPy array is copied to the host, where the metrics keep their state (as
    ``fit`` hands them each batch's outputs)."""
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    from .autograd import Tensor

    if isinstance(x, Tensor):
        return host_array(x._data)
    if is_cupy(x):
        return host_array(x)
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    return np.asarray(x)


def _labels(output: np.ndarray) -> np.ndarray:
    """Predicted class per row: argmax for (N, C>1), threshold at 0 for binary logits."""
    if output.ndim == 1 or (output.ndim == 2 and output.shape[1] == 1):
        return (output.reshape(-1) > 0).astype(np.int64)
    return output.argmax(axis=1)


class Metric:
    """Base class: subclasses define ``name``, ``reset``, ``update``, ``compute``; ``state`` is
    a dict of arrays that sums across shards."""

    name = "metric"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, output: Tensor | np.ndarray, target: Tensor | np.ndarray) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        raise NotImplementedError

    @property
    def state(self) -> dict:
        return {k: np.array(v) for k, v in vars(self).items() if k.startswith("_s_")}

    @state.setter
    def state(self, value: dict) -> None:
        for k, v in value.items():
            setattr(self, k, np.array(v))


def merge(metric: Metric, states) -> Metric:
    """Set ``metric``'s state to the sum of ``states`` (e.g. gathered from every rank)."""
    states = list(states)
    metric.state = {k: sum(np.asarray(s[k]) for s in states) for k in states[0]}
    return metric


class Accuracy(Metric):
    """Fraction of rows whose target is among the ``top_k`` highest outputs (binary (N, 1)
    outputs: logit > 0 predicts class 1)."""

    def __init__(self, top_k: int = 1) -> None:
        if int(top_k) < 1:
            raise ValueError(f"Accuracy: top_k must be >= 1, got {top_k}")
        self.top_k = int(top_k)
        self.name = "accuracy" if self.top_k == 1 else f"top{self.top_k}_accuracy"
        super().__init__()

    def reset(self) -> None:
        self._s_correct, self._s_n = np.zeros(()), np.zeros(())

    def update(self, output: Tensor | np.ndarray, target: Tensor | np.ndarray) -> None:
        out, y = _np(output), _np(target).reshape(-1).astype(np.int64)
        if self.top_k == 1 or out.ndim == 1 or out.shape[1] == 1:
            hit = _labels(out) == y
        else:
            k = min(self.top_k, out.shape[1])
            top = np.argpartition(-out, k - 1, axis=1)[:, :k]
            hit = (top == y[:, None]).any(axis=1)
        self._s_correct = self._s_correct + hit.sum()
        self._s_n = self._s_n + len(y)

    def compute(self) -> float:
        return float(self._s_correct / self._s_n) if self._s_n else 0.0


class TopKAccuracy(Accuracy):
    """``Accuracy(top_k=k)``; logged as ``top{k}_accuracy`` (default k=5)."""

    def __init__(self, k: int = 5) -> None:
        super().__init__(top_k=k)


class ConfusionMatrix(Metric):
    """Counts ``[target, predicted]`` over ``num_classes`` classes (rows: true class)."""

    name = "confusion_matrix"

    def __init__(self, num_classes: int) -> None:
        if int(num_classes) < 2:
            raise ValueError(f"ConfusionMatrix: num_classes must be >= 2, got {num_classes}")
        self.num_classes = int(num_classes)
        super().__init__()

    def reset(self) -> None:
        self._s_cm = np.zeros((self.num_classes, self.num_classes), np.int64)

    def update(self, output: Tensor | np.ndarray, target: Tensor | np.ndarray) -> None:
        pred, y = _labels(_np(output)), _np(target).reshape(-1).astype(np.int64)
        if y.size and (y.min() < 0 or y.max() >= self.num_classes):
            raise ValueError(f"{type(self).__name__}: targets must be in [0, {self.num_classes})")
        self._s_cm = self._s_cm + np.bincount(
            y * self.num_classes + pred, minlength=self.num_classes**2
        ).reshape(self.num_classes, self.num_classes)

    def compute(self):
        return self._s_cm.copy()


class _PRF(ConfusionMatrix):
    """Precision/recall/F1 from the confusion matrix; ``average`` 'macro' (unweighted mean over
    classes), 'micro' (global counts) or 'weighted' (by support). Classes with no predictions
    (precision) or no targets (recall) count as 0, as scikit-learn's ``zero_division=0``."""

    def __init__(self, num_classes: int, average: str = "macro"):
        if average not in ("macro", "micro", "weighted"):
            raise ValueError(
                f"{type(self).__name__}: average must be 'macro', 'micro' or "
                f"'weighted', got {average!r}"
            )
        self.average = average
        super().__init__(num_classes)

    def _scores(self):
        cm = self._s_cm.astype(np.float64)
        tp, pred, true = np.diag(cm), cm.sum(0), cm.sum(1)

        def div(a, b):
            return np.divide(a, b, out=np.zeros_like(a), where=b > 0)

        p, r = div(tp, pred), div(tp, true)
        return tp, pred, true, p, r, div(2 * p * r, p + r)

    def _reduce(self, per_class, micro):
        if self.average == "micro":
            return float(micro)
        if self.average == "weighted":
            true = self._s_cm.sum(1)
            return float((per_class * true).sum() / true.sum()) if true.sum() else 0.0
        return float(per_class.mean())


class Precision(_PRF):
    """Streaming precision ``tp / (tp + fp)`` of class predictions over ``num_classes``,
    averaged by ``average`` ('macro', 'micro' or 'weighted'; else ValueError).
    """

    name = "precision"

    def compute(self) -> float:
        tp, pred, _, p, _, _ = self._scores()
        return self._reduce(p, tp.sum() / pred.sum() if pred.sum() else 0.0)


class Recall(_PRF):
    """Streaming recall ``tp / (tp + fn)`` of class predictions over ``num_classes``,
    averaged by ``average`` ('macro', 'micro' or 'weighted').
    """

    name = "recall"

    def compute(self) -> float:
        tp, _, true, _, r, _ = self._scores()
        return self._reduce(r, tp.sum() / true.sum() if true.sum() else 0.0)


class F1Score(_PRF):
    """Streaming F1, the harmonic mean of precision and recall per class, averaged by
    ``average`` ('macro', 'micro' or 'weighted').
    """

    name = "f1"

    def compute(self) -> float:
        tp, pred, true, _, _, f = self._scores()
        # micro: precision = recall = tp/N for single-label data, so F1 is the same figure
        micro = 2 * tp.sum() / (pred.sum() + true.sum()) if pred.sum() + true.sum() else 0.0
        return self._reduce(f, micro)


class MeanAbsoluteError(Metric):
    """Streaming mean of ``|output - target|`` over all elements seen (logged as ``mae``)."""

    name = "mae"

    def reset(self) -> None:
        self._s_sum, self._s_n = np.zeros(()), np.zeros(())

    def _err(self, d):
        return np.abs(d)

    def update(self, output: Tensor | np.ndarray, target: Tensor | np.ndarray) -> None:
        out, y = _np(output).astype(np.float64), _np(target).astype(np.float64)
        if out.size == y.size:  # (N, 1) outputs against (N,) targets
            out = out.reshape(y.shape)
        d = out - y
        self._s_sum = self._s_sum + self._err(d).sum()
        self._s_n = self._s_n + d.size

    def compute(self) -> float:
        return float(self._s_sum / self._s_n) if self._s_n else 0.0


class MeanSquaredError(MeanAbsoluteError):
    """Streaming mean of ``(output - target)^2`` over all elements seen (logged as ``mse``)."""

    name = "mse"

    def _err(self, d):
        return d * d
