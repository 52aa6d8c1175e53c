"""torch.distributions.kl: ``kl_divergence(p, q)`` and ``register_kl``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import linalg
from .. import ops as _ops
from ..autograd import Tensor, grad
from .bernoulli import Bernoulli
from .beta import Beta
from .binomial import Binomial
from .categorical import Categorical
from .cauchy import Cauchy
from .continuous_bernoulli import ContinuousBernoulli
from .dirichlet import Dirichlet
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .exponential import Exponential
from .gamma import Gamma
from .geometric import Geometric
from .gumbel import Gumbel
from .half_normal import HalfNormal
from .independent import Independent
from .laplace import Laplace
from .lowrank_multivariate_normal import (
    LowRankMultivariateNormal,
    _batch_lowrank_logdet,
    _batch_lowrank_mahalanobis,
)
from .multivariate_normal import MultivariateNormal, _batch_mahalanobis
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .pareto import Pareto
from .poisson import Poisson
from .transformed_distribution import TransformedDistribution
from .uniform import Uniform
from .utils import _digamma, _lgamma, _softplus, _sum_rightmost

__all__ = ["kl_divergence", "register_kl"]

_KL_REGISTRY: dict[tuple[type, type], Callable[[Any, Any], Tensor]] = {}


def register_kl(type_p: type, type_q: type) -> Callable[[Callable[..., Tensor]], Callable]:
    """A decorator that registers ``fn(p, q)`` as ``kl_divergence`` for distributions of types
    ``type_p`` and ``type_q`` (and their subclasses; the most specific registration wins)::

        @register_kl(Normal, Normal)
        def kl_normal_normal(p, q): ...
    """
    if not (isinstance(type_p, type) and issubclass(type_p, Distribution)):
        raise TypeError(f"Expected type_p to be a Distribution subclass but got {type_p}")
    if not (isinstance(type_q, type) and issubclass(type_q, Distribution)):
        raise TypeError(f"Expected type_q to be a Distribution subclass but got {type_q}")

    def decorator(fun: Callable[..., Tensor]) -> Callable[..., Tensor]:
        _KL_REGISTRY[type_p, type_q] = fun
        return fun

    return decorator


def _dispatch_kl(type_p: type, type_q: type) -> Callable[[Any, Any], Tensor] | None:
    matches = [
        (super_p, super_q)
        for super_p, super_q in _KL_REGISTRY
        if issubclass(type_p, super_p) and issubclass(type_q, super_q)
    ]
    if not matches:
        return None
    best = min(matches, key=lambda m: (type_p.__mro__.index(m[0]), type_q.__mro__.index(m[1])))
    return _KL_REGISTRY[best]


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """``KL(p || q)``, of shape ``batch_shape``; NotImplementedError for a pair of types with
    no registered formula."""
    fun = _dispatch_kl(type(p), type(q))
    if fun is None:
        raise NotImplementedError(
            f"No KL(p || q) is implemented for p type {p.__class__.__name__} and q type "
            f"{q.__class__.__name__}"
        )
    return fun(p, q)


@register_kl(ExponentialFamily, ExponentialFamily)
def _kl_expfamily_expfamily(p: ExponentialFamily, q: ExponentialFamily) -> Tensor:
    """The Bregman divergence of the log normaliser: ``F(theta_q) - F(theta_p) -
    <theta_q - theta_p, grad F(theta_p)>``, for two members of one family with no closed
    form registered."""
    if type(p) is not type(q):
        raise NotImplementedError(
            "The cross KL-divergence between different exponential families cannot be "
            "computed using Bregman divergences"
        )
    p_nparams = [t.detach().requires_grad_() for t in p._natural_params]
    q_nparams = q._natural_params
    lg_normal = p._log_normalizer(*p_nparams)
    gradients = grad(lg_normal.sum(), p_nparams, create_graph=True)
    result = q._log_normalizer(*q_nparams) - lg_normal
    for pnp, qnp, g in zip(p_nparams, q_nparams, gradients):
        result = result - _sum_rightmost((qnp - pnp) * g, len(q.event_shape))
    return result


def _inf_where(cond: Tensor, t: Tensor) -> Tensor:
    return _ops.where(cond, _ops.full_like(t, float("inf")), t)


def _zero_where(cond: Tensor, t: Tensor) -> Tensor:
    return _ops.where(cond, _ops.zeros_like(t), t)


@register_kl(Normal, Normal)
def _kl_normal_normal(p: Normal, q: Normal) -> Tensor:
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - _ops.log(var_ratio))


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p: Categorical, q: Categorical) -> Tensor:
    t = p.probs * (p.logits - q.logits)
    shape = tuple(t.shape)
    t = _inf_where((q.probs == 0).expand(shape), t)
    t = _zero_where((p.probs == 0).expand(shape), t)
    return t.sum(-1)


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    t1 = p.probs * (_softplus(-q.logits) - _softplus(-p.logits))
    t1 = _zero_where(p.probs == 0, _inf_where(q.probs == 0, t1))
    t2 = (1 - p.probs) * (_softplus(q.logits) - _softplus(p.logits))
    t2 = _zero_where(p.probs == 1, _inf_where(q.probs == 1, t2))
    return t1 + t2


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p: Uniform, q: Uniform) -> Tensor:
    result = _ops.log((q.high - q.low) / (p.high - p.low))
    return _inf_where((q.low > p.low) | (q.high < p.high), result)


@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> Tensor:
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError
    result = kl_divergence(p.base_dist, q.base_dist)
    return _sum_rightmost(result, p.reinterpreted_batch_ndims)


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehotcategorical_onehotcategorical(p: OneHotCategorical, q: OneHotCategorical) -> Tensor:
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(ContinuousBernoulli, ContinuousBernoulli)
def _kl_cb_cb(p: ContinuousBernoulli, q: ContinuousBernoulli) -> Tensor:
    t1 = p.mean * (p.logits - q.logits)
    t2 = p._cont_bern_log_norm() + _ops.log1p(-p.probs)
    t3 = -q._cont_bern_log_norm() - _ops.log1p(-q.probs)
    return t1 + t2 + t3


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p: Exponential, q: Exponential) -> Tensor:
    rate_ratio = q.rate / p.rate
    return -rate_ratio.log() + rate_ratio - 1


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p: Gamma, q: Gamma) -> Tensor:
    t1 = q.concentration * _ops.log(p.rate / q.rate)
    t2 = _lgamma(q.concentration) - _lgamma(p.concentration)
    t3 = (p.concentration - q.concentration) * _digamma(p.concentration)
    t4 = (q.rate - p.rate) * (p.concentration / p.rate)
    return t1 + t2 + t3 + t4


@register_kl(Beta, Beta)
def _kl_beta_beta(p: Beta, q: Beta) -> Tensor:
    sum_p = p.concentration1 + p.concentration0
    sum_q = q.concentration1 + q.concentration0
    t1 = _lgamma(q.concentration1) + _lgamma(q.concentration0) + _lgamma(sum_p)
    t2 = _lgamma(p.concentration1) + _lgamma(p.concentration0) + _lgamma(sum_q)
    t3 = (p.concentration1 - q.concentration1) * _digamma(p.concentration1)
    t4 = (p.concentration0 - q.concentration0) * _digamma(p.concentration0)
    t5 = (sum_q - sum_p) * _digamma(sum_p)
    return t1 - t2 + t3 + t4 + t5


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p: Dirichlet, q: Dirichlet) -> Tensor:
    sum_p = p.concentration.sum(-1)
    sum_q = q.concentration.sum(-1)
    t1 = _lgamma(sum_p) - _lgamma(sum_q)
    t2 = (_lgamma(p.concentration) - _lgamma(q.concentration)).sum(-1)
    t3 = p.concentration - q.concentration
    t4 = _digamma(p.concentration) - _digamma(sum_p).unsqueeze(-1)
    return t1 - t2 + (t3 * t4).sum(-1)


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p: Laplace, q: Laplace) -> Tensor:
    scale_ratio = p.scale / q.scale
    loc_abs_diff = (p.loc - q.loc).abs()
    t1 = -scale_ratio.log()
    t2 = loc_abs_diff / q.scale
    t3 = scale_ratio * _ops.exp(-loc_abs_diff / p.scale)
    return t1 + t2 + t3 - 1


@register_kl(Cauchy, Cauchy)
def _kl_cauchy_cauchy(p: Cauchy, q: Cauchy) -> Tensor:
    t1 = ((p.scale + q.scale).pow(2) + (p.loc - q.loc).pow(2)).log()
    t2 = (4 * p.scale * q.scale).log()
    return t1 - t2


@register_kl(Gumbel, Gumbel)
def _kl_gumbel_gumbel(p: Gumbel, q: Gumbel) -> Tensor:
    euler = 0.57721566490153286060
    ct1 = p.scale / q.scale
    ct2 = q.loc / q.scale
    ct3 = p.loc / q.scale
    t1 = -ct1.log() - ct2 + ct3
    t2 = ct1 * euler
    t3 = _ops.exp(ct2 + _lgamma(1 + ct1) - ct3)
    return t1 + t2 + t3 - (1 + euler)


@register_kl(HalfNormal, HalfNormal)
def _kl_halfnormal_halfnormal(p: HalfNormal, q: HalfNormal) -> Tensor:
    return _kl_normal_normal(p.base_dist, q.base_dist)


@register_kl(Pareto, Pareto)
def _kl_pareto_pareto(p: Pareto, q: Pareto) -> Tensor:
    # infinite where p starts below q's minimum
    scale_ratio = p.scale / q.scale
    alpha_ratio = q.alpha / p.alpha
    result = q.alpha * scale_ratio.log() - alpha_ratio.log() + alpha_ratio - 1
    return _inf_where(p.scale < q.scale, result)


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p: Poisson, q: Poisson) -> Tensor:
    return p.rate * (p.rate.log() - q.rate.log()) - (p.rate - q.rate)


@register_kl(Geometric, Geometric)
def _kl_geometric_geometric(p: Geometric, q: Geometric) -> Tensor:
    return -p.entropy() - _ops.log1p(-q.probs) / p.probs - q.logits


@register_kl(Binomial, Binomial)
def _kl_binomial_binomial(p: Binomial, q: Binomial) -> Tensor:
    # KL is finite only for p.total_count == q.total_count (infinite where it is larger)
    if bool((p.total_count < q.total_count).any()):
        raise NotImplementedError(
            "KL between Binomials where q.total_count > p.total_count is not implemented"
        )
    kl = p.total_count * (p.probs * (p.logits - q.logits) + (-p.probs).log1p() - (-q.probs).log1p())
    return _inf_where(p.total_count > q.total_count, kl)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p: MultivariateNormal, q: MultivariateNormal) -> Tensor:
    if p.event_shape != q.event_shape:
        raise ValueError(
            "KL-divergence between two Multivariate Normals with different event shapes "
            "cannot be computed"
        )
    pL, qL = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    half_term1 = qL.diagonal(dim1=-2, dim2=-1).log().sum(-1) - pL.diagonal(
        dim1=-2, dim2=-1
    ).log().sum(-1)
    n = p.event_shape[0]
    batch = tuple(np.broadcast_shapes(tuple(qL.shape[:-2]), tuple(pL.shape[:-2])))
    q_tril = qL.expand(batch + (n, n))
    p_tril = pL.expand(batch + (n, n))
    term2 = linalg.solve_triangular(q_tril, p_tril, upper=False).pow(2).sum((-2, -1))
    term3 = _batch_mahalanobis(qL, q.loc - p.loc)
    return half_term1 + 0.5 * (term2 + term3 - n)


@register_kl(TransformedDistribution, TransformedDistribution)
def _kl_transformed_transformed(p: TransformedDistribution, q: TransformedDistribution) -> Tensor:
    if p.transforms != q.transforms:
        raise NotImplementedError
    if p.event_shape != q.event_shape:
        raise NotImplementedError
    return kl_divergence(p.base_dist, q.base_dist)


# KL(p || q) = (tr(Sq^-1 Sp) + (mq - mp)^T Sq^-1 (mq - mp) - n + log det Sq - log det Sp) / 2.
# Sp = A A^T + diag(d) (d None for a dense MultivariateNormal: A = its scale_tril); Sq^-1 by
# Woodbury for a low-rank q, by its Cholesky factor for a dense one.


def _cov_parts(p: Any) -> tuple[Tensor, Tensor | None]:
    if isinstance(p, LowRankMultivariateNormal):
        return p._unbroadcasted_cov_factor, p._unbroadcasted_cov_diag
    return p._unbroadcasted_scale_tril, None


def _logdet(p: Any) -> Tensor:
    if isinstance(p, LowRankMultivariateNormal):
        return _batch_lowrank_logdet(p._unbroadcasted_cov_diag, p._capacitance_tril)
    return 2 * p._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def _solve_tril(L: Tensor, B: Tensor) -> Tensor:
    batch = tuple(np.broadcast_shapes(tuple(L.shape[:-2]), tuple(B.shape[:-2])))
    return linalg.solve_triangular(
        L.expand(batch + tuple(L.shape[-2:])), B.expand(batch + tuple(B.shape[-2:])), upper=False
    )


def _trace_inv_q_cov_p(q: Any, A: Tensor, d: Tensor | None) -> Tensor:
    """``tr(Sq^-1 (A A^T + diag(d)))``."""
    if isinstance(q, LowRankMultivariateNormal):
        Wq, Dq = q._unbroadcasted_cov_factor, q._unbroadcasted_cov_diag
        # Sq^-1 = Dq^-1 - B^T B, B = Lc^-1 Wq^T Dq^-1
        B = _solve_tril(q._capacitance_tril, Wq.transpose(-2, -1) / Dq.unsqueeze(-2))
        t = (A.pow(2) / Dq.unsqueeze(-1)).sum((-2, -1)) - _ops.matmul(B, A).pow(2).sum((-2, -1))
        if d is not None:
            t = t + (d / Dq).sum(-1) - (B.pow(2) * d.unsqueeze(-2)).sum((-2, -1))
        return t
    Lq = q._unbroadcasted_scale_tril
    t = _solve_tril(Lq, A).pow(2).sum((-2, -1))
    if d is not None:
        n = d.shape[-1]
        eye = _ops.eye(n, dtype=d.dtype, device=d.device)
        t = t + _solve_tril(Lq, d.sqrt().unsqueeze(-2) * eye).pow(2).sum((-2, -1))
    return t


def _mahalanobis_q(q: Any, x: Tensor) -> Tensor:
    if isinstance(q, LowRankMultivariateNormal):
        return _batch_lowrank_mahalanobis(
            q._unbroadcasted_cov_factor, q._unbroadcasted_cov_diag, x, q._capacitance_tril
        )
    return _batch_mahalanobis(q._unbroadcasted_scale_tril, x)


def _kl_gaussian(p: Any, q: Any) -> Tensor:
    if p.event_shape != q.event_shape:
        raise ValueError(
            "KL-divergence between two (Low Rank) Multivariate Normals with different event "
            "shapes cannot be computed"
        )
    n = p.event_shape[0]
    A, d = _cov_parts(p)
    term = _trace_inv_q_cov_p(q, A, d) + _mahalanobis_q(q, q.loc - p.loc)
    return 0.5 * (term - n + _logdet(q) - _logdet(p))


@register_kl(LowRankMultivariateNormal, LowRankMultivariateNormal)
def _kl_lowrank_lowrank(p: LowRankMultivariateNormal, q: LowRankMultivariateNormal) -> Tensor:
    return _kl_gaussian(p, q)


@register_kl(LowRankMultivariateNormal, MultivariateNormal)
def _kl_lowrank_mvn(p: LowRankMultivariateNormal, q: MultivariateNormal) -> Tensor:
    return _kl_gaussian(p, q)


@register_kl(MultivariateNormal, LowRankMultivariateNormal)
def _kl_mvn_lowrank(p: MultivariateNormal, q: LowRankMultivariateNormal) -> Tensor:
    return _kl_gaussian(p, q)


# Pairs across families: KL(p || q) = -H(p) - E_p[log q(X)], with E_p[log q] from p's moments
# (E X, E X^2, E log X, E log(1 - X), E exp(-X / s)); infinite wherever p puts mass outside q's
# support, as torch's registrations are.


def _inf_like(t: Tensor) -> Tensor:
    return _ops.full_like(t, float("inf"))


def _x_log_x(t: Tensor) -> Tensor:
    return _ops.xlogy(t, t)


def _mean_sq(p: Any) -> Tensor:
    return p.variance + p.mean.pow(2)


def _mean_log(p: Any) -> Tensor:
    """E log X for p on the positive reals (or the unit interval)."""
    if isinstance(p, Beta):
        return _digamma(p.concentration1) - _digamma(p.concentration1 + p.concentration0)
    if isinstance(p, Gamma):
        return _digamma(p.concentration) - p.rate.log()
    if isinstance(p, Exponential):
        return -0.5772156649015329 - p.rate.log()
    if isinstance(p, Uniform):
        w = p.high - p.low
        return (_x_log_x(p.high) - _x_log_x(p.low) - w) / w
    if isinstance(p, Pareto):
        return p.scale.log() + p.alpha.reciprocal()
    raise NotImplementedError


def _mean_log1m(p: Any) -> Tensor:
    """E log(1 - X) for p on the unit interval."""
    if isinstance(p, Beta):
        return _digamma(p.concentration0) - _digamma(p.concentration1 + p.concentration0)
    w = p.high - p.low
    return -(_x_log_x(1 - p.high) - _x_log_x(1 - p.low) + w) / w


def _mean_exp_neg(p: Any, s: Tensor) -> Tensor:
    """E exp(-X / s): p's moment generating function at -1/s."""
    if isinstance(p, Exponential):
        return p.rate / (p.rate + 1 / s)
    if isinstance(p, Gamma):
        return (p.rate / (p.rate + 1 / s)).pow(p.concentration)
    if isinstance(p, Normal):
        return _ops.exp(-p.loc / s + p.scale.pow(2) / (2 * s.pow(2)))
    if isinstance(p, Uniform):
        return s * (_ops.exp(-p.low / s) - _ops.exp(-p.high / s)) / (p.high - p.low)
    raise NotImplementedError


def _kl_to_exponential(p: Any, q: Exponential) -> Tensor:
    return -p.entropy() - q.rate.log() + q.rate * p.mean


def _kl_to_gamma(p: Any, q: Gamma) -> Tensor:
    c, r = q.concentration, q.rate
    log_q = c * r.log() + (c - 1) * _mean_log(p) - r * p.mean - _lgamma(c)
    return -p.entropy() - log_q


def _kl_to_normal(p: Any, q: Normal) -> Tensor:
    var = q.scale.pow(2)
    sq = p.variance + (p.mean - q.loc).pow(2)
    return -p.entropy() + 0.5 * (2 * math.pi * var).log() + sq / (2 * var)


def _kl_to_gumbel(p: Any, q: Gumbel) -> Tensor:
    s = q.scale
    log_q = -s.log() - (p.mean - q.loc) / s - _ops.exp(q.loc / s) * _mean_exp_neg(p, s)
    return -p.entropy() - log_q


def _kl_to_beta(p: Uniform, q: Beta) -> Tensor:
    a, b = q.concentration1, q.concentration0
    log_b = _lgamma(a) + _lgamma(b) - _lgamma(a + b)
    log_q = (a - 1) * _mean_log(p) + (b - 1) * _mean_log1m(p) - log_b
    result = -p.entropy() - log_q
    return _inf_where((p.high > 1) | (p.low < 0), result)


@register_kl(Beta, Exponential)
def _kl_beta_exponential(p: Beta, q: Exponential) -> Tensor:
    return _kl_to_exponential(p, q)


@register_kl(Beta, Gamma)
def _kl_beta_gamma(p: Beta, q: Gamma) -> Tensor:
    return _kl_to_gamma(p, q)


@register_kl(Beta, Normal)
def _kl_beta_normal(p: Beta, q: Normal) -> Tensor:
    return _kl_to_normal(p, q)


@register_kl(Beta, Uniform)
def _kl_beta_uniform(p: Beta, q: Uniform) -> Tensor:
    result = -p.entropy() + (q.high - q.low).log()
    return _inf_where((q.low > 0) | (q.high < 1), result)


@register_kl(Exponential, Gamma)
def _kl_exponential_gamma(p: Exponential, q: Gamma) -> Tensor:
    return _kl_to_gamma(p, q)


@register_kl(Exponential, Gumbel)
def _kl_exponential_gumbel(p: Exponential, q: Gumbel) -> Tensor:
    return _kl_to_gumbel(p, q)


@register_kl(Exponential, Normal)
def _kl_exponential_normal(p: Exponential, q: Normal) -> Tensor:
    return _kl_to_normal(p, q)


@register_kl(Gamma, Exponential)
def _kl_gamma_exponential(p: Gamma, q: Exponential) -> Tensor:
    return _kl_to_exponential(p, q)


@register_kl(Gamma, Gumbel)
def _kl_gamma_gumbel(p: Gamma, q: Gumbel) -> Tensor:
    return _kl_to_gumbel(p, q)


@register_kl(Gamma, Normal)
def _kl_gamma_normal(p: Gamma, q: Normal) -> Tensor:
    return _kl_to_normal(p, q)


@register_kl(Gumbel, Normal)
def _kl_gumbel_normal(p: Gumbel, q: Normal) -> Tensor:
    return _kl_to_normal(p, q)


@register_kl(Laplace, Normal)
def _kl_laplace_normal(p: Laplace, q: Normal) -> Tensor:
    return _kl_to_normal(p, q)


@register_kl(Normal, Gumbel)
def _kl_normal_gumbel(p: Normal, q: Gumbel) -> Tensor:
    return _kl_to_gumbel(p, q)


@register_kl(Normal, Laplace)
def _kl_normal_laplace(p: Normal, q: Laplace) -> Tensor:
    # E|X - m| for X ~ N(mu, s): s sqrt(2/pi) exp(-d^2 / 2s^2) + d erf(d / (s sqrt 2)), d = mu - m
    d = p.loc - q.loc
    z = d / p.scale
    mean_abs = math.sqrt(2 / math.pi) * p.scale * _ops.exp(-0.5 * z.pow(2)) + d * _ops.erf(
        z * math.sqrt(0.5)
    )
    return -p.entropy() + (2 * q.scale).log() + mean_abs / q.scale


@register_kl(Uniform, Beta)
def _kl_uniform_beta(p: Uniform, q: Beta) -> Tensor:
    return _kl_to_beta(p, q)


@register_kl(Uniform, Exponential)
def _kl_uniform_exponential(p: Uniform, q: Exponential) -> Tensor:
    return _inf_where(p.low < 0, _kl_to_exponential(p, q))


@register_kl(Uniform, Gamma)
def _kl_uniform_gamma(p: Uniform, q: Gamma) -> Tensor:
    safe = Uniform(p.low.clamp(min=0), p.high.clamp(min=1e-30), validate_args=False)
    return _inf_where(p.low < 0, _kl_to_gamma(safe, q))


@register_kl(Uniform, Gumbel)
def _kl_uniform_gumbel(p: Uniform, q: Gumbel) -> Tensor:
    return _kl_to_gumbel(p, q)


@register_kl(Uniform, Normal)
def _kl_uniform_normal(p: Uniform, q: Normal) -> Tensor:
    return _kl_to_normal(p, q)


@register_kl(Bernoulli, Poisson)
def _kl_bernoulli_poisson(p: Bernoulli, q: Poisson) -> Tensor:
    return -p.entropy() - (p.probs * q.rate.log() - q.rate)


def _safe_pareto(p: Pareto, min_alpha: float) -> Pareto:
    """``p`` with ``alpha`` raised above ``min_alpha`` where it is not (there the KL is
    infinite and overwritten), so that the finite formula stays finite elsewhere."""
    alpha = _ops.where(p.alpha > min_alpha, p.alpha, _ops.full_like(p.alpha, min_alpha + 1))
    return Pareto(p.scale, alpha, validate_args=False)


@register_kl(Pareto, Exponential)
def _kl_pareto_exponential(p: Pareto, q: Exponential) -> Tensor:
    return _inf_where(p.alpha <= 1, _kl_to_exponential(_safe_pareto(p, 1), q))


@register_kl(Pareto, Gamma)
def _kl_pareto_gamma(p: Pareto, q: Gamma) -> Tensor:
    return _inf_where(p.alpha <= 1, _kl_to_gamma(_safe_pareto(p, 1), q))


@register_kl(Pareto, Normal)
def _kl_pareto_normal(p: Pareto, q: Normal) -> Tensor:
    return _inf_where(p.alpha <= 2, _kl_to_normal(_safe_pareto(p, 2), q))


@register_kl(ContinuousBernoulli, Exponential)
def _kl_cb_exponential(p: ContinuousBernoulli, q: Exponential) -> Tensor:
    return _kl_to_exponential(p, q)


@register_kl(ContinuousBernoulli, Normal)
def _kl_cb_normal(p: ContinuousBernoulli, q: Normal) -> Tensor:
    return _kl_to_normal(p, q)


@register_kl(ContinuousBernoulli, Uniform)
def _kl_cb_uniform(p: ContinuousBernoulli, q: Uniform) -> Tensor:
    result = -p.entropy() + (q.high - q.low).log()
    return _inf_where((q.low > 0) | (q.high < 1), result)


def _kl_to_cb(p: Any, q: ContinuousBernoulli) -> Tensor:
    # log q(x) = log C + log(1 - lambda) + x logits
    return -p.entropy() - p.mean * q.logits - _ops.log1p(-q.probs) - q._cont_bern_log_norm()


@register_kl(Beta, ContinuousBernoulli)
def _kl_beta_cb(p: Beta, q: ContinuousBernoulli) -> Tensor:
    return _kl_to_cb(p, q)


@register_kl(Uniform, ContinuousBernoulli)
def _kl_uniform_cb(p: Uniform, q: ContinuousBernoulli) -> Tensor:
    return _inf_where((p.low < 0) | (p.high > 1), _kl_to_cb(p, q))


@register_kl(Uniform, Pareto)
def _kl_uniform_pareto(p: Uniform, q: Pareto) -> Tensor:
    below = p.low < q.scale
    low = _ops.where(below, q.scale.expand(tuple(p.low.shape)), p.low)
    high = _ops.where(below, _ops.maximum(p.high, low + 1), p.high)
    safe = Uniform(low, high, validate_args=False)
    log_q = q.alpha.log() + q.alpha * q.scale.log() - (q.alpha + 1) * _mean_log(safe)
    return _inf_where(below, -p.entropy() - log_q)


def _kl_infinite(p: Any, q: Any) -> Tensor:
    params = [p.__dict__[k] for k in p.arg_constraints if k in p.__dict__]
    like = params[0] if params else p.mean  # (Beta's parameters are properties)
    return _inf_like(like)


# p puts mass where q has none: infinite (torch's _kl_*_infinity registrations)
for _p, _q in [
    (Exponential, Beta),
    (Exponential, Uniform),
    (Gamma, Beta),
    (Gamma, Uniform),
    (Gumbel, Beta),
    (Gumbel, Exponential),
    (Gumbel, Gamma),
    (Gumbel, Uniform),
    (Laplace, Beta),
    (Laplace, Exponential),
    (Laplace, Gamma),
    (Laplace, Uniform),
    (Normal, Beta),
    (Normal, Exponential),
    (Normal, Gamma),
    (Normal, Uniform),
    (Poisson, Bernoulli),
    (Poisson, Binomial),
    (Beta, Pareto),
    (ContinuousBernoulli, Pareto),
    (Exponential, ContinuousBernoulli),
    (Exponential, Pareto),
    (Gamma, ContinuousBernoulli),
    (Gamma, Pareto),
    (Gumbel, ContinuousBernoulli),
    (Gumbel, Pareto),
    (Laplace, ContinuousBernoulli),
    (Laplace, Pareto),
    (Normal, ContinuousBernoulli),
    (Normal, Pareto),
    (Pareto, Beta),
    (Pareto, ContinuousBernoulli),
    (Pareto, Uniform),
]:
    register_kl(_p, _q)(_kl_infinite)
