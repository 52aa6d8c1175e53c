"""prelu, glu, logsigmoid, hardsigmoid, hardswish, softsign, tanhshrink, softshrink,
hardshrink and threshold (torch.nn.functional's), composed from differentiable Tensor ops."""

from __future__ import annotations

from ..autograd import Tensor
from ..ops._promotion import to_float
from ._util import check_float

__all__ = [
    "glu",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "logsigmoid",
    "prelu",
    "softshrink",
    "softsign",
    "tanhshrink",
    "threshold",
]


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


# -- the elementwise activations torch.nn.functional has besides the kernel-backed ones,
# composed from differentiable ops (so their higher derivatives come for free)


def _t(input: Tensor, op: str) -> Tensor:
    check_float(input, op, "input")
    return input if isinstance(input, Tensor) else Tensor(input)


def _maybe_inplace(input: Tensor, op: str, inplace: bool, fn) -> Tensor:
    """``fn(input)``; with ``inplace`` the result is written into ``input`` (recorded on a graph
    tensor as torch records it: ``ops.inplace._update``)."""
    x = _t(input, op)
    if not inplace:
        return fn(x)
    from ..ops.inplace import _assign, _records, _update

    if _records(x):
        return _update(x, op + "_", fn)
    return _assign(x, op + "_", fn(Tensor._wrap(x._data))._data)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: the first half of ``input`` along ``dim`` times the sigmoid of the
    second half. Raises ValueError for an odd size along ``dim``."""
    x = _t(input, "glu")
    if x.ndim == 0:
        raise ValueError("glu: does not support scalars because halving size must be even")
    d = dim % x.ndim if -x.ndim <= dim < x.ndim else None
    if d is None:
        raise IndexError(f"glu: dim {dim} is out of range for a tensor with {x.ndim} dimensions")
    if x.shape[d] % 2:
        raise ValueError(
            f"glu: halving dimension must be even, but dimension {d} is size {x.shape[d]}"
        )
    a, b = x.chunk(2, dim=d)
    return a * b.sigmoid()


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x))``, computed stably as ``min(x, 0) - log1p(exp(-|x|))``."""
    x = _t(input, "logsigmoid")
    return x.clamp(max=0.0) - (-x.abs()).exp().log1p()


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, linear between."""
    return _maybe_inplace(input, "hardsigmoid", inplace, lambda x: (x + 3.0).clamp(0.0, 6.0) / 6.0)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * relu6(x + 3) / 6`` (MobileNetV3's activation)."""
    return _maybe_inplace(
        input, "hardswish", inplace, lambda x: x * (x + 3.0).clamp(0.0, 6.0) / 6.0
    )


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)`` (an integer input gives the default float dtype, as torch's)."""
    x = _t(to_float(input), "softsign")
    return x / (x.abs() + 1.0)


def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)`` (an integer input gives the default float dtype, as torch's)."""
    x = _t(to_float(input), "tanhshrink")
    return x - x.tanh()


def _lambd(lambd: float, op: str) -> float:
    if lambd < 0:
        raise ValueError(f"{op}: lambda must be greater or equal to 0, but found to be {lambd}")
    return float(lambd)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    x = _t(input, "softshrink")
    lam = _lambd(lambd, "softshrink")
    import pydlk  # the package's where(); imported here to avoid an import cycle

    return pydlk.where(x > lam, x - lam, pydlk.where(x < -lam, x + lam, 0.0))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x`` where ``|x| > lambd``, else 0."""
    x = _t(input, "hardshrink")
    lam = _lambd(lambd, "hardshrink")
    import pydlk

    return pydlk.where(x.abs() > lam, x, 0.0)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``x`` where ``x > threshold``, else ``value``."""
    import pydlk

    return _maybe_inplace(
        input, "threshold", inplace, lambda x: pydlk.where(x > threshold, x, float(value))
    )
