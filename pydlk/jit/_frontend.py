"""torch.jit's annotations and helpers that model code calls in eager mode: ``is_scripting``,
``is_tracing``, ``ignore``, ``unused``, ``export``, ``annotate``, ``Final``, ``Attribute``,
``isinstance``, ``interface``, ``fork``/``wait`` and the fuser switches (see ``pydlk.jit``)."""

from __future__ import annotations

import builtins
import collections
import contextlib
import enum
import threading
import typing
import warnings
from collections.abc import Callable, Iterator
from types import UnionType
from typing import Any, Final, TypeVar, get_args, get_origin  # Final: torch.jit.Final

__all__ = [
    "Attribute",
    "Error",
    "Final",
    "Future",
    "ScriptWarning",
    "TracerWarning",
    "TracingCheckError",
    "annotate",
    "enable_onednn_fusion",
    "export",
    "fork",
    "fuser",
    "ignore",
    "interface",
    "is_scripting",
    "is_tracing",
    "isinstance",
    "onednn_fusion_enabled",
    "optimized_execution",
    "script_if_tracing",
    "script_method",
    "set_fusion_strategy",
    "strict_fusion",
    "unused",
    "wait",
]

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])
_tracing = threading.local()  # depth of trace() calls running an example on this thread

# torch.jit.Attribute: in a ScriptModule's __init__, ``self.x = Attribute(value, type)`` stores
# ``value`` and records the type (ScriptModule.__setattr__ unwraps it); elsewhere it is this
# named tuple, as torch's
Attribute = collections.namedtuple("Attribute", ["value", "type"])
Attribute.__doc__ = """torch.jit.Attribute(value, type): a value with its TorchScript type;
a ``ScriptModule`` stores ``value`` (and notes the type in ``__annotations__``)."""


class Error(Exception):
    """torch.jit.Error: what a failing TorchScript ``raise`` gives (never raised by pydlk, which
    runs model code as Python; here so that ``except torch.jit.Error`` clauses run)."""


class TracerWarning(Warning):
    """torch.jit.TracerWarning: a tracer's warning about a trace that may not generalise
    (pydlk records no trace, so it never warns; here for warnings filters)."""

    @staticmethod
    def ignore_lib_warnings() -> None:
        """torch's: ignore tracer warnings raised inside torch itself (nothing to ignore)."""


class ScriptWarning(Warning):
    """torch.jit.ScriptWarning (never raised by pydlk; for warnings filters)."""


class TracingCheckError(Exception):
    """torch.jit.TracingCheckError: a trace that disagreed with its check inputs (pydlk's trace
    records nothing to disagree, so it never raises it)."""


class FunctionModifiers(enum.Enum):
    """The marks ``ignore``/``unused``/``export`` leave on a function (``_torchscript_modifier``,
    torch's attribute name)."""

    UNUSED = "unused (ignored and replaced with raising of an exception)"
    IGNORE = "ignore (leave as a call to Python, cannot be torch.jit.save'd)"
    EXPORT = "export (compile this function even if nothing calls it)"
    DEFAULT = "default (compile if called from a exported function / forward)"


def _deprecated(name: str) -> None:
    """torch 2.13's DeprecationWarning for torch.jit's compiling and saving functions, pointed
    at the caller of ``pydlk.jit.<name>``."""
    warnings.warn(
        f"`pydlk.jit.{name}` is deprecated, as `torch.jit.{name}` is in torch 2.13. Please "
        "switch to `pydlk.compile` (torch.compile), which also runs the model as it is.",
        DeprecationWarning,
        stacklevel=3,
    )


def is_scripting() -> bool:
    """torch.jit.is_scripting: False; pydlk never compiles TorchScript, so code always runs
    as Python (the branch torch takes in eager mode)."""
    return False


def is_tracing() -> bool:
    """torch.jit.is_tracing: True only while ``pydlk.jit.trace`` (or ``trace_module``) runs
    its example inputs through the model on this thread, as torch's."""
    return getattr(_tracing, "depth", 0) > 0


@contextlib.contextmanager
def _tracing_now() -> Iterator[None]:
    _tracing.depth = getattr(_tracing, "depth", 0) + 1
    try:
        yield
    finally:
        _tracing.depth -= 1


def _mark(fn: Any, modifier: FunctionModifiers) -> None:
    if builtins.isinstance(fn, property):
        for f in (fn.fget, fn.fset):
            if f is not None:
                setattr(f, "_torchscript_modifier", modifier)  # noqa: B010
    else:
        setattr(fn, "_torchscript_modifier", modifier)  # noqa: B010


def ignore(drop: Any = False, **kwargs: Any) -> Any:
    """torch.jit.ignore: ``@ignore`` or ``@ignore(drop=True)`` leaves a function as it is
    (TorchScript would call it as Python); marks it as torch does and returns it unchanged.
    An argument that is neither a bool nor a function raises RuntimeError, as torch's."""
    if callable(drop):
        _mark(drop, FunctionModifiers.IGNORE)
        return drop
    if not builtins.isinstance(drop, bool):
        raise RuntimeError(
            f"Argument to @torch.jit.ignore must be a bool or a function but got {drop}"
        )
    drop_on_export = kwargs.pop("drop_on_export", None)
    if kwargs:
        raise TypeError(f"ignore: unexpected keyword argument(s) {sorted(kwargs)}")
    if drop_on_export:
        warnings.warn(
            "ignore(drop_on_export=True) has been deprecated. TorchScript will now drop the "
            "function call on compilation. Use torch.jit.unused now.",
            category=FutureWarning,
            stacklevel=2,
        )
        drop = drop_on_export

    def decorator(fn: _F) -> _F:
        _mark(fn, FunctionModifiers.UNUSED if drop else FunctionModifiers.IGNORE)
        return fn

    return decorator


def unused(fn: _F) -> _F:
    """torch.jit.unused: ``fn`` (a function, method or property) unchanged; TorchScript would
    replace it by a raise, pydlk runs it as Python."""
    _mark(fn, FunctionModifiers.UNUSED)
    return fn


def export(fn: _F) -> _F:
    """torch.jit.export: ``fn`` unchanged (TorchScript would compile the method even if
    ``forward`` does not call it; pydlk runs every method as Python)."""
    _mark(fn, FunctionModifiers.EXPORT)
    return fn


def script_method(fn: _F) -> _F:
    """torch.jit.script_method (the old ``ScriptModule`` method decorator): ``fn`` unchanged."""
    return fn


def script_if_tracing(fn: _F) -> _F:
    """torch.jit.script_if_tracing: ``fn`` unchanged (nothing is ever compiled)."""
    return fn


def interface(obj: _T) -> _T:
    """torch.jit.interface: the class unchanged (a TorchScript interface type is an ordinary
    class in eager mode)."""
    _deprecated("interface")
    if not builtins.isinstance(obj, type):
        raise RuntimeError("interface must be applied to a class")
    return obj


def _overload(func: _F) -> _F:
    """torch.jit._overload: ``func`` unchanged (only TorchScript reads the overloads)."""
    return func


def _overload_method(func: _F) -> _F:
    """torch.jit._overload_method: ``func`` unchanged."""
    return func


def _unwrap_optional(x: _T | None) -> _T:
    """torch.jit._unwrap_optional: ``x``, asserting it is not None."""
    if x is None:
        raise AssertionError("Unwrapping null optional")
    return x


def annotate(the_type: Any, the_value: _T) -> _T:
    """torch.jit.annotate: ``the_value`` (the type is for TorchScript's compiler only)."""
    return the_value


def _needs_args(target: Any) -> None:
    """torch's refusal of a bare container type: ``List`` or ``dict`` without element types."""
    bare: dict[Any, str] = {dict: "dict", list: "list", tuple: "tuple"}
    bare[typing.Dict] = "Dict"  # noqa: UP006  (the bare typing names, as torch names them)
    bare[typing.List] = "List"  # noqa: UP006
    bare[typing.Tuple] = "Tuple"  # noqa: UP006
    bare[typing.Optional] = "Optional"
    name = bare.get(target)
    if name is None:
        return
    if name.endswith("ict"):
        raise RuntimeError(
            f"Attempted to use {name} without contained types. Please add contained type, "
            f"e.g. {name}[int, int]"
        )
    raise RuntimeError(
        f"Attempted to use {name} without a contained type. Please add a contained type, e.g. "
        f"{name}[int]"
    )


def _matches(obj: Any, target: Any) -> bool:
    origin = get_origin(target)
    if origin is None:
        _needs_args(target)
        if target is Any:
            return True
        if target is None or target is type(None):
            return obj is None
        return builtins.isinstance(obj, target)
    args = get_args(target)
    if not args:  # a bare typing.List / Dict / Tuple: torch's error; else the plain class
        _needs_args(target)
        return builtins.isinstance(obj, origin)
    if origin is list:  # List[int] and list[int]
        return builtins.isinstance(obj, list) and all(_matches(v, args[0]) for v in obj)
    if origin is dict:
        return builtins.isinstance(obj, dict) and all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in obj.items()
        )
    if origin is tuple:
        if not builtins.isinstance(obj, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in obj)
        return len(obj) == len(args) and all(_matches(v, t) for v, t in zip(obj, args))
    if origin is typing.Union or origin is UnionType:
        return any(_matches(obj, t) for t in args)
    return builtins.isinstance(obj, origin)


def isinstance(obj: Any, target_type: Any) -> bool:  # noqa: A001  (torch.jit.isinstance)
    """torch.jit.isinstance: ``isinstance`` that also checks container element types:
    ``List[int]``, ``Dict[str, Tensor]``, ``Tuple[int, str]``, ``Optional[Tensor]`` (and
    ``list[int]``, ``X | None``, a tuple of such types). An empty container warns, as torch's,
    that its element type cannot be seen. A bare ``List``/``Dict`` raises RuntimeError, as
    torch's. Differs from torch, whose eager check has gaps: ``Tuple[int, ...]`` is checked
    element by element, and ``Optional[int]``/``Union`` accept None only when they name it."""
    if builtins.isinstance(target_type, tuple):
        return any(isinstance(obj, t) for t in target_type)
    _needs_args(target_type)
    empty = builtins.isinstance(obj, (list, dict, tuple)) and len(obj) == 0
    if get_origin(target_type) is not None and empty:
        warnings.warn(
            "The inner type of a container is lost when calling torch.jit.isinstance in eager "
            "mode. For example, List[int] would become list and therefore falsely return True "
            "for List[float] or List[str].",
            stacklevel=2,
        )
    return _matches(obj, target_type)


class Future:
    """torch.jit.Future (torch.futures.Future) of a ``fork`` that already ran: ``wait()`` and
    ``value()`` give its result, ``done()`` is True, ``then(cb)`` returns a Future of
    ``cb(self)``, ``add_done_callback(cb)`` calls ``cb(self)`` at once."""

    def __init__(self, value: Any = None) -> None:
        self._value = value

    def wait(self) -> Any:
        return self._value

    def value(self) -> Any:
        return self._value

    def done(self) -> bool:
        return True

    def then(self, callback: Callable[[Future], Any]) -> Future:
        return Future(callback(self))

    def add_done_callback(self, callback: Callable[[Future], Any]) -> None:
        callback(self)


def fork(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    """torch.jit.fork: call ``func(*args, **kwargs)`` and return a :class:`Future` of the
    result. As torch's fork outside TorchScript, the call runs at once on this thread (so
    ``wait`` never blocks) and an exception it raises comes out of ``fork`` itself."""
    _deprecated("fork")
    if not callable(func):
        raise TypeError(f"fork: func must be callable, got {type(func).__name__}")
    return Future(func(*args, **kwargs))


def wait(future: Future) -> Any:
    """torch.jit.wait: the result of a :func:`fork`."""
    if not builtins.isinstance(future, Future):
        raise TypeError(f"wait: expected a Future from pydlk.jit.fork, got {type(future).__name__}")
    return future.wait()


@contextlib.contextmanager
def optimized_execution(should_optimize: bool) -> Iterator[None]:
    """torch.jit.optimized_execution: a context in which TorchScript would (not) optimise; pydlk
    runs eagerly either way."""
    yield


_FUSERS = ("fuser0", "fuser1", "fuser2", "fuser3", "none")
_fusion: dict[str, Any] = {"onednn": False, "strategy": [("STATIC", 2), ("DYNAMIC", 10)]}


@contextlib.contextmanager
def fuser(name: str) -> Iterator[None]:
    """torch.jit.fuser: choose TorchScript's fusion backend for a block ('fuser0', 'fuser1',
    'fuser2', 'fuser3', 'none'); pydlk has none, so the block runs as ever. Another name
    raises, as torch's."""
    if name not in _FUSERS:
        raise Exception(f"unrecognized fuser option (name: {name})")  # noqa: TRY002 (torch's)
    yield


def set_fusion_strategy(strategy: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """torch.jit.set_fusion_strategy: record ``[("STATIC", n), ("DYNAMIC", m)]`` and return the
    previous strategy (nothing is fused in pydlk)."""
    for item in strategy:
        if (
            not builtins.isinstance(item, tuple)
            or len(item) != 2
            or item[0] not in ("STATIC", "DYNAMIC")
            or not builtins.isinstance(item[1], int)
        ):
            raise RuntimeError(
                f'set_fusion_strategy: expected ("STATIC" or "DYNAMIC", int) pairs, got {item!r}'
            )
    old = _fusion["strategy"]
    _fusion["strategy"] = list(strategy)
    return old


def enable_onednn_fusion(enabled: bool) -> None:
    """torch.jit.enable_onednn_fusion: record the switch (read back by
    :func:`onednn_fusion_enabled`; pydlk fuses nothing through it)."""
    _fusion["onednn"] = bool(enabled)


def onednn_fusion_enabled() -> bool:
    """torch.jit.onednn_fusion_enabled: the switch :func:`enable_onednn_fusion` set."""
    return bool(_fusion["onednn"])


class strict_fusion:
    """torch.jit.strict_fusion: a context that makes TorchScript fail where it cannot fuse;
    nothing is fused or checked in pydlk."""

    def __enter__(self) -> strict_fusion:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
