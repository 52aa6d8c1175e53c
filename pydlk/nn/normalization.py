"""Normalisation layers: BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d, LayerNorm, GroupNorm
(torch.nn.modules.batchnorm, instancenorm, normalization)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import functional as F
from .._typing import DeviceLike, DTypeLike
from ..autograd import Tensor
from ..functional.norm import _batch_norm_add_relu, _batch_norm_relu_max_pool2d
from . import init
from ._util import check_device, dtype_of, pos_int
from .activation import ReLU
from .module import Module
from .parameter import Parameter
from .pooling import MaxPool2d

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LayerNorm",
    "RMSNorm",
    "GroupNorm",
]


class _NormBase(Module):
    _ndims = None
    _version = 2  # torch's: version 2 added num_batches_tracked

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        super().__init__()
        cls = type(self).__name__
        check_device(device, cls)
        self.num_features = pos_int(num_features, cls, "num_features")
        if eps <= 0:
            raise ValueError(f"{cls}: eps must be positive, got {eps}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{cls}: momentum must be between 0 and 1 or None, got {momentum}")
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = dtype_of(dtype)
        if affine:
            self.weight = Parameter(np.ones(num_features, dt))
            if bias:
                self.bias = Parameter(np.zeros(num_features, dt))
            else:  # torch 2.13's ``bias=False``: scale only
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dt)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean._data[...] = 0
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input_dim(self, input):
        pass

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *rest):
        # torch's: a checkpoint older than version 2 (or without _metadata) may lack
        # num_batches_tracked; the module keeps its own count instead of reporting it missing
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats:
            state_dict.setdefault(key, self.num_batches_tracked)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *rest)

    def _count_batch(self):
        """Count one training batch; the factor for the running statistics' update: the
        momentum, or 1/num_batches_tracked (a cumulative moving average) when it is None."""
        self.num_batches_tracked._data[...] += 1
        if self.momentum is None:
            return 1.0 / float(self.num_batches_tracked._data)
        return self.momentum

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase):
    frozen = False  # set by pydlk.models.freeze: stays in eval mode (running statistics fixed)

    def train(self, mode=True):
        return super().train(mode and not self.frozen)

    def _batch_args(self, input):
        """Check the input, count a training batch; (running_mean, running_var, use_batch_stats,
        momentum factor) for F.batch_norm, as torch's module computes them."""
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            factor = self._count_batch()
        use_batch = self.training or not self.track_running_stats
        rm = self.running_mean if not self.training or self.track_running_stats else None
        rv = self.running_var if not self.training or self.track_running_stats else None
        return rm, rv, use_batch, factor

    def forward(self, input):
        rm, rv, use_batch, factor = self._batch_args(input)
        return F.batch_norm(input, rm, rv, self.weight, self.bias, use_batch, factor, self.eps)

    def _forward_add_relu(self, input, residual=None):
        """``relu(self(input) + residual)`` (residual None: ``relu(self(input))``) in one fused
        kernel; only where ``bn_relu_fusable`` says the result is the unfused one."""
        rm, rv, use_batch, factor = self._batch_args(input)
        return _batch_norm_add_relu(
            input, residual, rm, rv, self.weight, self.bias, use_batch, factor, self.eps
        )

    def _forward_relu_max_pool(self, input):
        """``max_pool2d(relu(self(input)), 2)`` in one fused kernel; only where
        ``bn_relu_pool_fusable`` allows it."""
        rm, rv, use_batch, factor = self._batch_args(input)
        return _batch_norm_relu_max_pool2d(
            input, rm, rv, self.weight, self.bias, use_batch, factor, self.eps
        )


def _plain_call(m):
    """m's call is Module's (not a lazy module's) and has no hooks to run."""
    return type(m).__call__ is Module.__call__ and not (
        m._forward_pre_hooks or m._forward_hooks or m._backward_hooks or m._backward_pre_hooks
    )


def bn_relu_fusable(bn, relu) -> bool:
    """True where ``relu(bn(x))`` may run as one fused kernel (``_BatchNorm._forward_add_relu``)
    with the same result: ``bn`` a BatchNorm1d/2d/3d whose forward is _BatchNorm's, ``relu``
    exactly ``nn.ReLU``, neither with hooks nor a call of its own (a lazy module's): a hook must
    see each module's own call.
    Sequential, the ResNet stem and BasicBlock fuse such pairs; outputs, gradients and running
    statistics are bitwise the unfused ones."""
    return (
        type(relu) is ReLU
        and isinstance(bn, _BatchNorm)
        and type(bn).forward is _BatchNorm.forward
        and (bn.weight is None) == (bn.bias is None)
        and _plain_call(bn)
        and _plain_call(relu)
    )


def _is_2x2(v, fill) -> bool:
    return v in (fill, (fill, fill), [fill, fill])


def bn_relu_pool_fusable(bn, relu, pool) -> bool:
    """True where ``pool(relu(bn(x)))`` may run as one fused kernel
    (``_BatchNorm._forward_relu_max_pool``): ``bn``, ``relu`` as ``bn_relu_fusable`` wants them
    with ``bn`` a BatchNorm2d, and ``pool`` exactly ``nn.MaxPool2d`` over 2x2 windows at stride 2
    (no padding, dilation 1, floor mode, no indices), without hooks. Sequential fuses such
    triples; outputs and running statistics are bitwise the unfused ones, gradients equal to
    rounding (see ``functional.norm.BatchNormReLUMaxPool2d``)."""
    return (
        type(pool) is MaxPool2d
        and isinstance(bn, BatchNorm2d)
        and bn_relu_fusable(bn, relu)
        and _plain_call(pool)
        and _is_2x2(pool.kernel_size, 2)
        and _is_2x2(pool.stride, 2)
        and _is_2x2(pool.padding, 0)
        and _is_2x2(pool.dilation, 1)
        and not pool.ceil_mode
        and not pool.return_indices
    )


def bn_relu(bn, relu, input, residual=None):
    """``relu(bn(input) + residual)`` (residual None: ``relu(bn(input))``): one fused kernel
    where ``bn_relu_fusable`` allows it and the residual matches the input's shape and dtype,
    otherwise the modules' own calls."""
    if bn_relu_fusable(bn, relu) and (
        residual is None or (residual.shape == input.shape and residual.dtype == input.dtype)
    ):
        return bn._forward_add_relu(input, residual)
    out = bn(input)
    return relu(out if residual is None else out + residual)


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L)."""

    def _check_input_dim(self, input):
        if input.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected 2D or 3D input (got {input.ndim}D input)")


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W)."""

    def _check_input_dim(self, input):
        if input.ndim != 4:
            raise ValueError(f"BatchNorm2d: expected 4D input (got {input.ndim}D input)")


class BatchNorm3d(_BatchNorm):
    """Over (N, C, D, H, W)."""

    def _check_input_dim(self, input):
        if input.ndim != 5:
            raise ValueError(f"BatchNorm3d: expected 5D input (got {input.ndim}D input)")


class _InstanceNorm(_NormBase):
    """torch's defaults: affine=False, track_running_stats=False. Takes batched
    (N, C, *spatial) or unbatched (C, *spatial) input, as torch's.

    Differs from torch: ``momentum=None`` with ``track_running_stats=True`` keeps a cumulative
    moving average of the instance statistics, as BatchNorm does (torch passes momentum 0 and so
    never updates the running statistics); ``num_batches_tracked`` then counts the training
    batches (torch leaves it at 0). With a numeric momentum pydlk matches torch."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )

    _spatial = 2

    def forward(self, input: Tensor) -> Tensor:
        cls, nb = type(self).__name__, self._spatial + 1
        if input.ndim not in (nb, nb + 1):
            raise ValueError(f"{cls}: expected {nb}D or {nb + 1}D input (got {input.ndim}D input)")
        feature_dim = input.ndim - nb
        if input.shape[feature_dim] != self.num_features and self.affine:
            raise ValueError(
                f"expected input's size at dim={feature_dim} to match num_features "
                f"({self.num_features}), but got: {input.shape[feature_dim]}."
            )
        if input.ndim == nb:
            return self._instance_norm(input.unsqueeze(0)).squeeze(0)
        return self._instance_norm(input)

    def _instance_norm(self, input: Tensor) -> Tensor:
        use_input_stats = self.training or not self.track_running_stats
        factor = self.momentum
        if self.training and self.track_running_stats and self.momentum is None:
            factor = self._count_batch()
        return F.instance_norm(
            input,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            use_input_stats,
            factor,
            self.eps,
        )


class InstanceNorm1d(_InstanceNorm):
    """Instance norm over (N, C, L) or (C, L); see InstanceNorm2d."""

    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance norm over (N, C, H, W) or (C, H, W).

    Differs from torch: ``momentum=None`` with ``track_running_stats=True`` keeps a cumulative
    moving average of the instance statistics, as BatchNorm does (torch passes momentum 0 and so
    never updates the running statistics); ``num_batches_tracked`` then counts the training
    batches (torch leaves it at 0). With a numeric momentum pydlk matches torch."""

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance norm over (N, C, D, H, W) or (C, D, H, W); see InstanceNorm2d."""

    _spatial = 3


class LayerNorm(Module):
    """Normalise over the last dims given by ``normalized_shape``: ``(x - mean) / sqrt(var +
    eps) * weight + bias``, with the biased variance. Raises ValueError for a non-positive
    size.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__()
        check_device(device, "LayerNorm")
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        if any(s <= 0 for s in self.normalized_shape):
            raise ValueError(
                f"LayerNorm: normalized_shape must be positive, got {self.normalized_shape}"
            )
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dt = dtype_of(dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's initial values: weight ones, bias zeros (when the layer has them)."""
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class RMSNorm(Module):
    """Root-mean-square normalisation over the last dims given by ``normalized_shape``:
    ``x / sqrt(mean(x^2) + eps) * weight`` (torch 2.4+); ``eps=None`` is the machine epsilon
    of the input's dtype, ``weight`` starts at ones (none without ``elementwise_affine``)."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
    ) -> None:
        super().__init__()
        check_device(device, "RMSNorm")
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        if any(s <= 0 for s in self.normalized_shape):
            raise ValueError(
                f"RMSNorm: normalized_shape must be positive, got {self.normalized_shape}"
            )
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype_of(dtype)))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight._data[...] = 1

    def forward(self, input: Tensor) -> Tensor:
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class GroupNorm(Module):
    """Normalise (N, C, ...) over groups of ``C / num_groups`` channels and the spatial dims,
    then scale and shift per channel. Raises ValueError unless num_groups divides
    num_channels.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: DeviceLike | None = None,
        dtype: DTypeLike | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_device(device, "GroupNorm")
        pos_int(num_groups, "GroupNorm", "num_groups")
        pos_int(num_channels, "GroupNorm", "num_channels")
        if num_channels % num_groups:
            raise ValueError("GroupNorm: num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = (
            num_groups,
            num_channels,
            eps,
            affine,
        )
        dt = dtype_of(dtype)
        if affine:
            self.weight = Parameter(np.ones(num_channels, dt))
            if bias:
                self.bias = Parameter(np.zeros(num_channels, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's initial values: weight ones, bias zeros (when ``affine``)."""
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )
