"""torch.distributions.InverseGamma."""

from __future__ import annotations

import math
from typing import Any

from .. import ops as _ops
from ..autograd import Tensor
from . import constraints
from .gamma import Gamma
from .transformed_distribution import TransformedDistribution
from .transforms import PowerTransform
from .utils import _digamma, _lgamma

__all__ = ["InverseGamma"]


class InverseGamma(TransformedDistribution):
    """``1 / X`` with ``X ~ Gamma(concentration, rate)``: a ``TransformedDistribution``
    through ``PowerTransform(-1)``, as torch builds it (reparameterised through the gamma's
    implicit gradient)."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.positive
    has_rsample = True
    base_dist: Gamma

    def __init__(self, concentration: Any, rate: Any, validate_args: bool | None = None) -> None:
        base = Gamma(concentration, rate, validate_args=validate_args)
        neg_one = _ops.full((), -1.0, dtype=base.rate.dtype, device=base.rate.device)
        super().__init__(base, PowerTransform(neg_one), validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> InverseGamma:
        """This distribution with its parameters expanded to ``batch_shape``."""
        new = self._get_checked_instance(InverseGamma, _instance)
        return super().expand(batch_shape, _instance=new)  # type: ignore[return-value]

    @property
    def concentration(self) -> Tensor:
        """The gamma's concentration."""
        return self.base_dist.concentration

    @property
    def rate(self) -> Tensor:
        """The gamma's rate (the inverse gamma's scale)."""
        return self.base_dist.rate

    @property
    def mean(self) -> Tensor:
        """``rate / (concentration - 1)``, infinite for ``concentration <= 1``."""
        c = self.concentration
        return _ops.where(c > 1, self.rate / (c - 1), _ops.full_like(c, math.inf))

    @property
    def mode(self) -> Tensor:
        """``rate / (concentration + 1)``."""
        return self.rate / (self.concentration + 1)

    @property
    def variance(self) -> Tensor:
        """``rate**2 / ((c - 1)**2 (c - 2))``, infinite for ``c <= 2``."""
        c = self.concentration
        v = self.rate.pow(2) / ((c - 1).pow(2) * (c - 2))
        return _ops.where(c > 2, v, _ops.full_like(c, math.inf))

    def entropy(self) -> Tensor:
        """``c + log(rate) + lgamma(c) - (1 + c) digamma(c)``."""
        c = self.concentration
        return c + self.rate.log() + _lgamma(c) - (1 + c) * _digamma(c)
