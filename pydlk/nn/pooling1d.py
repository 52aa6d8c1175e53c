"""1-D pooling layers and unpooling / power-average pooling (torch.nn.modules.pooling):
MaxPool1d, AvgPool1d, AdaptiveAvgPool1d, AdaptiveMaxPool1d, MaxUnpool1d, MaxUnpool2d,
LPPool1d, LPPool2d. Constructor arguments are kept as torch keeps them (AvgPool1d and the
unpooling layers as 1-tuples, the others as given), so reprs and state match torch's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import functional as F
from ..functional.pool1d import single
from ._util import pair
from .module import Module

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = [
    "MaxPool1d",
    "AvgPool1d",
    "AdaptiveAvgPool1d",
    "AdaptiveMaxPool1d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "LPPool1d",
    "LPPool2d",
]


class MaxPool1d(Module):
    """1-D max pooling over (N, C, L) or (C, L); ``stride`` defaults to ``kernel_size``.
    ``return_indices`` also returns the argmax positions along L (for MaxUnpool1d)."""

    def __init__(
        self,
        kernel_size: int,
        stride: int | None = None,
        padding: int = 0,
        dilation: int = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode
        single(kernel_size, "MaxPool1d", "kernel_size")

    def forward(self, input: Tensor):
        return F.max_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )

    def extra_repr(self):
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool1d(Module):
    """1-D average pooling over (N, C, L) or (C, L); ``stride`` defaults to ``kernel_size``;
    ``count_include_pad`` counts zero padding in the divisor."""

    def __init__(
        self,
        kernel_size: int,
        stride: int | None = None,
        padding: int = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        op = "AvgPool1d"
        self.kernel_size = (single(kernel_size, op, "kernel_size"),)
        self.stride = (single(stride if stride is not None else kernel_size, op, "stride"),)
        self.padding = (single(padding, op, "padding"),)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(Module):
    """Average pooling of (N, C, L) to ``output_size`` positions."""

    def __init__(self, output_size: int) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool1d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(Module):
    """Max pooling of (N, C, L) to ``output_size`` positions; ``return_indices`` also returns
    the argmax positions along L."""

    def __init__(self, output_size: int, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input: Tensor):
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class MaxUnpool1d(Module):
    """The partial inverse of MaxPool1d: ``forward(input, indices, output_size=None)`` puts
    each value back at its index and zeros elsewhere (see ``F.max_unpool1d``)."""

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0) -> None:
        super().__init__()
        op = "MaxUnpool1d"
        self.kernel_size = (single(kernel_size, op, "kernel_size"),)
        self.stride = (single(stride if stride is not None else kernel_size, op, "stride"),)
        self.padding = (single(padding, op, "padding"),)

    def forward(self, input: Tensor, indices: Tensor, output_size=None) -> Tensor:
        return F.max_unpool1d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool2d(Module):
    """The partial inverse of MaxPool2d (SegNet's decoder): ``forward(input, indices,
    output_size=None)`` (see ``F.max_unpool2d``)."""

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        op = "MaxUnpool2d"
        self.kernel_size = pair(kernel_size, op, "kernel_size")
        self.stride = pair(stride if stride is not None else kernel_size, op, "stride")
        self.padding = pair(padding, op, "padding", allow_zero=True)

    def forward(self, input: Tensor, indices: Tensor, output_size=None) -> Tensor:
        return F.max_unpool2d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _LPPoolNd(Module):
    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def extra_repr(self):
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPoolNd):
    """Power-average pooling over (N, C, L): ``(sum of x ** p over the window) ** (1 / p)``."""

    def forward(self, input: Tensor) -> Tensor:
        return F.lp_pool1d(input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


class LPPool2d(_LPPoolNd):
    """Power-average pooling over (N, C, H, W): ``(sum of x ** p) ** (1 / p)`` per window."""

    def forward(self, input: Tensor) -> Tensor:
        return F.lp_pool2d(input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)
