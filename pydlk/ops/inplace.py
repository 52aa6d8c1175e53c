"""The in-place updates torch code calls on tensors, ``.data`` and ``.grad``: ``zero_``,
``fill_``, ``copy_``, ``add_``, ``sub_``, ``mul_``, ``div_``, ``clamp_``, ``masked_fill_``
(``_tensor_methods`` makes them Tensor methods).

Each writes into the tensor's own array and records nothing in the graph. While grad mode is on
each is refused where torch would record it (``Tensor._check_inplace_write``: into a tensor that
requires grad, or from an operand that requires grad), because without torch's version counters
a recorded write could change values a backward needs. Under ``no_grad()`` all are allowed.
``masked_fill_`` is the exception: it overwrites, and its backward needs none of the values it
replaces, so it is recorded as torch records it (as ``t[key] = v`` is, ``indexing._put``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from .._typing import Array, TensorOrScalar
from ..autograd import Tensor, is_grad_enabled
from ._helpers import _arr
from .arithmetic import div
from .indexing import _put


def _operand(self: Tensor, x: Any) -> Any:
    """``x`` as an array on this tensor's device (Python numbers pass through)."""
    a = x._data if isinstance(x, Tensor) else x
    if hasattr(a, "shape") and is_cupy(a) != is_cupy(self._data):
        a = get_array_module(self._data).asarray(a) if is_cupy(self._data) else a.get()
    return a


def _write(self: Tensor, op: str, fn: Callable[..., Any], *operands: Any) -> Tensor:
    """``fn(self's array, *operands, out=self's array)``; a shape or dtype the target cannot
    hold becomes a RuntimeError naming the op (NumPy's same-kind rule, as torch's: a float
    result into an integer tensor is refused)."""
    try:
        fn(self._data, *operands, out=self._data)
    except (TypeError, ValueError) as e:
        for o in operands:
            s = tuple(np.shape(o))
            try:
                ok = np.broadcast_shapes(self.shape, s) == self.shape
            except ValueError:
                ok = False
            if not ok:
                raise RuntimeError(
                    f"{op}: an operand of shape {s} does not broadcast to the in-place "
                    f"target's shape {tuple(self.shape)}"
                ) from e
        kind = np.result_type(self._data, *(o for o in operands if o is not None))
        raise RuntimeError(
            f"{op}: result type {kind} can't be cast to the in-place target's dtype "
            f"{self.dtype} ({e})"
        ) from e
    return self


def zero_(self: Tensor) -> Tensor:
    self._check_inplace_write("zero_")
    self._data[...] = 0
    return self


def fill_(self: Tensor, value: TensorOrScalar) -> Tensor:
    """Every element becomes ``value`` (a number or a 0-dim tensor, as torch)."""
    self._check_inplace_write("fill_", value)
    if np.ndim(value) != 0:
        raise RuntimeError(
            f"fill_: value must be a number or a 0-dim tensor, got one with shape "
            f"{tuple(np.shape(value))}"
        )
    self._data[...] = _operand(self, value)
    return self


def copy_(self: Tensor, src: Tensor | Array, non_blocking: bool = False) -> Tensor:
    """This tensor's values become ``src``'s (broadcast to this shape, cast to this dtype,
    copied across devices); ``non_blocking`` is accepted for torch code and ignored."""
    self._check_inplace_write("copy_", src)
    a = _operand(self, src)
    try:
        self._data[...] = a
    except ValueError as e:
        raise RuntimeError(
            f"copy_: src of shape {tuple(np.shape(a))} does not broadcast to the "
            f"target's shape {tuple(self.shape)}"
        ) from e
    return self


def add_(self: Tensor, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    """``self += alpha * other``."""
    self._check_inplace_write("add_", other)
    o = _operand(self, other)
    xp = get_array_module(self._data)
    return _write(self, "add_", xp.add, o if alpha == 1 else alpha * o)


def sub_(self: Tensor, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    """``self -= alpha * other``."""
    self._check_inplace_write("sub_", other)
    o = _operand(self, other)
    xp = get_array_module(self._data)
    return _write(self, "sub_", xp.subtract, o if alpha == 1 else alpha * o)


def mul_(self: Tensor, other: TensorOrScalar) -> Tensor:
    self._check_inplace_write("mul_", other)
    return _write(self, "mul_", get_array_module(self._data).multiply, _operand(self, other))


def div_(self: Tensor, other: TensorOrScalar, *, rounding_mode: str | None = None) -> Tensor:
    """``self /= other``; ``rounding_mode`` 'trunc' or 'floor' as ``div`` (an integer tensor
    needs one: true division gives floats, which it cannot hold)."""
    self._check_inplace_write("div_", other)
    if rounding_mode is None:
        xp = get_array_module(self._data)
        return _write(self, "div_", xp.true_divide, _operand(self, other))
    r = div(Tensor._wrap(self._data), _operand(self, other), rounding_mode=rounding_mode)
    self._data[...] = r._data  # integral values: exact in an integer tensor
    return self


def clamp_(
    self: Tensor, min: TensorOrScalar | None = None, max: TensorOrScalar | None = None
) -> Tensor:
    self._check_inplace_write("clamp_", min, max)
    if min is None and max is None:
        raise ValueError("clamp_: at least one of min and max must be given")
    xp = get_array_module(self._data)
    return _write(self, "clamp_", xp.clip, _operand(self, min), _operand(self, max))


def masked_fill_(self: Tensor, mask: Tensor, value: TensorOrScalar) -> Tensor:
    """``value`` (a number or a 0-dim tensor) where ``mask`` (bool, broadcastable to this
    tensor) is true. Recorded as torch records it when this tensor or ``value`` requires grad
    (the filled positions get no gradient; see ``indexing._put``)."""
    m = _arr(mask)
    if getattr(m, "dtype", None) != np.bool_:
        raise TypeError(
            f"masked_fill_: mask must be a bool tensor, got {getattr(m, 'dtype', type(m).__name__)}"
        )
    if np.ndim(value) != 0:
        raise RuntimeError(
            "masked_fill_: only supports a 0-dimensional value tensor, but got one with "
            f"{np.ndim(value)} dimension(s)"
        )
    try:
        key = get_array_module(self._data).broadcast_to(_operand(self, m), self.shape)
    except ValueError:
        raise RuntimeError(
            f"masked_fill_: the mask of shape {tuple(m.shape)} does not broadcast to the "
            f"target's shape {tuple(self.shape)}"
        ) from None
    if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled():
        value = value.reshape(())
    return _put(self, "masked_fill_", key, value)


def clamp_min_(self: Tensor, min: TensorOrScalar) -> Tensor:
    """``clamp_(min=min)``: limit from below, in place."""
    return clamp_(self, min=min)


def clamp_max_(self: Tensor, max: TensorOrScalar) -> Tensor:
    """``clamp_(max=max)``: limit from above, in place."""
    return clamp_(self, max=max)
