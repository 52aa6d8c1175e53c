"""Module's state dict, as torch 2.13's torch.nn.Module: ``state_dict`` and ``load_state_dict``,
the per-module steps they call on every submodule (``_save_to_state_dict`` and
``_load_from_state_dict``, which a subclass overrides to rename or convert old keys), the
``_metadata`` versions (``_version`` per class), extra state, and the state-dict hooks. Kept
beside module.py as a base class of Module.

The order of one ``state_dict`` call on a module with prefix ``p``: its ``_metadata[p[:-1]]`` is
written, its pre-hooks run, ``_save_to_state_dict``, the children (recursively), then its post
hooks. ``load_state_dict`` copies the dict (so the steps may change it), then per module,
parents first: ``_load_from_state_dict`` (whose first act is to run the load pre-hooks), the
children (each given the entries under its prefix, taken after the parent's step), then the
load post-hooks, which see the missing/unexpected keys gathered so far and may change them in
place before the strict check at the end."""

from __future__ import annotations

import functools
import warnings
import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Mapping
from typing import Any

from .._backend import on_device_of
from ..autograd import Tensor, no_grad
from .parameter import Parameter

_EXTRA_STATE_KEY_SUFFIX = "_extra_state"
_HOOK_DICTS = (
    "_state_dict_pre_hooks",
    "_state_dict_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


def _init_state_dict_hooks(d: dict[str, Any]) -> None:
    """Module.__init__'s part: the four hook dicts under torch's attribute names."""
    for name in _HOOK_DICTS:
        d[name] = OrderedDict()


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """(missing_keys, unexpected_keys), the named tuple torch's load_state_dict returns."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class _WrappedHook:
    """A load pre-hook, given its module first when registered through the public method (a
    weak reference, so the hook does not keep the module alive; copies and pickles re-point it
    at the copied module, as torch's)."""

    def __init__(self, hook: Callable[..., Any], module: Any = None) -> None:
        self.hook = hook
        functools.update_wrapper(self, hook)
        self.with_module = module is not None
        if module is not None:
            self.module = weakref.ref(module)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.with_module:
            module = self.module()
            if module is None:
                raise RuntimeError("You are trying to call the hook of a dead Module!")
            return self.hook(module, *args, **kwargs)
        return self.hook(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        state = {"hook": self.hook, "with_module": self.with_module}
        if self.with_module:
            state["module"] = self.module()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.hook = state["hook"]
        self.with_module = state["with_module"]
        if self.with_module:
            if state["module"] is None:
                raise RuntimeError("You are trying to revive the hook of a dead Module!")
            self.module = weakref.ref(state["module"])


def _array_of(v: Any) -> Any:
    """The array behind a checkpoint value (a pydlk or torch tensor, or a NumPy/CuPy array);
    None for anything else, which torch refuses too."""
    if isinstance(v, Tensor):
        return v._data
    if hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch tensor
        return v.detach().cpu().numpy()
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return v
    return None


class _ModuleStateDict:
    _version: int = 1  # written to state_dict()._metadata; bump when a class's keys change
    _parameters: dict[str, Any]
    _buffers: dict[str, Any]
    _non_persistent_buffers_set: set[str]
    _modules: dict[str, Any]

    def _hook_dict(self, name: str) -> OrderedDict[int, Any]:
        # setdefault: a module unpickled from before these dicts existed gets them on first use
        return self.__dict__.setdefault(name, OrderedDict())

    def _add_hook(self, name: str, hook: Any) -> Any:
        from .module import RemovableHandle  # module.py imports this file at load time

        hooks = self._hook_dict(name)
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    # -- registering hooks ---------------------------------------------------------------
    def register_state_dict_pre_hook(self, hook: Callable[..., None]) -> Any:
        """Register ``hook(module, prefix, keep_vars) -> None``, run by ``state_dict`` on this
        module before it saves anything (its own entries or its children's). Returns a handle
        whose ``remove()`` takes the hook out."""
        return self._add_hook("_state_dict_pre_hooks", hook)

    def register_state_dict_post_hook(self, hook: Callable[..., None]) -> Any:
        """Register ``hook(module, state_dict, prefix, local_metadata) -> None``, run by
        ``state_dict`` once this module and its children have saved their entries (under
        ``prefix``); it may change ``state_dict`` in place (drop, rename or add keys) and must
        return None (RuntimeError otherwise). Returns a handle whose ``remove()`` takes it out."""
        hook._from_public_api = True  # type: ignore[attr-defined]
        return self._add_hook("_state_dict_hooks", hook)

    def _register_state_dict_hook(self, hook: Callable[..., Any]) -> Any:
        """torch's older private name of the state_dict post hook: as
        ``register_state_dict_post_hook``, but a dict the hook returns replaces the result when
        this module is the one ``state_dict`` was called on."""
        if getattr(hook, "_from_public_api", False):
            raise RuntimeError(
                "Cannot register the same function as the state dict post hook that was "
                "previously registered via register_state_dict_post_hook"
            )
        return self._add_hook("_state_dict_hooks", hook)

    def _register_load_state_dict_pre_hook(
        self, hook: Callable[..., None], with_module: bool = False
    ) -> Any:
        """As ``register_load_state_dict_pre_hook``; with ``with_module=False`` (torch's
        default here) the hook is not given the module first."""
        wrapped = _WrappedHook(hook, self if with_module else None)
        return self._add_hook("_load_state_dict_pre_hooks", wrapped)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., None]) -> Any:
        """Register ``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs) -> None``, run at the start of this module's
        ``_load_from_state_dict``; ``state_dict`` is the loader's copy (this module's entries
        under ``prefix``), so the hook may rename, convert or add keys. Returns a handle whose
        ``remove()`` takes the hook out."""
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def register_load_state_dict_post_hook(self, hook: Callable[..., None]) -> Any:
        """Register ``hook(module, incompatible_keys) -> None``, run by ``load_state_dict``
        after this module and its children have loaded. ``incompatible_keys`` holds the lists
        ``missing_keys`` and ``unexpected_keys`` gathered so far; clearing or extending them in
        place changes what ``strict=True`` raises on. A hook returning anything but None raises
        AssertionError. Returns a handle whose ``remove()`` takes the hook out."""
        return self._add_hook("_load_state_dict_post_hooks", hook)

    # -- extra state ---------------------------------------------------------------------
    def get_extra_state(self) -> Any:
        """Override (with ``set_extra_state``) to save non-tensor state under the key
        ``<prefix>_extra_state``; the base method is never called."""
        raise RuntimeError(
            "Reached a code path in Module.get_extra_state() that should never be called."
        )

    def set_extra_state(self, state: Any) -> None:
        """Override (with ``get_extra_state``) to restore what ``get_extra_state`` returned, from
        the key ``<prefix>_extra_state``; the base method is never called."""
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should never be called."
        )

    def _has_extra_state(self, method: str) -> bool:
        return getattr(type(self), method) is not getattr(_ModuleStateDict, method)

    # -- saving --------------------------------------------------------------------------
    def _save_to_state_dict(
        self, destination: dict[str, Any], prefix: str, keep_vars: bool
    ) -> None:
        """Write this module's own parameters and persistent buffers (not its children's) into
        ``destination`` under ``prefix``: detached Tensors sharing memory, or the objects
        themselves with ``keep_vars``; then its extra state, if the class defines it.
        ``state_dict`` calls it on every submodule; subclasses override it to change keys."""
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else Tensor._wrap(p._data)
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else Tensor._wrap(b._data)
        if self._has_extra_state("get_extra_state"):
            destination[prefix + _EXTRA_STATE_KEY_SUFFIX] = self.get_extra_state()

    def state_dict(
        self, *args: Any, destination: Any = None, prefix: str = "", keep_vars: bool = False
    ) -> Any:
        """An OrderedDict of dotted name -> Tensor over this module and its children: the
        parameters and persistent buffers (None ones left out). As torch with
        ``keep_vars=False``, each value is a detached Tensor sharing memory with the parameter
        or buffer (``clone()`` it to snapshot); ``keep_vars=True`` gives the objects themselves.
        Its ``_metadata`` maps each module's prefix (``""`` for this one, ``"fc"``, ...) to
        ``{"version": cls._version}``. ``destination`` (a dict to fill and return) and
        positional arguments (FutureWarning) are accepted as torch does."""
        if args:
            warnings.warn(
                "Positional args are being deprecated, use kwargs instead. Refer to "
                "https://pytorch.org/docs/main/generated/torch.nn.Module.html"
                "#torch.nn.Module.state_dict for details.",
                FutureWarning,
                stacklevel=2,
            )
            if destination is None:
                destination = args[0]
            if len(args) > 1 and prefix == "":
                prefix = args[1]
            if len(args) > 2 and keep_vars is False:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        local_metadata = dict(version=self._version)
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = local_metadata
        for hook in self._hook_dict("_state_dict_pre_hooks").values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        for hook in self._hook_dict("_state_dict_hooks").values():
            result = hook(self, destination, prefix, local_metadata)
            if not getattr(hook, "_from_public_api", False):
                if result is not None:
                    destination = result
            elif result is not None:
                raise RuntimeError("state_dict post-hook must return None")
        return destination

    # -- loading -------------------------------------------------------------------------
    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Load this module's own parameters and persistent buffers (not its children's) from
        ``state_dict`` (the loader's copy, which may be changed) under ``prefix``, after running
        the load pre-hooks. ``local_metadata`` is what ``state_dict()._metadata`` saved for this
        module (``{}`` without it; ``"version"`` tells old checkpoints apart). Appends to
        ``missing_keys``, to ``unexpected_keys`` (when ``strict``) and to ``error_msgs`` (shape
        mismatches, values that are not tensors), as torch. Values are copied into the existing
        arrays (so optimiser arena views survive) unless ``local_metadata`` has
        ``assign_to_params_buffers`` (``load_state_dict(assign=True)``)."""
        for hook in self._hook_dict("_load_state_dict_pre_hooks").values():
            hook(
                state_dict,
                prefix,
                local_metadata,
                strict,
                missing_keys,
                unexpected_keys,
                error_msgs,
            )
        local_state = {k: v for k, v in self._parameters.items() if v is not None}
        for k, v in self._buffers.items():
            if v is not None and k not in self._non_persistent_buffers_set:
                local_state[k] = v
        assign = local_metadata.get("assign_to_params_buffers", False)
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            arr = _array_of(value)
            if arr is None:
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or '
                    f"Tensor-like object from checkpoint but received {type(value)}"
                )
                continue
            shape = tuple(param._data.shape)
            if tuple(arr.shape) != shape:
                # a 0-d value saved as (1,) (torch too), or a (1,) one saved as 0-d
                if arr.size == 1 and param._data.size == 1:
                    arr = arr.reshape(shape)
                else:
                    error_msgs.append(
                        f"size mismatch for {key}: copying a param with shape "
                        f"{tuple(arr.shape)} from checkpoint, the shape in "
                        f"current model is {shape}."
                    )
                    continue
            try:
                with no_grad():
                    if assign:
                        self._assign(name, param, value, arr)
                    else:
                        param._data[...] = on_device_of(arr, param._data)  # across devices
            except Exception as ex:  # noqa: BLE001  (reported with the others, as torch)
                error_msgs.append(
                    f'While copying the parameter named "{key}", whose dimensions in the model '
                    f"are {shape} and whose dimensions in the checkpoint are "
                    f"{tuple(arr.shape)}, an exception occurred : {ex.args}."
                )
        extra_key = prefix + _EXTRA_STATE_KEY_SUFFIX
        if self._has_extra_state("set_extra_state"):
            if extra_key in state_dict:
                self.set_extra_state(state_dict[extra_key])
            elif strict:
                missing_keys.append(extra_key)
        elif strict and extra_key in state_dict:
            unexpected_keys.append(extra_key)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra_key:
                    head = key[len(prefix) :].split(".", 1)
                    if len(head) > 1:  # under a submodule's name
                        if head[0] not in self._modules:
                            unexpected_keys.append(key)
                    elif head[0] not in local_state:
                        unexpected_keys.append(key)

    def _assign(self, name: str, param: Any, value: Any, arr: Any) -> None:
        """load_state_dict(assign=True): the checkpoint's tensor replaces the parameter or
        buffer (its dtype and device kept; a Parameter keeps the module's requires_grad)."""
        t = value if isinstance(value, Tensor) else Tensor(arr)
        if tuple(t.shape) != tuple(arr.shape):
            t = Tensor(arr)
        if isinstance(param, Parameter):
            if isinstance(t, Parameter):
                t.requires_grad_(param.requires_grad)
            else:
                t = Parameter(t, requires_grad=param.requires_grad)
            self._parameters[name] = t  # in its place: the dict's order is the keys' order
        else:
            self._buffers[name] = t

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> _IncompatibleKeys:
        """Copy parameters and buffers from ``state_dict`` into this module and its children,
        in place, through each module's ``_load_from_state_dict`` and the load hooks.

        Returns ``_IncompatibleKeys(missing_keys, unexpected_keys)``; with ``strict=True``
        (default) either non-empty raises RuntimeError listing them, with torch's message. A
        shape mismatch always raises, naming the key and both shapes. ``assign=True`` puts the
        checkpoint's tensors in place of the parameters and buffers instead of copying into
        them (build the optimiser afterwards, as torch says)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing_keys: list[str] = []
        unexpected_keys: list[str] = []
        error_msgs: list[str] = []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)  # the steps may change it
        if metadata is not None:
            state_dict._metadata = metadata  # type: ignore[attr-defined]

        def load(module: Any, local_state_dict: dict[str, Any], prefix: str = "") -> None:
            local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
            if assign:
                local_metadata["assign_to_params_buffers"] = assign
            module._load_from_state_dict(
                local_state_dict,
                prefix,
                local_metadata,
                True,
                missing_keys,
                unexpected_keys,
                error_msgs,
            )
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    child_state_dict = {
                        k: v for k, v in local_state_dict.items() if k.startswith(child_prefix)
                    }
                    load(child, child_state_dict, child_prefix)
            incompatible_keys = _IncompatibleKeys(missing_keys, unexpected_keys)
            for hook in module._hook_dict("_load_state_dict_post_hooks").values():
                if hook(module, incompatible_keys) is not None:
                    raise AssertionError(
                        "Hooks registered with ``register_load_state_dict_post_hook`` are not "
                        "expected to return new values, if incompatible_keys need to be "
                        "modified, it should be done inplace."
                    )

        load(self, state_dict)
        if strict:
            if unexpected_keys:
                keys = ", ".join(f'"{k}"' for k in unexpected_keys)
                error_msgs.insert(0, f"Unexpected key(s) in state_dict: {keys}. ")
            if missing_keys:
                keys = ", ".join(f'"{k}"' for k in missing_keys)
                error_msgs.insert(0, f"Missing key(s) in state_dict: {keys}. ")
        if error_msgs:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(error_msgs)
            )
        return _IncompatibleKeys(missing_keys, unexpected_keys)
