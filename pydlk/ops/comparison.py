"""Comparisons and predicates (eq, lt, isnan, isclose, ...), floor division and remainder: no
gradient flows through them, so each returns a tensor outside the graph."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import is_cupy
from .._typing import TensorOrScalar
from ..autograd import Function, Tensor
from ._helpers import (
    _arr,
    _BinaryOp,
    _fit,
    _meta,
    _nograd,
    _nograd_ufunc,
    _o,
    _quiet,
    _real_only,
    _s,
    _t,
    _xp,
    _zero_grad,
)
from ._promotion import promote


def _compare(name: str, ufunc_name: str, symbol: str) -> _BinaryOp:
    ordered = name not in ("eq", "ne")

    def op(input: Tensor, other: TensorOrScalar) -> Tensor:
        a, b = _arr(input), _arr(other)
        if ordered:
            _real_only(name, a, b)
        return _nograd(getattr(_xp(a, b), ufunc_name)(a, b))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Bool tensor: ``input {symbol} other`` per element, broadcasting; no gradient."
    return op


eq = _compare("eq", "equal", "==")
ne = _compare("ne", "not_equal", "!=")
lt = _compare("lt", "less", "<")
le = _compare("le", "less_equal", "<=")
gt = _compare("gt", "greater", ">")
ge = _compare("ge", "greater_equal", ">=")


def _no_integer_zero(op: str, a: Any, b: Any) -> None:
    """torch's RuntimeError for an integer division by zero (NumPy would give 0 silently)."""
    # a Python scalar has no dtype; np.asarray of a CuPy array would raise, so only scalars go there
    kinds = [(v.dtype if hasattr(v, "dtype") else np.asarray(v).dtype).kind for v in (a, b)]
    if all(k in "iub" for k in kinds) and bool(_xp(a, b).any(_xp(a, b).asarray(b) == 0)):
        raise RuntimeError(f"{op}: ZeroDivisionError (an integer divisor is 0)")


@_quiet
def floor_divide(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """Floor division (Python's ``//``) in torch's promoted dtype. No gradient. An integer
    division by zero raises RuntimeError, as torch's."""
    a, b = _promoted("floor_divide", input, other)
    _no_integer_zero("floor_divide", a, b)
    return _nograd(_xp(a, b).floor_divide(a, b))


def _promoted(op: str, input: Any, other: Any) -> tuple[Any, Any]:
    """The operands' arrays in torch's promoted dtype (an int tensor with a Python float is
    float32, not NumPy's float64)."""
    _real_only(op, _arr(input), _arr(other))
    if not isinstance(other, Tensor) and not isinstance(input, Tensor):
        input = _t(input)
    a, b = promote(_s(input), _s(other))
    return _arr(a), _arr(b)


@_quiet
def _rounded_div(input: Any, other: Any, mode: str) -> Tensor:
    """``div`` with ``rounding_mode`` 'trunc' or 'floor', in the operands' promoted dtype."""
    if not isinstance(other, Tensor) and not isinstance(input, Tensor):
        input = _t(input)
    _real_only("div", _arr(input), _arr(other))
    a, b = promote(_s(input), _s(other))
    ra, rb = _arr(a), _arr(b)
    xp = _xp(ra, rb)
    kind = getattr(ra, "dtype", None) or getattr(rb, "dtype", None)
    _no_integer_zero("div", ra, rb)
    if kind is not None and kind.kind in "iub":
        q = xp.floor_divide(ra, rb)
        if mode == "trunc":  # floor rounds a negative inexact quotient one too far down
            q = q + ((xp.remainder(ra, rb) != 0) & ((ra < 0) != (rb < 0)))
            q = q.astype(kind, copy=False)
    else:
        q = xp.floor_divide(ra, rb) if mode == "floor" else xp.trunc(ra / rb)
    return _zero_grad(q, input, other)


class Remainder(Function):
    """``a - floor(a / b) b`` of floating operands; torch's gradients: 1 for ``a``,
    ``-floor(a / b)`` for ``b``."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.meta = (_meta(a), _meta(b))
        return _o(_xp(a, b).remainder(a, b))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = _fit(g, ctx.meta[0]) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            gb = _fit(-g * _xp(g).floor(a / b), ctx.meta[1])
        return ga, gb


@_quiet
def remainder(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """Python's ``%`` (the sign of the divisor), as torch.remainder; floating operands are
    differentiable (d/dinput = 1, d/dother = -floor(input / other), as torch). An integer
    division by zero raises RuntimeError, as torch's."""
    a, b = _promoted("remainder", input, other)
    _no_integer_zero("remainder", a, b)
    dt = getattr(a, "dtype", None) or getattr(b, "dtype", None)
    grad = any(isinstance(v, Tensor) and v.requires_grad for v in (input, other))
    if grad and dt is not None and dt.kind == "f":

        def operand(v: Any, arr: Any) -> Any:  # the Tensor itself (in dt) keeps its graph
            if isinstance(v, Tensor) and v.requires_grad:
                return v if v.dtype == dt else v.to(dt)
            return arr

        return Remainder.apply(operand(input, a), operand(other, b))
    return _nograd(_xp(a, b).remainder(a, b))


def isnan(input: Tensor) -> Tensor:
    """Bool tensor: True where input is NaN."""
    return _nograd_ufunc("isnan", input)


def isinf(input: Tensor) -> Tensor:
    """Bool tensor: True where input is +inf or -inf."""
    return _nograd_ufunc("isinf", input)


def isfinite(input: Tensor) -> Tensor:
    """Bool tensor: True where input is neither inf nor NaN."""
    return _nograd_ufunc("isfinite", input)


def logical_not(input: Tensor) -> Tensor:
    """Bool tensor: True where input is zero (or False)."""
    return _nograd_ufunc("logical_not", input)


def _logical(name: str, ufunc_name: str, word: str) -> _BinaryOp:
    def op(input: Tensor, other: TensorOrScalar) -> Tensor:
        a, b = _arr(input), _arr(other)
        return _nograd(getattr(_xp(a, b), ufunc_name)(a, b))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"Bool tensor: ``input {word} other`` per element, any dtype (nonzero is True), "
        "broadcasting; no gradient."
    )
    return op


logical_and = _logical("logical_and", "logical_and", "and")
logical_or = _logical("logical_or", "logical_or", "or")
logical_xor = _logical("logical_xor", "logical_xor", "xor")


def allclose(
    input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    """True if ``|input - other| <= atol + rtol * |other|`` everywhere (a Python bool)."""
    a, b = _arr(input), _arr(other)
    return bool(_xp(a, b).allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(
    input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Tensor:
    """Bool tensor: ``|input - other| <= atol + rtol * |other|`` per element."""
    a, b = _arr(input), _arr(other)
    return _nograd(_xp(a, b).isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input: Tensor, other: Tensor) -> bool:
    """True if both have the same shape and the same values (a Python bool; NaN is unequal to
    itself, values of different dtypes are compared as numbers, as torch.equal).

    Raises RuntimeError for tensors on different devices.
    """
    a, b = _arr(input), _arr(other)
    if is_cupy(a) != is_cupy(b):
        raise RuntimeError(
            "equal: expected both tensors on the same device, got one on the GPU and one on the "
            "CPU; move one with .to(other.device)"
        )
    return a.shape == b.shape and bool(_xp(a, b).array_equal(a, b))
