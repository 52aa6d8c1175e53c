"""torch's elementwise functions beyond ``arithmetic``/``math_extra``: the aliases torch keeps
(``absolute``, ``divide``, ``greater``, ``arccosh``, ``fix``, ``rsub``, ...), ``fmod``,
``fmax``/``fmin`` (NaN-ignoring), ``copysign``, ``heaviside``, the predicates ``signbit``,
``isposinf``, ``isneginf``, ``isreal``, ``isin``, the integer ops ``gcd``, ``lcm`` and
``bitwise_*``, ``logaddexp``/``logaddexp2``, ``nextafter``, ``ldexp``, ``frexp`` and
``float_power`` (the special functions ``i0``, ``polygamma``, ``mvlgamma`` are in
``special_more``).

Each is written with the array module of its input (NumPy or CuPy). Aliases call the op they
name, so gradients follow it. Where torch has a gradient the op is a ``Function`` with torch's
formula (``derivatives.yaml``); the predicates, integer ops, ``heaviside`` and ``nextafter``
have none, as in torch. An op that torch does not implement for a dtype (bitwise ops of
floats, logaddexp of integers) raises ``TypeError`` naming the op and the dtype (it is also a
``NotImplementedError``, which torch raises there).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .._backend import get_array_module
from .._typing import TensorOrScalar
from ..autograd import Function, Tensor
from . import arithmetic as _ar
from . import comparison as _cmp
from ._helpers import _arr, _fit, _fit_t, _meta, _nograd, _o, _quiet, _real_only, _s, _t, _xp
from ._promotion import promote
from .activations import sigmoid
from .hyperbolic import acosh, asinh, atanh
from .inplace import _assign, _records, _update
from .inplace_math import _binary_, _unary_
from .math_extra import _floating, exp2


class DtypeNotImplementedError(NotImplementedError, TypeError):
    """An op got a dtype torch does not implement it for (``bitwise_and`` of floats, ...):
    torch's NotImplementedError, and a TypeError as pydlk's other dtype errors."""


def _dtype(x: Any) -> Any:
    dt = getattr(x, "dtype", None)
    if dt is not None:
        return dt
    return np.dtype(np.bool_) if isinstance(x, bool) else np.result_type(x)


def _refuse(op: str, x: Any, kinds: str, what: str) -> None:
    dt = _dtype(x)
    if dt.kind not in kinds:
        raise DtypeNotImplementedError(f"{op}: not implemented for {dt} (needs {what} input)")


# -- aliases: torch's other names for ops pydlk has (gradients are the named op's)


def absolute(input: Tensor) -> Tensor:
    """Alias of ``abs``."""
    return _ar.abs(input)


def negative(input: Tensor) -> Tensor:
    """Alias of ``neg``."""
    return _ar.neg(input)


def positive(input: Tensor) -> Tensor:
    """``input`` itself (torch.positive); a bool tensor raises RuntimeError, as torch."""
    input = _t(input)
    if input.dtype == np.bool_:
        raise RuntimeError("positive: the `+` operator, on a bool tensor is not supported")
    return input


def divide(
    input: TensorOrScalar, other: TensorOrScalar, *, rounding_mode: str | None = None
) -> Tensor:
    """Alias of ``div`` (``rounding_mode`` None, 'trunc' or 'floor')."""
    return _ar.div(input, other, rounding_mode=rounding_mode)


def true_divide(dividend: TensorOrScalar, divisor: TensorOrScalar) -> Tensor:
    """Alias of ``div`` without rounding (integer inputs give the default float dtype)."""
    return _ar.div(dividend, divisor)


def multiply(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """Alias of ``mul``."""
    return _ar.mul(input, other)


def subtract(input: TensorOrScalar, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    """Alias of ``sub``: ``input - alpha * other``."""
    return _ar.sub(input, other, alpha=alpha)


def rsub(input: TensorOrScalar, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    """``other - alpha * input`` (``sub`` with its operands swapped)."""
    return _ar.sub(other, input, alpha=alpha)


def greater(input: Tensor, other: TensorOrScalar) -> Tensor:
    """Alias of ``gt``."""
    return _cmp.gt(input, other)


def greater_equal(input: Tensor, other: TensorOrScalar) -> Tensor:
    """Alias of ``ge``."""
    return _cmp.ge(input, other)


def less(input: Tensor, other: TensorOrScalar) -> Tensor:
    """Alias of ``lt``."""
    return _cmp.lt(input, other)


def less_equal(input: Tensor, other: TensorOrScalar) -> Tensor:
    """Alias of ``le``."""
    return _cmp.le(input, other)


def not_equal(input: Tensor, other: TensorOrScalar) -> Tensor:
    """Alias of ``ne``."""
    return _cmp.ne(input, other)


def arccosh(input: Tensor) -> Tensor:
    """Alias of ``acosh``."""
    return acosh(input)


def arcsinh(input: Tensor) -> Tensor:
    """Alias of ``asinh``."""
    return asinh(input)


def arctanh(input: Tensor) -> Tensor:
    """Alias of ``atanh``."""
    return atanh(input)


def fix(input: Tensor) -> Tensor:
    """Alias of ``trunc``."""
    return _ar.trunc(input)


# -- fmod, fmax, fmin, copysign: torch's gradients


def _pair(op: str, input: Any, other: Any, floats: bool = False) -> tuple[Any, Any]:
    """``input`` and ``other`` (Tensors or numbers) cast to torch's result dtype (the default
    float dtype for integers when ``floats``); complex refused."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = _t(input)
    _real_only(op, _arr(input), _arr(other))
    return promote(_s(input), _s(other), floats)


class Fmod(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.meta = (_meta(a), _meta(b))
        return _o(_xp(a, b).fmod(a, b))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        # d/da = 1, d/db = -trunc(a / b) (torch's)
        a, b = ctx.saved_tensors
        ma, mb = ctx.meta
        ga = _fit(g, ma) if ctx.needs_input_grad[0] else None
        gb = _fit(-g * _xp(g).trunc(a / b), mb) if ctx.needs_input_grad[1] else None
        return ga, gb

    @staticmethod
    @_quiet
    def backward_graph(ctx, inputs, g):
        # the derivatives are piecewise constant: g times constants
        a, b = ctx.saved_tensors
        ma, mb = ctx.meta
        ga = _fit_t(g, ma) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            gb = _fit_t(g * Tensor._wrap(-_xp(a, b).trunc(a / b).astype(g.dtype)), mb)
        return ga, gb


def fmod(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """C's ``fmod``: the remainder with the sign of ``input`` (``remainder`` takes the divisor's
    sign), broadcasting. An integer divisor of 0 raises RuntimeError, as torch."""
    a, b = _pair("fmod", input, other)
    ab = _arr(b)
    if _dtype(ab).kind in "iub" and _dtype(_arr(a)).kind in "iub":
        if bool(_xp(ab).any(_xp(ab).asarray(ab) == 0)):
            raise RuntimeError("fmod: ZeroDivisionError (an integer divisor is 0)")
    return Fmod.apply(a, b)


def _fminmax(name: str, ufunc: str, keep_a: Any) -> Any:
    class Op(Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            ctx.meta = (_meta(a), _meta(b))
            return _o(getattr(_xp(a, b), ufunc)(a, b))

        @staticmethod
        def backward(ctx, g):
            # the gradient goes to the operand taken: a where keep_a (ties go to a), else b
            a, b = ctx.saved_tensors
            ma, mb = ctx.meta
            xp = _xp(g)
            ka = keep_a(xp, a, b)
            z = xp.zeros((), g.dtype)
            return (
                _fit(xp.where(ka, g, z), ma) if ctx.needs_input_grad[0] else None,
                _fit(xp.where(ka, z, g), mb) if ctx.needs_input_grad[1] else None,
            )

        @staticmethod
        def backward_graph(ctx, inputs, g):
            a, b = ctx.saved_tensors
            ma, mb = ctx.meta
            ka = keep_a(_xp(a, b), a, b)
            m = Tensor._wrap(_xp(a, b).asarray(ka).astype(g.dtype))
            return (
                _fit_t(g * m, ma) if ctx.needs_input_grad[0] else None,
                _fit_t(g * (1 - m), mb) if ctx.needs_input_grad[1] else None,
            )

    Op.__name__ = name.capitalize()

    def op(input: Tensor, other: Tensor) -> Tensor:
        if not isinstance(other, Tensor) and not hasattr(other, "shape"):
            raise TypeError(f"{name}: other must be a Tensor, got {type(other).__name__}")
        return Op.apply(*_pair(name, _t(input), _t(other)))

    op.__name__ = op.__qualname__ = name
    return op


fmax = _fminmax("fmax", "fmax", lambda xp, a, b: (a >= b) | xp.isnan(b))
fmax.__doc__ = """The elementwise maximum ignoring NaN (NaN only where both are NaN), broadcasting;
the gradient goes to ``input`` at ties, as torch."""
fmin = _fminmax("fmin", "fmin", lambda xp, a, b: (a <= b) | xp.isnan(b))
fmin.__doc__ = """The elementwise minimum ignoring NaN (NaN only where both are NaN), broadcasting;
the gradient goes to ``input`` at ties, as torch."""


class Copysign(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = _o(_xp(a, b).copysign(a, b))
        ctx.save_for_backward(a, out)
        ctx.meta = (_meta(a), _meta(b))
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        # d/da = sign(out) / sign(a), 0 at a == 0; other gets zeros (torch's)
        a, out = ctx.saved_tensors
        ma, mb = ctx.meta
        xp = _xp(g)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = _fit(xp.where(a == 0, 0, g * (out / xp.where(a == 0, 1, a))).astype(g.dtype), ma)
        if ctx.needs_input_grad[1]:
            gb = _fit(xp.zeros_like(g), mb)
        return ga, gb

    @staticmethod
    @_quiet
    def backward_graph(ctx, inputs, g):
        a, out = ctx.saved_tensors
        ma, mb = ctx.meta
        xp = _xp(a, out)
        k = xp.where(a == 0, 0, out / xp.where(a == 0, 1, a))  # -1, 0 or 1: constant
        ga = _fit_t(g * Tensor._wrap(xp.asarray(k).astype(g.dtype)), ma)
        gb = _fit_t(g * 0, mb) if ctx.needs_input_grad[1] else None
        return (ga if ctx.needs_input_grad[0] else None), gb


def copysign(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``|input|`` with the sign of ``other`` (signed zeros count), broadcasting; integer inputs
    give the default float dtype. The gradient reaches ``input`` only (0 where input is 0), as
    torch."""
    return Copysign.apply(*_pair("copysign", input, other, floats=True))


def heaviside(input: Tensor, values: Tensor) -> Tensor:
    """The Heaviside step: 0 where ``input`` < 0 (and NaN), 1 where > 0, ``values`` where 0.
    ``input`` and ``values`` must have one dtype (RuntimeError otherwise, as torch); no gradient."""
    a, v = _arr(input), _arr(values)
    _real_only("heaviside", a, v)
    if _dtype(a) != _dtype(v):
        raise RuntimeError(
            f"heaviside: input ({_dtype(a)}) and values ({_dtype(v)}) must have one dtype "
            "(torch: heaviside is not yet implemented for tensors with different dtypes)"
        )
    xp = _xp(a, v)
    return _nograd(xp.where(a == 0, v, (a > 0).astype(_dtype(a))))


# -- predicates (bool results, no gradient)


def signbit(input: Tensor) -> Tensor:
    """True where the sign bit is set (negative numbers and -0.0); no gradient."""
    a = _arr(_t(input))
    _real_only("signbit", a)
    xp = _xp(a)
    return _nograd(xp.signbit(a) if a.dtype.kind == "f" else a < 0)


def isposinf(input: Tensor) -> Tensor:
    """True where ``input`` is +inf; no gradient."""
    a = _arr(_t(input))
    _real_only("isposinf", a)
    return _nograd(_xp(a).isposinf(a) if a.dtype.kind == "f" else _xp(a).zeros(a.shape, bool))


def isneginf(input: Tensor) -> Tensor:
    """True where ``input`` is -inf; no gradient."""
    a = _arr(_t(input))
    _real_only("isneginf", a)
    return _nograd(_xp(a).isneginf(a) if a.dtype.kind == "f" else _xp(a).zeros(a.shape, bool))


def isreal(input: Tensor) -> Tensor:
    """True where ``input`` has no imaginary part (everywhere for a real tensor)."""
    a = _arr(_t(input))
    xp = _xp(a)
    return _nograd(a.imag == 0 if a.dtype.kind == "c" else xp.ones(a.shape, bool))


def isin(
    elements: TensorOrScalar,
    test_elements: TensorOrScalar,
    *,
    assume_unique: bool = False,
    invert: bool = False,
) -> Tensor:
    """True where an element of ``elements`` is in ``test_elements`` (either may be a number);
    ``invert`` negates it. The shape of ``elements``; no gradient."""
    a, t = _arr(elements), _arr(test_elements)
    xp = _xp(a, t)
    a, t = xp.asarray(a), xp.asarray(t)
    return _nograd(xp.isin(a, t, assume_unique=assume_unique, invert=invert).reshape(a.shape))


# -- integer ops (no gradient)


def _int_op(name: str, ufunc: str, kinds: str, what: str, doc: str) -> Any:
    def op(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
        if not isinstance(input, Tensor) and not isinstance(other, Tensor):
            input = _t(input)
        a, b = (x._data if isinstance(x, Tensor) else x for x in promote(_s(input), _s(other)))
        _refuse(name, a, kinds, what)
        _refuse(name, b, kinds, what)
        return _nograd(getattr(_xp(a, b), ufunc)(a, b))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


gcd = _int_op(
    "gcd", "gcd", "iu", "integer", "The greatest common divisor (non-negative), elementwise."
)
lcm = _int_op(
    "lcm", "lcm", "iu", "integer", "The least common multiple (non-negative), elementwise."
)
bitwise_and = _int_op(
    "bitwise_and", "bitwise_and", "biu", "integer or bool", "Bitwise AND (logical for bool)."
)
bitwise_or = _int_op(
    "bitwise_or", "bitwise_or", "biu", "integer or bool", "Bitwise OR (logical for bool)."
)
bitwise_xor = _int_op(
    "bitwise_xor", "bitwise_xor", "biu", "integer or bool", "Bitwise XOR (logical for bool)."
)


def bitwise_not(input: Tensor) -> Tensor:
    """Bitwise NOT (logical NOT for bool); integer or bool input only."""
    a = _arr(_t(input))
    _refuse("bitwise_not", a, "biu", "integer or bool")
    return _nograd(_xp(a).invert(a))


def _shift(name: str, left: bool) -> Any:
    def op(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
        if not isinstance(input, Tensor) and not isinstance(other, Tensor):
            input = _t(input)
        a, b = (x._data if isinstance(x, Tensor) else x for x in promote(_s(input), _s(other)))
        _refuse(name, a, "iu", "integer")
        _refuse(name, b, "iu", "integer")
        xp = _xp(a, b)
        bits = (a.dtype if hasattr(a, "dtype") else _dtype(b)).itemsize * 8
        s = xp.clip(xp.asarray(b), 0, bits - 1).astype(_dtype(a))
        bb = xp.asarray(b)
        big = (bb < 0) | (bb >= bits)  # shifted out entirely, as torch (C would wrap the count)
        if left:
            r = xp.where(big, 0, xp.left_shift(a, s))
        else:
            r = xp.where(big, xp.where(xp.asarray(a) < 0, -1, 0), xp.right_shift(a, s))
        dt = a.dtype if hasattr(a, "dtype") else _dtype(b)  # promote gave one dtype
        return _nograd(_o(r).astype(dt, copy=False))

    op.__name__ = op.__qualname__ = name
    side = "left" if left else "right (arithmetic, keeping the sign)"
    op.__doc__ = f"``input`` shifted {side} by ``other`` bits; integer inputs only."
    return op


bitwise_left_shift = _shift("bitwise_left_shift", True)
bitwise_right_shift = _shift("bitwise_right_shift", False)


# -- logaddexp, logaddexp2, nextafter, ldexp, frexp, float_power


def _logaddexp(name: str, ufunc: str, base_pow: Any, scale: float) -> Any:
    class Op(Function):
        @staticmethod
        @_quiet
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            ctx.meta = (_meta(a), _meta(b))
            return _o(getattr(_xp(a, b), ufunc)(a, b))

        @staticmethod
        @_quiet
        def backward(ctx, g):
            # d/da = 1 / (1 + base**(b - a)), d/db = 1 / (1 + base**(a - b)) (torch's)
            a, b = ctx.saved_tensors
            ma, mb = ctx.meta
            xp = _xp(g)
            return (
                _fit(g / (1 + base_pow(xp, b - a)), ma) if ctx.needs_input_grad[0] else None,
                _fit(g / (1 + base_pow(xp, a - b)), mb) if ctx.needs_input_grad[1] else None,
            )

        @staticmethod
        def backward_graph(ctx, inputs, g):
            # 1 / (1 + base**(b - a)) = sigmoid(scale * (a - b)), scale = ln(base)
            ra, rb = ctx.saved_tensors
            a = inputs[0] if inputs[0] is not None else ra  # a constant: the raw value
            b = inputs[1] if inputs[1] is not None else rb
            ma, mb = ctx.meta
            d = (a - b) * scale if scale != 1 else a - b
            return (
                _fit_t(g * sigmoid(d), ma) if ctx.needs_input_grad[0] else None,
                _fit_t(g * sigmoid(-d), mb) if ctx.needs_input_grad[1] else None,
            )

    Op.__name__ = name.capitalize()

    def op(input: Tensor, other: Tensor) -> Tensor:
        a, b = _pair(name, _t(input), other)
        _refuse(name, _arr(a), "f", "floating-point")
        return Op.apply(a, b)

    op.__name__ = op.__qualname__ = name
    return op


logaddexp = _logaddexp("logaddexp", "logaddexp", lambda xp, d: xp.exp(d), 1.0)
logaddexp.__doc__ = "``log(exp(input) + exp(other))`` without overflow; floating point only."
logaddexp2 = _logaddexp("logaddexp2", "logaddexp2", lambda xp, d: xp.exp2(d), math.log(2.0))
logaddexp2.__doc__ = "``log2(2**input + 2**other)`` without overflow; floating point only."


def nextafter(input: Tensor, other: Tensor) -> Tensor:
    """The next floating-point value after ``input`` towards ``other``; floating point only,
    no gradient."""
    a, b = (x._data if isinstance(x, Tensor) else x for x in _pair("nextafter", input, other))
    _refuse("nextafter", a, "f", "floating-point")
    return _nograd(_xp(a, b).nextafter(a, b))


def ldexp(input: Tensor, other: Tensor) -> Tensor:
    """``input * 2**other``; integer inputs give the default float dtype. Differentiable in
    both, as torch's ``input * pow(2, other)``."""
    return _ar.mul(_floating(_t(input)), exp2(_t(other)))


class frexp_return(NamedTuple):
    """``(mantissa, exponent)`` as torch.return_types.frexp."""

    mantissa: Tensor
    exponent: Tensor


frexp_return.__name__ = frexp_return.__qualname__ = "frexp"
frexp_return.__module__ = "pydlk.return_types"


class Frexp(Function):
    @staticmethod
    def forward(ctx, a, mantissa, exponent):
        ctx.exponent = exponent
        return mantissa

    @staticmethod
    @_quiet
    def backward(ctx, g):
        # d mantissa / d input = 2**-exponent (torch's grad / exponent.exp2())
        xp = get_array_module(g)
        return g * xp.ldexp(xp.ones_like(g), -ctx.exponent), None, None

    @staticmethod
    @_quiet
    def backward_graph(ctx, inputs, g):
        xp = get_array_module(g._data)
        return g * Tensor._wrap(xp.ldexp(xp.ones_like(g._data), -ctx.exponent)), None, None


def frexp(input: Tensor) -> frexp_return:
    """``(mantissa, exponent)`` with ``input = mantissa * 2**exponent`` and ``|mantissa|`` in
    [0.5, 1) (0 for 0); exponent int32. Floating point only (TypeError otherwise; torch raises
    RuntimeError). The mantissa's gradient is ``grad / 2**exponent``, as torch."""
    input = _t(input)
    a = input._data
    if a.dtype.kind != "f":
        raise TypeError(f"frexp: only supports floating-point dtypes, got {a.dtype}")
    xp = get_array_module(a)
    m, e = xp.frexp(a)
    mantissa = Frexp.apply(input, m, e)
    return frexp_return(mantissa, _nograd(e.astype(np.int32)))


def float_power(input: TensorOrScalar, exponent: TensorOrScalar) -> Tensor:
    """``input ** exponent`` in float64 (complex128 if either is complex), as torch."""

    def up(x: Any) -> Any:
        if isinstance(x, Tensor) or hasattr(x, "dtype"):
            x = _t(x)
            return x.to(np.complex128 if x.dtype.kind == "c" else np.float64)
        return x

    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        input = _t(np.asarray(input, np.float64))
    return _ar.pow(up(input), up(exponent))


# -- in-place methods (torch's Tensor.<name>_), written as pydlk's other in-place ops are


def float_power_(self: Tensor, exponent: TensorOrScalar) -> Tensor:
    """``float_power`` in place: ``self`` must be float64 (or complex128), as torch requires."""
    if self.dtype not in (np.float64, np.complex128):
        raise RuntimeError(
            f"float_power_: the base given to float_power_ has dtype {self.dtype} but the "
            "operation's result requires dtype float64"
        )
    if _records(self, exponent):
        return _update(self, "float_power_", lambda x: float_power(x, exponent))
    return _assign(self, "float_power_", float_power(Tensor._wrap(self._data), exponent)._data)


__all__ = [
    "absolute",
    "negative",
    "positive",
    "divide",
    "true_divide",
    "multiply",
    "subtract",
    "rsub",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "not_equal",
    "arccosh",
    "arcsinh",
    "arctanh",
    "fix",
    "fmod",
    "fmax",
    "fmin",
    "copysign",
    "heaviside",
    "signbit",
    "isposinf",
    "isneginf",
    "isreal",
    "isin",
    "gcd",
    "lcm",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "bitwise_left_shift",
    "bitwise_right_shift",
    "logaddexp",
    "logaddexp2",
    "nextafter",
    "ldexp",
    "frexp",
    "float_power",
]

_SAME = [n for n in __all__ if n not in ("rsub", "isin")]  # torch.Tensor has no rsub or isin
TENSOR_METHODS: dict[str, Any] = {n: globals()[n] for n in _SAME}
TENSOR_METHODS.update(
    {
        "divide_": _binary_("divide_", divide),
        "true_divide_": _binary_("true_divide_", true_divide),
        "multiply_": _binary_("multiply_", multiply),
        "subtract_": _binary_("subtract_", subtract),
        "greater_": _binary_("greater_", greater),
        "greater_equal_": _binary_("greater_equal_", greater_equal),
        "less_": _binary_("less_", less),
        "less_equal_": _binary_("less_equal_", less_equal),
        "not_equal_": _binary_("not_equal_", not_equal),
        "arccosh_": _unary_("arccosh_", arccosh, "arccosh"),
        "arcsinh_": _unary_("arcsinh_", arcsinh, "arcsinh"),
        "arctanh_": _unary_("arctanh_", arctanh, "arctanh"),
        "fmod_": _binary_("fmod_", fmod),
        "copysign_": _binary_("copysign_", copysign),
        "heaviside_": _binary_("heaviside_", heaviside),
        "gcd_": _binary_("gcd_", gcd),
        "lcm_": _binary_("lcm_", lcm),
        "bitwise_and_": _binary_("bitwise_and_", bitwise_and),
        "bitwise_or_": _binary_("bitwise_or_", bitwise_or),
        "bitwise_xor_": _binary_("bitwise_xor_", bitwise_xor),
        "bitwise_not_": _unary_("bitwise_not_", bitwise_not),
        "bitwise_left_shift_": _binary_("bitwise_left_shift_", bitwise_left_shift),
        "bitwise_right_shift_": _binary_("bitwise_right_shift_", bitwise_right_shift),
        "nextafter_": _binary_("nextafter_", nextafter),
        "ldexp_": _binary_("ldexp_", ldexp),
        "float_power_": float_power_,
    }
)
