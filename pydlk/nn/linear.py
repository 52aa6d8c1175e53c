"""Linear layers: Linear, Bilinear and DropConnect (torch.nn.modules.linear)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .. import functional as F
from .._typing import DeviceLike, DTypeLike
from . import init
from ._util import (
    add_weight_and_bias,
    check_device,
    pos_int,
    prob,
    reset_kaiming_uniform,
)
from .module import Module

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["Linear", "Bilinear", "DropConnect"]


class Linear(Module):
    """``y = x W^T + b``; weight (out_features, in_features) kaiming_uniform_(a=sqrt(5)), bias
    uniform(-1/sqrt(in_features), 1/sqrt(in_features)), as torch."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__()
        check_device(device, type(self).__name__)
        self.in_features = pos_int(in_features, "Linear", "in_features", allow_zero=True)
        self.out_features = pos_int(out_features, "Linear", "out_features", allow_zero=True)
        add_weight_and_bias(self, (out_features, in_features), bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_kaiming_uniform(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Bilinear(Module):
    """``y_k = x1^T W_k x2 + b_k``; weight (out, in1, in2), init uniform(+-1/sqrt(in1))."""

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__()
        check_device(device, "Bilinear")
        self.in1_features = pos_int(in1_features, "Bilinear", "in1_features")
        self.in2_features = pos_int(in2_features, "Bilinear", "in2_features")
        self.out_features = pos_int(out_features, "Bilinear", "out_features")
        add_weight_and_bias(self, (out_features, in1_features, in2_features), bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )


class DropConnect(Linear):
    """A Linear layer whose weights (not activations) are dropped with probability ``p`` during
    training, the kept ones scaled by 1/(1-p) (inverted DropConnect, Wan et al. 2013); in eval
    mode it is the plain Linear layer. The bias is not dropped. The mask comes from F.dropout's
    counter-based generator."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        p: float = 0.5,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        self.p = prob(p, "DropConnect")
        super().__init__(in_features, out_features, bias, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        w = (
            F.dropout(self.weight, self.p, self.training)
            if self.training and self.p > 0
            else self.weight
        )
        return F.linear(input, w, self.bias)

    def extra_repr(self):
        return super().extra_repr() + f", p={self.p}"
