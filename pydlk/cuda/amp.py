"""``torch.cuda.amp``'s names: ``autocast`` for CUDA and ``GradScaler`` for 'cuda' (torch keeps
them as deprecated aliases of ``torch.autocast('cuda')`` and ``torch.amp.GradScaler('cuda')``;
see pydlk/amp.py for what autocast does on pydlk's GPU kernels)."""

from __future__ import annotations

import numpy as np

from ..amp import autocast as _autocast
from ..amp import custom_bwd as _custom_bwd
from ..amp import custom_fwd as _custom_fwd
from ..grad_scaler import _DeviceGradScaler

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd"]


def custom_fwd(fwd=None, *, cast_inputs=None):
    """``torch.cuda.amp.custom_fwd``: ``pydlk.amp.custom_fwd(device_type='cuda', ...)``."""
    return _custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)


def custom_bwd(bwd=None):
    """``torch.cuda.amp.custom_bwd``: ``pydlk.amp.custom_bwd(device_type='cuda')``."""
    return _custom_bwd(bwd, device_type="cuda")


class autocast(_autocast):
    """``torch.cuda.amp.autocast``: ``pydlk.autocast('cuda', ...)``."""

    def __init__(self, enabled: bool = True, dtype=np.float16, cache_enabled: bool = True) -> None:
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_DeviceGradScaler):
    """``torch.cuda.amp.GradScaler``: ``pydlk.amp.GradScaler('cuda', ...)``."""

    _device = "cuda"
