"""torch.func.linearize and torch.func.functionalize.

``linearize(func, *primals)`` runs ``func`` once and keeps its graph together with the vjp's
graph (``g(u) = u^T J`` for a dummy cotangent ``u``); each call of the returned ``jvp_fn(t)`` is
then one backward pass, ``d(g(u) . t)/du = J t`` (the double-vjp trick of ``jvp``), without
running ``func`` again. ``functionalize`` exists for tracing compilers, which pydlk has not: it
returns a wrapper that runs ``func`` eagerly, mutations included, with the same results.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..autograd import Tensor
from . import _pytree
from ._eager import _grads, _prepare, _run, _tensor_leaves, _zeros_array

__all__ = ["functionalize", "linearize"]


def linearize(func: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """``(func(*primals), jvp_fn)``, where ``jvp_fn(*tangents)`` is the Jacobian of ``func`` at
    ``primals`` applied to ``tangents`` (same structure and shapes as ``primals``). The graph
    is kept for the returned function, as torch's keeps its intermediate values."""
    api = "linearize"
    pleaves, pspec = _pytree.flatten(primals)
    for p in pleaves:
        if not isinstance(p, Tensor):
            raise RuntimeError(f"{api}: Expected primals to be Tensors, got {type(p).__name__}")
    args, flat, _, _ = _prepare(primals, tuple(range(len(primals))), api)
    outs, ospec = _tensor_leaves(_run(func, args, {}), api, "f(*primals)")
    us = [Tensor._wrap(_zeros_array(o)).requires_grad_() for o in outs]
    gu = _grads(outs, us, flat, True)
    shapes = [tuple(p.shape) for p in pleaves]

    def jvp_fn(*tangents: Any) -> Any:
        tans, tspec = _pytree.flatten(tangents)
        if tspec != pspec:
            raise RuntimeError(
                f"{api}: Expected the tangents to have the same structure as the primals, "
                f"{pspec}, got {tspec}"
            )
        for s, t in zip(shapes, tans):
            if not isinstance(t, Tensor) or tuple(t.shape) != s:
                got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                raise RuntimeError(f"{api}: Expected a tangent of shape {s}, got {got}")
        pairs = [(g, t) for g, t in zip(gu, tans) if g.requires_grad]
        res = _grads([g for g, _ in pairs], [t for _, t in pairs], us, False)
        return _pytree.unflatten(res, ospec)

    return _pytree.unflatten([o.detach() for o in outs], ospec), jvp_fn


def functionalize(func: Callable[..., Any], *, remove: str = "mutations") -> Callable[..., Any]:
    """``func`` itself, run eagerly (see the module docstring); ``remove`` is checked as
    torch's ('mutations' or 'mutations_and_views')."""
    if remove not in ("mutations", "mutations_and_views"):
        raise RuntimeError(
            f"functionalize(f, remove='mutations'): received invalid argument for remove={remove}."
            " Valid options are:\n     remove='mutations': all inplace and out= operators will be"
            " removed from the program, and replaced with their out-of-place equivalents.\n"
            "     remove='mutations_and_views': In addition to the above, all aliasing operators"
            " {view} will be replaced with their non-aliasing counterparts, {view}_copy.\n"
        )

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper
