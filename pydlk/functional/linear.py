"""linear: ``y = x @ W.T + b`` on BLAS GEMM, weight (out_features, in_features) as in torch."""

from __future__ import annotations

import math

from .. import _C, amp
from .._backend import kernels_for
from ..autograd import Function, Tensor
from ._util import check_float, contiguous

__all__ = ["linear"]


class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        K = kernels_for(x)
        lead = x.shape[:-1]
        # rows counted, not inferred with -1: a zero-width input (in_features 0) has no size
        # to infer them from
        x2 = contiguous(x.reshape(math.prod(lead), x.shape[-1]))
        # Inside autocast: bf16 products, float32 in and out (pydlk/amp.py).
        ctx.bf16 = amp.use_bf16(x2, weight, bias)
        fwd = _C.linear_bf16_forward if ctx.bf16 else K.linear_forward
        y = fwd(x2, contiguous(weight), None if bias is None else contiguous(bias))
        ctx.save_for_backward(x2, weight)
        ctx.lead = lead
        return y.reshape(*lead, weight.shape[0])

    @staticmethod
    def backward(ctx, dy):
        x2, weight = ctx.saved_tensors
        K = kernels_for(dy)
        need_x, need_w, need_b = ctx.needs_input_grad
        dy2 = contiguous(dy.reshape(x2.shape[0], weight.shape[0]))
        bwd = _C.linear_bf16_backward if ctx.bf16 else K.linear_backward
        dx, dw, db = bwd(dy2, x2, contiguous(weight), need_x, need_w, need_b)
        if dx is not None:
            dx = dx.reshape(*ctx.lead, weight.shape[1])
        return dx, dw, db

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        x2, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        out_f, in_f = weight.shape
        rows = x2.shape[0]
        X = inputs[0].reshape(rows, in_f) if inputs[0] is not None else Tensor._wrap(x2)
        W = inputs[1] if inputs[1] is not None else Tensor._wrap(weight)
        dy2 = dy.reshape(rows, out_f)
        dx = (dy2 @ W).reshape(*ctx.lead, in_f) if need_x else None
        dw = dy2.transpose(0, 1) @ X if need_w else None
        db = dy2.sum(dim=0) if need_b else None
        return dx, dw, db


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``. input (..., in_features); weight (out_features, in_features).
    Inside ``pydlk.autocast`` the products are bf16 (float32 output; see pydlk/amp.py)."""
    input, weight, bias = amp.cast_inputs(input, weight, bias)
    x = check_float(input, "linear", "input")
    check_float(weight, "linear", "weight")
    if bias is not None:
        check_float(bias, "linear", "bias")
    if x.ndim < 1:
        raise ValueError("linear: input must have at least 1 dimension, got a scalar")
    return Linear.apply(input, weight, bias)
