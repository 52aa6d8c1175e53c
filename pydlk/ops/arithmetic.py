"""Elementwise arithmetic and math functions (comparisons and predicates: ``comparison.py``).

The functions torch computes in floating point (exp, log, sqrt, sin, reciprocal, ...) give an
integer or bool tensor's result in the default float dtype, as torch's (``_promotion.to_float``
decides, for every such op of pydlk.ops)."""

from __future__ import annotations

from typing import Any, overload

import numpy as np

from .._backend import get_array_module
from .._typing import Array, TensorOrScalar
from ..autograd import Function, Tensor
from ._helpers import (
    _arr,
    _cj,
    _fit,
    _fit_t,
    _mask_t,
    _meta,
    _nograd,
    _o,
    _quiet,
    _real_only,
    _s,
    _t,
    _val,
    _xp,
    _zero_grad,
    _zero_grad_ufunc,
)
from ._promotion import _cast, float_dtype, promote, result_type, to_float
from .comparison import _rounded_div

# This module defines abs, round and pow under torch's names; inside it the
# Python builtins of those names are reached as _b.abs, _b.sum, ... .


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.meta = (_meta(a), _meta(b))
        return _o(a + b)

    @staticmethod
    def backward(ctx, g):
        ma, mb = ctx.meta
        return (
            _fit(g, ma) if ctx.needs_input_grad[0] else None,
            _fit(g, mb) if ctx.needs_input_grad[1] else None,
        )

    @staticmethod
    def backward_graph(ctx, inputs, g):
        ma, mb = ctx.meta
        return (
            _fit_t(g, ma) if ctx.needs_input_grad[0] else None,
            _fit_t(g, mb) if ctx.needs_input_grad[1] else None,
        )


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.meta = (_meta(a), _meta(b))
        return _o(a - b)

    @staticmethod
    def backward(ctx, g):
        ma, mb = ctx.meta
        return (
            _fit(g, ma) if ctx.needs_input_grad[0] else None,
            _fit(-g, mb) if ctx.needs_input_grad[1] else None,
        )

    @staticmethod
    def backward_graph(ctx, inputs, g):
        ma, mb = ctx.meta
        return (
            _fit_t(g, ma) if ctx.needs_input_grad[0] else None,
            _fit_t(-g, mb) if ctx.needs_input_grad[1] else None,
        )


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        # each factor is kept only for the other's gradient (as torch saves them), so that an
        # in-place op may later take over a tensor that was only scaled (``inplace._update``)
        n = ctx.needs_input_grad
        ctx.save_for_backward(a if n[1] else None, b if n[0] else None)
        ctx.meta = (_meta(a), _meta(b))
        return _o(a * b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ma, mb = ctx.meta
        return (
            _fit(g * _cj(b), ma) if ctx.needs_input_grad[0] else None,
            _fit(g * _cj(a), mb) if ctx.needs_input_grad[1] else None,
        )

    @staticmethod
    def backward_graph(ctx, inputs, g):
        a, b = (_val(i, r) for i, r in zip(inputs, ctx.saved_tensors))
        ma, mb = ctx.meta
        return (
            _fit_t(g * _cj(b), ma) if ctx.needs_input_grad[0] else None,
            _fit_t(g * _cj(a), mb) if ctx.needs_input_grad[1] else None,
        )


class Div(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)  # a: only for b's
        ctx.meta = (_meta(a), _meta(b))
        return _o(a / b)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ma, mb = ctx.meta
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 (conjugated for complex operands)
        return (
            _fit(g / _cj(b), ma) if ctx.needs_input_grad[0] else None,
            _fit(-g * _cj(a / (b * b)), mb) if ctx.needs_input_grad[1] else None,
        )

    @staticmethod
    def backward_graph(ctx, inputs, g):
        a, b = (_val(i, r) for i, r in zip(inputs, ctx.saved_tensors))
        ma, mb = ctx.meta
        return (
            _fit_t(g / _cj(b), ma) if ctx.needs_input_grad[0] else None,
            _fit_t(-g * _cj(a / (b * b)), mb) if ctx.needs_input_grad[1] else None,
        )


class Pow(Function):
    """``a ** b``; either may be a Python scalar."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        out = _o(a**b)
        ctx.save_for_backward(a, b, out)
        ctx.meta = (_meta(a), _meta(b))
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        ma, mb = ctx.meta
        xp = _xp(g)
        da = db = None
        if ctx.needs_input_grad[0]:
            # d/da = b a^(b-1), taken as 0 where b == 0 (as torch does, so 0**0 has gradient 0)
            da = _fit(xp.where(xp.asarray(b == 0), 0, g * _cj(b * a ** (b - 1))), ma)
        if ctx.needs_input_grad[1]:
            # d/db = a^b log a, taken as 0 where a == 0 and b >= 0 (torch's convention)
            la = xp.log(xp.asarray(a, dtype=out.dtype))
            db = _fit(xp.where(xp.asarray((a == 0) & (b >= 0)), 0, g * _cj(out * la)), mb)
        return da, db

    @staticmethod
    def backward_graph(ctx, inputs, g):
        ra, rb, _ = ctx.saved_tensors
        a, b = _val(inputs[0], ra), _val(inputs[1], rb)
        ma, mb = ctx.meta
        xp = _xp(g._data)
        da = db = None
        if ctx.needs_input_grad[0]:  # the same conventions as backward, as recorded ops
            da = _mask_t(g * _cj(b * a ** (b - 1)), xp.asarray(rb != 0))
            da = _fit_t(da, ma)
        if ctx.needs_input_grad[1]:
            la = log(a) if isinstance(a, Tensor) else xp.log(xp.asarray(a, dtype=g.dtype))
            db = _fit_t(_mask_t(g * _cj(a**b * la), ~xp.asarray((ra == 0) & (rb >= 0))), mb)
        return da, db


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return _o(-a)

    @staticmethod
    def backward(ctx, g):
        return -g

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return -g


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(get_array_module(a).abs(a))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        xp = get_array_module(a)
        if a.dtype.kind != "c":
            return g * xp.sign(a)  # 0 at 0, as torch
        # z / |z| with the real quotient first: NumPy's complex sign divides complex numbers
        # (measured 15x slower than |z| itself); 0 at 0 (g / inf), as torch
        r = xp.abs(a)
        return (g / xp.where(r == 0, xp.inf, r)) * a

    @staticmethod
    def backward_graph(ctx, inputs, g):
        (a,) = ctx.saved_tensors
        if a.dtype.kind == "c":  # z / |z| depends on z
            from .complex_ops import sgn

            return g * sgn(inputs[0])
        return g * get_array_module(a).sign(a)


class Exp(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        out = _o(get_array_module(a).exp(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * _cj(out)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g * _cj(exp(inputs[0]))


class Log(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(get_array_module(a).log(a))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / _cj(a)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g / _cj(inputs[0])


class Log1p(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(get_array_module(a).log1p(a))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / _cj(1 + a)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g / _cj(1 + inputs[0])


class Sqrt(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        out = _o(get_array_module(a).sqrt(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2 * _cj(out))

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g / _cj(2 * sqrt(inputs[0]))


class Rsqrt(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        out = _o(1 / get_array_module(a).sqrt(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return -0.5 * g * _cj(out * out * out)  # d x^(-1/2) = -1/2 x^(-3/2)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return -0.5 * g * _cj(rsqrt(inputs[0]) ** 3)


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(get_array_module(a).sin(a))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * _cj(get_array_module(a).cos(a))

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g * _cj(cos(inputs[0]))


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(get_array_module(a).cos(a))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return -g * _cj(get_array_module(a).sin(a))

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return -g * _cj(sin(inputs[0]))


class Square(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(a * a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return 2 * g * _cj(a)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return 2 * g * _cj(inputs[0])


class Reciprocal(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        out = _o(1 / a.astype(float_dtype(a.dtype), copy=False))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return -g * _cj(out * out)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        r = reciprocal(inputs[0])
        return -g * _cj(r * r)


class Clamp(Function):
    """``min(max(x, lo), hi)``; lo and hi are None, Python scalars or arrays.

    Gradients as torch's clamp_backward_min_max: x gets it where lo <= x <= hi, lo where x < lo
    and lo < hi, hi where x > hi or hi < lo.
    """

    @staticmethod
    def forward(ctx, x, lo, hi):
        xp = get_array_module(x)
        ctx.save_for_backward(x, lo, hi)
        ctx.meta = (_meta(x), _meta(lo), _meta(hi))
        out = x
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        if out is x:
            out = x.copy()
        return _o(out)

    @staticmethod
    def backward(ctx, g):
        x, lo, hi = ctx.saved_tensors
        mx, mlo, mhi = ctx.meta
        xp = get_array_module(g)
        dx = dlo = dhi = None
        if ctx.needs_input_grad[0]:
            ok = xp.ones(g.shape, bool)
            if lo is not None:
                ok = ok & (x >= lo)
            if hi is not None:
                ok = ok & (x <= hi)
            dx = _fit(xp.where(ok, g, 0), mx)
        if ctx.needs_input_grad[1]:
            m = x < lo
            if hi is not None:
                m = m & (lo < hi)
            dlo = _fit(xp.where(m, g, 0), mlo)
        if ctx.needs_input_grad[2]:
            m = x > hi
            if lo is not None:
                m = m | (hi < lo)
            dhi = _fit(xp.where(m, g, 0), mhi)
        return dx, dlo, dhi

    @staticmethod
    def backward_graph(ctx, inputs, g):
        # the masks depend only on the forward's values: backward's rule, applied to a Tensor g
        x, lo, hi = ctx.saved_tensors
        mx, mlo, mhi = ctx.meta
        xp = get_array_module(x)
        dx = dlo = dhi = None
        if ctx.needs_input_grad[0]:
            ok = xp.ones(g.shape, bool)
            if lo is not None:
                ok = ok & (x >= lo)
            if hi is not None:
                ok = ok & (x <= hi)
            dx = _fit_t(_mask_t(g, ok), mx)
        if ctx.needs_input_grad[1]:
            m = x < lo if hi is None else (x < lo) & (lo < hi)
            dlo = _fit_t(_mask_t(g, xp.broadcast_to(m, g.shape)), mlo)
        if ctx.needs_input_grad[2]:
            m = x > hi if lo is None else (x > hi) | (hi < lo)
            dhi = _fit_t(_mask_t(g, xp.broadcast_to(m, g.shape)), mhi)
        return dx, dlo, dhi


class Maximum(Function):
    """Elementwise max; a tie splits the gradient in half between the two (as torch)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.meta = (_meta(a), _meta(b))
        return _o(_xp(a, b).maximum(a, b))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _tie_split(ctx, g, a > b, a == b)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        a, b = ctx.saved_tensors
        return _tie_split_t(ctx, g, a > b, a == b)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.meta = (_meta(a), _meta(b))
        return _o(_xp(a, b).minimum(a, b))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _tie_split(ctx, g, a < b, a == b)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        a, b = ctx.saved_tensors
        return _tie_split_t(ctx, g, a < b, a == b)


def _tie_split(ctx: Any, g: Array, a_wins: Array, tie: Array) -> tuple[Array | None, Array | None]:
    xp = get_array_module(g)
    ma, mb = ctx.meta
    half = g * 0.5
    da = db = None
    if ctx.needs_input_grad[0]:
        da = _fit(xp.where(a_wins, g, xp.where(tie, half, 0)), ma)
    if ctx.needs_input_grad[1]:
        db = _fit(xp.where(a_wins, 0, xp.where(tie, half, g)), mb)
    return da, db


def _tie_split_t(
    ctx: Any, g: Tensor, a_wins: Array, tie: Array
) -> tuple[Tensor | None, Tensor | None]:
    """_tie_split on a Tensor g (the masks are constants of the forward)."""
    ma, mb = ctx.meta
    w = a_wins + 0.5 * tie  # a's share of g: 1 where a wins, 1/2 on a tie
    da = _fit_t(g * w.astype(g.dtype), ma) if ctx.needs_input_grad[0] else None
    db = _fit_t(g * (1 - w).astype(g.dtype), mb) if ctx.needs_input_grad[1] else None
    return da, db


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        ctx.meta = (_meta(a), _meta(b))
        return _o(_xp(cond, a, b).where(cond, a, b))

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        ma, mb = ctx.meta
        return (
            None,
            _fit(xp.where(ctx.cond, g, 0), ma) if ctx.needs_input_grad[1] else None,
            _fit(xp.where(ctx.cond, 0, g), mb) if ctx.needs_input_grad[2] else None,
        )

    @staticmethod
    def backward_graph(ctx, inputs, g):
        ma, mb = ctx.meta
        c = get_array_module(g._data).asarray(ctx.cond)
        return (
            None,
            _fit_t(_mask_t(g, c), ma) if ctx.needs_input_grad[1] else None,
            _fit_t(_mask_t(g, ~c), mb) if ctx.needs_input_grad[2] else None,
        )


def add(input: TensorOrScalar, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    """``input + alpha * other``, broadcasting; either may be a Python scalar."""
    if not isinstance(other, Tensor) and not isinstance(input, Tensor):
        input = _t(input)
    a, b = promote(_s(input), _s(other))
    return Add.apply(a, b if alpha == 1 else Mul.apply(b, alpha))


def sub(input: TensorOrScalar, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    """``input - alpha * other``, broadcasting; either may be a Python scalar."""
    if not isinstance(other, Tensor) and not isinstance(input, Tensor):
        input = _t(input)
    a, b = promote(_s(input), _s(other))
    return Sub.apply(a, b if alpha == 1 else Mul.apply(b, alpha))


def mul(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input * other``, elementwise with broadcasting."""
    if not isinstance(other, Tensor) and not isinstance(input, Tensor):
        input = _t(input)
    return Mul.apply(*promote(_s(input), _s(other)))


def div(
    input: TensorOrScalar, other: TensorOrScalar, *, rounding_mode: str | None = None
) -> Tensor:
    """``input / other`` (true division: integer inputs give a float result).

    ``rounding_mode='trunc'`` or ``'floor'`` rounds the quotient toward zero or down; the
    result keeps the promoted dtype of the operands (int64 for int64 inputs), and its gradient
    is zero, as torch's. Raises ValueError for any other rounding_mode.
    """
    if rounding_mode is not None:
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(
                f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}"
            )
        return _rounded_div(input, other, rounding_mode)
    if not isinstance(other, Tensor) and not isinstance(input, Tensor):
        input = _t(input)
    return Div.apply(*promote(_s(input), _s(other), True))


def pow(input: TensorOrScalar, exponent: TensorOrScalar) -> Tensor:
    """``input ** exponent``; either may be a Python scalar. The gradient is taken as 0 where
    the exponent is 0 (for input) and where input is 0 (for exponent), as torch does.
    """
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        input = _t(input)
    return Pow.apply(*promote(_s(input), _s(exponent)))


def neg(input: Tensor) -> Tensor:
    """``-input``."""
    return Neg.apply(_t(input))


def abs(input: Tensor) -> Tensor:
    """Absolute value; the gradient at 0 is 0, as in torch."""
    return Abs.apply(_t(input))


def exp(input: Tensor) -> Tensor:
    """``e ** input``."""
    return Exp.apply(to_float(_t(input)))


def log(input: Tensor) -> Tensor:
    """Natural logarithm (``-inf`` at 0, ``nan`` below it)."""
    return Log.apply(to_float(_t(input)))


def log1p(input: Tensor) -> Tensor:
    """``log(1 + input)``, accurate for small input."""
    return Log1p.apply(to_float(_t(input)))


def sqrt(input: Tensor) -> Tensor:
    """Square root (``nan`` below 0)."""
    return Sqrt.apply(to_float(_t(input)))


def rsqrt(input: Tensor) -> Tensor:
    """``1 / sqrt(input)``."""
    return Rsqrt.apply(to_float(_t(input)))


def sin(input: Tensor) -> Tensor:
    """Sine (radians)."""
    return Sin.apply(to_float(_t(input)))


def cos(input: Tensor) -> Tensor:
    """Cosine (radians)."""
    return Cos.apply(to_float(_t(input)))


def square(input: Tensor) -> Tensor:
    """``input * input`` (a bool tensor gives int64, as torch's ``pow(input, 2)``)."""
    x = _t(input)
    return Square.apply(x.to(np.int64) if x.dtype == np.bool_ else x)


def reciprocal(input: Tensor) -> Tensor:
    """``1 / input``."""
    return Reciprocal.apply(to_float(_t(input)))


def sign(input: Tensor) -> Tensor:
    """-1, 0 or 1 per element; a zero gradient (recorded when input requires grad), as torch.
    Complex input raises, as torch (``sgn`` is its complex counterpart)."""
    _real_only("sign", input)
    a = _arr(input)
    if a.dtype == np.bool_:  # torch: a bool tensor's sign is itself (True is 1, False 0)
        return _nograd(a.copy())
    return _zero_grad_ufunc("sign", input)


def floor(input: Tensor) -> Tensor:
    """Round down to an integer value. The gradient is zero everywhere (the result is
    recorded when input requires grad, as torch's); likewise ceil, round, trunc."""
    _real_only("floor", input)
    return _zero_grad_ufunc("floor", input)


def ceil(input: Tensor) -> Tensor:
    """Round up to an integer value; a zero gradient."""
    _real_only("ceil", input)
    return _zero_grad_ufunc("ceil", input)


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Round half to even, to ``decimals`` places (as torch.round); a zero gradient."""
    a = _arr(input)
    _real_only("round", a)
    return _zero_grad(_xp(a).round(a, decimals), input)


def trunc(input: Tensor) -> Tensor:
    """Round toward zero; a zero gradient."""
    _real_only("trunc", input)
    return _zero_grad_ufunc("trunc", input)


def clamp(
    input: Tensor, min: TensorOrScalar | None = None, max: TensorOrScalar | None = None
) -> Tensor:
    """Limit input to ``[min, max]``; either bound may be None. Also named ``clip``.

    The result has torch's promoted dtype of input and bounds (an integer tensor with float
    bounds gives the default float dtype; a 0-d tensor bound does not widen a float input).
    The gradient passes where the input lies inside the bounds.
    Raises ValueError if both min and max are None.
    """
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    _real_only("clamp", input, min, max)
    x, lo, hi = _t(input), _s(min), _s(max)
    dt = result_type(x, lo, hi)  # an int tensor with float bounds: the default float dtype
    if dt is not None:
        x, lo, hi = (_cast(v, dt) for v in (x, lo, hi))
    return Clamp.apply(x, lo, hi)


clip = clamp


def clamp_min(input: Tensor, min: TensorOrScalar) -> Tensor:
    """``clamp(input, min=min)``: limit input from below."""
    return clamp(input, min=min)


def clamp_max(input: Tensor, max: TensorOrScalar) -> Tensor:
    """``clamp(input, max=max)``: limit input from above."""
    return clamp(input, max=max)


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum of two tensors (ties split the gradient evenly, as torch)."""
    _real_only("maximum", input, other)
    return Maximum.apply(*promote(_t(input), _s(other)))


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum of two tensors (ties split the gradient evenly, as torch)."""
    _real_only("minimum", input, other)
    return Minimum.apply(*promote(_t(input), _s(other)))


@overload
def where(condition: Tensor) -> tuple[Tensor, ...]: ...
@overload
def where(condition: Tensor, input: TensorOrScalar, other: TensorOrScalar) -> Tensor: ...
def where(
    condition: Tensor, input: TensorOrScalar | None = None, other: TensorOrScalar | None = None
) -> Tensor | tuple[Tensor, ...]:
    """``where(cond, a, b)``: a where cond, else b (gradients flow to a and b).
    ``where(cond)``: the indices of the true elements, as ``nonzero(as_tuple=True)``."""
    c = _arr(condition)
    if input is None and other is None:
        return tuple(_nograd(i.astype(np.int64)) for i in _xp(c).nonzero(c))
    if getattr(c, "dtype", None) != np.bool_:
        raise TypeError(
            f"where: condition must be a bool tensor, got {getattr(c, 'dtype', type(c).__name__)}"
        )
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = _t(input)
    return Where.apply(c, *promote(_s(input), _s(other)))


def masked_fill(input: Tensor, mask: Tensor | np.ndarray, value: TensorOrScalar) -> Tensor:
    """``value`` where ``mask`` (bool, broadcastable to input) is True, else input. The gradient
    flows to input where the mask is False (and to value, if it is a tensor, where True)."""
    input = _t(input)
    m = _arr(mask)
    if getattr(m, "dtype", None) != np.bool_:
        raise TypeError(
            f"masked_fill: mask must be a bool tensor, got {getattr(m, 'dtype', type(m).__name__)}"
        )
    if np.broadcast_shapes(m.shape, input.shape) != input.shape:
        raise ValueError(
            f"masked_fill: mask of shape {m.shape} does not broadcast to the "
            f"input's shape {input.shape}"
        )
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(
            f"masked_fill: value must be a scalar or a 0-d tensor, got shape {value.shape}"
        )
    if not isinstance(value, Tensor):  # a scalar takes the input's dtype, as in torch
        value = _xp(input._data).asarray(_s(value), dtype=input.dtype)
    return Where.apply(m, value, input)
