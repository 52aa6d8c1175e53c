"""Upsample, UpsamplingNearest2d and UpsamplingBilinear2d on F.interpolate, PixelShuffle and
PixelUnshuffle, and PReLU."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np

from .. import functional as F
from .._typing import DeviceLike, DTypeLike, _size_any_t
from ._util import dtype_of
from .module import Module
from .parameter import Parameter

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = [
    "PReLU",
    "PixelShuffle",
    "PixelUnshuffle",
    "Upsample",
    "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
]


class Upsample(Module):
    """``Upsample(size=None, scale_factor=None, mode='nearest', align_corners=None,
    recompute_scale_factor=None)``: F.interpolate as a module."""

    def __init__(
        self,
        size: _size_any_t | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        self.scale_factor = (
            float(scale_factor)
            if isinstance(scale_factor, numbers.Real)
            # not a number: a sequence (numbers.Real is a check mypy cannot narrow on)
            else (
                tuple(float(s) for s in cast("Sequence[float]", scale_factor))
                if scale_factor is not None
                else None
            )
        )
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self):
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(mode='nearest')`` (torch marks this class deprecated in favour of Upsample)."""

    def __init__(
        self, size: _size_any_t | None = None, scale_factor: float | Sequence[float] | None = None
    ) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(mode='bilinear', align_corners=True)`` (torch marks this class deprecated in
    favour of Upsample).
    """

    def __init__(
        self, size: _size_any_t | None = None, scale_factor: float | Sequence[float] | None = None
    ) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PReLU(Module):
    """``PReLU(num_parameters=1, init=0.25)``: ``max(0, x) + weight * min(0, x)``, one weight
    per channel (dimension 1 of the input, dimension 0 of a 1-D input) or one in all."""

    def __init__(
        self,
        num_parameters: int = 1,
        init: float = 0.25,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__()
        if (
            isinstance(num_parameters, bool)
            or not isinstance(num_parameters, (int, np.integer))
            or num_parameters < 1
        ):
            raise ValueError(
                f"PReLU: num_parameters must be a positive int, got {num_parameters!r}"
            )
        self.num_parameters, self.init = int(num_parameters), float(init)
        dt = dtype_of(dtype)
        self.weight = Parameter(np.full(self.num_parameters, self.init, dt))

    def reset_parameters(self):
        self.weight._data[...] = self.init

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class PixelShuffle(Module):
    """``F.pixel_shuffle`` as a module: (*, C * r * r, H, W) -> (*, C, H * r, W * r)."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """``F.pixel_unshuffle`` as a module: (*, C, H * r, W * r) -> (*, C * r * r, H, W)."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
