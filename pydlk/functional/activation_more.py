"""gumbel_softmax, softmin, rrelu and the in-place spellings elu_, leaky_relu_, hardtanh_,
threshold_, selu_, celu_, rrelu_ (torch.nn.functional's), composed from differentiable ops.
Random draws (Gumbel noise, RReLU's slopes) come from pydlk's generator (``manual_seed``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..autograd import Tensor
from .activation import celu, elu, hardtanh, leaky_relu, selu, softmax
from .activation_extra import _maybe_inplace, _t
from .activation_extra import threshold as _threshold

if TYPE_CHECKING:
    from .._typing import DTypeLike

__all__ = [
    "gumbel_softmax",
    "softmin",
    "rrelu",
    "rrelu_",
    "elu_",
    "leaky_relu_",
    "hardtanh_",
    "threshold_",
    "selu_",
    "celu_",
]


def gumbel_softmax(
    logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1
) -> Tensor:
    """A sample from the Gumbel-softmax (concrete) distribution over ``dim``:
    ``softmax((logits + g) / tau)`` with ``g = -log(Exponential(1))``. With ``hard=True`` the
    result is one-hot (the argmax) in the forward pass and the soft sample's gradient in the
    backward pass (straight-through), as torch's. ``eps`` is unused, as in torch."""
    from .. import ops

    x = _t(logits, "gumbel_softmax")
    gumbels = -ops.empty_like(x).exponential_().log()
    y_soft = softmax((x + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = ops.zeros_like(x).scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


def softmin(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: DTypeLike | None = None
) -> Tensor:
    """``softmax(-input, dim)``: weights that favour the smallest entries. Differs from torch
    as softmax does: ``dim`` is required."""
    x = _t(input, "softmin")
    if dtype is not None:
        x = x.to(dtype)
    return softmax(-x, dim)


def rrelu(
    input: Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
) -> Tensor:
    """Randomized leaky ReLU: in training each negative element is scaled by its own slope
    drawn uniformly from [lower, upper]; in eval by the mean slope (lower + upper) / 2."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    from .. import ops

    def fn(x):
        slope = ops.empty_like(x).uniform_(lower, upper)
        return ops.where(x >= 0, x, x * slope)

    return _maybe_inplace(input, "rrelu", inplace, fn)


def rrelu_(
    input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False
) -> Tensor:
    """In-place ``rrelu``."""
    return rrelu(input, lower, upper, training, True)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place ``elu``."""
    return elu(input, alpha, True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place ``leaky_relu``."""
    return leaky_relu(input, negative_slope, True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place ``hardtanh``."""
    return hardtanh(input, min_val, max_val, True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place ``threshold``."""
    return _threshold(input, threshold, value, True)


def selu_(input: Tensor) -> Tensor:
    """In-place ``selu``."""
    return selu(input, True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place ``celu``."""
    return celu(input, alpha, True)
