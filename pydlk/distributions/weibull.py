"""torch.distributions.Weibull."""

from __future__ import annotations

from typing import Any

from .. import ops as _ops
from ..autograd import Tensor
from . import constraints
from .exponential import Exponential
from .transformed_distribution import TransformedDistribution
from .transforms import AffineTransform, PowerTransform
from .utils import _lgamma, broadcast_all

__all__ = ["Weibull"]

_EULER = 0.57721566490153286060


class Weibull(TransformedDistribution):
    """The two-parameter Weibull distribution with ``scale`` and shape ``concentration``:
    ``scale * E ** (1 / concentration)`` with ``E ~ Exponential(1)``, a
    ``TransformedDistribution`` as torch builds it (reparameterised)."""

    arg_constraints = {"scale": constraints.positive, "concentration": constraints.positive}
    support = constraints.positive

    def __init__(self, scale: Any, concentration: Any, validate_args: bool | None = None) -> None:
        self.scale, self.concentration = broadcast_all(scale, concentration)
        self.concentration_reciprocal = self.concentration.reciprocal()
        base = Exponential(_ops.ones_like(self.scale), validate_args=validate_args)
        transforms = [
            PowerTransform(exponent=self.concentration_reciprocal),
            AffineTransform(loc=0, scale=self.scale),
        ]
        super().__init__(base, transforms, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Weibull:
        """This distribution with its parameters expanded to ``batch_shape``."""
        new = self._get_checked_instance(Weibull, _instance)
        batch_shape = tuple(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        new.concentration = self.concentration.expand(batch_shape)
        new.concentration_reciprocal = new.concentration.reciprocal()
        base = self.base_dist.expand(batch_shape)
        transforms = [
            PowerTransform(exponent=new.concentration_reciprocal),
            AffineTransform(loc=0, scale=new.scale),
        ]
        TransformedDistribution.__init__(new, base, transforms, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> Tensor:
        """``scale Gamma(1 + 1/k)``."""
        return self.scale * _ops.exp(_lgamma(1 + self.concentration_reciprocal))

    @property
    def mode(self) -> Tensor:
        """``scale ((k - 1) / k) ** (1/k)``."""
        k = self.concentration
        return self.scale * ((k - 1) / k) ** k.reciprocal()

    @property
    def variance(self) -> Tensor:
        """``scale**2 (Gamma(1 + 2/k) - Gamma(1 + 1/k)**2)``."""
        r = self.concentration_reciprocal
        return self.scale.pow(2) * (_ops.exp(_lgamma(1 + 2 * r)) - _ops.exp(2 * _lgamma(1 + r)))

    def entropy(self) -> Tensor:
        """``euler_gamma (1 - 1/k) + log(scale / k) + 1``."""
        k = self.concentration
        return _EULER * (1 - self.concentration_reciprocal) + _ops.log(self.scale / k) + 1
