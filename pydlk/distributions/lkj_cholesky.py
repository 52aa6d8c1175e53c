"""torch.distributions.LKJCholesky."""

from __future__ import annotations

import math
from typing import Any

from .. import ops as _ops
from ..autograd import Tensor, no_grad
from . import constraints
from .beta import Beta
from .distribution import Distribution
from .utils import _finfo, _lgamma, broadcast_all

__all__ = ["LKJCholesky"]


def _mvlgamma(a: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma function
    ``p (p - 1) / 4 log(pi) + sum_{j=1..p} lgamma(a + (1 - j) / 2)``."""
    out = _lgamma(a) + p * (p - 1) / 4 * math.log(math.pi)
    for j in range(2, p + 1):
        out = out + _lgamma(a + (1 - j) / 2)
    return out


class LKJCholesky(Distribution):
    """The LKJ distribution over ``dim x dim`` correlation matrices, as the distribution of
    their lower Cholesky factors (density proportional to ``det(C)**(concentration - 1)``).
    ``sample`` is the onion method (Lewandowski, Kurowicka and Joe, 2009) with beta draws for
    the row norms, as torch's."""

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(
        self, dim: int, concentration: Any = 1.0, validate_args: bool | None = None
    ) -> None:
        if dim < 2:
            raise ValueError(
                f"Expected dim to be an integer greater than or equal to 2. Found dim={dim}."
            )
        self.dim = dim
        (self.concentration,) = broadcast_all(concentration)
        c = self.concentration
        batch_shape = tuple(c.shape)
        marginal_conc = c + 0.5 * (dim - 2)
        offset = _ops.arange(dim - 1, dtype=c.dtype, device=c.device)
        offset = _ops.cat([_ops.zeros(1, dtype=c.dtype, device=c.device), offset])
        self._beta = Beta(offset + 0.5, marginal_conc.unsqueeze(-1) - 0.5 * offset)
        super().__init__(batch_shape, (dim, dim), validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> LKJCholesky:
        """This distribution with ``concentration`` expanded to ``batch_shape``."""
        new = self._get_checked_instance(LKJCholesky, _instance)
        batch_shape = tuple(batch_shape)
        new.dim = self.dim
        new.concentration = self.concentration.expand(batch_shape)
        new._beta = self._beta.expand(batch_shape + (self.dim,))
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """Lower Cholesky factors of correlation matrices, of shape
        ``sample_shape + batch_shape + (dim, dim)``."""
        with no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            shape = self._extended_shape(sample_shape)
            u = _ops.randn(shape, dtype=y.dtype, device=y.device).tril(-1)
            norm = u.pow(2).sum(-1, keepdim=True).sqrt()
            # the first row is all zeros (0 / 0): it stays zero
            first = _ops.arange(self.dim, device=y.device) == 0
            safe = _ops.where(norm > 0, norm, _ops.ones_like(norm))
            u = _ops.where(first.unsqueeze(-1), _ops.zeros_like(u), u / safe)
            w = y.sqrt() * u
            tiny = float(_finfo(w).tiny)
            diag = (1 - w.pow(2).sum(-1)).clamp(min=tiny).sqrt()
            eye = _ops.eye(self.dim, dtype=w.dtype, device=w.device)
            return w + diag.unsqueeze(-1) * eye

    def log_prob(self, value: Any) -> Tensor:
        """``sum_i (2 (c - 1) + dim - i) log L_ii`` (``i = 2 .. dim``) minus the log of the
        normalising constant."""
        if self._validate_args:
            self._validate_sample(value)
        diag = value.diagonal(dim1=-1, dim2=-2)[..., 1:]
        c = self.concentration
        order = _ops.arange(2, self.dim + 1, dtype=c.dtype, device=c.device)
        order = 2 * (c - 1).unsqueeze(-1) + self.dim - order
        unnormalized = (order * diag.log()).sum(-1)
        dm1 = self.dim - 1
        alpha = c + 0.5 * dm1
        denominator = _lgamma(alpha) * dm1
        numerator = _mvlgamma(alpha - 0.5, dm1)
        pi_constant = 0.5 * dm1 * math.log(math.pi)
        return unnormalized - (pi_constant + numerator - denominator)
