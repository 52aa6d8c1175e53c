"""Convolution layers: Conv2d (torch.nn.modules.conv)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import functional as F
from .._typing import DeviceLike, DTypeLike, _size_2_t
from ._util import (
    add_weight_and_bias,
    check_device,
    check_padding_mode,
    check_padding_string,
    conv_channels,
    conv_pad_amounts,
    pair,
    reset_kaiming_uniform,
)
from .module import Module

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["Conv2d"]


class Conv2d(Module):
    """2-D convolution, weight (out_channels, in_channels/groups, kH, kW) and bias, initialised
    as torch (kaiming_uniform_(a=sqrt(5)), bias uniform(+-1/sqrt(fan_in))). padding may be an
    int, a pair, 'valid' or 'same' (stride 1); padding_mode 'zeros', 'reflect', 'replicate'
    or 'circular' (the input is padded so first, then convolved without padding, as torch)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_2_t,
        stride: _size_2_t = 1,
        padding: _size_2_t | str = 0,
        dilation: _size_2_t = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__()
        check_device(device, "Conv2d")
        self.in_channels, self.out_channels, self.groups = conv_channels(
            in_channels, out_channels, groups, "Conv2d"
        )
        self.kernel_size = pair(kernel_size, "Conv2d", "kernel_size")
        self.stride = pair(stride, "Conv2d", "stride")
        self.dilation = pair(dilation, "Conv2d", "dilation")
        if isinstance(padding, str):
            check_padding_string(padding, self.stride, "Conv2d")
            self.padding = padding
        else:
            self.padding = pair(padding, "Conv2d", "padding", allow_zero=True)
        check_padding_mode(padding_mode, "Conv2d")
        self.padding_mode = padding_mode
        kh, kw = self.kernel_size
        add_weight_and_bias(self, (out_channels, in_channels // groups, kh, kw), bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_kaiming_uniform(self.weight, self.bias)

    def _explicit_padding(self):
        """The (top, bottom, left, right) zero padding; 'same' may be asymmetric."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            out = []
            for d, k in zip(self.dilation, self.kernel_size):
                total = d * (k - 1)
                out += [total // 2, total - total // 2]
            return tuple(out)
        ph, pw = self.padding
        return (ph, ph, pw, pw)

    def forward(self, input: Tensor) -> Tensor:
        if self.padding_mode != "zeros":
            pads = conv_pad_amounts(self.padding, self.kernel_size, self.dilation)
            x = F.pad(input, pads, mode=self.padding_mode)
            return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        t, b, l, r = self._explicit_padding()
        if t == b and l == r:
            return F.conv2d(
                input, self.weight, self.bias, self.stride, (t, l), self.dilation, self.groups
            )
        # asymmetric 'same' padding (even kernels): pad the symmetric part in the kernel and
        # the one extra row/column at the end by slicing a larger symmetric output
        y = F.conv2d(input, self.weight, self.bias, self.stride, (b, r), self.dilation, self.groups)
        dh, dw = b - t, r - l
        return y[:, :, dh:, dw:]

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            s += (
                f", padding={self.padding}"
                if isinstance(self.padding, str)
                else f", padding={self.padding}"
            )
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
