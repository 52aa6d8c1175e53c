"""Activations offered as torch offers them (torch.relu(x), x.relu()). They are implemented in
pydlk.functional, which is imported when one is first called: functional builds on ops, so ops
never imports functional at load time (no import cycle)."""

from __future__ import annotations

from types import ModuleType

from .._typing import DTypeLike
from ..autograd import Tensor
from ._helpers import _axis_alias


def _F() -> ModuleType:
    from .. import functional

    return functional


def relu(input: Tensor) -> Tensor:
    """``max(input, 0)``, as ``pydlk.nn.functional.relu``."""
    return _F().relu(input)


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + exp(-input))``, as ``pydlk.nn.functional.sigmoid``."""
    from .complex_ops import _complex_activation

    out = _complex_activation("sigmoid", input)
    return _F().sigmoid(input) if out is None else out


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent, as ``pydlk.nn.functional.tanh``."""
    from .complex_ops import _complex_activation

    out = _complex_activation("tanh", input)
    return _F().tanh(input) if out is None else out


@_axis_alias
def softmax(input: Tensor, dim: int, dtype: DTypeLike | None = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim`` (computed stably); ``dtype`` casts first."""
    return (
        _F().softmax(input, dim=dim, dtype=dtype)
        if dtype is not None
        else _F().softmax(input, dim=dim)
    )


@_axis_alias
def log_softmax(input: Tensor, dim: int, dtype: DTypeLike | None = None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``; more accurate than ``log(softmax(x))``."""
    return (
        _F().log_softmax(input, dim=dim, dtype=dtype)
        if dtype is not None
        else _F().log_softmax(input, dim=dim)
    )
