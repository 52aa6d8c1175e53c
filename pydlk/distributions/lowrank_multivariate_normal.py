"""torch.distributions.LowRankMultivariateNormal."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import linalg
from .. import ops as _ops
from ..autograd import Tensor
from . import constraints
from .distribution import Distribution
from .multivariate_normal import _batch_mahalanobis, _batch_mv
from .utils import lazy_property

__all__ = ["LowRankMultivariateNormal"]


def _eye_like(n: int, like: Tensor) -> Tensor:
    return _ops.eye(n, dtype=like.dtype, device=like.device)


def _diag_embed(d: Tensor) -> Tensor:
    return d.unsqueeze(-1) * _eye_like(d.shape[-1], d)


def _batch_capacitance_tril(W: Tensor, D: Tensor) -> Tensor:
    """The Cholesky factor of the capacitance ``I + W^T D^-1 W`` (``m x m``)."""
    m = W.shape[-1]
    Wt_Dinv = W.transpose(-2, -1) / D.unsqueeze(-2)
    K = _ops.matmul(Wt_Dinv, W) + _eye_like(m, W)
    return linalg.cholesky(K)


def _batch_lowrank_logdet(D: Tensor, capacitance_tril: Tensor) -> Tensor:
    """``log det(W W^T + D)`` by the matrix determinant lemma:
    ``log det(capacitance) + log det(D)``."""
    return 2 * capacitance_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1) + D.log().sum(-1)


def _batch_lowrank_mahalanobis(W: Tensor, D: Tensor, x: Tensor, capacitance_tril: Tensor) -> Tensor:
    """``x^T (W W^T + D)^-1 x`` by the Woodbury identity."""
    Wt_Dinv = W.transpose(-2, -1) / D.unsqueeze(-2)
    Wt_Dinv_x = _batch_mv(Wt_Dinv, x)
    term1 = (x.pow(2) / D).sum(-1)
    term2 = _batch_mahalanobis(capacitance_tril, Wt_Dinv_x)
    return term1 - term2


class LowRankMultivariateNormal(Distribution):
    """The multivariate normal with mean ``loc`` (``(..., n)``) and covariance of low-rank
    plus diagonal form ``cov_factor @ cov_factor.T + diag(cov_diag)`` (``cov_factor``:
    ``(..., n, m)``, ``cov_diag``: ``(..., n)``): ``log_prob`` and ``entropy`` cost
    ``O(n m^2)`` through the Woodbury identity and the matrix determinant lemma (an ``m x m``
    Cholesky factorisation), as in torch."""

    arg_constraints = {
        "loc": constraints.real_vector,
        "cov_factor": constraints.independent(constraints.real, 2),
        "cov_diag": constraints.independent(constraints.positive, 1),
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        loc: Tensor,
        cov_factor: Tensor,
        cov_diag: Tensor,
        validate_args: bool | None = None,
    ) -> None:
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        event_shape = tuple(loc.shape[-1:])
        if cov_factor.dim() < 2:
            raise ValueError(
                "cov_factor must be at least two-dimensional, with optional leading batch "
                "dimensions"
            )
        if tuple(cov_factor.shape[-2:-1]) != event_shape:
            raise ValueError(
                f"cov_factor must be a batch of matrices with shape {event_shape[0]} x m"
            )
        if tuple(cov_diag.shape[-1:]) != event_shape:
            raise ValueError(f"cov_diag must be a batch of vectors with shape {event_shape}")
        try:
            shape = np.broadcast_shapes(
                tuple(loc.shape) + (1,), tuple(cov_factor.shape), tuple(cov_diag.shape) + (1,)
            )
        except ValueError as e:
            raise ValueError(
                f"Incompatible batch shapes: loc {tuple(loc.shape)}, cov_factor "
                f"{tuple(cov_factor.shape)}, cov_diag {tuple(cov_diag.shape)}"
            ) from e
        self.loc = loc.expand(shape[:-1])
        self.cov_factor = cov_factor.expand(shape)
        self.cov_diag = cov_diag.expand(shape[:-1])
        batch_shape = tuple(shape[:-2])
        self._unbroadcasted_cov_factor = cov_factor
        self._unbroadcasted_cov_diag = cov_diag
        self._capacitance_tril = _batch_capacitance_tril(cov_factor, cov_diag)
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> LowRankMultivariateNormal:
        """This distribution with its parameters expanded to ``batch_shape``."""
        new = self._get_checked_instance(LowRankMultivariateNormal, _instance)
        batch_shape = tuple(batch_shape)
        loc_shape = batch_shape + self._event_shape
        new.loc = self.loc.expand(loc_shape)
        new.cov_diag = self.cov_diag.expand(loc_shape)
        new.cov_factor = self.cov_factor.expand(loc_shape + tuple(self.cov_factor.shape[-1:]))
        new._unbroadcasted_cov_factor = self._unbroadcasted_cov_factor
        new._unbroadcasted_cov_diag = self._unbroadcasted_cov_diag
        new._capacitance_tril = self._capacitance_tril
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _matrix_shape(self) -> tuple[int, ...]:
        return self._batch_shape + self._event_shape + self._event_shape

    @property
    def mean(self) -> Tensor:
        """``loc``."""
        return self.loc

    @property
    def mode(self) -> Tensor:
        """``loc``."""
        return self.loc

    @lazy_property
    def variance(self) -> Tensor:
        """The covariance's diagonal: ``sum_j W_ij**2 + D_i``."""
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        return (W.pow(2).sum(-1) + D).expand(self._batch_shape + self._event_shape)

    @lazy_property
    def scale_tril(self) -> Tensor:
        """The lower Cholesky factor of the covariance:
        ``sqrt(D) chol(I + D^-1/2 W W^T D^-1/2)``."""
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        n = self._event_shape[0]
        d_sqrt = D.sqrt().unsqueeze(-1)
        Dinvsqrt_W = W / d_sqrt
        K = _ops.matmul(Dinvsqrt_W, Dinvsqrt_W.transpose(-2, -1)) + _eye_like(n, W)
        return (d_sqrt * linalg.cholesky(K)).expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        """``W W^T + diag(D)``."""
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        cov = _ops.matmul(W, W.transpose(-2, -1)) + _diag_embed(D)
        return cov.expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self) -> Tensor:
        """``D^-1 - D^-1 W capacitance^-1 W^T D^-1`` (Woodbury)."""
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        Wt_Dinv = W.transpose(-2, -1) / D.unsqueeze(-2)
        L = self._capacitance_tril
        batch = tuple(np.broadcast_shapes(tuple(L.shape[:-2]), tuple(Wt_Dinv.shape[:-2])))
        A = linalg.solve_triangular(
            L.expand(batch + tuple(L.shape[-2:])),
            Wt_Dinv.expand(batch + tuple(Wt_Dinv.shape[-2:])),
            upper=False,
        )
        precision = _diag_embed(D.reciprocal()) - _ops.matmul(A.transpose(-2, -1), A)
        return precision.expand(self._matrix_shape())

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """``loc + W eps_W + sqrt(D) eps_D``, ``eps_W`` (rank ``m``) and ``eps_D`` standard
        normal."""
        shape = self._extended_shape(sample_shape)
        W = self._unbroadcasted_cov_factor
        W_shape = tuple(shape[:-1]) + tuple(W.shape[-1:])
        eps_W = _ops.randn(W_shape, dtype=self.loc.dtype, device=self.loc.device)
        eps_D = _ops.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + _batch_mv(W, eps_W) + self._unbroadcasted_cov_diag.sqrt() * eps_D

    def log_prob(self, value: Any) -> Tensor:
        """``-(n log(2 pi) + log det + mahalanobis) / 2``."""
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        M = _batch_lowrank_mahalanobis(W, D, diff, self._capacitance_tril)
        log_det = _batch_lowrank_logdet(D, self._capacitance_tril)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + log_det + M)

    def entropy(self) -> Tensor:
        """``(n (1 + log(2 pi)) + log det) / 2``."""
        log_det = _batch_lowrank_logdet(self._unbroadcasted_cov_diag, self._capacitance_tril)
        H = 0.5 * (self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + log_det)
        if len(self._batch_shape) == 0:
            return H
        return H.expand(self._batch_shape)
