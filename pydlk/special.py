"""torch.special's names for the special functions pydlk has: the same functions as
``pydlk.erf`` etc. under the names torch.special gives them, and torch.special's own
(``i0e``, ``ndtri``, ``zeta``, the Bessel functions, ...: ``pydlk/ops/special_extra.py``)."""

from __future__ import annotations

import math

from .autograd import Tensor
from .ops import (
    digamma,
    erf,
    erfc,
    erfinv,
    exp2,
    expm1,
    i0,
    lgamma,
    log1p,
    logit,
    logsumexp,
    mvlgamma,
    polygamma,
    round,
    sigmoid,
    sinc,
    xlogy,
)
from .ops import log_softmax as _log_softmax
from .ops import softmax as _softmax
from .ops.special_extra import (
    bessel_j0,
    bessel_j1,
    bessel_y0,
    bessel_y1,
    entr,
    erfcx,
    gammainc,
    gammaincc,
    i0e,
    i1,
    i1e,
    log_ndtr,
    modified_bessel_i0,
    modified_bessel_i1,
    modified_bessel_k0,
    modified_bessel_k1,
    ndtri,
    scaled_modified_bessel_k0,
    scaled_modified_bessel_k1,
    spherical_bessel_j0,
    xlog1py,
    zeta,
)

__all__ = [
    "bessel_j0",
    "bessel_j1",
    "bessel_y0",
    "bessel_y1",
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfcx",
    "erfinv",
    "exp2",
    "expit",
    "expm1",
    "gammainc",
    "gammaincc",
    "gammaln",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "log1p",
    "log_ndtr",
    "log_softmax",
    "logit",
    "logsumexp",
    "modified_bessel_i0",
    "modified_bessel_i1",
    "modified_bessel_k0",
    "modified_bessel_k1",
    "multigammaln",
    "ndtr",
    "ndtri",
    "polygamma",
    "psi",
    "round",
    "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1",
    "sinc",
    "softmax",
    "spherical_bessel_j0",
    "xlog1py",
    "xlogy",
    "zeta",
]


def gammaln(input: Tensor) -> Tensor:
    """``log|Gamma(input)|``, as ``pydlk.lgamma``."""
    return lgamma(input)


def psi(input: Tensor) -> Tensor:
    """The digamma function, as ``pydlk.digamma``."""
    return digamma(input)


def expit(input: Tensor) -> Tensor:
    """The logistic sigmoid ``1 / (1 + exp(-input))``, as ``pydlk.sigmoid``."""
    return sigmoid(input)


def ndtr(input: Tensor) -> Tensor:
    """The standard normal distribution function, ``(1 + erf(input / sqrt 2)) / 2``, computed as
    ``erfc(-input / sqrt 2) / 2`` (accurate in the lower tail)."""
    return 0.5 * erfc(-input / math.sqrt(2))  # type: ignore[operator]


def softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """``exp(input) / sum(exp(input))`` along ``dim``, as ``pydlk.softmax``."""
    return _softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """``log(softmax(input, dim))``, as ``pydlk.log_softmax``."""
    return _log_softmax(input, dim, dtype=dtype)


def multigammaln(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma of dimension ``p``, as ``pydlk.mvlgamma``."""
    return mvlgamma(input, p)
