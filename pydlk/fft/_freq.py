"""The sample frequencies of a transform (fftfreq, rfftfreq) and the shifts that put the zero
frequency in the middle (fftshift, ifftshift)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._typing import DeviceLike, DTypeLike
from ..autograd import Tensor
from ..ops._helpers import _t
from ..ops.factories import _new
from ..ops.shape import roll


def _freq_dtype(dtype: DTypeLike | None, op: str) -> np.dtype:
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt.kind not in "fc":
        raise TypeError(f"{op}: dtype must be a floating point or complex dtype, got {dt}")
    return dt


def fftfreq(
    n: int,
    d: float = 1.0,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """The frequencies of an ``n``-point ``fft`` with sample spacing ``d``:
    ``[0, 1, ..., (n-1)//2, -(n//2), ..., -1] / (d n)`` (float32 by default)."""
    a = np.fft.fftfreq(n, d).astype(_freq_dtype(dtype, "fftfreq"))
    return _new(a, device, requires_grad)


def rfftfreq(
    n: int,
    d: float = 1.0,
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """The frequencies of an ``n``-point ``rfft``: ``[0, 1, ..., n//2] / (d n)``."""
    a = np.fft.rfftfreq(n, d).astype(_freq_dtype(dtype, "rfftfreq"))
    return _new(a, device, requires_grad)


def _shift(input: Tensor, dim: int | Sequence[int] | None, sign: int) -> Tensor:
    x = _t(input)
    if dim is None:
        dims = list(range(x.ndim))
    elif isinstance(dim, (int, np.integer)):
        dims = [int(dim)]
    else:
        dims = [int(d) for d in dim]
    if not dims:
        return x
    shifts = [sign * (x.shape[d] // 2) for d in dims]
    return roll(x, shifts, dims)


def fftshift(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """Roll each of ``dim`` (None: all) by half its size, so that the zero frequency of an
    ``fft``'s output comes to the middle."""
    return _shift(input, dim, 1)


def ifftshift(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """The inverse of ``fftshift`` (they differ for odd sizes)."""
    return _shift(input, dim, -1)
