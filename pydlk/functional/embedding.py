"""embedding: a row lookup ``weight[input]``; the backward scatter-adds rows (the kernels'
``embedding_backward``, csrc/embedding.cpp), and differentiates again (create_graph=True) as the
lookup, its adjoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._backend import get_array_module, kernels_for
from ..autograd import Function
from ._adjoint import LinearMap
from ._util import array_of, check_float

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["embedding"]


def _freq_scale(idx, n, dtype):
    """``scale_grad_by_freq``: 1 / (the count of each looked-up index in this mini-batch),
    shaped to multiply the rows of ``dy`` (None when off)."""
    xp = get_array_module(idx)
    counts = xp.bincount(idx.reshape(-1), minlength=n)
    return (1.0 / counts[idx]).astype(dtype)[..., None]


def _scatter_rows(dy, idx, shape, padding_idx, freq=False):
    """The backward map: each looked-up row's gradient added into its weight row (divided by
    how often its index occurs with ``freq``); the padding_idx row gets none."""
    xp = get_array_module(dy)
    if freq:
        dy = dy * _freq_scale(idx, shape[0], dy.dtype)
    if dy.dtype in (np.float32, np.float64):  # the kernels' row scatter (csrc/embedding.cpp)
        dw = kernels_for(dy).embedding_backward(
            xp.ascontiguousarray(dy.reshape(-1, shape[1])),
            xp.ascontiguousarray(idx.reshape(-1), dtype=np.int64),
            shape[0],
        )
    else:
        dw = xp.zeros(shape, dy.dtype)
        xp.add.at(dw, idx.reshape(-1), dy.reshape(-1, shape[1]))
    if padding_idx is not None:
        dw[padding_idx] = 0
    return dw


def _gather_rows(dw, idx, padding_idx, freq=False):
    """The adjoint of ``_scatter_rows``: the rows of ``dw`` looked up again (0 for padding)."""
    out = dw[idx]
    if padding_idx is not None:
        out[idx == padding_idx] = 0
    if freq:
        out = out * _freq_scale(idx, dw.shape[0], out.dtype)
    return out


def _renorm_rows(w, idx, max_norm, norm_type):
    """torch's ``embedding_renorm_``: each row looked up whose ``norm_type``-norm exceeds
    ``max_norm`` is scaled in place to norm ``max_norm`` (``max_norm / (norm + 1e-7)``)."""
    xp = get_array_module(w)
    rows = xp.unique(idx.reshape(-1))
    sub = w[rows]
    if norm_type == float("inf"):
        norms = xp.abs(sub).max(axis=1)
    else:
        norms = (xp.abs(sub) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    big = norms > max_norm
    if big.any():
        scale = (max_norm / (norms[big] + 1e-7)).astype(w.dtype)
        w[rows[big]] = sub[big] * scale[:, None]


class Embedding(Function):
    @staticmethod
    def forward(ctx, weight, idx, padding_idx, freq=False):
        ctx.save_for_backward(idx)
        ctx.shape, ctx.padding_idx, ctx.freq = weight.shape, padding_idx, freq
        return weight[idx]

    @staticmethod
    def backward(ctx, dy):
        (idx,) = ctx.saved_tensors
        return _scatter_rows(dy, idx, ctx.shape, ctx.padding_idx, ctx.freq), None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        # linear in the weight: the backward's derivative is the lookup again (MAML, gradient
        # penalties through an embedding table)
        (idx,) = ctx.saved_tensors
        shape, pad, freq = ctx.shape, ctx.padding_idx, ctx.freq
        dw = LinearMap.apply(
            dy,
            lambda g: _scatter_rows(g, idx, shape, pad, freq),
            lambda g: _gather_rows(g, idx, pad, freq),
        )
        return dw, None, None, None


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
    The padding_idx row receives no gradient. ``max_norm`` first rescales, in place, each
    looked-up row whose ``norm_type``-norm exceeds it (torch's ``embedding_renorm_``);
    ``scale_grad_by_freq`` divides each row's gradient by how often its index occurs in
    ``input``.

    Differs from torch: ``sparse=True`` is accepted but the gradient is a dense tensor (pydlk
    has no sparse tensors); SGD, Adam and SparseAdam all take it."""
    w = check_float(weight, "embedding", "weight")
    if w.ndim != 2:
        raise ValueError(
            f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {w.shape}"
        )
    idx = array_of(input)
    idx = np.asarray(idx) if not hasattr(idx, "dtype") else idx
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must be an integer tensor, got {idx.dtype}")
    n = w.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"embedding: input holds indices outside [0, {n})")
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError("embedding: padding_idx must be within num_embeddings")
        padding_idx %= n
    idx = idx.astype(np.int64, copy=False)
    if max_norm is not None and idx.size:
        _renorm_rows(w, idx, float(max_norm), float(norm_type))
    return Embedding.apply(weight, idx, padding_idx, bool(scale_grad_by_freq))
