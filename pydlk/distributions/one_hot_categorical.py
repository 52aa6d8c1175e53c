"""torch.distributions.OneHotCategorical."""

from __future__ import annotations

from typing import Any

from .. import ops as _ops
from ..autograd import Tensor
from . import constraints
from .categorical import Categorical
from .distribution import Distribution

__all__ = ["OneHotCategorical", "OneHotCategoricalStraightThrough"]


def _one_hot(index: Tensor, n: int, like: Tensor) -> Tensor:
    """One-hot vectors (last dim ``n``) of int64 ``index``, of ``like``'s dtype."""
    out = _ops.zeros(tuple(index.shape) + (n,), dtype=like.dtype, device=like.device)
    return out.scatter(-1, index.unsqueeze(-1), _ops.ones_like(out))


class OneHotCategorical(Distribution):
    """A categorical distribution whose draws are one-hot vectors over the last dim, given by
    ``probs`` or ``logits`` (not both), as ``Categorical``; ``log_prob`` takes one-hot
    vectors."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(
        self,
        probs: Tensor | None = None,
        logits: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        self._categorical = Categorical(probs, logits)
        param_shape = self._categorical.param_shape
        super().__init__(
            self._categorical.batch_shape, param_shape[-1:], validate_args=validate_args
        )

    def expand(self, batch_shape: Any, _instance: Any = None) -> OneHotCategorical:
        """This distribution with its parameters expanded to ``batch_shape``."""
        new = self._get_checked_instance(OneHotCategorical, _instance)
        batch_shape = tuple(batch_shape)
        new._categorical = self._categorical.expand(batch_shape)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def _param(self) -> Tensor:
        return self._categorical._param

    @property
    def probs(self) -> Tensor:
        """Probabilities, normalised over the last dim."""
        return self._categorical.probs

    @property
    def logits(self) -> Tensor:
        """Normalised log-probabilities."""
        return self._categorical.logits

    @property
    def param_shape(self) -> tuple[int, ...]:
        """The shape of ``probs`` / ``logits``."""
        return self._categorical.param_shape

    @property
    def mean(self) -> Tensor:
        """``probs``."""
        return self._categorical.probs

    @property
    def mode(self) -> Tensor:
        """The one-hot vector of the most probable category."""
        probs = self._categorical.probs
        return _one_hot(probs.argmax(-1), probs.shape[-1], probs)

    @property
    def variance(self) -> Tensor:
        """``probs (1 - probs)``."""
        return self._categorical.probs * (1 - self._categorical.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        """One-hot draws of shape ``sample_shape + batch_shape + (K,)``, the probabilities'
        dtype."""
        probs = self._categorical.probs
        indices = self._categorical.sample(sample_shape)
        return _one_hot(indices, probs.shape[-1], probs)

    def log_prob(self, value: Any) -> Tensor:
        """The categorical log-probability of each one-hot vector's category."""
        if self._validate_args:
            self._validate_sample(value)
        indices = value.max(-1)[1]
        return self._categorical.log_prob(indices)

    def entropy(self) -> Tensor:
        """The categorical entropy."""
        return self._categorical.entropy()

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """The ``K`` one-hot vectors along dim 0, expanded over the batch if ``expand``."""
        n = self._event_shape[0]
        p = self._param
        values = _ops.eye(n, dtype=p.dtype, device=p.device)
        values = values.view((n,) + (1,) * len(self._batch_shape) + (n,))
        if expand:
            values = values.expand((n,) + self._batch_shape + (n,))
        return values


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """A ``OneHotCategorical`` with a straight-through ``rsample``: the one-hot draw in the
    forward pass, the gradient of ``probs`` in the backward pass
    (``draw + probs - probs.detach()``)."""

    has_rsample = True

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """A one-hot draw whose gradient is that of ``probs``."""
        samples = self.sample(sample_shape)
        probs = self._categorical.probs
        return samples + (probs - probs.detach())
