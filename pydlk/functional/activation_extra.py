"""prelu (torch.nn.functional.prelu), composed from differentiable Tensor ops."""

from __future__ import annotations

from ..autograd import Tensor
from ._util import check_float

__all__ = ["prelu"]


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x`` where ``x > 0``, else ``weight * x``; ``weight`` has one element or one per channel
    (dimension 1 of the input; an input with fewer than 2 dimensions has one channel), as
    torch."""
    x = check_float(input, "prelu", "input")
    w = check_float(weight, "prelu", "weight")
    if w.ndim != 1 and w.size != 1:
        raise ValueError(f"prelu: weight must be 1-D, got shape {tuple(w.shape)}")
    xt = input if isinstance(input, Tensor) else Tensor(input)
    wt = weight if isinstance(weight, Tensor) else Tensor(weight)
    if w.size != 1:
        channels = x.shape[1] if x.ndim >= 2 else 1
        if channels != w.size:
            raise ValueError(
                f"prelu: weight has {w.size} elements but the input has "
                f"{channels} channels (shape {tuple(x.shape)})"
            )
        shape = [1] * x.ndim
        shape[1] = w.size
        wt = wt.reshape(*shape)
    else:
        wt = wt.reshape(*([1] * x.ndim)) if x.ndim else wt.reshape(())
    import pydlk  # the package's where(); imported here to avoid an import cycle

    return pydlk.where(xt > 0, xt, wt * xt)
