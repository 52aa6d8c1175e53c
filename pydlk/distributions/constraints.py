"""torch.distributions.constraints: the sets a distribution's parameters and samples live in.

Each constraint's ``check(value)`` returns a bool tensor (on the value's device) that says, for
each element (or each event, for constraints with ``event_dim > 0``), whether it is valid.
"""

from __future__ import annotations

from typing import Any

from .. import ops as _ops
from ..autograd import Tensor, no_grad, tensor

__all__ = [
    "Constraint",
    "MixtureSameFamilyConstraint",
    "boolean",
    "cat",
    "corr_cholesky",
    "dependent",
    "dependent_property",
    "greater_than",
    "greater_than_eq",
    "half_open_interval",
    "independent",
    "integer_interval",
    "interval",
    "is_dependent",
    "less_than",
    "lower_cholesky",
    "lower_triangular",
    "multinomial",
    "nonnegative",
    "nonnegative_integer",
    "one_hot",
    "positive",
    "positive_definite",
    "positive_integer",
    "positive_semidefinite",
    "real",
    "real_vector",
    "simplex",
    "square",
    "stack",
    "symmetric",
    "unit_interval",
]


class Constraint:
    """A region over which a variable is valid (torch.distributions.constraints.Constraint)."""

    is_discrete = False
    event_dim = 0

    def check(self, value: Any) -> Tensor:
        """A bool tensor: whether each event of ``value`` satisfies the constraint."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.__class__.__name__[1:] + "()"


class _Dependent(Constraint):
    """A placeholder for a constraint that depends on other parameters (not checked)."""

    def __init__(self, *, is_discrete: bool = False, event_dim: int = 0) -> None:
        self.is_discrete = is_discrete
        self.event_dim = event_dim

    def __call__(self, *, is_discrete: bool = False, event_dim: int = 0) -> _Dependent:
        return _Dependent(is_discrete=is_discrete, event_dim=event_dim)

    def check(self, value: Any) -> Tensor:
        raise ValueError("Cannot determine validity of dependent constraint")


def is_dependent(constraint: Any) -> bool:
    """Whether ``constraint`` is a dependent (unchecked) constraint."""
    return isinstance(constraint, _Dependent)


class dependent_property(property):
    """A property that is also a dependent constraint (torch's ``support`` of Uniform)."""

    def __init__(self, fn: Any = None, *, is_discrete: bool = False, event_dim: int = 0) -> None:
        super().__init__(fn)
        self._is_discrete = is_discrete
        self._event_dim = event_dim

    def __call__(self, fn: Any) -> dependent_property:
        return dependent_property(fn, is_discrete=self._is_discrete, event_dim=self._event_dim)


def _t(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else tensor(value)


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value: Any) -> Tensor:
        with no_grad():
            v = _t(value)
            return (v == 0) | (v == 1)


class _Real(Constraint):
    def check(self, value: Any) -> Tensor:
        with no_grad():
            v = _t(value)
            return v == v  # False for NaN


class _GreaterThan(Constraint):
    """Values greater than ``lower_bound``."""

    def __init__(self, lower_bound: Any) -> None:
        self.lower_bound = lower_bound

    def check(self, value: Any) -> Tensor:
        with no_grad():
            return _t(value) > self.lower_bound

    def __repr__(self) -> str:
        return f"GreaterThan(lower_bound={self.lower_bound})"


class _GreaterThanEq(_GreaterThan):
    """Values at least ``lower_bound``."""

    def check(self, value: Any) -> Tensor:
        with no_grad():
            return _t(value) >= self.lower_bound

    def __repr__(self) -> str:
        return f"GreaterThanEq(lower_bound={self.lower_bound})"


class _LessThan(Constraint):
    """Values less than ``upper_bound``."""

    def __init__(self, upper_bound: Any) -> None:
        self.upper_bound = upper_bound

    def check(self, value: Any) -> Tensor:
        with no_grad():
            return _t(value) < self.upper_bound

    def __repr__(self) -> str:
        return f"LessThan(upper_bound={self.upper_bound})"


class _Interval(Constraint):
    """Values in [``lower_bound``, ``upper_bound``]."""

    def __init__(self, lower_bound: Any, upper_bound: Any) -> None:
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound

    def check(self, value: Any) -> Tensor:
        with no_grad():
            v = _t(value)
            return (v >= self.lower_bound) & (v <= self.upper_bound)

    def __repr__(self) -> str:
        return f"Interval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _HalfOpenInterval(_Interval):
    """Values in [``lower_bound``, ``upper_bound``)."""

    def check(self, value: Any) -> Tensor:
        with no_grad():
            v = _t(value)
            return (v >= self.lower_bound) & (v < self.upper_bound)

    def __repr__(self) -> str:
        return f"HalfOpenInterval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _IntegerInterval(_Interval):
    """Integers in [``lower_bound``, ``upper_bound``]."""

    is_discrete = True

    def check(self, value: Any) -> Tensor:
        with no_grad():
            v = _t(value)
            return ((v % 1) == 0) & (v >= self.lower_bound) & (v <= self.upper_bound)

    def __repr__(self) -> str:
        return f"IntegerInterval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _Simplex(Constraint):
    event_dim = 1

    def check(self, value: Any) -> Tensor:
        with no_grad():
            v = _t(value)
            return (v >= 0).all(-1) & ((v.sum(-1) - 1).abs() < 1e-6)


class _IntegerGreaterThan(Constraint):
    """Integers at least ``lower_bound``."""

    is_discrete = True

    def __init__(self, lower_bound: Any) -> None:
        self.lower_bound = lower_bound

    def check(self, value: Any) -> Tensor:
        with no_grad():
            v = _t(value)
            return ((v % 1) == 0) & (v >= self.lower_bound)

    def __repr__(self) -> str:
        return f"IntegerGreaterThan(lower_bound={self.lower_bound})"


class _Multinomial(Constraint):
    """Non-negative count vectors (last dim) whose sum is at most ``upper_bound``."""

    is_discrete = True
    event_dim = 1

    def __init__(self, upper_bound: Any) -> None:
        self.upper_bound = upper_bound

    def check(self, value: Any) -> Tensor:
        with no_grad():
            v = _t(value)
            return (v >= 0).all(-1) & (v.sum(-1) <= self.upper_bound)

    def __repr__(self) -> str:
        return f"Multinomial(upper_bound={self.upper_bound})"


class _OneHot(Constraint):
    """One-hot vectors over the last dim: 0/1 entries, exactly one 1."""

    is_discrete = True
    event_dim = 1

    def check(self, value: Any) -> Tensor:
        with no_grad():
            v = _t(value)
            return ((v == 0) | (v == 1)).all(-1) & (v.sum(-1) == 1)


class _LowerTriangular(Constraint):
    """Lower-triangular square matrices (the last two dims)."""

    event_dim = 2

    def check(self, value: Any) -> Tensor:
        with no_grad():
            v = _t(value)
            return (v.tril() == v).reshape(tuple(v.shape[:-2]) + (-1,)).all(-1)


class _LowerCholesky(Constraint):
    """Lower-triangular square matrices with a positive diagonal (Cholesky factors)."""

    event_dim = 2

    def check(self, value: Any) -> Tensor:
        with no_grad():
            v = _t(value)
            tril = (v.tril() == v).reshape(tuple(v.shape[:-2]) + (-1,)).all(-1)
            return tril & (v.diagonal(dim1=-2, dim2=-1) > 0).all(-1)


class _Square(Constraint):
    """Square matrices (the last two dims): one bool per matrix of the batch."""

    event_dim = 2

    def check(self, value: Any) -> Tensor:
        v = _t(value)
        square = v.shape[-2] == v.shape[-1]
        return _ops.full(tuple(v.shape[:-2]), square, dtype=_ops.bool, device=v.device)


class _Symmetric(_Square):
    """Symmetric square matrices: ``isclose(v, v.mT, atol=1e-6)`` (torch's check)."""

    def check(self, value: Any) -> Tensor:
        square = super().check(value)
        if not bool(square.all()):
            return square
        with no_grad():
            v = _t(value)
            sym = (v - v.mT).abs() <= 1e-6 + 1e-5 * v.mT.abs()
            return sym.reshape(tuple(v.shape[:-2]) + (-1,)).all(-1)


class _PositiveSemidefinite(_Symmetric):
    """Symmetric positive-semidefinite matrices: eigenvalues at least 0."""

    def check(self, value: Any) -> Tensor:
        from .. import linalg

        sym = super().check(value)
        if not bool(sym.all()):
            return sym
        with no_grad():
            return (linalg.eigvalsh(_t(value)) >= 0).all(-1)


class _CorrCholesky(Constraint):
    """Lower Cholesky factors of correlation matrices: lower-triangular, positive diagonal,
    rows of unit norm (within ``10 n eps``)."""

    event_dim = 2

    def check(self, value: Any) -> Tensor:
        import numpy as np

        with no_grad():
            v = _t(value)
            tol = float(np.finfo(np.dtype(v.dtype)).eps) * v.shape[-1] * 10
            row_norm = v.pow(2).sum(-1).sqrt()
            unit = ((row_norm - 1.0).abs() <= tol).all(-1)
            return _LowerCholesky().check(v) & unit


class _PositiveDefinite(_Symmetric):
    """Symmetric positive-definite matrices: symmetric, and a Cholesky factorisation
    succeeds (torch's check)."""

    def check(self, value: Any) -> Tensor:
        from .. import linalg

        sym = super().check(value)
        if not bool(sym.all()):
            return sym
        with no_grad():
            return linalg.cholesky_ex(_t(value)).info == 0


class _IndependentConstraint(Constraint):
    """``base_constraint`` over the last ``reinterpreted_batch_ndims`` dims, as one event."""

    def __init__(self, base_constraint: Constraint, reinterpreted_batch_ndims: int) -> None:
        self.base_constraint = base_constraint
        self.reinterpreted_batch_ndims = reinterpreted_batch_ndims

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.base_constraint.is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self.base_constraint.event_dim + self.reinterpreted_batch_ndims

    def check(self, value: Any) -> Tensor:
        result = self.base_constraint.check(value)
        n = self.reinterpreted_batch_ndims
        if n:
            result = result.reshape(tuple(result.shape[: result.dim() - n]) + (-1,)).all(-1)
        return result

    def __repr__(self) -> str:
        return f"IndependentConstraint({self.base_constraint!r}, {self.reinterpreted_batch_ndims})"


class MixtureSameFamilyConstraint(Constraint):
    """The support of a ``MixtureSameFamily``: ``base_constraint`` (the components') checked
    against every component, a value valid where it is valid for all of them (torch's)."""

    def __init__(self, base_constraint: Constraint) -> None:
        self.base_constraint = base_constraint

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.base_constraint.is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self.base_constraint.event_dim

    def check(self, value: Any) -> Tensor:
        """``base_constraint.check`` of ``value`` against each component, all of them."""
        v = _t(value)
        if v.dim() < self.event_dim:
            raise ValueError(f"value must have at least {self.event_dim} dimensions, got {v.dim()}")
        result = self.base_constraint.check(v.unsqueeze(-1 - self.event_dim))
        keep = v.dim() - self.event_dim
        return result.reshape(tuple(result.shape[:keep]) + (-1,)).all(-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.base_constraint!r})"


class _Cat(Constraint):
    """The constraints of ``cseq`` on consecutive pieces (of ``lengths``, one each by default)
    along ``dim``, the results concatenated."""

    def __init__(self, cseq: Any, dim: int = 0, lengths: Any = None) -> None:
        self.cseq = list(cseq)
        self.lengths = [1] * len(self.cseq) if lengths is None else list(lengths)
        if len(self.lengths) != len(self.cseq):
            raise ValueError("cat: one length per constraint")
        self.dim = dim

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return any(c.is_discrete for c in self.cseq)

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return max(c.event_dim for c in self.cseq)

    def check(self, value: Any) -> Tensor:
        """Each piece's check, concatenated along ``dim``."""
        v = _t(value)
        pieces = _ops.split(v, self.lengths, self.dim)
        return _ops.cat([c.check(p) for c, p in zip(self.cseq, pieces)], self.dim)


class _Stack(Constraint):
    """The constraints of ``cseq`` on the slices along ``dim`` (one each), the results
    stacked."""

    def __init__(self, cseq: Any, dim: int = 0) -> None:
        self.cseq = list(cseq)
        self.dim = dim

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return any(c.is_discrete for c in self.cseq)

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        dim = max(c.event_dim for c in self.cseq)
        return dim + 1 if self.dim + dim < 0 else dim

    def check(self, value: Any) -> Tensor:
        """Each slice's check, stacked along ``dim``."""
        v = _t(value)
        slices = _ops.unbind(v, self.dim)
        return _ops.stack([c.check(s) for c, s in zip(self.cseq, slices)], self.dim)


dependent = _Dependent()
boolean = _Boolean()
real = _Real()
real_vector = _IndependentConstraint(real, 1)
positive = _GreaterThan(0.0)
nonnegative = _GreaterThanEq(0.0)
unit_interval = _Interval(0.0, 1.0)
simplex = _Simplex()
nonnegative_integer = _IntegerGreaterThan(0)
positive_integer = _IntegerGreaterThan(1)
one_hot = _OneHot()
lower_triangular = _LowerTriangular()
lower_cholesky = _LowerCholesky()
corr_cholesky = _CorrCholesky()
positive_definite = _PositiveDefinite()
positive_semidefinite = _PositiveSemidefinite()
square = _Square()
symmetric = _Symmetric()
greater_than = _GreaterThan
greater_than_eq = _GreaterThanEq
less_than = _LessThan
interval = _Interval
half_open_interval = _HalfOpenInterval
integer_interval = _IntegerInterval
multinomial = _Multinomial
independent = _IndependentConstraint
cat = _Cat
stack = _Stack
