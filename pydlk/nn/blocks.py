"""Composite blocks built from the layers: ResNet's BasicBlock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._typing import _size_2_t
from .activation import ReLU
from .container import Sequential
from .conv import Conv2d
from .dropout import StochasticDepth
from .module import Module
from .normalization import BatchNorm2d, bn_relu

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["BasicBlock"]


class BasicBlock(Module):
    """ResNet's basic block: conv3x3-BN-ReLU-conv3x3-BN, plus the input (through a 1x1
    conv + BN when the shape changes), then ReLU. Names as torchvision (conv1, bn1, conv2, bn2,
    downsample). ``stochastic_depth`` > 0 drops the residual branch per sample in training."""

    expansion = 1

    def __init__(
        self,
        inplanes,
        planes,
        stride: _size_2_t = 1,
        downsample=None,
        stochastic_depth: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv1 = Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU()
        self.conv2 = Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        if downsample is None and (stride != 1 or inplanes != planes):
            downsample = Sequential(
                Conv2d(inplanes, planes, 1, stride, bias=False), BatchNorm2d(planes)
            )
        self.downsample = downsample
        self.stochastic_depth = (
            StochasticDepth(stochastic_depth, "row") if stochastic_depth > 0 else None
        )
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        # bn1 + relu and bn2 + add + relu run as fused kernels where nothing observes the
        # modules' own calls (see bn_relu); the output is bitwise the unfused one.
        identity = x if self.downsample is None else self.downsample(x)
        out = bn_relu(self.bn1, self.relu, self.conv1(x))
        out = self.conv2(out)
        if self.stochastic_depth is None:
            return bn_relu(self.bn2, self.relu, out, identity)
        out = self.stochastic_depth(self.bn2(out))
        return self.relu(out + identity)
