"""Fold and Unfold: F.fold and F.unfold (col2im and im2col) as modules, as torch.nn.Fold and
torch.nn.Unfold."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import functional as F
from .._typing import _size_2_t
from .module import Module

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["Fold", "Unfold"]


class Fold(Module):
    """``Fold(output_size, kernel_size, dilation=1, padding=0, stride=1)``: ``F.fold`` as a
    module, (N, C * kh * kw, L) -> (N, C, *output_size), overlapping blocks summed."""

    def __init__(
        self,
        output_size: _size_2_t,
        kernel_size: _size_2_t,
        dilation: _size_2_t = 1,
        padding: _size_2_t = 0,
        stride: _size_2_t = 1,
    ) -> None:
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return F.fold(
            input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
        )


class Unfold(Module):
    """``Unfold(kernel_size, dilation=1, padding=0, stride=1)``: ``F.unfold`` as a module,
    (N, C, H, W) -> (N, C * kh * kw, L), one column per sliding block."""

    def __init__(
        self,
        kernel_size: _size_2_t,
        dilation: _size_2_t = 1,
        padding: _size_2_t = 0,
        stride: _size_2_t = 1,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )
