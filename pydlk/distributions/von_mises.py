"""torch.distributions.VonMises."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .. import ops as _ops
from .._backend import get_array_module, host_array
from ..autograd import Function, Tensor
from . import constraints
from .distribution import Distribution
from .utils import _host_draw, broadcast_all

__all__ = ["VonMises"]

_SERIES_TERMS = 64
_ASYMPTOTIC_TERMS = 12
_SWITCH = 25.0


def _log_bessel_i(xp: Any, k: Any, order: int) -> Any:
    """``log I_order(k)`` (order 0 or 1) in float64: the power series
    ``sum_j (k/2)**(2j + n) / (j! (j + n)!)`` below ``k = 25`` (64 terms, summed in log space
    from the largest), Hankel's asymptotic expansion
    ``e**k / sqrt(2 pi k) sum_j (-1)**j prod_i (4 n**2 - (2i - 1)**2) / (j! (8k)**j)`` above
    (12 terms); both to about 1e-15 relative."""
    k = xp.asarray(k, dtype=xp.float64)
    ks = xp.maximum(k, 1e-300)
    j = xp.arange(_SERIES_TERMS, dtype=xp.float64)
    lg = np.array([math.lgamma(i + 1) for i in range(_SERIES_TERMS + 1)])
    lfact = xp.asarray(lg[:_SERIES_TERMS] + lg[order : order + _SERIES_TERMS])
    logt = (2 * j + order) * xp.log(ks / 2)[..., None] - lfact
    m = logt.max(-1, keepdims=True)
    series = m[..., 0] + xp.log(xp.exp(logt - m).sum(-1))
    mu = 4.0 * order * order
    kb = xp.maximum(ks, _SWITCH)
    term = xp.ones_like(kb)
    total = xp.ones_like(kb)
    for i in range(1, _ASYMPTOTIC_TERMS + 1):
        term = -term * (mu - (2 * i - 1) ** 2) / (i * 8.0 * kb)
        total = total + term
    asym = kb - 0.5 * xp.log(2 * math.pi * kb) + xp.log(total)
    return xp.where(k < _SWITCH, series, asym)


class _LogBesselI(Function):
    """``log I_order(k)``; ``d/dk log I_0 = I_1 / I_0``, ``d/dk log I_1 = I_0 / I_1 - 1/k``."""

    @staticmethod
    def forward(ctx, k, order):
        xp = get_array_module(k)
        out = _log_bessel_i(xp, k, order)
        other = _log_bessel_i(xp, k, 1 - order)
        ctx.save_for_backward(k, out, other)
        ctx.order = order
        return out.astype(k.dtype)

    @staticmethod
    def backward(ctx, g):
        k, out, other = ctx.saved_tensors
        xp = get_array_module(k)
        ratio = xp.exp(other - out)
        if ctx.order == 1:
            ratio = ratio - 1.0 / xp.asarray(k, dtype=xp.float64)
        return (g * ratio).astype(k.dtype), None


def _log_modified_bessel_fn(k: Tensor, order: int = 0) -> Tensor:
    """``log I_order(k)`` of a tensor (order 0 or 1), differentiable in ``k``."""
    if order not in (0, 1):
        raise ValueError("order must be 0 or 1")
    return _LogBesselI.apply(k, order)


class VonMises(Distribution):
    """The von Mises (circular normal) distribution on angles, with mean direction ``loc`` and
    concentration ``concentration`` (density ``exp(k cos(x - loc)) / (2 pi I_0(k))``). Draws
    (NumPy's von Mises sampler on pydlk's generator) are wrapped to ``[-pi, pi)``; no
    ``rsample``, as in torch. ``log I_0`` and ``log I_1`` are computed to about 1e-15 (torch's
    polynomial approximations are within about 1e-7 of them)."""

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc: Any, concentration: Any, validate_args: bool | None = None) -> None:
        self.loc, self.concentration = broadcast_all(loc, concentration)
        if isinstance(loc, numbers.Number) and isinstance(concentration, numbers.Number):
            batch_shape: tuple[int, ...] = ()
        else:
            batch_shape = tuple(self.loc.shape)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> VonMises:
        """This distribution with ``loc`` and ``concentration`` expanded to ``batch_shape``."""
        new = self._get_checked_instance(VonMises, _instance)
        batch_shape = tuple(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.concentration = self.concentration.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value: Any) -> Tensor:
        """``k cos(value - loc) - log(2 pi) - log I_0(k)``."""
        if self._validate_args:
            self._validate_sample(value)
        k = self.concentration
        return k * _ops.cos(value - self.loc) - math.log(2 * math.pi) - _log_modified_bessel_fn(k)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Angles of shape ``sample_shape + batch_shape`` in ``[-pi, pi)``."""
        shape = self._extended_shape(sample_shape)
        loc = np.asarray(host_array(self.loc.detach()._data), np.float64)
        k = np.asarray(host_array(self.concentration.detach()._data), np.float64)

        def draw(g: Any, s: Any) -> Any:
            x = loc + g.vonmises(0.0, k, size=s)
            return np.mod(x + math.pi, 2 * math.pi) - math.pi

        return _host_draw(draw, shape, self.loc)

    @property
    def mean(self) -> Tensor:
        """``loc`` (the circular mean)."""
        return self.loc

    @property
    def mode(self) -> Tensor:
        """``loc``."""
        return self.loc

    @property
    def variance(self) -> Tensor:
        """The circular variance ``1 - I_1(k) / I_0(k)``."""
        k = self.concentration
        return 1 - (_log_modified_bessel_fn(k, 1) - _log_modified_bessel_fn(k, 0)).exp()
