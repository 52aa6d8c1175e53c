"""conv1d, conv_transpose1d and conv_transpose2d (torch.nn.functional), on the conv2d kernels.

conv1d is conv2d over a height-1 input. A transposed convolution is the input-gradient of a
convolution: its forward is ``conv2d_backward``'s dx (with our input as the convolution's dy),
its input-gradient is ``conv2d_forward`` and its weight-gradient is ``conv2d_backward``'s dw with
the roles of x and dy swapped. The weight is (in_channels, out_channels/groups, kH, kW), torch's
ConvTranspose layout, which is exactly the layout of the convolution it transposes.

All three support higher-order gradients (create_graph=True), as conv2d does."""

from __future__ import annotations

import numpy as np

from .._backend import get_array_module, kernels_for
from .._typing import _size_1_t, _size_2_t
from ..autograd import Function, Tensor
from ._util import check_float, contiguous
from .conv import Conv2d, ConvWeightGrad, conv2d
from .shape_ops import pad

__all__ = ["conv1d", "conv_transpose1d", "conv_transpose2d"]


def _ints(v: object, n: int, op: str, name: str, low: int) -> tuple[int, ...]:
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        v = (v,) * n
    if not isinstance(v, (tuple, list)) or not all(
        isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)) for i in v
    ):
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    if len(v) != n:
        raise ValueError(f"{op}: {name} must have {n} values, got {len(v)}")
    v = tuple(int(i) for i in v)
    if any(i < low for i in v):
        raise ValueError(f"{op}: {name} must be {'positive' if low else '>= 0'}, got {v}")
    return v


def _unsq(a, axis):
    return a.unsqueeze(axis) if isinstance(a, Tensor) else np.expand_dims(a, axis)


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: _size_1_t = 1,
    padding: _size_1_t | str = 0,
    dilation: _size_1_t = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution over (N, C, L) or unbatched (C, L); weight (out, in/groups, k). padding
    an int, a 1-tuple, 'valid' or 'same'. Same semantics as torch.nn.functional.conv1d."""
    x = check_float(input, "conv1d", "input")
    w = check_float(weight, "conv1d", "weight")
    if x.ndim not in (2, 3):
        raise ValueError(
            f"conv1d: input must be 2-D (C, L) or 3-D (N, C, L), got shape {tuple(x.shape)}"
        )
    if w.ndim != 3:
        raise ValueError(
            f"conv1d: weight must be 3-D (out_channels, in_channels/groups, k), got "
            f"shape {tuple(w.shape)}"
        )
    (s,) = _ints(stride, 1, "conv1d", "stride", 1)
    (d,) = _ints(dilation, 1, "conv1d", "dilation", 1)
    if isinstance(padding, str):
        pad2: str | tuple[int, int] = padding  # conv2d checks 'valid'/'same'
    else:
        pad2 = (0, _ints(padding, 1, "conv1d", "padding", 0)[0])
    unbatched = x.ndim == 2
    xin = _unsq(input, 0) if unbatched else input
    y = conv2d(_unsq(xin, 2), _unsq(weight, 2), bias, (1, s), pad2, (1, d), groups)
    y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


def _conv_out(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


class ConvTranspose2d(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, groups, dilation):
        K = kernels_for(x)
        xp = get_array_module(x)
        x, weight = contiguous(x), contiguous(weight)
        N, _, H, W = x.shape
        kh, kw = weight.shape[2:]
        Ho = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
        Wo = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
        Cout = weight.shape[1] * groups
        # the convolution of an (Ho, Wo) image gives (Hc, Wc) >= (H, W) when output_padding
        # reaches the stride (allowed when the dilation is larger): pad x with zeros to match
        Hc = _conv_out(Ho, kh, stride[0], padding[0], dilation[0])
        Wc = _conv_out(Wo, kw, stride[1], padding[1], dilation[1])
        if (Hc, Wc) != (H, W):
            xz = xp.zeros((N, x.shape[1], Hc, Wc), x.dtype)
            xz[:, :, :H, :W] = x
        else:
            xz = x
        shape_only = xp.zeros((N, Cout, Ho, Wo), x.dtype)
        y, _, _ = K.conv2d_backward(
            xz, shape_only, weight, stride, padding, dilation, groups, True, False, False
        )
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        ctx.save_for_backward(xz, weight)
        ctx.args = (stride, padding, dilation, groups, (H, W))
        return y

    @staticmethod
    def backward(ctx, dy):
        xz, weight = ctx.saved_tensors
        stride, padding, dilation, groups, (H, W) = ctx.args
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        K = kernels_for(dy)
        dy = contiguous(dy)
        dx = dw = db = None
        if need_x:
            dx = K.conv2d_forward(dy, weight, None, stride, padding, dilation, groups)
            if dx.shape[2:] != (H, W):
                dx = contiguous(dx[:, :, :H, :W])
        if need_w:
            _, dw, _ = K.conv2d_backward(
                xz, dy, weight, stride, padding, dilation, groups, False, True, False
            )
        if need_b:
            db = dy.sum(axis=(0, 2, 3))
        return dx, dw, db, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        # create_graph=True: the gradients as recorded ops, differentiable again (conv2d's
        # own Function and its weight-gradient Function; see conv.py).
        xz, weight = ctx.saved_tensors
        stride, padding, dilation, groups, (H, W) = ctx.args
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        geo = (stride, padding, dilation, groups, (0, 0))
        w = inputs[1] if inputs[1] is not None else weight
        dx = dw = db = None
        if need_x:
            dx = Conv2d.apply(dy, w, None, stride, padding, dilation, groups, (0, 0))
            if tuple(dx.shape[2:]) != (H, W):
                dx = dx[:, :, :H, :W]
        if need_w:
            x = inputs[0]
            if x is None:
                x = xz
            elif tuple(xz.shape[2:]) != (H, W):  # the forward's zero rows/columns, recorded
                x = pad(x, (0, xz.shape[3] - W, 0, xz.shape[2] - H))
            dw = ConvWeightGrad.apply(dy, x, geo, tuple(weight.shape))
        if need_b:
            db = dy.sum(dim=(0, 2, 3))
        return dx, dw, db, None, None, None, None, None


def _check_transpose(op, x, w, bias, groups, n):
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(f"{op}: input must be {n + 1}-D or {n + 2}-D, got shape {tuple(x.shape)}")
    if w.ndim != n + 2:
        raise ValueError(
            f"{op}: weight must be {n + 2}-D (in_channels, out_channels/groups, "
            f"kernel...), got shape {tuple(w.shape)}"
        )
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    c = x.shape[-n - 1]
    if w.shape[0] != c:
        raise ValueError(
            f"{op}: input has {c} channels, weight expects {w.shape[0]} "
            f"(weight is (in_channels, out_channels/groups, ...))"
        )
    if c % groups:
        raise ValueError(f"{op}: in_channels {c} is not divisible by groups {groups}")
    if bias is not None:
        b = check_float(bias, op, "bias")
        if b.shape != (w.shape[1] * groups,):
            raise ValueError(
                f"{op}: bias must have shape ({w.shape[1] * groups},), got {tuple(b.shape)}"
            )


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: _size_2_t = 1,
    padding: _size_2_t = 0,
    output_padding: _size_2_t = 0,
    groups: int = 1,
    dilation: _size_2_t = 1,
) -> Tensor:
    """2-D transposed convolution over (N, C_in, H, W) or unbatched (C_in, H, W); weight
    (C_in, C_out/groups, kH, kW). Output size ``(H-1)*stride - 2*padding + dilation*(kH-1) +
    output_padding + 1``. Same arguments (note groups before dilation) and semantics as
    torch.nn.functional.conv_transpose2d."""
    op = "conv_transpose2d"
    x = check_float(input, op, "input")
    w = check_float(weight, op, "weight")
    _check_transpose(op, x, w, bias, groups, 2)
    st = _ints(stride, 2, op, "stride", 1)
    pad = _ints(padding, 2, op, "padding", 0)
    dil = _ints(dilation, 2, op, "dilation", 1)
    opad = _ints(output_padding, 2, op, "output_padding", 0)
    for i in range(2):
        if opad[i] >= max(st[i], dil[i]):
            raise ValueError(
                f"{op}: output padding must be smaller than either stride or "
                f"dilation, got output_padding={opad}, stride={st}, "
                f"dilation={dil}"
            )
    for i, n in enumerate(x.shape[-2:]):
        size = (n - 1) * st[i] - 2 * pad[i] + dil[i] * (w.shape[2 + i] - 1) + opad[i] + 1
        if size <= 0:
            raise ValueError(
                f"{op}: the output size {size} along spatial dimension {i} is not "
                f"positive (input {tuple(x.shape)}, weight {tuple(w.shape)})"
            )
    if x.ndim == 3:
        y = ConvTranspose2d.apply(_unsq(input, 0), weight, bias, st, pad, opad, int(groups), dil)
        return y.squeeze(0)
    return ConvTranspose2d.apply(input, weight, bias, st, pad, opad, int(groups), dil)


def conv_transpose1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: _size_1_t = 1,
    padding: _size_1_t = 0,
    output_padding: _size_1_t = 0,
    groups: int = 1,
    dilation: _size_1_t = 1,
) -> Tensor:
    """1-D transposed convolution over (N, C_in, L) or (C_in, L); weight (C_in, C_out/groups,
    k). Same arguments and semantics as torch.nn.functional.conv_transpose1d."""
    op = "conv_transpose1d"
    x = check_float(input, op, "input")
    w = check_float(weight, op, "weight")
    _check_transpose(op, x, w, bias, groups, 1)
    (s,) = _ints(stride, 1, op, "stride", 1)
    (p,) = _ints(padding, 1, op, "padding", 0)
    (d,) = _ints(dilation, 1, op, "dilation", 1)
    (o,) = _ints(output_padding, 1, op, "output_padding", 0)
    if o >= max(s, d):
        raise ValueError(
            f"{op}: output padding must be smaller than either stride or dilation, "
            f"got output_padding={o}, stride={s}, dilation={d}"
        )
    unbatched = x.ndim == 2
    xin = _unsq(input, 0) if unbatched else input
    y = conv_transpose2d(
        _unsq(xin, 2), _unsq(weight, 2), bias, (1, s), (0, p), (0, o), groups, (1, d)
    )
    y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y
