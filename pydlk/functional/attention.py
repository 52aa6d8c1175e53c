"""scaled_dot_product_attention: ``softmax(q k^T * scale + mask) v`` with the row softmax done in
place on the score buffer by ``csrc/attention.cpp`` (forward and backward), the products by the
kernels' batched matmul (csrc/matmul.cpp: pydlk's BLAS, q, k and v read in place); inside
``pydlk.autocast`` the products are bf16 (``_C.matmul_bf16``), forward and backward."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import amp
from .._backend import get_array_module, kernels_for
from .._matmul import matmul
from ..autograd import Function
from ._util import array_of, check_float, contiguous
from .dropout import dropout_mask

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["scaled_dot_product_attention"]


def _swap(a):
    return a.swapaxes(-1, -2)


class SDPA(Function):
    """forward(ctx, q, k, v, mask, dropout_p, scale, need_weights) -> (out, probs or None).
    q (..., L, E), k (..., S, E), v (..., S, Ev); mask (broadcastable to (..., L, S)): bool
    (True = attend) or float (added to the scores)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, dropout_p, scale, need_weights):
        K = kernels_for(q)
        xp = get_array_module(q)
        # Inside autocast: bf16 products, float32 in and out (pydlk/amp.py), backward too.
        ctx.bf16 = bf16 = amp.use_bf16(q, k, v)
        s = contiguous(matmul(q, _swap(k), bf16))  # (..., L, S), a fresh buffer
        s *= scale
        if mask is not None:
            if mask.dtype == np.bool_:
                s[...] = xp.where(mask, s, -np.inf)
            else:
                s += mask
        K.attn_softmax_forward_(s)  # s now holds the probabilities
        p = s
        drop = None
        if dropout_p > 0:
            drop = dropout_mask(p.shape, dropout_p, p.dtype, p)
            pd = p * drop
        else:
            pd = p
        out = matmul(pd, v, bf16)
        ctx.save_for_backward(q, k, v, p, drop)
        ctx.scale, ctx.mask = scale, mask
        return out, (pd if need_weights else xp.zeros((0,), q.dtype))

    @staticmethod
    def backward(ctx, dout, dweights=None):
        q, k, v, p, drop = ctx.saved_tensors
        K = kernels_for(dout)
        nq, nk, nv = ctx.needs_input_grad[:3]
        pd = p if drop is None else p * drop
        bf16 = ctx.bf16
        dv = matmul(_swap(pd), dout, bf16) if nv else None
        dq = dk = None
        if nq or nk:
            dp = contiguous(matmul(dout, _swap(v), bf16))  # dL/d(pd)
            if dweights is not None and dweights.shape == dp.shape:
                dp += dweights
            if drop is not None:
                dp *= drop
            K.attn_softmax_backward_(dp, p)  # dp now holds dL/ds
            dp *= ctx.scale
            if nq:
                dq = matmul(dp, k, bf16)
            if nk:
                dk = matmul(_swap(dp), q, bf16)
        return (
            _reduce(dq, q.shape),
            _reduce(dk, k.shape),
            _reduce(dv, v.shape),
            None,
            None,
            None,
            None,
        )

    @staticmethod
    def backward_graph(ctx, inputs, dout, dweights=None):
        # The same backward as recorded ops, with the probabilities recomputed from q and k so
        # that their derivatives flow (gradient penalties, MAML through attention layers).
        from ..ops._helpers import _fit_t

        q, k, v = (_val(t, a) for t, a in zip(inputs[:3], ctx.saved_tensors[:3]))
        drop = ctx.saved_tensors[4]
        p = _probs_t(q, k, ctx.mask, ctx.scale)
        pd = p if drop is None else p * drop
        dv = pd.transpose(-1, -2) @ dout
        dp = dout @ v.transpose(-1, -2)
        if dweights is not None and tuple(dweights.shape) == tuple(dp.shape):
            dp = dp + dweights
        if drop is not None:
            dp = dp * drop
        ds = p * (dp - (dp * p).sum(dim=-1, keepdim=True)) * ctx.scale
        grads = (ds @ k, ds.transpose(-1, -2) @ q, dv)
        metas = ((t.shape, t.dtype) for t in ctx.saved_tensors[:3])
        dq, dk, dv = (
            _fit_t(g, m) if need else None
            for g, m, need in zip(grads, metas, ctx.needs_input_grad[:3])
        )
        return dq, dk, dv, None, None, None, None


def _val(t, a):
    from ..autograd import Tensor

    return t if t is not None else Tensor._wrap(a)


def _probs_t(q, k, mask, scale):
    """softmax(q k^T * scale + mask) as recorded ops; a row that the mask leaves empty is all
    zeros, as the kernel gives it."""
    from .activation import softmax

    xp = get_array_module(q._data)
    s = (q @ k.transpose(-1, -2)) * scale
    if mask is None:
        return softmax(s, -1)
    add = xp.where(mask, 0, -np.inf).astype(s.dtype) if mask.dtype == np.bool_ else mask
    empty = xp.isneginf(add).all(axis=-1, keepdims=True)
    if not bool(empty.any()):
        return softmax(s + add, -1)
    return softmax(s + xp.where(empty, 0, add), -1) * (~empty).astype(s.dtype)


def _reduce(g, shape):
    if g is None or g.shape == tuple(shape):
        return g
    from ..ops._helpers import _unbroadcast

    return _unbroadcast(g, shape)


def _attention(
    query,
    key,
    value,
    attn_mask=None,
    dropout_p=0.0,
    is_causal=False,
    scale=None,
    need_weights=False,
):
    op = "scaled_dot_product_attention"
    q = check_float(query, op, "query")
    k = check_float(key, op, "key")
    v = check_float(value, op, "value")
    for a, name in ((k, "key"), (v, "value")):
        if a.dtype != q.dtype:
            raise TypeError(f"{op}: {name} dtype {a.dtype} differs from query dtype {q.dtype}")
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"{op}: query, key and value must be at least 2-D")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{op}: query has embedding size {q.shape[-1]}, key has {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{op}: key has {k.shape[-2]} positions, value has {v.shape[-2]}")
    if not 0 <= dropout_p <= 1:
        raise ValueError(f"{op}: dropout_p must be between 0 and 1, got {dropout_p}")
    L, S = q.shape[-2], k.shape[-2]
    xp = get_array_module(q)
    mask = None
    if attn_mask is not None:
        mask = array_of(attn_mask)
        mask = xp.asarray(mask)
        if mask.dtype != np.bool_:
            mask = mask.astype(q.dtype, copy=False)
        try:
            np.broadcast_shapes(mask.shape, q.shape[:-2] + (L, S))
        except ValueError:
            raise ValueError(
                f"{op}: attn_mask of shape {mask.shape} does not broadcast to the "
                f"scores' shape {q.shape[:-2] + (L, S)}"
            ) from None
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{op}: pass either attn_mask or is_causal, not both")
        mask = xp.tril(xp.ones((L, S), dtype=bool))
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else 1.0
    return SDPA.apply(query, key, value, mask, float(dropout_p), float(scale), need_weights)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``softmax(query key^T * scale + mask) value``; query (..., L, E), key (..., S, E), value
    (..., S, Ev). A bool mask marks the positions that take part (True); a float mask is added
    to the scores. Differs from torch: a row masked everywhere gives zeros instead of NaN, and
    enable_gqa is refused."""
    if enable_gqa:
        raise ValueError("scaled_dot_product_attention: enable_gqa is not supported")
    out, _ = _attention(query, key, value, attn_mask, dropout_p, is_causal, scale)
    return out
