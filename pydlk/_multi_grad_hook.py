"""torch.autograd.graph.register_multi_grad_hook: one hook over the gradients of several tensors
in a backward pass (``pydlk.autograd.graph.register_multi_grad_hook``).

Each tensor gets an ordinary tensor hook that records its gradient; the first of them in a pass
queues the call of ``fn`` at the pass's end (``_engine.queue_callback``), so ``mode="all"``
calls ``fn(grads)`` once per pass with a gradient per tensor (None for those the pass did not
reach), after all of them are known, and ``mode="any"`` calls ``fn(grad)`` with the first
gradient of the pass, once. Tensors the pass does not reach are not waited for, as torch's.
Differs from torch: ``mode="all"`` runs at the end of the pass rather than right after the
last of the gradients, so other hooks of the same pass have run by then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["register_multi_grad_hook"]


class _MultiHandle:
    """What ``register_multi_grad_hook`` returns: ``remove()`` takes the hook off every tensor."""

    def __init__(self, handles: list[Any]) -> None:
        self.handles = handles

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


def register_multi_grad_hook(
    tensors: Sequence[Any], fn: Callable[..., Any], *, mode: str = "all"
) -> _MultiHandle:
    """Call ``fn`` once per backward pass that reaches any of ``tensors``: with
    ``mode="all"`` as ``fn(grads)`` (a tuple, one gradient or None per tensor), with
    ``mode="any"`` as ``fn(grad)`` with the first gradient computed. Returns a handle whose
    ``remove()`` unregisters it."""
    from ._engine import queue_callback

    if mode not in ("all", "any"):
        raise ValueError(
            f"register_multi_grad_hook: Expects mode to be one of ('all', 'any') but got {mode}"
        )
    tensors = tuple(tensors)
    if not callable(fn):
        raise TypeError("register_multi_grad_hook: fn must be callable")
    state = threading.local()  # per thread: this pass's gradients (None between passes)

    def finish() -> None:
        grads, state.grads = state.grads, None
        if mode == "all":
            fn(tuple(grads))

    def capture(i: int) -> Callable[[Any], None]:
        def hook(grad: Any) -> None:
            grads = getattr(state, "grads", None)
            if grads is None:
                grads = state.grads = [None] * len(tensors)
                queue_callback(finish)
                if mode == "any":
                    fn(grad)
            grads[i] = grad

        return hook

    return _MultiHandle([t.register_hook(capture(i)) for i, t in enumerate(tensors)])
