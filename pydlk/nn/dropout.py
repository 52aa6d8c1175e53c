"""Dropout layers: Dropout, Dropout1d/2d/3d, AlphaDropout, FeatureAlphaDropout
(torch.nn.modules.dropout) and StochasticDepth
(torchvision.ops.StochasticDepth)."""

from __future__ import annotations

from .. import functional as F
from .._backend import get_array_module
from ..autograd import Tensor
from ._util import prob
from .module import Module

__all__ = [
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "AlphaDropout",
    "FeatureAlphaDropout",
    "StochasticDepth",
]


class Dropout(Module):
    """Zero each element with probability ``p`` in training and scale the rest by 1/(1-p);
    the identity in eval mode. The mask comes from pydlk's Philox stream (seeded by
    ``manual_seed``), so it does not depend on the thread count. Raises ValueError unless
    0 <= p <= 1.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p, self.inplace = prob(p, "Dropout"), inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) (or (C, H, W)) with probability ``p`` in training,
    scaling the rest by 1/(1-p).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__(p, inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout1d(Dropout):
    """Zero whole channels of (N, C, L) (or (C, L)) with probability ``p`` in training,
    scaling the rest by 1/(1-p)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout3d(Dropout):
    """Zero whole channels of (N, C, D, H, W) (or (C, D, H, W)) with probability ``p`` in
    training, scaling the rest by 1/(1-p)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(Dropout):
    """Alpha dropout for SELU networks: dropped units take SELU's saturation value and an
    affine correction keeps zero mean and unit variance (``F.alpha_dropout``)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(Dropout):
    """Alpha dropout of whole channels (``F.feature_alpha_dropout``)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.feature_alpha_dropout(input, self.p, self.training)


class StochasticDepth(Module):
    """Drops a residual branch with probability ``p`` (torchvision.ops.StochasticDepth):
    ``mode='row'`` draws one Bernoulli per sample, ``'batch'`` one for the whole batch; kept
    branches are scaled by 1/(1-p). Identity in eval mode or with p=0. The mask is drawn from
    the Philox stream through F.dropout (seeded by pydlk.manual_seed), as DropConnect's."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p = prob(p, "StochasticDepth")
        if mode not in ("batch", "row"):
            raise ValueError(
                f"StochasticDepth: mode has to be either 'batch' or 'row', but got {mode}"
            )
        self.mode = mode

    def forward(self, input: Tensor):
        if not self.training or self.p == 0.0:
            return input
        x = input._data if isinstance(input, Tensor) else input
        shape = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        # keep / (1 - p) per sample (or per batch): dropout of ones
        noise = F.dropout(get_array_module(x).ones(shape, x.dtype), self.p)._data
        return input * Tensor(noise)

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"
