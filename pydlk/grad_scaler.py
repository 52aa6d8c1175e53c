"""``GradScaler``: loss scaling for mixed-precision training, with torch's names, arguments,
defaults and update rule (``torch.amp.GradScaler``).

The loss is multiplied by ``scale`` before backward, so that small float16 gradients do not
underflow; ``step`` divides the gradients by it again (``unscale_``), skips the optimiser step
when any gradient is Inf or NaN, and ``update`` halves the scale after such a step
(``backoff_factor``) or doubles it (``growth_factor``) after ``growth_interval`` clean steps in a
row. The usual loop::

    scaler = pydlk.amp.GradScaler("cuda")
    with pydlk.autocast("cuda", dtype=pydlk.float16):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)                      # optional: before clipping
    pydlk.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(opt)
    scaler.update()

pydlk's GPU kernels compute in float32 (see ``pydlk.amp``), where gradients rarely overflow:
the scaler then multiplies and divides by a power of two, which is exact, and training equals
training without it. It works the same on the CPU (``GradScaler('cpu')``). As torch, a scaler
for 'cuda' made where no GPU is available warns and disables itself (every method then passes
through).

``pydlk.GradScaler`` is this class (torch 2.3's ``torch.GradScaler("cuda")``). ``device`` is
'cuda', 'cpu', 'cuda:N' or a ``pydlk.device``; differs from torch, which keeps any string:
another device type raises ValueError, and 'cuda:N' without a GPU disables the scaler as
'cuda' does (torch warns for exactly 'cuda' only).
"""

from __future__ import annotations

import warnings
from typing import Any

from ._backend import device_of, get_array_module

__all__ = ["GradScaler"]

_READY, _UNSCALED, _STEPPED = 0, 1, 2


def _device_type(device: Any) -> str:
    """'cpu' or 'cuda' from ``device`` ('cpu', 'cuda', 'cuda:N' or a ``pydlk.device``);
    ValueError for anything else (torch keeps any string and fails later, if at all)."""
    from ._device import device as _dev

    try:
        return _dev(device).type if isinstance(device, (str, _dev)) else ""
    except RuntimeError:
        return ""


class GradScaler:
    """Dynamic loss scaling (torch.amp.GradScaler): ``scale``, ``unscale_``, ``step``,
    ``update``, ``get_scale``, ``state_dict``/``load_state_dict``; see the module docstring."""

    def __init__(
        self,
        device: str | Any = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        kind = _device_type(device)
        if not kind:
            raise ValueError(
                f"GradScaler: device must be 'cuda' or 'cpu' (or 'cuda:N', a pydlk.device), "
                f"got {device!r}"
            )
        if growth_factor <= 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor}")
        if not isinstance(growth_interval, int) or growth_interval <= 0:
            raise ValueError(
                f"GradScaler: growth_interval must be a positive int, got {growth_interval!r}"
            )
        if enabled and kind == "cuda":
            from . import cuda

            if not cuda.is_available():
                warnings.warn(
                    "GradScaler is enabled, but CUDA is not available. Disabling.",
                    UserWarning,
                    stacklevel=2,
                )
                enabled = False
        self._device = device
        self._enabled = bool(enabled)
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._per_optimizer: dict[int, dict[str, Any]] = {}

    # -- the loop -------------------------------------------------------------------------
    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a Tensor, or a list/tuple of them, nested) times the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        return outputs * self._scale

    def _state(self, optimizer: Any) -> dict[str, Any]:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": False})

    def unscale_(self, optimizer: Any) -> None:
        """Divide ``optimizer``'s gradients by the scale, in place, and note whether any is Inf
        or NaN. At most once per optimizer between ``update`` calls."""
        if not self._enabled:
            return
        st = self._state(optimizer)
        if st["stage"] == _UNSCALED:
            raise RuntimeError(
                "unscale_() has already been called on this optimizer since the last update()."
            )
        if st["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv = 1.0 / self._scale
        finite: dict[str, Any] = {}  # per device: all gradients so far finite (on that device)
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad._data
                g *= g.dtype.type(inv)  # in place: the optimiser's gradient buffer
                ok = get_array_module(g).isfinite(g).all()
                dev = device_of(g)
                finite[dev] = ok if dev not in finite else finite[dev] & ok
        # one read back per device; a False anywhere is an Inf or NaN
        st["found_inf"] = not all(bool(f) for f in finite.values())
        st["stage"] = _UNSCALED

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """``optimizer.step()`` unless a gradient was Inf or NaN (unscaling first if
        ``unscale_`` was not called); returns what ``step`` returned, or None when skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        st = self._state(optimizer)
        if st["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if st["stage"] == _READY:
            self.unscale_(optimizer)
        st["stage"] = _STEPPED
        return None if st["found_inf"] else optimizer.step(*args, **kwargs)

    def update(self, new_scale: float | Any | None = None) -> None:
        """Back off after a step with Inf/NaN gradients, grow after ``growth_interval`` clean
        steps; or set ``new_scale``. Starts the next iteration."""
        if not self._enabled:
            return
        if new_scale is not None:
            v = new_scale.item() if hasattr(new_scale, "item") else new_scale
            self._scale = float(v)
        else:
            if not self._per_optimizer:
                raise RuntimeError("No inf checks were recorded prior to update.")
            if any(st["found_inf"] for st in self._per_optimizer.values()):
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale *= self._growth_factor
                    self._growth_tracker = 0
        self._per_optimizer.clear()

    # -- state ----------------------------------------------------------------------------
    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """torch's keys; empty when disabled (as torch's)."""
        if not self._enabled:
            return {}
        return {
            "scale": self._scale,
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved from a disabled "
                "instance of GradScaler."
            )
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


class _DeviceGradScaler(GradScaler):
    """The deprecated per-device spellings, ``torch.cuda.amp.GradScaler`` and
    ``torch.cpu.amp.GradScaler``: ``GradScaler(device, ...)`` with the subclass's ``_device``."""

    _device = "cuda"

    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        super().__init__(
            self._device, init_scale, growth_factor, backoff_factor, growth_interval, enabled
        )
