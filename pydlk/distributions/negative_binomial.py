"""torch.distributions.NegativeBinomial."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops as _ops
from .._backend import host_array
from ..autograd import Tensor, no_grad
from ..nn import functional as F
from . import constraints
from .distribution import Distribution
from .gamma import Gamma
from .utils import (
    _host_draw,
    _lgamma,
    broadcast_all,
    lazy_property,
    logits_to_probs,
    probs_to_logits,
)

__all__ = ["NegativeBinomial"]


class NegativeBinomial(Distribution):
    """The number of successes before ``total_count`` failures of Bernoulli trials with
    success probability ``probs`` (or log-odds ``logits``, not both); ``total_count`` need not
    be an integer. Draws are Poisson draws of a ``Gamma(total_count, exp(-logits))`` rate, as
    in torch."""

    arg_constraints = {
        "total_count": constraints.greater_than_eq(0),
        "probs": constraints.half_open_interval(0.0, 1.0),
        "logits": constraints.real,
    }
    support = constraints.nonnegative_integer

    def __init__(
        self,
        total_count: Any,
        probs: Any = None,
        logits: Any = None,
        validate_args: bool | None = None,
    ) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.total_count, self.probs = broadcast_all(total_count, probs)
            self.total_count = self.total_count.type_as(self.probs)
            self._param = self.probs
        else:
            self.total_count, self.logits = broadcast_all(total_count, logits)
            self.total_count = self.total_count.type_as(self.logits)
            self._param = self.logits
        super().__init__(tuple(self._param.shape), validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> NegativeBinomial:
        """This distribution with its parameters expanded to ``batch_shape``."""
        new = self._get_checked_instance(NegativeBinomial, _instance)
        batch_shape = tuple(batch_shape)
        new.total_count = self.total_count.expand(batch_shape)
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
        """Log-odds of success."""
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        """The success probability: ``sigmoid(logits)``."""
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self) -> tuple[int, ...]:
        """The shape of ``probs`` / ``logits``."""
        return tuple(self._param.shape)

    @property
    def mean(self) -> Tensor:
        """``total_count exp(logits)``."""
        return self.total_count * _ops.exp(self.logits)

    @property
    def mode(self) -> Tensor:
        """``floor((total_count - 1) exp(logits))``, at least 0."""
        return ((self.total_count - 1) * _ops.exp(self.logits)).floor().clamp(min=0.0)

    @property
    def variance(self) -> Tensor:
        """``mean / sigmoid(-logits)``."""
        return self.mean / _ops.sigmoid(-self.logits)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Counts of shape ``sample_shape + batch_shape``."""
        with no_grad():
            gamma = Gamma(self.total_count, _ops.exp(-self.logits), validate_args=False).sample(
                sample_shape
            )
            rate = np.asarray(host_array(gamma._data), np.float64)
            return _host_draw(lambda g, s: g.poisson(rate, size=s), gamma.shape, gamma)

    def log_prob(self, value: Any) -> Tensor:
        """``log C(n + k - 1, k) + n logsigmoid(-logits) + k logsigmoid(logits)``."""
        if self._validate_args:
            self._validate_sample(value)
        n, logits = self.total_count, self.logits
        log_unnormalized = n * F.logsigmoid(-logits) + value * F.logsigmoid(logits)
        log_normalization = -_lgamma(n + value) + _lgamma(1.0 + value) + _lgamma(n)
        zero = (n + value) == 0.0
        log_normalization = _ops.where(zero, _ops.zeros_like(log_normalization), log_normalization)
        return log_unnormalized - log_normalization
