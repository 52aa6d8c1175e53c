"""torch.special's names for the special functions pydlk has: the same functions as
``pydlk.erf`` etc., under the names torch.special gives them."""

from __future__ import annotations

import math

from .autograd import Tensor
from .ops import digamma, erf, erfc, erfinv, expm1, lgamma, log1p, logsumexp, sigmoid
from .ops import log_softmax as _log_softmax
from .ops import softmax as _softmax

__all__ = [
    "digamma",
    "erf",
    "erfc",
    "erfinv",
    "expit",
    "expm1",
    "gammaln",
    "log1p",
    "log_softmax",
    "logsumexp",
    "ndtr",
    "psi",
    "softmax",
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
