"""Special functions and interpolation: expm1, lgamma, digamma, lerp.

lgamma and digamma are computed with array operations of NumPy or CuPy (no SciPy, no host copy):
lgamma by Lanczos' approximation (g = 7, 9 terms) with the reflection formula below 1/2,
digamma by the recurrence up to 10 and the asymptotic series, with the reflection formula below
1/2. Both compute in float64 and give the input's dtype; they agree with torch to about 1e-13
in float64 (absolutely, near the zeros of lgamma at 1 and 2).
"""

from __future__ import annotations

import math

import numpy as np

from .._backend import get_array_module
from .._typing import Array, TensorOrScalar
from ..autograd import Function, Tensor
from ._helpers import _fit, _fit_t, _meta, _need_float, _o, _quiet, _s, _t, _val

_LANCZOS = (
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _float_input(input: Tensor) -> Tensor:
    """torch computes these functions of an integer (or bool) tensor in float32."""
    input = _t(input)
    return input if input.dtype.kind in "fc" else input.to(np.float32)


def _lgamma_array(a: Array) -> Array:
    xp = get_array_module(a)
    x = a.astype(np.float64)
    small = x < 0.5
    z = xp.where(small, 1.0 - x, x) - 1.0  # Lanczos' series is for z + 1 >= 1/2
    s = xp.full(z.shape, _LANCZOS[0])
    for k in range(1, 9):
        s = s + _LANCZOS[k] / (z + k)
    t = z + 7.5
    big = _HALF_LOG_2PI + (z + 0.5) * xp.log(t) - t + xp.log(s)
    # lgamma(x) = log(pi / |sin(pi x)|) - lgamma(1 - x); +inf at 0, -1, -2, ...
    refl = math.log(math.pi) - xp.log(xp.abs(xp.sin(math.pi * x))) - big
    out = xp.where(small, refl, big)
    out = xp.where(xp.isinf(x) | ((x <= 0) & (x == xp.floor(x))), xp.inf, out)
    return out.astype(a.dtype, copy=False)


def _digamma_array(a: Array) -> Array:
    xp = get_array_module(a)
    x = a.astype(np.float64)
    small = x < 0.5
    y = xp.where(small, 1.0 - x, x)
    acc = xp.zeros(y.shape)
    for _ in range(10):  # psi(y) = psi(y + 1) - 1/y until y >= 10
        low = y < 10
        acc = xp.where(low, acc - 1.0 / y, acc)
        y = xp.where(low, y + 1.0, y)
    r = 1.0 / (y * y)
    series = r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * (1 / 240 - r / 132))))
    out = acc + xp.log(y) - 0.5 / y - series
    # psi(x) = psi(1 - x) - pi / tan(pi x); the poles at 0, -1, -2, ... give nan or inf
    out = xp.where(small, out - math.pi / xp.tan(math.pi * x), out)
    out = xp.where(x == 0, -xp.inf, out)
    out = xp.where((x < 0) & (x == xp.floor(x)), xp.nan, out)
    return out.astype(a.dtype, copy=False)


def _trigamma_array(a: Array) -> Array:
    xp = get_array_module(a)
    x = a.astype(np.float64)
    small = x < 0.5
    y = xp.where(small, 1.0 - x, x)
    acc = xp.zeros(y.shape)
    for _ in range(10):  # psi1(y) = psi1(y + 1) + 1/y^2 until y >= 10
        low = y < 10
        acc = xp.where(low, acc + 1.0 / (y * y), acc)
        y = xp.where(low, y + 1.0, y)
    r = 1.0 / (y * y)
    series = (1.0 + 0.5 / y + r * (1 / 6 - r * (1 / 30 - r * (1 / 42 - r / 30)))) / y
    out = acc + series
    # psi1(x) = pi^2 / sin^2(pi x) - psi1(1 - x)
    out = xp.where(small, (math.pi / xp.sin(math.pi * x)) ** 2 - out, out)
    return out.astype(a.dtype, copy=False)


class Expm1(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        out = _o(get_array_module(a).expm1(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out + 1)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g * (expm1(inputs[0]) + 1)


class Lgamma(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(_lgamma_array(a))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * _digamma_array(a)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g * digamma(inputs[0])


class Digamma(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(_digamma_array(a))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * _trigamma_array(a)


class Lerp(Function):
    """``start + weight * (end - start)``, computed as torch does (from ``end`` where
    ``|weight| >= 1/2``, so that ``weight == 1`` gives ``end`` exactly)."""

    @staticmethod
    def forward(ctx, start, end, weight):
        xp = get_array_module(start)
        ctx.save_for_backward(start, end, weight)
        ctx.meta = (_meta(start), _meta(end), _meta(weight))
        d = end - start
        if isinstance(weight, (int, float)):
            out = start + weight * d if abs(weight) < 0.5 else end - d * (1 - weight)
        else:
            out = xp.where(xp.abs(weight) < 0.5, start + weight * d, end - d * (1 - weight))
        return _o(out.astype(start.dtype, copy=False))

    @staticmethod
    def backward(ctx, g):
        start, end, weight = ctx.saved_tensors
        ms, me, mw = ctx.meta
        n = ctx.needs_input_grad
        return (
            _fit(g * (1 - weight), ms) if n[0] else None,
            _fit(g * weight, me) if n[1] else None,
            _fit(g * (end - start), mw) if n[2] else None,
        )

    @staticmethod
    def backward_graph(ctx, inputs, g):
        rs, re, rw = ctx.saved_tensors
        start, end, weight = (_val(i, r) for i, r in zip(inputs, (rs, re, rw)))
        ms, me, mw = ctx.meta
        n = ctx.needs_input_grad
        return (
            _fit_t(g * (1 - weight), ms) if n[0] else None,
            _fit_t(g * weight, me) if n[1] else None,
            _fit_t(g * (end - start), mw) if n[2] else None,
        )


def expm1(input: Tensor) -> Tensor:
    """``exp(input) - 1``, accurate for small input (an integer input gives float32)."""
    return Expm1.apply(_float_input(input))


def lgamma(input: Tensor) -> Tensor:
    """``log|Gamma(input)|`` per element (+inf at 0, -1, -2, ...); the gradient is
    ``digamma(input)``. Computed without SciPy (see this module's docstring)."""
    return Lgamma.apply(_float_input(input))


def digamma(input: Tensor) -> Tensor:
    """The derivative of lgamma, ``psi(input)`` (-inf at 0, nan at -1, -2, ...); its gradient
    is the trigamma function. Double backward is not implemented."""
    return Digamma.apply(_float_input(input))


def lerp(input: Tensor, end: Tensor, weight: TensorOrScalar) -> Tensor:
    """Linear interpolation ``input + weight * (end - input)``, broadcasting; ``weight`` is a
    Python number or a tensor. Differentiable in all three.

    Raises TypeError unless input is floating point and end (and a tensor weight) has its dtype.
    """
    input = _t(input)
    _need_float(input, "lerp")
    end = end if isinstance(end, Tensor) else _t(get_array_module(input._data).asarray(end))
    if end.dtype != input.dtype:
        raise TypeError(f"lerp: expected end of dtype {input.dtype}, got {end.dtype}")
    if isinstance(weight, Tensor) and weight.dtype != input.dtype:
        raise TypeError(
            f"lerp: expected a weight tensor of dtype {input.dtype}, got {weight.dtype}"
        )
    return Lerp.apply(input, end, _s(weight))
