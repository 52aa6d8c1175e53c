"""torch.distributions.FisherSnedecor."""

from __future__ import annotations

import math
import numbers
from typing import Any

from .. import ops as _ops
from ..autograd import Tensor
from . import constraints
from .distribution import Distribution
from .gamma import Gamma
from .utils import _finfo, _lgamma, broadcast_all

__all__ = ["FisherSnedecor"]


def _nan_where(cond: Tensor, t: Tensor) -> Tensor:
    return _ops.where(cond, _ops.full_like(t, math.nan), t)


class FisherSnedecor(Distribution):
    """The F distribution with ``df1`` and ``df2`` degrees of freedom: the ratio of two
    independent ``Chi2(df) / df`` variables, drawn as a ratio of gamma draws (reparameterised
    through their implicit gradient)."""

    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1: Any, df2: Any, validate_args: bool | None = None) -> None:
        self.df1, self.df2 = broadcast_all(df1, df2)
        self._gamma1 = Gamma(self.df1 * 0.5, self.df1)
        self._gamma2 = Gamma(self.df2 * 0.5, self.df2)
        if isinstance(df1, numbers.Number) and isinstance(df2, numbers.Number):
            batch_shape: tuple[int, ...] = ()
        else:
            batch_shape = tuple(self.df1.shape)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> FisherSnedecor:
        """This distribution with ``df1`` and ``df2`` expanded to ``batch_shape``."""
        new = self._get_checked_instance(FisherSnedecor, _instance)
        batch_shape = tuple(batch_shape)
        new.df1 = self.df1.expand(batch_shape)
        new.df2 = self.df2.expand(batch_shape)
        new._gamma1 = self._gamma1.expand(batch_shape)
        new._gamma2 = self._gamma2.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> Tensor:
        """``df2 / (df2 - 2)``; NaN for ``df2 <= 2``."""
        return _nan_where(self.df2 <= 2, self.df2 / (self.df2 - 2))

    @property
    def mode(self) -> Tensor:
        """``(df1 - 2) / df1 * df2 / (df2 + 2)``; NaN for ``df1 <= 2``."""
        mode = (self.df1 - 2) / self.df1 * self.df2 / (self.df2 + 2)
        return _nan_where(self.df1 <= 2, mode)

    @property
    def variance(self) -> Tensor:
        """``2 df2**2 (df1 + df2 - 2) / (df1 (df2 - 2)**2 (df2 - 4))``; NaN for
        ``df2 <= 4``."""
        d1, d2 = self.df1, self.df2
        v = 2 * d2.pow(2) * (d1 + d2 - 2) / (d1 * (d2 - 2).pow(2) * (d2 - 4))
        return _nan_where(d2 <= 4, v)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """``X1 / X2`` of the two scaled gamma draws, both clamped at the dtype's tiny."""
        tiny = float(_finfo(self.df1).tiny)
        X1 = self._gamma1.rsample(sample_shape)
        X2 = self._gamma2.rsample(sample_shape).clamp(min=tiny)
        return (X1 / X2).clamp(min=tiny)

    def log_prob(self, value: Any) -> Tensor:
        """The F log density."""
        if self._validate_args:
            self._validate_sample(value)
        ct1 = self.df1 * 0.5
        ct2 = self.df2 * 0.5
        ct3 = self.df1 / self.df2
        t1 = _lgamma(ct1 + ct2) - _lgamma(ct1) - _lgamma(ct2)
        t2 = ct1 * ct3.log() + (ct1 - 1) * _ops.log(value)
        t3 = (ct1 + ct2) * _ops.log1p(ct3 * value)
        return t1 + t2 - t3
