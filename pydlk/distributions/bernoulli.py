"""torch.distributions.Bernoulli."""

from __future__ import annotations

import numbers
from typing import Any

from .. import ops as _ops
from ..autograd import Tensor, no_grad
from . import constraints
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .utils import _softplus, broadcast_all, lazy_property, logits_to_probs, probs_to_logits

__all__ = ["Bernoulli"]


class Bernoulli(ExponentialFamily):
    """A Bernoulli distribution over {0, 1}, given by ``probs`` (the probability of 1) or by
    ``logits`` (its log-odds), not both. Samples are 0./1. of the parameter's dtype, drawn
    from pydlk's generator."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(
        self, probs: Any = None, logits: Any = None, validate_args: bool | None = None
    ) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            is_scalar = isinstance(probs, numbers.Number)
            (self.probs,) = broadcast_all(probs)
        else:
            is_scalar = isinstance(logits, numbers.Number)
            (self.logits,) = broadcast_all(logits)
        self._param = self.probs if probs is not None else self.logits
        batch_shape = () if is_scalar else tuple(self._param.shape)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Bernoulli:
        """This distribution with its parameter expanded to ``batch_shape``."""
        new = self._get_checked_instance(Bernoulli, _instance)
        batch_shape = tuple(batch_shape)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(batch_shape)
            new._param = new.probs
        if "logits" in self.__dict__:
            new.logits = self.logits.expand(batch_shape)
            new._param = new.logits
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @lazy_property
    def logits(self) -> Tensor:
        """Log-odds ``log p - log(1 - p)`` (``p`` clamped to [eps, 1 - eps])."""
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        """The probability of 1: ``sigmoid(logits)``."""
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self) -> tuple[int, ...]:
        """The shape of ``probs`` / ``logits``."""
        return tuple(self._param.shape)

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        return (_ops.log(self.probs / (1 - self.probs)),)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        return _ops.log1p(_ops.exp(x))

    @property
    def _mean_carrier_measure(self) -> Any:
        return 0

    @property
    def mean(self) -> Tensor:
        """``probs``."""
        return self.probs

    @property
    def mode(self) -> Tensor:
        """1 where ``probs > 0.5``, 0 where below, NaN where exactly 0.5."""
        p = self.probs
        mode = (p >= 0.5).to(p.dtype)
        return _ops.where(p == 0.5, _ops.full_like(mode, float("nan")), mode)

    @property
    def variance(self) -> Tensor:
        """``probs * (1 - probs)``."""
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """0./1. draws of shape ``sample_shape + batch_shape``."""
        shape = self._extended_shape(sample_shape)
        with no_grad():
            return _ops.bernoulli(self.probs.expand(shape))

    def log_prob(self, value: Any) -> Tensor:
        """``value * logits - softplus(logits)``: minus the binary cross-entropy with logits."""
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return value * logits - _softplus(logits)

    def entropy(self) -> Tensor:
        """``softplus(logits) - probs * logits``."""
        logits, probs = broadcast_all(self.logits, self.probs)
        return _softplus(logits) - probs * logits

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """``[0., 1.]`` along dim 0, expanded over the batch if ``expand``."""
        values = _ops.arange(2, dtype=self._param.dtype, device=self._param.device)
        values = values.view((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand((-1,) + self._batch_shape)
        return values
