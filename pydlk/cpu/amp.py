"""``torch.cpu.amp``'s names: ``autocast`` for the CPU (bfloat16) and ``GradScaler`` for 'cpu'
(torch keeps them as deprecated aliases of ``torch.autocast('cpu')`` and
``torch.amp.GradScaler('cpu')``; see pydlk/amp.py for what autocast does)."""

from __future__ import annotations

from ..amp import autocast as _autocast
from ..grad_scaler import _DeviceGradScaler
from ..ops.conversions import bfloat16_dtype

__all__ = ["GradScaler", "autocast"]


class autocast(_autocast):
    """``torch.cpu.amp.autocast``: ``pydlk.autocast('cpu', ...)``. ``dtype`` None is bfloat16
    (torch's default; pydlk makes that dtype on first use, as importing ml_dtypes takes
    seconds)."""

    def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True) -> None:
        super().__init__(
            "cpu",
            dtype=bfloat16_dtype() if dtype is None else dtype,
            enabled=enabled,
            cache_enabled=cache_enabled,
        )


class GradScaler(_DeviceGradScaler):
    """``torch.cpu.amp.GradScaler``: ``pydlk.amp.GradScaler('cpu', ...)``."""

    _device = "cpu"
