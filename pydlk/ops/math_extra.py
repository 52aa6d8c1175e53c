"""Elementwise math beyond ``arithmetic.py``: the circular functions and their inverses, base-2
and base-10 logs and powers, ``sinc``, ``logit``, ``xlogy``, ``atan2``, ``hypot``, angle
conversions, ``frac``, and the fused ``addcmul`` / ``addcdiv``.

Integer and bool inputs are computed in the default float dtype, as torch computes them
(``torch.tan`` of an int64 tensor is float32; ``_promotion.to_float`` decides). Each op's
gradient follows torch's ``derivatives.yaml``, with a ``backward_graph`` (the same formula as
recorded Tensor ops) for higher derivatives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import get_array_module
from .._typing import Array, TensorOrScalar
from ..autograd import Function, Tensor
from ._helpers import _arr, _cj, _fit, _fit_t, _meta, _o, _quiet, _real_only, _s, _t, _UnaryOp, _xp
from ._promotion import to_float
from .arithmetic import Mul, add, cos, log, mul, reciprocal, rsqrt, sub, trunc, where

# fwd(xp, a) and grad(xp, a): a function of the array module and the array
_ArrayFn = Callable[[Any, Array], Array]
_LN2, _LN10 = math.log(2.0), math.log(10.0)


def _floating(x: Any) -> Any:
    """``x`` (a Tensor or array) in the default float dtype when it is integer or bool, as torch
    computes these ops of integer tensors (``_promotion.to_float``)."""
    return to_float(x)


def _unary(
    name: str, fwd: _ArrayFn, grad: _ArrayFn, graph: Callable[[Tensor], Tensor], doc: str
) -> _UnaryOp:
    """A differentiable elementwise op: ``fwd(xp, a)``, its derivative ``grad(xp, a)``, and the
    derivative as recorded Tensor ops ``graph(x)`` (create_graph=True)."""

    class Op(Function):
        @staticmethod
        @_quiet
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return _o(fwd(get_array_module(a), a))

        @staticmethod
        @_quiet
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            # complex input: g * conj(f'(z)), torch's convention for holomorphic ops
            return (g * _cj(grad(get_array_module(a), a))).astype(g.dtype, copy=False)

        @staticmethod
        @_quiet
        def backward_graph(ctx, inputs, g):
            return g * _cj(graph(inputs[0]))

    Op.__name__ = name.capitalize()

    def op(input: Tensor) -> Tensor:
        return Op.apply(_floating(_t(input)))

    op.__name__, op.__qualname__, op.__doc__ = name, name, doc
    return op


tan: _UnaryOp = _unary(
    "tan",
    lambda xp, a: xp.tan(a),
    lambda xp, a: 1 + xp.tan(a) ** 2,
    lambda x: 1 + tan(x) ** 2,
    "Tangent (radians).",
)
asin = _unary(
    "asin",
    lambda xp, a: xp.arcsin(a),
    lambda xp, a: 1 / xp.sqrt(1 - a * a),
    lambda x: rsqrt(1 - x * x),
    "Inverse sine (nan outside [-1, 1]); also named ``arcsin``.",
)
acos = _unary(
    "acos",
    lambda xp, a: xp.arccos(a),
    lambda xp, a: -1 / xp.sqrt(1 - a * a),
    lambda x: -rsqrt(1 - x * x),
    "Inverse cosine (nan outside [-1, 1]); also named ``arccos``.",
)
atan = _unary(
    "atan",
    lambda xp, a: xp.arctan(a),
    lambda xp, a: 1 / (1 + a * a),
    lambda x: reciprocal(1 + x * x),
    "Inverse tangent; also named ``arctan``.",
)
log2 = _unary(
    "log2",
    lambda xp, a: xp.log2(a),
    lambda xp, a: 1 / (a * _LN2),
    lambda x: reciprocal(x * _LN2),
    "Base-2 logarithm.",
)
log10 = _unary(
    "log10",
    lambda xp, a: xp.log10(a),
    lambda xp, a: 1 / (a * _LN10),
    lambda x: reciprocal(x * _LN10),
    "Base-10 logarithm.",
)
exp2: _UnaryOp = _unary(
    "exp2",
    lambda xp, a: xp.exp2(a),
    lambda xp, a: xp.exp2(a) * _LN2,
    lambda x: exp2(x) * _LN2,
    "``2 ** input``.",
)
arcsin, arccos, arctan = asin, acos, atan


def _sinc_grad(xp: Any, a: Array) -> Array:
    # d/dx sin(pi x)/(pi x) = (cos(pi x) - sinc(x)) / x, and 0 at 0 (sinc is even)
    zero = a == 0
    s = xp.where(zero, 1, a)
    return xp.where(zero, 0, (xp.cos(math.pi * s) - xp.sinc(s)) / s)


def _sinc_graph(x: Tensor) -> Tensor:
    zero = x._data == 0
    s = where(Tensor._wrap(zero), 1.0, x)
    return where(Tensor._wrap(zero), 0.0, (cos(math.pi * s) - sinc(s)) / s)


sinc = _unary(
    "sinc",
    lambda xp, a: xp.sinc(a),
    _sinc_grad,
    _sinc_graph,
    "The normalised sinc, ``sin(pi x) / (pi x)``, 1 at 0 (gradient 0 there).",
)


def deg2rad(input: Tensor) -> Tensor:
    """Degrees to radians (integer input gives the default float dtype, as torch)."""
    return mul(_floating(_t(input)), math.pi / 180.0)


def rad2deg(input: Tensor) -> Tensor:
    """Radians to degrees (integer input gives the default float dtype, as torch)."""
    return mul(_floating(_t(input)), 180.0 / math.pi)


def frac(input: Tensor) -> Tensor:
    """``input - trunc(input)``, the fractional part with input's sign (gradient 1).

    Raises TypeError for integer input (torch has no integer frac)."""
    input = _t(input)
    if input.dtype.kind not in "fc":
        raise TypeError(f"frac: input must be floating point, got {input.dtype}")
    return sub(input, trunc(input))


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """``log(p / (1 - p))``; with ``eps`` the input is clamped to ``[eps, 1 - eps]`` first (and
    gets no gradient where it was clamped), as torch.logit."""
    x = _floating(_t(input))
    if eps is not None:
        x = x.clamp(float(eps), 1.0 - float(eps))
    return log(x / (1 - x))


def _xlogy_array(x: Any, y: Any) -> Any:
    xp = _xp(x, y)
    with np.errstate(all="ignore"):
        r = x * xp.log(y)
    # 0 where x == 0, unless y is nan (torch's rule)
    return _o(xp.where(xp.asarray((x == 0) & ~xp.isnan(y)), 0, r))


class Xlogy(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        ctx.meta = (_meta(x), _meta(y))
        r = _xlogy_array(x, y)
        return r.astype(np.result_type(x, y), copy=False) if hasattr(r, "astype") else r

    @staticmethod
    @_quiet
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        mx, my = ctx.meta
        gx = gy = None
        if ctx.needs_input_grad[0]:  # d/dx = log(y), at x == 0 too (torch's)
            gx = _fit(g * _xp(g).log(y), mx)
        if ctx.needs_input_grad[1]:
            gy = _fit(g * x / y, my)
        return gx, gy

    @staticmethod
    def backward_graph(ctx, inputs, g):
        rx, ry = ctx.saved_tensors
        x = inputs[0] if inputs[0] is not None else rx
        y = inputs[1] if inputs[1] is not None else ry
        mx, my = ctx.meta
        gx = gy = None
        if ctx.needs_input_grad[0]:
            ly = log(y) if isinstance(y, Tensor) else _xp(g._data).log(_xp(g._data).asarray(y))
            gx = _fit_t(g * ly, mx)
        if ctx.needs_input_grad[1]:
            gy = _fit_t(g * x / y, my)
        return gx, gy


def xlogy(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input * log(other)``, 0 where ``input`` is 0 (unless ``other`` is nan), broadcasting;
    either may be a Python number. Integer inputs give the default float dtype, as torch."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = _t(input)
    return Xlogy.apply(_floating(_s(input)), _floating(_s(other)))


class Atan2(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.meta = (_meta(a), _meta(b))
        return _o(get_array_module(a).arctan2(a, b))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ma, mb = ctx.meta
        r = g / (a * a + b * b)  # d/da atan2(a, b) = b / (a^2 + b^2), d/db = -a / (a^2 + b^2)
        return (
            _fit(r * b, ma) if ctx.needs_input_grad[0] else None,
            _fit(-r * a, mb) if ctx.needs_input_grad[1] else None,
        )

    @staticmethod
    def backward_graph(ctx, inputs, g):
        a, b = (i if i is not None else Tensor._wrap(r) for i, r in zip(inputs, ctx.saved_tensors))
        ma, mb = ctx.meta
        r = g / (a * a + b * b)
        return (
            _fit_t(r * b, ma) if ctx.needs_input_grad[0] else None,
            _fit_t(-r * a, mb) if ctx.needs_input_grad[1] else None,
        )


def atan2(input: Tensor, other: Tensor) -> Tensor:
    """The angle of the point ``(other, input)``, in ``(-pi, pi]``, broadcasting; also named
    ``arctan2``. Integer inputs give the default float dtype."""
    _real_only("atan2", input, other)
    return Atan2.apply(_floating(_t(input)), _floating(_t(other)))


arctan2 = atan2


class Hypot(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = _o(get_array_module(a).hypot(a, b))
        ctx.save_for_backward(a, b, out)
        ctx.meta = (_meta(a), _meta(b))
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        ma, mb = ctx.meta
        r = g / out
        return (
            _fit(r * a, ma) if ctx.needs_input_grad[0] else None,
            _fit(r * b, mb) if ctx.needs_input_grad[1] else None,
        )

    @staticmethod
    def backward_graph(ctx, inputs, g):
        ra, rb, _ = ctx.saved_tensors
        a = inputs[0] if inputs[0] is not None else Tensor._wrap(ra)
        b = inputs[1] if inputs[1] is not None else Tensor._wrap(rb)
        ma, mb = ctx.meta
        r = g / hypot(a, b)
        return (
            _fit_t(r * a, ma) if ctx.needs_input_grad[0] else None,
            _fit_t(r * b, mb) if ctx.needs_input_grad[1] else None,
        )


def hypot(input: Tensor, other: Tensor) -> Tensor:
    """``sqrt(input**2 + other**2)`` without overflow, broadcasting.

    Raises TypeError for integer input (torch has no integer hypot)."""
    input, other = _t(input), _t(other)
    for t in (input, other):
        if t.dtype.kind not in "fc":
            raise TypeError(f"hypot: inputs must be floating point, got {t.dtype}")
    return Hypot.apply(input, other)


def addcmul(
    input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: TensorOrScalar = 1
) -> Tensor:
    """``input + value * tensor1 * tensor2``, broadcasting (torch's fused op)."""
    p = Mul.apply(_t(tensor1), _s(_arr(tensor2)) if not isinstance(tensor2, Tensor) else tensor2)
    return add(input, p if _is_one(value) else mul(p, _s(value)))


def addcdiv(
    input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: TensorOrScalar = 1
) -> Tensor:
    """``input + value * tensor1 / tensor2``, broadcasting (torch's fused op, Adam's update).

    Raises RuntimeError for integer tensor1 and tensor2, as torch does."""
    t1, t2 = _t(tensor1), _t(tensor2)
    if t1.dtype.kind in "iub" and t2.dtype.kind in "iub":
        raise RuntimeError(
            "addcdiv: integer division with addcdiv is no longer supported; use "
            "(input + value * tensor1 / tensor2) for a true division"
        )
    q = t1 / t2
    return add(input, q if _is_one(value) else mul(q, _s(value)))


def _is_one(v: Any) -> bool:
    return not isinstance(v, Tensor) and v == 1
