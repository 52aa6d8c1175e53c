"""The autograd engine: ``backward`` and ``grad`` walk the recorded graph in reverse
topological order. Gradients are arrays; with ``create_graph=True`` they are Tensors and each
node's backward runs as recorded Tensor ops (its Function's ``backward_graph``), so the
gradients themselves can be differentiated (Hessians, gradient penalties). The first-order
pass (``create_graph=False``) calls the raw ``backward`` kernels only."""

import re
import sys
import threading
import warnings

import numpy as np

from . import _C, _arena
from . import autograd as _ag
from ._autograd_graph import run_posthooks, run_prehooks
from ._backend import get_array_module
from .autograd import Tensor, set_grad_enabled


def _refs_of_a_local(a):
    return sys.getrefcount(a)


def _refs_when_owned():
    """What ``sys.getrefcount`` reports inside a callee for an array held only by the caller's
    local variable (and the callee's parameter): measured, since interpreters count differently."""
    a = np.empty(1)
    return _refs_of_a_local(a)


_OWNED_REFS = _refs_when_owned()
_THREADED_ADD = (np.dtype(np.float32), np.dtype(np.float64))  # _C.add_'s dtypes


def _base_refs_of(v):
    base = v.base
    return sys.getrefcount(base)


# What sys.getrefcount reports inside _owned for a base held by nothing but one view of it.
_BASE_REFS = _base_refs_of(np.empty(2).reshape(2))


# A kernel's new output may be a view into a byte block up to this much longer, which the view
# alone holds (csrc/bind_util.h, empty(): where the output starts modulo 4 KiB, and a 16-byte
# tail recording that start).
_PLACED_SLACK = 4096 + 16


def _whole_memory(g):
    """True if ``g`` owns its memory, or is a view of the whole of an array that nothing but the
    view holds (a Function's ``dx.reshape(shape)``, a kernel's placed output)."""
    base = g.base
    if base is None:
        return g.flags.owndata
    # Both C-contiguous, the view the whole of its base or a placed output's byte block.
    return (
        type(base) is np.ndarray
        and base.base is None
        and base.flags.owndata
        and base.flags.c_contiguous
        and (
            base.nbytes == g.nbytes
            or (base.dtype == np.uint8 and 0 < base.nbytes - g.nbytes <= _PLACED_SLACK)
        )
        and sys.getrefcount(base) <= _BASE_REFS
    )


def _add_grads(a, b):
    """``a + b`` for two gradients of one tensor (a tensor used twice: a ResNet block's input
    feeds its convolution and its shortcut). When ``a`` is a NumPy array that nothing holds but
    the caller's local (see ``_owned``), ``b`` is added into it in place: no fresh array, and so
    no page faults on a new multi-megabyte block at every residual join; float arrays on all
    threads (``_C.add_``: 4 MiB in 0.14 ms against NumPy's 0.27 on two cores)."""
    if (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.shape == b.shape
        and a.dtype == b.dtype
        and a.flags.c_contiguous
        and a.flags.writeable
        and sys.getrefcount(a) <= _OWNED_REFS
        and _whole_memory(a)
    ):
        if a.dtype in _THREADED_ADD and b.flags.c_contiguous and not np.may_share_memory(a, b):
            _C.add_(a, b)
            return a
        return np.add(a, b, out=a)
    return a + b


def _owned(g, dtype):
    """True if the engine may keep ``g`` itself as a leaf's gradient, as torch's AccumulateGrad
    steals a gradient no one else holds: a plain C-contiguous, writable NumPy array of the leaf's
    dtype, with no reference but the engine's own (``_Pass.flush``'s local and
    ``_accumulate_leaf``'s parameter), owning its memory or a view of the whole of an array
    nothing else holds (a Function's ``dx.reshape(shape)``). An array held anywhere else (a
    saved tensor, a gradient passed through to two inputs, a hook's list) has more references
    and is copied."""
    if not (
        type(g) is np.ndarray
        and g.flags.c_contiguous
        and g.flags.writeable
        and g.dtype == dtype
        and sys.getrefcount(g) - 1 <= _OWNED_REFS  # - 1: _owned's own parameter
    ):
        return False
    return _whole_memory(g)


def _accumulate_leaf(t, g, steal=False):
    """Add ``g`` into leaf ``t``'s gradient (written into its arena slot when it has one).
    ``steal``: the caller holds ``g`` only in a local variable, so when nothing else holds it
    either it becomes ``t.grad`` without a copy (see ``_owned``)."""
    if isinstance(g, Tensor):  # create_graph: the gradient keeps its graph
        return _accumulate_leaf_graph(t, g)
    if t._hooks:
        for hook in t._hooks:
            r = hook(Tensor._wrap(g))  # torch's hooks see a Tensor
            if r is not None:
                g = r._data if isinstance(r, Tensor) else r
    if isinstance(g, np.generic):
        g = np.asarray(g)
    if t._grad is None:
        slot = _arena.write_grad(t, g)
        if slot is not None:
            t._grad = slot
        elif steal and _owned(g, t._data.dtype):
            t._grad = g
        else:
            t._grad = g.astype(t._data.dtype, copy=True) if g.dtype != t._data.dtype else g.copy()
    else:
        t._grad += g  # in place: keeps an arena view a view
    for hook in t.__dict__.get("_post_acc_hooks", ()):
        hook(t)


def _leaf_hooks(t, g):
    """``g`` through leaf ``t``'s tensor hooks, as ``_accumulate_leaf`` runs them (torch calls a
    leaf's hooks in ``autograd.grad`` too); a non-leaf's ran when its node did."""
    if g is None or t._node is not None or not t._hooks:
        return g
    graph = isinstance(g, Tensor)
    for hook in t._hooks:
        r = hook(g if graph else Tensor._wrap(g))
        if r is not None:
            g = r if graph else (r._data if isinstance(r, Tensor) else r)
    return g


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


def _resolve_versions(node):
    """Inputs written in place (and recorded) after ``node`` used them: swapped for the Tensors
    that stand for their values at that time, which carry the history of then (see
    ``autograd.Node``). Done once; the swapped-in Tensor has the version the node saw."""
    vs = node.versions
    for i, t in enumerate(node.inputs):
        v = 0 if vs is None else vs[i]
        if t is not None and t._version != v:
            ref = t.__dict__.get("_old", {}).get(v)
            old = ref() if ref is not None else None
            if old is None:
                raise RuntimeError(
                    "backward: an input of this graph was written in place after it was used, "
                    "and the history of its earlier value has been freed"
                )
            node.inputs[i] = old


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
        if _ag._inplace_seen:
            _resolve_versions(node)
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


class _Pass:
    """The gradients in flight during one backward pass. ``targets`` None: every leaf's total
    gradient is collected in ``leaf_grads`` (summed over all its uses first, so that its hooks
    run once on the total, as torch's AccumulateGrad does). Otherwise the gradient reaching each
    target is collected in ``captured``."""

    __slots__ = ("tids", "grads", "leaf_grads", "captured")

    def __init__(self, targets):
        self.tids = None if targets is None else {id(t) for t in targets}
        self.grads = {}  # id(node) -> its outputs' gradients so far
        self.leaf_grads = {}  # id(leaf) -> [leaf, total gradient]
        self.captured = {}  # id(target) -> gradient

    def arrive(self, t, g):
        """Add gradient ``g`` of tensor ``t`` where it belongs."""
        if t._node is not None:
            pnode, pidx = t._node
            slot = self.grads.get(id(pnode))
            if slot is None:
                slot = self.grads[id(pnode)] = [None] * len(pnode.out_meta)
            cur = slot[pidx]
            if cur is None:
                slot[pidx] = g
            else:
                slot[pidx] = None  # cur is held by this local only, so it may be summed into
                slot[pidx] = _add_grads(cur, g)
        elif self.tids is None:
            entry = self.leaf_grads.get(id(t))
            if entry is None:
                self.leaf_grads[id(t)] = [t, g]
            else:
                cur, entry[1] = entry[1], None
                entry[1] = _add_grads(cur, g)
        elif id(t) in self.tids:
            c = self.captured
            c[id(t)] = g if id(t) not in c else c[id(t)] + g

    def flush(self, leaf_ids):
        """Accumulate the leaves whose last consumer has run (they have their total now)."""
        for i in leaf_ids:
            entry = self.leaf_grads.pop(i, None)
            if entry is not None:
                t, g = entry
                entry = None  # g is now held by this local only (see _owned)
                _accumulate_leaf(t, g, steal=True)


def _schedule(order, tids):
    """When each leaf's gradient is complete, and which nodes need to run.

    Returns ``(flush_at, needed)``: ``flush_at[k]`` the leaves whose last consumer is node k
    (accumulated right after it, not after the whole pass, so post-accumulate hooks such as a
    gradient all-reduce overlap the rest of backward); ``needed`` None (all nodes run) or, with
    targets, the ids of the nodes through which a gradient reaches a target."""
    if tids is None:
        last_use = {
            id(t): k
            for k, n in enumerate(order)
            for t in n.inputs
            if t is not None and t._node is None
        }
        flush_at = {}
        for i, k in last_use.items():
            flush_at.setdefault(k, []).append(i)
        return flush_at, None
    needed = set()
    for node in reversed(order):
        for t in node.inputs:
            if t is not None and (
                id(t) in tids or (t._node is not None and id(t._node[0]) in needed)
            ):
                needed.add(id(node))
                break
    return {}, needed


def _freed_graph_error():
    return RuntimeError(
        "backward: trying to backward through the graph a second "
        "time; pass retain_graph=True the first time"
    )


def _count_error(node, in_grads):
    return RuntimeError(
        f"{node.fn.__name__}.backward returned {len(in_grads)} "
        f"gradients, expected {len(node.inputs)}"
    )


def _shape_error(node, gi, inp):
    return RuntimeError(
        f"{node.fn.__name__}.backward returned a gradient of "
        f"shape {gi.shape} for an input of shape {inp.shape}"
    )


def _visit_outputs(p, node, out_grads, xp, create_graph):
    """Before a node runs: zeros for outputs no gradient reached, then each live output
    tensor's hooks, ``retain_grad`` and capture as a target."""
    for i, og in enumerate(out_grads):
        if og is None:
            shape, dtype = node.out_meta[i]
            og = xp.zeros(shape, dtype)
            out_grads[i] = og = Tensor._wrap(og) if create_graph else og
        ref = node.outputs[i]
        t = ref() if ref is not None else None
        if t is None:
            continue
        if t._hooks:
            for hook in t._hooks:
                r = hook(og if create_graph else Tensor._wrap(og))
                if r is not None:
                    if create_graph:
                        r = r if isinstance(r, Tensor) else Tensor._wrap(r)
                    elif isinstance(r, Tensor):
                        r = r._data
                    out_grads[i] = og = r
        if t._retain_grad:
            ga = og._data if create_graph else og
            t._grad = ga if t._grad is None else t._grad + ga
        if p.tids is not None and id(t) in p.tids:
            p.captured[id(t)] = og


def _needs_visit(node, out_grads):
    """Whether ``_visit_outputs`` has anything to do (the first-order loop's fast check)."""
    for og, ref in zip(out_grads, node.outputs):
        if og is None:
            return True
        t = ref() if ref is not None else None
        if t is not None and (t._hooks or t._retain_grad):
            return True
    return False


def _array_loop(p, order, flush_at, needed, retain_graph, xp):
    """create_graph=False, the training hot path: each node's raw ``backward`` kernel on arrays.
    The same steps as ``_graph_loop`` without its Tensor wrapping, in a loop of its own because
    this one runs per node per training step."""
    grads, arrive, anomaly = p.grads, p.arrive, _ag._anomaly
    visit_all = p.tids is not None  # targets are captured as their nodes run
    for k, node in enumerate(order):
        if node.ctx is None:
            raise _freed_graph_error()
        out_grads = grads.pop(id(node), None)
        if out_grads is None:
            continue
        if visit_all or _needs_visit(node, out_grads):
            _visit_outputs(p, node, out_grads, xp, False)
        if needed is not None and id(node) not in needed:
            continue
        extra = node._extra  # the node's hooks (grad_fn.register_hook/prehook), rarely any
        if extra is not None and extra.get("pre"):
            run_prehooks(node, out_grads, False)
        in_grads = node.fn.backward(node.ctx, *out_grads)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        if extra is not None and extra.get("post"):
            in_grads = run_posthooks(node, in_grads, out_grads, False)
        if anomaly is not None:  # detect_anomaly: see _anomaly.py
            anomaly.backward(node, in_grads)
        if len(in_grads) != len(node.inputs):
            raise _count_error(node, in_grads)
        if not retain_graph:
            node.ctx = None
        for inp, gi in zip(node.inputs, in_grads):
            if inp is None or gi is None or not inp.requires_grad:
                continue
            if isinstance(gi, Tensor):
                gi = gi._data
            elif isinstance(gi, np.generic):
                gi = np.asarray(gi)
            if gi.shape != inp.shape:
                raise _shape_error(node, gi, inp)
            arrive(inp, gi)
        if k in flush_at:
            in_grads = gi = None  # flush may hand a gradient over only if nothing here holds it
            p.flush(flush_at[k])


def _graph_loop(p, order, flush_at, needed, retain_graph, xp):
    """create_graph=True: each node's backward as recorded Tensor ops (``_graph_backward``), so
    the gradients carry a graph. The same steps as ``_array_loop``, on Tensors."""
    anomaly = _ag._anomaly
    for k, node in enumerate(order):
        if node.ctx is None:
            raise _freed_graph_error()
        out_grads = p.grads.pop(id(node), None)
        if out_grads is None:
            continue
        _visit_outputs(p, node, out_grads, xp, True)
        if needed is not None and id(node) not in needed:
            continue
        extra = node._extra
        if extra is not None and extra.get("pre"):
            run_prehooks(node, out_grads, True)
        in_grads = _graph_backward(node, out_grads)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        if extra is not None and extra.get("post"):
            in_grads = run_posthooks(node, in_grads, out_grads, True)
        if anomaly is not None:
            anomaly.backward(node, [g._data if isinstance(g, Tensor) else g for g in in_grads])
        if len(in_grads) != len(node.inputs):
            raise _count_error(node, in_grads)
        if not retain_graph:
            node.ctx = None
        for inp, gi in zip(node.inputs, in_grads):
            if inp is None or gi is None or not inp.requires_grad:
                continue
            if not isinstance(gi, Tensor):
                gi = Tensor._wrap(np.asarray(gi) if isinstance(gi, np.generic) else gi)
            if gi.shape != inp.shape:
                raise _shape_error(node, gi, inp)
            p.arrive(inp, gi)
        if k in flush_at:
            p.flush(flush_at[k])


# Per thread, one list per running backward pass: callbacks queued with queue_callback, run
# once the pass is done (torch's Variable._execution_engine.queue_callback).
_final = threading.local()


def queue_callback(callback):
    """Run ``callback()`` when the backward pass now running finishes (after every gradient of
    the pass has been accumulated), as torch's ``Variable._execution_engine.queue_callback``;
    callbacks run in the order queued, and ones they queue run too. Outside a backward pass it
    raises RuntimeError."""
    stack = getattr(_final, "stack", None)
    if not stack:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    stack[-1].append(callback)


def _run_backward(roots, root_grads, retain_graph, create_graph, targets, accumulate):
    """``_pass`` with the callbacks queued during it run once it has finished."""
    stack = _final.__dict__.setdefault("stack", [])
    stack.append([])
    try:
        out = _pass(roots, root_grads, retain_graph, create_graph, targets, accumulate)
    except BaseException:
        stack.pop()
        raise
    callbacks = stack[-1]
    try:
        i = 0
        while i < len(callbacks):  # a callback may queue another
            callbacks[i]()
            i += 1
    finally:
        stack.pop()
    return out


def _pass(roots, root_grads, retain_graph, create_graph, targets, accumulate):
    """The engine. Gradients are arrays, or Tensors with a graph when ``create_graph``.

    ``targets`` None: every leaf's total gradient is added into its ``.grad``. Otherwise only
    the nodes that lead to a target run, and the gradient reaching each target is returned (a
    list, None where none arrived) and, with ``accumulate``, added into the targets' ``.grad``.
    """
    p = _Pass(targets)
    for t, g in zip(roots, root_grads):
        p.arrive(t, g)
    order = _toposort([t._node[0] for t in roots if t._node is not None])
    flush_at, needed = _schedule(order, p.tids)
    xp = get_array_module(roots[0]._data)
    loop = _graph_loop if create_graph else _array_loop
    with set_grad_enabled(create_graph):
        loop(p, order, flush_at, needed, retain_graph, xp)
        for leaf, gi in p.leaf_grads.values():
            _accumulate_leaf(leaf, gi)
        if targets is None:
            return None
        out = [p.captured.get(id(t)) for t in targets]
        if not accumulate:  # autograd.grad: a leaf target's gradient through its tensor hooks
            out = [_leaf_hooks(t, g) for t, g in zip(targets, out)]
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
    only_inputs=True,
    allow_unused=None,
    is_grads_batched=False,
    materialize_grads=False,
):
    """torch.autograd.grad: the gradients of ``outputs`` (weighted by ``grad_outputs``) with
    respect to ``inputs``, returned as a tuple of Tensors; nothing is added into any ``.grad``.
    With ``create_graph=True`` the results carry a graph (differentiate them again for Hessians);
    ``retain_graph`` defaults to ``create_graph``. An input the outputs do not depend on is an
    error unless ``allow_unused=True``, which gives None for it, or ``materialize_grads=True``,
    which gives zeros. ``inputs`` may be a dict (the result is then a dict with its keys).
    ``is_grads_batched=True`` takes each ``grad_outputs`` tensor's first dimension as a batch of
    vectors and stacks the results (torch vmaps; here it is one backward pass per vector).
    ``only_inputs`` is ignored, as in torch (False warns that it is deprecated)."""
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, "
            "but got: allow_unused=False."
        )
    if allow_unused is None:
        allow_unused = materialize_grads
    if not only_inputs:
        warnings.warn(
            "only_inputs argument is deprecated and is ignored now (defaults to True). To "
            "accumulate gradient for other parts of the graph, please use "
            "torch.autograd.backward.",
            FutureWarning,
            stacklevel=2,
        )
    if type(inputs) is dict:
        got = grad(
            outputs,
            tuple(inputs.values()),
            grad_outputs,
            retain_graph,
            create_graph,
            True,
            allow_unused,
            is_grads_batched,
            materialize_grads,
        )
        return dict(zip(inputs.keys(), got))
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    ins = [inputs] if single else list(inputs)
    if not ins:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outs):
        raise RuntimeError(
            f"grad: grad_outputs has {len(grad_outputs)} tensors, outputs has {len(outs)}"
        )
    if retain_graph is None:
        retain_graph = create_graph
    for k, o in enumerate(outs):  # as torch, whatever allow_unused says
        if not isinstance(o, Tensor) or not o.requires_grad:
            raise RuntimeError(
                f"grad: element {k} of outputs does not require grad and does not have a grad_fn"
            )
    for k, i in enumerate(ins):
        if not isinstance(i, Tensor) or not i.requires_grad:
            raise RuntimeError(
                f"grad: element {k} of inputs does not require grad (torch: One of the "
                "differentiated Tensors does not require grad)"
            )
    if is_grads_batched:
        return _grad_batched(
            outs, ins, grad_outputs, retain_graph, create_graph, allow_unused, materialize_grads
        )
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
    if materialize_grads:
        from .ops import zeros_like

        result = [
            r if r is not None else zeros_like(i, requires_grad=create_graph)
            for r, i in zip(result, ins)
        ]
    return tuple(result)


def _grad_batched(outs, ins, grad_outputs, retain_graph, create_graph, allow_unused, mat):
    """``grad(..., is_grads_batched=True)``: one backward pass per row of the grad_outputs."""
    from .ops import stack, zeros_like

    if any(g is None for g in grad_outputs):
        raise RuntimeError("grad: is_grads_batched=True needs grad_outputs for every output")
    n = grad_outputs[0].shape[0]
    rows = []
    for b in range(n):
        rows.append(
            grad(
                outs,
                ins,
                [g[b] for g in grad_outputs],
                retain_graph or b < n - 1,
                create_graph,
                True,
                True,
                False,
                False,
            )
        )
    result = []
    for k, i in enumerate(ins):
        col = [row[k] for row in rows]
        if all(c is None for c in col):
            if not allow_unused:
                raise RuntimeError(
                    f"grad: element {k} of inputs appears to not have been used in the graph; "
                    "pass allow_unused=True if this is the desired behavior"
                )
            result.append(stack([zeros_like(i)] * n).requires_grad_(create_graph) if mat else None)
        else:
            result.append(stack([c if c is not None else zeros_like(i) for c in col]))
    return tuple(result)
