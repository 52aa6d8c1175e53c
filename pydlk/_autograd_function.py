"""torch.autograd.function's names and torch's deprecated ``Variable``.

``pydlk.autograd.function`` is this module (registered in ``sys.modules`` by
``pydlk/autograd.py``), so that ``from pydlk.autograd.function import Function,
once_differentiable, FunctionCtx`` works as in torch. ``Variable`` is reached as
``pydlk.autograd.Variable`` and ``pydlk.autograd.variable.Variable``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from ._grad_mode import is_grad_enabled, no_grad
from .autograd import Context, Function, Tensor

__all__ = ["Function", "FunctionCtx", "Variable", "once_differentiable"]

_F = TypeVar("_F", bound=Callable[..., Any])

# torch.autograd.function.FunctionCtx: the class of a custom Function's ``ctx``
FunctionCtx = Context

_TWICE = "trying to differentiate twice a function that was marked with @once_differentiable"


class _DelayedError(Function):
    """A gradient computed by a ``@once_differentiable`` backward while a graph was being
    built: the values pass through; differentiating them raises torch's error."""

    @staticmethod
    def forward(ctx, a):
        return a

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError(_TWICE)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        raise RuntimeError(_TWICE)


def once_differentiable(fn: _F) -> _F:
    """Decorator for a custom Function's ``backward`` that cannot itself be differentiated
    (torch.autograd.function.once_differentiable): it runs under ``no_grad``. Where a graph is
    being built (``create_graph=True``) and a gradient reaching it requires grad, its results
    are marked so that a second backward through them raises RuntimeError "trying to
    differentiate twice a function that was marked with @once_differentiable", as torch's."""

    @functools.wraps(fn)
    def wrapper(ctx: Any, *args: Any) -> Any:
        with no_grad():
            outputs = fn(ctx, *args)
        if not is_grad_enabled():
            return outputs
        if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            return outputs
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        marked = []
        for o in outs:
            if isinstance(o, Tensor) and o.dtype.kind in "fc":
                o = o.detach().requires_grad_(True)
                o = _DelayedError.apply(o)
            marked.append(o)
        return marked[0] if single else tuple(marked)

    return wrapper  # type: ignore[return-value]


class _VariableMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, Tensor)


class Variable(metaclass=_VariableMeta):
    """torch's deprecated ``Variable`` (Tensors and Variables are one type since torch 0.4):
    ``Variable(t)`` is a tensor sharing ``t``'s data, detached from its history, with the given
    ``requires_grad`` (False by default), as torch's; ``isinstance(x, Variable)`` holds for every
    Tensor. ``volatile`` is accepted and ignored (torch warns that it has no effect). A
    non-Tensor ``data`` raises TypeError; ``Variable()`` is an empty float tensor."""

    def __new__(  # type: ignore[misc]
        cls, data: Any = None, requires_grad: bool = False, volatile: bool = False
    ) -> Tensor:
        if data is None:
            from .ops.factories import empty

            return empty(0).requires_grad_(bool(requires_grad))
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        return data.detach().requires_grad_(bool(requires_grad))


class _ExecutionEngine:
    """``Variable._execution_engine`` as torch code reaches it: ``queue_callback(cb)`` runs
    ``cb()`` when the backward pass now running finishes (pydlk/_engine.py)."""

    @staticmethod
    def queue_callback(callback: Callable[[], Any]) -> None:
        from ._engine import queue_callback

        queue_callback(callback)


Variable._execution_engine = _ExecutionEngine()  # type: ignore[attr-defined]
