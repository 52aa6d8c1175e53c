"""``add_graph``'s GraphDef. pydlk records no traced graph, so the graph is the module tree seen
during one run of the model (in eval mode, under ``no_grad``): every leaf module call (and every
call of a module with parameters of its own) is a node, named by its scope as torch names
scopes (``Net/Sequential[blk]/Linear[0]/...``), with the module's class as its op, its
``extra_repr`` as its ``attr`` and its output shapes as ``_output_shapes``; each parameter and
buffer is a node in its module's scope with its shape, feeding the module's node. Edges follow
the tensors a module call received: from the model's inputs or the module call that returned
that tensor; a tensor made by a functional op between modules (``F.relu(self.fc(x))``) is drawn
from the module call that finished last before it. Functional ops are not nodes."""

from __future__ import annotations

from typing import Any

from tensorboard.compat.proto.attr_value_pb2 import AttrValue
from tensorboard.compat.proto.config_pb2 import RunMetadata
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.compat.proto.node_def_pb2 import NodeDef
from tensorboard.compat.proto.step_stats_pb2 import DeviceStepStats, StepStats
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.compat.proto.versions_pb2 import VersionDef


def _tensors(obj: Any) -> list[Any]:
    """The Tensors and arrays in ``obj`` (nested tuples, lists and dict values), in order."""
    import numpy as np

    from ...autograd import Tensor

    if isinstance(obj, (Tensor, np.ndarray)) or hasattr(obj, "__cuda_array_interface__"):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _node(name: str, op: str, inputs: list[str], shapes: list[tuple[int, ...]], attr: str):
    attrs = {"attr": AttrValue(s=attr.encode("utf_8"))}
    if shapes:
        protos = [TensorShapeProto(dim=[TensorShapeProto.Dim(size=d) for d in s]) for s in shapes]
        attrs["_output_shapes"] = AttrValue(list=AttrValue.ListValue(shape=protos))
    return NodeDef(name=name, op=op, input=inputs, attr=attrs)


def model_args(input_to_model: Any) -> tuple[Any, ...]:
    """The positional arguments of the model's run, as ``torch.jit.trace`` takes its example
    inputs: a tuple is the arguments, a list becomes a tuple, anything else one argument,
    None none."""
    if input_to_model is None:
        return ()
    if isinstance(input_to_model, tuple):
        return input_to_model
    if isinstance(input_to_model, list):
        return tuple(input_to_model)
    return (input_to_model,)


def graph(model: Any, args: tuple[Any, ...], verbose: bool = False) -> tuple[GraphDef, RunMetadata]:
    """Run ``model(*args)`` once (eval mode, no_grad) and return the module-tree GraphDef and
    the RunMetadata torch writes beside it (one CPU device, as torch's writer always says)."""
    from ... import no_grad
    from ...nn import Module

    if not isinstance(model, Module):
        raise TypeError(f"add_graph: model should be a pydlk.nn.Module, got {type(model).__name__}")

    modules = list(model.named_modules())
    scope: dict[int, str] = {}  # module id -> its scope, torch's spelling
    by_path: dict[str, str] = {}
    for path, m in modules:  # parents come before their children
        parent, _, attr = path.rpartition(".")
        name = f"{by_path[parent]}/{type(m).__name__}[{attr}]" if path else type(m).__name__
        scope[id(m)] = by_path[path] = name

    nodes: list[NodeDef] = []
    made_by: dict[int, str] = {}  # id(tensor) -> the node that returned it
    alive: list[Any] = []  # keeps the tensors seen alive, so that their ids stay theirs
    last = [""]  # the node that finished last
    count: dict[str, int] = {}
    pending: dict[int, list[list[str]]] = {}  # module id -> input edges of its open calls

    def source(t: Any) -> str:
        return made_by.get(id(t), last[0])

    for i, t in enumerate(_tensors(args)):
        name = f"input/input.{i + 1}"
        nodes.append(_node(name, "IO Node", [], [tuple(t.shape)], ""))
        made_by[id(t)], last[0] = name, name
        alive.append(t)

    param_nodes: dict[int, list[str]] = {}
    for _, m in modules:
        names = []
        own = [("Parameter", n, p) for n, p in m._parameters.items() if p is not None]
        own += [("Buffer", n, b) for n, b in m._buffers.items() if b is not None]
        for op, n, p in own:
            name = f"{scope[id(m)]}/{n}"
            attr = f"{{ name : {n}, dtype : {p.dtype}, requires_grad : {p.requires_grad} }}"
            nodes.append(_node(name, op, [], [tuple(p.shape)], attr))
            names.append(name)
        param_nodes[id(m)] = names

    recorded = [id(m) for _, m in modules if not m._modules or param_nodes[id(m)]]

    def pre_hook(m, inputs):
        edges = []
        for t in _tensors(inputs):
            if source(t) and source(t) not in edges:
                edges.append(source(t))
        pending.setdefault(id(m), []).append(edges)

    def post_hook(m, inputs, output):
        edges = pending[id(m)].pop()
        base = f"{scope[id(m)]}/output"
        count[base] = count.get(base, 0) + 1
        name = base if count[base] == 1 else f"{base}.{count[base]}"
        outs = _tensors(output)
        nodes.append(
            _node(
                name,
                type(m).__name__,
                edges + param_nodes[id(m)],
                [tuple(t.shape) for t in outs],
                m.extra_repr(),
            )
        )
        for t in outs:
            made_by[id(t)] = name
            alive.append(t)
        last[0] = name

    handles = []
    for _, m in modules:
        if id(m) in recorded:
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(post_hook))
    was_training = model.training
    model.train(False)
    try:
        with no_grad():
            output = model(*args)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()

    for i, t in enumerate(_tensors(output)):
        nodes.append(_node(f"output/output.{i + 1}", "IO Node", [source(t)], [tuple(t.shape)], ""))
    if verbose:
        for n in nodes:
            shapes = [[d.size for d in s.dim] for s in n.attr["_output_shapes"].list.shape]
            print(f"{n.name} ({n.op}) <- {list(n.input)} {shapes}")
    stepstats = RunMetadata(
        step_stats=StepStats(dev_stats=[DeviceStepStats(device="/device:CPU:0")])
    )
    return GraphDef(node=nodes, versions=VersionDef(producer=22)), stepstats
