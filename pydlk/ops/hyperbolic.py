"""Hyperbolic functions and their inverses: elementwise ops defined by a value and a derivative."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._backend import get_array_module
from .._typing import Array
from ..autograd import Function, Tensor
from ._helpers import _cj, _o, _quiet, _t, _UnaryOp
from ._promotion import to_float

# fwd(xp, a) and grad(xp, a): a function of the array module and the array
_ArrayFn = Callable[[Any, Array], Array]


def _unary(
    name: str, fwd: _ArrayFn, grad: _ArrayFn, doc: str, graph: Callable[[Tensor], Tensor]
) -> _UnaryOp:
    """A differentiable elementwise op: ``fwd(xp, a)`` and its derivative ``grad(xp, a)``;
    ``graph(x)`` the same derivative as recorded Tensor ops (create_graph=True)."""

    class Op(Function):
        @staticmethod
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

    @_quiet
    def op(input: Tensor) -> Tensor:
        input = _t(input)
        return Op.apply(to_float(input))  # an integer tensor: in the default float dtype

    op.__name__, op.__qualname__, op.__doc__ = name, name, doc
    return op


def _cosh_t(x: Tensor) -> Tensor:  # sinh's derivative, recorded (cosh is defined below)
    return cosh(x)


def _sinh_t(x: Tensor) -> Tensor:
    return sinh(x)


sinh: _UnaryOp = _unary(
    "sinh",
    lambda xp, a: xp.sinh(a),
    lambda xp, a: xp.cosh(a),
    "Hyperbolic sine.",
    _cosh_t,
)
cosh: _UnaryOp = _unary(
    "cosh",
    lambda xp, a: xp.cosh(a),
    lambda xp, a: xp.sinh(a),
    "Hyperbolic cosine.",
    _sinh_t,
)
asinh: _UnaryOp = _unary(
    "asinh",
    lambda xp, a: xp.arcsinh(a),
    lambda xp, a: 1 / xp.sqrt(a * a + 1),
    "Inverse hyperbolic sine.",
    lambda x: (x * x + 1).rsqrt(),
)
acosh: _UnaryOp = _unary(
    "acosh",
    lambda xp, a: xp.arccosh(a),
    lambda xp, a: 1 / (xp.sqrt(a - 1) * xp.sqrt(a + 1)),
    "Inverse hyperbolic cosine (nan below 1).",
    lambda x: 1 / ((x - 1).sqrt() * (x + 1).sqrt()),
)
atanh: _UnaryOp = _unary(
    "atanh",
    lambda xp, a: xp.arctanh(a),
    lambda xp, a: 1 / (1 - a * a),
    "Inverse hyperbolic tangent (nan outside [-1, 1]).",
    lambda x: 1 / (1 - x * x),
)
