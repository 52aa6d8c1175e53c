"""ChannelShuffle, LocalResponseNorm and CrossMapLRN2d (torch.nn's layers), calling the
functional ops of the same names (CrossMapLRN2d: torch's legacy op in
pydlk.functional.misc_more)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import functional as F
from .module import Module

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["ChannelShuffle", "CrossMapLRN2d", "LocalResponseNorm"]


class ChannelShuffle(Module):
    """ShuffleNet's channel shuffle of (N, C, *) into ``groups`` interleaved groups."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, input: Tensor) -> Tensor:
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class LocalResponseNorm(Module):
    """Local response normalisation across ``size`` neighbouring channels (AlexNet's):
    ``x / (k + alpha * mean(x^2 over the window)) ** beta``."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class CrossMapLRN2d(Module):
    """torch's legacy cross-channel local response normalisation of 4-D (N, C, H, W) input:
    ``y = x * (k + alpha / size * S) ** -beta`` with ``S`` the sum of ``x ** 2`` over the
    channels around each one, computed, and differentiated, exactly as torch's CrossMapLRN2d
    does: its running sum keeps ``x[:, 0] ** 2`` in every window from channel
    ``(size + 1) // 2`` on, and its backward is torch's formula, which is not this
    forward's derivative (see pydlk.functional.misc_more.CrossMapLRN2d), so that training
    with it moves as under torch. ``LocalResponseNorm`` is the textbook LRN. Raises
    ValueError for input that is not 4-D."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        from ..functional.misc_more import _cross_map_lrn2d

        return _cross_map_lrn2d(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
