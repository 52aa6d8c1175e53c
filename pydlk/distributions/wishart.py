"""torch.distributions.Wishart."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from .. import linalg
from .. import ops as _ops
from ..autograd import Tensor
from ..linalg._toplevel import cholesky_solve
from . import constraints
from .chi2 import Chi2
from .distribution import Distribution
from .lkj_cholesky import _mvlgamma
from .multivariate_normal import _precision_to_scale_tril
from .utils import _digamma, _finfo, lazy_property

__all__ = ["Wishart"]

_LOG_2 = math.log(2)


def _mvdigamma(x: Tensor, p: int) -> Tensor:
    """``sum_{i<p} digamma(x - i/2)``, the derivative of the multivariate log-gamma."""
    out = _digamma(x)
    for i in range(1, p):
        out = out + _digamma(x - i / 2)
    return out


class Wishart(Distribution):
    """The Wishart distribution over ``p x p`` positive-definite matrices, with ``df``
    degrees of freedom (more than ``p - 1``) and exactly one of ``covariance_matrix``,
    ``precision_matrix`` or ``scale_tril`` (the scale matrix's lower Cholesky factor).
    ``rsample`` is the Bartlett decomposition: ``L A A^T L^T`` with ``A`` lower triangular,
    ``A_ii = sqrt(Chi2(df - i))`` (reparameterised through the gamma's implicit gradient) and
    standard normal entries below the diagonal."""

    arg_constraints = {
        "covariance_matrix": constraints.positive_definite,
        "precision_matrix": constraints.positive_definite,
        "scale_tril": constraints.lower_cholesky,
        "df": constraints.greater_than(0),
    }
    support = constraints.positive_definite
    has_rsample = True

    def __init__(
        self,
        df: Any,
        covariance_matrix: Tensor | None = None,
        precision_matrix: Tensor | None = None,
        scale_tril: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        given = [m is not None for m in (covariance_matrix, precision_matrix, scale_tril)]
        if sum(given) != 1:
            raise AssertionError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        param = next(m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None)
        if param.dim() < 2:
            raise ValueError(
                "scale_tril must be at least two-dimensional, with optional leading batch "
                "dimensions"
            )
        if isinstance(df, numbers.Real):
            batch_shape = tuple(param.shape[:-2])
            self.df = _ops.full((), float(df), dtype=param.dtype, device=param.device)
        else:
            batch_shape = tuple(np.broadcast_shapes(tuple(param.shape[:-2]), tuple(df.shape)))
            self.df = df.expand(batch_shape)
        event_shape = tuple(param.shape[-2:])
        p = event_shape[-1]
        if bool((self.df <= p - 1).any()):
            raise ValueError(f"Value of df={df} expected to be greater than ndim - 1 = {p - 1}.")
        if scale_tril is not None:
            self.scale_tril = param.expand(batch_shape + event_shape)
        elif covariance_matrix is not None:
            self.covariance_matrix = param.expand(batch_shape + event_shape)
        else:
            self.precision_matrix = param.expand(batch_shape + event_shape)
        if bool((self.df < p).any()):
            warnings.warn(
                "Low df values detected. Singular samples are highly likely to occur for "
                "ndim - 1 < df < ndim.",
                stacklevel=2,
            )
        super().__init__(batch_shape, event_shape, validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = linalg.cholesky(covariance_matrix)
        else:
            assert precision_matrix is not None
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)
        L = self._unbroadcasted_scale_tril
        offset = _ops.arange(p, dtype=L.dtype, device=L.device)
        self._dist_chi2 = Chi2(self.df.unsqueeze(-1) - offset.expand(batch_shape + (p,)))

    def expand(self, batch_shape: Any, _instance: Any = None) -> Wishart:
        """This distribution with its parameters expanded to ``batch_shape``."""
        new = self._get_checked_instance(Wishart, _instance)
        batch_shape = tuple(batch_shape)
        cov_shape = batch_shape + self._event_shape
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril.expand(cov_shape)
        new.df = self.df.expand(batch_shape)
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(cov_shape))
        new._dist_chi2 = self._dist_chi2.expand(batch_shape + self._event_shape[-1:])
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _matrix_shape(self) -> tuple[int, ...]:
        return self._batch_shape + self._event_shape

    @lazy_property
    def scale_tril(self) -> Tensor:
        """The lower Cholesky factor of the scale matrix."""
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        """The scale matrix ``L L^T``."""
        L = self._unbroadcasted_scale_tril
        return _ops.matmul(L, L.transpose(-2, -1)).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self) -> Tensor:
        """The inverse of the scale matrix."""
        L = self._unbroadcasted_scale_tril
        eye = _ops.eye(L.shape[-1], dtype=L.dtype, device=L.device).expand(tuple(L.shape))
        Linv = linalg.solve_triangular(L, eye, upper=False)
        return _ops.matmul(Linv.transpose(-2, -1), Linv).expand(self._matrix_shape())

    @property
    def mean(self) -> Tensor:
        """``df V``."""
        return self.df.reshape(self._batch_shape + (1, 1)) * self.covariance_matrix

    @property
    def mode(self) -> Tensor:
        """``(df - p - 1) V``; NaN where ``df <= p + 1``."""
        factor = self.df - self._event_shape[-1] - 1
        factor = _ops.where(factor <= 0, _ops.full_like(factor, math.nan), factor)
        return factor.reshape(self._batch_shape + (1, 1)) * self.covariance_matrix

    @property
    def variance(self) -> Tensor:
        """``df (V_ij**2 + V_ii V_jj)``."""
        V = self.covariance_matrix
        diag_V = V.diagonal(dim1=-2, dim2=-1)
        outer = diag_V.unsqueeze(-1) * diag_V.unsqueeze(-2)
        return self.df.reshape(self._batch_shape + (1, 1)) * (V.pow(2) + outer)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """Bartlett draws ``L A A^T L^T`` of shape ``sample_shape + batch_shape + (p, p)``."""
        p = self._event_shape[-1]
        sample_shape = tuple(sample_shape) if not isinstance(sample_shape, int) else (sample_shape,)
        eps = float(_finfo(self.df).eps)
        diag = self._dist_chi2.rsample(sample_shape).sqrt().clamp(min=eps)
        L = self._unbroadcasted_scale_tril
        eye = _ops.eye(p, dtype=L.dtype, device=L.device)
        normal = _ops.randn(
            sample_shape + self._batch_shape + (p, p), dtype=L.dtype, device=L.device
        ).tril(-1)
        A = normal + diag.unsqueeze(-1) * eye
        chol = _ops.matmul(L, A)
        return _ops.matmul(chol, chol.transpose(-2, -1))

    def log_prob(self, value: Any) -> Tensor:
        """The Wishart log density: ``(nu - p - 1)/2 log det X - tr(V^-1 X)/2 - nu p/2 log 2
        - nu log det L - log Gamma_p(nu/2)``."""
        if self._validate_args:
            self._validate_sample(value)
        nu = self.df
        p = self._event_shape[-1]
        L = self._unbroadcasted_scale_tril
        log_det_L = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        batch = tuple(np.broadcast_shapes(tuple(L.shape[:-2]), tuple(value.shape[:-2])))
        # tr(V^-1 X) through cholesky_solve, as torch (its gradient in L is torch's too)
        trace = cholesky_solve(value.expand(batch + (p, p)), L.expand(batch + (p, p)))
        trace = trace.diagonal(dim1=-2, dim2=-1).sum(-1)
        return (
            -nu * (p * _LOG_2 / 2 + log_det_L)
            - _mvlgamma(nu / 2, p)
            + (nu - p - 1) / 2 * linalg.slogdet(value).logabsdet
            - trace / 2
        )

    def entropy(self) -> Tensor:
        """``(p + 1)(p log 2 / 2 + log det L) + log Gamma_p(nu/2) - (nu - p - 1)/2
        psi_p(nu/2) + nu p / 2``."""
        nu = self.df
        p = self._event_shape[-1]
        log_det_L = self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return (
            (p + 1) * (p * _LOG_2 / 2 + log_det_L)
            + _mvlgamma(nu / 2, p)
            - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p)
            + nu * p / 2
        )
