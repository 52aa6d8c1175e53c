"""rms_norm (torch.nn.functional.rms_norm, torch 2.4+), composed from differentiable ops."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..autograd import Tensor
from ._util import check_float

__all__ = ["rms_norm"]


def rms_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    eps: float | None = None,
) -> Tensor:
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last ``len(normalized_shape)``
    dimensions; ``eps=None`` is the machine epsilon of the input's dtype, as torch."""
    op = "rms_norm"
    check_float(input, op, "input")
    x = input if isinstance(input, Tensor) else Tensor(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(x.shape[x.ndim - k :]) != tuple(int(s) for s in shape) or k > x.ndim:
        raise ValueError(
            f"{op}: given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(str(s) for s in shape)}], but got input of size {list(x.shape)}"
        )
    if weight is not None and tuple(weight.shape) != shape:
        raise ValueError(
            f"{op}: weight of shape {tuple(weight.shape)} must be normalized_shape {shape}"
        )
    e = float(np.finfo(x.dtype).eps) if eps is None else float(eps)
    dims = tuple(range(x.ndim - k, x.ndim))
    y = x * ((x * x).mean(dim=dims, keepdim=True) + e).rsqrt()
    return y if weight is None else y * weight
