"""Model ensembles: average the predictions of independently trained models or checkpoints."""

from collections.abc import Callable, Sequence

import numpy as np

from . import functional as F
from ._typing import StrPath, TensorLike
from .autograd import Tensor
from .nn.container import ModuleList
from .nn.module import Module

__all__ = ["Ensemble"]


class Ensemble(Module):
    """``forward(x)`` = ``sum_i w_i softmax(model_i(x))`` over the class dimension 1 (with
    ``average='probs'``, the usual ensemble of classifiers) or ``sum_i w_i model_i(x)``
    (``average='logits'``). ``weights`` default to equal; they are normalised to sum to 1.
    Not in torch (torch.optim.swa_utils averages weights, not predictions)."""

    def __init__(
        self,
        models: Sequence[Module],
        weights: Sequence[float] | None = None,
        average: str = "probs",
    ) -> None:
        super().__init__()
        models = list(models)
        if not models:
            raise ValueError("Ensemble: need at least one model")
        if average not in ("probs", "logits"):
            raise ValueError(f"Ensemble: average must be 'probs' or 'logits', got {average!r}")
        w = np.ones(len(models)) if weights is None else np.asarray(weights, np.float64)
        if w.shape != (len(models),) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                f"Ensemble: weights must be {len(models)} non-negative numbers with "
                f"a positive sum, got {weights!r}"
            )
        self.models = ModuleList(models)
        self.weights = (w / w.sum()).tolist()
        self.average = average

    @classmethod
    def from_checkpoints(
        cls,
        factory: Callable[[], Module],
        paths: Sequence[StrPath],
        weights: Sequence[float] | None = None,
        average: str = "probs",
    ) -> "Ensemble":
        """One ``factory()`` model per checkpoint in ``paths`` (snapshot ensembles): each file
        is read with ``pydlk.load``; a training checkpoint (a dict with a ``'model'`` entry, as
        ``fit`` writes) or a bare ``state_dict`` both work."""
        from .serialization import load

        models = []
        for p in paths:
            state = load(p, map_location="cpu")  # the factory's models may be anywhere
            if isinstance(state, dict) and isinstance(state.get("model"), dict):
                state = state["model"]
            m = factory()
            m.load_state_dict(state)
            m.eval()
            models.append(m)
        return cls(models, weights, average)

    def forward(self, x: TensorLike) -> Tensor:
        # ``models`` is a ModuleList the caller may still change: a model appended or deleted
        # after construction has no weight (zip would drop it, and an emptied list gave None).
        if len(self.models) != len(self.weights):
            raise ValueError(
                f"Ensemble: {len(self.models)} models but {len(self.weights)} weights; "
                "build a new Ensemble after changing its models"
            )
        out: Tensor | None = None
        for w, m in zip(self.weights, self.models):
            y = m(x)
            if self.average == "probs":
                y = F.softmax(y, dim=1)
            y = y * w
            out = y if out is None else out + y
        assert out is not None  # __init__ and the check above keep at least one model
        return out
