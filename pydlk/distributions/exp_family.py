"""torch.distributions.ExponentialFamily."""

from __future__ import annotations

from typing import Any

from ..autograd import Tensor, grad
from .distribution import Distribution

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """The base of exponential-family distributions, densities
    ``p(x) = exp(<t(x), theta> - F(theta) + k(x))``: a subclass gives its natural parameters
    ``theta`` (``_natural_params``), the log normaliser ``F`` (``_log_normalizer``) and the
    expected carrier measure ``E k(X)`` (``_mean_carrier_measure``), and inherits
    ``entropy`` (``F - <theta, grad F> - E k``) and a Bregman-divergence ``kl_divergence``
    between two members of the same family, both through autograd, as in torch."""

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def _log_normalizer(self, *natural_params: Any) -> Tensor:
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self) -> Any:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        """``F(theta) - <theta, grad F(theta)> - E k(X)``, the gradient by autograd."""
        result: Tensor = -self._mean_carrier_measure
        nparams = [p.detach().requires_grad_() for p in self._natural_params]
        lg_normal = self._log_normalizer(*nparams)
        gradients = grad(lg_normal.sum(), nparams, create_graph=True)
        result = result + lg_normal
        for np_, g in zip(nparams, gradients):
            result = result - (np_ * g).reshape(self._batch_shape + (-1,)).sum(-1)
        return result
