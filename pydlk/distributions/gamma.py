"""torch.distributions.Gamma, and the reparameterised standard gamma draw that Gamma, Chi2,
Beta, Dirichlet and StudentT sample through.

A standard gamma draw ``x ~ Gamma(alpha, 1)`` has no closed-form map from a fixed noise, so its
gradient with respect to ``alpha`` is the implicit one (Figurnov et al., 2018): holding the
draw's quantile ``P(alpha, x)`` fixed,

    dx/dalpha = -(dP/dalpha)(alpha, x) / p(alpha, x),

``P`` the regularised lower incomplete gamma function and ``p`` the density. Writing
``dP/dalpha`` as the integral of ``p(alpha, t) (log t - digamma(alpha))`` over ``t`` in
``(0, x)`` (or minus that over ``(x, inf)``, the form without cancellation in the upper tail),
the ratio ``p(alpha, t) / p(alpha, x)`` is smooth and bounded there, and a 48-point
Gauss-Legendre rule gives the gradient to about 1e-13 relative in float64 for ``alpha`` from
0.05 to 1e6 (checked against mpmath's incomplete gamma; torch's closed-form approximations are
within about 1e-3 of it).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import ops as _ops
from .._backend import get_array_module, host_array, on_device_of
from ..autograd import Function, Tensor, as_tensor
from ..ops.factories import _gen
from ..ops.special import _special
from . import constraints
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .utils import _digamma, _finfo, _lgamma, broadcast_all

__all__ = ["Gamma"]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(48)
_S = (_NODES + 1) / 2  # nodes on (0, 1)
_W = _WEIGHTS / 2
_CHUNK = 1 << 15


def _branch(xp: Any, alpha: Any, x: Any) -> Any:
    """Which integral each element takes: 0, the lower one for ``alpha <= 3``; 1, the lower one
    for ``alpha > 3``; 2, the upper one (``x >= alpha`` and ``x > 1``)."""
    code = xp.where(alpha <= 3, 0, 1)
    return xp.where((x >= alpha) & (x > 1), 2, code)


def _integral(xp: Any, branch: int, alpha: Any, x: Any, psi: Any, grad: bool) -> Any:
    """For one branch's elements: ``J = dx/dalpha`` if ``grad``, else ``I`` with
    ``P(alpha, x) = p(alpha, x) I`` (``Q = p I`` on the upper branch)."""
    s = xp.asarray(_S)
    w = xp.asarray(_W)
    a, xx, ps = alpha[:, None], x[:, None], psi[:, None]
    if branch == 0:
        # lower integral, t = x v, v = (z**6) ** (1/alpha): no v**(alpha-1) singularity left,
        # int_0^x p(t)/p(x) dt = (x/alpha) int_0^1 exp(x (1 - v)) 6 z**5 dz
        lw = 6.0 * xp.log(s)
        v = xp.exp(lw / a)
        f = xp.exp(xx * (1 - v)) * (6.0 * s**5)
        scale = x / alpha
        if not grad:
            return scale * (f @ w)
        return -scale * ((f * (xp.log(xx) + lw / a - ps)) @ w)
    if branch == 1:
        # lower integral over v in (v0, 1): the weight v**(alpha-1) exp(x (1 - v)) is below
        # exp(-40) before v0 = 1 - 12 / sqrt(alpha - 1)
        v0 = xp.clip(1 - 12.0 / xp.sqrt(a - 1), 0.0, 1.0)
        vv = v0 + (1 - v0) * s
        lv = xp.log(vv)
        f = xp.exp((a - 1) * lv + xx * (1 - vv))
        scale = x * (1 - v0[:, 0])
        if not grad:
            return scale * (f @ w)
        return -scale * ((f * (xp.log(xx) + lv - ps)) @ w)
    # upper integral, t = x + u, u in (0, L): the weight (1 + u/x)**(alpha-1) exp(-u) is below
    # exp(-40) beyond L
    length = 40.0 + 10.0 * xp.sqrt(a)
    u = s * length
    f = xp.exp((a - 1) * xp.log1p(u / xx) - u) * length
    if not grad:
        return f @ w
    return (f * (xp.log(xx + u) - ps)) @ w


def _by_branch(xp: Any, alpha: Any, x: Any, psi: Any, grad: bool) -> tuple[Any, Any]:
    """``_integral`` of flat float64 ``alpha``, ``x``, each element on its own branch only,
    in chunks; and the branch codes."""
    out = xp.empty_like(alpha)
    code = _branch(xp, alpha, x)
    with np.errstate(all="ignore"):
        for b in (0, 1, 2):
            idx = xp.nonzero(code == b)[0]
            for i in range(0, int(idx.size), _CHUNK):
                j = idx[i : i + _CHUNK]
                out[j] = _integral(xp, b, alpha[j], x[j], psi[j], grad)
    return out, code


def _standard_gamma_grad(alpha: Any, x: Any) -> Any:
    """``dx/dalpha`` of standard gamma draws ``x`` (arrays of one shape), in float64 and cast
    back to ``x``'s dtype."""
    xp = get_array_module(x)
    a = xp.ascontiguousarray(alpha, dtype=xp.float64).ravel()
    xv = xp.ascontiguousarray(x, dtype=xp.float64).ravel()
    out, _ = _by_branch(xp, a, xv, _special(a, "digamma"), True)
    return out.reshape(x.shape).astype(x.dtype)


def _gammainc(alpha: Any, x: Any) -> Any:
    """The regularised lower incomplete gamma function ``P(alpha, x)`` (torch's
    ``special.gammainc``) of arrays of one shape, in float64 and cast back to ``x``'s dtype."""
    xp = get_array_module(x)
    a = xp.ascontiguousarray(alpha, dtype=xp.float64).ravel()
    xv = xp.ascontiguousarray(x, dtype=xp.float64).ravel()
    xs = xp.maximum(xv, 1e-300)
    integral, code = _by_branch(xp, a, xs, a, False)
    with np.errstate(all="ignore"):
        pdf = xp.exp((a - 1) * xp.log(xs) - xs - _special(a, "lgamma"))
        p = xp.where(code == 2, 1 - integral * pdf, integral * pdf)
    out = xp.where(xv > 0, xp.clip(p, 0.0, 1.0), 0.0)
    return out.reshape(x.shape).astype(x.dtype)


class _GammaInc(Function):
    """``P(alpha, x)``, differentiable in both: ``dP/dx`` is the density and ``dP/dalpha`` is
    minus the density times the implicit draw gradient ``dx/dalpha``."""

    @staticmethod
    def forward(ctx, alpha, x):
        xp = get_array_module(x)
        alpha, x = xp.broadcast_arrays(alpha, x)
        ctx.save_for_backward(alpha, x)
        return _gammainc(alpha, x)

    @staticmethod
    def backward(ctx, g):
        alpha, x = ctx.saved_tensors
        xp = get_array_module(x)
        a64 = xp.asarray(alpha, dtype=xp.float64)
        x64 = xp.maximum(xp.asarray(x, dtype=xp.float64), 1e-300)
        pdf = xp.exp((a64 - 1) * xp.log(x64) - x64 - _special(xp.ascontiguousarray(a64), "lgamma"))
        pdf = xp.where(xp.asarray(x) > 0, pdf, 0.0).astype(x.dtype)
        ga = gx = None
        if ctx.needs_input_grad[0]:
            ga = -g * pdf * _standard_gamma_grad(alpha, xp.maximum(x, np.finfo(x.dtype).tiny))
        if ctx.needs_input_grad[1]:
            gx = g * pdf
        return ga, gx


class _StandardGamma(Function):
    """Standard gamma draws of ``alpha``'s shape from pydlk's host generator (clamped to the
    dtype's smallest normal number, as torch does), with the implicit gradient."""

    @staticmethod
    def forward(ctx, alpha):
        h = np.asarray(host_array(alpha), np.float64)
        draws = _gen(None).standard_gamma(h)
        draws = np.maximum(draws, np.finfo(alpha.dtype).tiny).astype(alpha.dtype)
        x = on_device_of(draws.reshape(alpha.shape), alpha)
        ctx.save_for_backward(alpha, x)
        return x

    @staticmethod
    def backward(ctx, g):
        alpha, x = ctx.saved_tensors
        return g * _standard_gamma_grad(alpha, x)


def _standard_gamma(alpha: Tensor) -> Tensor:
    """``Gamma(alpha, 1)`` draws of ``alpha``'s shape (torch's ``_standard_gamma``),
    differentiable with respect to ``alpha``."""
    return _StandardGamma.apply(alpha.contiguous())


class Gamma(ExponentialFamily):
    """The gamma distribution with shape ``concentration`` and inverse scale ``rate`` (density
    ``rate**c x**(c-1) exp(-rate x) / Gamma(c)``). ``rsample`` draws standard gammas from
    pydlk's generator and differentiates them implicitly with respect to the concentration (see
    the module's docstring). ``cdf`` is the regularised incomplete gamma function by the same
    quadrature, differentiable in the concentration too (torch's is not)."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration: Any, rate: Any, validate_args: bool | None = None) -> None:
        self.concentration, self.rate = broadcast_all(concentration, rate)
        if isinstance(concentration, numbers.Number) and isinstance(rate, numbers.Number):
            batch_shape: tuple[int, ...] = ()
        else:
            batch_shape = tuple(self.concentration.shape)
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Gamma:
        """This distribution with its parameters expanded to ``batch_shape``."""
        new = self._get_checked_instance(Gamma, _instance)
        batch_shape = tuple(batch_shape)
        new.concentration = self.concentration.expand(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        return (self.concentration - 1, -self.rate)

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:
        return _lgamma(x + 1) + (x + 1) * _ops.log(-y.reciprocal())

    @property
    def _mean_carrier_measure(self) -> Any:
        return 0

    @property
    def mean(self) -> Tensor:
        """``concentration / rate``."""
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        """``(concentration - 1) / rate``, clamped at 0."""
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> Tensor:
        """``concentration / rate**2``."""
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """``standard_gamma(concentration) / rate``, differentiable in both parameters."""
        shape = self._extended_shape(sample_shape)
        value = _standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        return value.clamp(min=float(_finfo(value).tiny))

    def log_prob(self, value: Any) -> Tensor:
        """``xlogy(c, rate) + xlogy(c - 1, value) - rate value - lgamma(c)``."""
        value = _as_tensor(value, self.rate)
        if self._validate_args:
            self._validate_sample(value)
        c, r = self.concentration, self.rate
        return _ops.xlogy(c, r) + _ops.xlogy(c - 1, value) - r * value - _lgamma(c)

    def cdf(self, value: Any) -> Tensor:
        """``P(concentration, rate * value)``, the regularised lower incomplete gamma
        function."""
        value = _as_tensor(value, self.rate)
        if self._validate_args:
            self._validate_sample(value)
        return _GammaInc.apply(self.concentration, self.rate * value)

    def entropy(self) -> Tensor:
        """``c - log(rate) + lgamma(c) + (1 - c) digamma(c)``."""
        c = self.concentration
        return c - _ops.log(self.rate) + _lgamma(c) + (1.0 - c) * _digamma(c)


def _as_tensor(value: Any, like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return as_tensor(value, dtype=like.dtype, device=like.device)
