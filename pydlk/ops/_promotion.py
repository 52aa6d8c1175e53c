"""torch's type promotion for binary arithmetic (``torch.result_type``), which NumPy's differs
from in three places a torch script meets daily:

- an integer tensor with a float tensor or a Python float gives the float dtype (float32), not
  float64: ``torch.tensor(uint8_images) / 255`` feeds a float32 model;
- a zero-dimensional tensor does not widen a dimensioned tensor of its own category
  (``x_float32 * torch.tensor(2.0, dtype=torch.float64)`` stays float32);
- true division of integers gives the default float dtype (float32).

The operands fall into three groups, each promoted within itself: dimensioned tensors (and
arrays), zero-dimensional tensors, and Python numbers (bool -> bool, int -> int64, float -> the
default dtype, float32 unless pydlk.set_default_dtype, complex -> its complex match). A later
group counts only when its category (bool < integer < floating < complex) is higher than the
earlier groups' (c10's ResultTypeState).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..autograd import Tensor

_DEFAULT_FLOAT = np.dtype(np.float32)
_DEFAULT_COMPLEX = np.dtype(np.complex64)


def _default_float() -> np.dtype:
    """float32, or what pydlk.set_default_dtype chose (dtype_utils imports this module, so
    its state is looked up, not imported)."""
    m = sys.modules.get("pydlk.ops.dtype_utils")
    return _DEFAULT_FLOAT if m is None else m.default_float()


def _default_complex() -> np.dtype:
    m = sys.modules.get("pydlk.ops.dtype_utils")
    return _DEFAULT_COMPLEX if m is None else m.default_complex()


_INT64 = np.dtype(np.int64)
_BOOL = np.dtype(np.bool_)


def _category(dt: np.dtype) -> int:
    k = dt.kind
    if k == "b":
        return 0
    if k in "iu":
        return 1
    if k == "c":
        return 3
    return 2  # 'f', and bfloat16 (kind 'V' in ml_dtypes)


def promote_types(a: np.dtype | None, b: np.dtype | None) -> np.dtype | None:
    """torch.promote_types on NumPy dtypes: the higher category wins outright (int64 with
    float32 is float32); within a category, the wider type (NumPy's rule there agrees)."""
    if a is None or a == b:
        return b
    if b is None:
        return a
    ca, cb = _category(a), _category(b)
    if ca != cb:
        hi, lo = (a, b) if ca > cb else (b, a)
        if _category(hi) == 3 and _category(lo) == 2:  # complex64 with float64: complex128
            return np.promote_types(hi, lo)
        return hi
    if a.kind == "V" or b.kind == "V":  # bfloat16 with float16 (neither holds the other)
        return (
            np.dtype(np.float32)
            if a.itemsize == b.itemsize == 2
            else (a if a.itemsize > b.itemsize else b)
        )
    return np.promote_types(a, b)


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """c10's combine_categories: ``lower`` (a later group) counts only for a higher category."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    ch, cl = _category(higher), _category(lower)
    if ch == 3:
        return higher
    if cl == 3:
        return np.promote_types(higher, _default_complex()) if ch == 2 else lower
    if ch == 2:
        return higher
    if higher == _BOOL or cl == 2:
        return promote_types(higher, lower)
    return higher


def result_type(*operands: Any) -> np.dtype | None:
    """The dtype torch gives ``a op b`` (or an op of more operands: ``clamp(x, lo, hi)``,
    ``cat``) of tensors, arrays and Python numbers, or None for an operand it cannot classify
    (left to NumPy); None operands (an absent clamp bound) are skipped."""
    dim = zero = wrapped = None
    for x in operands:
        if x is None:
            continue
        dt = getattr(x, "dtype", None)
        if dt is not None and hasattr(x, "ndim"):
            if x.ndim:
                dim = promote_types(dim, dt)
            else:
                zero = promote_types(zero, dt)
        elif isinstance(x, bool):
            wrapped = promote_types(wrapped, _BOOL)
        elif isinstance(x, int):
            wrapped = promote_types(wrapped, _INT64)
        elif isinstance(x, float):
            wrapped = promote_types(wrapped, _default_float())
        elif isinstance(x, complex):
            wrapped = promote_types(wrapped, _default_complex())
        else:
            return None
    return _combine(dim, _combine(zero, wrapped))


def float_dtype(dt: np.dtype) -> np.dtype:
    """The dtype torch computes a floating-point op of a ``dt`` input in (``sin``, ``exp``,
    ``sigmoid``, ``erf``, ``logsumexp``, ...), which is its result dtype: ``dt`` itself when
    floating (bfloat16 too) or complex, the default float dtype (float32 unless
    ``set_default_dtype``) for integer and bool dtypes."""
    return dt if _category(dt) >= 2 else _default_float()


def to_float(x: Any) -> Any:
    """``x`` (a Tensor, differentiably, or an array) in ``float_dtype`` of its dtype: unchanged
    when already floating or complex; anything without a dtype is returned as it is."""
    dt = getattr(x, "dtype", None)
    if dt is None or _category(dt) >= 2:
        return x
    return _cast(x, _default_float())


def int_accumulator(dt: np.dtype) -> np.dtype | None:
    """int64 for an integer or bool ``dt`` (torch's sum, prod, cumsum and cumprod accumulate
    those in int64, uint8 included, where NumPy keeps uint64), else None (the input's dtype)."""
    return _INT64 if _category(dt) < 2 else None


def _cast(x: Any, dt: np.dtype) -> Any:
    if isinstance(x, Tensor):
        return x if x.dtype == dt else x.to(dt)
    if hasattr(x, "dtype") and hasattr(x, "astype"):
        return x if x.dtype == dt else x.astype(dt)
    return x  # a Python number: NumPy promotes it weakly, to the tensor's dtype


def promote(a: Any, b: Any, true_divide: bool = False) -> tuple[Any, Any]:
    """``a`` and ``b`` with their tensors cast (differentiably) to torch's result dtype; for
    true division an integer or bool result dtype becomes the default float dtype. Two tensors
    of one dtype, or a float tensor with a Python real, return at once (the common case)."""
    ta = isinstance(a, Tensor)
    if ta and isinstance(b, Tensor):
        da = a.dtype
        if da == b.dtype and (not true_divide or da.kind in "fc"):
            return a, b
    elif ta and isinstance(b, (int, float)) and a.dtype.kind in "fc":
        return a, b
    elif isinstance(b, Tensor) and isinstance(a, (int, float)) and b.dtype.kind in "fc":
        return a, b
    dt = result_type(a, b)
    if dt is None:
        return a, b
    if true_divide and _category(dt) < 2:
        dt = _default_float()
    return _cast(a, dt), _cast(b, dt)
