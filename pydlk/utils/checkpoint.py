"""torch.utils.checkpoint's names: ``checkpoint`` and ``checkpoint_sequential``.

The wrapped function runs without recording a graph, so none of its activations are kept; its
inputs (and the random state, for dropout) are. The backward pass runs it again with the graph
recorded and back-propagates through that copy: the values and gradients of a plain call, for
about one extra forward pass, with only the segment's boundary activations held in between.

As torch's non-reentrant checkpoint (``use_reentrant=False``, its recommended mode) the
parameters inside get their gradients even when no input requires grad, provided the function
is an ``nn.Module`` or a method of one (its parameters are known). A plain function or lambda
over modules with no input requiring grad runs as a plain call instead (the same values and
gradients, no memory saved): pydlk cannot tell which parameters it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._grad_mode import enable_grad, is_grad_enabled, no_grad
from .._random import default_generator
from ..autograd import Function, Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


class _Recompute(Function):
    """forward(ctx, run, n_args, rng_state, *arrays): ``run`` on the first ``n_args`` arrays
    (as Tensors) without a graph; the rest are parameters passed only so that the node is
    recorded when they alone require grad. backward: ``run`` again with a graph, from the same
    random state, and its backward: the inputs' gradients are returned, the parameters' are
    accumulated into their ``.grad`` by that inner backward (so they are returned as None)."""

    @staticmethod
    def forward(ctx, run, n_args, rng_state, *arrays):
        ctx.run, ctx.n_args, ctx.rng_state = run, n_args, rng_state
        ctx.arrays = arrays[:n_args]
        with no_grad():
            outs = run(*(Tensor._wrap(a) for a in ctx.arrays))
        return tuple(o._data for o in outs)

    @staticmethod
    def backward(ctx, *grads):
        needs = ctx.needs_input_grad[3 : 3 + ctx.n_args]
        leaves = [Tensor._wrap(a.copy()) for a in ctx.arrays]
        for t, need in zip(leaves, needs):
            if need:
                t.requires_grad_(True)
        outer = default_generator.get_state()
        try:
            if ctx.rng_state is not None:  # the same dropout masks as the first run
                default_generator.set_state(ctx.rng_state)
            with enable_grad():
                outs = ctx.run(*leaves)
        finally:
            default_generator.set_state(outer)
        pairs = [
            (o, Tensor._wrap(g))
            for o, g in zip(outs, grads)
            if g is not None and isinstance(o, Tensor) and o.requires_grad
        ]
        if pairs:
            from ..autograd import backward as run_backward

            run_backward([o for o, _ in pairs], [g for _, g in pairs])
        dx = [
            (t.grad._data if t.grad is not None else None) if need else None
            for t, need in zip(leaves, needs)
        ]
        n_params = len(ctx.needs_input_grad) - 3 - ctx.n_args
        return (None, None, None, *dx, *([None] * n_params))


def _flatten(out: Any) -> tuple[tuple[Any, ...], Callable[[tuple[Any, ...]], Any]]:
    """The Tensors of ``out`` (a Tensor, or a tuple/list holding Tensors and other values) and
    a function rebuilding ``out``'s structure from new Tensors."""
    if isinstance(out, Tensor):
        return (out,), lambda ts: ts[0]
    if isinstance(out, (tuple, list)):
        slots = [i for i, v in enumerate(out) if isinstance(v, Tensor)]
        kind, values = type(out), list(out)

        def rebuild(ts: tuple[Any, ...]) -> Any:
            new = list(values)
            for i, t in zip(slots, ts):
                new[i] = t
            return kind(new) if kind in (tuple, list) else kind(*new)

        return tuple(out[i] for i in slots), rebuild
    return (), lambda ts: out


def _parameters(function: Any) -> list[Tensor]:
    """The parameters requiring grad of ``function`` when it is a Module or a Module's method."""
    from ..nn import Module

    owner = function if isinstance(function, Module) else getattr(function, "__self__", None)
    if not isinstance(owner, Module):
        return []
    return [p for p in owner.parameters() if p.requires_grad]


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
    """``function(*args, **kwargs)`` without keeping its activations, as
    torch.utils.checkpoint.checkpoint: the backward pass runs ``function`` again (from the same
    random state when ``preserve_rng_state``) and back-propagates through that run. Tensors
    among ``args`` get gradients; the output may be a Tensor or a tuple/list of them (other
    values pass through).

    Under ``no_grad`` it is a plain call. Parameters of a Module (or a Module's method) get
    gradients even when no input requires grad, as torch's non-reentrant mode; a plain function
    with no input requiring grad runs as a plain call (see the module docstring).
    ``use_reentrant=True`` with ``kwargs`` raises ValueError, as torch does; ``context_fn`` and
    ``debug`` are accepted and unused."""
    if use_reentrant and kwargs:
        raise ValueError(
            "checkpoint: keyword arguments to the function are only supported with "
            "use_reentrant=False"
        )
    if determinism_check not in ("default", "none"):
        raise ValueError(
            f"checkpoint: determinism_check must be 'default' or 'none', got {determinism_check!r}"
        )
    if not is_grad_enabled():
        return function(*args, **kwargs)
    slots = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
    tensors = [args[i] for i in slots]
    params = [] if any(t.requires_grad for t in tensors) else _parameters(function)
    if not any(t.requires_grad for t in tensors) and not params:
        return function(*args, **kwargs)
    structure: list[Callable[[tuple[Any, ...]], Any]] = []

    def run(*ts: Tensor) -> tuple[Any, ...]:
        call = list(args)
        for i, t in zip(slots, ts):
            call[i] = t
        outs, rebuild = _flatten(function(*call, **kwargs))
        structure[:] = [rebuild]
        return outs

    state = default_generator.get_state() if preserve_rng_state else None
    outs = _Recompute.apply(run, len(tensors), state, *tensors, *params)
    outs = outs if isinstance(outs, tuple) else (outs,)
    return structure[0](outs)


def checkpoint_sequential(
    functions: Any,
    segments: int,
    input: Any,
    use_reentrant: bool | None = None,
    **kwargs: Any,
) -> Any:
    """Run ``functions`` (an ``nn.Sequential`` or a list of modules) one after another on
    ``input`` in ``segments`` chunks, as torch's checkpoint_sequential: every chunk but the last
    is checkpointed (its activations recomputed in the backward pass). Raises ValueError for
    ``segments`` < 1."""
    if not isinstance(segments, int) or segments < 1:
        raise ValueError(
            f"checkpoint_sequential: segments must be a positive int, got {segments!r}"
        )
    from ..nn import Sequential

    fns: Sequence[Any] = list(functions.children()) if hasattr(functions, "children") else functions
    size = max(len(fns) // segments, 1)
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        chunk = Sequential(*fns[start : end + 1])  # a Module: checkpoint finds its parameters
        input = checkpoint(chunk, input, use_reentrant=use_reentrant, **kwargs)
    for f in fns[end + 1 :]:
        input = f(input)
    return input
