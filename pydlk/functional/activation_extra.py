"""prelu (torch.nn.functional.prelu), composed from differentiable Tensor ops."""
from ..autograd import Tensor
from ._util import check_float

__all__ = ["prelu"]


def prelu(input, weight) -> Tensor:
    """``x`` where ``x > 0``, else ``weight * x``; ``weight`` has one element or one per channel
    (dimension 1 of the input; dimension 0 of a 1-D input), as torch."""
    x = check_float(input, "prelu", "input")
    w = check_float(weight, "prelu", "weight")
    if w.ndim != 1 and w.size != 1:
        raise ValueError(f"prelu: weight must be 1-D, got shape {tuple(w.shape)}")
    xt = input if isinstance(input, Tensor) else Tensor(input)
    wt = weight if isinstance(weight, Tensor) else Tensor(weight)
    if w.size != 1:
        ch = 1 if x.ndim >= 2 else 0
        if x.ndim == 0 or x.shape[ch] != w.size:
            raise ValueError(f"prelu: weight has {w.size} elements but the input has "
                             f"{x.shape[ch] if x.ndim else 0} channels (shape {tuple(x.shape)})")
        shape = [1] * x.ndim
        shape[ch] = w.size
        wt = wt.reshape(*shape)
    else:
        wt = wt.reshape(*([1] * x.ndim)) if x.ndim else wt.reshape(())
    import pydlk  # the package's where(); imported here to avoid an import cycle
    return pydlk.where(xt > 0, xt, wt * xt)
