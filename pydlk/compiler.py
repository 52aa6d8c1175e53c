"""``pydlk.compile`` and ``pydlk.compiler``: torch.compile's names, as no-ops.

pydlk runs eagerly and has no graph compiler. Each op already calls a compiled kernel (C++ in
``pydlk._C``, CUDA through CuPy), the hot layer sequences are fused by hand (see
docs/ARCHITECTURE.md), and there is no tracer to capture a graph to optimise. So
``pydlk.compile(model)`` returns ``model`` itself: a torch script that compiles its model runs
unchanged, with the same results, eagerly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["compile", "disable", "is_compiling", "reset"]

_F = TypeVar("_F", bound=Callable[..., Any])


def compile(model: Any = None, *args: Any, **kwargs: Any) -> Any:
    """``torch.compile``: returns ``model`` (a Module or a function) unchanged, since pydlk runs
    eagerly (see the module's docstring). Called without a model (``@pydlk.compile(mode=...)``)
    it returns a decorator that does the same. torch's options (``fullgraph``, ``dynamic``,
    ``backend``, ``mode``, ``options``, ``disable``, ...) are accepted and ignored.
    """
    if model is None:
        return lambda fn: compile(fn)
    if not callable(model):
        raise TypeError(
            f"compile: model must be a Module or a callable, got {type(model).__name__}"
        )
    return model


def disable(fn: _F | None = None, recursive: bool = True, *, reason: str | None = None) -> Any:
    """``torch.compiler.disable``: ``fn`` unchanged (nothing is ever compiled); without ``fn``,
    a decorator that returns its function unchanged."""
    if fn is None:
        return lambda f: f
    return fn


def is_compiling() -> bool:
    """``torch.compiler.is_compiling``: always False (pydlk never traces)."""
    return False


def reset() -> None:
    """``torch.compiler.reset``: nothing to clear."""
