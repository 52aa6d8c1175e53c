"""torch's protocol for ``autograd.Function`` subclasses written outside pydlk.

pydlk's own ops (Functions defined in the ``pydlk`` package) compute on arrays: their forward and
backward receive and return NumPy or CuPy arrays, which is what the kernels take. A torch user's
Function is written against Tensors instead: ``forward(ctx, x)`` calls ``x.clamp(...)``,
``ctx.save_for_backward(x)`` keeps Tensors, ``backward(ctx, grad_output)`` returns Tensors, and
``ctx.mark_non_differentiable`` marks integer-like outputs. ``apply_tensor_io`` runs such a
Function as torch does:

- forward sees the caller's Tensors (and other arguments as given) and runs under ``no_grad``;
  it may return a Tensor, a tuple of them, or arrays;
- backward sees Tensor gradients and runs under ``no_grad`` (with ``create_graph=True`` it runs
  with grad mode on, so a backward written in Tensor ops is differentiated again, through the
  gradients and through the saved inputs);
- outputs marked with ``ctx.mark_non_differentiable`` do not require grad;
- a Function that defines ``setup_context(ctx, inputs, output)`` (torch 2's split form) has its
  ``forward(*args)`` called without ctx, then ``setup_context`` with the arguments and the
  result, both under ``no_grad``.

A Function chooses through its class attribute ``array_io`` (set by ``Function``'s
``__init_subclass__``: True for classes defined in the pydlk package, False elsewhere; a class
may set it explicitly).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from . import _saved_hooks
from ._autograd_graph import node_type
from ._grad_mode import enable_grad, no_grad
from .autograd import Tensor, _differentiable, is_grad_enabled


def _array_of(r: Any) -> Any:
    if isinstance(r, Tensor):
        return r._data
    return np.asarray(r) if isinstance(r, (np.generic, int, float, bool)) else r


def _adapter(cls: type) -> type:
    """The graph node's function for user Function ``cls``: the engine calls ``backward`` with
    arrays (or ``backward_graph`` with Tensors when ``create_graph``); both call the user's
    backward with Tensors. Made once per class."""
    made = cls.__dict__.get("_tensor_io_adapter")
    if made is not None:
        return made

    def backward(ctx: Any, *grads: Any) -> Any:
        with no_grad():
            r = cls.backward(ctx, *(None if g is None else Tensor._wrap(g) for g in grads))
        r = r if isinstance(r, tuple) else (r,)
        return tuple(None if g is None else _array_of(g) for g in r)

    def backward_graph(ctx: Any, inputs: Any, *grads: Any) -> Any:
        custom = getattr(cls, "backward_graph", None)
        if custom is not None:
            return custom(ctx, inputs, *grads)
        with enable_grad():
            r = cls.backward(ctx, *grads)
        r = r if isinstance(r, tuple) else (r,)
        return tuple(g if g is None or isinstance(g, Tensor) else Tensor._wrap(g) for g in r)

    adapter = type(
        cls.__name__,
        (),
        {
            "backward": staticmethod(backward),
            "backward_graph": staticmethod(backward_graph),
            "__module__": cls.__module__,
        },
    )
    adapter._node_type = node_type(cls, "Backward")  # type: ignore[attr-defined]  # MyFnBackward
    cls._tensor_io_adapter = adapter  # type: ignore[attr-defined]
    return adapter


def apply_tensor_io(cls: type, args: tuple[Any, ...], ctx: Any) -> Any:
    """``cls.apply(*args)`` for a Function written against Tensors (see the module docstring)."""
    from . import autograd as _ag

    inputs = [a if isinstance(a, Tensor) else None for a in args]
    record = is_grad_enabled() and any(t is not None and t._requires_grad for t in inputs)
    with no_grad():
        if cls.setup_context is _ag.Function.setup_context:
            out = cls.forward(ctx, *args)
        else:  # torch 2's split form: forward without ctx, then setup_context
            out = cls.forward(*args)
            cls.setup_context(ctx, args, out)
    single = not isinstance(out, tuple)
    outs = (out,) if single else out
    tensors = []
    for o in outs:
        if isinstance(o, Tensor) and o._node is None and not any(o is t for t in inputs):
            tensors.append(o)  # the forward's own result: saved as is, so it gets the history
        else:
            tensors.append(Tensor._wrap(_array_of(o)))  # an input returned as is: a new Tensor
    if record:
        if _saved_hooks.active:
            _saved_hooks.pack(ctx)
        adapter = _adapter(cls)
        node = adapter._node_type(adapter, ctx, inputs, tensors, _ag._inplace_seen)
        frozen = ctx.__dict__.get("_non_differentiable", ())
        for i, t in enumerate(tensors):
            marked = any(t._data is a for a in frozen)
            if _differentiable(t._data.dtype) and not marked:
                t._requires_grad = True
                t._node = (node, i)
                node.outputs[i] = weakref.ref(t)
        if _ag._anomaly is not None:
            _ag._anomaly.forward(cls, tensors, node)
    return tensors[0] if single else tuple(tensors)
