"""torch.distributions.Kumaraswamy."""

from __future__ import annotations

import math
from typing import Any

from .. import ops as _ops
from ..autograd import Tensor
from . import constraints
from .transformed_distribution import TransformedDistribution
from .transforms import AffineTransform, PowerTransform
from .uniform import Uniform
from .utils import _digamma, _lgamma, broadcast_all

__all__ = ["Kumaraswamy"]

_EULER = 0.57721566490153286060


def _moments(a: Tensor, b: Tensor, n: int) -> Tensor:
    """``E X**n = b B(1 + n/a, b)`` for ``X ~ Kumaraswamy(a, b)``."""
    return b * _ops.exp(_lgamma(1 + n / a) + _lgamma(b) - _lgamma(1 + b + n / a))


class Kumaraswamy(TransformedDistribution):
    """The Kumaraswamy distribution on (0, 1), density ``a b x**(a-1) (1 - x**a)**(b-1)``
    (``a = concentration1``, ``b = concentration0``): ``(1 - U**(1/b))**(1/a)`` with ``U``
    uniform, a ``TransformedDistribution`` as torch builds it (reparameterised)."""

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.unit_interval
    has_rsample = True

    def __init__(
        self, concentration1: Any, concentration0: Any, validate_args: bool | None = None
    ) -> None:
        self.concentration1, self.concentration0 = broadcast_all(concentration1, concentration0)
        base = Uniform(
            _ops.zeros_like(self.concentration0),
            _ops.ones_like(self.concentration0),
            validate_args=validate_args,
        )
        transforms = [
            PowerTransform(exponent=self.concentration0.reciprocal()),
            AffineTransform(loc=1.0, scale=-1.0),
            PowerTransform(exponent=self.concentration1.reciprocal()),
        ]
        super().__init__(base, transforms, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Kumaraswamy:
        """This distribution with its parameters expanded to ``batch_shape``."""
        new = self._get_checked_instance(Kumaraswamy, _instance)
        batch_shape = tuple(batch_shape)
        new.concentration1 = self.concentration1.expand(batch_shape)
        new.concentration0 = self.concentration0.expand(batch_shape)
        base = self.base_dist.expand(batch_shape)
        transforms = [
            PowerTransform(exponent=new.concentration0.reciprocal()),
            AffineTransform(loc=1.0, scale=-1.0),
            PowerTransform(exponent=new.concentration1.reciprocal()),
        ]
        TransformedDistribution.__init__(new, base, transforms, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> Tensor:
        """``b B(1 + 1/a, b)``."""
        return _moments(self.concentration1, self.concentration0, 1)

    @property
    def mode(self) -> Tensor:
        """``((a - 1) / (a b - 1)) ** (1/a)``; NaN unless ``a >= 1`` and ``b >= 1``."""
        a, b = self.concentration1, self.concentration0
        log_mode = (_ops.log(a - 1) - _ops.log(a * b - 1)) / a
        bad = (a < 1) | (b < 1)
        log_mode = _ops.where(bad, _ops.full_like(log_mode, math.nan), log_mode)
        return log_mode.exp()

    @property
    def variance(self) -> Tensor:
        """``E X**2 - (E X)**2``."""
        a, b = self.concentration1, self.concentration0
        return _moments(a, b, 2) - self.mean.pow(2)

    def entropy(self) -> Tensor:
        """``(1 - 1/b) + (1 - 1/a) H_b - log(a b)``, ``H_b = digamma(b + 1) + euler_gamma``."""
        a, b = self.concentration1, self.concentration0
        t1 = 1 - a.reciprocal()
        t0 = 1 - b.reciprocal()
        H0 = _digamma(b + 1) + _EULER
        return t0 + t1 * H0 - a.log() - b.log()
