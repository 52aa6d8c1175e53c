"""Dtypes, tensor tests, a few factories and global switches under torch's names:
get_default_dtype / set_default_dtype, promote_types, result_type, can_cast, typename,
is_floating_point, is_signed, is_nonzero, is_same_size, asarray, scalar_tensor, logspace,
range, empty_strided, frombuffer, set_printoptions, get/set_num_interop_threads,
is_anomaly_enabled / set_anomaly_enabled, set_warn_always / is_warn_always_enabled.

The default dtype is kept here (``_DEFAULT[0]``); ``default_float()`` is what the float
factories and ``pydlk.tensor`` of Python floats read. The print options are kept here too
(``_PRINT``, read by pydlk/_tensor_str.py when a Tensor prints). pydlk has no inter-op thread
pool: ``set_num_interop_threads`` records the number, ``get_num_interop_threads`` returns it.
"""

from __future__ import annotations

import builtins as _b
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import is_cupy
from .._typing import DeviceLike, DTypeLike
from ..autograd import Tensor
from . import _promotion
from ._helpers import _arr

_DEFAULT: list[np.dtype] = [np.dtype(np.float32)]
_FLOATS = ("float16", "float32", "float64", "bfloat16")


def default_float() -> np.dtype:
    """The current default float dtype (float32 unless ``set_default_dtype`` changed it)."""
    return _DEFAULT[0]


def default_complex() -> np.dtype:
    """The complex dtype matching the default float (complex128 for float64, else complex64)."""
    return np.dtype(np.complex128 if _DEFAULT[0] == np.float64 else np.complex64)


def get_default_dtype() -> np.dtype:
    """The default floating dtype (torch.get_default_dtype): what float factories and
    ``tensor`` of Python floats give; float32 at start."""
    return _DEFAULT[0]


def set_default_dtype(d: DTypeLike) -> None:
    """Make ``d`` (float16, float32, float64 or bfloat16) the default floating dtype; other
    dtypes raise TypeError, as torch's."""
    try:
        dt = np.dtype(d)
    except TypeError:
        dt = None
    if dt is None or dt.name not in _FLOATS:
        raise TypeError(
            f"set_default_dtype: only floating-point types are supported as the default type, "
            f"got {d!r}"
        )
    _DEFAULT[0] = dt


def _dtype(d: Any, op: str, name: str) -> np.dtype:
    try:
        return np.dtype(d)
    except TypeError:
        raise TypeError(f"{op}: {name} must be a dtype, got {d!r}") from None


def promote_types(type1: DTypeLike, type2: DTypeLike) -> np.dtype:
    """The smallest dtype both promote to under torch's rules (an integer with a float gives
    the float: int64 with float32 is float32; uint8 with int8 is int16)."""
    a, b = _dtype(type1, "promote_types", "type1"), _dtype(type2, "promote_types", "type2")
    r = _promotion.promote_types(a, b)
    assert r is not None
    return r


def result_type(tensor1: Any, tensor2: Any) -> np.dtype:
    """The dtype torch gives an arithmetic op of ``tensor1`` and ``tensor2`` (tensors or Python
    numbers): dimensioned tensors first, then 0-d ones, then numbers, a later group counting
    only for a higher category (torch.result_type)."""
    args = []
    for i, x in enumerate((tensor1, tensor2)):
        if isinstance(x, (Tensor, bool, int, float, complex)) or hasattr(x, "dtype"):
            args.append(x)
        else:
            raise TypeError(
                f"result_type: argument {i + 1} must be a Tensor or a number, got "
                f"{type(x).__name__}"
            )
    r = _promotion.result_type(*args)
    if r is None:
        raise TypeError("result_type: cannot classify the arguments")
    return r


def can_cast(from_: DTypeLike, to: DTypeLike) -> bool:
    """Whether torch's casting rules allow ``from_`` into ``to`` (same kind or wider: no float
    into an integer, no complex into a real type, nothing but bool into bool)."""
    a, b = _dtype(from_, "can_cast", "from_"), _dtype(to, "can_cast", "to")
    ca, cb = _promotion._category(a), _promotion._category(b)
    return ca <= cb


def typename(obj: Any) -> str:
    """torch.typename: a tensor's type string ('torch.FloatTensor'), else the object's
    qualified type name ('numpy.ndarray')."""
    if isinstance(obj, Tensor):
        return str(obj.type())
    t = type(obj)
    module = "" if t.__module__ in ("builtins", "__builtin__", None) else t.__module__ + "."
    return module + t.__qualname__


def is_floating_point(input: Tensor) -> bool:
    """True for a floating dtype (float16, bfloat16, float32, float64)."""
    dt = _arr(input).dtype
    return dt.kind == "f" or dt.name == "bfloat16"


def is_signed(input: Tensor) -> bool:
    """True unless the dtype is bool or unsigned (torch.Tensor.is_signed)."""
    return _arr(input).dtype.kind not in "bu"


def is_nonzero(input: Tensor) -> bool:
    """The truth of a one-element tensor; RuntimeError for none or several elements."""
    a = _arr(input)
    if a.size == 0:
        raise RuntimeError("is_nonzero: Boolean value of Tensor with no values is ambiguous")
    if a.size > 1:
        raise RuntimeError(
            "is_nonzero: Boolean value of Tensor with more than one value is ambiguous"
        )
    return bool(a.reshape(-1)[0])


def is_same_size(input: Tensor, other: Tensor) -> bool:
    """True if the two tensors have the same shape."""
    return tuple(_arr(input).shape) == tuple(_arr(other).shape)


def _device_of(device: DeviceLike | None, a: Any) -> Any:
    from .conversions import _device_str, _move, _parse_device

    if device is None:
        from .. import _device

        device = _device.default_device_str()
        if device is None:
            return a
    dev = _parse_device(device)
    return a if dev is None or dev == _device_str(a) else _move(a, dev)


def asarray(
    obj: Any,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    copy: bool | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor from ``obj`` (a tensor, NumPy/CuPy array, DLPack producer, scalar or nested
    sequence), sharing its memory where no copy is needed (same dtype and device), as
    torch.asarray.
    ``copy=True`` always copies; ``copy=False`` raises ValueError where a copy is needed.
    Python numbers and sequences take ``tensor``'s dtypes (floats: the default dtype)."""
    src = obj._data if isinstance(obj, Tensor) else obj
    if not isinstance(src, (np.ndarray, np.generic)) and not is_cupy(src):
        if hasattr(src, "__dlpack__"):  # a torch tensor, a JAX array, ...: shared memory
            from ..autograd import from_dlpack

            src = from_dlpack(src)._data
    if hasattr(src, "__array_interface__") or is_cupy(src):
        if not hasattr(src, "dtype"):
            src = np.asarray(src)
        a = src
        if isinstance(a, np.generic):
            a = np.asarray(a)
        if dtype is not None and a.dtype != np.dtype(dtype):
            if copy is False:
                raise ValueError(
                    f"asarray: copy=False but {a.dtype} -> {np.dtype(dtype)} needs a copy"
                )
            a = a.astype(np.dtype(dtype))
        moved = _device_of(device, a)
        if moved is not a and copy is False:
            raise ValueError("asarray: copy=False but moving to the device needs a copy")
        if copy and moved is src:
            moved = moved.copy()
        if isinstance(obj, Tensor) and moved is obj._data and not requires_grad:
            return obj
        t = Tensor._wrap(moved)
    else:
        if copy is False:
            raise ValueError(f"asarray: copy=False but a {type(obj).__name__} must be copied")
        from ..autograd import _default_dtype_array

        a = _default_dtype_array(_seq_data(obj), dtype, np)
        if dtype is None and a.dtype == np.float32:
            a = a.astype(default_float())
        elif dtype is None and a.dtype == np.complex64:
            a = a.astype(default_complex())
        t = Tensor._wrap(_device_of(device, np.array(a, copy=True)))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _seq_data(obj: Any) -> Any:
    """Nested sequences with their tensors as arrays."""
    if isinstance(obj, Tensor):
        return obj._data.get() if is_cupy(obj._data) else obj._data
    if isinstance(obj, (list, tuple)):
        return [_seq_data(o) for o in obj]
    return obj


def _new(a: np.ndarray, device: DeviceLike | None, requires_grad: bool) -> Tensor:
    from .factories import _new as new

    return new(a, device, requires_grad)


def scalar_tensor(
    s: float,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """A 0-d tensor holding ``s``, of the default float dtype unless ``dtype``."""
    dt = default_float() if dtype is None else np.dtype(dtype)
    v = _arr(s)
    if hasattr(v, "get"):
        v = v.get()
    return _new(np.asarray(v, dtype=dt).reshape(()), device, requires_grad)


def logspace(
    start: float,
    end: float,
    steps: int,
    base: float = 10.0,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """``base ** linspace(start, end, steps)``, computed in float64, in the default float
    dtype unless ``dtype``."""
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise RuntimeError(f"logspace: number of steps must be non-negative, got {steps!r}")
    dt = default_float() if dtype is None else np.dtype(dtype)
    e = np.linspace(float(_arr(start)), float(_arr(end)), int(steps), dtype=np.float64)
    v = np.power(float(base), e)
    if dt.kind in "iu":
        v = np.trunc(v)
    return _new(v.astype(dt), device, requires_grad)


def range(
    start: float = 0,
    end: float | None = None,
    step: float = 1,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """torch.range (deprecated there, with a UserWarning, and here): ``start, start + step,
    ...`` up to and including ``end``, in the default float dtype unless ``dtype``. Prefer
    ``arange``, whose end is excluded."""
    warnings.warn(
        "torch.range is deprecated and will be removed in a future release because its "
        "behavior is inconsistent with Python's range builtin. Instead, use torch.arange, "
        "which produces values in [start, end).",
        UserWarning,
        stacklevel=2,
    )
    if end is None:
        start, end = 0, start
    start, end, step = (float(_arr(v)) for v in (start, end, step))
    if step == 0:
        raise RuntimeError("range: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(
            f"range: upper bound and larger bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})"
        )
    n = int(math.floor((end - start) / step)) + 1
    dt = default_float() if dtype is None else np.dtype(dtype)
    v = start + step * np.arange(n, dtype=np.float64)
    return _new(v.astype(dt), device, requires_grad)


def empty_strided(
    size: Sequence[int],
    stride: Sequence[int],
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """An uninitialised tensor of ``size`` laid out with ``stride`` (in elements) over a buffer
    just large enough, as torch.empty_strided."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(
            f"empty_strided: mismatch in length of strides and shape ({len(stride)} vs {len(size)})"
        )
    if _b.any(s < 0 for s in size) or _b.any(s < 0 for s in stride):
        raise RuntimeError("empty_strided: sizes and strides must be non-negative")
    dt = default_float() if dtype is None else np.dtype(dtype)
    n = 0 if 0 in size else 1 + _b.sum((s - 1) * st for s, st in zip(size, stride))
    buf = np.empty(n, dt)
    a = np.lib.stride_tricks.as_strided(
        buf, size, tuple(st * dt.itemsize for st in stride), writeable=True
    )
    t = _new(a, device, False)
    if requires_grad:
        t.requires_grad_(True)
    return t


def frombuffer(
    buffer: Any,
    *,
    dtype: DTypeLike,
    count: int = -1,
    offset: int = 0,
    requires_grad: bool = False,
) -> Tensor:
    """A 1-d tensor over the memory of an object with the buffer protocol (bytes, bytearray,
    array.array, memoryview), sharing it: ``count`` elements (-1: all) from byte ``offset``."""
    dt = np.dtype(dtype)
    try:
        nbytes = memoryview(buffer).nbytes
    except TypeError:
        raise ValueError(
            f"frombuffer: object does not implement the buffer protocol: {type(buffer).__name__}"
        ) from None
    if offset < 0 or offset > nbytes or (offset == nbytes and nbytes):
        raise ValueError(
            f"frombuffer: offset ({offset} bytes) must be non-negative and no greater than "
            f"buffer length ({nbytes} bytes) minus 1"
        )
    if count == 0 or count < -1:
        raise ValueError(f"frombuffer: count must be positive or -1, got {count}")
    if count == -1 and (nbytes - offset) % dt.itemsize:
        raise ValueError(
            f"frombuffer: buffer length ({nbytes - offset} bytes) after offset ({offset} "
            f"bytes) must be a multiple of element size ({dt.itemsize})"
        )
    if count > 0 and offset + count * dt.itemsize > nbytes:
        raise ValueError(
            f"frombuffer: requested buffer length ({count} * {dt.itemsize} bytes) after "
            f"offset ({offset} bytes) must not be greater than actual buffer length "
            f"({nbytes} bytes)"
        )
    a = np.frombuffer(buffer, dtype=dt, count=count, offset=offset)
    if not a.flags.writeable:
        warnings.warn(
            "frombuffer: the given buffer is not writable; the tensor is read-only here "
            "(torch leaves writing to it undefined)",
            UserWarning,
            stacklevel=2,
        )
    t = Tensor._wrap(a)
    if requires_grad:
        t.requires_grad_(True)
    return t


# -- print options (read by pydlk/_tensor_str.py when a Tensor prints)

_PROFILES: dict[str, dict[str, Any]] = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}
_PRINT: dict[str, Any] = {**_PROFILES["default"], "sci_mode": None}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """How tensors print, as torch.set_printoptions: ``precision`` digits after the point,
    summarised (``...``) beyond ``threshold`` elements with ``edgeitems`` at each end,
    ``linewidth`` characters a line, a ``profile`` ('default', 'short', 'full') setting the
    four, ``sci_mode`` True/False forcing scientific notation on or off (None: automatic)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: unknown profile {profile!r}")
        _PRINT.update(_PROFILES[profile])
    for k, v in (
        ("precision", precision),
        ("threshold", threshold),
        ("edgeitems", edgeitems),
        ("linewidth", linewidth),
    ):
        if v is not None:
            _PRINT[k] = v
    _PRINT["sci_mode"] = sci_mode


# -- global switches

_INTEROP = [os.cpu_count() or 1]
_WARN_ALWAYS = [False]


def get_num_interop_threads() -> int:
    """The number set with ``set_num_interop_threads`` (the CPU count at start). pydlk runs no
    inter-op thread pool: the number is recorded, not used."""
    return _INTEROP[0]


def set_num_interop_threads(num: int) -> None:
    """Record ``num`` (a positive int) as the inter-op thread count; pydlk has no inter-op pool,
    so nothing else changes (``set_num_threads`` sets the kernels' threads)."""
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num <= 0:
        raise RuntimeError(
            f"set_num_interop_threads: expected a positive number of threads, got {num!r}"
        )
    _INTEROP[0] = int(num)


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on (``set_anomaly_enabled``, ``autograd.detect_anomaly``)."""
    from .._anomaly import is_anomaly_enabled as on

    return on()


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """Turn anomaly detection on or off globally (torch.set_anomaly_enabled); with
    ``check_nan=False`` it stays off, as pydlk's anomaly mode is its NaN/inf check."""
    from .._anomaly import set_detect_anomaly

    set_detect_anomaly(bool(enabled) and bool(check_nan))


def set_warn_always(b: bool) -> None:
    """Record torch's warn-always flag (pydlk's warnings follow Python's filters either way)."""
    _WARN_ALWAYS[0] = bool(b)


def is_warn_always_enabled() -> bool:
    """The flag set by ``set_warn_always`` (False at start)."""
    return _WARN_ALWAYS[0]


# -- finfo / iinfo


def _info_dtype(type: Any) -> np.dtype:
    if type is None:
        return default_float()
    if isinstance(type, np.dtype):
        return type
    return np.dtype(type)


class finfo:
    """torch.finfo: the numerical properties of a floating dtype (the default dtype without
    an argument): ``bits``, ``eps``, ``max``, ``min``, ``tiny`` (= ``smallest_normal``),
    ``resolution`` (10 ** -digits) as Python numbers, ``dtype`` its name.

    Raises TypeError for a dtype that is not floating point, as torch does.
    """

    def __init__(self, type: Any = None) -> None:
        dt = _info_dtype(type)
        if dt.kind not in "fcV":
            raise TypeError(
                "torch.finfo() requires a floating point input type. Use torch.iinfo to "
                "handle 'torch.finfo'"
            )
        if dt.kind == "c":  # torch gives the properties of the real part's dtype
            dt = np.dtype(np.float32 if dt.itemsize == 8 else np.float64)
        if dt.kind == "V":  # bfloat16 (ml_dtypes)
            import ml_dtypes

            info: Any = ml_dtypes.finfo(dt)
        else:
            info = np.finfo(dt)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = float(info.smallest_normal)
        self.smallest_normal = self.tiny
        self.resolution = float(10.0 ** -int(info.precision))
        self.dtype = str(dt)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, finfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("finfo", self.dtype))

    def __repr__(self) -> str:
        return (
            f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
            f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
            f"tiny={self.tiny:g}, dtype={self.dtype})"
        )


class iinfo:
    """torch.iinfo: ``bits``, ``max``, ``min`` (Python ints) and ``dtype`` (its name) of an
    integer dtype.

    Raises TypeError for a dtype that is not an integer one, as torch does.
    """

    def __init__(self, type: Any) -> None:
        dt = _info_dtype(type)
        if dt.kind not in "iub":
            raise TypeError(
                "torch.iinfo() requires an integer input type. Use torch.finfo to handle "
                "'torch.iinfo'"
            )
        info = np.iinfo(np.uint8 if dt.kind == "b" else dt)
        self.bits = int(info.bits)
        self.max = int(info.max)
        self.min = int(info.min)
        self.dtype = str(dt)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, iinfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("iinfo", self.dtype))

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


__all__ = [
    "finfo",
    "iinfo",
    "get_default_dtype",
    "set_default_dtype",
    "promote_types",
    "result_type",
    "can_cast",
    "typename",
    "is_floating_point",
    "is_signed",
    "is_nonzero",
    "is_same_size",
    "asarray",
    "scalar_tensor",
    "logspace",
    "range",
    "empty_strided",
    "frombuffer",
    "set_printoptions",
    "get_num_interop_threads",
    "set_num_interop_threads",
    "is_anomaly_enabled",
    "set_anomaly_enabled",
    "set_warn_always",
    "is_warn_always_enabled",
]

TENSOR_METHODS = {
    "is_signed": is_signed,
    "is_nonzero": is_nonzero,
    "is_same_size": is_same_size,
}
