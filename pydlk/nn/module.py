"""Module: the base class of every layer (torch.nn.Module's names and semantics).

Parameters, buffers and submodules are registered by attribute assignment; ``state_dict`` keys
are the dotted paths torch uses, so a state dict moves between the two. ``load_state_dict``
writes INTO the existing arrays (``p._data[...] = value``), so views an optimiser's flat arena
holds stay valid.
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from .. import _arena
from .. import _device as _device_mod
from .._device import cuda_unavailable_error as _cuda_unavailable
from .._device import device as _device
from .._device import device_str as _device_str
from ..autograd import Tensor
from ..ops.memory_formats import _check_memory_format
from ._arrays import as_array
from ._module_extra import _ModuleConversions
from ._module_lookup import _ModuleLookups
from ._state_dict import _IncompatibleKeys, _init_state_dict_hooks, _ModuleStateDict  # noqa: F401
from .parameter import Parameter

__all__ = ["Module", "RemovableHandle"]

_M = TypeVar("_M", bound="Module")

# what a TorchScript module has and a pydlk one never does: pydlk.jit.script/trace return the
# module itself, so the AttributeError says why (and where to save it from)
_NO_GRAPH = (
    ": pydlk.jit.script and trace return the module itself and record no TorchScript graph "
    "or code (see pydlk.jit)"
)
_JIT_ONLY = {
    "graph": _NO_GRAPH,
    "inlined_graph": _NO_GRAPH,
    "code": _NO_GRAPH,
    "code_with_constants": _NO_GRAPH,
    "save": ": pydlk.jit.script and trace return the module itself; save it with "
    "pydlk.jit.save(module, f)",
}


class RemovableHandle:
    """Returned by the register_*_hook methods; ``remove()`` takes the hook out."""

    _ids = itertools.count()

    def __init__(self, hooks_dict: dict[int, Any], *extra_dicts: dict[int, Any]) -> None:
        self.hooks_dict = hooks_dict
        self.extra_dicts = extra_dicts  # per-hook flags (with_kwargs), removed with the hook
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self.hooks_dict.pop(self.id, None)
        for d in self.extra_dicts:
            d.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class Module(_ModuleLookups, _ModuleConversions, _ModuleStateDict):
    """Base class for layers and models. Subclasses call ``super().__init__()`` first and define
    ``forward``; calling the module runs forward pre-hooks, forward, forward hooks, and attaches
    full backward hooks."""

    training = True

    def __init_subclass__(cls, **kwargs):
        """A layer whose ``__init__`` takes torch's ``device=`` is built on the CPU and moved
        there once its outermost ``__init__`` returns (``self.to(device)``), so every layer
        constructor honours ``device=`` in one place. Moving is a no-op for arrays already
        there, so nested ``__init__`` calls (a subclass calling its parent's) cost nothing."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or "device" not in inspect.signature(init).parameters:
            return
        sig = inspect.signature(init)

        @functools.wraps(init)
        def __init__(self, *args, **kw):
            init(self, *args, **kw)
            dev = sig.bind(self, *args, **kw).arguments.get("device")
            if dev is None:  # pydlk.set_default_device's, as torch's reaches layers
                dev = _device_mod.default_device_str()
                if dev == "cpu":  # built there already; tensors it was given stay put, as torch's
                    dev = None
            if dev is not None:
                try:
                    self.to(dev)
                except (RuntimeError, ValueError) as e:
                    raise type(e)(f"{type(self).__name__}: device={dev!r}: {e}") from None

        cls.__init__ = __init__

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = {}  # ids of the hooks that take kwargs
        d["_forward_hooks_with_kwargs"] = {}
        d["_backward_hooks"] = OrderedDict()
        d["_backward_pre_hooks"] = OrderedDict()
        _init_state_dict_hooks(d)  # state_dict's and load_state_dict's (nn/_state_dict.py)

    # -- registration ------------------------------------------------------------------
    def _check_name(self, name, what):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string, got {type(name).__name__}")
        if "." in name or name == "":
            raise KeyError(f"{what} name can't contain '.' or be empty, got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' as parameter '{name}' "
                "(pydlk.nn.Parameter or None expected)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(as_array(tensor))
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name, keep="_parameters")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(pydlk.nn.Parameter or None expected)"
                )
            params[name] = None
        elif getattr(value, "_is_buffer", False) and isinstance(value, Tensor):  # nn.Buffer
            self._remove_from(name, keep="_buffers")
            self.register_buffer(name, value, persistent=getattr(value, "persistent", True))
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove_from(name, keep="_modules")
            self._modules[name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module "
                    f"'{name}' (pydlk.nn.Module or None expected)"
                )
            d["_modules"][name] = None
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                value = Tensor(as_array(value))
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _remove_from(self, name, keep=None):
        """Forget ``name`` everywhere but in the store ``keep``, where the new value takes the
        old one's place (torch's order: ``model.conv1 = ...`` keeps conv1 first among the
        children, so parameters, state dicts and a Sequential's layers keep their order)."""
        self.__dict__.pop(name, None)
        for dname in ("_parameters", "_buffers", "_modules"):
            if dname != keep:
                self.__dict__[dname].pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for dname in ("_parameters", "_buffers", "_modules"):
            sub = d.get(dname)
            if sub is not None and name in sub:
                return sub[name]
        why = _JIT_ONLY.get(name, "")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'{why}")

    def __delattr__(self, name):
        for dname in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[dname]:
                del self.__dict__[dname][name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(
            set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules)
        )

    # -- iteration ---------------------------------------------------------------------
    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(
                memo, prefix + ("." if prefix else "") + name, remove_duplicate
            )

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, get, prefix="", recurse=True, remove_duplicate=True):
        seen = set()
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for mprefix, m in mods:
            for k, v in get(m):
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield mprefix + ("." if mprefix else "") + k, v

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        yield from self._named_members(
            lambda m: m._parameters.items(), prefix, recurse, remove_duplicate
        )

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members(
            lambda m: m._buffers.items(), prefix, recurse, remove_duplicate
        )

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -- modes and bulk changes -------------------------------------------------------
    def train(self: _M, mode: bool = True) -> _M:
        if not isinstance(mode, bool):
            raise ValueError("train: mode is expected to be a bool")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self: _M) -> _M:
        return self.train(False)

    def requires_grad_(self: _M, requires_grad: bool = True) -> _M:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self: _M, fn: Callable[[Module], None]) -> _M:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p._grad is None:
                continue
            if set_to_none and _arena.grad_slot(p) is None:
                p._grad = None
            else:
                p._grad[...] = 0  # keeps an arena slot a view

    def _apply_array(self, fn):
        """Replace every parameter's and buffer's array by ``fn(array)`` (float ones only)."""
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p._data.dtype.kind == "f":
                    new = fn(p._data)
                    if new is not p._data:
                        p._data = new
                        _arena.unbind(p)
                        if p._grad is not None:
                            p._grad = fn(p._grad)
            for b in m._buffers.values():
                if b is not None and b._data.dtype.kind == "f":
                    b._data = fn(b._data)
        return self

    def to(self: _M, *args: Any, **kwargs: Any) -> _M:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)``, as torch's
        ``Module.to``: moves parameters and buffers to ``device`` (a ``pydlk.device``, ``'cpu'``,
        ``'cpu:0'``, ``'cuda'``, ``'cuda:N'``) and casts floating-point ones to ``dtype``.
        Returns ``self``. ``non_blocking`` is accepted; ``memory_format`` (``pydlk.channels_last``,
        ...) is checked and is a layout hint only: parameters stay C-order (NCHW) arrays."""
        dtype = kwargs.pop("dtype", None)
        dev = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        _check_memory_format("to", kwargs.pop("memory_format", None))
        if kwargs:
            raise TypeError(f"to: unexpected keyword argument(s) {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype, dev = a.dtype, a.device
            elif isinstance(a, (_device, int)) and not isinstance(a, bool):
                dev = a
            elif isinstance(a, str) and a.partition(":")[0] in ("cpu", "cuda"):
                dev = a
            elif isinstance(a, bool) or a is None:
                continue  # torch's positional non_blocking / an explicit None
            else:
                dtype = a
        if dtype is not None:
            try:
                dt = np.dtype(dtype)
            except TypeError:
                raise TypeError(
                    f"to: expected a device, a dtype or a Tensor, got {dtype!r}"
                ) from None
            if dt.kind not in "fc":
                raise TypeError(
                    f"to: nn.Module.to only accepts floating point or complex "
                    f"dtypes, but got desired dtype={dt}"
                )
            self._apply_array(lambda a: a if a.dtype == dt else a.astype(dt))
        if dev is not None:
            try:
                where = _device_str(dev)
            except ValueError as e:
                raise RuntimeError(f"to: {e}") from None
            if where != "cpu":
                from .. import cuda

                if not cuda.is_available():
                    raise _cuda_unavailable()
            self._move_all(where)
        return self

    def _move_all(self, where):
        """Move every parameter, gradient and buffer array to device ``where`` ('cpu' or
        'cuda:N'); arrays already there are left alone (so a CPU model stays as it is)."""
        from .._backend import device_of
        from ..ops.conversions import _move

        def move(a):
            return a if device_of(a) == where else _move(a, where)

        # An optimiser's arena whose parameters all move goes with them (buffers, state);
        # one that would be split between devices stays, and its optimiser then refuses to step.
        mine = {id(p) for p in self.parameters()}
        for a in {id(a): a for p in self.parameters() if (a := _arena.owning_arena(p))}.values():
            if (
                a.device != where
                and not a.detached
                and a.moved_to is None
                and all(id(p) in mine for p in a.params)
                and getattr(a.owner, "_relocatable", lambda: True)()
            ):
                a.relocate(where, move)
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and device_of(p._data) != where:
                    p._data = move(p._data)
                    _arena.moved(p, where)
                    if p._grad is not None:
                        p._grad = move(p._grad)
            for b in m._buffers.values():
                if b is not None and device_of(b._data) != where:
                    b._data = move(b._data)

    def float(self: _M) -> _M:
        return self.to(np.float32)

    def double(self: _M) -> _M:
        return self.to(np.float64)

    def half(self: _M) -> _M:
        """Cast floating-point parameters and buffers to float16 (torch's ``Module.half``)."""
        return self.to(np.float16)

    def bfloat16(self: _M) -> _M:
        """Cast floating-point parameters and buffers to ``pydlk.bfloat16`` (ml_dtypes'
        bfloat16, a CPU dtype: CuPy has none, so a model on a GPU raises TypeError)."""
        from .._backend import is_cupy
        from ..ops.conversions import bfloat16_dtype

        arrays = [t._data for t in itertools.chain(self.parameters(), self.buffers())]
        if any(is_cupy(a) for a in arrays if a.dtype.kind == "f"):
            raise TypeError("bfloat16: CuPy has no bfloat16 dtype; use half() on a GPU")
        bf16 = bfloat16_dtype()
        return self._apply_array(lambda a: a.astype(bf16))

    def cpu(self: _M) -> _M:
        """Move parameters and buffers to the CPU (a no-op for a CPU model); returns self."""
        return self.to("cpu")

    def cuda(self: _M, device: int | str | _device | None = None) -> _M:
        """Move parameters and buffers to CUDA device ``device`` (default 0); returns self.
        Without a usable GPU this raises RuntimeError, as torch does."""
        if device is None or isinstance(device, (str, _device)):
            return self.to("cuda" if device is None else device)
        return self.to(_device("cuda", int(device)))

    # -- state dict: nn/_state_dict.py, named here so that the API reference lists them --
    state_dict = _ModuleStateDict.state_dict
    load_state_dict = _ModuleStateDict.load_state_dict
    register_state_dict_pre_hook = _ModuleStateDict.register_state_dict_pre_hook
    register_state_dict_post_hook = _ModuleStateDict.register_state_dict_post_hook
    register_load_state_dict_pre_hook = _ModuleStateDict.register_load_state_dict_pre_hook
    register_load_state_dict_post_hook = _ModuleStateDict.register_load_state_dict_post_hook
    get_extra_state = _ModuleStateDict.get_extra_state
    set_extra_state = _ModuleStateDict.set_extra_state

    # -- hooks -------------------------------------------------------------------------
    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, with_kwargs: bool = False
    ) -> RemovableHandle:
        """``hook(module, args) -> None or new args``; with ``with_kwargs=True``
        ``hook(module, args, kwargs) -> None or (new args, new kwargs)``."""
        h = RemovableHandle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[h.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[h.id] = True
        return h

    def register_forward_hook(
        self, hook: Callable[..., Any], *, with_kwargs: bool = False
    ) -> RemovableHandle:
        """``hook(module, args, output) -> None or new output``; with ``with_kwargs=True``
        ``hook(module, args, kwargs, output)``."""
        h = RemovableHandle(self._forward_hooks, self._forward_hooks_with_kwargs)
        self._forward_hooks[h.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[h.id] = True
        return h

    def register_full_backward_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(module, grad_output) -> None or new grad_output``."""
        h = RemovableHandle(self._backward_pre_hooks)
        self._backward_pre_hooks[h.id] = hook
        return h

    def register_full_backward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(module, grad_input, grad_output) -> None or new grad_input``; grad_input are the
        gradients with respect to the module's Tensor positional inputs."""
        h = RemovableHandle(self._backward_hooks)
        self._backward_hooks[h.id] = hook
        return h

    register_backward_hook = register_full_backward_hook

    def _call_impl(self, *args: Any, **kwargs: Any) -> Any:
        if not (
            self._forward_pre_hooks
            or self._forward_hooks
            or self._backward_hooks
            or self._backward_pre_hooks
        ):
            return self.forward(*args, **kwargs)  # no hooks: the common case, kept short
        for hid, hook in list(self._forward_pre_hooks.items()):
            if hid in self._forward_pre_hooks_with_kwargs:
                r = hook(self, args, kwargs)
                if r is not None:
                    if not (isinstance(r, tuple) and len(r) == 2):
                        raise RuntimeError(
                            f"forward pre-hook must return None or a tuple of "
                            f"(new_args, new_kwargs), but got {r}."
                        )
                    args, kwargs = r
            else:
                r = hook(self, args)
                if r is not None:
                    args = r if isinstance(r, tuple) else (r,)
        bw = bool(self._backward_hooks or self._backward_pre_hooks)
        if bw:
            args, state = _BackwardHookState.wrap_inputs(self, args)
        out = self.forward(*args, **kwargs)
        for hid, hook in list(self._forward_hooks.items()):
            if hid in self._forward_hooks_with_kwargs:
                r = hook(self, args, kwargs, out)
            else:
                r = hook(self, args, out)
            if r is not None:
                out = r
        if bw:
            out = state.wrap_outputs(out)
        return out

    __call__ = _call_impl

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    # -- repr --------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


# ----------------------------------------------------------------------------- backward hooks


class _BackwardHookState:
    """Full backward hooks: identity Functions around the module's inputs and outputs catch
    grad_output (at the outputs) and grad_input (at the inputs) and call the hooks with both."""

    def __init__(self, module, n_in):
        self.module = module
        self.n_in = n_in
        self.grad_outputs = None
        self.grad_inputs = None
        self.pending_in = 0

    @classmethod
    def wrap_inputs(cls, module, args):
        from ..autograd import is_grad_enabled

        tens = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        state = cls(module, len(tens))
        if not is_grad_enabled():
            return args, state
        needs = [i for i in tens if args[i].requires_grad]
        if needs:
            outs = _HookIdentity.apply(state, "in", *[args[i] for i in needs])
            outs = outs if isinstance(outs, tuple) else (outs,)
            args = list(args)
            for i, o in zip(needs, outs):
                args[i] = o
            args = tuple(args)
            state.in_index = {i: k for k, i in enumerate(needs)}
        state.tens = tens
        state.needs = needs
        return args, state

    def wrap_outputs(self, out):
        from ..autograd import is_grad_enabled

        single = isinstance(out, Tensor)
        outs = (out,) if single else (tuple(out) if isinstance(out, (tuple, list)) else None)
        if outs is None or not is_grad_enabled():
            return out
        idx = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not idx:
            return out
        self.n_out = len(outs)
        self.out_idx = idx
        wrapped = _HookIdentity.apply(self, "out", *[outs[i] for i in idx])
        wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
        outs = list(outs)
        for i, w in zip(idx, wrapped):
            outs[i] = w
        if not getattr(self, "needs", None):
            self.no_inputs = True
        return outs[0] if single else type(out)(outs) if isinstance(out, tuple) else outs

    def on_grad_output(self, grads, graph=False):
        full = [None] * self.n_out
        for i, g in zip(self.out_idx, grads):
            full[i] = g if graph else Tensor(g)
        full = tuple(full)
        for hook in list(self.module._backward_pre_hooks.values()):
            r = hook(self.module, full)
            if r is not None:
                full = tuple(r)
        self.grad_outputs = full
        if getattr(self, "no_inputs", False):
            gi = tuple(None for _ in range(getattr(self, "n_in", 0)))
            for hook in list(self.module._backward_hooks.values()):
                hook(self.module, gi, full)
        return tuple(None if full[i] is None else _arr(full[i], graph) for i in self.out_idx)

    def on_grad_input(self, grads, graph=False):
        gi = [None] * len(self.tens)
        for k, i in enumerate(self.tens):
            if i in self.in_index:
                g = grads[self.in_index[i]]
                gi[k] = g if graph else Tensor(g)
        gi = tuple(gi)
        for hook in list(self.module._backward_hooks.values()):
            r = hook(self.module, gi, self.grad_outputs)
            if r is not None:
                gi = tuple(r)
        out = []
        for i in self.needs:
            g = gi[self.tens.index(i)]
            out.append(None if g is None else _arr(g, graph))
        return tuple(out)


def _arr(g, graph=False):
    """A hook's gradient as the engine takes it: an array, or with create_graph a Tensor (its
    graph kept, so a gradient penalty differentiates through the hooked module)."""
    if graph:
        return g if isinstance(g, Tensor) else Tensor(g)
    return g._data if isinstance(g, Tensor) else g


from ..autograd import Function  # noqa: E402


class _HookIdentity(Function):
    @staticmethod
    def forward(ctx, state, where, *xs):
        ctx.state, ctx.where = state, where
        out = tuple(x.view() for x in xs)
        return out[0] if len(out) == 1 else out

    @staticmethod
    def backward(ctx, *grads):
        if ctx.where == "out":
            g = ctx.state.on_grad_output(grads)
        else:
            g = ctx.state.on_grad_input(grads)
        return (None, None) + tuple(g)

    @staticmethod
    def backward_graph(ctx, inputs, *grads):
        # the hooks see (and may replace) the gradients as Tensors with their graph, as torch's
        if ctx.where == "out":
            g = ctx.state.on_grad_output(grads, graph=True)
        else:
            g = ctx.state.on_grad_input(grads, graph=True)
        return (None, None) + tuple(g)
