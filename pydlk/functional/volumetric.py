"""3-D (volumetric) convolution and pooling under torch.nn.functional's names: conv3d,
conv_transpose3d, max_pool3d, avg_pool3d, adaptive_avg_pool3d, adaptive_max_pool3d, over
(N, C, D, H, W) or unbatched (C, D, H, W).

Built on the 2-D kernels, so gradients (and double backward) come with them:

* conv3d gathers, for every output depth, the kernel's depth slices of the input into the
  channel dimension (channel ``c * kD + kd``, matching the weight viewed (out, in/g * kD, kH,
  kW)), stacks the output depths into the batch and runs one conv2d;
* a pooling over a box window is separable: pool (H, W) with the 2-D op, then D with a
  (1, kD) window; for max pooling the first maximum in (d, h, w) order wins, as torch's, and
  the indices come out flat over D * H * W; averages keep torch's divisors (each factor's
  padding and ceil_mode rule applies per dimension, and the divisor of a box is the product).
"""

from __future__ import annotations

from typing import Any

from ..autograd import Tensor
from .conv import conv2d
from .pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d
from .pool1d import _lp, _unpool, _unpool_sizes
from .shape_ops import pad as _pad

__all__ = [
    "conv3d",
    "max_pool3d",
    "avg_pool3d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool3d",
    "max_pool3d_with_indices",
    "adaptive_max_pool3d_with_indices",
    "conv_transpose3d",
    "max_unpool3d",
    "lp_pool3d",
]


def triple(v: Any, op: str, name: str, low: int = 1) -> tuple[int, int, int]:
    """An int or a 3-tuple of ints, each at least ``low``, as a 3-tuple."""
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            v = tuple(v) * 3
        if len(v) != 3:
            raise ValueError(f"{op}: {name} must be an int or a tuple of 3 ints, got {v!r}")
        vals = tuple(v)
    else:
        vals = (v, v, v)
    out = []
    for x in vals:
        if isinstance(x, bool) or not hasattr(x, "__index__"):
            raise TypeError(f"{op}: {name} must be an int or a tuple of 3 ints, got {v!r}")
        if int(x) < low:
            raise ValueError(f"{op}: {name} must be at least {low}, got {v!r}")
        out.append(int(x))
    return out[0], out[1], out[2]


def _batched(input, op):
    x = input if isinstance(input, Tensor) else Tensor(input)
    if x.dim() not in (4, 5):
        raise ValueError(
            f"{op}: input must be 4-D (C, D, H, W) or 5-D (N, C, D, H, W), got shape "
            f"{tuple(x.shape)}"
        )
    return (x, False) if x.dim() == 5 else (x.unsqueeze(0), True)


def conv3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """3-D convolution (cross-correlation) over (N, C, D, H, W) or (C, D, H, W); weight
    (out, in/groups, kD, kH, kW), bias (out) or None; stride, padding and dilation an int or a
    triple; padding may be 'valid' or 'same' (stride 1; the odd one extra goes after, as
    torch's). Same semantics as torch.nn.functional.conv3d."""
    op = "conv3d"
    x, unb = _batched(input, op)
    w = weight if isinstance(weight, Tensor) else Tensor(weight)
    if w.dim() != 5:
        raise ValueError(f"{op}: weight must be 5-D (out, in/groups, kD, kH, kW), got {w.shape}")
    o, cg, kd, kh, kw = w.shape
    if x.shape[1] != cg * groups:
        raise RuntimeError(
            f"{op}: Given groups={groups}, weight of size {list(w.shape)}, expected input"
            f"{list(x.shape)} to have {cg * groups} channels, but got {x.shape[1]} channels "
            "instead"
        )
    s = triple(stride, op, "stride")
    d = triple(dilation, op, "dilation")
    k = (kd, kh, kw)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"{op}: padding must be 'same', 'valid' or ints, got {padding!r}")
        if padding == "same" and s != (1, 1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
        tot = [0] * 3 if padding == "valid" else [d[i] * (k[i] - 1) for i in range(3)]
        pads = [(t // 2, t - t // 2) for t in tot]
    else:
        p = triple(padding, op, "padding", low=0)
        pads = [(p[i], p[i]) for i in range(3)]
    if any(a or b for a, b in pads):
        x = _pad(x, (*pads[2], *pads[1], *pads[0]))
    n, c, D = x.shape[0], x.shape[1], x.shape[2]
    span = d[0] * (kd - 1) + 1
    if D < span:
        raise RuntimeError(f"{op}: input depth ({D}, padded) is smaller than the kernel's")
    u = x.unfold(2, span, s[0])[..., :: d[0]]  # (N, C, Do, H, W, kD)
    do = u.shape[2]
    u = u.permute(2, 0, 1, 5, 3, 4).reshape(do * n, c * kd, u.shape[3], u.shape[4])
    y = conv2d(u, w.reshape(o, cg * kd, kh, kw), None, s[1:], 0, d[1:], groups)
    y = y.reshape(do, n, o, y.shape[-2], y.shape[-1]).permute(1, 2, 0, 3, 4)
    if bias is not None:
        b = bias if isinstance(bias, Tensor) else Tensor(bias)
        y = y + b.reshape(1, o, 1, 1, 1)
    return y.squeeze(0) if unb else y


def _depth_last(y):
    """(N, C, D, H, W) -> (N, C, H*W, D): the depth as the last axis of a 4-D array."""
    n, c, D, h, w = y.shape
    return y.permute(0, 1, 3, 4, 2).reshape(n, c, h * w, D)


def _depth_back(z, h, w):
    """(N, C, H*W, D) -> (N, C, D, H, W)."""
    n, c, _, D = z.shape
    return z.reshape(n, c, h, w, D).permute(0, 1, 4, 2, 3)


def _hw(x, fn):
    """Apply a 2-D op to every depth slice of (N, C, D, H, W)."""
    n, c, D, H, W = x.shape
    y = fn(x.reshape(n, c * D, H, W))
    if isinstance(y, tuple):
        return tuple(t.reshape(n, c, D, t.shape[-2], t.shape[-1]) for t in y)
    return y.reshape(n, c, D, y.shape[-2], y.shape[-1])


def _combine_indices(idx_hw, idx_d, H, W):
    """Flat (d, h, w) indices from the (H, W) pass's indices (N, C, D, Ho, Wo) and the depth
    pass's (N, C, Ho*Wo, Do) (flat over its (Ho*Wo, D) plane: the depth is the index modulo D):
    d * H * W + the (h, w) index at that d."""
    hw = _depth_last(idx_hw)  # (N, C, Ho*Wo, D)
    idx_d = idx_d % hw.shape[-1]
    picked = hw.gather(3, idx_d)  # (N, C, Ho*Wo, Do)
    return _depth_back(idx_d * (H * W) + picked, idx_hw.shape[-2], idx_hw.shape[-1])


def max_pool3d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """3-D max pooling over (N, C, D, H, W) or (C, D, H, W), as
    ``torch.nn.functional.max_pool3d``; with ``return_indices`` also the int64 flat indices
    ``d * H * W + h * W + w`` into each input volume."""
    op = "max_pool3d"
    x, unb = _batched(input, op)
    k = triple(kernel_size, op, "kernel_size")
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    s = k if empty else triple(stride, op, "stride")
    p = triple(padding, op, "padding", low=0)
    d = triple(dilation, op, "dilation")
    H, W = x.shape[-2], x.shape[-1]
    if return_indices:
        y, ihw = _hw(x, lambda t: max_pool2d(t, k[1:], s[1:], p[1:], d[1:], ceil_mode, True))
    else:
        y = _hw(x, lambda t: max_pool2d(t, k[1:], s[1:], p[1:], d[1:], ceil_mode))
    ho, wo = y.shape[-2], y.shape[-1]
    z = max_pool2d(
        _depth_last(y), (1, k[0]), (1, s[0]), (0, p[0]), (1, d[0]), ceil_mode, return_indices
    )
    if return_indices:
        z, idx_d = z
        out, idx = _depth_back(z, ho, wo), _combine_indices(ihw, idx_d, H, W)
        return (out.squeeze(0), idx.squeeze(0)) if unb else (out, idx)
    out = _depth_back(z, ho, wo)
    return out.squeeze(0) if unb else out


def max_pool3d_with_indices(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = True,
):
    """``max_pool3d(..., return_indices=True)``: ``(output, indices)``."""
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def avg_pool3d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """3-D average pooling over (N, C, D, H, W) or (C, D, H, W), as
    ``torch.nn.functional.avg_pool3d`` (torch's divisors; ``divisor_override`` divides the
    window's sum instead)."""
    op = "avg_pool3d"
    x, unb = _batched(input, op)
    k = triple(kernel_size, op, "kernel_size")
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    s = k if empty else triple(stride, op, "stride")
    p = triple(padding, op, "padding", low=0)
    one = 1 if divisor_override is not None else None  # sums, divided once at the end
    y = _hw(x, lambda t: avg_pool2d(t, k[1:], s[1:], p[1:], ceil_mode, count_include_pad, one))
    ho, wo = y.shape[-2], y.shape[-1]
    z = avg_pool2d(_depth_last(y), (1, k[0]), (1, s[0]), (0, p[0]), ceil_mode,
                   count_include_pad, one)  # fmt: skip
    out = _depth_back(z, ho, wo)
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must not be zero")
        out = out / divisor_override
    return out.squeeze(0) if unb else out


def _out3(output_size, x, op):
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 3:
            raise ValueError(f"{op}: output_size must have 3 values, got {len(output_size)}")
        return tuple(x.shape[-3 + i] if v is None else int(v) for i, v in enumerate(output_size))
    return triple(output_size, op, "output_size")


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    """Adaptive average pooling of (N, C, D, H, W) or (C, D, H, W) to ``output_size`` (an int
    or a triple; None keeps that size), torch's windows per dimension."""
    op = "adaptive_avg_pool3d"
    x, unb = _batched(input, op)
    od, oh, ow = _out3(output_size, x, op)
    y = _hw(x, lambda t: adaptive_avg_pool2d(t, (oh, ow)))
    z = adaptive_avg_pool2d(_depth_last(y), (oh * ow, od))
    out = _depth_back(z, oh, ow)
    return out.squeeze(0) if unb else out


def adaptive_max_pool3d(input: Tensor, output_size: Any, return_indices: bool = False):
    """Adaptive max pooling of (N, C, D, H, W) or (C, D, H, W) (windows as
    ``adaptive_avg_pool3d``; indices flat over D * H * W)."""
    op = "adaptive_max_pool3d"
    x, unb = _batched(input, op)
    od, oh, ow = _out3(output_size, x, op)
    H, W = x.shape[-2], x.shape[-1]
    if return_indices:
        y, ihw = _hw(x, lambda t: adaptive_max_pool2d(t, (oh, ow), True))
        z, idx_d = adaptive_max_pool2d(_depth_last(y), (oh * ow, od), True)
        out, idx = _depth_back(z, oh, ow), _combine_indices(ihw, idx_d, H, W)
        return (out.squeeze(0), idx.squeeze(0)) if unb else (out, idx)
    y = _hw(x, lambda t: adaptive_max_pool2d(t, (oh, ow)))
    out = _depth_back(adaptive_max_pool2d(_depth_last(y), (oh * ow, od)), oh, ow)
    return out.squeeze(0) if unb else out


def adaptive_max_pool3d_with_indices(input: Tensor, output_size: Any, return_indices=True):
    """``adaptive_max_pool3d(..., return_indices=True)``: ``(output, indices)``."""
    return adaptive_max_pool3d(input, output_size, True)


def conv_transpose3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """3-D transposed convolution over (N, C_in, D, H, W) or (C_in, D, H, W); weight
    (C_in, C_out/groups, kD, kH, kW); output size per dimension ``(in - 1) * stride -
    2 * padding + dilation * (k - 1) + output_padding + 1``. Same arguments (groups before
    dilation) and semantics as torch.nn.functional.conv_transpose3d. It is the adjoint of
    conv3d, and computed as one: the gradient of conv3d with respect to its input, with a
    recorded graph, so it is differentiable in ``input`` and ``weight``."""
    from .. import ops
    from .._engine import grad as _grad
    from ..autograd import enable_grad, is_grad_enabled

    op = "conv_transpose3d"
    x, unb = _batched(input, op)
    w = weight if isinstance(weight, Tensor) else Tensor(weight)
    if w.dim() != 5 or w.shape[0] != x.shape[1]:
        raise RuntimeError(
            f"{op}: weight must be (C_in={x.shape[1]}, C_out/groups, kD, kH, kW), got "
            f"{tuple(w.shape)}"
        )
    s, p = triple(stride, op, "stride"), triple(padding, op, "padding", low=0)
    op_, d = triple(output_padding, op, "output_padding", low=0), triple(dilation, op, "dilation")
    for i in range(3):
        if op_[i] >= max(s[i], d[i]):
            raise RuntimeError(
                f"{op}: output padding must be smaller than either stride or dilation"
            )
    k = w.shape[2:]
    out_sp = [
        (x.shape[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op_[i] + 1 for i in range(3)
    ]
    z = ops.zeros((x.shape[0], w.shape[1] * groups, *out_sp), dtype=x.dtype, device=x.device)
    with enable_grad():
        z.requires_grad_(True)
        y = conv3d(z, w, None, s, p, d, groups)
        (out,) = _grad(y, z, x, create_graph=True)
    if not (is_grad_enabled() and (x.requires_grad or w.requires_grad)):
        out = out.detach()
    if bias is not None:
        b = bias if isinstance(bias, Tensor) else Tensor(bias)
        out = out + b.reshape(1, -1, 1, 1, 1)
    return out.squeeze(0) if unb else out


def max_unpool3d(
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Tensor:
    """The partial inverse of ``max_pool3d`` (``torch.nn.functional.max_unpool3d``): each value
    of (N, C, D, H, W) or (C, D, H, W) goes to its flat index ``d * H * W + h * W + w`` of a zero
    volume whose sizes are ``(in - 1) * stride - 2 * padding + kernel_size`` unless
    ``output_size`` (3 sizes, or the full shape) gives them; differentiable in ``input``.
    Raises ValueError for another rank or an ``output_size`` out of range, RuntimeError for an
    index outside the volume."""
    op = "max_unpool3d"
    x = input if isinstance(input, Tensor) else Tensor(input)
    if x.dim() not in (4, 5):
        raise ValueError(
            f"{op}: input must be 4-D (C, D, H, W) or 5-D (N, C, D, H, W), got shape "
            f"{tuple(x.shape)}"
        )
    k = triple(kernel_size, op, "kernel_size")
    s = k if stride is None else triple(stride, op, "stride")
    p = triple(padding, op, "padding", low=0)
    sizes = _unpool_sizes(x, k, s, p, output_size, 3, op)
    return _unpool(x, indices, sizes, op)


def lp_pool3d(
    input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False
) -> Tensor:
    """Power-average pooling over (N, C, D, H, W) or (C, D, H, W): ``(sum over the window of
    x ** p) ** (1 / p)`` (``torch.nn.functional.lp_pool3d``, torch's formula: the average of
    ``x ** p`` times the window's size, negative averages clamped to 0, to the power 1 / p)."""
    kd, kh, kw = triple(kernel_size, "lp_pool3d", "kernel_size")
    x = input if isinstance(input, Tensor) else Tensor(input)
    out = avg_pool3d(x.pow(norm_type), (kd, kh, kw), stride, 0, ceil_mode)
    return _lp(out, norm_type, kd * kh * kw)
