"""torch's legacy tensor types: ``pydlk.FloatTensor``, ``DoubleTensor``, ``HalfTensor``,
``BFloat16Tensor``, ``LongTensor``, ``IntTensor``, ``ShortTensor``, ``CharTensor``,
``ByteTensor``, ``BoolTensor`` and the same names in ``pydlk.cuda``, and
``set_default_tensor_type``.

Each is a class whose instances are never made: calling it makes a pydlk Tensor of its dtype
(on the GPU for the ``pydlk.cuda`` ones), with the old constructor's rules:

* ``FloatTensor()``: an empty 1-D tensor; ``FloatTensor(2, 3)`` or ``FloatTensor(Size)``:
  uninitialised, of that shape (a negative size is a RuntimeError);
* ``FloatTensor(data)``: a list, tuple, range or NumPy array, converted to the dtype (floats
  into an integer type are truncated); a NumPy array of the dtype already is shared, not
  copied, as torch shares it; a Python number (not a size) is a TypeError, as torch's
  "data must be a sequence";
* ``FloatTensor(t)`` of a Tensor: ``t`` itself viewed (same memory, same graph), which must
  already have the type's dtype and device (TypeError otherwise, as torch);
* ``device=`` only; a CUDA device for a CPU type (or the reverse) is a RuntimeError.

``isinstance(t, pydlk.FloatTensor)`` is True exactly when ``t`` is a dense Tensor of that
dtype on that kind of device (Parameters included), as torch's check; the classes are not
subclasses of ``Tensor``, as in torch. ``t.type(pydlk.FloatTensor)`` converts, ``t.type()``
names the type as torch does (``'torch.FloatTensor'``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._backend import is_cupy

# type name -> dtype name (bfloat16 is ml_dtypes', made on first use)
_NAMES = {
    "FloatTensor": "float32",
    "DoubleTensor": "float64",
    "HalfTensor": "float16",
    "BFloat16Tensor": "bfloat16",
    "LongTensor": "int64",
    "IntTensor": "int32",
    "ShortTensor": "int16",
    "CharTensor": "int8",
    "ByteTensor": "uint8",
    "BoolTensor": "bool",
}


def _dtype_of(name: str) -> np.dtype:
    if name == "bfloat16":
        from .ops.conversions import bfloat16_dtype

        return bfloat16_dtype()
    return np.dtype(name)


class tensortype(type):
    """The metaclass of the legacy types (torch's ``torch.tensortype``): calling a type makes
    a Tensor, ``isinstance`` compares dtype and device. ``dtype``, ``is_cuda``, ``is_sparse``
    and ``layout`` are read off the type, as torch's."""

    _dtype_name: str
    is_cuda: bool
    is_sparse = False

    @property
    def dtype(cls) -> np.dtype:
        return _dtype_of(cls._dtype_name)

    @property
    def layout(cls) -> Any:
        from .sparse import strided

        return strided

    def __instancecheck__(cls, obj: Any) -> bool:
        from .autograd import Tensor

        return (
            isinstance(obj, Tensor)
            and not obj.is_sparse
            and obj._data.dtype == cls.dtype
            and is_cupy(obj._data) == cls.is_cuda
        )

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return _construct(cls, args, kwargs)


def _make(name: str, cuda: bool) -> tensortype:
    module = "pydlk.cuda" if cuda else "pydlk"
    doc = (
        f"torch's legacy ``{'torch.cuda.' if cuda else 'torch.'}{name}``: calling it makes a "
        f"{_NAMES[name]} Tensor {'on the GPU' if cuda else 'on the CPU'}; ``isinstance`` checks "
        "dtype and device (see ``pydlk._legacy_types``)."
    )
    attrs: dict[str, Any] = {
        "__module__": module,
        "__qualname__": name,
        "__doc__": doc,
        "_dtype_name": _NAMES[name],
    }
    attrs["is_cuda"] = cuda
    return tensortype(name, (), attrs)


CPU_TYPES = {n: _make(n, False) for n in _NAMES}
CUDA_TYPES = {n: _make(n, True) for n in _NAMES}


def _full_name(cls: tensortype) -> str:
    return f"{cls.__module__}.{cls.__name__}"


def lookup(spec: Any) -> tensortype | None:
    """The legacy type ``spec`` names: a type itself, or a string ``'torch.FloatTensor'``,
    ``'torch.cuda.LongTensor'`` (``'pydlk.'`` works too); None when ``spec`` is neither."""
    if isinstance(spec, tensortype):
        return spec
    if not isinstance(spec, str):
        return None
    head, _, base = spec.rpartition(".")
    if head in ("torch", "pydlk"):
        return CPU_TYPES.get(base)
    if head in ("torch.cuda", "pydlk.cuda"):
        return CUDA_TYPES.get(base)
    return None


def _device_for(cls: tensortype, device: Any) -> str:
    """'cpu' or the CUDA device string the new tensor goes to; refuses a device of the other
    kind, and a CUDA type without a GPU."""
    from . import cuda
    from ._device import device as _device

    want = "cuda" if cls.is_cuda else "cpu"
    d = _device(device) if device is not None else _device(want)
    if d.type != want:
        raise RuntimeError(
            f"{cls.__name__}(): legacy constructor expects device type: {want} but device "
            f"type: {d.type} was passed"
        )
    if cls.is_cuda and not cuda.is_available():
        raise RuntimeError(
            f"{_full_name(cls)}: CUDA is not available (CuPy is not installed or no GPU was "
            f"found); use the CPU type pydlk.{cls.__name__}"
        )
    return "cpu" if want == "cpu" else str(d if d.index is not None else _device("cuda", 0))


def _is_size_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _construct(cls: tensortype, args: tuple, kwargs: dict) -> Any:
    from ._size import Size
    from .autograd import Tensor
    from .ops.conversions import _move, to

    op = f"{cls.__name__}()"
    unknown = set(kwargs) - {"device"}
    if unknown:
        raise TypeError(
            f"{op}: unexpected keyword argument(s) {sorted(unknown)}; the legacy "
            "constructors take only device="
        )
    where = _device_for(cls, kwargs.get("device"))
    dt = cls.dtype
    sizes: tuple[int, ...] | None = None
    if not args:
        sizes = (0,)
    elif all(_is_size_int(a) for a in args):
        sizes = tuple(int(a) for a in args)
    elif len(args) == 1 and isinstance(args[0], Size):
        sizes = tuple(args[0])
    elif len(args) > 1:
        got = ", ".join(type(a).__name__ for a in args)
        raise TypeError(
            f"{op}: expected sizes (ints), one sequence or array of data, or one Tensor, got "
            f"({got})"
        )
    if sizes is not None:
        if any(s < 0 for s in sizes):
            bad = next(s for s in sizes if s < 0)
            raise RuntimeError(
                f"{op}: Trying to create tensor with negative dimension {bad}: {list(sizes)}"
            )
        a = np.empty(sizes, dtype=dt)
        return Tensor._wrap(a if where == "cpu" else _move(a, where))
    data = args[0]
    if isinstance(data, Tensor):
        if data._data.dtype != dt or is_cupy(data._data) != cls.is_cuda:
            raise TypeError(
                f"{op}: expected a tensor of type {_full_name(cls)} (got {data.type()}); "
                "convert it with .type() or .to() first"
            )
        return data.view(tuple(data.shape))
    if isinstance(data, str) or not (
        isinstance(data, (list, tuple, range, np.ndarray)) or is_cupy(data)
    ):
        raise TypeError(f"{op}: data must be a sequence (got {type(data).__name__})")
    if isinstance(data, np.ndarray) and data.dtype == dt:
        a = data  # shared with the array, as torch's constructor shares it
    else:
        from .autograd import tensor

        src = data if isinstance(data, np.ndarray) or is_cupy(data) else tensor(data)._data
        a = src.astype(dt) if src.dtype != dt else src
    return to(Tensor._wrap(a), device=where)


def set_default_tensor_type(t: Any) -> None:
    """torch.set_default_tensor_type (deprecated in torch 2.1, and warns so, as torch): make
    the floating type ``t`` (``pydlk.DoubleTensor`` or ``'torch.DoubleTensor'``) the default,
    i.e. ``set_default_dtype(t.dtype)``. A CUDA type (``pydlk.cuda.FloatTensor``) also makes
    the GPU the default device, as torch's CUDA types did, and a CPU type then puts it back;
    without a GPU a CUDA type raises RuntimeError. Non-float types, dtypes and other strings
    raise TypeError, as torch's."""
    warnings.warn(
        "pydlk.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
        "pydlk.set_default_dtype() and pydlk.set_default_device() as alternatives.",
        UserWarning,
        stacklevel=2,
    )
    cls = lookup(t)
    if cls is None:
        raise TypeError(
            f"set_default_tensor_type: invalid type {t!r}: expected a floating tensor type such "
            "as pydlk.FloatTensor or 'torch.DoubleTensor' (only floating-point types are "
            "supported as the default type)"
        )
    if cls.dtype.kind != "f" and cls.dtype.name != "bfloat16":
        raise TypeError(
            f"set_default_tensor_type: only floating-point types are supported as the default "
            f"type, got {_full_name(cls)}"
        )
    from .ops import factories
    from .ops.dtype_utils import set_default_dtype

    if cls.is_cuda:
        _device_for(cls, None)  # refuses without a GPU
        factories.set_default_device("cuda")
        _STATE["cuda_default"] = True
    elif _STATE["cuda_default"]:
        factories.set_default_device(None)
        _STATE["cuda_default"] = False
    set_default_dtype(cls.dtype)


_STATE = {"cuda_default": False}  # whether a CUDA type made the GPU the default device

FloatTensor = CPU_TYPES["FloatTensor"]
DoubleTensor = CPU_TYPES["DoubleTensor"]
HalfTensor = CPU_TYPES["HalfTensor"]
BFloat16Tensor = CPU_TYPES["BFloat16Tensor"]
LongTensor = CPU_TYPES["LongTensor"]
IntTensor = CPU_TYPES["IntTensor"]
ShortTensor = CPU_TYPES["ShortTensor"]
CharTensor = CPU_TYPES["CharTensor"]
ByteTensor = CPU_TYPES["ByteTensor"]
BoolTensor = CPU_TYPES["BoolTensor"]


def tensor_ctor_data(args: tuple, dtype: Any) -> Any:
    """The array of ``pydlk.Tensor(*args)`` in torch's legacy forms that pydlk's own
    constructor cannot mean, where torch.Tensor is the default tensor type (``dtype``: the
    default float dtype): ``Tensor()`` empty and 1-D, ``Tensor(2, 3)`` (two or more sizes) or
    ``Tensor(Size)`` uninitialised, of that shape. None for one argument otherwise: pydlk's
    constructor keeps it as data (``Tensor(5)`` is 0-d and ``Tensor([1, 2])`` int64 where
    torch makes 5 uninitialised floats and float32 values; ``pydlk.empty(5)`` and
    ``pydlk.FloatTensor([1, 2])`` say either unambiguously)."""
    from ._size import Size

    if len(args) == 1 and not isinstance(args[0], Size):
        return None
    if not args:
        return np.empty(0, dtype)
    sizes = tuple(args[0]) if isinstance(args[0], Size) else args
    if not all(_is_size_int(a) for a in sizes):
        got = ", ".join(type(a).__name__ for a in args)
        raise TypeError(
            f"Tensor(): expected sizes (ints), one sequence or array of data, or one Tensor, "
            f"got ({got})"
        )
    if any(int(s) < 0 for s in sizes):
        bad = next(int(s) for s in sizes if int(s) < 0)
        raise RuntimeError(
            f"Tensor(): Trying to create tensor with negative dimension {bad}: "
            f"{[int(s) for s in sizes]}"
        )
    return np.empty(tuple(int(s) for s in sizes), dtype)
