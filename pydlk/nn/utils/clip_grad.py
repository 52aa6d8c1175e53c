"""Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_).

When the parameters are exactly the trainable parameters of one or more optimiser arenas and
every gradient is its arena slot, the norm is one reduction per flat gradient buffer and the
scaling one pass (``norm_reduce`` / ``scale_`` of pydlk._C, or of pydlk._cuda for gradients on a
GPU); otherwise one reduction per gradient. The total norm is returned on the gradients' device.
"""

from __future__ import annotations

import math

import numpy as np

from ..._arena import whole_arena_grads
from ..._backend import get_array_module, kernels_for
from ..._typing import ParamsT
from ...autograd import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm"]


def _params(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _grad_buffers(params):
    bufs = whole_arena_grads(params)
    if bufs is not None:
        return bufs, True
    return [p._grad for p in params if p._grad is not None], False


def _total(bufs, norm_type):
    parts = [
        kernels_for(b).norm_reduce(
            b if b.flags.c_contiguous else get_array_module(b).ascontiguousarray(b), norm_type
        )
        for b in bufs
    ]
    if math.isinf(norm_type):
        return max(parts) if norm_type > 0 else min(parts)
    s = sum(parts)
    return s if norm_type == 0 else s ** (1.0 / norm_type)


def get_total_norm(
    tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach: bool | None = None
) -> Tensor:
    """The norm of the concatenation of ``tensors`` (arrays or Tensors), as a 0-d Tensor."""
    arrs = [
        t._data if isinstance(t, Tensor) else t if hasattr(t, "dtype") else np.asarray(t)
        for t in _params(tensors)
    ]
    if not arrs:
        return Tensor(np.asarray(0.0, np.float32))
    total = _total(arrs, float(norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {float(norm_type)} for gradients from "
            f"`parameters` is non-finite, so it cannot be clipped. To disable this "
            f"error and scale the gradients by the non-finite norm anyway, set "
            f"`error_if_nonfinite=False`"
        )
    return Tensor(get_array_module(arrs[0]).asarray(total, arrs[0].dtype))


def clip_grad_norm_(
    parameters: ParamsT,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor | None:
    """Scale the gradients in place so that their joint ``norm_type`` norm is at most
    ``max_norm`` (coefficient ``max_norm / (total + 1e-6)``, applied when below 1, as torch).
    Returns the total norm (before clipping) as a 0-d Tensor. ``foreach`` is ignored."""
    params = _params(parameters)
    norm_type = float(norm_type)
    bufs, _fast = _grad_buffers(params)
    if not bufs:
        return Tensor(np.asarray(0.0, np.float32))
    total = _total(bufs, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` "
            f"is non-finite, so it cannot be clipped. To disable this error and "
            f"scale the gradients by the non-finite norm anyway, set "
            f"`error_if_nonfinite=False`"
        )
    dt = bufs[0].dtype
    total_t = dt.type(total)
    coef = dt.type(max_norm) / (total_t + dt.type(1e-6))
    if not coef >= 1:  # NaN scales too, as torch
        for b in bufs:
            if b.flags.c_contiguous:
                kernels_for(b).scale_(b, float(coef))
            else:
                b *= coef
    return Tensor(get_array_module(bufs[0]).asarray(total_t))


def clip_grad_value_(parameters: ParamsT, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    params = _params(parameters)
    v = float(clip_value)
    bufs, _fast = _grad_buffers(params)
    for b in bufs:
        get_array_module(b).clip(b, -v, v, out=b)


def clip_grads_with_norm_(
    parameters: ParamsT, max_norm: float, total_norm, foreach: bool | None = None
) -> None:
    """Scale the gradients in place by ``min(max_norm / (total_norm + 1e-6), 1)`` for a total
    norm computed beforehand (``get_total_norm``): clip_grad_norm_'s second half, as torch's."""
    params = _params(parameters)
    bufs, _fast = _grad_buffers(params)
    if not bufs:
        return
    total = float(total_norm._data if isinstance(total_norm, Tensor) else total_norm)
    dt = bufs[0].dtype
    coef = dt.type(max_norm) / (dt.type(total) + dt.type(1e-6))
    if not coef >= 1:
        for b in bufs:
            b *= coef


def clip_grad_norm(
    parameters: ParamsT,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor | None:
    """The old spelling of ``clip_grad_norm_``: a FutureWarning (as torch's), then the clip."""
    import warnings

    warnings.warn(
        "`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
        "`torch.nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)
