"""Automatic mixed precision on the CPU: ``autocast`` runs linear, convolution and the matrix
products in bfloat16.

Inside ``with pydlk.autocast(device_type='cpu', dtype=pydlk.bfloat16):`` the matrix products of
``linear``, ``conv2d``, ``matmul`` (``@``, ``mm``, ``bmm``, ``addmm``, ``baddbmm``, ...) and
``scaled_dot_product_attention`` (forward and, for what ran inside the region, backward) take
bf16 operands and add their products in float32, on pydlk's own kernels: AMX tiles where the
CPU has AMX-BF16 (Intel Xeon from Sapphire Rapids on; convolutions without im2col,
csrc/bf16_conv_amx.cpp), else AVX512_BF16 (csrc/bf16_gemm.cpp;
``pydlk.backends.cpu.allow_amx`` chooses); everything else runs in
float32 as before, and parameters (the optimiser's arena) stay float32: they are the master
weights, rounded to bf16 only as the products read them. Grouped convolutions and 1x1
convolutions with at most 64 x 128 channels stay float32 too: their products are too few to
gain from bf16 (their time is reading and writing activations), so rounding and packing them
would only cost time (pydlk/functional/conv.py has the measurements).

Where pydlk differs from ``torch.autocast``: torch's CPU autocast returns bf16 outputs from
linear and convolution and lets the next ops run on them. pydlk returns float32 outputs. Its
kernels round operands to bf16 while packing them (no bf16 copy of an activation is ever
stored), so a float32 output costs nothing, and the ops that follow (batch norm, activations,
losses) run on their float32 kernels instead of converting. The products are the same bf16
products; only the rounding of each output to bf16 is left out, so results are as accurate or
more.

On a CPU without AVX512_BF16, or with ``PYDLK_BF16_KERNELS=0`` in the environment (or
``set_bf16_kernels(False)``), autocast falls back to the float32 kernels and says so once.
On the CPU ``dtype`` is bfloat16 (the only one); float64 ops are left alone as torch leaves
them. ``device_type='cuda'`` (float16 or bfloat16) is accepted so that GPU scripts run
unchanged, but pydlk's GPU kernels compute in float32: the region runs in float32, exactly as
without autocast and without a speed-up, and says so once (``is_autocast_enabled('cuda')`` is
True inside). ``GradScaler`` (pydlk/grad_scaler.py) is torch's loss scaler.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from . import _C
from .grad_scaler import GradScaler
from .ops.conversions import bfloat16_dtype

if TYPE_CHECKING:
    from ._typing import DTypeLike

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = [
    "custom_bwd",
    "custom_fwd",
    "is_autocast_available",
    "GradScaler",
    "autocast",
    "is_autocast_enabled",
    "get_autocast_dtype",
    "set_bf16_kernels",
]

_state = threading.local()  # autocast is per thread, as torch's is
_kernels = {"forced_off": False, "warned": False, "cuda_warned": False}


def _enabled():
    return getattr(_state, "enabled", False)


class autocast:
    """Context manager (and decorator) as ``torch.autocast``: bf16 products for linear, conv2d,
    matmul and attention inside it. ``cache_enabled`` is accepted for torch's signature; pydlk
    keeps no cast cache (operands are rounded while packing)."""

    def __init__(
        self,
        device_type: str = "cpu",
        dtype: DTypeLike | None = None,
        enabled: bool = True,
        cache_enabled: bool | None = None,
    ) -> None:
        if not isinstance(device_type, str):
            raise TypeError(f"autocast: device_type must be a str, got {device_type!r}")
        if device_type not in ("cpu", "cuda"):
            raise ValueError(f"autocast: device_type must be 'cpu' or 'cuda', got {device_type!r}")
        bfloat16 = bfloat16_dtype()
        if device_type == "cuda":
            dtype = np.dtype(np.float16) if dtype is None else np.dtype(dtype)
            if dtype not in (np.dtype(np.float16), bfloat16):
                raise ValueError(
                    f"autocast: dtype must be pydlk.float16 or pydlk.bfloat16 on CUDA, got {dtype}"
                )
        else:
            dtype = bfloat16 if dtype is None else np.dtype(dtype)
            if dtype != bfloat16:
                raise ValueError(f"autocast: dtype must be pydlk.bfloat16 on the CPU, got {dtype}")
        self.device_type, self.fast_dtype, self._enabled = device_type, dtype, bool(enabled)

    def __enter__(self) -> autocast:
        if self.device_type == "cuda":
            self._prev = (getattr(_state, "cuda", False), getattr(_state, "cuda_dtype", None))
            _state.cuda, _state.cuda_dtype = self._enabled, self.fast_dtype
            if self._enabled and not _kernels["cuda_warned"]:
                _kernels["cuda_warned"] = True
                warnings.warn(
                    "autocast(device_type='cuda'): pydlk's GPU kernels compute in float32, so "
                    "this region runs in float32 (results as without autocast, no speed-up)",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return self
        self._prev = _enabled()
        _state.enabled = self._enabled
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        if self.device_type == "cuda":
            _state.cuda, _state.cuda_dtype = self._prev
        else:
            _state.enabled = self._prev
        return False

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        return wrapped  # type: ignore[return-value]  # functools.wraps keeps fn's signature


def is_autocast_enabled(device_type: str = "cpu") -> bool:
    """True inside an enabled ``autocast`` for ``device_type`` on this thread."""
    if device_type == "cuda":
        return bool(getattr(_state, "cuda", False))
    return device_type == "cpu" and _enabled()


def get_autocast_dtype(device_type: str = "cpu") -> np.dtype:
    """The dtype autocast is set to: ``pydlk.bfloat16`` on the CPU (the only one); on CUDA
    the enclosing region's (float16 outside one, torch's default)."""
    if device_type == "cuda":
        return getattr(_state, "cuda_dtype", None) or np.dtype(np.float16)
    return bfloat16_dtype()


def set_bf16_kernels(enabled: bool) -> None:
    """Allow (True) or forbid (False) the bf16 kernels; forbidden, autocast runs float32 (the
    fallback a CPU without AVX512_BF16 gets). For tests and comparisons."""
    _kernels["forced_off"] = not enabled
    _kernels["warned"] = False


def _kernels_usable():
    if _kernels["forced_off"] or os.environ.get("PYDLK_BF16_KERNELS") == "0":
        why = "the bf16 kernels are switched off (PYDLK_BF16_KERNELS=0 or set_bf16_kernels)"
    elif not _C.bf16_supported():
        why = "this CPU has no AVX512_BF16 instructions"
    else:
        return True
    if not _kernels["warned"]:
        _kernels["warned"] = True
        warnings.warn(
            f"autocast: {why}; linear and conv2d run in float32 instead (same results within "
            "bf16 rounding, without the speed-up)",
            RuntimeWarning,
            stacklevel=4,
        )
    return False


def use_bf16(*arrays):
    """True when an op on these arrays should take the bf16 path: autocast is on, they are
    float32 NumPy arrays, and the kernels can run (else the one-time fallback message)."""
    if not _enabled():
        return False
    if not all(a is None or (isinstance(a, np.ndarray) and a.dtype == np.float32) for a in arrays):
        return False
    return _kernels_usable()


def cast_inputs(*tensors):
    """Inside autocast, bfloat16 inputs of linear/conv2d become float32 (exactly; differentiable),
    so that a mix of bf16 and float32 runs as torch's autocast runs it. Outside: unchanged."""
    if not _enabled():
        return tensors
    from .ops.conversions import to

    out = []
    for t in tensors:
        a = getattr(t, "_data", t)
        if getattr(getattr(a, "dtype", None), "name", None) == "bfloat16":
            t = to(t, np.float32) if hasattr(t, "_data") else a.astype(np.float32)
        out.append(t)
    return tuple(out)


def is_autocast_available(device_type: str) -> bool:
    """Whether ``autocast`` takes ``device_type`` ('cpu' and 'cuda', as torch's CPU build)."""
    return device_type in ("cpu", "cuda")


def custom_fwd(
    fwd: Callable[..., Any] | None = None,
    *,
    device_type: str,
    cast_inputs: DTypeLike | None = None,
) -> Any:
    """Decorator for a custom Function's ``forward`` (torch.amp.custom_fwd): records on ``ctx``
    whether autocast for ``device_type`` was on, for ``custom_bwd``; with ``cast_inputs``, inside
    autocast the forward runs with autocast off and its floating-point Tensor arguments cast to
    that dtype (outside autocast it runs as written)."""
    if not isinstance(device_type, str):
        raise ValueError(f"custom_fwd: expected device_type of type str, got {type(device_type)}")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorated(*args: Any, **kwargs: Any) -> Any:
        ctx = args[0]
        ctx._dtype = get_autocast_dtype(device_type)
        on = is_autocast_enabled(device_type)
        if cast_inputs is None or not on:
            ctx._fwd_used_autocast = on
            return fwd(*args, **kwargs)
        ctx._fwd_used_autocast = False
        with autocast(device_type, enabled=False):
            args = tuple(_cast_floating(a, cast_inputs) for a in args)
            kwargs = {k: _cast_floating(v, cast_inputs) for k, v in kwargs.items()}
            return fwd(*args, **kwargs)

    return decorated


def custom_bwd(bwd: Callable[..., Any] | None = None, *, device_type: str) -> Any:
    """Decorator for a custom Function's ``backward`` (torch.amp.custom_bwd): runs it with the
    autocast state its ``custom_fwd`` forward ran with."""
    if not isinstance(device_type, str):
        raise ValueError(f"custom_bwd: expected device_type of type str, got {type(device_type)}")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorated(*args: Any, **kwargs: Any) -> Any:
        ctx = args[0]
        enabled = getattr(ctx, "_fwd_used_autocast", False)
        dtype = getattr(ctx, "_dtype", None) if enabled else None
        with autocast(device_type, dtype=dtype, enabled=enabled):
            return bwd(*args, **kwargs)

    return decorated


def _cast_floating(v: Any, dtype: DTypeLike) -> Any:
    from .autograd import Tensor

    if isinstance(v, Tensor) and v.is_floating_point():
        return v.to(dtype)
    return v
