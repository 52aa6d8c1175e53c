"""Conv1d, ConvTranspose1d and ConvTranspose2d with torch's arguments, parameter layouts and
default initialisation (kaiming_uniform_(a=sqrt(5)) on the weight, bias uniform(+-1/sqrt(fan_in))
with fan_in computed from the weight as torch does, also for the transposed layout)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import functional as F
from .._typing import DeviceLike, DTypeLike, _size_1_t, _size_2_t
from ._util import (
    check_padding_mode,
    check_padding_string,
    conv_channels,
    conv_pad_amounts,
    empty_param,
    pos_int,
    reset_kaiming_uniform,
)
from .module import Module

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["Conv1d", "ConvTranspose1d", "ConvTranspose2d"]


def _tuple(v, n, cls, name, low):
    """An int or a tuple of ``n`` ints, each >= ``low`` (0 or 1), as an n-tuple."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (v,) * n
    if not isinstance(v, (tuple, list)) or len(v) != n:
        raise ValueError(f"{cls}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    return tuple(pos_int(i, cls, name, allow_zero=low == 0) for i in v)


class _ConvBase(Module):
    _n = 1
    _transposed = False

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride,
        padding,
        dilation,
        groups,
        bias,
        padding_mode,
        output_padding=0,
        dtype=None,
    ):
        super().__init__()
        cls, n = type(self).__name__, self._n
        self.in_channels, self.out_channels, self.groups = conv_channels(
            in_channels, out_channels, groups, cls
        )
        self.kernel_size = _tuple(kernel_size, n, cls, "kernel_size", 1)
        self.stride = _tuple(stride, n, cls, "stride", 1)
        self.dilation = _tuple(dilation, n, cls, "dilation", 1)
        self.output_padding = _tuple(output_padding, n, cls, "output_padding", 0)
        if isinstance(padding, str):
            if self._transposed:
                raise ValueError(f"{cls}: padding must be an int or a tuple, got {padding!r}")
            check_padding_string(padding, self.stride, cls, "an int or a tuple")
            self.padding = padding
        else:
            self.padding = _tuple(padding, n, cls, "padding", 0)
        check_padding_mode(padding_mode, cls, self._transposed)
        self.padding_mode = padding_mode
        self.transposed = self._transposed
        if self._transposed:
            shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        else:
            shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = empty_param(shape, dtype)
        if bias:
            self.bias = empty_param((self.out_channels,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_kaiming_uniform(self.weight, self.bias)

    def extra_repr(self):
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * self._n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _padded(self, input):
        """(input, padding) for the functional convolution: with a padding_mode other than
        'zeros' the input padded that way and no padding left to do, as torch's layers."""
        if self.padding_mode == "zeros":
            return input, self.padding
        pads = conv_pad_amounts(self.padding, self.kernel_size, self.dilation)
        return F.pad(input, pads, mode=self.padding_mode), 0


class Conv1d(_ConvBase):
    """1-D convolution over (N, C, L) or (C, L); weight (out_channels, in_channels/groups, k)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_1_t,
        stride: _size_1_t = 1,
        padding: _size_1_t | str = 0,
        dilation: _size_1_t = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            dtype=dtype,
        )

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._padded(input)
        return F.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class _ConvTransposeBase(_ConvBase):
    _transposed = True

    def _output_padding(self, input, output_size):
        """torch's rule: the output_padding that makes the output ``output_size``."""
        if output_size is None:
            return self.output_padding
        cls, n = type(self).__name__, self._n
        output_size = list(output_size)[-n:]
        if len(output_size) != n:
            raise ValueError(f"{cls}: output_size must have {n} or {n + 2} elements")
        pads = []
        for d in range(n):
            size_in = input.shape[input.ndim - n + d]
            lo = (
                (size_in - 1) * self.stride[d]
                - 2 * self.padding[d]
                + self.dilation[d] * (self.kernel_size[d] - 1)
                + 1
            )
            hi = lo + self.stride[d] - 1
            if not lo <= output_size[d] <= hi:
                raise ValueError(
                    f"{cls}: requested an output size of {output_size}, but valid "
                    f"sizes range from {lo} to {hi} (for an input of "
                    f"{tuple(input.shape[-n:])})"
                )
            pads.append(int(output_size[d]) - lo)
        return tuple(pads)


class ConvTranspose1d(_ConvTransposeBase):
    """1-D transposed convolution; weight (in_channels, out_channels/groups, k)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_1_t,
        stride: _size_1_t = 1,
        padding: _size_1_t | str = 0,
        output_padding: _size_1_t = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: _size_1_t = 1,
        padding_mode: str = "zeros",
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            output_padding,
            dtype=dtype,
        )

    def forward(self, input: Tensor, output_size: _size_1_t | None = None) -> Tensor:
        op = self._output_padding(input, output_size)
        return F.conv_transpose1d(
            input, self.weight, self.bias, self.stride, self.padding, op, self.groups, self.dilation
        )


class ConvTranspose2d(_ConvTransposeBase):
    """2-D transposed convolution; weight (in_channels, out_channels/groups, kH, kW)."""

    _n = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_2_t,
        stride: _size_2_t = 1,
        padding: _size_2_t | str = 0,
        output_padding: _size_2_t = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: _size_2_t = 1,
        padding_mode: str = "zeros",
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            output_padding,
            dtype=dtype,
        )

    def forward(self, input: Tensor, output_size: _size_2_t | None = None) -> Tensor:
        op = self._output_padding(input, output_size)
        return F.conv_transpose2d(
            input, self.weight, self.bias, self.stride, self.padding, op, self.groups, self.dilation
        )
