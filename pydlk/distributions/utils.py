"""Helpers of pydlk.distributions, under torch.distributions.utils' names."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import ops as _ops
from .._backend import on_device_of
from ..autograd import Tensor, enable_grad, tensor
from ..nn import functional as F
from ..ops._helpers import _nograd
from ..ops.factories import _gen

__all__ = [
    "broadcast_all",
    "clamp_probs",
    "lazy_property",
    "logits_to_probs",
    "probs_to_logits",
]


def broadcast_all(*values: Any) -> tuple[Tensor, ...]:
    """The values (tensors or numbers) as tensors of one broadcast shape; numbers take the
    dtype and device of the first tensor (float32 on the CPU when there is none)."""
    if not all(isinstance(v, (Tensor, numbers.Number)) for v in values):
        raise ValueError("Input arguments must all be instances of numbers.Number or Tensor.")
    like = next((v for v in values if isinstance(v, Tensor)), None)
    if like is None:
        ts = [tensor(float(v), dtype=_ops.float32) for v in values]
    else:
        ts = [
            v if isinstance(v, Tensor) else tensor(v, dtype=like.dtype, device=like.device)
            for v in values
        ]
    shape = np.broadcast_shapes(*(tuple(t.shape) for t in ts))
    return tuple(t if tuple(t.shape) == shape else t.expand(shape) for t in ts)


def _sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """Sum out the ``dim`` rightmost dims of ``value``."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[: value.dim() - dim]) + (-1,)).sum(-1)


def clamp_probs(probs: Tensor) -> Tensor:
    """``probs`` clamped to [eps, 1 - eps] for its dtype's eps."""
    eps = float(np.finfo(probs.dtype).eps)
    return _ops.clamp(probs, min=eps, max=1 - eps)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """Probabilities from logits: a sigmoid if ``is_binary``, else a softmax over the last dim."""
    if is_binary:
        return _ops.sigmoid(logits)
    return _ops.softmax(logits, -1)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Logits from probabilities (clamped away from 0 and 1 first): ``log p - log1p(-p)`` if
    ``is_binary``, else ``log p``."""
    ps = clamp_probs(probs)
    if is_binary:
        return _ops.log(ps) - _ops.log1p(-ps)
    return _ops.log(ps)


def _softplus(x: Tensor) -> Tensor:
    return F.softplus(x)


def _same_shape(out: Tensor, like: Tensor) -> Tensor:
    # the special-function kernels return shape (1,) for a 0-d input
    return out if tuple(out.shape) == tuple(like.shape) else out.reshape(tuple(like.shape))


def _lgamma(x: Tensor) -> Tensor:
    """``lgamma(x)`` of ``x``'s shape (0-d included)."""
    return _same_shape(_ops.lgamma(x), x)


def _digamma(x: Tensor) -> Tensor:
    """``digamma(x)`` of ``x``'s shape (0-d included)."""
    return _same_shape(_ops.digamma(x), x)


def _host_draw(draw: Any, shape: Any, like: Tensor) -> Tensor:
    """``draw(generator, shape)`` (float64 draws from pydlk's host generator, seeded by
    ``pydlk.manual_seed``) as a tensor without gradient of ``like``'s dtype and device: the same
    seed gives the same draws on the CPU and the GPU."""
    shape = tuple(int(s) for s in shape)
    h = np.asarray(draw(_gen(None), shape), np.float64).reshape(shape)
    return _nograd(on_device_of(h.astype(np.dtype(like.dtype)), like._data))


def _finfo(t: Tensor) -> Any:
    return np.finfo(np.dtype(t.dtype))


class lazy_property:
    """A property computed on first access and then stored on the instance (so a constructor
    may also set it directly), as torch.distributions.utils.lazy_property: computed with
    gradient recording on, so that a first access inside ``no_grad`` (a ``sample()``) does not
    cache a value cut off from the parameters."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__
        self.__name__ = wrapped.__name__

    def __get__(self, instance: Any, obj_type: Any = None) -> Any:
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        instance.__dict__[self.wrapped.__name__] = value
        return value
