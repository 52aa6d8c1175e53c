"""Regularisation penalties that work through autograd: add them to the loss.

``l1_penalty(params) = sum |p|``, ``l2_penalty(params) = sum p^2`` (no 1/2 factor: its gradient
is ``2p``; torch's coupled ``weight_decay=wd`` corresponds to ``(wd/2) * l2_penalty``),
``elastic_net_penalty(params, l1, l2) = l1 * l1_penalty + l2 * l2_penalty``. Sums are taken in
float64 and returned in the parameters' dtype. The same regularisers fused into the optimiser
step: ``weight_decay=`` (coupled L2), AdamW (decoupled), ``l1_weight_decay=`` (adds
``l1*sign(p)`` to the gradient).
"""

from __future__ import annotations

import numpy as np

from ..._typing import ParamsT
from ...autograd import Function, Tensor

__all__ = ["l1_penalty", "l2_penalty", "elastic_net_penalty"]


class _AbsSum(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a).sum(dtype=np.float64).astype(a.dtype)  # 0-d, on a's device

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return (g * np.sign(a)).astype(a.dtype, copy=False)  # CuPy's on a GPU array

    @staticmethod
    def backward_graph(ctx, inputs, g):  # sign(a) is piecewise constant
        (a,) = ctx.saved_tensors
        return g * np.sign(a).astype(a.dtype, copy=False)


class _SqSum(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        v = a.reshape(-1)  # np.einsum runs CuPy's on a GPU array; 0-d, on a's device
        return np.einsum("i,i->", v, v, dtype=np.float64).astype(a.dtype)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return (2 * g * a).astype(a.dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g * 2 * inputs[0]


def _list(params):
    ps = [params] if isinstance(params, Tensor) else list(params)
    for p in ps:
        if not isinstance(p, Tensor):
            raise TypeError(f"penalty: params must be Tensors, got {type(p).__name__}")
    return ps


def _sum(fn, params):
    ps = _list(params)
    if not ps:
        return Tensor(np.asarray(0.0, np.float32))
    total = fn.apply(ps[0])
    for p in ps[1:]:
        total = total + fn.apply(p)
    return total


def l1_penalty(params: ParamsT) -> Tensor:
    """sum over params of sum |p| (a 0-d Tensor in the graph)."""
    return _sum(_AbsSum, params)


def l2_penalty(params: ParamsT) -> Tensor:
    """sum over params of sum p^2 (a 0-d Tensor in the graph)."""
    return _sum(_SqSum, params)


def elastic_net_penalty(params: ParamsT, l1, l2) -> Tensor:
    """l1 * l1_penalty(params) + l2 * l2_penalty(params)."""
    ps = _list(params)
    return l1_penalty(ps) * float(l1) + l2_penalty(ps) * float(l2)
