"""``script``, ``trace``, ``trace_module``, ``freeze``, ``optimize_for_inference`` and the
``ScriptModule``/``ScriptFunction`` classes (see ``pydlk.jit`` for what differs from torch)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from .._grad_mode import no_grad
from ..autograd import Tensor
from ..nn.module import Module
from ._frontend import Attribute, _deprecated, _tracing_now

__all__ = [
    "RecursiveScriptModule",
    "ScriptFunction",
    "ScriptModule",
    "TopLevelTracedModule",
    "TracedModule",
    "freeze",
    "optimize_for_inference",
    "run_frozen_optimizations",
    "script",
    "trace",
    "trace_module",
]


class ScriptModule(Module):
    """torch.jit.ScriptModule, for ``isinstance`` checks and for subclassing (torch's old
    ``class M(torch.jit.ScriptModule)`` with ``@script_method`` methods runs as a Module).
    ``script``/``trace`` return the module given, not one of these, so a module from them is
    an instance only when its class derives from this one. ``self.x = Attribute(v, T)`` stores
    ``v``; ``save(f)`` is ``pydlk.jit.save(self, f)``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Attribute):
            annotations = self.__dict__.setdefault("__annotations__", {})
            annotations[name] = value.type
            value = value.value
        super().__setattr__(name, value)

    def save(self, f: Any, _extra_files: dict[str, Any] | None = None) -> None:
        """Write this module with ``pydlk.jit.save``."""
        from ._serialization import save

        save(self, f, _extra_files)

    def define(self, src: str) -> None:
        """torch compiles TorchScript source into methods; pydlk has no TorchScript compiler,
        so this raises RuntimeError (define the method in Python instead)."""
        raise RuntimeError(
            "ScriptModule.define: pydlk has no TorchScript compiler; define the method as a "
            "Python method of the class instead"
        )


class RecursiveScriptModule(ScriptModule):
    """torch.jit.RecursiveScriptModule (what torch's ``script`` returns), for ``isinstance``."""


class TracedModule(ScriptModule):
    """torch.jit.TracedModule (what torch's ``trace`` of a submodule gives), for
    ``isinstance``."""


class TopLevelTracedModule(TracedModule):
    """torch.jit.TopLevelTracedModule (what torch's ``trace`` of a Module returns), for
    ``isinstance``."""


class ScriptFunction:
    """torch.jit.ScriptFunction, for ``isinstance`` checks: ``script``/``trace`` of a function
    return the function itself, so no pydlk object is one, and it cannot be made."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "ScriptFunction cannot be created: pydlk.jit.script and trace return the function "
            "itself (pydlk has no TorchScript compiler)"
        )


def _optimize_deprecated(optimize: Any, stacklevel: int = 3) -> None:
    if optimize is not None:
        warnings.warn(
            "`optimize` is deprecated and has no effect. Use `with torch.jit.optimized_execution()"
            "` instead",
            FutureWarning,
            stacklevel=stacklevel,
        )


def script(
    obj: Any,
    optimize: Any = None,
    _frames_up: int = 0,
    _rcb: Callable[[str], Any] | None = None,
    example_inputs: Any = None,
) -> Any:
    """torch.jit.script: ``obj`` itself (a Module, function, method, class, or a dict/list).
    pydlk has no TorchScript compiler and runs everything eagerly, so the result behaves
    exactly as ``obj`` did; no ``.graph`` or ``.code`` (see ``pydlk.jit``). Other objects (a
    number, a string, None) raise TypeError, as torch's."""
    _deprecated("script")
    _optimize_deprecated(optimize)
    if isinstance(obj, (Module, dict, list)) or callable(obj):
        return obj
    raise TypeError(
        f"script: {type(obj)} is a built-in class; pass a Module, a function or a class"
    )


def _type_name(v: Any) -> str:
    """TorchScript's spelling of the type of an example value: 'Tensor', 'Tuple[Tensor, int]'."""
    if isinstance(v, Tensor):
        return "Tensor"
    if isinstance(v, tuple):
        return f"Tuple[{', '.join(_type_name(x) for x in v)}]"
    if isinstance(v, list):
        return f"List[{_type_name(v[0]) if v else 'Tensor'}]"
    if isinstance(v, dict):
        k, x = next(iter(v.items())) if v else ("", None)
        return f"Dict[{type(k).__name__}, {_type_name(x) if v else 'Tensor'}]"
    return type(v).__name__


def _traceable(v: Any) -> bool:
    if isinstance(v, Tensor):
        return True
    if isinstance(v, (tuple, list)):
        return all(_traceable(x) for x in v)
    if isinstance(v, dict):
        return all(_traceable(x) for x in v.values())
    return False


def _check_output(out: Any, strict: bool) -> None:
    """torch's checks of what a traced function returns."""
    if out is None:
        raise RuntimeError(
            "The traced function didn't return any values! Side-effects are not captured in "
            "traces, so it would be a no-op."
        )

    def walk(v: Any) -> None:
        if isinstance(v, Tensor):
            return
        if isinstance(v, (tuple, list)):
            for x in v:
                walk(x)
            return
        if isinstance(v, dict):
            if strict:
                raise RuntimeError(
                    "Encountering a dict at the output of the tracer might cause the trace to "
                    "be incorrect, this is only valid if the container structure does not "
                    "change based on the module's inputs. Consider using a constant container "
                    "instead (e.g. for `list`, use a `tuple` instead. for `dict`, use a "
                    "`NamedTuple` instead). If you absolutely need this and know the side "
                    "effects, pass strict=False to trace() to allow this behavior."
                )
            for x in v.values():
                walk(x)
            return
        raise RuntimeError(
            "Only tensors, lists, tuples of tensors, or dictionary of tensors can be output "
            f"from traced functions (got {type(v).__name__})"
        )

    walk(out)


def _run_example(func: Callable[..., Any], example: Any, kwarg: bool, strict: bool) -> Any:
    """Run ``func`` once on one example (a tuple of arguments, one Tensor, or with ``kwarg`` a
    dict of keyword arguments) as torch's tracer runs it: under no_grad, with
    ``is_tracing()`` True; checks inputs and output as torch's; the model's own exceptions
    come out unchanged."""
    if kwarg:
        if not isinstance(example, dict):
            raise TypeError(
                f"trace: example_kwarg_inputs must be a dict of keyword arguments, got "
                f"{type(example).__name__}"
            )
        args: tuple[Any, ...] = ()
        kwargs = example
    else:
        if isinstance(example, (Tensor, dict)):
            example = (example,)
        elif not isinstance(example, (tuple, list)):
            raise TypeError(
                f"trace: example_inputs must be a tuple of arguments or one Tensor, got "
                f"{type(example).__name__}"
            )
        args, kwargs = tuple(example), {}
    for v in (*args, *kwargs.values()):
        if not _traceable(v):
            shown = _type_name(args) if not kwargs else _type_name(tuple(kwargs.values()))
            raise RuntimeError(
                f"Type '{shown}' cannot be traced. Only Tensors and (possibly nested) Lists, "
                "Dicts, and Tuples of Tensors can be traced"
            )
    with no_grad(), _tracing_now():
        out = func(*args, **kwargs)
    _check_output(out, strict)
    return out


def trace(
    func: Any,
    example_inputs: Any = None,
    optimize: Any = None,
    check_trace: bool = True,
    check_inputs: list[Any] | None = None,
    check_tolerance: float = 1e-05,
    strict: bool = True,
    _force_outplace: bool = False,
    _module_class: Any = None,
    _compilation_unit: Any = None,
    example_kwarg_inputs: dict[str, Any] | None = None,
    _store_inputs: bool = True,
) -> Any:
    """torch.jit.trace: runs ``func`` (a Module or a function) once on ``example_inputs`` (a
    tuple of arguments, or one Tensor; or ``example_kwarg_inputs``, a dict) under no_grad with
    ``is_tracing()`` True, checks inputs and outputs as torch's tracer does (Tensors and
    nested lists/tuples of them; dicts out only with ``strict=False``), runs each of
    ``check_inputs`` the same way, and returns ``func`` itself. Whatever the model raises comes
    out unchanged. No graph is recorded: the result runs Python each call, so data-dependent
    control flow keeps working where torch's trace would freeze one path."""
    _deprecated("trace")
    _optimize_deprecated(optimize)
    if not callable(func):
        raise RuntimeError(f"trace: func must be a Module or a function, got {type(func).__name__}")
    if example_kwarg_inputs is not None:
        _run_example(func, example_kwarg_inputs, True, strict)
    elif example_inputs is None:
        raise TypeError(
            "trace: example_inputs is None; pass the example arguments (a tuple, or one Tensor) "
            "or example_kwarg_inputs (a dict)"
        )
    else:
        _run_example(func, example_inputs, False, strict)
    if check_trace and check_inputs is not None:
        for example in check_inputs:
            _run_example(func, example, isinstance(example, dict), strict)
    return func


def trace_module(
    mod: Any,
    inputs: dict[str, Any],
    optimize: Any = None,
    check_trace: bool = True,
    check_inputs: list[dict[str, Any]] | None = None,
    check_tolerance: float = 1e-05,
    strict: bool = True,
    _force_outplace: bool = False,
    _module_class: Any = None,
    _compilation_unit: Any = None,
    example_inputs_is_kwarg: bool = False,
    _store_inputs: bool = True,
) -> Any:
    """torch.jit.trace_module: runs each method named in ``inputs`` (``{'forward': x,
    'encode': (a, b)}``; with ``example_inputs_is_kwarg`` each example is a dict of keyword
    arguments) once, as :func:`trace` runs ``forward``, and returns ``mod`` itself. A missing
    method raises AttributeError; ``mod`` must be a Module and ``inputs`` a dict, as torch's."""
    _deprecated("trace_module")
    _optimize_deprecated(optimize)
    if not isinstance(mod, Module):
        raise AttributeError("expected torch.nn.Module as the first argument")
    if not isinstance(inputs, dict):
        raise AttributeError("expected a dictionary of (method_name, input) pairs")
    runs = [inputs, *(check_inputs or [])] if check_trace else [inputs]
    for table in runs:
        for name, example in table.items():
            fn = mod if name == "forward" else getattr(mod, name)
            _run_example(fn, example, example_inputs_is_kwarg, strict)
    return mod


def _need_module(mod: Any, op: str) -> None:
    if not isinstance(mod, Module):
        raise RuntimeError(
            f"{op} expects a Module as input (what pydlk.jit.script and trace return), got "
            f"{type(mod).__name__}"
        )


def freeze(
    mod: Any, preserved_attrs: list[str] | None = None, optimize_numerics: bool = True
) -> Any:
    """torch.jit.freeze: ``mod`` itself, checked as torch checks it (a Module in eval mode,
    else RuntimeError). torch inlines the parameters as constants; pydlk leaves the module as
    it is (its parameters stay parameters, and further changes to them are seen)."""
    _deprecated("freeze")
    _need_module(mod, "Freezing")
    if mod.training:
        raise RuntimeError(
            "Freezing is currently only implemented for modules in eval mode. Please call "
            ".eval() on your module before freezing."
        )
    for name in preserved_attrs or []:
        if not isinstance(name, str):
            raise TypeError(f"freeze: preserved_attrs must be names (str), got {name!r}")
    return mod


def run_frozen_optimizations(
    mod: Any, optimize_numerics: bool = True, preserved_methods: list[str] | None = None
) -> None:
    """torch.jit.run_frozen_optimizations: nothing to optimise (no graph); checks ``mod``."""
    _need_module(mod, "run_frozen_optimizations")


def optimize_for_inference(mod: Any, other_methods: list[str] | None = None) -> Any:
    """torch.jit.optimize_for_inference: puts ``mod`` in eval mode, as torch's (which then
    freezes it), and returns it."""
    _deprecated("optimize_for_inference")
    _need_module(mod, "optimize_for_inference")
    mod.eval()
    with warnings.catch_warnings():  # one warning for this call, as above
        warnings.simplefilter("ignore", DeprecationWarning)
        return freeze(mod, preserved_attrs=other_methods)
