"""torch.distributions.Categorical."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops as _ops
from .._backend import host_array, on_device_of
from ..autograd import Tensor
from ..ops._helpers import _nograd
from ..ops.factories import _gen
from . import constraints
from .distribution import Distribution
from .utils import lazy_property, logits_to_probs, probs_to_logits

__all__ = ["Categorical"]


def _draw_categories(probs: Tensor, sample_shape: tuple[int, ...]) -> Tensor:
    """int64 category indices drawn from the rows of ``probs`` (last dim: the categories),
    ``numel(sample_shape)`` per row, by inverse CDF with uniforms from pydlk's host generator;
    the result is on ``probs``'s device, of shape ``sample_shape + probs.shape[:-1]``."""
    a = probs._data
    h = np.asarray(host_array(a), np.float64)
    k = h.shape[-1]
    rows = h.reshape(-1, k)
    n = int(np.prod(sample_shape, dtype=np.int64))
    cdf = np.cumsum(rows, axis=-1)
    cdf /= cdf[:, -1:]
    u = 1.0 - _gen(None).random((n, rows.shape[0]))  # in (0, 1]: never picks a zero category
    # the index of a draw is the count of its row's cdf values below it; row r is shifted by r
    # so that one searchsorted over all rows counts them (rows before r: all below)
    offset = np.arange(rows.shape[0], dtype=np.float64)
    flat = (cdf + offset[:, None]).ravel()
    idx = np.searchsorted(flat, u + offset[None, :], side="left") - (offset * k)[None, :]
    last = k - 1 - np.argmax(rows[:, ::-1] > 0, axis=-1)  # the last category with mass
    idx = np.minimum(idx, last[None, :]).astype(np.int64)
    return _nograd(on_device_of(idx.reshape(tuple(sample_shape) + h.shape[:-1]), a))


class Categorical(Distribution):
    """A categorical distribution over ``0 .. K-1``, given by ``probs`` (non-negative, normalised
    over the last dim) or by ``logits`` (unnormalised log-probabilities), not both. The last dim
    holds the ``K`` categories, the others are the batch. ``sample`` returns int64 indices drawn
    from pydlk's generator (the same seed gives the same draws on the CPU and the GPU)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

    def __init__(
        self,
        probs: Tensor | None = None,
        logits: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            assert logits is not None
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - _ops.logsumexp(logits, -1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits
        self._num_events = self._param.shape[-1]
        batch_shape = tuple(self._param.shape[:-1]) if self._param.dim() > 1 else ()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Categorical:
        """This distribution with its parameters expanded to ``batch_shape``."""
        new = self._get_checked_instance(Categorical, _instance)
        batch_shape = tuple(batch_shape)
        param_shape = batch_shape + (self._num_events,)
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(param_shape)
            new._param = new.probs
        if "logits" in self.__dict__:
            new.logits = self.logits.expand(param_shape)
            new._param = new.logits
        new._num_events = self._num_events
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> constraints.Constraint:
        """``integer_interval(0, K - 1)``."""
        return constraints.integer_interval(0, self._num_events - 1)

    @lazy_property
    def logits(self) -> Tensor:
        """Normalised log-probabilities (``log_softmax`` of the given logits, or the log of the
        probabilities clamped to [eps, 1 - eps])."""
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self) -> Tensor:
        """Probabilities, normalised over the last dim."""
        return logits_to_probs(self.logits)

    @property
    def param_shape(self) -> tuple[int, ...]:
        """The shape of ``probs`` / ``logits``."""
        return tuple(self._param.shape)

    @property
    def mean(self) -> Tensor:
        """NaN (categories have no mean), of shape ``batch_shape``."""
        return _ops.full(
            self._extended_shape(), float("nan"), dtype=self.probs.dtype, device=self.probs.device
        )

    @property
    def mode(self) -> Tensor:
        """The most probable category, int64."""
        return self.probs.argmax(-1)

    @property
    def variance(self) -> Tensor:
        """NaN, of shape ``batch_shape``."""
        return _ops.full(
            self._extended_shape(), float("nan"), dtype=self.probs.dtype, device=self.probs.device
        )

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """int64 category indices of shape ``sample_shape + batch_shape``."""
        shape = self._extended_shape(sample_shape)
        return _draw_categories(self.probs, shape[: len(shape) - len(self._batch_shape)])

    def log_prob(self, value: Tensor) -> Tensor:
        """The log-probability of the categories ``value`` (broadcast with the batch)."""
        if self._validate_args:
            self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        shape = np.broadcast_shapes(tuple(value.shape), tuple(self.logits.shape))
        log_pmf = self.logits if tuple(self.logits.shape) == shape else self.logits.expand(shape)
        value = value.expand(shape)[..., :1]
        return log_pmf.gather(-1, value).squeeze(-1)

    def entropy(self) -> Tensor:
        """``-sum(p log p)`` over the categories."""
        min_real = float(np.finfo(self.logits.dtype).min)
        logits = _ops.clamp(self.logits, min=min_real)
        p_log_p = logits * self.probs
        return -p_log_p.sum(-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """``arange(K)`` along dim 0, expanded over the batch if ``expand``."""
        values = _ops.arange(self._num_events, dtype=_ops.int64, device=self._param.device)
        values = values.view((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand((-1,) + self._batch_shape)
        return values
