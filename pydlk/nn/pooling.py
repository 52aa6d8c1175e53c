"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d
(torch.nn.modules.pooling)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import functional as F
from .._typing import _size_2_t
from ._util import pair
from .module import Module

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d"]


def _set_window(module, kernel_size, stride, padding):
    """Check and keep a pooling window as given (torch keeps the ints or tuples it was given);
    stride defaults to kernel_size."""
    cls = type(module).__name__
    module.kernel_size = kernel_size
    module.stride = stride if stride is not None else kernel_size
    module.padding = padding
    pair(kernel_size, cls, "kernel_size")
    pair(module.stride, cls, "stride")
    pair(padding, cls, "padding", allow_zero=True)


class MaxPool2d(Module):
    """2-D max pooling over (N, C, H, W); ``stride`` defaults to ``kernel_size``.
    ``return_indices`` also returns the flat argmax indices (for MaxUnpool2d).
    """

    def __init__(
        self,
        kernel_size: _size_2_t,
        stride: _size_2_t | None = None,
        padding: _size_2_t = 0,
        dilation: _size_2_t = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        _set_window(self, kernel_size, stride, padding)
        self.dilation = dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        kw = {}
        if self.return_indices:
            kw["return_indices"] = True
        return F.max_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            **kw,
        )

    def extra_repr(self):
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """2-D average pooling over (N, C, H, W); ``stride`` defaults to ``kernel_size``.
    ``count_include_pad`` counts zero padding in the divisor; ``divisor_override`` replaces it.
    """

    def __init__(
        self,
        kernel_size: _size_2_t,
        stride: _size_2_t | None = None,
        padding: _size_2_t = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override=None,
    ) -> None:
        super().__init__()
        _set_window(self, kernel_size, stride, padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:
        kw = {}
        if self.divisor_override is not None:
            kw["divisor_override"] = self.divisor_override
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            **kw,
        )

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size`` (an int or (H, W); None keeps that dim),
    with torch's window bounds ``floor(i*H/oh)`` to ``ceil((i+1)*H/oh)``.
    """

    def __init__(self, output_size: _size_2_t) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed ``output_size`` (an int or (H, W); None keeps that dim), over
    the windows of AdaptiveAvgPool2d; see ``F.adaptive_max_pool2d``. ``return_indices`` also
    returns the int64 flat argmax indices into each input plane.
    """

    def __init__(self, output_size: _size_2_t, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input: Tensor):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"
