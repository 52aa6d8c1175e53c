"""Special functions torch has at its top level beyond ``special``: ``i0`` (the modified Bessel
function of order 0), ``polygamma(n, x)`` and ``mvlgamma(x, p)`` (the multivariate log-gamma).

``polygamma`` of order 0 and 1 is the device's ``digamma``/``trigamma`` kernel
(``special._special``); higher orders are ``(-1)**(n+1) n! zeta(n+1, x)`` with the Hurwitz zeta
of Cephes (a direct sum up to 9 then the Euler-Maclaurin tail), written with the array module
in float64 so that it runs on NumPy and CuPy alike; results are cast back to the input's dtype.
``i0`` and its gradient ``i1`` are ``_C.special_function``'s compiled loops for NumPy
float32/float64 arrays (csrc/special_cephes.cpp), the array module's ``i0`` and ``_cephes.i1``
in float64 else. Integer inputs are computed in the default float dtype, as torch.
Gradients: ``i0' = i1``, ``polygamma(n)' = polygamma(n + 1)``, ``mvlgamma`` through ``lgamma``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._backend import get_array_module
from .._typing import Array
from ..autograd import Function, Tensor
from . import _cephes
from ._helpers import _o, _quiet, _real_only, _t
from .arithmetic import sub
from .inplace_math import _binary_, _unary_
from .math_extra import _floating
from .reductions import sum as _sum
from .shape import unsqueeze
from .special import _special, _special_or, lgamma


@_quiet
def _zeta(s: float, q: Array) -> Array:
    """The Hurwitz zeta ``sum_k (q + k)**-s`` for an integer s > 1, per element of the float64
    array ``q`` (Cephes' zeta, ``_cephes.zeta``: inf at the poles q = 0, -1, ...)."""
    return _cephes.zeta(get_array_module(q).full_like(q, s), q)


def _polygamma_array(n: int, a: Array) -> Array:
    if n == 0:
        return _special(a, "digamma")
    if n == 1:
        return _special(a, "trigamma")
    z = _zeta(float(n + 1), a.astype(np.float64))
    return (((-1.0) ** (n + 1)) * math.factorial(n) * z).astype(a.dtype, copy=False)


class Polygamma(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a, n):
        ctx.save_for_backward(a)
        ctx.n = n
        return _o(_polygamma_array(n, a))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * _polygamma_array(ctx.n + 1, a), None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g * polygamma(ctx.n + 1, inputs[0]), None


def polygamma(n: int, input: Tensor) -> Tensor:
    """The n-th derivative of ``digamma`` (n = 0 is digamma itself). ``n`` must be a
    non-negative int (ValueError otherwise; torch raises RuntimeError)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"polygamma: n must be an int, got {n!r}")
    if n < 0:
        raise ValueError(
            f"polygamma: n must be non-negative, got {n} (torch: does not support negative n)"
        )
    input = _floating(_t(input))
    _real_only("polygamma", input)
    return Polygamma.apply(input, int(n))


@_quiet
def _i1(a: Array) -> Array:
    """The modified Bessel function of order 1, in float64 (the device's ``special_function``
    kernel for NumPy and CuPy, ``_cephes.i1`` else)."""
    return _special_or(a.astype(np.float64, copy=False), "i1", _cephes.i1)


def _i0(a: Array) -> Array:
    """The modified Bessel function of order 0 in ``a``'s dtype (the device's
    ``special_function`` kernel) for NumPy or CuPy float32/float64, else in float64 (the array
    module's ``i0``)."""
    return _special_or(a, "i0", get_array_module(a).i0)


class I0(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(_i0(a).astype(a.dtype, copy=False))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * _i1(a).astype(g.dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g * I1.apply(inputs[0])


class I1(Function):
    """The modified Bessel function of order 1 (i0's derivative, for its second derivative)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(_i1(a).astype(a.dtype, copy=False))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        # i1'(x) = i0(x) - i1(x) / x, 1/2 at 0
        (a,) = ctx.saved_tensors
        xp = get_array_module(a)
        x = a.astype(np.float64)
        safe = xp.where(x == 0, 1.0, x)
        d = xp.where(x == 0, 0.5, _i0(x) - _i1(x) / safe)
        return g * d.astype(g.dtype, copy=False)


def i0(input: Tensor) -> Tensor:
    """The modified Bessel function of the first kind of order 0 (gradient ``i1``); integer
    input gives the default float dtype."""
    input = _floating(_t(input))
    _real_only("i0", input)
    return I0.apply(input)


def mvlgamma(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma of dimension ``p``:
    ``sum_{i<p} lgamma(input - i/2) + p(p-1)/4 log(pi)`` (differentiable through lgamma)."""
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1:
        raise ValueError(f"mvlgamma: p must be an int >= 1, got {p!r}")
    x = _floating(_t(input))
    xp = get_array_module(x._data)
    half = Tensor._wrap(xp.arange(int(p), dtype=x.dtype) / 2)
    r = _sum(lgamma(sub(unsqueeze(x, -1), half)), dim=-1)
    return r + float(p * (p - 1) / 4 * math.log(math.pi))


def _method_polygamma(self: Tensor, n: int) -> Tensor:
    """``polygamma(n, self)`` (torch's method order: n first)."""
    return polygamma(n, self)


def _polygamma_(self: Tensor, n: int) -> Tensor:
    """``polygamma(n, self)`` in place."""
    return _polygamma_inplace(self, n)


_polygamma_inplace = _binary_("polygamma_", lambda x, n: polygamma(n, x))


def _method_any(fn: Any, name: str) -> Any:
    fn.__name__ = fn.__qualname__ = name
    return fn


__all__ = ["i0", "polygamma", "mvlgamma"]

TENSOR_METHODS: dict[str, Any] = {
    "i0": i0,
    "polygamma": _method_any(_method_polygamma, "polygamma"),
    "mvlgamma": mvlgamma,
    "i0_": _unary_("i0_", i0),
    "polygamma_": _method_any(_polygamma_, "polygamma_"),
    "mvlgamma_": _binary_("mvlgamma_", mvlgamma),
}
