"""torch.distributions.Multinomial."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops as _ops
from .._backend import host_array
from ..autograd import Tensor
from . import constraints
from .binomial import Binomial
from .categorical import Categorical
from .distribution import Distribution
from .utils import _host_draw, _lgamma, broadcast_all

__all__ = ["Multinomial"]


class Multinomial(Distribution):
    """The counts of ``total_count`` (one int) independent draws from a categorical
    distribution given by ``probs`` or ``logits`` (not both; the last dim holds the
    categories). Draws come from pydlk's generator as counts of the parameters' dtype;
    ``log_prob`` accepts any count vectors (their sum need not be ``total_count``, as in
    torch)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}

    def __init__(
        self,
        total_count: int = 1,
        probs: Tensor | None = None,
        logits: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits)
        self._binomial = Binomial(total_count=total_count, probs=self.probs)
        batch_shape = self._categorical.batch_shape
        event_shape = self._categorical.param_shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Multinomial:
        """This distribution with its parameters expanded to ``batch_shape``."""
        new = self._get_checked_instance(Multinomial, _instance)
        batch_shape = tuple(batch_shape)
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        new._binomial = Binomial(total_count=self.total_count, probs=new._categorical.probs)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self) -> constraints.Constraint:
        """``multinomial(total_count)``: non-negative counts summing to at most it."""
        return constraints.multinomial(self.total_count)

    @property
    def probs(self) -> Tensor:
        """Probabilities, normalised over the last dim."""
        return self._categorical.probs

    @property
    def logits(self) -> Tensor:
        """Normalised log-probabilities."""
        return self._categorical.logits

    @property
    def param_shape(self) -> tuple[int, ...]:
        """The shape of ``probs`` / ``logits``."""
        return self._categorical.param_shape

    @property
    def mean(self) -> Tensor:
        """``total_count probs``."""
        return self.probs * self.total_count

    @property
    def variance(self) -> Tensor:
        """``total_count probs (1 - probs)``."""
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Count vectors of shape ``sample_shape + batch_shape + (K,)``."""
        shape = self._extended_shape(sample_shape)
        p = np.asarray(host_array(self.probs.detach()._data), np.float64)
        p = p / p.sum(-1, keepdims=True)
        n = self.total_count
        return _host_draw(lambda g, s: g.multinomial(n, p, size=s[:-1]), shape, self.probs)

    def entropy(self) -> Tensor:
        """``n H(cat) - lgamma(n + 1) + sum_k E[lgamma(x_k + 1)]``, the expectations over
        each count's binomial marginal."""
        n = self.total_count
        term1 = n * self._categorical.entropy() - math.lgamma(n + 1)
        support = self._binomial.enumerate_support(expand=False)[1:]
        binomial_probs = _ops.exp(self._binomial.log_prob(support))
        weights = _lgamma(support + 1)
        term2 = (binomial_probs * weights).sum(0).sum(-1)
        return term1 + term2

    def log_prob(self, value: Any) -> Tensor:
        """``lgamma(sum x + 1) - sum lgamma(x + 1) + sum x logits``."""
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        log_factorial_n = _lgamma(value.sum(-1) + 1)
        log_factorial_xs = _lgamma(value + 1).sum(-1)
        zero = (value == 0) & (logits == -math.inf)
        logits = _ops.where(zero, _ops.zeros_like(logits), logits)
        log_powers = (logits * value).sum(-1)
        return log_factorial_n - log_factorial_xs + log_powers
