"""1-D pooling, unpooling and power-average pooling under torch.nn.functional's names:
max_pool1d, avg_pool1d, adaptive_avg_pool1d, adaptive_max_pool1d, the ``*_with_indices``
spellings, max_unpool1d/2d and lp_pool1d/2d.

A 1-D pooling over (N, C, L) (or unbatched (C, L)) is the 2-D pooling of (N, C, 1, L) with a
(1, k) window, so these run on csrc/pool2d.cpp's kernels and inherit their gradients (double
backward included); indices come out as positions along L, as torch's do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..autograd import Tensor
from .pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d

if TYPE_CHECKING:
    from .._typing import _size_1_t, _size_2_t

__all__ = [
    "max_pool1d",
    "avg_pool1d",
    "adaptive_avg_pool1d",
    "adaptive_max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "lp_pool1d",
    "lp_pool2d",
]


def single(v: Any, op: str, name: str) -> int:
    """An int or a 1-tuple of one (torch's ``_single``), as an int; TypeError otherwise."""
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError(f"{op}: {name} must be an int or a 1-tuple, got {v!r}")
        v = v[0]
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError(f"{op}: {name} must be an int or a 1-tuple of int, got {v!r}")
    return int(v)


def _as_2d(input: Tensor, op: str) -> Tensor:
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if input.dim() not in (2, 3):
        raise ValueError(
            f"{op}: input must be 2-D (C, L) or 3-D (N, C, L), got shape {tuple(input.shape)}"
        )
    return input.unsqueeze(-2)


def _out(res, return_indices):
    if return_indices:
        y, idx = res
        return y.squeeze(-2), idx.squeeze(-2)
    return res.squeeze(-2)


def _stride(stride, kernel, op):
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    return kernel if empty else single(stride, op, "stride")


def max_pool1d(
    input: Tensor,
    kernel_size: _size_1_t,
    stride: _size_1_t | None = None,
    padding: _size_1_t = 0,
    dilation: _size_1_t = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """1-D max pooling over (N, C, L) or (C, L), as ``torch.nn.functional.max_pool1d``
    (``stride`` defaults to ``kernel_size``; implicit -inf padding of at most half the window).
    With ``return_indices`` returns ``(output, indices)``, int64 positions along L."""
    op = "max_pool1d"
    k = single(kernel_size, op, "kernel_size")
    res = max_pool2d(
        _as_2d(input, op),
        (1, k),
        (1, _stride(stride, k, op)),
        (0, single(padding, op, "padding")),
        (1, single(dilation, op, "dilation")),
        ceil_mode,
        return_indices,
    )
    return _out(res, return_indices)


def avg_pool1d(
    input: Tensor,
    kernel_size: _size_1_t,
    stride: _size_1_t | None = None,
    padding: _size_1_t = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """1-D average pooling over (N, C, L) or (C, L), as ``torch.nn.functional.avg_pool1d``
    (divisor rules as ``avg_pool2d``'s)."""
    op = "avg_pool1d"
    k = single(kernel_size, op, "kernel_size")
    y = avg_pool2d(
        _as_2d(input, op),
        (1, k),
        (1, _stride(stride, k, op)),
        (0, single(padding, op, "padding")),
        ceil_mode,
        count_include_pad,
    )
    return y.squeeze(-2)


def adaptive_avg_pool1d(input: Tensor, output_size: _size_1_t) -> Tensor:
    """Adaptive average pooling over (N, C, L) or (C, L) to ``output_size`` positions, as
    ``torch.nn.functional.adaptive_avg_pool1d``."""
    op = "adaptive_avg_pool1d"
    return adaptive_avg_pool2d(_as_2d(input, op), (1, single(output_size, op, "output_size")))[
        ..., 0, :
    ]


def adaptive_max_pool1d(input: Tensor, output_size: _size_1_t, return_indices: bool = False):
    """Adaptive max pooling over (N, C, L) or (C, L), as
    ``torch.nn.functional.adaptive_max_pool1d`` (indices are positions along L)."""
    op = "adaptive_max_pool1d"
    res = adaptive_max_pool2d(
        _as_2d(input, op), (1, single(output_size, op, "output_size")), return_indices
    )
    return _out(res, return_indices)


def max_pool1d_with_indices(
    input: Tensor,
    kernel_size: _size_1_t,
    stride: _size_1_t | None = None,
    padding: _size_1_t = 0,
    dilation: _size_1_t = 1,
    ceil_mode: bool = False,
    return_indices: bool = True,
):
    """``max_pool1d(..., return_indices=True)``: ``(output, indices)``."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(
    input: Tensor,
    kernel_size: _size_2_t,
    stride: _size_2_t | None = None,
    padding: _size_2_t = 0,
    dilation: _size_2_t = 1,
    ceil_mode: bool = False,
    return_indices: bool = True,
):
    """``max_pool2d(..., return_indices=True)``: ``(output, indices)``."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size: int, return_indices=True):
    """``adaptive_max_pool1d(..., return_indices=True)``: ``(output, indices)``."""
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size, return_indices=True):
    """``adaptive_max_pool2d(..., return_indices=True)``: ``(output, indices)``."""
    return adaptive_max_pool2d(input, output_size, True)


def _unpool(input, indices, out_sizes, op):
    """Scatter each value of ``input`` (N, C, *spatial) to its flat index in a zero plane of
    ``out_sizes``; differentiable in ``input`` (the gradient gathers at the indices)."""
    from .. import ops

    x = input if isinstance(input, Tensor) else Tensor(input)
    idx = indices if isinstance(indices, Tensor) else Tensor(indices)
    if tuple(idx.shape) != tuple(x.shape):
        raise ValueError(
            f"{op}: Expected shape of indices to be same as that of the input tensor "
            f"({tuple(x.shape)}) but got indices tensor with shape: {tuple(idx.shape)}"
        )
    nsp = len(out_sizes)
    lead = tuple(x.shape[: x.dim() - nsp])
    plane = 1
    for s in out_sizes:
        plane *= s
    flat_x = x.reshape(*lead, -1)
    flat_i = idx.reshape(*lead, -1).long()
    if flat_i.numel() and (int(flat_i.min()) < 0 or int(flat_i.max()) >= plane):
        raise RuntimeError(
            f"{op}: Found an invalid max index: {int(flat_i.max())} (output "
            f"volumes are of size {'x'.join(map(str, out_sizes))})"
        )
    out = ops.zeros(*lead, plane, dtype=x.dtype, device=x.device)
    return out.scatter(len(lead), flat_i, flat_x).reshape(*lead, *out_sizes)


def _unpool_sizes(x, kernel, stride, padding, output_size, nsp, op):
    spatial = tuple(x.shape[-nsp:])
    default = tuple((spatial[i] - 1) * stride[i] - 2 * padding[i] + kernel[i] for i in range(nsp))
    if output_size is None:
        return default
    output_size = tuple(int(s) for s in output_size)
    if len(output_size) == nsp + 2 or len(output_size) == nsp + 1:
        output_size = output_size[-nsp:]
    if len(output_size) != nsp:
        raise ValueError(
            f"{op}: output_size must have {nsp} or {nsp + 2} elements (got {len(output_size)})"
        )
    for i in range(nsp):
        lo, hi = default[i] - stride[i], default[i] + stride[i]
        if not lo < output_size[i] < hi:
            raise ValueError(
                f"{op}: invalid output_size {output_size} (dim {i} must be between {lo} and {hi})"
            )
    return output_size


def max_unpool1d(
    input: Tensor,
    indices: Tensor,
    kernel_size: _size_1_t,
    stride: _size_1_t | None = None,
    padding: _size_1_t = 0,
    output_size=None,
) -> Tensor:
    """The partial inverse of ``max_pool1d``: each value goes back to its index, the rest of
    the output is zero (``torch.nn.functional.max_unpool1d``). The output length is
    ``(L - 1) * stride - 2 * padding + kernel_size`` unless ``output_size`` says otherwise."""
    op = "max_unpool1d"
    k = single(kernel_size, op, "kernel_size")
    s = _stride(stride, k, op)
    sizes = _unpool_sizes(input, (k,), (s,), (single(padding, op, "padding"),), output_size, 1, op)
    return _unpool(input, indices, sizes, op)


def max_unpool2d(
    input: Tensor,
    indices: Tensor,
    kernel_size: _size_2_t,
    stride: _size_2_t | None = None,
    padding: _size_2_t = 0,
    output_size=None,
) -> Tensor:
    """The partial inverse of ``max_pool2d`` (``torch.nn.functional.max_unpool2d``): each value
    goes to its flat index ``ih * W + iw`` of a zero (H, W) plane, H and W being
    ``(in - 1) * stride - 2 * padding + kernel_size`` unless ``output_size`` gives them."""
    from ._util import pair

    op = "max_unpool2d"
    k = pair(kernel_size, op, "kernel_size")
    s = k if stride is None else pair(stride, op, "stride")
    p = pair(padding, op, "padding", allow_zero=True)
    sizes = _unpool_sizes(input, k, s, p, output_size, 2, op)
    return _unpool(input, indices, sizes, op)


def _lp(pooled: Tensor, norm_type: float, count: int) -> Tensor:
    # torch: (sign(out) * relu(|out|)).mul(window).pow(1 / p), where out averages x ** p
    return (pooled.sign() * pooled.abs().relu()).mul(count).pow(1.0 / norm_type)


def lp_pool1d(
    input: Tensor, norm_type: float, kernel_size: _size_1_t, stride=None, ceil_mode: bool = False
) -> Tensor:
    """Power-average pooling over (N, C, L): ``(sum over the window of x ** p) ** (1 / p)``
    (``torch.nn.functional.lp_pool1d``; p = inf is max pooling, p = 1 sum pooling)."""
    k = single(kernel_size, "lp_pool1d", "kernel_size")
    x = input if isinstance(input, Tensor) else Tensor(input)
    out = avg_pool1d(x.pow(norm_type), k, stride, 0, ceil_mode)
    return _lp(out, norm_type, k)


def lp_pool2d(
    input: Tensor, norm_type: float, kernel_size: _size_2_t, stride=None, ceil_mode: bool = False
) -> Tensor:
    """Power-average pooling over (N, C, H, W) (``torch.nn.functional.lp_pool2d``)."""
    from ._util import pair

    kh, kw = pair(kernel_size, "lp_pool2d", "kernel_size")
    x = input if isinstance(input, Tensor) else Tensor(input)
    out = avg_pool2d(x.pow(norm_type), (kh, kw), stride, 0, ceil_mode)
    return _lp(out, norm_type, kh * kw)
