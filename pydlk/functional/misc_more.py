"""bilinear, pdist, channel_shuffle (and native_channel_shuffle) and local_response_norm
(torch.nn.functional's), composed from differentiable Tensor ops; and the Function behind
nn.CrossMapLRN2d (torch's legacy cross-channel LRN), array code on NumPy or CuPy."""

from __future__ import annotations

from .._backend import get_array_module
from ..autograd import Function, Tensor
from ._util import check_float

__all__ = [
    "bilinear",
    "pdist",
    "channel_shuffle",
    "native_channel_shuffle",
    "local_response_norm",
]


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y[..., k] = input1 @ weight[k] @ input2 + bias[k]`` for weight (out, in1, in2), inputs
    (..., in1) and (..., in2) with the same leading dimensions (nn.Bilinear's product)."""
    from .linear import linear

    x1, x2, w = _t(input1), _t(input2), _t(weight)
    o, i1, i2 = w.shape
    if tuple(x1.shape[:-1]) != tuple(x2.shape[:-1]):
        raise RuntimeError(
            "bilinear(): input batch dimensions do not match: got "
            f"{tuple(x1.shape[:-1])} and {tuple(x2.shape[:-1])}"
        )
    if x1.shape[-1] != i1 or x2.shape[-1] != i2:
        raise RuntimeError(
            f"bilinear(): input sizes {x1.shape[-1]} and {x2.shape[-1]} do not match the "
            f"weight's (out, in1, in2) = {tuple(w.shape)}"
        )
    lead = tuple(x1.shape[:-1])
    # outer(x1, x2) flattened to (N, in1 * in2), then one linear layer with weight (out, in1*in2)
    outer = (x1.reshape(-1, i1, 1) * x2.reshape(-1, 1, i2)).reshape(-1, i1 * i2)
    return linear(outer, w.reshape(o, i1 * i2), bias).reshape(*lead, o)


def pdist(input: Tensor, p: float = 2) -> Tensor:
    """The p-norm distances between the rows of ``input`` (N, M), for each pair i < j in
    row-major order: N * (N - 1) / 2 values (``torch.nn.functional.pdist``). The gradient of
    a zero distance is zero, as torch's."""
    from .. import ops

    x = _t(input)
    check_float(x, "pdist", "input")
    if x.dim() != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {x.dim()}D")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    n = x.shape[0]
    i, j = ops.triu_indices(n, n, offset=1)
    diff = x[i] - x[j]
    if p == 0:
        # the count of differing entries; recorded with a zero gradient, as torch records it
        return (diff != 0).to(x.dtype).sum(-1) + (diff * 0).sum(-1)
    if p == float("inf"):
        return diff.abs().amax(-1)
    a = diff.abs()
    # |d|^p summed, then the p-th root; a zero row gets a zero gradient instead of 0 * inf
    s = (a**p).sum(-1)
    zero = s == 0
    safe = ops.where(zero, ops.ones_like(s), s)
    return ops.where(zero, ops.zeros_like(s), safe ** (1.0 / p))


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """ShuffleNet's channel shuffle of (N, C, *): the C channels, read as ``groups`` groups of
    C / groups, are interleaved (``(N, g, C/g, *)`` transposed to ``(N, C/g, g, *)``)."""
    x = _t(input)
    if x.dim() < 3:
        raise RuntimeError(
            f"channel_shuffle expects input with > 2 dims, but got input with sizes {list(x.shape)}"
        )
    if groups <= 0:
        raise RuntimeError(
            f"Number of groups to divide channels in must be positive. Value of groups:{groups}"
        )
    n, c = x.shape[0], x.shape[1]
    if c % groups:
        raise RuntimeError(
            f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups."
        )
    rest = tuple(x.shape[2:])
    return x.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(n, c, *rest)


def native_channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """``channel_shuffle`` (torch's native spelling)."""
    return channel_shuffle(input, groups)


def local_response_norm(
    input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """AlexNet's local response normalisation across channels of (N, C, *):
    ``x / (k + alpha * mean of x^2 over the ``size`` neighbouring channels) ** beta``, the
    window zero-padded (size // 2 before, (size - 1) // 2 after), as torch's."""
    from .pool import avg_pool2d
    from .shape_ops import pad

    x = _t(input)
    check_float(x, "local_response_norm", "input")
    dim = x.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {dim} dimensions)")
    if x.numel() == 0:
        return x
    sizes = tuple(x.shape)
    div = (x * x).reshape(sizes[0], 1, sizes[1], -1)  # (N, 1, C, L): the window runs over C
    div = pad(div, (0, 0, size // 2, (size - 1) // 2))
    div = avg_pool2d(div, (size, 1), stride=1).reshape(sizes)
    return x / (div * alpha + k) ** beta


class CrossMapLRN2d(Function):
    """torch's legacy ``CrossMapLRN2d`` (torch/nn/modules/_functions.py), forward and backward
    as torch computes them, on (N, C, H, W) arrays of NumPy or CuPy.

    Forward: ``scale[c] = k + alpha / size * S[c]`` and ``y = x * scale ** -beta``, where S is
    torch's running sum over channels of ``x ** 2``: with ``pre = (size + 1) // 2``,
    ``S[0] = sum(x[0:pre] ** 2)``, then ``S[c] = S[c-1] + x[c+pre-1] ** 2`` (while in range)
    ``- x[c-pre] ** 2`` (only for ``c > pre``). So ``x[0] ** 2`` is never taken out again, and
    from channel ``pre`` on it stays in the sum, as in torch.

    Backward (torch's, which is not the derivative of this forward): with
    ``r = dy * y / scale`` zero-padded to ``C + size - 1`` channels at offset
    ``ipp = (size + 1) // 2``, ``dx[c] = scale[c] ** -beta * dy[c] -
    2 * alpha * beta / size * x[c] * sum(padded[c : c + size])``."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        xp = get_array_module(x)
        dt = x.dtype.type
        c = x.shape[1]
        sq = x * x
        pre = (size + 1) // 2  # torch's int((size - 1) / 2 + 1)
        scale = xp.empty_like(x)
        scale[:, 0] = sq[:, : min(pre, c)].sum(axis=1)
        for i in range(1, c):
            cur = scale[:, i - 1].copy()
            if i < c - pre + 1:
                cur += sq[:, i + pre - 1]
            if i > pre:
                cur -= sq[:, i - pre]
            scale[:, i] = cur
        scale *= dt(alpha / size)
        scale += dt(k)
        y = scale ** dt(-beta) * x
        ctx.size, ctx.alpha, ctx.beta = size, alpha, beta
        ctx.saved = (x, y, scale)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, y, scale = ctx.saved
        xp = get_array_module(x)
        dt = x.dtype.type
        size = ctx.size
        n, c = x.shape[:2]
        ccr = dt(2 * ctx.alpha * ctx.beta / size)
        ipp = (size + 1) // 2  # torch's int(size - (size - 1) / 2)
        if ipp + c > c + size - 1:  # size 1: torch's narrow fails the same way
            raise RuntimeError(
                f"CrossMapLRN2d backward: start ({ipp}) + length ({c}) exceeds dimension "
                f"size ({c + size - 1})."
            )
        dx = scale ** dt(-ctx.beta) * dy
        padded = xp.zeros((n, c + size - 1) + x.shape[2:], x.dtype)
        padded[:, ipp : ipp + c] = dy * y / scale
        accum = padded[:, : size - 1].sum(axis=1)
        for i in range(c):
            accum += padded[:, i + size - 1]
            dx[:, i] -= ccr * x[:, i] * accum
            accum -= padded[:, i]
        return dx, None, None, None, None


def _cross_map_lrn2d(input: Tensor, size: int, alpha: float, beta: float, k: float) -> Tensor:
    """nn.CrossMapLRN2d's op: 4-D input only (ValueError otherwise, torch's message)."""
    x = _t(input)
    check_float(x, "CrossMapLRN2d", "input")
    if x.dim() != 4:
        raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {x.dim()}D instead.")
    return CrossMapLRN2d.apply(x, int(size), float(alpha), float(beta), float(k))
