"""The autograd engine: ``backward`` and ``grad`` walk the recorded graph in reverse
topological order. Gradients are arrays; with ``create_graph=True`` they are Tensors and each
node's backward runs as recorded Tensor ops (its Function's ``backward_graph``), so the
gradients themselves can be differentiated (Hessians, gradient penalties). The first-order
pass (``create_graph=False``) calls the raw ``backward`` kernels only."""

import re

import numpy as np

from . import _arena
from . import autograd as _ag
from ._backend import get_array_module
from .autograd import Tensor, set_grad_enabled


def _accumulate_leaf(t, g):
    """Add ``g`` into leaf ``t``'s gradient (written into its arena slot when it has one)."""
    if isinstance(g, Tensor):  # create_graph: the gradient keeps its graph
        return _accumulate_leaf_graph(t, g)
    if t._hooks:
        for hook in t._hooks:
            r = hook(g)
            if r is not None:
                g = r._data if isinstance(r, Tensor) else r
    if isinstance(g, np.generic):
        g = np.asarray(g)
    if t._grad is None:
        slot = _arena.write_grad(t, g)
        if slot is not None:
            t._grad = slot
        else:
            t._grad = g.astype(t._data.dtype, copy=True) if g.dtype != t._data.dtype else g.copy()
    else:
        t._grad += g  # in place: keeps an arena view a view
    for hook in t.__dict__.get("_post_acc_hooks", ()):
        hook(t)


def _accumulate_leaf_graph(t, g):
    """create_graph=True: ``t.grad`` becomes a Tensor with a graph (out of place, as torch does),
    so it can be differentiated again. A leaf with an arena slot keeps its gradient values in the
    slot; the Tensor returned by ``t.grad`` is then a view of the slot carrying g's graph node."""
    if t._hooks:
        for hook in t._hooks:
            r = hook(g)
            if r is not None:
                g = r if isinstance(r, Tensor) else Tensor._wrap(r)
    if g.dtype != t._data.dtype:
        g = g.to(t._data.dtype)
    old = t.grad
    g = g.clone() if old is None else old + g  # never alias another tensor's gradient
    slot = _arena.grad_slot(t)
    if slot is not None and slot.shape == g.shape and slot.dtype == g.dtype:
        slot[...] = g._data
        v = Tensor._wrap(slot)
        v._node, v._requires_grad = g._node, g._requires_grad
        g = v
    t._grad, t._grad_t = g._data, g
    for hook in t.__dict__.get("_post_acc_hooks", ()):
        hook(t)


def _toposort(roots):
    """Nodes reachable from ``roots`` in reverse post-order (each node before its inputs)."""
    order, seen = [], set()
    stack = [(r, False) for r in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for t in node.inputs:
            if t is not None and t._node is not None and id(t._node[0]) not in seen:
                stack.append((t._node[0], False))
    order.reverse()
    return order


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip("_")).lower()


def _graph_backward(node, out_grads):
    """create_graph=True: the node's backward as differentiable Tensor ops (its Function's
    ``backward_graph(ctx, inputs, *grads)``, ``inputs`` the forward's Tensor arguments, None for
    the others). A Function whose backward is only a raw kernel has none: say so, naming the op,
    rather than return a gradient without the graph (wrong higher derivatives)."""
    fn = node.fn
    bg = getattr(fn, "backward_graph", None)
    if bg is None:
        raise no_double_backward(getattr(fn, "op_name", None) or _snake(fn.__name__))
    return bg(node.ctx, node.inputs, *out_grads)


def no_double_backward(name):
    """The error for an op whose gradient cannot be differentiated again."""
    return RuntimeError(
        f"double backward is not implemented for {name}; create_graph=True (higher-order "
        "gradients, Hessians) needs it"
    )


def _root_grad(tensor, gradient, create_graph, op):
    """The gradient a backward pass starts from: ``gradient`` checked, or ones for a scalar."""
    xp = get_array_module(tensor._data)
    if gradient is None:
        if tensor._data.size != 1:
            raise RuntimeError(
                f"{op}: grad can be implicitly created only for scalar "
                f"outputs; this tensor has shape {tensor.shape}, pass gradient="
            )
        g = xp.ones_like(tensor._data)
        return Tensor._wrap(g) if create_graph else g
    if create_graph and isinstance(gradient, Tensor):
        g = gradient if gradient.dtype == tensor.dtype else gradient.to(tensor.dtype)
        ga = g._data
    else:
        ga = gradient._data if isinstance(gradient, Tensor) else xp.asarray(gradient)
        ga = g = ga.astype(tensor.dtype, copy=False)
        if create_graph:
            g = Tensor._wrap(ga)
    if ga.shape != tensor.shape:
        raise ValueError(f"{op}: gradient has shape {ga.shape}, tensor has {tensor.shape}")
    return g


def backward(tensor, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Compute d(tensor)/d(leaf) for every leaf that requires grad and add it into ``leaf.grad``
    (torch.autograd.backward). ``create_graph=True`` records the backward pass itself, so the
    gradients can be differentiated again; ``retain_graph`` defaults to ``create_graph``.
    ``inputs`` (a Tensor or a sequence): accumulate only into these tensors' ``.grad``."""
    if retain_graph is None:
        retain_graph = create_graph
    tensors = list(tensor) if isinstance(tensor, (tuple, list)) else [tensor]
    if gradient is None or isinstance(tensor, Tensor):
        gradient = [gradient] * len(tensors) if gradient is None else [gradient]
    for t in tensors:
        if not t.requires_grad:
            raise RuntimeError("backward: tensor does not require grad and has no grad_fn")
    grads = [_root_grad(t, g, create_graph, "backward") for t, g in zip(tensors, gradient)]
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if not inputs:
            raise RuntimeError("backward: inputs= must not be empty")
        for i in inputs:
            if not i.requires_grad:
                raise RuntimeError("backward: an element of inputs= does not require grad")
    _run_backward(tensors, grads, retain_graph, create_graph, inputs, accumulate=True)


def _run_backward(roots, root_grads, retain_graph, create_graph, targets, accumulate):
    """The engine. Gradients are arrays, or Tensors with a graph when ``create_graph``.

    ``targets`` None: every leaf's total gradient is added into its ``.grad``. Otherwise only
    the nodes that lead to a target run, and the gradient reaching each target is returned (a
    list, None where none arrived) and, with ``accumulate``, added into the targets' ``.grad``.
    """
    tids = None if targets is None else {id(t) for t in targets}
    captured = {}
    # a leaf's gradient is summed over all its uses first, so that its hooks run once on the
    # total (as torch's AccumulateGrad does), then added into .grad
    leaf_grads = {}
    grads = {}

    def arrive(t, g):
        if t._node is None:
            if tids is None:
                entry = leaf_grads.get(id(t))
                if entry is None:
                    leaf_grads[id(t)] = [t, g]
                else:
                    entry[1] = entry[1] + g
            elif id(t) in tids:
                captured[id(t)] = g if id(t) not in captured else captured[id(t)] + g
        else:
            pnode, pidx = t._node
            slot = grads.setdefault(id(pnode), [None] * len(pnode.out_meta))
            slot[pidx] = g if slot[pidx] is None else slot[pidx] + g

    for t, g in zip(roots, root_grads):
        arrive(t, g)
    order = _toposort([t._node[0] for t in roots if t._node is not None])
    if tids is None:
        # a leaf whose last consumer has run has its total: accumulate it then, not after the
        # whole pass, so post-accumulate hooks (gradient all-reduce) overlap the rest of backward
        last_use = {
            id(t): k
            for k, n in enumerate(order)
            for t in n.inputs
            if t is not None and t._node is None
        }
        flush_at = {}
        for i, k in last_use.items():
            flush_at.setdefault(k, []).append(i)
        needed = None
    else:
        flush_at = {}
        needed = set()  # the nodes through which a gradient reaches a target
        for node in reversed(order):
            for t in node.inputs:
                if t is not None and (
                    id(t) in tids or (t._node is not None and id(t._node[0]) in needed)
                ):
                    needed.add(id(node))
                    break
    xp = get_array_module(roots[0]._data)
    with set_grad_enabled(create_graph):
        for k, node in enumerate(order):
            if node.ctx is None:
                raise RuntimeError(
                    "backward: trying to backward through the graph a second "
                    "time; pass retain_graph=True the first time"
                )
            out_grads = grads.pop(id(node), None)
            if out_grads is None:
                continue
            for i, og in enumerate(out_grads):
                ref = node.outputs[i]
                t = ref() if ref is not None else None
                if og is None:
                    shape, dtype = node.out_meta[i]
                    out_grads[i] = og = xp.zeros(shape, dtype)
                    if create_graph:
                        out_grads[i] = og = Tensor._wrap(og)
                if t is not None:
                    if t._hooks:
                        for hook in t._hooks:
                            r = hook(og)
                            if r is not None:
                                if create_graph:
                                    r = r if isinstance(r, Tensor) else Tensor._wrap(r)
                                elif isinstance(r, Tensor):
                                    r = r._data
                                out_grads[i] = og = r
                    if t._retain_grad:
                        ga = og._data if create_graph else og
                        t._grad = ga if t._grad is None else t._grad + ga
                    if tids is not None and id(t) in tids:
                        captured[id(t)] = og
            if needed is not None and id(node) not in needed:
                continue
            if create_graph:
                in_grads = _graph_backward(node, out_grads)
            else:
                in_grads = node.fn.backward(node.ctx, *out_grads)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if _ag._anomaly is not None:  # detect_anomaly: see _anomaly.py
                _ag._anomaly.backward(
                    node, [g._data if isinstance(g, Tensor) else g for g in in_grads]
                )
            if len(in_grads) != len(node.inputs):
                raise RuntimeError(
                    f"{node.fn.__name__}.backward returned {len(in_grads)} "
                    f"gradients, expected {len(node.inputs)}"
                )
            if not retain_graph:
                node.ctx = None
            for inp, gi in zip(node.inputs, in_grads):
                if inp is None or gi is None or not inp.requires_grad:
                    continue
                if create_graph:
                    if not isinstance(gi, Tensor):
                        gi = Tensor._wrap(np.asarray(gi) if isinstance(gi, np.generic) else gi)
                elif isinstance(gi, Tensor):
                    gi = gi._data
                elif isinstance(gi, np.generic):
                    gi = np.asarray(gi)
                if gi.shape != inp.shape:
                    raise RuntimeError(
                        f"{node.fn.__name__}.backward returned a gradient of "
                        f"shape {gi.shape} for an input of shape {inp.shape}"
                    )
                arrive(inp, gi)
            for i in flush_at.get(k, ()):
                if i in leaf_grads:
                    _accumulate_leaf(*leaf_grads.pop(i))
        for leaf, gi in leaf_grads.values():
            _accumulate_leaf(leaf, gi)
        if tids is None:
            return None
        out = [captured.get(id(t)) for t in targets]
        if accumulate:
            for t, g in zip(targets, out):
                if g is None:
                    continue
                if t._node is None:
                    _accumulate_leaf(t, g)
                else:
                    ga = g._data if isinstance(g, Tensor) else g
                    t._grad = ga if t._grad is None else t._grad + ga
        return out


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph=False,
    allow_unused=False,
):
    """torch.autograd.grad: the gradients of ``outputs`` (weighted by ``grad_outputs``) with
    respect to ``inputs``, returned as a tuple of Tensors; nothing is added into any ``.grad``.
    With ``create_graph=True`` the results carry a graph (differentiate them again for Hessians);
    ``retain_graph`` defaults to ``create_graph``. An input the outputs do not depend on is an
    error unless ``allow_unused=True``, which gives None for it."""
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    ins = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outs):
        raise RuntimeError(
            f"grad: grad_outputs has {len(grad_outputs)} tensors, outputs has {len(outs)}"
        )
    if retain_graph is None:
        retain_graph = create_graph
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor) or not o.requires_grad:
            raise RuntimeError(
                f"grad: element {k} of outputs does not require grad and does not have a grad_fn"
            )
    for k, i in enumerate(ins):
        if not isinstance(i, Tensor) or not i.requires_grad:
            raise RuntimeError(f"grad: element {k} of inputs does not require grad")
    roots = [_root_grad(o, g, create_graph, "grad") for o, g in zip(outs, grad_outputs)]
    got = _run_backward(outs, roots, retain_graph, create_graph, ins, accumulate=False)
    result = []
    for k, (i, g) in enumerate(zip(ins, got)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad: element {k} of inputs appears to not have been used in the graph; "
                    "pass allow_unused=True if this is the desired behavior"
                )
            result.append(None)
        elif isinstance(g, Tensor):
            result.append(g)
        else:
            # a copy: the engine may hand the same array to several inputs (x + x, a root leaf)
            result.append(Tensor._wrap(g.astype(i.dtype, copy=True)))
    return tuple(result)
