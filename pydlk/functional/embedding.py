"""embedding: a row lookup ``weight[input]``; the backward scatter-adds rows (``xp.add.at``),
and differentiates again (create_graph=True) as the lookup, its adjoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._backend import get_array_module
from ..autograd import Function
from ._adjoint import LinearMap
from ._util import array_of, check_float

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["embedding"]


def _scatter_rows(dy, idx, shape, padding_idx):
    """The backward map: each looked-up row's gradient added into its weight row; the
    padding_idx row gets none."""
    xp = get_array_module(dy)
    dw = xp.zeros(shape, dy.dtype)
    xp.add.at(dw, idx.reshape(-1), dy.reshape(-1, shape[1]))
    if padding_idx is not None:
        dw[padding_idx] = 0
    return dw


def _gather_rows(dw, idx, padding_idx):
    """The adjoint of ``_scatter_rows``: the rows of ``dw`` looked up again (0 for padding)."""
    out = dw[idx]
    if padding_idx is not None:
        out[idx == padding_idx] = 0
    return out


class Embedding(Function):
    @staticmethod
    def forward(ctx, weight, idx, padding_idx):
        ctx.save_for_backward(idx)
        ctx.shape, ctx.padding_idx = weight.shape, padding_idx
        return weight[idx]

    @staticmethod
    def backward(ctx, dy):
        (idx,) = ctx.saved_tensors
        return _scatter_rows(dy, idx, ctx.shape, ctx.padding_idx), None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        # linear in the weight: the backward's derivative is the lookup again (MAML, gradient
        # penalties through an embedding table)
        (idx,) = ctx.saved_tensors
        shape, pad = ctx.shape, ctx.padding_idx
        dw = LinearMap.apply(
            dy, lambda g: _scatter_rows(g, idx, shape, pad), lambda g: _gather_rows(g, idx, pad)
        )
        return dw, None, None


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by the integer ``input``.
    The padding_idx row receives no gradient. Differs from torch: max_norm,
    scale_grad_by_freq and sparse are refused."""
    w = check_float(weight, "embedding", "weight")
    if w.ndim != 2:
        raise ValueError(
            f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {w.shape}"
        )
    idx = array_of(input)
    idx = np.asarray(idx) if not hasattr(idx, "dtype") else idx
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must be an integer tensor, got {idx.dtype}")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise ValueError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    n = w.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"embedding: input holds indices outside [0, {n})")
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError("embedding: padding_idx must be within num_embeddings")
        padding_idx %= n
    return Embedding.apply(weight, idx.astype(np.int64, copy=False), padding_idx)
