"""conv2d: 2-D cross-correlation (NCHW) as torch.nn.functional.conv2d, on csrc/conv2d.cpp."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _C, amp
from .._backend import get_array_module, kernels_for
from .._typing import _size_2_t
from ..autograd import Function
from ._util import check_float, contiguous

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["conv2d"]


def _int_pair(v: object, name: str, low: int) -> tuple[int, int]:
    """An int or a pair of ints as a 2-tuple, each >= low; errors name the argument."""
    # Fast path for what layers pass every step (a pair of plain ints); all else is checked below
    if type(v) is tuple and len(v) == 2 and type(v[0]) is int and type(v[1]) is int:
        if v[0] >= low and v[1] >= low:
            return v
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        v = (v, v)
    if not isinstance(v, (tuple, list)) or not all(
        isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) for i in v
    ):
        raise TypeError(f"conv2d: {name} must be an int or a pair of ints, got {v!r}")
    if len(v) != 2:
        raise ValueError(f"conv2d: {name} must have 2 values, got {len(v)}")
    v = (int(v[0]), int(v[1]))
    if v[0] < low or v[1] < low:
        raise ValueError(f"conv2d: {name} must be {'positive' if low else '>= 0'}, got {v}")
    return v


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, extra):
        K = kernels_for(x)
        x = contiguous(x)
        if extra != (0, 0):
            # padding='same' with an odd total: the extra row/column goes at the bottom/right.
            xp = _pad_bottom_right(x, extra)
        else:
            xp = x
        weight = contiguous(weight)
        bias = None if bias is None else contiguous(bias)
        # Inside autocast: bf16 products, float32 in and out (pydlk/amp.py); groups > 1 and
        # narrow 1x1 kernels stay on the float32 kernels (their products are too small to gain
        # from bf16: the time goes to reading and writing activations, and rounding and packing
        # them for bf16 only adds to it).
        ctx.bf16 = groups == 1 and not _narrow_pointwise(weight) and amp.use_bf16(xp, weight, bias)
        if ctx.bf16:
            y = _C.conv2d_bf16_forward(xp, weight, bias, stride, padding, dilation)
        else:
            y = K.conv2d_forward(xp, weight, bias, stride, padding, dilation, groups)
        ctx.save_for_backward(xp, weight)
        ctx.args = (stride, padding, dilation, groups, x.shape)
        return y

    @staticmethod
    def backward(ctx, dy):
        xp, weight = ctx.saved_tensors
        stride, padding, dilation, groups, xshape = ctx.args
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        K = kernels_for(dy)
        if ctx.bf16:
            dx, dw, db = _C.conv2d_bf16_backward(
                contiguous(dy), xp, weight, stride, padding, dilation, need_x, need_w, need_b
            )
        else:
            dx, dw, db = K.conv2d_backward(
                contiguous(dy),
                xp,
                weight,
                stride,
                padding,
                dilation,
                groups,
                need_x,
                need_w,
                need_b,
            )
        if dx is not None and dx.shape != xshape:
            dx = contiguous(dx[:, :, : xshape[2], : xshape[3]])
        return dx, dw, db, None, None, None, None, None


# A 1x1 convolution with at most this many products per pixel (in x out channels) runs in
# float32 under autocast. Measured on a Zen 5 (2 threads, forward / both gradients, float32
# against bf16 kernels, ms): 16->32 on 32x32 at stride 2, batch 64, 0.08 / 0.23 against
# 0.21 / 0.35; 64->128 on 16x16 at stride 2 0.29 / 0.80 against 0.44 / 0.76; at 64->256 bf16
# starts to win the forward (0.78 against 0.95).
_POINTWISE_FP32_MAX = 64 * 128


def _narrow_pointwise(weight) -> bool:
    s = weight.shape
    return s[2] == 1 and s[3] == 1 and s[0] * s[1] <= _POINTWISE_FP32_MAX


def _pad_bottom_right(x, extra):
    """x with ``extra`` = (rows, cols) zeros appended at the bottom and right."""
    xp = get_array_module(x).zeros(
        x.shape[:2] + (x.shape[2] + extra[0], x.shape[3] + extra[1]), x.dtype
    )
    xp[:, :, : x.shape[2], : x.shape[3]] = x
    return xp


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: _size_2_t = 1,
    padding: _size_2_t | str = 0,
    dilation: _size_2_t = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (cross-correlation) over an (N, C, H, W) or unbatched (C, H, W) input.

    weight (out_channels, in_channels/groups, kH, kW); bias (out_channels) or None; stride,
    padding and dilation an int or a pair; padding may be 'valid' (none) or 'same' (output as
    large as the input; stride 1 only; an odd total padding puts the extra row/column at the
    bottom/right, as torch does). Same semantics as torch.nn.functional.conv2d; only
    padding_mode='zeros' exists (torch's functional form has no other either). Inside
    ``pydlk.autocast`` the products are bf16 (float32 output; see pydlk/amp.py).
    """
    input, weight, bias = amp.cast_inputs(input, weight, bias)
    x = check_float(input, "conv2d", "input")
    w = check_float(weight, "conv2d", "weight")
    if bias is not None:
        check_float(bias, "conv2d", "bias")
    if x.ndim not in (3, 4):
        raise ValueError(
            f"conv2d: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape {tuple(x.shape)}"
        )
    if w.ndim != 4:
        raise ValueError(
            f"conv2d: weight must be 4-D (out_channels, in_channels/groups, kH, kW), "
            f"got shape {tuple(w.shape)}"
        )
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise TypeError(f"conv2d: groups must be an int, got {groups!r}")
    if groups < 1:
        raise ValueError(f"conv2d: groups must be positive, got {groups}")
    stride = _int_pair(stride, "stride", 1)
    dilation = _int_pair(dilation, "dilation", 1)
    extra = (0, 0)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(
                    "conv2d: padding='same' is not supported for strided "
                    f"convolutions (stride={stride})"
                )
            total = [d * (k - 1) for d, k in zip(dilation, w.shape[2:])]
            padding = (total[0] // 2, total[1] // 2)
            extra = (total[0] % 2, total[1] % 2)
        else:
            raise ValueError(
                f"conv2d: padding must be 'valid', 'same', an int or a pair of ints, "
                f"got {padding!r}"
            )
    else:
        padding = _int_pair(padding, "padding", 0)
    if x.ndim == 3:  # unbatched, as torch: a batch of one
        from ..autograd import Tensor

        xb = input.reshape(1, *x.shape) if isinstance(input, Tensor) else x[None]
        y = Conv2d.apply(xb, weight, bias, stride, padding, dilation, int(groups), extra)
        return y.reshape(*y.shape[1:])
    return Conv2d.apply(input, weight, bias, stride, padding, dilation, int(groups), extra)
