"""Factories: zeros, ones, full, arange, linspace, eye, rand*, ..."""

from __future__ import annotations

import builtins as _b
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _device, _random
from .._random import Generator
from .._typing import Array, DeviceLike, DTypeLike, _size
from ..autograd import Tensor
from ._helpers import _arr, _sizes
from .conversions import (
    _device_str,
    _move,
    _parse_device,
    float32,
    float64,
    int64,
)
from .dtype_utils import default_complex, default_float
from .memory_formats import _check_memory_format, _check_new_format


def _new(array: Array, device: DeviceLike | None, requires_grad: bool) -> Tensor:
    """A fresh leaf tensor from a NumPy array, moved to ``device`` (None: the default device,
    see ``set_default_device``)."""
    dev = _parse_device(device) if device is not None else _device.default_device_str()
    if dev is not None and dev != "cpu":
        array = _move(array, dev)
    t = Tensor._wrap(array)
    if requires_grad:
        t.requires_grad = True  # raises for integer dtypes
    return t


def set_default_device(device: DeviceLike | None) -> None:
    """Make ``device`` (``'cpu'``, ``'cuda'``, ``'cuda:N'``, a ``pydlk.device``) where the
    factories put a tensor when their ``device`` is None: ``zeros``, ``ones``, ``empty``,
    ``full``, ``arange``, ``linspace``, ``eye``, ``rand``, ``randn``, ``randint``, ``randperm``,
    ``normal`` (float mean and std), ``pydlk.tensor`` and ``pydlk.as_tensor``; None clears it
    (back to the CPU). The ``*_like`` factories keep the input's device, as in torch.

    Layers built without ``device=`` go there too (``nn.Module``'s ``device=`` handling). A
    CUDA device needs CuPy and a GPU (else RuntimeError).
    """
    dev = None
    if device is not None:
        try:
            dev = _parse_device(device)
        except ValueError as e:
            raise ValueError(f"set_default_device: {e}") from None
        if dev != "cpu":
            from ..cuda import is_available

            if not is_available():
                raise RuntimeError(
                    f"set_default_device: device {device!r} needs a CUDA GPU and CuPy, and "
                    "none is available"
                )
    _device.set_default_device_str(dev)


def get_default_device() -> _device.device:
    """The device the factories use when none is given (``set_default_device``); the CPU
    unless set."""
    return _device.device(_device.default_device_str() or "cpu")


def _float_dtype(dtype: DTypeLike | None, op: str) -> np.dtype:
    """A factory's dtype: the default dtype (float32 unless set_default_dtype) unless given."""
    return default_float() if dtype is None else np.dtype(dtype)


def _size_args(size: tuple[Any, ...], kwsize: Any, op: str) -> tuple[int, ...]:
    if kwsize is not None:
        if size:
            raise TypeError(f"{op}: pass the size positionally or as size=, not both")
        size = (kwsize,)
    return _sizes(size, op)


def zeros(
    *size: int | _size,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    **kw: Any,
) -> Tensor:
    """A tensor of zeros of shape ``size`` (ints or one tuple); float32 unless ``dtype``."""
    size = _size_args(size, kw.pop("size", None), "zeros")
    _no_kw(kw, "zeros")
    return _new(np.zeros(size, _float_dtype(dtype, "zeros")), device, requires_grad)


def ones(
    *size: int | _size,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    **kw: Any,
) -> Tensor:
    """A tensor of ones of shape ``size`` (ints or one tuple); float32 unless ``dtype``."""
    size = _size_args(size, kw.pop("size", None), "ones")
    _no_kw(kw, "ones")
    return _new(np.ones(size, _float_dtype(dtype, "ones")), device, requires_grad)


def empty(
    *size: int | _size,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    **kw: Any,
) -> Tensor:
    """An uninitialised tensor of shape ``size``; float32 unless ``dtype``. ``memory_format``
    (``pydlk.channels_last``, ...) is a layout hint, checked as torch's: the array is C-order."""
    size = _size_args(size, kw.pop("size", None), "empty")
    _check_new_format("empty", kw.pop("memory_format", None), len(size))
    _no_kw(kw, "empty")
    return _new(np.empty(size, _float_dtype(dtype, "empty")), device, requires_grad)


def _no_kw(kw: dict[str, Any], op: str) -> None:
    """Accept torch's layout=/pin_memory= (meaningless here) and out=None; refuse the rest."""
    kw.pop("layout", None)
    kw.pop("pin_memory", None)
    if "out" in kw and kw["out"] is None:
        del kw["out"]
    if kw:
        raise TypeError(f"{op}: unexpected keyword argument(s) {sorted(kw)}")


def _scalar_dtype(v: object) -> np.dtype:
    if isinstance(v, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(v, (int, np.integer)):
        return int64
    if isinstance(v, (complex, np.complexfloating)):
        return default_complex()
    return default_float()  # Python and NumPy floats alike, as torch


def full(
    size: _size,
    fill_value: complex,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``; the dtype follows the value
    (bool, int64, complex64 or float32, as torch) unless ``dtype`` is given.
    """
    size = _sizes((size,), "full")
    dt = np.dtype(dtype) if dtype is not None else _scalar_dtype(fill_value)
    return _new(np.full(size, fill_value, dt), device, requires_grad)


def _like(
    input: Tensor,
    dtype: DTypeLike | None,
    device: DeviceLike | None,
    memory_format: Any = None,
    op: str = "empty_like",
) -> tuple[tuple[int, ...], np.dtype, DeviceLike]:
    """The shape, dtype and device of a ``*_like`` result; ``memory_format`` checked (a layout
    hint: the result is C-order)."""
    a = _arr(input)
    if memory_format is not None:
        _check_memory_format(op, memory_format, a.ndim)
    dt = a.dtype if dtype is None else np.dtype(dtype)
    dev = _device_str(a) if device is None else device
    return a.shape, dt, dev


def zeros_like(
    input: Tensor,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Zeros with the shape, dtype and device of ``input`` (unless given). ``memory_format`` is
    a layout hint (checked as torch's; the result is C-order)."""
    shape, dt, dev = _like(input, dtype, device, memory_format, "zeros_like")
    return _new(np.zeros(shape, dt), dev, requires_grad)


def ones_like(
    input: Tensor,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Ones with the shape, dtype and device of ``input`` (unless given). ``memory_format`` is
    a layout hint (checked as torch's; the result is C-order)."""
    shape, dt, dev = _like(input, dtype, device, memory_format, "ones_like")
    return _new(np.ones(shape, dt), dev, requires_grad)


def empty_like(
    input: Tensor,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """An uninitialised tensor with the shape, dtype and device of ``input``. ``memory_format`` is
    a layout hint (checked as torch's; the result is C-order)."""
    shape, dt, dev = _like(input, dtype, device, memory_format, "empty_like")
    return _new(np.empty(shape, dt), dev, requires_grad)


def full_like(
    input: Tensor,
    fill_value: complex,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """``fill_value`` with the shape, dtype and device of ``input`` (unless given).
    ``memory_format`` is a layout hint (checked as torch's; the result is C-order)."""
    shape, dt, dev = _like(input, dtype, device, memory_format, "full_like")
    return _new(np.full(shape, fill_value, dt), dev, requires_grad)


def arange(
    start: float | Tensor = 0,
    end: float | Tensor | None = None,
    step: float | Tensor = 1,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """[start, end) in steps of ``step``; int64 if all three are ints, else float32.
    The length is ceil((end - start) / step), computed in float64 as torch does."""
    if end is None:
        start, end = 0, start
    vals = [_arr(v).item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(
            f"arange: the range [{start}, {end}) is inconsistent with the sign of step {step}"
        )
    ints = _b.all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals)
    dt = np.dtype(dtype) if dtype is not None else (int64 if ints else default_float())
    if ints:
        a = np.arange(start, end, step, dtype=np.int64)
    else:
        n = int(math.ceil((end - start) / step))
        a = start + step * np.arange(n, dtype=np.float64)
    return _new(a.astype(dt), device, requires_grad)


def linspace(
    start: float,
    end: float,
    steps: int,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (computed in float64).
    Raises ValueError for a negative or non-int ``steps``.
    """
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    dt = _float_dtype(dtype, "linspace")
    return _new(np.linspace(start, end, steps, dtype=np.float64).astype(dt), device, requires_grad)


def eye(
    n: int,
    m: int | None = None,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """An (n, m) matrix (m defaults to n) with ones on the diagonal. Raises ValueError for
    negative sizes.
    """
    if n < 0 or (m is not None and m < 0):
        raise ValueError(f"eye: n and m must be non-negative, got {n}, {m}")
    return _new(np.eye(n, m, dtype=_float_dtype(dtype, "eye")), device, requires_grad)


def _gen(generator: Generator | None) -> np.random.Generator:
    return (generator or _random.default_generator).numpy


def _rand_dtype(dtype: DTypeLike | None, op: str, complex_ok: bool = False) -> np.dtype:
    dt = default_float() if dtype is None else np.dtype(dtype)
    if complex_ok and dt.kind == "c":
        return dt
    if dt.kind != "f":
        raise TypeError(f"{op}: dtype must be floating point, got {dt}")
    return dt


def _complex_draw(draw: Any, size: tuple[int, ...], dt: np.dtype, scale: float) -> np.ndarray:
    """A complex array of ``dt`` whose real and imaginary parts are independent draws."""
    part = np.dtype(dt.char.lower())  # complex64 -> float32, complex128 -> float64
    pairs = draw((*size, 2), dtype=part)
    if scale != 1.0:
        pairs *= part.type(scale)
    return pairs.view(dt).reshape(size)


def rand(
    *size: int | _size,
    generator: Generator | None = None,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    **kw: Any,
) -> Tensor:
    """Uniform [0, 1) from pydlk's generator (seeded by ``pydlk.manual_seed``)."""
    size = _size_args(size, kw.pop("size", None), "rand")
    _no_kw(kw, "rand")
    dt = _rand_dtype(dtype, "rand", complex_ok=True)
    if dt.kind == "c":  # torch: real and imaginary parts each uniform on [0, 1)
        a = _complex_draw(_gen(generator).random, size, dt, 1.0)
        return _new(a, device, requires_grad)
    gdt = dt if dt in (float32, float64) else float32
    a = _gen(generator).random(size, dtype=gdt).astype(dt, copy=False)
    return _new(a, device, requires_grad)


def randn(
    *size: int | _size,
    generator: Generator | None = None,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    **kw: Any,
) -> Tensor:
    """Standard normal samples from pydlk's generator (seeded by ``pydlk.manual_seed``)."""
    size = _size_args(size, kw.pop("size", None), "randn")
    _no_kw(kw, "randn")
    dt = _rand_dtype(dtype, "randn", complex_ok=True)
    if dt.kind == "c":  # torch: each part N(0, 1/2), so that E|z|^2 = 1
        a = _complex_draw(_gen(generator).standard_normal, size, dt, 0.5**0.5)
        return _new(a, device, requires_grad)
    gdt = dt if dt in (float32, float64) else float32
    a = _gen(generator).standard_normal(size, dtype=gdt).astype(dt, copy=False)
    return _new(a, device, requires_grad)


def randint(
    *args: Any,
    size: _size | None = None,
    generator: Generator | None = None,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    low: int | None = None,
    high: int | None = None,
) -> Tensor:
    """randint(high, size) or randint(low, high, size): integers in [low, high), int64."""
    pos: list[Any] = list(args)  # (high, size) or (low, high, size)
    if size is None and pos and isinstance(pos[-1], (tuple, list)):
        size = pos.pop()
    if len(pos) == 2:
        low, high = pos
    elif len(pos) == 1:
        if high is None:
            high = pos[0]
        else:
            low = pos[0]
    elif pos:
        raise TypeError(f"randint: expected (high, size) or (low, high, size), got {pos}")
    low = 0 if low is None else int(low)
    if high is None or size is None:
        raise TypeError("randint: high and size are required")
    high = int(high)
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    size = _sizes((size,), "randint")
    a = _gen(generator).integers(low, high, size, dtype=np.int64)
    return _new(a.astype(np.dtype(dtype) if dtype is not None else int64), device, requires_grad)


def randperm(
    n: int,
    *,
    generator: Generator | None = None,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64) from pydlk's generator."""
    a = _gen(generator).permutation(int(n)).astype(np.int64)
    return _new(a.astype(np.dtype(dtype) if dtype is not None else int64), device, requires_grad)


def rand_like(
    input: Tensor,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Uniform [0, 1) samples with the shape, dtype and device of ``input``. ``memory_format`` is
    a layout hint (checked as torch's; the result is C-order)."""
    shape, dt, dev = _like(input, dtype, device, memory_format, "rand_like")
    return rand(shape, dtype=dt, device=dev, requires_grad=requires_grad)


def randn_like(
    input: Tensor,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Standard normal samples with the shape, dtype and device of ``input``. ``memory_format`` is
    a layout hint (checked as torch's; the result is C-order)."""
    shape, dt, dev = _like(input, dtype, device, memory_format, "randn_like")
    return randn(shape, dtype=dt, device=dev, requires_grad=requires_grad)


def randint_like(
    input: Tensor,
    low: int = 0,
    high: int | None = None,
    *,
    generator: Generator | None = None,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Integers drawn uniformly from ``[low, high)`` with the shape, dtype (a float input gives
    float values) and device of ``input``: ``randint_like(x, high)`` or
    ``randint_like(x, low, high)``. Raises ValueError if high <= low.
    """
    if high is None:  # randint_like(input, high)
        low, high = 0, low
    if int(high) <= int(low):
        raise ValueError(f"randint_like: high ({high}) must be greater than low ({low})")
    shape, dt, dev = _like(input, dtype, device)
    r = randint(int(low), int(high), shape, generator=generator, device=dev)
    return _new_like_dtype(r, dt, requires_grad)


def _new_like_dtype(r: Tensor, dtype: np.dtype, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(r._data.astype(dtype, copy=False))
    if requires_grad:
        t.requires_grad = True  # raises for integer dtypes
    return t


def _new_method(factory: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Tensor.new_zeros and friends: the tensor's dtype and device unless given."""

    def method(
        self: Tensor,
        *size: int | _size,
        dtype: DTypeLike | None = None,
        device: DeviceLike | None = None,
        requires_grad: bool = False,
    ) -> Tensor:
        return factory(
            _sizes(size, factory.__name__),
            dtype=self.dtype if dtype is None else dtype,
            device=self.device if device is None else device,
            requires_grad=requires_grad,
        )

    return method


def _new_full(
    self: Tensor,
    size: _size,
    fill_value: complex,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    return full(
        size,
        fill_value,
        dtype=self.dtype if dtype is None else dtype,
        device=self.device if device is None else device,
        requires_grad=requires_grad,
    )


def _new_tensor(
    self: Tensor,
    data: Any,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    from ..autograd import tensor

    a = tensor(data, dtype=self.dtype if dtype is None else dtype)._data
    return _new(a, self.device if device is None else device, requires_grad)


def numel(input: Tensor) -> int:
    """The number of elements of ``input`` (a Python int)."""
    return int(_arr(input).size)


def is_tensor(obj: object) -> bool:
    """True if ``obj`` is a pydlk Tensor (a NumPy array is not)."""
    return isinstance(obj, Tensor)


def _float_arg(x: Any, op: str, name: str) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must be a float or a tensor, got {x!r}") from None


def normal(
    mean: Tensor | float,
    std: Tensor | float = 1.0,
    size: int | _size | None = None,
    *,
    generator: Generator | None = None,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Samples of N(mean, std^2). torch's overloads: tensor mean and/or std (elementwise,
    broadcast together, result dtype theirs) or float mean and std with ``size``. No gradient
    flows to mean or std (as torch)."""
    # the float operands as floats, the tensors as their arrays
    m = _arr(mean) if isinstance(mean, Tensor) else _float_arg(mean, "normal", "mean")
    s = _arr(std) if isinstance(std, Tensor) else _float_arg(std, "normal", "std")
    ref = mean if isinstance(mean, Tensor) else std if isinstance(std, Tensor) else None
    if ref is not None:
        if size is not None:
            raise TypeError("normal: size is only accepted with float mean and std")
        if ref.dtype.kind != "f":
            raise TypeError(f"normal: mean/std must be floating point, got {ref.dtype}")
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        if np.any(np.asarray(s.get() if hasattr(s, "get") else s) < 0):
            raise ValueError("normal: std must be >= 0")
        z = _gen(generator).standard_normal(shape, dtype=np.float64)
        a = (
            np.asarray(m.get() if hasattr(m, "get") else m, np.float64)
            + z * np.asarray(s.get() if hasattr(s, "get") else s, np.float64)
        ).astype(ref.dtype)
        return _new(a, device if device is not None else _device_str(ref._data), requires_grad)
    if s < 0:
        raise ValueError(f"normal: std must be >= 0, got {s}")
    if size is None:
        raise TypeError("normal: with float mean and std, size is required")
    shape = _sizes((size,) if not isinstance(size, (tuple, list)) else tuple(size), "normal")
    dt = _rand_dtype(dtype, "normal")
    a = (m + s * _gen(generator).standard_normal(shape, dtype=np.float64)).astype(dt)
    return _new(a, device, requires_grad)


def _fill_random(self: Tensor, op: str, draw: Callable[[tuple[int, ...]], Array]) -> Tensor:
    self._check_inplace_write(op)
    if self.dtype.kind != "f":
        raise TypeError(f"{op}: tensor dtype must be floating point, got {self.dtype}")
    a = draw(self.shape).astype(self.dtype, copy=False)
    if hasattr(self._data, "get"):  # a CuPy array: draw on the host, copy over
        import cupy

        a = cupy.asarray(a)
    self._data[...] = a
    return self


def _normal_(
    self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Generator | None = None
) -> Tensor:
    """Fill in place with N(mean, std^2) samples from pydlk's generator."""
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    return _fill_random(
        self, "normal_", lambda s: mean + std * _gen(generator).standard_normal(s, dtype=np.float64)
    )


def _uniform_(
    self: Tensor, from_: float = 0.0, to: float = 1.0, *, generator: Generator | None = None
) -> Tensor:
    """Fill in place with U[from_, to) samples from pydlk's generator (torch names the first
    argument ``from``, a Python keyword; positional use is the same)."""
    if from_ > to:
        raise ValueError(f"uniform_: expects from <= to, got from={from_}, to={to}")
    return _fill_random(
        self,
        "uniform_",
        lambda s: from_ + (to - from_) * _gen(generator).random(s, dtype=np.float64),
    )


def _exponential_(
    self: Tensor, lambd: float = 1.0, *, generator: Generator | None = None
) -> Tensor:
    """Fill in place with Exponential(lambd) samples (mean 1/lambd)."""
    if not lambd > 0:
        raise ValueError(f"exponential_: lambd must be > 0, got {lambd}")
    return _fill_random(self, "exponential_", lambda s: _gen(generator).exponential(1.0 / lambd, s))
