"""The elementwise in-place methods torch code calls: ``exp_``, ``log_``, ``sqrt_``, ``sin_``,
``tanh_``, ``sigmoid_``, ``relu_``, ``neg_``, ``abs_``, ``pow_``, ``floor_``, ``round_``,
``reciprocal_``, ``addcmul_``, ``addcdiv_``, ``lerp_``, ... (``_tensor_methods`` attaches them).

Each is its out-of-place op written back into the tensor, as ``inplace.py``'s are: with nothing
to record, into the tensor's own array (the result cast to its dtype; a float result into an
integer tensor is a RuntimeError naming the op, as torch's "result type Float can't be cast");
otherwise recorded (``inplace._update``). The rounding methods (``floor_``, ``round_``,
``sign_``, ...) keep a graph tensor in the graph with a zero gradient, as torch's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import get_array_module
from .._typing import TensorOrScalar
from ..autograd import Tensor
from . import arithmetic as _ar
from . import math_extra as _mx
from . import special as _sp
from .activations import relu, sigmoid, tanh
from .hyperbolic import acosh, asinh, atanh, cosh, sinh
from .inplace import CopyFrom, _assign, _operand, _records, _update, _write


def _unary_(name: str, op: Callable[[Tensor], Tensor], ufunc: str | None = None) -> Any:
    """The in-place method ``name`` of the out-of-place ``op``; ``ufunc`` the NumPy/CuPy ufunc
    that computes it into a float array directly (the optimiser's plain path, no temporary)."""

    def method(self: Tensor) -> Tensor:
        if _records(self):
            return _update(self, name, op)
        if ufunc is not None and self.dtype.kind in "fc":
            return _write(self, name, getattr(get_array_module(self._data), ufunc))
        return _assign(self, name, op(Tensor._wrap(self._data))._data)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``{op.__name__}`` in place (recorded on a graph tensor, as torch)."
    return method


def _zero_grad_(name: str, op: Callable[..., Tensor]) -> Any:
    """A rounding method in place: on a graph tensor the result stays in the graph with a zero
    gradient, as torch's floor_/round_/sign_."""

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if _records(self):
            return _update(
                self, name, lambda x: CopyFrom.apply(x, op(Tensor._wrap(x._data), *args, **kwargs))
            )
        return _assign(self, name, op(Tensor._wrap(self._data), *args, **kwargs)._data)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``{op.__name__}`` in place (a zero gradient on a graph tensor, as torch)."
    return method


exp_ = _unary_("exp_", _ar.exp, "exp")
log_ = _unary_("log_", _ar.log, "log")
log1p_ = _unary_("log1p_", _ar.log1p, "log1p")
log2_ = _unary_("log2_", _mx.log2, "log2")
log10_ = _unary_("log10_", _mx.log10, "log10")
exp2_ = _unary_("exp2_", _mx.exp2, "exp2")
expm1_ = _unary_("expm1_", _sp.expm1, "expm1")
sqrt_ = _unary_("sqrt_", _ar.sqrt, "sqrt")
rsqrt_ = _unary_("rsqrt_", _ar.rsqrt)
square_ = _unary_("square_", _ar.square, "square")
reciprocal_ = _unary_("reciprocal_", _ar.reciprocal, "reciprocal")
neg_ = _unary_("neg_", _ar.neg)
abs_ = _unary_("abs_", _ar.abs)
sin_ = _unary_("sin_", _ar.sin, "sin")
cos_ = _unary_("cos_", _ar.cos, "cos")
tan_ = _unary_("tan_", _mx.tan, "tan")
asin_ = _unary_("asin_", _mx.asin, "arcsin")
acos_ = _unary_("acos_", _mx.acos, "arccos")
atan_ = _unary_("atan_", _mx.atan, "arctan")
sinh_ = _unary_("sinh_", sinh, "sinh")
cosh_ = _unary_("cosh_", cosh, "cosh")
asinh_ = _unary_("asinh_", asinh, "arcsinh")
acosh_ = _unary_("acosh_", acosh, "arccosh")
atanh_ = _unary_("atanh_", atanh, "arctanh")
tanh_ = _unary_("tanh_", tanh, "tanh")
sigmoid_ = _unary_("sigmoid_", sigmoid)
relu_ = _unary_("relu_", relu)
erf_ = _unary_("erf_", _sp.erf)
erfc_ = _unary_("erfc_", _sp.erfc)
erfinv_ = _unary_("erfinv_", _sp.erfinv)
sinc_ = _unary_("sinc_", _mx.sinc)
deg2rad_ = _unary_("deg2rad_", _mx.deg2rad)
rad2deg_ = _unary_("rad2deg_", _mx.rad2deg)
frac_ = _unary_("frac_", _mx.frac)
floor_ = _zero_grad_("floor_", _ar.floor)
ceil_ = _zero_grad_("ceil_", _ar.ceil)
trunc_ = _zero_grad_("trunc_", _ar.trunc)
sign_ = _zero_grad_("sign_", _ar.sign)


def round_(self: Tensor, *, decimals: int = 0) -> Tensor:
    """``round`` in place (half to even; a zero gradient on a graph tensor, as torch)."""
    return _round_(self, decimals=decimals)


_round_ = _zero_grad_("round_", _ar.round)


def logit_(self: Tensor, eps: float | None = None) -> Tensor:
    """``logit`` in place (recorded on a graph tensor)."""
    if _records(self):
        return _update(self, "logit_", lambda x: _mx.logit(x, eps))
    return _assign(self, "logit_", _mx.logit(Tensor._wrap(self._data), eps)._data)


def _binary_(name: str, op: Callable[..., Tensor]) -> Any:
    """The in-place method ``name`` of the out-of-place ``op(self, *operands, **kwargs)``."""

    def method(self: Tensor, *operands: Any, **kwargs: Any) -> Tensor:
        if _records(self, *operands, *kwargs.values()):
            return _update(self, name, lambda x: op(x, *operands, **kwargs))
        ops = [_operand(self, o) for o in operands]
        ops = [Tensor._wrap(o) if hasattr(o, "shape") else o for o in ops]
        kw = {k: _operand(self, v) for k, v in kwargs.items()}
        return _assign(self, name, op(Tensor._wrap(self._data), *ops, **kw)._data)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``{op.__name__}`` in place (recorded on a graph tensor, as torch)."
    return method


pow_ = _binary_("pow_", _ar.pow)
atan2_ = _binary_("atan2_", _mx.atan2)
arctan2_ = atan2_
hypot_ = _binary_("hypot_", _mx.hypot)
xlogy_ = _binary_("xlogy_", _mx.xlogy)
lerp_ = _binary_("lerp_", _sp.lerp)


def clip_(
    self: Tensor, min: TensorOrScalar | None = None, max: TensorOrScalar | None = None
) -> Tensor:
    """``clamp_`` under NumPy's name."""
    from .inplace import clamp_

    return clamp_(self, min, max)


def addcmul_(
    self: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: TensorOrScalar = 1
) -> Tensor:
    """``self += value * tensor1 * tensor2`` (Adam's second-moment update; recorded on a graph
    tensor)."""
    if _records(self, tensor1, tensor2, value):
        return _update(self, "addcmul_", lambda x: _mx.addcmul(x, tensor1, tensor2, value=value))
    xp = get_array_module(self._data)
    p = xp.multiply(_operand(self, tensor1), _operand(self, tensor2))
    if not (not isinstance(value, Tensor) and value == 1):
        p = p * _operand(self, value)
    return _write(self, "addcmul_", xp.add, p)


def addcdiv_(
    self: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: TensorOrScalar = 1
) -> Tensor:
    """``self += value * tensor1 / tensor2`` (Adam's step; recorded on a graph tensor). Integer
    tensor1 and tensor2 raise RuntimeError, as torch."""
    if _records(self, tensor1, tensor2, value):
        return _update(self, "addcdiv_", lambda x: _mx.addcdiv(x, tensor1, tensor2, value=value))
    t1, t2 = _operand(self, tensor1), _operand(self, tensor2)
    if getattr(t1, "dtype", None) is not None and getattr(t2, "dtype", None) is not None:
        if t1.dtype.kind in "iub" and t2.dtype.kind in "iub":
            _mx.addcdiv(self, Tensor._wrap(t1), Tensor._wrap(t2))  # raises, naming the op
    xp = get_array_module(self._data)
    with np.errstate(all="ignore"):
        q = xp.true_divide(t1, t2)
    if not (not isinstance(value, Tensor) and value == 1):
        q = q * _operand(self, value)
    return _write(self, "addcdiv_", xp.add, q)
