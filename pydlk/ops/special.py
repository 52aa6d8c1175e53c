"""Special functions and interpolation: erf, erfc, erfinv, expm1, lgamma, digamma, lerp.

erf, erfc, erfinv, lgamma and digamma (and trigamma, digamma's gradient) run in one kernel
per call, ``_C.special_function`` (csrc/special.cpp: the C library's erf, erfc and lgamma,
erfinv and the digamma series written there) or its GPU counterpart (CUDA's erf, erfc, erfinv,
lgamma); they give the input's dtype and agree with torch to about 1e-15 relative in float64
(absolutely near the zeros of lgamma and digamma) and within a few ulp in float32. The same
kernel computes torch.special's Cephes functions (i0, i0e, i1, i1e, erfcx, ndtri, log_ndtr,
entr; csrc/special_cephes.cpp, and pydlk/_cuda/special.py on the GPU): ``_special_or``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .._backend import get_array_module, is_cupy, kernels_for
from .._typing import Array, TensorOrScalar
from ..autograd import Function, Tensor
from ._helpers import _cj, _fit, _fit_t, _meta, _need_float, _o, _quiet, _s, _t, _val
from ._promotion import to_float

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_HALF_SQRT_PI = 0.5 * math.sqrt(math.pi)


def _float_input(input: Tensor) -> Tensor:
    """torch computes these functions of an integer (or bool) tensor in the default float
    dtype (``_promotion.to_float``)."""
    return to_float(_t(input))


def _special(a: Array, name: str) -> Array:
    """``name`` (erf, erfc, erfinv, lgamma, digamma, trigamma) per element by the device's
    kernel (``_C.special_function`` or its GPU counterpart), on a C-contiguous copy if needed."""
    xp = get_array_module(a)
    # ascontiguousarray makes a 0-d array 1-d: the result takes the input's shape back
    return kernels_for(a).special_function(xp.ascontiguousarray(a), name).reshape(a.shape)


def _special_or(a: Array, name: str, fallback: Callable[[Array], Array]) -> Array:
    """``name`` (one of torch.special's Cephes functions: i0, i0e, i1, i1e, erfcx, ndtri,
    log_ndtr, entr) per element: by the device's ``special_function`` kernel in ``a``'s dtype
    where ``a`` is a float32/float64 NumPy or CuPy array (compiled loops, 25-90x faster than the
    float64 array code on the CPU; one kernel launch where the array code launched dozens),
    else ``fallback(a in float64)`` on ``a``'s own module (float16)."""
    if a.dtype in (np.float32, np.float64) and (isinstance(a, np.ndarray) or is_cupy(a)):
        return _special(a, name)
    return fallback(a.astype(np.float64, copy=False))


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
        return g * _cj(out + 1)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g * _cj(expm1(inputs[0]) + 1)


class Lgamma(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(_special(a, "lgamma"))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * _special(a, "digamma")

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g * digamma(inputs[0])


class Digamma(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(_special(a, "digamma"))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * _special(a, "trigamma")


class Erf(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(_special(a, "erf"))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        xp = get_array_module(a)
        return g * (_TWO_OVER_SQRT_PI * xp.exp(-a * a)).astype(a.dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        x = inputs[0]
        return g * (_TWO_OVER_SQRT_PI * (-(x * x)).exp())


class Erfc(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(_special(a, "erfc"))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        xp = get_array_module(a)
        return g * (-_TWO_OVER_SQRT_PI * xp.exp(-a * a)).astype(a.dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        x = inputs[0]
        return g * (-_TWO_OVER_SQRT_PI * (-(x * x)).exp())


class Erfinv(Function):
    @staticmethod
    def forward(ctx, a):
        out = _o(_special(a, "erfinv"))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (y,) = ctx.saved_tensors  # d erfinv(x)/dx = sqrt(pi)/2 exp(erfinv(x)^2)
        xp = get_array_module(y)
        return g * (_HALF_SQRT_PI * xp.exp(y * y)).astype(y.dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        y = erfinv(inputs[0])
        return g * (_HALF_SQRT_PI * (y * y).exp())


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
    """``exp(input) - 1``, accurate for small input (an integer input gives the default float
    dtype)."""
    return Expm1.apply(_float_input(input))


def lgamma(input: Tensor) -> Tensor:
    """``log|Gamma(input)|`` per element (+inf at 0, -1, -2, ...); the gradient is
    ``digamma(input)``."""
    return Lgamma.apply(_float_input(input))


def digamma(input: Tensor) -> Tensor:
    """The derivative of lgamma, ``psi(input)`` (-inf at 0, nan at -1, -2, ...); its gradient
    is the trigamma function. Double backward is not implemented."""
    return Digamma.apply(_float_input(input))


def erf(input: Tensor) -> Tensor:
    """The error function ``2/sqrt(pi) * integral_0^input exp(-t^2) dt`` per element (an integer
    input gives float32); differentiable to any order."""
    return Erf.apply(_float_input(input))


def erfc(input: Tensor) -> Tensor:
    """The complementary error function ``1 - erf(input)``, accurate where erf is near 1."""
    return Erfc.apply(_float_input(input))


def erfinv(input: Tensor) -> Tensor:
    """The inverse of erf on (-1, 1): +-inf at +-1, nan outside; its gradient is
    ``sqrt(pi)/2 * exp(erfinv(input)^2)``."""
    return Erfinv.apply(_float_input(input))


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
