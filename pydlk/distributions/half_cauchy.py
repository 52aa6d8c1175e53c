"""torch.distributions.HalfCauchy."""

from __future__ import annotations

import math
from typing import Any

from .. import ops as _ops
from ..autograd import Tensor
from . import constraints
from .cauchy import Cauchy
from .transformed_distribution import TransformedDistribution
from .transforms import AbsTransform

__all__ = ["HalfCauchy"]


class HalfCauchy(TransformedDistribution):
    """``|X|`` with ``X ~ Cauchy(0, scale)``: a ``TransformedDistribution`` through
    ``AbsTransform``, as torch builds it (a common prior on scales)."""

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    base_dist: Cauchy

    def __init__(self, scale: Any, validate_args: bool | None = None) -> None:
        base = Cauchy(0, scale, validate_args=False)
        super().__init__(base, AbsTransform(), validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> HalfCauchy:
        """This distribution with ``scale`` expanded to ``batch_shape``."""
        new = self._get_checked_instance(HalfCauchy, _instance)
        return super().expand(batch_shape, _instance=new)  # type: ignore[return-value]

    @property
    def scale(self) -> Tensor:
        """The scale of the underlying Cauchy distribution."""
        return self.base_dist.scale

    @property
    def mean(self) -> Tensor:
        """Infinity."""
        return _ops.full(
            self._extended_shape(), math.inf, dtype=self.scale.dtype, device=self.scale.device
        )

    @property
    def mode(self) -> Tensor:
        """0."""
        return _ops.zeros_like(self.scale)

    @property
    def variance(self) -> Tensor:
        """Infinity (as torch reports it)."""
        return self.base_dist.variance

    def log_prob(self, value: Any) -> Tensor:
        """The Cauchy log density plus ``log 2`` on ``value >= 0``; ``-inf`` below."""
        if self._validate_args:
            self._validate_sample(value)
        log_prob = self.base_dist.log_prob(value) + math.log(2)
        return _ops.where(value >= 0, log_prob, _ops.full_like(log_prob, -math.inf))

    def cdf(self, value: Any) -> Tensor:
        """``2 F(value) - 1``, ``F`` the Cauchy cdf."""
        if self._validate_args:
            self._validate_sample(value)
        return 2 * self.base_dist.cdf(value) - 1

    def icdf(self, prob: Any) -> Tensor:
        """The Cauchy quantile at ``(prob + 1) / 2``."""
        return self.base_dist.icdf((prob + 1) / 2)

    def entropy(self) -> Tensor:
        """The Cauchy entropy minus ``log 2``."""
        return self.base_dist.entropy() - math.log(2)
