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

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        # create_graph=True: the same gradients as recorded ops (ConvInputGrad, ConvWeightGrad),
        # so they can be differentiated again, to any order. Float32 kernels even where the
        # forward ran under autocast (bf16).
        xp, weight = ctx.saved_tensors
        stride, padding, dilation, groups, xshape = ctx.args
        extra = (xp.shape[2] - xshape[2], xp.shape[3] - xshape[3])  # an odd 'same' padding
        geo = (stride, padding, dilation, groups, extra)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        x = inputs[0] if inputs[0] is not None else _crop(xp, xshape)
        w = inputs[1] if inputs[1] is not None else weight
        dx = ConvInputGrad.apply(dy, w, geo, tuple(xshape)) if need_x else None
        dw = ConvWeightGrad.apply(x, dy, geo, tuple(weight.shape)) if need_w else None
        db = dy.sum(dim=(0, 2, 3)) if need_b else None
        return dx, dw, db, None, None, None, None, None


# -- the two gradients of a convolution as differentiable ops (for create_graph=True).
# With y = conv(x, W) (geometry ``geo`` = (stride, padding, dilation, groups, extra)):
#   ConvInputGrad(dy, W)  = dL/dx, linear in dy and in W;
#   ConvWeightGrad(x, dy) = dL/dW, linear in x and in dy.
# Their derivatives are again convolutions and these two, so the set is closed:
#   d<G, ConvInputGrad(dy, W)>/d dy = conv(G, W),   /dW = ConvWeightGrad(G, dy);
#   d<G, ConvWeightGrad(x, dy)>/dx = ConvInputGrad(dy, G),   /d dy = conv(x, G).
# All go through the backend's conv2d_forward / conv2d_backward (kernels_for), so the CPU's
# algorithm choice and the GPU's cuDNN apply to them as to the first-order pass.


def _crop(a, shape):
    """``a`` (the input padded at the bottom/right for an odd 'same') cut back to ``shape``."""
    if tuple(a.shape) == tuple(shape):
        return a
    return contiguous(a[:, :, : shape[2], : shape[3]])


def _padded_shape(xshape, extra):
    return tuple(xshape[:2]) + (xshape[2] + extra[0], xshape[3] + extra[1])


def _conv_arr(x, w, geo):
    """conv(x, w) on arrays (no bias), x padded by ``extra`` first."""
    stride, padding, dilation, groups, extra = geo
    x = contiguous(x)
    if extra != (0, 0):
        x = _pad_bottom_right(x, extra)
    return kernels_for(x).conv2d_forward(x, contiguous(w), None, stride, padding, dilation, groups)


def _input_grad_arr(dy, w, geo, xshape):
    """dL/dx of y = conv(x, w) for x of shape ``xshape``, on arrays."""
    stride, padding, dilation, groups, extra = geo
    xp = get_array_module(dy)
    shape_only = xp.zeros(_padded_shape(xshape, extra), dy.dtype)  # only its shape is read
    dx, _, _ = kernels_for(dy).conv2d_backward(
        contiguous(dy), shape_only, contiguous(w), stride, padding, dilation, groups,
        True, False, False,
    )  # fmt: skip
    return _crop(dx, xshape)


def _weight_grad_arr(x, dy, geo, wshape):
    """dL/dW of y = conv(x, W) for W of shape ``wshape``, on arrays."""
    stride, padding, dilation, groups, extra = geo
    x = contiguous(x)
    if extra != (0, 0):
        x = _pad_bottom_right(x, extra)
    shape_only = get_array_module(x).zeros(wshape, x.dtype)  # only its shape is read
    _, dw, _ = kernels_for(x).conv2d_backward(
        contiguous(dy), x, shape_only, stride, padding, dilation, groups, False, True, False
    )
    return dw


class ConvInputGrad(Function):
    """The input-gradient of a convolution, ``dx(dy, W)``, as a differentiable op."""

    op_name = "conv2d_input_grad"

    @staticmethod
    def forward(ctx, dy, weight, geo, xshape):
        ctx.save_for_backward(dy, weight)
        ctx.geo, ctx.xshape = geo, xshape
        return _input_grad_arr(dy, weight, geo, xshape)

    @staticmethod
    def backward(ctx, g):
        dy, weight = ctx.saved_tensors
        need_dy, need_w = ctx.needs_input_grad[:2]
        gdy = _conv_arr(g, weight, ctx.geo) if need_dy else None
        gw = _weight_grad_arr(g, dy, ctx.geo, weight.shape) if need_w else None
        return gdy, gw, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        dy, weight = (_val(t, a) for t, a in zip(inputs, ctx.saved_tensors))
        need_dy, need_w = ctx.needs_input_grad[:2]
        gdy = _conv_t(g, weight, ctx.geo) if need_dy else None
        gw = ConvWeightGrad.apply(g, dy, ctx.geo, ctx.saved_tensors[1].shape) if need_w else None
        return gdy, gw, None, None


class ConvWeightGrad(Function):
    """The weight-gradient of a convolution, ``dW(x, dy)``, as a differentiable op."""

    op_name = "conv2d_weight_grad"

    @staticmethod
    def forward(ctx, x, dy, geo, wshape):
        ctx.save_for_backward(x, dy)
        ctx.geo = geo
        return _weight_grad_arr(x, dy, geo, wshape)

    @staticmethod
    def backward(ctx, g):
        x, dy = ctx.saved_tensors
        need_x, need_dy = ctx.needs_input_grad[:2]
        gx = _input_grad_arr(dy, g, ctx.geo, x.shape) if need_x else None
        gdy = _conv_arr(x, g, ctx.geo) if need_dy else None
        return gx, gdy, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        x, dy = (_val(t, a) for t, a in zip(inputs, ctx.saved_tensors))
        need_x, need_dy = ctx.needs_input_grad[:2]
        gx = ConvInputGrad.apply(dy, g, ctx.geo, ctx.saved_tensors[0].shape) if need_x else None
        gdy = _conv_t(x, g, ctx.geo) if need_dy else None
        return gx, gdy, None, None


def _val(t, a):
    return t if t is not None else a


def _conv_t(x, w, geo):
    """conv(x, w) as a recorded op (the forward Function itself)."""
    stride, padding, dilation, groups, extra = geo
    return Conv2d.apply(x, w, None, stride, padding, dilation, groups, extra)


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

    Higher-order gradients are supported (``create_graph=True``: gradient penalties, MAML,
    Hessian-vector products): the gradients with respect to the input and the weight are
    recorded as convolutions and can be differentiated again, to any order.
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
