"""torch.distributions.Poisson."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import ops as _ops
from .._backend import host_array
from ..autograd import Tensor
from . import constraints
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .utils import _host_draw, _lgamma, broadcast_all

__all__ = ["Poisson"]


class Poisson(ExponentialFamily):
    """The Poisson distribution with rate ``rate`` (``P(k) = rate**k exp(-rate) / k!``).
    Draws (``pydlk.poisson``, from pydlk's generator) are whole numbers of the rate's dtype."""

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate: Any, validate_args: bool | None = None) -> None:
        (self.rate,) = broadcast_all(rate)
        batch_shape = () if isinstance(rate, numbers.Number) else tuple(self.rate.shape)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Poisson:
        """This distribution with ``rate`` expanded to ``batch_shape``."""
        new = self._get_checked_instance(Poisson, _instance)
        batch_shape = tuple(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        return (_ops.log(self.rate),)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        return _ops.exp(x)

    @property
    def mean(self) -> Tensor:
        """``rate``."""
        return self.rate

    @property
    def mode(self) -> Tensor:
        """``floor(rate)``."""
        return self.rate.floor()

    @property
    def variance(self) -> Tensor:
        """``rate``."""
        return self.rate

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Counts of shape ``sample_shape + batch_shape``."""
        shape = self._extended_shape(sample_shape)
        rate = np.asarray(host_array(self.rate.detach()._data), np.float64)
        return _host_draw(lambda g, s: g.poisson(rate, size=s), shape, self.rate)

    def log_prob(self, value: Any) -> Tensor:
        """``xlogy(value, rate) - rate - lgamma(value + 1)``."""
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value)
        return _ops.xlogy(value, rate) - rate - _lgamma(value + 1)
