"""torch.distributions.transforms: invertible maps with a log-Jacobian, for
``TransformedDistribution`` (a log-normal is ``exp`` of a normal; a SAC policy is ``tanh`` of
a normal).

A transform ``t`` maps ``x`` to ``y = t(x)``; ``t.inv`` is its inverse (``t.inv(y)``) and
``t.log_abs_det_jacobian(x, y)`` is ``log |dy/dx|``, per event of ``t.domain.event_dim`` dims.
With ``cache_size=1`` a transform remembers its last ``(x, y)`` pair, so that the inverse of a
value it produced is the ``x`` it came from (no round-off through ``atanh(tanh(x))``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .. import ops as _ops
from ..autograd import Tensor, as_tensor
from . import constraints
from ._corr_cholesky import CorrCholeskyTransform
from ._transform_base import ComposeTransform, Transform, identity_transform
from .utils import _softplus, _sum_rightmost

__all__ = [
    "AbsTransform",
    "AffineTransform",
    "CatTransform",
    "ComposeTransform",
    "CorrCholeskyTransform",
    "CumulativeDistributionTransform",
    "ExpTransform",
    "IndependentTransform",
    "LowerCholeskyTransform",
    "PositiveDefiniteTransform",
    "PowerTransform",
    "ReshapeTransform",
    "SigmoidTransform",
    "SoftmaxTransform",
    "SoftplusTransform",
    "StackTransform",
    "StickBreakingTransform",
    "TanhTransform",
    "Transform",
    "identity_transform",
]


class ExpTransform(Transform):
    """``y = exp(x)``: the real line onto the positive reals; ``log |dy/dx| = x``."""

    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExpTransform)

    __hash__ = Transform.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return x.exp()

    def _inverse(self, y: Tensor) -> Tensor:
        return y.log()

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """``x``."""
        return x


class SigmoidTransform(Transform):
    """``y = sigmoid(x)``, clamped to [tiny, 1 - eps] of the dtype (torch's clipped sigmoid);
    ``log |dy/dx| = -softplus(-x) - softplus(x)``."""

    domain = constraints.real
    codomain = constraints.unit_interval
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SigmoidTransform)

    __hash__ = Transform.__hash__

    def _call(self, x: Tensor) -> Tensor:
        finfo = np.finfo(x.dtype)
        return _ops.clamp(_ops.sigmoid(x), min=float(finfo.tiny), max=float(1.0 - finfo.eps))

    def _inverse(self, y: Tensor) -> Tensor:
        finfo = np.finfo(y.dtype)
        y = y.clamp(min=float(finfo.tiny), max=float(1.0 - finfo.eps))
        return y.log() - (-y).log1p()

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """``-softplus(-x) - softplus(x)``."""
        return -_softplus(-x) - _softplus(x)


class TanhTransform(Transform):
    """``y = tanh(x)``: the real line onto (-1, 1); the inverse is ``atanh`` (use
    ``cache_size=1`` to invert the samples it produced exactly, as SAC policies do).
    ``log |dy/dx| = 2 (log 2 - x - softplus(-2x))``, stable for large ``|x|``."""

    domain = constraints.real
    codomain = constraints.interval(-1.0, 1.0)
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TanhTransform)

    __hash__ = Transform.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return x.tanh()

    def _inverse(self, y: Tensor) -> Tensor:
        # 0.5 * (log1p(y) - log1p(-y)): torch's atanh, which gives +-inf at +-1, not NaN
        return 0.5 * (y.log1p() - (-y).log1p())

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """``2 (log 2 - x - softplus(-2x))``."""
        return 2.0 * (math.log(2.0) - x - _softplus(-2.0 * x))


class AffineTransform(Transform):
    """``y = loc + scale * x`` (``loc``, ``scale``: numbers or tensors); ``event_dim`` rightmost
    dims form one event (the log-Jacobian ``log |scale|`` is summed over them)."""

    bijective = True

    def __init__(self, loc: Any, scale: Any, event_dim: int = 0, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.loc = loc
        self.scale = scale
        self._event_dim = event_dim

    @property
    def event_dim(self) -> int:
        return self._event_dim

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        if self._event_dim == 0:
            return constraints.real
        return constraints.independent(constraints.real, self._event_dim)

    @property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return self.domain

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return AffineTransform(self.loc, self.scale, self._event_dim, cache_size=cache_size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AffineTransform):
            return False
        for a, b in ((self.loc, other.loc), (self.scale, other.scale)):
            if isinstance(a, numbers.Number) and isinstance(b, numbers.Number):
                if a != b:
                    return False
            elif not bool((as_tensor(a) == as_tensor(b)).all()):
                return False
        return True

    __hash__ = Transform.__hash__

    @property
    def sign(self) -> Any:
        """The sign of ``scale``."""
        if isinstance(self.scale, numbers.Real):
            return 1 if float(self.scale) > 0 else -1 if float(self.scale) < 0 else 0
        return self.scale.sign()

    def _call(self, x: Tensor) -> Tensor:
        return self.loc + self.scale * x

    def _inverse(self, y: Tensor) -> Tensor:
        return (y - self.loc) / self.scale

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """``log |scale|``, summed over the event dims, in ``x``'s batch shape."""
        shape = tuple(x.shape)
        scale = self.scale
        if isinstance(scale, numbers.Real):
            result = _ops.full_like(x, math.log(abs(scale)))
        else:
            result = scale.abs().log()
        if self._event_dim:
            result = _sum_rightmost(result, self._event_dim)
            shape = shape[: len(shape) - self._event_dim]
        return result.expand(shape)

    def forward_shape(self, shape: Any) -> tuple[int, ...]:
        return tuple(
            np.broadcast_shapes(
                tuple(shape),
                tuple(getattr(self.loc, "shape", ())),
                tuple(getattr(self.scale, "shape", ())),
            )
        )

    def inverse_shape(self, shape: Any) -> tuple[int, ...]:
        return self.forward_shape(shape)


class PowerTransform(Transform):
    """``y = x ** exponent`` on the positive reals; ``log |dy/dx| = log |exponent y / x|``."""

    domain = constraints.positive
    codomain = constraints.positive
    bijective = True

    def __init__(self, exponent: Any, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.exponent = exponent

    def with_cache(self, cache_size: int = 1) -> Transform:
        """This transform with ``cache_size``."""
        if self._cache_size == cache_size:
            return self
        return PowerTransform(self.exponent, cache_size=cache_size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PowerTransform):
            return False
        return bool((as_tensor(self.exponent) == as_tensor(other.exponent)).all())

    __hash__ = Transform.__hash__

    @property
    def sign(self) -> Any:
        """The sign of ``exponent``."""
        if isinstance(self.exponent, numbers.Real):
            e = float(self.exponent)
            return 1 if e > 0 else -1 if e < 0 else 0
        return self.exponent.sign()

    def _call(self, x: Tensor) -> Tensor:
        return x.pow(self.exponent)

    def _inverse(self, y: Tensor) -> Tensor:
        return y.pow(1 / self.exponent)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """``log |exponent y / x|``."""
        return (self.exponent * y / x).abs().log()

    def forward_shape(self, shape: Any) -> tuple[int, ...]:
        """``shape`` broadcast with the exponent's."""
        return tuple(np.broadcast_shapes(tuple(shape), tuple(getattr(self.exponent, "shape", ()))))

    def inverse_shape(self, shape: Any) -> tuple[int, ...]:
        """``shape`` broadcast with the exponent's."""
        return self.forward_shape(shape)


class AbsTransform(Transform):
    """``y = |x|`` (not injective: the inverse returns ``y``; no log-Jacobian, as torch)."""

    domain = constraints.real
    codomain = constraints.positive

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AbsTransform)

    __hash__ = Transform.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return x.abs()

    def _inverse(self, y: Tensor) -> Tensor:
        return y


class SoftplusTransform(Transform):
    """``y = log(1 + exp(x))``: the real line onto the positive reals;
    ``log |dy/dx| = -softplus(-x)``."""

    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = +1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SoftplusTransform)

    __hash__ = Transform.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return _softplus(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return (-y).expm1().neg().log() + y

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """``-softplus(-x)``."""
        return -_softplus(-x)


class SoftmaxTransform(Transform):
    """``y = softmax(x)`` over the last dim (not injective: the inverse is ``log y``, one
    preimage; no log-Jacobian, as torch)."""

    domain = constraints.real_vector
    codomain = constraints.simplex

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SoftmaxTransform)

    __hash__ = Transform.__hash__

    def _call(self, x: Tensor) -> Tensor:
        probs = (x - x.max(-1, keepdim=True)[0]).exp()
        return probs / probs.sum(-1, keepdim=True)

    def _inverse(self, y: Tensor) -> Tensor:
        return y.log()

    def forward_shape(self, shape: Any) -> tuple[int, ...]:
        """``shape`` (at least one dim)."""
        if len(shape) < 1:
            raise ValueError("Too few dimensions on input")
        return tuple(shape)

    def inverse_shape(self, shape: Any) -> tuple[int, ...]:
        """``shape`` (at least one dim)."""
        return self.forward_shape(shape)


def _pad_last(t: Tensor, before: int, after: int) -> Tensor:
    """``t`` with ``before`` / ``after`` ones added along the last dim."""
    parts = []
    ones_shape = tuple(t.shape[:-1]) + (1,)
    if before:
        parts.append(_ops.ones(ones_shape, dtype=t.dtype, device=t.device))
    parts.append(t)
    if after:
        parts.append(_ops.ones(ones_shape, dtype=t.dtype, device=t.device))
    return _ops.cat(parts, -1)


def _stick_offset(n: int, like: Tensor) -> Tensor:
    # n, n-1, ..., 1 (torch's offset: K + 1 - cumsum(ones(K)))
    return _ops.arange(n, 0, -1, dtype=like.dtype, device=like.device)


class StickBreakingTransform(Transform):
    """Unconstrained ``(..., K)`` vectors onto the ``K + 1``-simplex by stick breaking:
    ``z_k = sigmoid(x_k - log(K + 1 - k))``, ``y_k = z_k prod_{j<k} (1 - z_j)`` and the last
    coordinate the remainder (torch's transform for ``constraints.simplex``)."""

    domain = constraints.real_vector
    codomain = constraints.simplex
    bijective = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StickBreakingTransform)

    __hash__ = Transform.__hash__

    def _call(self, x: Tensor) -> Tensor:
        offset = _stick_offset(x.shape[-1], x)
        finfo = np.finfo(np.dtype(x.dtype))
        z = _ops.clamp(
            _ops.sigmoid(x - offset.log()), min=float(finfo.tiny), max=float(1.0 - finfo.eps)
        )
        z_cumprod = (1 - z).cumprod(-1)
        return _pad_last(z, 0, 1) * _pad_last(z_cumprod, 1, 0)

    def _inverse(self, y: Tensor) -> Tensor:
        y_crop = y[..., :-1]
        offset = _stick_offset(y_crop.shape[-1], y)
        sf = (1 - y_crop.cumsum(-1)).clamp(min=float(np.finfo(np.dtype(y.dtype)).tiny))
        return y_crop.log() - sf.log() + offset.log()

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """``sum(-x' + logsigmoid(x') + log y[:-1])``, ``x' = x - log(offset)``."""
        offset = _stick_offset(x.shape[-1], x)
        xs = x - offset.log()
        return (-xs - _softplus(-xs) + y[..., :-1].log()).sum(-1)

    def forward_shape(self, shape: Any) -> tuple[int, ...]:
        """``shape`` with one more along the last dim."""
        if len(shape) < 1:
            raise ValueError("Too few dimensions on input")
        return tuple(shape[:-1]) + (shape[-1] + 1,)

    def inverse_shape(self, shape: Any) -> tuple[int, ...]:
        """``shape`` with one less along the last dim."""
        if len(shape) < 1:
            raise ValueError("Too few dimensions on input")
        return tuple(shape[:-1]) + (shape[-1] - 1,)


def _diag_embed(d: Tensor) -> Tensor:
    n = d.shape[-1]
    eye = _ops.eye(n, dtype=d.dtype, device=d.device)
    return d.unsqueeze(-1) * eye


class LowerCholeskyTransform(Transform):
    """Unconstrained square matrices onto lower-triangular ones with a positive diagonal: the
    strictly lower part kept, the diagonal exponentiated (no log-Jacobian, as torch)."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.lower_cholesky

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LowerCholeskyTransform)

    __hash__ = Transform.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return x.tril(-1) + _diag_embed(x.diagonal(dim1=-2, dim2=-1).exp())

    def _inverse(self, y: Tensor) -> Tensor:
        return y.tril(-1) + _diag_embed(y.diagonal(dim1=-2, dim2=-1).log())


class IndependentTransform(Transform):
    """``base_transform`` with its ``reinterpreted_batch_ndims`` rightmost batch dims made event
    dims: the log-Jacobian is summed over them."""

    def __init__(
        self, base_transform: Transform, reinterpreted_batch_ndims: int, cache_size: int = 0
    ) -> None:
        super().__init__(cache_size=cache_size)
        self.base_transform = base_transform.with_cache(cache_size)
        self.reinterpreted_batch_ndims = reinterpreted_batch_ndims

    def with_cache(self, cache_size: int = 1) -> Transform:
        """This transform with ``cache_size``."""
        if self._cache_size == cache_size:
            return self
        return IndependentTransform(
            self.base_transform, self.reinterpreted_batch_ndims, cache_size=cache_size
        )

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        """The base's domain with the reinterpreted dims as event dims."""
        return constraints.independent(self.base_transform.domain, self.reinterpreted_batch_ndims)

    @property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        """The base's codomain with the reinterpreted dims as event dims."""
        return constraints.independent(self.base_transform.codomain, self.reinterpreted_batch_ndims)

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        """The base's."""
        return self.base_transform.bijective

    @property
    def sign(self) -> Any:
        """The base's."""
        return self.base_transform.sign

    def _call(self, x: Tensor) -> Tensor:
        return self.base_transform(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return self.base_transform.inv(y)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """The base's, summed over the reinterpreted dims."""
        result = self.base_transform.log_abs_det_jacobian(x, y)
        return _sum_rightmost(result, self.reinterpreted_batch_ndims)

    def forward_shape(self, shape: Any) -> tuple[int, ...]:
        """The base's."""
        return self.base_transform.forward_shape(shape)

    def inverse_shape(self, shape: Any) -> tuple[int, ...]:
        """The base's."""
        return self.base_transform.inverse_shape(shape)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.base_transform!r}, {self.reinterpreted_batch_ndims})"
        )


class ReshapeTransform(Transform):
    """Reshapes the rightmost ``in_shape`` dims to ``out_shape`` (same number of elements);
    the log-Jacobian is 0."""

    bijective = True

    def __init__(self, in_shape: Any, out_shape: Any, cache_size: int = 0) -> None:
        self.in_shape = tuple(int(s) for s in in_shape)
        self.out_shape = tuple(int(s) for s in out_shape)
        if int(np.prod(self.in_shape)) != int(np.prod(self.out_shape)):
            raise ValueError("in_shape, out_shape have different numbers of elements")
        super().__init__(cache_size=cache_size)

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        """Reals, ``len(in_shape)`` event dims."""
        return constraints.independent(constraints.real, len(self.in_shape))

    @property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        """Reals, ``len(out_shape)`` event dims."""
        return constraints.independent(constraints.real, len(self.out_shape))

    def with_cache(self, cache_size: int = 1) -> Transform:
        """This transform with ``cache_size``."""
        if self._cache_size == cache_size:
            return self
        return ReshapeTransform(self.in_shape, self.out_shape, cache_size=cache_size)

    def _call(self, x: Tensor) -> Tensor:
        batch = tuple(x.shape[: x.dim() - len(self.in_shape)])
        return x.reshape(batch + self.out_shape)

    def _inverse(self, y: Tensor) -> Tensor:
        batch = tuple(y.shape[: y.dim() - len(self.out_shape)])
        return y.reshape(batch + self.in_shape)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """Zeros of the batch shape."""
        batch = tuple(x.shape[: x.dim() - len(self.in_shape)])
        return _ops.zeros(batch, dtype=x.dtype, device=x.device)

    def forward_shape(self, shape: Any) -> tuple[int, ...]:
        """The batch part of ``shape`` + ``out_shape``."""
        shape = tuple(shape)
        cut = len(shape) - len(self.in_shape)
        if cut < 0 or shape[cut:] != self.in_shape:
            raise ValueError(f"Shape mismatch: expected {shape[cut:]} but got {self.in_shape}")
        return shape[:cut] + self.out_shape

    def inverse_shape(self, shape: Any) -> tuple[int, ...]:
        """The batch part of ``shape`` + ``in_shape``."""
        shape = tuple(shape)
        cut = len(shape) - len(self.out_shape)
        if cut < 0 or shape[cut:] != self.out_shape:
            raise ValueError(f"Shape mismatch: expected {shape[cut:]} but got {self.out_shape}")
        return shape[:cut] + self.in_shape


class CumulativeDistributionTransform(Transform):
    """``y = distribution.cdf(x)``: the support of a (univariate) distribution onto the unit
    interval; the inverse is its ``icdf`` and ``log |dy/dx|`` its ``log_prob``."""

    bijective = True
    codomain = constraints.unit_interval
    sign = +1

    def __init__(self, distribution: Any, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.distribution = distribution

    @property
    def domain(self) -> Any:  # type: ignore[override]
        """The distribution's support."""
        return self.distribution.support

    def with_cache(self, cache_size: int = 1) -> Transform:
        """This transform with ``cache_size``."""
        if self._cache_size == cache_size:
            return self
        return CumulativeDistributionTransform(self.distribution, cache_size=cache_size)

    def _call(self, x: Tensor) -> Tensor:
        return self.distribution.cdf(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return self.distribution.icdf(y)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """The distribution's ``log_prob(x)``."""
        return self.distribution.log_prob(x)


class StackTransform(Transform):
    """The transforms of ``tseq`` applied to the slices of ``x`` along ``dim`` (one each), the
    results stacked back along ``dim``."""

    def __init__(self, tseq: list[Transform], dim: int = 0, cache_size: int = 0) -> None:
        if cache_size:
            tseq = [t.with_cache(cache_size) for t in tseq]
        super().__init__(cache_size=cache_size)
        self.transforms = list(tseq)
        self.dim = dim

    def with_cache(self, cache_size: int = 1) -> Transform:
        """This transform with ``cache_size``."""
        if self._cache_size == cache_size:
            return self
        return StackTransform(self.transforms, self.dim, cache_size)

    def _slices(self, z: Tensor) -> list[Tensor]:
        if z.shape[self.dim] != len(self.transforms):
            raise ValueError(
                f"StackTransform: size {z.shape[self.dim]} along dim {self.dim} for "
                f"{len(self.transforms)} transforms"
            )
        return list(_ops.unbind(z, self.dim))

    def _call(self, x: Tensor) -> Tensor:
        return _ops.stack([t(s) for s, t in zip(self._slices(x), self.transforms)], self.dim)

    def _inverse(self, y: Tensor) -> Tensor:
        return _ops.stack([t.inv(s) for s, t in zip(self._slices(y), self.transforms)], self.dim)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """Each transform's log-Jacobian on its slice, stacked along ``dim``."""
        parts = [
            t.log_abs_det_jacobian(a, b)
            for a, b, t in zip(self._slices(x), self._slices(y), self.transforms)
        ]
        return _ops.stack(parts, self.dim)

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        """Whether every part is."""
        return all(t.bijective for t in self.transforms)

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        """Reals (the parts' domains are not combined)."""
        return constraints.real

    @property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        """Reals (the parts' codomains are not combined)."""
        return constraints.real


class CatTransform(Transform):
    """The transforms of ``tseq`` applied to consecutive pieces of ``x`` along ``dim`` (of
    ``lengths``, one element each by default), the results concatenated back."""

    def __init__(
        self,
        tseq: list[Transform],
        dim: int = 0,
        lengths: list[int] | None = None,
        cache_size: int = 0,
    ) -> None:
        if cache_size:
            tseq = [t.with_cache(cache_size) for t in tseq]
        super().__init__(cache_size=cache_size)
        self.transforms = list(tseq)
        self.lengths = [1] * len(self.transforms) if lengths is None else list(lengths)
        if len(self.lengths) != len(self.transforms):
            raise ValueError("CatTransform: one length per transform")
        self.dim = dim

    @property
    def event_dim(self) -> int:
        """The largest event_dim of the parts."""
        return max(t.event_dim for t in self.transforms)

    @property
    def length(self) -> int:
        """The total length along ``dim``."""
        return sum(self.lengths)

    def with_cache(self, cache_size: int = 1) -> Transform:
        """This transform with ``cache_size``."""
        if self._cache_size == cache_size:
            return self
        return CatTransform(self.transforms, self.dim, self.lengths, cache_size)

    def _pieces(self, z: Tensor) -> list[Tensor]:
        if not (-z.dim() <= self.dim < z.dim()) or z.shape[self.dim] != self.length:
            raise ValueError(f"CatTransform: size along dim {self.dim} is not {self.length}")
        return list(_ops.split(z, self.lengths, self.dim))

    def _call(self, x: Tensor) -> Tensor:
        return _ops.cat([t(p) for p, t in zip(self._pieces(x), self.transforms)], self.dim)

    def _inverse(self, y: Tensor) -> Tensor:
        return _ops.cat([t.inv(p) for p, t in zip(self._pieces(y), self.transforms)], self.dim)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        """Each part's log-Jacobian on its piece (summed over the event dims this transform
        has beyond the part's), concatenated along ``dim`` (or summed, when ``dim`` is an event
        dim)."""
        parts = []
        for a, b, t in zip(self._pieces(x), self._pieces(y), self.transforms):
            lad = _sum_rightmost(t.log_abs_det_jacobian(a, b), self.event_dim - t.event_dim)
            parts.append(lad)
        dim = self.dim if self.dim >= 0 else self.dim + x.dim()
        if dim >= x.dim() - self.event_dim:  # dim is an event dim: the pieces were summed
            out = parts[0]
            for p in parts[1:]:
                out = out + p
            return out
        return _ops.cat(parts, dim)

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        """Whether every part is."""
        return all(t.bijective for t in self.transforms)

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        """Reals (the parts' domains are not combined)."""
        return constraints.real

    @property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        """Reals (the parts' codomains are not combined)."""
        return constraints.real


class PositiveDefiniteTransform(Transform):
    """Unconstrained square matrices onto positive-definite ones: ``L L^T`` with ``L`` the
    ``LowerCholeskyTransform`` of ``x``; the inverse goes through the Cholesky factor (no
    log-Jacobian, as torch)."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.positive_definite

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PositiveDefiniteTransform)

    __hash__ = Transform.__hash__

    def _call(self, x: Tensor) -> Tensor:
        L = LowerCholeskyTransform()(x)
        return _ops.matmul(L, L.mT)

    def _inverse(self, y: Tensor) -> Tensor:
        from .. import linalg

        return LowerCholeskyTransform().inv(linalg.cholesky(y))
