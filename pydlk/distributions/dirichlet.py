"""torch.distributions.Dirichlet."""

from __future__ import annotations

from typing import Any

from .. import ops as _ops
from ..autograd import Tensor
from . import constraints
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .gamma import _standard_gamma
from .utils import _digamma, _finfo, _lgamma

__all__ = ["Dirichlet"]


class Dirichlet(ExponentialFamily):
    """The Dirichlet distribution over the probability simplex, with ``concentration`` (the last
    dim holds the ``K`` categories, the others are the batch). ``rsample`` normalises standard
    gamma draws ``g_k ~ Gamma(concentration_k, 1)``: ``g / g.sum(-1)``; its gradient is the
    gammas' implicit one carried through the normalisation, an unbiased pathwise gradient
    (torch's backward instead applies a closed-form approximation per draw, so the two agree in
    expectation, not draw by draw)."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration: Tensor, validate_args: bool | None = None) -> None:
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        shape = tuple(concentration.shape)
        super().__init__(shape[:-1], shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Dirichlet:
        """This distribution with ``concentration`` expanded to ``batch_shape + (K,)``."""
        new = self._get_checked_instance(Dirichlet, _instance)
        batch_shape = tuple(batch_shape)
        new.concentration = self.concentration.expand(batch_shape + self.event_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """Normalised standard gamma draws of shape ``sample_shape + batch_shape + (K,)``,
        clamped to ``[tiny, 1 - eps]``."""
        shape = self._extended_shape(sample_shape)
        g = _standard_gamma(self.concentration.expand(shape))
        x = g / g.sum(-1, keepdim=True)
        finfo = _finfo(x)
        return x.clamp(min=float(finfo.tiny), max=float(1 - finfo.eps))

    def log_prob(self, value: Any) -> Tensor:
        """``sum(xlogy(c - 1, value)) + lgamma(sum c) - sum(lgamma(c))``."""
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return _ops.xlogy(c - 1.0, value).sum(-1) + _lgamma(c.sum(-1)) - _lgamma(c).sum(-1)

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        return (self.concentration,)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        return _lgamma(x).sum(-1) - _lgamma(x.sum(-1))

    @property
    def mean(self) -> Tensor:
        """``concentration / concentration.sum(-1)``."""
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self) -> Tensor:
        """``(c - 1)+ / sum (c - 1)+``; where every ``c < 1`` (the density is unbounded at
        every vertex), torch's choice: the one-hot vector of ``argmax`` of that NaN row, the
        first vertex."""
        cm1 = (self.concentration - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, keepdim=True)
        mask = (self.concentration < 1).all(-1, keepdim=True)
        idx = mode.argmax(-1, keepdim=True)
        vertex = _ops.zeros_like(mode).scatter(-1, idx, _ops.ones_like(mode))
        return _ops.where(mask, vertex, mode)

    @property
    def variance(self) -> Tensor:
        """``c (c0 - c) / (c0**2 (c0 + 1))``, ``c0 = sum c``."""
        c = self.concentration
        c0 = c.sum(-1, keepdim=True)
        return c * (c0 - c) / (c0.pow(2) * (c0 + 1))

    def entropy(self) -> Tensor:
        """``sum lgamma(c) - lgamma(c0) - (K - c0) digamma(c0) - sum (c - 1) digamma(c)``."""
        c = self.concentration
        k = c.shape[-1]
        c0 = c.sum(-1)
        return (
            _lgamma(c).sum(-1)
            - _lgamma(c0)
            - (k - c0) * _digamma(c0)
            - ((c - 1.0) * _digamma(c)).sum(-1)
        )
