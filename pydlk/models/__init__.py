"""Small reference models: MLP, LeNet5 (with BatchNorm), a small ResNet of BasicBlocks, an LSTM
classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import nn
from .._typing import Array
from ..autograd import Tensor
from .transfer import finetune_param_groups, freeze, replace_head, unfreeze  # noqa: F401

__all__ = [
    "MLP",
    "LeNet5",
    "ResNet",
    "resnet_small",
    "LSTMClassifier",
    "freeze",
    "unfreeze",
    "replace_head",
    "finetune_param_groups",
]

_ACTS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}


class MLP(nn.Sequential):
    """in_features -> hidden_sizes... -> num_classes, with an activation (and optional dropout)
    after each hidden Linear layer."""

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int] = (128,),
        num_classes: int = 10,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        if activation not in _ACTS:
            raise ValueError(f"MLP: activation must be one of {sorted(_ACTS)}, got {activation!r}")
        layers: list[nn.Module] = [nn.Flatten()]
        prev = in_features
        for h in hidden_sizes:
            layers += [nn.Linear(prev, h), _ACTS[activation]()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            prev = h
        layers.append(nn.Linear(prev, num_classes))
        super().__init__(*layers)


class LeNet5(nn.Module):
    """LeNet-5 with BatchNorm: conv5x5(6)-BN-ReLU-maxpool2, conv5x5(16)-BN-ReLU-maxpool2,
    Linear(120)-BN-ReLU, Linear(84)-BN-ReLU, Linear(num_classes). ``in_size`` is the input's
    side: 32 (the original), 28 (MNIST, conv1 pads by 2) or small inputs such as 8x8 digits
    (convolutions padded to keep the size, so both pools still fit)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, in_size: int = 32) -> None:
        super().__init__()
        if in_size < 4:
            raise ValueError(f"LeNet5: in_size must be at least 4, got {in_size}")
        if in_size >= 28:
            pad1, pad2 = (2 if in_size < 32 else 0), 0
        else:
            pad1, pad2 = 2, 2  # 'same' 5x5 convolutions
        s = in_size + 2 * pad1 - 4
        s //= 2
        s = s + 2 * pad2 - 4
        s //= 2
        if s < 1:
            raise ValueError(f"LeNet5: in_size {in_size} is too small")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, padding=pad2),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(16 * s * s, 120),
            nn.BatchNorm1d(120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.BatchNorm1d(84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )
        self.feature_size = s

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.flatten(self.features(x)))


class ResNet(nn.Module):
    """A small ResNet: conv3x3(w)-BN-ReLU stem, stages of BasicBlocks (widths double and the
    resolution halves from the second stage on), global average pooling, a Linear head ``fc``
    (torchvision's names)."""

    def __init__(
        self,
        layers: Sequence[int] = (2, 2, 2),
        num_classes: int = 10,
        in_channels: int = 3,
        width: int = 16,
        stochastic_depth: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        stages: list[nn.Module] = []
        inplanes = width
        for i, n in enumerate(layers):
            planes = width * 2**i
            blocks: list[nn.Module] = []
            for b in range(n):
                stride = 2 if i > 0 and b == 0 else 1
                blocks.append(
                    nn.BasicBlock(inplanes, planes, stride, stochastic_depth=stochastic_depth)
                )
                inplanes = planes
            stages.append(nn.Sequential(*blocks))
        self.layers = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = nn.normalization.bn_relu(self.bn1, self.relu, self.conv1(x))  # one fused kernel
        x = self.layers(x)
        return self.fc(self.flatten(self.avgpool(x)))


def resnet_small(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """``ResNet((1, 1, 1), width=16)``: one BasicBlock per stage, widths 16/32/64."""
    return ResNet((1, 1, 1), num_classes, in_channels, width=16)


class LSTMClassifier(nn.Module):
    """Embedding (or raw features) -> LSTM -> Linear on the last step's hidden state.
    ``vocab_size`` given: input is (N, S) token ids; otherwise (N, S, input_size) features."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 64,
        num_classes: int = 2,
        num_layers: int = 1,
        vocab_size: int | None = None,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, input_size) if vocab_size else None
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout,
            bidirectional=bidirectional,
        )
        D = 2 if bidirectional else 1
        self.fc = nn.Linear(hidden_size * D, num_classes)
        self.D = D

    def forward(self, x: Tensor) -> Tensor:
        if self.embedding is not None:
            x = self.embedding(x)
        _, (h_n, _) = self.lstm(x)
        # h_n (L*D, N, H): the last layer's directions, side by side
        L = h_n.shape[0]
        last = h_n.reshape(L // self.D, self.D, h_n.shape[1], h_n.shape[2])
        feats = _last_layer_features(last)
        return self.fc(feats)


def _last_layer_features(last: Tensor) -> Tensor:
    """(L, D, N, H) -> (N, D*H) of the last layer, with a differentiable gather."""
    import numpy as np

    from ..autograd import Function

    class _Last(Function):
        @staticmethod
        def forward(ctx: Any, a: Array) -> Array:
            ctx.shape = a.shape
            L, D, N, H = a.shape
            return np.ascontiguousarray(a[-1].transpose(1, 0, 2).reshape(N, D * H))

        @staticmethod
        def backward(ctx: Any, g: Array) -> Array:
            L, D, N, H = ctx.shape
            out = np.zeros(ctx.shape, g.dtype)
            out[-1] = g.reshape(N, D, H).transpose(1, 0, 2)
            return out

    return _Last.apply(last)
