"""Tensor methods and behaviour torch has beyond the op methods: the casts ``short``, ``byte``
and ``char``; ``x in t`` (``__contains__``); ``t.view(dtype)``, which reinterprets the bits of
the same memory; and assignment to ``z.real`` / ``z.imag``, which writes into the tensor.

``view(dtype)`` follows torch's rules: the same element size gives a view of any tensor; a
different size needs a dimensioned tensor whose last dim is contiguous (stride 1), and to a
wider dtype the last dim's size, the storage offset and the other strides must be divisible by
the size ratio. The result shares memory with the tensor and has no gradient (torch's
``view.dtype`` is not differentiable).

``z.real = v`` is torch's ``z.real.copy_(v)``: with nothing to record the values go into the
tensor's own memory (views of it see them); on a graph tensor, or from a ``v`` that requires
grad, it is recorded as the in-place ops are (``inplace._update``: ``z`` becomes
``complex(v, z.imag)``, ``v`` gets the real part of the gradient). Setting ``real`` of a real
tensor overwrites the tensor; ``imag`` of a real tensor raises, as torch.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .._backend import get_array_module
from ..autograd import Tensor
from .complex_ops import complex as _complex
from .complex_ops import imag as _imag
from .complex_ops import real as _real
from .conversions import _cast_method
from .inplace import _operand, _records, _update, copy_
from .shape import view as _view_shape
from .tensor_more import _storage_offset, _stride

__all__: list[str] = []


def _contains(self: Tensor, element: Any) -> bool:
    """``element in t``: whether any element of ``t`` equals ``element`` (a number, or a tensor
    broadcast against ``t``), torch's ``(element == t).any()``. Anything else raises
    RuntimeError, as torch."""
    if isinstance(element, (Tensor, numbers.Number)):
        return bool((self == element).any().item())
    raise RuntimeError(
        f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a {type(element)}."
    )


def _is_dtype(x: Any) -> bool:
    return isinstance(x, np.dtype) or (isinstance(x, type) and issubclass(x, np.generic))


def _view_dtype(self: Tensor, dtype: Any) -> Tensor:
    """The tensor's memory read as ``dtype`` (see the module doc for torch's rules)."""
    a = self._data
    dt = np.dtype(dtype)
    src = a.dtype
    if dt.itemsize != src.itemsize:
        what = f"to view {src} as {dt} (different element sizes)"
        if a.ndim == 0:
            raise RuntimeError(f"view: self.dim() cannot be 0 {what}")
        st = _stride(self)
        if st[-1] != 1:
            raise RuntimeError(f"view: self.stride(-1) must be 1 {what}, but got {st[-1]}")
        if dt.itemsize > src.itemsize:
            r = dt.itemsize // src.itemsize
            if a.shape[-1] % r:
                raise RuntimeError(
                    f"view: self.size(-1) must be divisible by {r} {what}, but got {a.shape[-1]}"
                )
            off = _storage_offset(self)
            if off % r:
                raise RuntimeError(
                    f"view: self.storage_offset() must be divisible by {r} {what}, but got {off}"
                )
            for i, s in enumerate(st[:-1]):
                if s % r:
                    raise RuntimeError(
                        f"view: self.stride({i}) must be divisible by {r} {what}, but got {s}"
                    )
    return Tensor._wrap(a.view(dt))


def _view(self: Tensor, *shape: Any, dtype: Any = None) -> Tensor:
    """``t.view(*shape)``: ``reshape`` (copying a non-contiguous tensor where torch's view
    would refuse); ``t.view(dtype)``: the same memory read as another dtype (torch's rules,
    see ``pydlk.ops.tensor_compat``), without gradient."""
    if dtype is not None and not shape:
        return _view_dtype(self, dtype)
    if len(shape) == 1 and _is_dtype(shape[0]):
        return _view_dtype(self, shape[0])
    return _view_shape(self, *shape)


def _part(self: Tensor, part: str, value: Any) -> None:
    """``z.real = value`` / ``z.imag = value`` of a complex tensor."""
    if _records(self, value):

        def compute(x: Tensor) -> Tensor:
            pdt = np.dtype(x.dtype.char.lower())  # complex64 -> float32, complex128 -> float64
            if isinstance(value, Tensor):
                v = value if value.dtype == pdt else value.to(pdt)
            else:
                xp = get_array_module(x._data)
                v = Tensor._wrap(xp.asarray(_operand(x, value), dtype=pdt))
            return _complex(v, _imag(x)) if part == "real" else _complex(_real(x), v)

        _update(self, part, compute)
        return
    v = _operand(self, value)
    try:
        getattr(self._data, part)[...] = v
    except ValueError as e:
        raise RuntimeError(
            f"{part}: a value of shape {tuple(np.shape(v))} does not broadcast to the "
            f"tensor's shape {tuple(self.shape)}"
        ) from e


def _set_real(self: Tensor, value: Any) -> None:
    """``t.real = value``: the real part (the whole of a real tensor) takes ``value``."""
    if self.dtype.kind != "c":
        copy_(self, value)
        return
    _part(self, "real", value)


def _set_imag(self: Tensor, value: Any) -> None:
    """``z.imag = value``: the imaginary part of a complex tensor takes ``value``; a real
    tensor raises RuntimeError, as torch."""
    if self.dtype.kind != "c":
        raise RuntimeError(
            f"imag is not implemented for tensors with non-complex dtypes, got {self.dtype}"
        )
    _part(self, "imag", value)


TENSOR_METHODS: dict[str, Any] = {
    "short": _cast_method(np.dtype(np.int16)),
    "byte": _cast_method(np.dtype(np.uint8)),
    "char": _cast_method(np.dtype(np.int8)),
    "__contains__": _contains,
    "view": _view,
}

# attached as properties with a setter (``z.real = v``)
TENSOR_PROPERTIES = {
    "real": property(_real, _set_real, doc="The real part (torch.Tensor.real); assignable."),
    "imag": property(_imag, _set_imag, doc="The imaginary part (torch.Tensor.imag); assignable."),
}
