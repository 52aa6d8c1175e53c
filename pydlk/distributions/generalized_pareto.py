"""torch.distributions.GeneralizedPareto."""

from __future__ import annotations

import math
import numbers
from typing import Any

from .. import ops as _ops
from ..autograd import Tensor
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all

__all__ = ["GeneralizedPareto"]


def _near_zero(t: Tensor) -> Tensor:
    # torch's isclose(concentration, 0): |xi| <= 1e-8
    return t.abs() <= 1e-8


class GeneralizedPareto(Distribution):
    """The generalised Pareto distribution with location ``loc``, scale ``scale`` and shape
    ``concentration`` (``xi``): survival ``(1 + xi z)**(-1/xi)``, ``z = (x - loc) / scale``
    (``exp(-z)`` at ``xi = 0``), on ``[loc, loc - scale/xi]`` for ``xi < 0`` and
    ``[loc, inf)`` otherwise. ``rsample`` is the inverse cdf of a uniform draw."""

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "concentration": constraints.real,
    }
    has_rsample = True

    def __init__(
        self, loc: Any, scale: Any, concentration: Any, validate_args: bool | None = None
    ) -> None:
        self.loc, self.scale, self.concentration = broadcast_all(loc, scale, concentration)
        if all(isinstance(v, numbers.Number) for v in (loc, scale, concentration)):
            batch_shape: tuple[int, ...] = ()
        else:
            batch_shape = tuple(self.loc.shape)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> GeneralizedPareto:
        """This distribution with its parameters expanded to ``batch_shape``."""
        new = self._get_checked_instance(GeneralizedPareto, _instance)
        batch_shape = tuple(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        new.concentration = self.concentration.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        """``[loc, loc - scale / concentration]`` for a negative concentration, else
        ``[loc, inf)``."""
        upper = _ops.where(
            self.concentration < 0,
            self.loc - self.scale / self.concentration,
            _ops.full_like(self.loc, math.inf),
        )
        return constraints.interval(self.loc, upper)

    def _safe(self) -> tuple[Tensor, Tensor]:
        zero = _near_zero(self.concentration)
        return zero, _ops.where(zero, _ops.ones_like(self.concentration), self.concentration)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """``icdf(u)``, ``u`` uniform on [0, 1)."""
        shape = self._extended_shape(sample_shape)
        return self.icdf(_ops.rand(shape, dtype=self.loc.dtype, device=self.loc.device))

    def log_prob(self, value: Any) -> Tensor:
        """``-log(scale) - (1/xi + 1) log1p(xi z)`` (``-log(scale) - z`` at ``xi = 0``)."""
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        zero, xi = self._safe()
        y = 1 / xi + _ops.ones_like(z)
        nonzero = _ops.where(y == 0, y, y * _ops.log1p(xi * z))
        return -self.scale.log() - _ops.where(zero, z, nonzero)

    def log_survival_function(self, value: Any) -> Tensor:
        """``log P(X > value) = -log1p(xi z) / xi`` (``-z`` at ``xi = 0``)."""
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        zero, xi = self._safe()
        return _ops.where(zero, -z, -_ops.log1p(xi * z) / xi)

    def log_cdf(self, value: Any) -> Tensor:
        """``log1p(-exp(log_survival_function(value)))``."""
        return _ops.log1p(-_ops.exp(self.log_survival_function(value)))

    def cdf(self, value: Any) -> Tensor:
        """``1 - (1 + xi z)**(-1/xi)``."""
        return _ops.exp(self.log_cdf(value))

    def icdf(self, value: Any) -> Tensor:
        """``loc + scale expm1(-xi log1p(-value)) / xi`` (``loc - scale log1p(-value)`` at
        ``xi = 0``)."""
        zero, xi = self._safe()
        logu = _ops.log1p(-value)
        nonzero = self.loc + self.scale / xi * _ops.expm1(-xi * logu)
        return _ops.where(zero, self.loc - self.scale * logu, nonzero)

    @property
    def mean(self) -> Tensor:
        """``loc + scale / (1 - xi)`` for ``xi < 1``, NaN otherwise."""
        valid = self.concentration < 1
        xi = _ops.where(valid, self.concentration, _ops.full_like(self.concentration, 0.5))
        result = self.loc + self.scale / (1 - xi)
        return _ops.where(valid, result, _ops.full_like(result, math.nan))

    @property
    def variance(self) -> Tensor:
        """``scale**2 / ((1 - xi)**2 (1 - 2 xi))`` for ``xi < 1/2``, NaN otherwise."""
        valid = self.concentration < 0.5
        xi = _ops.where(valid, self.concentration, _ops.full_like(self.concentration, 0.25))
        result = self.scale.pow(2) / ((1 - xi).pow(2) * (1 - 2 * xi))
        return _ops.where(valid, result, _ops.full_like(result, math.nan))

    @property
    def mode(self) -> Tensor:
        """``loc``."""
        return self.loc

    def entropy(self) -> Tensor:
        """``log(scale) + xi + 1``."""
        ans = self.scale.log() + self.concentration + 1
        return ans if tuple(ans.shape) == self._batch_shape else ans.expand(self._batch_shape)
