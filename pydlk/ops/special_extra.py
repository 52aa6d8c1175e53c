"""torch.special's functions beyond ``special.py``/``special_more.py``: the scaled and first-order
modified Bessel functions (i0e, i1, i1e), the Bessel functions of both kinds (j0, j1, y0, y1,
k0, k1 and their scaled forms, the spherical j0), ``erfcx``, ``ndtri``, ``log_ndtr``,
``xlog1py``, ``entr``, the Hurwitz ``zeta`` and the regularised incomplete gamma functions
(``gammainc``/``gammaincc``, torch's top-level ``igamma``/``igammac``).

Values come from ``_cephes`` (Cephes' series and rational approximations, in float64 on the
input's own array module, NumPy or CuPy) and are cast back to the input's dtype; integer inputs
give float32, as torch. For float32/float64 arrays i0e, i1, i1e, erfcx, ndtri, log_ndtr and
entr (and i0 in the gradients) are the device's ``special_function`` kernel instead (NumPy:
csrc/special_cephes.cpp, the same algorithms in double, float32 within 2 ulp; CuPy:
pydlk/_cuda/special.py, in double for both dtypes). Gradients
follow torch's derivatives.yaml: ``i0e' = i1e - sgn(x) i0e``,
``i1' = i0 - i1/x``, ``i1e' = i0e - i1e (sgn(x) + 1/x)``, ``erfcx' = 2x erfcx - 2/sqrt(pi)``,
``ndtri' = sqrt(2 pi) exp(ndtri**2/2)``, ``log_ndtr' = exp(-x**2/2 - log_ndtr)/sqrt(2 pi)``,
``entr' = -(1 + log x)``; ``zeta`` is differentiable in ``q`` only
(``-x zeta(x + 1, q)``) and ``gammainc``/``gammaincc`` in their second argument only
(``+-exp((a - 1) log x - x - lgamma a)``): asking for the other gradient raises
NotImplementedError, as torch's "the derivative ... is not implemented". The Bessel functions
of order other than i0/i1 have no gradient in torch, and none here: their results never
require grad.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import get_array_module
from .._typing import Array, TensorOrScalar
from ..autograd import Function, Tensor
from . import _cephes as C
from ._helpers import _fit, _meta, _o, _quiet, _real_only, _t, _xp
from ._promotion import result_type
from .inplace_math import _binary_
from .math_extra import _floating
from .special import _special, _special_or

_ArrayFn = Callable[[Array], Array]


def _f64(a: Array) -> Array:
    return a.astype(np.float64, copy=False)


def _back(r: Array, like: Array) -> Array:
    return _o(r.astype(like.dtype, copy=False))


def _make_unary(
    name: str, fwd: _ArrayFn, grad: Callable[[Array, Array], Array] | None, kernel: bool = False
):
    """A Function computing ``fwd`` in float64; ``grad(x, y)`` the derivative at x (y = fwd(x),
    both float64); without ``grad`` the result does not require grad. ``kernel``: ``name`` is
    one of ``_C.special_function``'s functions, which computes float32/float64 arrays (NumPy, or
    CuPy by its GPU counterpart) in their own dtype (``_special_or``); a float32 forward is then
    recomputed in float64 for the gradient, whose formulas cancel (erfcx' = 2x erfcx -
    2/sqrt(pi) loses 2x^2 of its digits)."""

    def compute(a: Array) -> Array:
        return _special_or(a, name, fwd) if kernel else fwd(_f64(a))

    class Op(Function):
        @staticmethod
        @_quiet
        def forward(ctx, a):
            y = compute(a)
            ctx.save_for_backward(a)
            ctx.y = y if y.dtype == np.float64 else None
            return _back(y, a)

        @staticmethod
        @_quiet
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            assert grad is not None
            x = _f64(a)
            y = ctx.y if ctx.y is not None else compute(x)
            return g * grad(x, y).astype(g.dtype, copy=False)

    Op.__name__ = Op.__qualname__ = name.capitalize()

    def op(input: Tensor) -> Tensor:
        x = _floating(_t(input))
        _real_only(name, x)
        if grad is None:
            with np.errstate(all="ignore"):
                return Tensor._wrap(_back(compute(x._data), x._data))
        return Op.apply(x)

    op.__name__ = op.__qualname__ = name
    return op


def _kernel_or(name: str, fallback: _ArrayFn) -> _ArrayFn:
    """``name`` of a float64 array: the device's ``special_function`` kernel for NumPy and CuPy,
    ``fallback`` else."""
    return lambda x: _special_or(x, name, fallback)


_i0_64 = _kernel_or("i0", C.i0)
_i0e_64 = _kernel_or("i0e", C.i0e)
_i1e_64 = _kernel_or("i1e", C.i1e)


def _sgn(xp: Any, x: Array) -> Array:
    return xp.sign(x)


def _di0e(x: Array, y: Array) -> Array:
    xp = get_array_module(x)
    return _i1e_64(x) - _sgn(xp, x) * y


def _di1(x: Array, y: Array) -> Array:
    xp = get_array_module(x)
    safe = xp.where(x == 0, 1.0, x)
    return xp.where(x == 0, 0.5, _i0_64(x) - y / safe)


def _di1e(x: Array, y: Array) -> Array:
    xp = get_array_module(x)
    safe = xp.where(x == 0, 1.0, x)
    return xp.where(x == 0, 0.5, _i0e_64(x) - y * (_sgn(xp, x) + 1.0 / safe))


def _entr(x: Array) -> Array:
    xp = get_array_module(x)
    r = -x * xp.log(xp.where(x > 0, x, 1.0))
    r = xp.where(x < 0, -xp.inf, r)
    return xp.where(xp.isnan(x), x, r)


def _dentr(x: Array, y: Array) -> Array:
    return -(1.0 + get_array_module(x).log(x))


def _derfcx(x: Array, y: Array) -> Array:
    return 2.0 * x * y - 2.0 / math.sqrt(math.pi)


def _dndtri(x: Array, y: Array) -> Array:
    return math.sqrt(2 * math.pi) * get_array_module(x).exp(y * y / 2)


def _dlog_ndtr(x: Array, y: Array) -> Array:
    return get_array_module(x).exp(-(y + x * x / 2)) / math.sqrt(2 * math.pi)


_i0e = _make_unary("i0e", C.i0e, _di0e, kernel=True)
_i1 = _make_unary("i1", C.i1, _di1, kernel=True)
_i1e = _make_unary("i1e", C.i1e, _di1e, kernel=True)
_erfcx = _make_unary("erfcx", C.erfcx, _derfcx, kernel=True)
_ndtri = _make_unary("ndtri", C.ndtri, _dndtri, kernel=True)
_log_ndtr = _make_unary("log_ndtr", C.log_ndtr, _dlog_ndtr, kernel=True)
_entr_op = _make_unary("entr", _entr, _dentr, kernel=True)


def i0e(input: Tensor) -> Tensor:
    """The exponentially scaled modified Bessel function of order 0, ``exp(-|x|) I0(x)``."""
    return _i0e(input)


def i1(input: Tensor) -> Tensor:
    """The modified Bessel function of the first kind of order 1, ``I1(x)``."""
    return _i1(input)


def i1e(input: Tensor) -> Tensor:
    """The exponentially scaled modified Bessel function of order 1, ``exp(-|x|) I1(x)``."""
    return _i1e(input)


def erfcx(input: Tensor) -> Tensor:
    """The scaled complementary error function ``exp(x**2) erfc(x)``, without its overflow."""
    return _erfcx(input)


def ndtri(input: Tensor) -> Tensor:
    """The inverse of the standard normal distribution function (the normal quantile):
    -inf at 0, inf at 1, NaN outside [0, 1]."""
    return _ndtri(input)


def log_ndtr(input: Tensor) -> Tensor:
    """``log(ndtr(x))``, accurate far into the lower tail (through ``erfcx``)."""
    return _log_ndtr(input)


def entr(input: Tensor) -> Tensor:
    """The elementwise entropy ``-x log x`` (0 at 0, -inf for x < 0)."""
    return _entr_op(input)


def _nondiff(name: str, fwd: _ArrayFn, doc: str) -> Callable[[Tensor], Tensor]:
    op = _make_unary(name, fwd, None)
    op.__doc__ = doc + " No gradient (as torch)."
    op.__module__ = __name__
    return op


bessel_j0 = _nondiff("bessel_j0", C.bessel_j0, "The Bessel function of the first kind, order 0.")
bessel_j1 = _nondiff("bessel_j1", C.bessel_j1, "The Bessel function of the first kind, order 1.")
bessel_y0 = _nondiff("bessel_y0", C.bessel_y0, "The Bessel function of the second kind, order 0.")
bessel_y1 = _nondiff("bessel_y1", C.bessel_y1, "The Bessel function of the second kind, order 1.")
modified_bessel_i0 = _nondiff("modified_bessel_i0", C.i0, "The modified Bessel function I0.")
modified_bessel_i1 = _nondiff("modified_bessel_i1", C.i1, "The modified Bessel function I1.")
modified_bessel_k0 = _nondiff("modified_bessel_k0", C.modified_bessel_k0, "The modified K0.")
modified_bessel_k1 = _nondiff("modified_bessel_k1", C.modified_bessel_k1, "The modified K1.")
scaled_modified_bessel_k0 = _nondiff(
    "scaled_modified_bessel_k0", C.scaled_modified_bessel_k0, "``exp(x) K0(x)``."
)
scaled_modified_bessel_k1 = _nondiff(
    "scaled_modified_bessel_k1", C.scaled_modified_bessel_k1, "``exp(x) K1(x)``."
)
spherical_bessel_j0 = _nondiff(
    "spherical_bessel_j0", C.spherical_bessel_j0, "The spherical Bessel function ``sin(x)/x``."
)


def _pair(input: TensorOrScalar, other: TensorOrScalar) -> tuple[Any, Any, np.dtype]:
    """Both operands as arrays of one floating dtype (torch's promotion; integers give
    float32), on the device of whichever is a Tensor; a Tensor stays a Tensor."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = _t(input)
    dt = result_type(input, other)
    if dt is None or dt.kind not in "f":
        dt = np.dtype(np.float32)
    xp = _xp(*(v._data for v in (input, other) if isinstance(v, Tensor)))

    def conv(v: Any) -> Any:
        _real_only("special", v)
        if isinstance(v, Tensor):
            return v if v.dtype == dt else v.to(dt)
        return xp.asarray(v, dtype=dt)

    return conv(input), conv(other), dt


class _Binary(Function):
    """``fwd(a, b)`` in float64; ``grads(a, b, y)`` -> (d/da or None, d/db or None), None
    meaning torch has no such derivative (NotImplementedError when it is asked for)."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b, name, fwd, grads):
        y = fwd(_f64(a), _f64(b))
        ctx.save_for_backward(a, b)
        ctx.meta = (_meta(a), _meta(b))
        ctx.y, ctx.name, ctx.grads = y, name, grads
        return _back(y, a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        da, db = ctx.grads(_f64(a), _f64(b), ctx.y)
        out: list[Any] = [None, None, None, None, None]
        for i, d in enumerate((da, db)):
            if not ctx.needs_input_grad[i]:
                continue
            if d is None:
                raise NotImplementedError(
                    f"the derivative for '{ctx.name}' with respect to argument {i} "
                    "is not implemented (as in torch)"
                )
            out[i] = _fit(g * d.astype(g.dtype, copy=False), ctx.meta[i])
        return tuple(out)


def _binary(name: str, fwd, grads, input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    a, b, _ = _pair(input, other)
    if not isinstance(a, Tensor):
        a = Tensor._wrap(a)
    return _Binary.apply(a, b, name, fwd, grads)


@_quiet
def _xlog1py_array(x: Array, y: Array) -> Array:
    xp = get_array_module(x)
    r = x * xp.log1p(y)
    return xp.where((x == 0) & ~xp.isnan(y), 0.0, r)


def _xlog1py_grads(x: Array, y: Array, r: Array) -> tuple[Array, Array]:
    xp = get_array_module(x)
    dx = xp.where((x == 0) & (y <= -1), 0.0, xp.log1p(y))
    return dx, x / (y + 1)


def xlog1py(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input * log1p(other)``, 0 where ``input`` is 0 (unless ``other`` is NaN); broadcasting,
    either may be a Python number."""
    return _binary("xlog1py", _xlog1py_array, _xlog1py_grads, input, other)


def _zeta_grads(x: Array, q: Array, r: Array) -> tuple[None, Array]:
    return None, -x * C.zeta(x + 1.0, q)


def zeta(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """The Hurwitz zeta function ``sum_{k>=0} (other + k)**-input`` (the Riemann zeta at
    other = 1). Differentiable in ``other`` only, as torch."""
    return _binary("zeta", C.zeta, _zeta_grads, input, other)


def _gammainc_grads(upper: bool):
    def grads(a: Array, x: Array, r: Array) -> tuple[None, Array]:
        xp = get_array_module(x)
        d = xp.exp((a - 1.0) * xp.log(x) - x - _special(a, "lgamma"))
        return None, -d if upper else d

    return grads


def gammainc(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """The regularised lower incomplete gamma ``P(a, x) = gamma(a, x) / Gamma(a)`` of
    ``a = input``, ``x = other`` (power series or continued fraction, as Cephes).
    Differentiable in ``other`` only, as torch."""
    return _binary("igamma", lambda a, x: C.gammainc(a, x), _gammainc_grads(False), input, other)


def gammaincc(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """The regularised upper incomplete gamma ``Q(a, x) = 1 - P(a, x)``. Differentiable in
    ``other`` only, as torch."""
    return _binary(
        "igammac", lambda a, x: C.gammainc(a, x, upper=True), _gammainc_grads(True), input, other
    )


def igamma(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """torch.igamma: ``gammainc(input, other)``."""
    return gammainc(input, other)


def igammac(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """torch.igammac: ``gammaincc(input, other)``."""
    return gammaincc(input, other)


__all__ = ["igamma", "igammac"]

TENSOR_METHODS: dict[str, Any] = {
    "igamma": igamma,
    "igammac": igammac,
    "igamma_": _binary_("igamma_", igamma),
    "igammac_": _binary_("igammac_", igammac),
}
