"""Containers and shape modules: Sequential, ModuleList, ModuleDict, ParameterList,
ParameterDict, Identity, Flatten, Unflatten."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Sequence

from ..autograd import Tensor
from .module import Module
from .normalization import bn_relu_fusable, bn_relu_pool_fusable
from .parameter import Parameter

__all__ = [
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "ParameterList",
    "ParameterDict",
    "Identity",
    "Flatten",
    "Unflatten",
]


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: integer indexing, length, iteration, append/extend/
    insert, and renumbering the keys 0..n-1 after a deletion or insertion."""

    def _idx(self, idx):
        n = len(self)
        idx = operator.index(idx)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        return idx % n

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def _insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, module)
        self._renumber(items)

    def _renumber(self, items):
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)


class Sequential(_ModuleSequence):
    """Runs its modules in order. ``Sequential(a, b)`` or ``Sequential(OrderedDict(...))``;
    indexing returns a module, slicing a new Sequential sharing the modules."""

    def __init__(self, *args) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for k, m in args[0].items():
                self.add_module(k, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[self._idx(idx)]

    def __setitem__(self, idx, module):
        key = list(self._modules.keys())[self._idx(idx)]
        self.add_module(key, module)

    def __delitem__(self, idx):
        keys = list(self._modules.keys())
        for k in keys[idx] if isinstance(idx, slice) else [keys[self._idx(idx)]]:
            del self._modules[k]
        self._renumber(list(self._modules.values()))  # as torch does

    def insert(self, index, module: Module):
        self._insert(index, module)
        return self

    def forward(self, input: Tensor) -> Tensor:
        # A BatchNorm followed by a plain ReLU runs as one fused kernel (see bn_relu_fusable),
        # and with a 2x2 max pool after them too (bn_relu_pool_fusable), where the input has a
        # whole window (otherwise the modules' own calls give their own errors).
        mods = list(self._modules.values())
        i = 0
        while i < len(mods):
            m = mods[i]
            if (
                i + 2 < len(mods)
                and bn_relu_pool_fusable(m, mods[i + 1], mods[i + 2])
                and input.ndim == 4
                and input.shape[2] >= 2
                and input.shape[3] >= 2
            ):
                input = m._forward_relu_max_pool(input)
                i += 3
            elif i + 1 < len(mods) and bn_relu_fusable(m, mods[i + 1]):
                input = m._forward_add_relu(input)
                i += 2
            else:
                input = m(input)
                i += 1
        return input


class ModuleList(_ModuleSequence):
    """A list of modules, registered as submodules (named '0', '1', ...); it has no forward."""

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __repr__(self):
        """torch's: runs of equal modules fold into ``(0-3): 4 x Linear(...)``."""
        reprs = [repr(m) for m in self._modules.values()]
        if not reprs:
            return self._get_name() + "()"
        runs = [[0, 0, reprs[0]]]
        for i, r in enumerate(reprs[1:], 1):
            if r == runs[-1][2]:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        lines = []
        for start, end, r in runs:
            head = f"({start})" if start == end else f"({start}-{end}): {end - start + 1} x"
            body = f"{head}: {r}" if start == end else f"{head} {r}"
            lines.append(body.replace("\n", "\n  "))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[str(self._idx(idx))]

    def __setitem__(self, idx, module):
        self.add_module(str(self._idx(idx)), module)

    def __delitem__(self, idx):
        items = list(self._modules.values())
        del items[idx]
        self._renumber(items)

    def insert(self, index, module: Module):  # returns None, as torch's ModuleList.insert
        self._insert(index, module)


class ModuleDict(Module):
    """A dict of modules, registered as submodules under their keys; it has no forward."""

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        return self._modules.pop(key)

    def clear(self):
        self._modules.clear()

    def update(self, modules) -> None:
        items = modules.items() if hasattr(modules, "items") else modules
        for k, m in items:
            self[k] = m


def _as_parameter(value, what: str) -> Parameter:
    """A Parameter as is; a plain Tensor wrapped in one (sharing its array), as torch."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise TypeError(f"{what}: expected a Parameter or a Tensor, got {type(value).__name__}")


def _param_repr(p) -> str:
    kind = "Parameter containing" if isinstance(p, Parameter) else "Tensor"
    dev = "" if p.device == "cpu" else f" ({p.device})"
    return f"{kind}: [{p.dtype} of size {'x'.join(map(str, p.shape))}{dev}]"


class ParameterList(Module):
    """A list of parameters, registered under the names '0', '1', ... (so a state_dict holds
    ``scales.0``, as torch's); plain Tensors are wrapped in ``Parameter``. Indexing (negative
    too; a slice gives a new ParameterList), ``len``, iteration, ``append`` and ``extend``. It
    has no forward.

    Raises TypeError for a value that is no Tensor, IndexError for an index out of range.
    """

    def __init__(self, values=None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _idx(self, idx):
        n = len(self)
        idx = operator.index(idx)
        if not -n <= idx < n:
            raise IndexError(f"ParameterList: index {idx} is out of range for {n} parameters")
        return idx % n

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList(list(self._parameters.values())[idx])
        return self._parameters[str(self._idx(idx))]

    def __setitem__(self, idx, param) -> None:
        self.register_parameter(
            str(self._idx(idx)), _as_parameter(param, "ParameterList.__setitem__")
        )

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def __iadd__(self, parameters):
        return self.extend(parameters)

    def append(self, value) -> ParameterList:
        """Add ``value`` (a Parameter, or a Tensor to wrap) at the end; returns self."""
        self.register_parameter(str(len(self)), _as_parameter(value, "ParameterList.append"))
        return self

    def extend(self, values) -> ParameterList:
        """Append each of ``values``; returns self."""
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        # torch indents these lines by two more than a child module's (its own quirk)
        return "\n".join(f"  ({k}): {_param_repr(p)}" for k, p in self._parameters.items())


class ParameterDict(Module):
    """A dict of parameters, registered under their keys (so a state_dict holds ``bias.a``, as
    torch's); plain Tensors are wrapped in ``Parameter``. ``d[k]``, ``d[k] = p``, ``del d[k]``,
    ``in``, ``len``, iteration over the keys, ``keys``/``values``/``items``, ``get``, ``pop``,
    ``update`` and ``clear``. It has no forward.

    Raises KeyError for a missing key and TypeError for a value that is no Tensor.
    """

    def __init__(self, parameters=None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str):
        return self._parameters[key]

    def __setitem__(self, key: str, value) -> None:
        self.register_parameter(key, _as_parameter(value, "ParameterDict.__setitem__"))

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def __contains__(self, key) -> bool:
        return key in self._parameters

    def keys(self):
        """The keys, in insertion order."""
        return self._parameters.keys()

    def values(self):
        """The parameters, in insertion order."""
        return self._parameters.values()

    def items(self):
        """(key, parameter) pairs, in insertion order."""
        return self._parameters.items()

    def get(self, key: str, default=None):
        """The parameter under ``key``, or ``default``."""
        return self._parameters.get(key, default)

    def pop(self, key: str):
        """Remove the parameter under ``key`` and return it."""
        return self._parameters.pop(key)

    def clear(self) -> None:
        """Remove every parameter."""
        self._parameters.clear()

    def update(self, parameters) -> None:
        """Add the (key, parameter) pairs of a mapping or an iterable of pairs."""
        items = parameters.items() if hasattr(parameters, "items") else parameters
        for k, v in items:
            self[k] = v

    def extra_repr(self) -> str:
        # torch indents these lines by two more than a child module's (its own quirk)
        return "\n".join(f"  ({k}): {_param_repr(p)}" for k, p in self._parameters.items())


class Identity(Module):
    """Returns its input; any constructor arguments are ignored (as torch)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Flatten(Module):
    """Flatten dims ``start_dim`` to ``end_dim`` (by default all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        nd = len(shape)
        s = self.start_dim % nd if nd else 0
        e = self.end_dim % nd if nd else 0
        if s > e:
            raise ValueError(
                f"Flatten: start_dim {self.start_dim} comes after end_dim "
                f"{self.end_dim} for a {nd}-D input"
            )
        n = 1
        for d in shape[s : e + 1]:
            n *= d
        return input.reshape(tuple(shape[:s]) + (n,) + tuple(shape[e + 1 :]))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape
        d = self.dim % len(shape)
        return input.reshape(tuple(shape[:d]) + self.unflattened_size + tuple(shape[d + 1 :]))

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
