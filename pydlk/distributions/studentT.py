"""torch.distributions.StudentT."""

from __future__ import annotations

import math
import numbers
from typing import Any

from .. import ops as _ops
from ..autograd import Tensor
from . import constraints
from .chi2 import Chi2
from .distribution import Distribution
from .utils import _digamma, _lgamma, broadcast_all

__all__ = ["StudentT"]


class StudentT(Distribution):
    """Student's t distribution with ``df`` degrees of freedom, location ``loc`` and scale
    ``scale``. ``rsample`` is ``loc + scale X / sqrt(Z / df)`` with ``X`` standard normal and
    ``Z ~ Chi2(df)`` (reparameterised, through the implicit gamma gradient, in ``df``
    too)."""

    arg_constraints = {
        "df": constraints.positive,
        "loc": constraints.real,
        "scale": constraints.positive,
    }
    support = constraints.real
    has_rsample = True

    def __init__(
        self, df: Any, loc: Any = 0.0, scale: Any = 1.0, validate_args: bool | None = None
    ) -> None:
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        self._chi2 = Chi2(self.df)
        if all(isinstance(v, numbers.Number) for v in (df, loc, scale)):
            batch_shape: tuple[int, ...] = ()
        else:
            batch_shape = tuple(self.df.shape)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> StudentT:
        """This distribution with its parameters expanded to ``batch_shape``."""
        new = self._get_checked_instance(StudentT, _instance)
        batch_shape = tuple(batch_shape)
        new.df = self.df.expand(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        new._chi2 = self._chi2.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> Tensor:
        """``loc`` where ``df > 1``, NaN elsewhere."""
        nan = _ops.full_like(self.loc, math.nan)
        return _ops.where(self.df > 1, self.loc, nan)

    @property
    def mode(self) -> Tensor:
        """``loc``."""
        return self.loc

    @property
    def variance(self) -> Tensor:
        """``scale**2 df / (df - 2)`` where ``df > 2``, infinity for ``1 < df <= 2``, NaN
        for ``df <= 1``."""
        df = self.df
        safe = _ops.where(df > 2, df, _ops.full_like(df, 3.0))
        finite = self.scale.pow(2) * safe / (safe - 2)
        inf = _ops.full_like(df, math.inf)
        nan = _ops.full_like(df, math.nan)
        return _ops.where(df > 2, finite, _ops.where(df > 1, inf, nan))

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """``loc + scale X rsqrt(Z / df)``."""
        shape = self._extended_shape(sample_shape)
        X = _ops.randn(shape, dtype=self.df.dtype, device=self.df.device)
        Z = self._chi2.rsample(sample_shape)
        Y = X * _ops.rsqrt(Z / self.df)
        return self.loc + self.scale * Y

    def log_prob(self, value: Any) -> Tensor:
        """``-(df + 1)/2 log1p(y**2 / df) - log(scale) - log(df pi)/2 - lgamma(df/2) +
        lgamma((df + 1)/2)``, ``y = (value - loc) / scale``."""
        if self._validate_args:
            self._validate_sample(value)
        y = (value - self.loc) / self.scale
        df = self.df
        Z = (
            self.scale.log()
            + 0.5 * df.log()
            + 0.5 * math.log(math.pi)
            + _lgamma(0.5 * df)
            - _lgamma(0.5 * (df + 1.0))
        )
        return -0.5 * (df + 1.0) * _ops.log1p(y.pow(2) / df) - Z

    def entropy(self) -> Tensor:
        """``log(scale) + (df+1)/2 (digamma((df+1)/2) - digamma(df/2)) + log(df)/2 +
        log B(df/2, 1/2)``."""
        df = self.df
        lbeta = _lgamma(0.5 * df) + math.lgamma(0.5) - _lgamma(0.5 * (df + 1))
        return (
            self.scale.log()
            + 0.5 * (df + 1) * (_digamma(0.5 * (df + 1)) - _digamma(0.5 * df))
            + 0.5 * df.log()
            + lbeta
        )
