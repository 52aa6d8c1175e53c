"""The in-place updates torch code calls on tensors, ``.data`` and ``.grad``: ``zero_``,
``fill_``, ``copy_``, ``add_``, ``sub_``, ``mul_``, ``div_``, ``clamp_``, ``masked_fill_``
(``_tensor_methods`` makes them Tensor methods; the elementwise ``exp_``, ``sqrt_``, ``pow_``,
``addcmul_``, ... are in ``inplace_math.py``).

With nothing to record (grad mode off, or neither the tensor nor an operand requires grad)
each writes into the tensor's own array: this is how optimisers, init and
``p.data.add_(...)`` change values. Otherwise each is recorded as torch records it
(``_update``): the op runs out of place on the value before it, and the tensor takes the
result and the new history (its grad_fn becomes the op). pydlk has no version counters, so
this is done only where nothing else holds the tensor's memory (``_helpers._sole_holder``);
then taking the new array cannot be told apart from writing into the old one, and whatever a
backward saved keeps its values. A leaf that requires grad is refused, as in torch.
``masked_fill_`` overwrites in place and is recorded as ``t[key] = v`` is (``indexing._put``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from .._typing import Array, TensorOrScalar
from ..autograd import Function, Tensor, is_grad_enabled
from ._helpers import (
    _arr,
    _fit,
    _fit_t,
    _meta,
    _new_version,
    _refuse_leaf,
    _refuse_shared,
    _sole_holder,
    _stand_for,
)
from ._promotion import _category, float_dtype, result_type
from .arithmetic import add, clamp, div, mul, sub
from .indexing import _put


def _operand(self: Tensor, x: Any) -> Any:
    """``x`` as an array on this tensor's device (Python numbers pass through)."""
    a = x._data if isinstance(x, Tensor) else x
    if hasattr(a, "shape") and is_cupy(a) != is_cupy(self._data):
        a = get_array_module(self._data).asarray(a) if is_cupy(self._data) else a.get()
    return a


def _records(self: Tensor, *operands: Any) -> bool:
    """True if an in-place op on ``self`` with ``operands`` is to be recorded (grad mode on, and
    ``self`` or a Tensor operand requires grad)."""
    return is_grad_enabled() and (
        self._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in operands)
    )


def _update(self: Tensor, op: str, compute: Callable[[Tensor], Tensor]) -> Tensor:
    """torch's recorded in-place op: ``compute(before)`` is the op out of place (recorded) on a
    Tensor standing for ``self``'s value and history before it; ``self`` takes its values
    (cast to ``self``'s dtype, as torch's in-place ops cast) and its history.

    Refused, naming the op: a leaf that requires grad; a tensor whose memory something else
    holds (see ``_helpers._sole_holder``); a result of another shape (an operand that would
    broadcast ``self`` larger) or of a dtype ``self`` cannot hold (a float into an integer
    tensor)."""
    _refuse_leaf(self, op)
    if not _sole_holder(self):
        _refuse_shared(self, op)
    before = _stand_for(self)
    r = compute(before)
    _check_result(self, op, r._data)
    if r.dtype != self.dtype:
        r = r.to(self.dtype)
    own = r._data is not before._data and _sole_holder(r)
    self._data = r._data if own else r._data.copy()  # a saved output or a view: copied
    if r._node is None:  # a result without gradient (floor_, sign_): so is self now
        self._node, self._requires_grad = None, False
    else:
        _new_version(self, before)
        node, i = r._node
        node.outputs[i] = weakref.ref(self)
        self._requires_grad, self._node = True, r._node
    return self


def _castable(src: np.dtype, dst: np.dtype) -> bool:
    """torch's in-place casting rule (``torch.can_cast``): no float into an integer, no complex
    into a real type, nothing but bool into bool; within a category anything goes (an int64
    result into a uint8 tensor wraps, where NumPy's same-kind rule refuses it)."""
    return _category(src) <= _category(dst)


def _check_result(self: Tensor, op: str, r: Array) -> None:
    if tuple(r.shape) != tuple(self.shape):
        raise RuntimeError(
            f"{op}: output with shape {tuple(self.shape)} doesn't match the broadcast shape "
            f"{tuple(r.shape)}"
        )
    if r.dtype != self.dtype and not _castable(r.dtype, self.dtype):
        raise RuntimeError(
            f"{op}: result type {r.dtype} can't be cast to the in-place target's dtype {self.dtype}"
        )


def _assign(self: Tensor, op: str, r: Array) -> Tensor:
    """Write the array ``r`` (a result computed out of place) into ``self``'s array: the plain
    path of an in-place op with nothing to record."""
    _check_result(self, op, r)
    self._data[...] = r
    return self


def _write(self: Tensor, op: str, fn: Callable[..., Any], *operands: Any) -> Tensor:
    """``fn(self's array, *operands, out=self's array)``; a shape or dtype the target cannot
    hold becomes a RuntimeError naming the op (NumPy's same-kind rule, as torch's: a float
    result into an integer tensor is refused)."""
    try:
        fn(self._data, *operands, out=self._data)
    except (TypeError, ValueError) as e:
        dt = result_type(self._data, *operands)
        if dt is not None and _castable(dt, self.dtype) and dt != self.dtype:
            try:  # NumPy's same-kind rule refused what torch allows (int64 into uint8)
                self._data[...] = fn(self._data, *operands)
                return self
            except (TypeError, ValueError):
                pass
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
        kind = (
            dt
            if dt is not None
            else np.result_type(self._data, *(o for o in operands if o is not None))
        )
        raise RuntimeError(
            f"{op}: result type {kind} can't be cast to the in-place target's dtype "
            f"{self.dtype} ({e})"
        ) from e
    return self


class CopyFrom(Function):
    """``a.copy_(src)`` recorded: the result is ``src`` broadcast to ``a``'s shape in ``a``'s
    dtype; the overwritten ``a`` gets a zero gradient, ``src`` the gradient summed over the
    dimensions it was broadcast along."""

    @staticmethod
    def forward(ctx, a, src):
        ctx.meta = _meta(src)
        xp = get_array_module(a)
        out = xp.empty(a.shape, a.dtype)
        out[...] = src
        return out

    @staticmethod
    def backward(ctx, g):
        ga = get_array_module(g).zeros_like(g) if ctx.needs_input_grad[0] else None
        return ga, (_fit(g, ctx.meta) if ctx.needs_input_grad[1] else None)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        ga = g * 0 if ctx.needs_input_grad[0] else None
        return ga, (_fit_t(g, ctx.meta) if ctx.needs_input_grad[1] else None)


def zero_(self: Tensor) -> Tensor:
    """Every element becomes 0 (recorded as torch records it on a graph tensor: the overwritten
    values get a zero gradient)."""
    if _records(self):
        return _update(self, "zero_", lambda x: CopyFrom.apply(x, 0))
    self._data[...] = 0
    return self


def fill_(self: Tensor, value: TensorOrScalar) -> Tensor:
    """Every element becomes ``value`` (a number or a 0-dim tensor, as torch; a tensor value
    that requires grad gets the sum of the gradient)."""
    if np.ndim(value) != 0:
        raise RuntimeError(
            f"fill_: value must be a number or a 0-dim tensor, got one with shape "
            f"{tuple(np.shape(value))}"
        )
    if _records(self, value):
        src = value if isinstance(value, Tensor) else _arr(value)
        return _update(self, "fill_", lambda x: CopyFrom.apply(x, src))
    self._data[...] = _operand(self, value)
    return self


def copy_(self: Tensor, src: Tensor | Array, non_blocking: bool = False) -> Tensor:
    """This tensor's values become ``src``'s (broadcast to this shape, cast to this dtype,
    copied across devices); ``non_blocking`` is accepted for torch code and ignored. Recorded on
    a graph tensor or from a ``src`` that requires grad, as torch records it: ``src`` gets the
    gradient (moved back to its device), the overwritten values none."""
    if _records(self, src):
        s = src.to(self.device) if isinstance(src, Tensor) else _operand(self, src)
        return _update(self, "copy_", lambda x: CopyFrom.apply(x, s))
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
    if _records(self, other):
        return _update(self, "add_", lambda x: add(x, other, alpha=alpha))
    o = _operand(self, other)
    xp = get_array_module(self._data)
    return _write(self, "add_", xp.add, o if alpha == 1 else alpha * o)


def sub_(self: Tensor, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    """``self -= alpha * other``."""
    if _records(self, other):
        return _update(self, "sub_", lambda x: sub(x, other, alpha=alpha))
    o = _operand(self, other)
    xp = get_array_module(self._data)
    return _write(self, "sub_", xp.subtract, o if alpha == 1 else alpha * o)


def mul_(self: Tensor, other: TensorOrScalar) -> Tensor:
    """``self *= other``."""
    if _records(self, other):
        return _update(self, "mul_", lambda x: mul(x, other))
    return _write(self, "mul_", get_array_module(self._data).multiply, _operand(self, other))


def div_(self: Tensor, other: TensorOrScalar, *, rounding_mode: str | None = None) -> Tensor:
    """``self /= other``; ``rounding_mode`` 'trunc' or 'floor' as ``div`` (an integer tensor
    needs one: true division gives floats, which it cannot hold)."""
    if _records(self, other):
        return _update(self, "div_", lambda x: div(x, other, rounding_mode=rounding_mode))
    if rounding_mode is None:
        if _category(self.dtype) < 2:  # true division gives floats, which it cannot hold
            raise RuntimeError(
                f"div_: result type {float_dtype(self.dtype)} can't be cast to the in-place "
                f"target's dtype {self.dtype}"
            )
        xp = get_array_module(self._data)
        return _write(self, "div_", xp.true_divide, _operand(self, other))
    r = div(Tensor._wrap(self._data), _operand(self, other), rounding_mode=rounding_mode)
    self._data[...] = r._data  # integral values: exact in an integer tensor
    return self


def clamp_(
    self: Tensor, min: TensorOrScalar | None = None, max: TensorOrScalar | None = None
) -> Tensor:
    """Limit to ``[min, max]`` in place (either bound may be None, or a tensor)."""
    if min is None and max is None:
        raise ValueError("clamp_: at least one of min and max must be given")
    if _records(self, min, max):
        return _update(self, "clamp_", lambda x: clamp(x, min, max))
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


def augmented(
    op: str, inplace: Callable[[Tensor, Any], Tensor], out_of_place: Callable[[Tensor, Any], Tensor]
) -> Callable[[Tensor, Any], Tensor]:
    """Python's ``x op= y`` (``__iadd__``, ``__iand__``, ``__ipow__``, ...) as torch runs it:
    the in-place method (``x += y`` is ``x.add_(y)``), so every reference to ``x`` sees the new
    values; a result ``x`` cannot hold (a float into an integer tensor, a shape ``x`` would
    have to grow to) raises RuntimeError; on a graph tensor the write is recorded as the
    in-place methods record theirs (``_update``), and a leaf that requires grad is refused.

    Where a recorded write is not possible because ``x``'s memory is held elsewhere (a view of
    another tensor, a value a backward saved; see ``_helpers._sole_holder``) ``x op= y`` binds
    ``x`` to the out-of-place result instead (a new graph node, as ``x = x op y``): torch
    would write and, where a backward needs the old values, raise at backward time."""

    def method(self: Tensor, other: Any) -> Tensor:
        if (
            _records(self, other)
            and not (self._requires_grad and self._node is None)
            and not _sole_holder(self)
        ):
            return out_of_place(self, other)
        return inplace(self, other)

    method.__name__ = method.__qualname__ = op
    method.__doc__ = (
        f"``self {_SYMBOLS[op]}= other`` in place, as torch's (``ops.inplace.augmented``)."
    )
    return method


_SYMBOLS = {
    "__iadd__": "+",
    "__isub__": "-",
    "__imul__": "*",
    "__itruediv__": "/",
    "__idiv__": "/",
    "__ifloordiv__": "//",
    "__imod__": "%",
    "__ipow__": "**",
    "__iand__": "&",
    "__ior__": "|",
    "__ixor__": "^",
    "__ilshift__": "<<",
    "__irshift__": ">>",
}
