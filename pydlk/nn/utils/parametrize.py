"""Parametrizations of a module's parameters and buffers (``torch.nn.utils.parametrize``).

``register_parametrization(module, "weight", P())`` moves ``module.weight`` into
``module.parametrizations.weight.original`` (or ``original0``, ``original1``, ... when
``P.right_inverse`` returns several tensors) and swaps the module's class for a generated
subclass, ``Parametrized<Class>``, whose property ``weight`` computes ``P(original)`` on every
read (or once per :func:`cached` block). Assigning ``module.weight = X`` runs the
parametrizations' ``right_inverse`` and writes the originals, without gradient. The originals
are ordinary parameters (or buffers) of a :class:`ParametrizationList`, so ``parameters()``
yields them, optimisers built afterwards train them, and ``state_dict`` keys are torch's
(``parametrizations.weight.original``).

Where pydlk differs from torch: a copy (``copy.deepcopy``) gets a generated class of its own,
so removing a parametrization from the copy leaves the original intact, and a parametrized
module pickles (torch refuses and points to ``state_dict``).
"""

from __future__ import annotations

import collections.abc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ... import _arena
from ..._grad_mode import no_grad
from ...autograd import Tensor
from ..container import ModuleDict, ModuleList
from ..module import Module
from ..parameter import Parameter

__all__ = [
    "cached",
    "ParametrizationList",
    "register_parametrization",
    "is_parametrized",
    "remove_parametrizations",
    "type_before_parametrizations",
    "transfer_parametrizations_and_params",
]

_cache_enabled = 0
_cache: dict[tuple[int, str], Tensor] = {}


@contextmanager
def cached() -> Iterator[None]:
    """Within this block each parametrized tensor is computed once, on its first read, and
    the same Tensor is returned by later reads (torch's ``parametrize.cached``); the values are
    dropped when the outermost block exits. Useful when a forward reads a parametrized weight
    several times (a recurrent kernel in a loop, shared weights)."""
    global _cache, _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache = {}


def _register_parameter_or_buffer(module: Module, name: str, X: Tensor) -> None:
    if isinstance(X, Parameter):
        module.register_parameter(name, X)
    else:
        module.register_buffer(name, X)


def _maybe_set(dest: Tensor, src: Any) -> None:
    """Give ``dest`` the value of ``src`` keeping ``dest`` the same object, as torch's
    ``dest.set_(src)``: an optimiser holding ``dest`` keeps training it. With the same shape,
    dtype and device the values are written into ``dest``'s array, so a slot in an optimiser's
    arena stays a view; otherwise ``dest`` takes ``src``'s array and leaves its arena slot."""
    arr = src._data if isinstance(src, Tensor) else np.asarray(src)
    old = dest._data
    if (
        arr.shape == old.shape
        and arr.dtype == old.dtype
        and type(arr) is type(old)
        and getattr(arr, "device", None) == getattr(old, "device", None)
    ):
        old[...] = arr
    else:
        dest._data = arr
        _arena.unbind(dest)


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor and its original tensor(s): the type of
    ``module.parametrizations[tensor_name]`` (torch's ``ParametrizationList``).

    It holds the originals as ``original`` when the first parametrization's ``right_inverse``
    returns one tensor (or it has none, meaning the identity), else as ``original0``,
    ``original1``, ...: parameters if the parametrized tensor was a parameter, else buffers.
    Calling it evaluates the chain: ``self[0](originals)``, then ``self[1]``, ... on the result.
    Built by :func:`register_parametrization`; not meant to be instantiated directly.

    ``unsafe=False`` checks that ``forward(right_inverse(original))`` has the original's dtype
    and shape (ValueError otherwise).
    """

    original: Tensor
    unsafe: bool

    def __init__(self, modules: Sequence[Module], original: Tensor, unsafe: bool = False) -> None:
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        original_shape, original_dtype = original.shape, original.dtype
        new: Any
        with no_grad():
            new = original
            for module in reversed(self):
                if hasattr(module, "right_inverse"):
                    try:
                        new = module.right_inverse(new)
                    except NotImplementedError:
                        pass  # taken as the identity, as torch does
        if not isinstance(new, (Tensor, Sequence)):
            raise ValueError(
                "'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                f"Got {type(new).__name__}"
            )
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if isinstance(new, Tensor) else len(new)
        if isinstance(new, Tensor):
            if original.dtype != new.dtype:
                raise ValueError(
                    "When `right_inverse` outputs one tensor, it may not change the dtype.\n"
                    f"original.dtype: {original.dtype}\n"
                    f"right_inverse(original).dtype: {new.dtype}"
                )
            if original.device != new.device:
                raise ValueError(
                    "When `right_inverse` outputs one tensor, it may not change the device.\n"
                    f"original.device: {original.device}\n"
                    f"right_inverse(original).device: {new.device}"
                )
            # the same object stays the original, so an optimiser already holding it trains it
            with no_grad():
                _maybe_set(original, new)
            _register_parameter_or_buffer(self, "original", original)
        else:
            for i, originali in enumerate(new):
                if not isinstance(originali, Tensor):
                    raise ValueError(
                        "'right_inverse' must return a Tensor or a Sequence of tensors "
                        "(list, tuple...). "
                        f"Got element {i} of the sequence with type {type(originali).__name__}."
                    )
                if isinstance(original, Parameter):
                    originali = Parameter(originali, original.requires_grad)
                originali.requires_grad_(original.requires_grad)
                _register_parameter_or_buffer(self, f"original{i}", originali)
        if not self.unsafe:
            Z = self()
            if not isinstance(Z, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(Z).__name__}.")
            if Z.dtype != original_dtype:
                raise ValueError(
                    "Registering a parametrization may not change the dtype of the tensor, "
                    "unless `unsafe` flag is enabled.\n"
                    f"unparametrized dtype: {original_dtype}\n"
                    f"parametrized dtype: {Z.dtype}"
                )
            if Z.shape != original_shape:
                raise ValueError(
                    "Registering a parametrization may not change the shape of the tensor, "
                    "unless `unsafe` flag is enabled.\n"
                    f"unparametrized shape: {original_shape}\n"
                    f"parametrized shape: {Z.shape}"
                )

    def right_inverse(self, value: Tensor) -> None:
        """Run the parametrizations' ``right_inverse`` in reverse registration order on
        ``value`` and write the result into ``original`` (or ``original0``, ``original1``,
        ...), without gradient. RuntimeError if one has no ``right_inverse``; ValueError if the
        result's type, length or dtype does not match the originals."""
        with no_grad():
            for module in reversed(self):
                if hasattr(module, "right_inverse"):
                    value = module.right_inverse(value)
                else:
                    raise RuntimeError(
                        f"parametrization {type(module).__name__} does not implement right_inverse."
                    )
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ValueError(
                        f"`right_inverse` should return a tensor. Got {type(value).__name__}"
                    )
                if value.dtype != self.original.dtype:
                    raise ValueError(
                        f"The tensor returned by `right_inverse` has dtype {value.dtype} "
                        f"while `original` has dtype {self.original.dtype}"
                    )
                _maybe_set(self.original, value)
            else:
                if not isinstance(value, collections.abc.Sequence):
                    raise ValueError(
                        "'right_inverse' must return a sequence of tensors. "
                        f"Got {type(value).__name__}."
                    )
                if len(value) != self.ntensors:
                    raise ValueError(
                        "'right_inverse' must return a sequence of tensors of length "
                        f"{self.ntensors}. Got a sequence of length {len(value)}."
                    )
                for i, tensor in enumerate(value):
                    original_i = getattr(self, f"original{i}")
                    if not isinstance(tensor, Tensor):
                        raise ValueError(
                            f"'right_inverse' must return a sequence of tensors. "
                            f"Got element {i} of type {type(tensor).__name__}."
                        )
                    if original_i.dtype != tensor.dtype:
                        raise ValueError(
                            f"Tensor {i} returned by `right_inverse` has dtype {tensor.dtype} "
                            f"while `original{i}` has dtype {original_i.dtype}"
                        )
                    _maybe_set(original_i, tensor)

    def forward(self) -> Tensor:
        """The parametrized tensor: the first parametrization on the originals, then each
        later one on the previous result."""
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for m in list(self._modules.values())[1:]:
            x = m(x)
        return x


def _rebuild_parametrized(base: type, names: tuple[str, ...]) -> Module:
    """Unpickling (and deepcopy) of a parametrized module: an empty instance of its generated
    class, rebuilt from the unparametrized class and the parametrized names; the caller then
    sets its ``__dict__``."""
    module: Module = object.__new__(base)
    _inject_new_class(module)
    for name in names:
        setattr(module.__class__, name, _make_property(name))
    return module


def _parametrized_reduce_ex(self: Module, protocol: int) -> tuple[Any, ...]:
    names = tuple(self.__dict__["_modules"]["parametrizations"].keys())
    return (_rebuild_parametrized, (type(self).__bases__[0], names), self.__dict__)


def _inject_new_class(module: Module) -> None:
    """Swap ``module``'s class for ``Parametrized<Class>``, a subclass that will carry one
    property per parametrized tensor (a class per module, so properties are not shared)."""
    cls = module.__class__
    module.__class__ = type(
        f"Parametrized{cls.__name__}", (cls,), {"__reduce_ex__": _parametrized_reduce_ex}
    )


def _make_property(tensor_name: str) -> property:
    def get_parametrized(self: Module) -> Tensor:
        parametrization = self.parametrizations[tensor_name]
        if _cache_enabled:
            key = (id(self), tensor_name)
            tensor = _cache.get(key)
            if tensor is None:
                tensor = parametrization()
                _cache[key] = tensor
            return tensor
        return parametrization()

    def set_original(self: Module, value: Tensor) -> None:
        self.parametrizations[tensor_name].right_inverse(value)

    return property(get_parametrized, set_original)


def _inject_property(module: Module, tensor_name: str) -> None:
    if hasattr(module, tensor_name):
        raise AssertionError(f"Module already has an attribute named '{tensor_name}'")
    setattr(module.__class__, tensor_name, _make_property(tensor_name))


def _check_same(got: Tensor, Y: Tensor, tensor_name: str, inverse: bool) -> None:
    """torch's checks, and messages, that a parametrization chained after others (or its
    right_inverse) keeps the tensor's dtype and shape."""
    for what in ("dtype", "shape"):
        if getattr(got, what) == getattr(Y, what):
            continue
        if inverse:
            head = (
                f"The tensor returned by parametrization.right_inverse must have the same "
                f"{what} as module.{tensor_name}, unless the `unsafe` flag is enabled.\n"
            )
            tail = f"returned {what}: {getattr(got, what)}"
        else:
            head = (
                f"Registering a parametrization may not change the {what} of the tensor, "
                "unless the `unsafe` flag is enabled.\n"
            )
            tail = f"parametrization(module.{tensor_name}).{what}: {getattr(got, what)}"
        raise ValueError(f"{head}module.{tensor_name}.{what}: {getattr(Y, what)}\n{tail}")


def register_parametrization(
    module: Module, tensor_name: str, parametrization: Module, *, unsafe: bool = False
) -> Module:
    """Parametrize ``module.<tensor_name>`` (a parameter or buffer) by ``parametrization``, as
    torch's ``register_parametrization``; returns ``module``.

    Reading ``module.<tensor_name>`` then returns ``parametrization(original)``, differentiably,
    so gradients reach the original. The first registration on a tensor moves it to
    ``module.parametrizations.<tensor_name>.original`` (a :class:`ParametrizationList`); if
    ``parametrization`` has ``right_inverse(X)`` it computes the original from the current
    value, and may return several tensors (``original0``, ``original1``, ..., passed to
    ``parametrization.forward`` as separate arguments). Registering again on the same name
    chains the new parametrization after the existing ones. Assigning ``module.<tensor_name> =
    X`` calls the ``right_inverse`` chain. The parametrization takes the module's training mode.

    ``unsafe=False`` checks that the parametrization keeps the tensor's dtype and shape (and,
    when chaining, that ``right_inverse`` does too): ValueError otherwise. ValueError also if
    the module has no parameter, buffer or parametrized tensor named ``tensor_name``.
    """
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            Y = getattr(module, tensor_name)
            X = parametrization(Y)
            if not isinstance(X, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(X).__name__}.")
            _check_same(X, Y, tensor_name, inverse=False)
            if hasattr(parametrization, "right_inverse"):
                try:
                    Z = parametrization.right_inverse(X)
                except NotImplementedError:
                    pass
                else:
                    if not isinstance(Z, Tensor):
                        raise ValueError(
                            "parametrization.right_inverse must return a tensor. "
                            f"Got: {type(Z).__name__}"
                        )
                    _check_same(Z, Y, tensor_name, inverse=True)
        plist = module.parametrizations[tensor_name]
        plist.append(parametrization)
        plist.unsafe |= unsafe  # an unsafe chain stays unsafe
    elif tensor_name in module._buffers or tensor_name in module._parameters:
        original = getattr(module, tensor_name)
        plist = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = plist
    else:
        raise ValueError(
            f"Module '{module}' does not have a parameter, a buffer, or a "
            f"parametrized element with name '{tensor_name}'"
        )
    return module


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """True if ``module.<tensor_name>`` is parametrized, or with ``tensor_name=None`` if any of
    the module's tensors is."""
    parametrizations = getattr(module, "parametrizations", None)
    if parametrizations is None or not isinstance(parametrizations, ModuleDict):
        return False
    if tensor_name is None:
        return len(parametrizations) > 0
    return tensor_name in parametrizations


def remove_parametrizations(
    module: Module, tensor_name: str, leave_parametrized: bool = True
) -> Module:
    """Remove the parametrizations of ``module.<tensor_name>``; returns ``module``.

    With ``leave_parametrized=True`` the tensor keeps its current parametrized value (written
    into the original object when there is one original, so an optimiser holding it still
    does); with ``False`` it becomes the unparametrized ``original`` again. Once no tensor is
    parametrized, the module gets its own class back. ValueError if the tensor is not
    parametrized, or for ``leave_parametrized=False`` when it has several originals.
    """
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    parametrizations = module.parametrizations[tensor_name]
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with no_grad():
                t = getattr(module, tensor_name)
                _maybe_set(original, t)
    else:
        if not leave_parametrized:
            raise ValueError(
                "Cannot leave unparametrized (`leave_parametrized=False`) a tensor "
                "that is parametrized in terms of a sequence of tensors."
            )
        t = getattr(module, tensor_name)  # with gradient: does any original require it?
        original = Parameter(t.detach()) if t.requires_grad else t.detach()
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    _register_parameter_or_buffer(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = module.__class__.__bases__[0]
    return module


def type_before_parametrizations(module: Module) -> type:
    """The module's class before parametrization (``Linear`` for a ``ParametrizedLinear``),
    or its class if it is not parametrized."""
    if is_parametrized(module):
        return module.__class__.__bases__[0]
    return type(module)


def transfer_parametrizations_and_params(
    from_module: Module, to_module: Module, tensor_name: str | None = None
) -> Module:
    """Register ``from_module``'s parametrizations of ``tensor_name`` (all of them when None)
    on ``to_module`` and share their originals, creating the parameter on ``to_module`` where
    it lacks one. Does nothing if ``from_module`` is not parametrized. Returns ``to_module``."""
    if not is_parametrized(from_module):
        return to_module
    names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
    for name in names:
        if not hasattr(to_module, name):
            setattr(to_module, name, Parameter(getattr(from_module, name).detach()))
        src = from_module.parametrizations[name]
        for param_func in src:
            register_parametrization(to_module, name, param_func)
        dst = to_module.parametrizations[name]
        if hasattr(src, "original"):
            dst.original = src.original
        else:
            num = 0
            while hasattr(src, f"original{num}"):
                setattr(dst, f"original{num}", getattr(src, f"original{num}"))
                num += 1
    return to_module
