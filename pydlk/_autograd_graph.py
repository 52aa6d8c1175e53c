"""The nodes of the autograd graph, as torch shows them: ``tensor.grad_fn`` (torch.autograd.graph).

Each recorded call of a Function is a ``RecordedNode``, of a class named after the Function as torch
names its nodes (``MulBackward0``; ``MyFnBackward`` for a user's Function). A node shows the
history torch code walks (graph printers, hooks for gradient all-reduce):

* ``name()``; ``next_functions``: one ``(node, output index)`` per forward argument up to the
  last tensor one (options after it are no edges), ``(None, 0)`` where the argument is not a
  tensor that needs a gradient, and for a leaf that needs one its ``AccumulateGrad`` node (one
  per leaf, ``.variable`` the leaf);
* ``register_prehook(hook)``: ``hook(grad_outputs)`` before the node's backward, may return
  new gradients; ``register_hook(hook)``: ``hook(grad_inputs, grad_outputs)`` after it, may
  return new ``grad_inputs``; both give a handle with ``remove()``;
* ``metadata`` (a dict of the user's), calling the node on gradients runs its backward.

The engine (``_engine.py``) runs the hooks; a node without any costs one ``is None`` check.
"""

from __future__ import annotations

import abc
import weakref
from typing import Any

__all__ = [
    "Node",
    "AccumulateGrad",
    "saved_tensors_hooks",
    "save_on_cpu",
    "disable_saved_tensors_hooks",
    "register_multi_grad_hook",
]


class _Handle:
    """``remove()`` takes ``hook`` out of ``hooks`` (torch's RemovableHandle)."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list, hook: Any) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)

    def __enter__(self) -> _Handle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class Node(abc.ABC):
    """torch.autograd.graph.Node: what every node of the graph is an instance of (the recorded
    calls of Functions and the leaves' AccumulateGrad nodes)."""

    @abc.abstractmethod
    def name(self) -> str: ...

    @property
    @abc.abstractmethod
    def next_functions(self) -> tuple[tuple[Any, int], ...]: ...

    @property
    @abc.abstractmethod
    def metadata(self) -> dict: ...

    @abc.abstractmethod
    def register_hook(self, hook: Any) -> Any: ...

    @abc.abstractmethod
    def register_prehook(self, hook: Any) -> Any: ...


class RecordedNode:
    """One recorded call of a Function: its context, its inputs and (weakly) its outputs.

    ``versions``: each input's ``_version`` when the node used it (None when all were 0). A
    recorded in-place op moves the new history onto the tensor itself, so a node that used the
    tensor before the write must reach its old history instead: the engine swaps such an
    input for the Tensor that stands for its value then (``_engine._resolve_versions``), as
    torch's edges point at the history of their time.

    ``_extra``: None, or a dict with the node's hooks ('pre', 'post') and ``metadata``."""

    __slots__ = ("fn", "ctx", "inputs", "out_meta", "outputs", "versions", "_extra", "__weakref__")

    def __init__(self, fn, ctx, inputs, outs, inplace_seen=False):
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs  # Tensor or None per forward argument
        self.out_meta = [(o.shape, o.dtype) for o in outs]
        self.outputs = [None] * len(outs)  # weakrefs, set by Function.apply
        self.versions = None  # all 0 (the usual case)
        self._extra = None
        if inplace_seen:
            vs = tuple(0 if t is None else t._version for t in inputs)
            if any(vs):
                self.versions = vs

    # -- torch's Node API -------------------------------------------------------------
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        from . import autograd as _ag

        if _ag._inplace_seen:
            from ._engine import _resolve_versions

            _resolve_versions(self)  # the inputs' histories of the time this node used them
        out = []
        for t in self.inputs[: _arity(self)]:
            if t is None or not t._requires_grad:
                out.append((None, 0))
            elif t._node is not None:
                out.append(t._node)
            else:
                out.append((accumulate_grad(t), 0))
        return tuple(out)

    @property
    def metadata(self) -> dict:
        return self._extras().setdefault("metadata", {})

    def register_prehook(self, hook: Any) -> _Handle:
        """``hook(grad_outputs) -> tuple or None`` runs before this node's backward; a tuple
        returned replaces the gradients of its outputs."""
        hooks = self._extras().setdefault("pre", [])
        hooks.append(hook)
        return _Handle(hooks, hook)

    def register_hook(self, hook: Any) -> _Handle:
        """``hook(grad_inputs, grad_outputs) -> tuple or None`` runs after this node's backward;
        a tuple returned replaces the gradients it passes on (one per forward argument)."""
        hooks = self._extras().setdefault("post", [])
        hooks.append(hook)
        return _Handle(hooks, hook)

    def __call__(self, *grad_outputs: Any) -> Any:
        """The node's backward on ``grad_outputs`` (one per output): its input gradients."""
        from ._engine import _freed_graph_error
        from .autograd import Tensor

        if self.ctx is None:
            raise _freed_graph_error()
        raw = [g._data if isinstance(g, Tensor) else g for g in grad_outputs]
        r = self.fn.backward(self.ctx, *raw)
        wrap = _wrap_grads(r if isinstance(r, tuple) else (r,))
        return wrap if isinstance(r, tuple) else wrap[0]

    def _extras(self) -> dict:
        if self._extra is None:
            self._extra = {}
        return self._extra


def _wrap_grads(grads):
    """Arrays (or None) as Tensors, for hooks that see torch's types."""
    from .autograd import Tensor

    return tuple(g if g is None or isinstance(g, Tensor) else Tensor._wrap(g) for g in grads)


def run_prehooks(node, out_grads, create_graph):
    """``out_grads`` (a list, changed in place) after the node's pre-hooks."""
    for hook in list(node._extra.get("pre", ())):
        r = hook(_wrap_grads(out_grads))
        if r is not None:
            r = tuple(r)
            if len(r) != len(out_grads):
                raise RuntimeError(
                    f"hook of {node.name()}: returned {len(r)} gradients, expected "
                    f"{len(out_grads)} (one per output)"
                )
            for i, g in enumerate(r):
                out_grads[i] = _as_grad(g, create_graph)
    return out_grads


def run_posthooks(node, in_grads, out_grads, create_graph):
    """``in_grads`` after the node's hooks (a new tuple when one returned gradients). The hooks
    see and return the gradients of the arguments ``next_functions`` lists."""
    n = _arity(node)
    for hook in list(node._extra.get("post", ())):
        r = hook(_wrap_grads(in_grads[:n]), _wrap_grads(out_grads))
        if r is not None:
            r = tuple(r)
            if len(r) != n:
                raise RuntimeError(
                    f"hook of {node.name()}: returned {len(r)} gradients, expected {n} (one "
                    f"per entry of its next_functions)"
                )
            in_grads = tuple(_as_grad(g, create_graph) for g in r) + tuple(in_grads[n:])
    return in_grads


def _arity(node):
    """How many of the node's forward arguments torch code sees: up to the last Tensor (the
    options after it, sizes, flags, are not edges of the graph)."""
    n = len(node.inputs)
    while n and node.inputs[n - 1] is None:
        n -= 1
    return n


def _as_grad(g, create_graph):
    """A hook's gradient as the engine's loop holds them: arrays, or Tensors with create_graph."""
    from .autograd import Tensor

    if g is None:
        return None
    if create_graph:
        return g if isinstance(g, Tensor) else Tensor._wrap(g)
    return g._data if isinstance(g, Tensor) else g


class AccumulateGrad:
    """The node that adds a leaf's gradient into its ``.grad`` (torch's AccumulateGrad): one
    per leaf, reached through ``next_functions``. Its hooks are the leaf's: a pre-hook sees
    ``(grad,)`` before it is accumulated and may return a new one, a hook runs after with
    ``((), (grad,))`` (how older data-parallel code started its all-reduces)."""

    __slots__ = ("_variable", "_extra", "__weakref__")

    def __init__(self, t):
        self._variable = weakref.ref(t)  # the leaf keeps this node, not the other way round
        self._extra = None

    @property
    def variable(self) -> Any:
        t = self._variable()
        if t is None:
            raise RuntimeError("AccumulateGrad: its leaf tensor has been freed")
        return t

    def name(self) -> str:
        return "pydlk::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"

    next_functions: tuple = ()

    @property
    def metadata(self) -> dict:
        if self._extra is None:
            self._extra = {}
        return self._extra

    def register_prehook(self, hook: Any) -> Any:
        def tensor_hook(g):
            r = hook((g,))
            return None if r is None else r[0]

        return self.variable.register_hook(tensor_hook)

    def register_hook(self, hook: Any) -> Any:
        return self.variable.register_post_accumulate_grad_hook(
            lambda t: hook((), (t.grad,))  # noqa: E731
        )


def accumulate_grad(t) -> AccumulateGrad:
    """The leaf's AccumulateGrad node (made once, kept on the leaf)."""
    acc = t.__dict__.get("_grad_accumulator")
    if acc is None:
        acc = t.__dict__["_grad_accumulator"] = AccumulateGrad(t)
    return acc


Node.register(RecordedNode)
Node.register(AccumulateGrad)


def node_type(fn: type, suffix: str = "Backward0") -> type:
    """The node class of ``fn``'s recorded calls, named as torch names it (``MulBackward0``)."""
    return type(fn.__name__ + suffix, (RecordedNode,), {"__slots__": (), "__module__": __name__})


# torch.autograd.graph's hooks on saved tensors and on several tensors' gradients
# (pydlk/_saved_hooks.py, pydlk/_multi_grad_hook.py)
from ._multi_grad_hook import register_multi_grad_hook  # noqa: E402
from ._saved_hooks import (  # noqa: E402
    disable_saved_tensors_hooks,
    save_on_cpu,
    saved_tensors_hooks,
)
