"""torch.distributions.ContinuousBernoulli."""

from __future__ import annotations

import math
import numbers
from typing import Any

from .. import ops as _ops
from ..autograd import Tensor, no_grad
from ..nn import functional as F
from . import constraints
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .utils import broadcast_all, clamp_probs, lazy_property, logits_to_probs, probs_to_logits

__all__ = ["ContinuousBernoulli"]


class ContinuousBernoulli(ExponentialFamily):
    """The continuous Bernoulli distribution on [0, 1] (Loaiza-Ganem and Cunningham, 2019):
    density proportional to ``p**x (1 - p)**(1 - x)``, given by ``probs`` or ``logits`` (not
    both). Its normalising constant, mean, variance and quantile have a removable singularity
    at ``p = 1/2``: inside ``lims`` they are Taylor expansions about 1/2, as in torch.
    ``rsample`` is the inverse cdf of a uniform draw."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(
        self,
        probs: Any = None,
        logits: Any = None,
        lims: tuple[float, float] = (0.499, 0.501),
        validate_args: bool | None = None,
    ) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            is_scalar = isinstance(probs, numbers.Number)
            (self.probs,) = broadcast_all(probs)
            if validate_args is not None and validate_args:
                if not bool(self.arg_constraints["probs"].check(self.probs).all()):
                    raise ValueError("The parameter probs has invalid values")
            self.probs = clamp_probs(self.probs)
        else:
            is_scalar = isinstance(logits, numbers.Number)
            (self.logits,) = broadcast_all(logits)
        self._param = self.probs if probs is not None else self.logits
        batch_shape = () if is_scalar else tuple(self._param.shape)
        self._lims = lims
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> ContinuousBernoulli:
        """This distribution with its parameter expanded to ``batch_shape``."""
        new = self._get_checked_instance(ContinuousBernoulli, _instance)
        batch_shape = tuple(batch_shape)
        new._lims = self._lims
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
        """``log p - log(1 - p)``."""
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        """``sigmoid(logits)``."""
        return clamp_probs(logits_to_probs(self.logits, is_binary=True))

    @property
    def param_shape(self) -> tuple[int, ...]:
        """The shape of ``probs`` / ``logits``."""
        return tuple(self._param.shape)

    def _outside_unstable_region(self) -> Tensor:
        return (self.probs <= self._lims[0]) | (self.probs > self._lims[1])

    def _cut_probs(self) -> Tensor:
        return _ops.where(
            self._outside_unstable_region(),
            self.probs,
            self._lims[0] * _ops.ones_like(self.probs),
        )

    def _cont_bern_log_norm(self) -> Tensor:
        """``log C(p)``, ``C(p) = 2 atanh(1 - 2p) / (1 - 2p)``; ``log 2 + 4/3 x + 104/45 x**2``
        (``x = (p - 1/2)**2``) near 1/2."""
        cut = self._cut_probs()
        below = _ops.where(cut <= 0.5, cut, _ops.zeros_like(cut))
        above = _ops.where(cut >= 0.5, cut, _ops.ones_like(cut))
        log_norm = _ops.log(_ops.abs(_ops.log1p(-cut) - _ops.log(cut))) - _ops.where(
            cut <= 0.5, _ops.log1p(-2.0 * below), _ops.log(2.0 * above - 1.0)
        )
        x = (self.probs - 0.5).pow(2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return _ops.where(self._outside_unstable_region(), log_norm, taylor)

    @property
    def mean(self) -> Tensor:
        """``p / (2p - 1) + 1 / (log(1 - p) - log p)``; a Taylor expansion near 1/2."""
        cut = self._cut_probs()
        mus = cut / (2.0 * cut - 1.0) + 1.0 / (_ops.log1p(-cut) - _ops.log(cut))
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x.pow(2)) * x
        return _ops.where(self._outside_unstable_region(), mus, taylor)

    @property
    def stddev(self) -> Tensor:
        """The square root of the variance."""
        return self.variance.sqrt()

    @property
    def variance(self) -> Tensor:
        """``p (p - 1) / (1 - 2p)**2 + 1 / (log(1 - p) - log p)**2``; a Taylor expansion near
        1/2."""
        cut = self._cut_probs()
        v = cut * (cut - 1.0) / (1.0 - 2.0 * cut).pow(2) + 1.0 / (
            _ops.log1p(-cut) - _ops.log(cut)
        ).pow(2)
        x = (self.probs - 0.5).pow(2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return _ops.where(self._outside_unstable_region(), v, taylor)

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        return (self.logits,)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        # log((exp(x) - 1) / x), a Taylor expansion near x = 0
        outside = (x <= self._lims[0] - 0.5) | (x > self._lims[1] - 0.5)
        cut = _ops.where(outside, x, (self._lims[0] - 0.5) * _ops.ones_like(x))
        log_norm = _ops.log(_ops.abs(_ops.exp(cut) - 1.0)) - _ops.log(_ops.abs(cut))
        taylor = 0.5 * x + x.pow(2) / 24.0 - x.pow(4) / 2880.0
        return _ops.where(outside, log_norm, taylor)

    @property
    def _mean_carrier_measure(self) -> Any:
        return 0

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Draws of shape ``sample_shape + batch_shape``, without gradient."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """``icdf(u)``, ``u`` uniform on [0, 1)."""
        shape = self._extended_shape(sample_shape)
        u = _ops.rand(shape, dtype=self.probs.dtype, device=self.probs.device)
        return self.icdf(u)

    def log_prob(self, value: Any) -> Tensor:
        """``-binary_cross_entropy_with_logits(logits, value) + log C(p)``."""
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        bce = F.binary_cross_entropy_with_logits(logits, value, reduction="none")
        return -bce + self._cont_bern_log_norm()

    def cdf(self, value: Any) -> Tensor:
        """``(p**x (1 - p)**(1 - x) + p - 1) / (2p - 1)`` (``x`` itself near ``p = 1/2``),
        clamped to [0, 1] outside the support."""
        if self._validate_args:
            self._validate_sample(value)
        cut = self._cut_probs()
        cdfs = (cut.pow(value) * (1.0 - cut).pow(1.0 - value) + cut - 1.0) / (2.0 * cut - 1.0)
        unbounded = _ops.where(self._outside_unstable_region(), cdfs, value)
        return _ops.where(
            value <= 0.0,
            _ops.zeros_like(unbounded),
            _ops.where(value >= 1.0, _ops.ones_like(unbounded), unbounded),
        )

    def icdf(self, value: Any) -> Tensor:
        """``(log1p(-p + value (2p - 1)) - log1p(-p)) / (log p - log1p(-p))`` (``value``
        itself near ``p = 1/2``)."""
        cut = self._cut_probs()
        q = (_ops.log1p(-cut + value * (2.0 * cut - 1.0)) - _ops.log1p(-cut)) / (
            _ops.log(cut) - _ops.log1p(-cut)
        )
        return _ops.where(self._outside_unstable_region(), q, value)

    def entropy(self) -> Tensor:
        """``mean (log(1 - p) - log p) - log C(p) - log(1 - p)``."""
        log_probs0 = _ops.log1p(-self.probs)
        log_probs1 = _ops.log(self.probs)
        return self.mean * (log_probs0 - log_probs1) - self._cont_bern_log_norm() - log_probs0
