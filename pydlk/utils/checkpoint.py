"""torch.utils.checkpoint's names: ``checkpoint`` and ``checkpoint_sequential``.

torch runs the wrapped function without keeping its activations and recomputes them in the
backward pass, trading compute for memory; the values and gradients are those of a plain call.
pydlk runs the plain call (the same values and gradients, the activations kept), so a script
written with checkpointing runs unchanged; it does not save the memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["checkpoint", "checkpoint_sequential"]


def checkpoint(
    function: Callable[..., Any],
    *args: Any,
    use_reentrant: bool | None = None,
    context_fn: Callable[[], Any] | None = None,
    determinism_check: str = "default",
    debug: bool = False,
    preserve_rng_state: bool = True,
    **kwargs: Any,
) -> Any:
    """``function(*args, **kwargs)``, as torch.utils.checkpoint.checkpoint computes it.

    Differs from torch: the activations are kept (no recomputation, no memory saved); the
    keyword arguments torch takes are accepted. ``use_reentrant=True`` with ``kwargs`` raises
    ValueError, as torch does."""
    if use_reentrant and kwargs:
        raise ValueError(
            "checkpoint: keyword arguments to the function are only supported with "
            "use_reentrant=False"
        )
    if determinism_check not in ("default", "none"):
        raise ValueError(
            f"checkpoint: determinism_check must be 'default' or 'none', got {determinism_check!r}"
        )
    return function(*args, **kwargs)


def checkpoint_sequential(
    functions: Any,
    segments: int,
    input: Any,
    use_reentrant: bool | None = None,
    **kwargs: Any,
) -> Any:
    """Run ``functions`` (an ``nn.Sequential`` or a list of modules) one after another on
    ``input``, as torch's checkpoint_sequential does in ``segments`` checkpointed chunks.
    Differs from torch as ``checkpoint`` does (no memory saved). Raises ValueError for
    ``segments`` < 1."""
    if not isinstance(segments, int) or segments < 1:
        raise ValueError(
            f"checkpoint_sequential: segments must be a positive int, got {segments!r}"
        )
    fns: Sequence[Any] = list(functions.children()) if hasattr(functions, "children") else functions
    for f in fns:
        input = f(input)
    return input
