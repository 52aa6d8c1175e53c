"""Dtypes and conversions: the dtype names, ``to``, casts."""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from .._backend import is_cupy
from .._oom import maps_cuda_oom
from .._typing import Array, DeviceLike, DTypeLike
from ..autograd import Function, Tensor
from ._helpers import _real_for, _t
from .memory_formats import _check_memory_format
from .shape import Copy


class Cast(Function):
    """A dtype conversion; differentiable between floating dtypes (the gradient is cast back)."""

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return _real_for(g, ctx.dtype).astype(ctx.dtype), None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        if g.dtype.kind == "c" and ctx.dtype.kind != "c":  # a real input keeps the real part
            g = g.real
        return g.to(ctx.dtype), None


class ToDevice(Function):
    """A copy to another device; the gradient is copied back."""

    @staticmethod
    def forward(ctx, a, device, non_blocking=False):
        ctx.device = "cpu" if not is_cupy(a) else f"cuda:{a.device.id}"
        return _move(a, device, non_blocking)

    @staticmethod
    def backward(ctx, g):
        return _move(g, ctx.device), None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return ToDevice.apply(g, ctx.device), None, None


def _cupy() -> ModuleType:
    try:
        import cupy
    except ImportError:
        raise RuntimeError(
            "cuda: CuPy is not installed, so pydlk cannot use a GPU; install "
            "the cupy package for your CUDA version (e.g. cupy-cuda12x)"
        ) from None
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        raise RuntimeError(f"cuda: no usable CUDA device ({e})") from None
    if n == 0:
        raise RuntimeError("cuda: no CUDA device found")
    return cupy


def _parse_device(device: DeviceLike | None) -> str | None:
    """``'cpu'``/``'cuda:N'`` for a device spec (str, pydlk.device, int), None for None."""
    from .._device import device_str

    return None if device is None else device_str(device)


@maps_cuda_oom  # a failed allocation on the GPU: pydlk.OutOfMemoryError, as torch's
def _move(a: Array, device: str, non_blocking: bool = False) -> Array:
    """``a`` on ``device``. A pinned host array with ``non_blocking`` is copied asynchronously
    on the current stream; everything else synchronously (device-to-host copies included)."""
    if device == "cpu":
        return a.get() if is_cupy(a) else a
    cupy = _cupy()
    idx = int(device.partition(":")[2] or 0)
    if non_blocking and not is_cupy(a):
        from .._pinned import to_device_async

        return to_device_async(cupy, a, idx)
    with cupy.cuda.Device(idx):
        return cupy.asarray(a)


def _device_str(a: Array) -> str:
    return "cpu" if not is_cupy(a) else f"cuda:{a.device.id}"


def _is_dtype_like(x: object) -> bool:
    if isinstance(x, (np.dtype, type)):
        return True
    if isinstance(x, str):
        try:
            np.dtype(x)
            return True
        except TypeError:
            return False
    return False


def to(
    input: Tensor,
    *args: Any,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    copy: bool = False,
    non_blocking: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other_tensor)``; returns
    ``input`` itself when nothing changes (unless copy=True). Differentiable.
    ``non_blocking=True`` copies a pinned CPU tensor (``pin_memory()``) to the GPU
    asynchronously on the current stream; other copies are synchronous, a GPU-to-CPU one too.
    ``memory_format`` (``pydlk.channels_last``, ...) is a layout hint, checked as torch checks
    it (type and rank); the array stays C-order (NCHW)."""
    input = _t(input)
    if memory_format is not None:
        _check_memory_format("to", memory_format, input.ndim)
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif _is_dtype_like(a) and not (isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda")):
            dtype = a
        else:
            device = a
    out = input
    dev = _parse_device(device)
    if dev is not None and dev != _device_str(input._data):
        out = ToDevice.apply(out, dev, non_blocking)
    if dtype is not None and np.dtype(dtype) != out.dtype:
        out = Cast.apply(out, np.dtype(dtype))
    if copy and out is input:
        out = Copy.apply(input)
    return out


def _cast_method(dtype: np.dtype) -> Callable[[Tensor], Tensor]:
    def method(self: Tensor) -> Tensor:
        return to(self, dtype)

    return method


def _cpu(self: Tensor, memory_format: Any = None) -> Tensor:
    return to(self, "cpu")


def _cuda(
    self: Tensor,
    device: DeviceLike | None = None,
    non_blocking: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """``.cuda()``; ``non_blocking=True`` copies a pinned tensor asynchronously on the current
    stream, as ``to()`` does."""
    return to(
        self,
        "cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device),
        non_blocking=non_blocking,
    )


def _type_as(self: Tensor, other: Tensor) -> Tensor:
    return to(self, other.dtype)


def _is_floating_point(self: Tensor) -> bool:
    return self.dtype.kind == "f" or self.dtype.name == "bfloat16"


# dtype names as torch has them (pydlk dtypes are NumPy dtypes). The ones that are Python
# builtins' names (bool, float, int) are served by __getattr__ so they do not shadow the builtins
# inside this module.
float16 = half = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int8, int16, int32, int64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
uint8 = np.dtype(np.uint8)
long = int64
complex64 = cfloat = np.dtype(np.complex64)
complex128 = cdouble = np.dtype(np.complex128)
_DTYPE_ALIASES = {"bool": np.dtype(np.bool_), "float": float32, "int": int32}


@functools.cache
def bfloat16_dtype() -> np.dtype:
    """``pydlk.bfloat16``: the dtype of ml_dtypes.bfloat16 arrays (the NumPy extension type JAX
    and others use). Imported on first use, since importing ml_dtypes takes a while."""
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def _bfloat16_method(self: Tensor) -> Tensor:
    """``t.bfloat16()``: ``t.to(pydlk.bfloat16)``."""
    return to(self, bfloat16_dtype())


_TYPE_NAMES = {
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "float16": "HalfTensor",
    "bfloat16": "BFloat16Tensor",
    "int64": "LongTensor",
    "int32": "IntTensor",
    "int16": "ShortTensor",
    "int8": "CharTensor",
    "uint8": "ByteTensor",
    "bool": "BoolTensor",
    "complex64": "ComplexFloatTensor",
    "complex128": "ComplexDoubleTensor",
}


def _type(self: Tensor, dtype: Any = None, non_blocking: bool = False) -> str | Tensor:
    """No argument: torch's type string (``'torch.FloatTensor'``, ``'torch.cuda.LongTensor'``).
    With a legacy type (``pydlk.FloatTensor``, ``pydlk.cuda.LongTensor``) or its name
    (``'torch.FloatTensor'``, ``'torch.cuda.LongTensor'``): the tensor converted to that dtype
    and device (a CUDA type keeps a GPU tensor on its GPU); with a dtype: cast, on its device.
    Itself when nothing changes. Other strings raise ValueError, other objects TypeError."""
    if dtype is None:
        name = _TYPE_NAMES.get(str(self.dtype))
        if name is None:
            raise TypeError(f"type: no torch type name for dtype {self.dtype}")
        return ("torch.cuda." if is_cupy(self._data) else "torch.") + name
    from .._legacy_types import lookup

    cls = lookup(dtype)
    if cls is not None:
        on_gpu = is_cupy(self._data)  # a CUDA type keeps a GPU tensor on its own GPU
        where = "cpu" if not cls.is_cuda else _device_str(self._data) if on_gpu else "cuda"
        return to(self, device=where, dtype=cls.dtype, non_blocking=non_blocking)
    if isinstance(dtype, str):
        raise ValueError(f"type: invalid type: {dtype!r} (expected e.g. 'torch.FloatTensor')")
    if not _is_dtype_like(dtype):
        raise TypeError(
            f"type: dtype must be a type, str, or dtype object, got {type(dtype).__name__}"
        )
    return to(self, dtype)


def _format(self: Tensor, spec: str) -> str:
    """``format(t, '.2f')``: a 0-d tensor formats its value; otherwise only the empty spec is
    accepted (str(t)), as torch."""
    if self.ndim == 0:
        return format(self.item(), spec)
    if spec:
        raise TypeError("unsupported format string passed to Tensor.__format__")
    return object.__format__(self, spec)
