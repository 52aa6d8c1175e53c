"""torch.autograd.graph's hooks on saved tensors: ``saved_tensors_hooks(pack_hook, unpack_hook)``,
``save_on_cpu(pin_memory=False, device_type="cuda")`` and
``disable_saved_tensors_hooks(error_message)`` (reached as ``pydlk.autograd.graph.<name>``).

While a ``saved_tensors_hooks`` block is open on a thread, each tensor a recorded op keeps for its
backward through ``ctx.save_for_backward`` (pydlk's own ops and custom Functions alike) goes
through ``pack_hook(tensor)`` when the op is recorded, and what it returns is kept in its place;
the backward reads ``unpack_hook(packed)`` each time it reads ``ctx.saved_tensors``. The
innermost block's pair applies, and the pair in force when a tensor was packed is the one that
unpacks it, as torch's. Ops run without recording (grad mode off, no input requiring grad) save
nothing and call no hook; ops a pack hook runs itself are not hooked again.

Differs from torch: some ops keep a value beside ``save_for_backward`` (their own output or a
mask, as an attribute of ``ctx``); those do not pass through the hooks, so ``save_on_cpu``
leaves them on the GPU and a counting hook sees fewer tensors than torch's ops save.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

# How many hook pairs are open on all threads: Function.apply looks at this plain counter for
# every recorded op, and at the thread's own stack only when it is non-zero.
active = 0
_lock = threading.Lock()
_local = threading.local()


def _stack() -> list[Any]:
    s = getattr(_local, "stack", None)
    if s is None:
        s = _local.stack = []
    return s


def _push(entry: Any) -> None:
    global active
    _stack().append(entry)
    with _lock:
        active += 1


def _pop() -> None:
    global active
    _stack().pop()
    with _lock:
        active -= 1


class saved_tensors_hooks:
    """``with saved_tensors_hooks(pack_hook, unpack_hook):`` ops recorded inside keep
    ``pack_hook(t)`` for each tensor ``t`` they save, and their backward gets
    ``unpack_hook(packed)`` back (see the module docstring). ``unpack_hook`` must return a
    Tensor of the saved tensor's shape; neither hook may change its argument in place."""

    def __init__(self, pack_hook: Callable[[Any], Any], unpack_hook: Callable[[Any], Any]) -> None:
        if not callable(pack_hook) or not callable(unpack_hook):
            raise TypeError("saved_tensors_hooks: pack_hook and unpack_hook must be callable")
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self) -> saved_tensors_hooks:
        message = getattr(_local, "disabled", None)
        if message is not None:
            raise RuntimeError(message)
        _push((self.pack_hook, self.unpack_hook))
        return self

    def __exit__(self, *exc: object) -> None:
        _pop()


class save_on_cpu(saved_tensors_hooks):
    """``with save_on_cpu(pin_memory=False):`` tensors saved for the backward are copied to the
    host (into pinned memory when ``pin_memory``) and copied back to their own device when the
    backward reads them: GPU memory for activations traded for two copies, as torch's. CPU
    tensors are kept as they are. ``device_type`` is accepted for torch's signature."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        from .autograd import Tensor

        def pack(t: Tensor) -> Any:
            device = t.device
            if device.type == "cpu":
                return (device, t)
            host = t.cpu()
            if pin_memory:
                from ._pinned import pin_array

                host = Tensor._wrap(pin_array(host._data))
            return (device, host)

        def unpack(packed: Any) -> Tensor:
            device, t = packed
            return t if device.type == "cpu" else t.to(device)

        super().__init__(pack, unpack)


class disable_saved_tensors_hooks:
    """``with disable_saved_tensors_hooks(error_message):`` opening a ``saved_tensors_hooks``
    block inside raises RuntimeError with ``error_message`` (torch's guard for code whose saved
    tensors must not be replaced). Hooks opened before it stay in force, as torch's."""

    def __init__(self, error_message: str) -> None:
        self.error_message = str(error_message)

    def __enter__(self) -> disable_saved_tensors_hooks:
        self.prev = getattr(_local, "disabled", None)
        _local.disabled = self.error_message
        return self

    def __exit__(self, *exc: object) -> None:
        _local.disabled = self.prev


def pack(ctx: Any) -> None:
    """For a recorded op (``Function.apply``, ``active`` non-zero): the tensors in
    ``ctx.saved_tensors`` through this thread's innermost pack hook, kept packed on ``ctx``."""
    stack = _stack()
    if not stack:
        return  # hooks are open on another thread only
    top = stack[-1]
    from .autograd import Tensor

    pack_hook, unpack_hook = top
    packed = []
    # The hooks run with this pair popped: an op a hook runs is not packed by the same hook
    # again (torch refuses that recursion; here it is simply not hooked).
    _pop()
    try:
        for v in ctx.saved_tensors:
            is_tensor = isinstance(v, Tensor)
            if not is_tensor and not _is_array(v):
                packed.append((False, v, None, None))  # None, numbers: kept as they are
                continue
            t = v if is_tensor else Tensor._wrap(v)
            packed.append((True, pack_hook(t), unpack_hook, (is_tensor, t.shape)))
    finally:
        _push(top)
    del ctx.saved_tensors  # now read through Context.__getattr__ -> unpack
    ctx._packed = tuple(packed)


def _is_array(v: Any) -> bool:
    import numpy as np

    return isinstance(v, np.ndarray) or type(v).__module__.split(".")[0] == "cupy"


def unpack(ctx: Any) -> tuple[Any, ...]:
    """``ctx.saved_tensors`` of an op packed by ``pack``: each through its unpack hook, as the
    op saved it (a Tensor for a custom Function, an array for pydlk's own ops)."""
    from .autograd import Tensor

    out = []
    for hooked, value, unpack_hook, meta in ctx._packed:
        if not hooked:
            out.append(value)
            continue
        r = unpack_hook(value)
        if not isinstance(r, Tensor):
            raise TypeError(
                f"saved_tensors_hooks: unpack_hook must return a Tensor, got {type(r).__name__}"
            )
        was_tensor, shape = meta
        if tuple(r.shape) != tuple(shape):
            raise RuntimeError(
                f"saved_tensors_hooks: unpack_hook returned a tensor of shape {tuple(r.shape)} "
                f"for one saved with shape {tuple(shape)}"
            )
        out.append(r if was_tensor else r._data)
    return tuple(out)
