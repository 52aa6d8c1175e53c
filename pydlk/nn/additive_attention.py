"""Additive (Bahdanau) attention."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import ops
from .._typing import DeviceLike, DTypeLike
from ..autograd import Tensor
from ._arrays import as_array
from ._util import check_device
from .linear import Linear
from .module import Module

__all__ = ["AdditiveAttention"]


class AdditiveAttention(Module):
    """Bahdanau, Cho and Bengio (2015): ``score(q, k) = v^T tanh(W_q q + W_k k)``, weights =
    softmax of the scores over the keys, output = weights @ value. Not in torch.

    ``W_q`` (hidden_dim, query_dim), ``W_k`` (hidden_dim, key_dim) and ``v`` (1, hidden_dim)
    are bias-free Linear layers (torch's Linear init) on ``device``. ``forward(query, key,
    value, mask=None)`` takes query (B, Tq, Dq) or (B, Dq), key (B, Tk, Dk), value (B, Tk, Dv)
    and a bool ``mask`` broadcastable to (B, Tq, Tk) where True means "may attend"
    (scaled_dot_product_attention's bool attn_mask convention). Returns ``(output, weights)``:
    (B, Tq, Dv) and (B, Tq, Tk), or (B, Dv) and (B, Tk) for a 2-D query. A row with every key
    masked gives NaN (as torch)."""

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        hidden_dim: int,
        dtype: DTypeLike | None = None,
        device: DeviceLike | None = None,
    ) -> None:
        super().__init__()
        check_device(device, "AdditiveAttention")
        self.W_q = Linear(query_dim, hidden_dim, bias=False, dtype=dtype)
        self.W_k = Linear(key_dim, hidden_dim, bias=False, dtype=dtype)
        self.v = Linear(hidden_dim, 1, bias=False, dtype=dtype)

    def forward(
        self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        q = query if isinstance(query, Tensor) else Tensor._wrap(as_array(query))
        single = q.ndim == 2
        if single:
            q = q.unsqueeze(1)
        if (
            q.ndim != 3
            or key.ndim != 3
            or value.ndim != 3
            or key.shape[:2] != value.shape[:2]
            or q.shape[0] != key.shape[0]
        ):
            raise ValueError(
                f"AdditiveAttention: need query (B, Tq, Dq), key (B, Tk, Dk), value "
                f"(B, Tk, Dv); got {tuple(query.shape)}, {tuple(key.shape)}, "
                f"{tuple(value.shape)}"
            )
        qh = self.W_q(q).unsqueeze(2)  # (B, Tq, 1, H)
        kh = self.W_k(key).unsqueeze(1)  # (B, 1, Tk, H)
        scores = self.v(ops.tanh(qh + kh)).squeeze(-1)  # (B, Tq, Tk)
        if mask is not None:
            m = as_array(mask)
            if m.dtype != np.bool_:
                raise TypeError(
                    f"AdditiveAttention: mask must be bool (True = attend), got {m.dtype}"
                )
            if single and m.ndim == 2:
                m = m[:, None, :]
            scores = ops.masked_fill(scores, ~m, float("-inf"))
        w = F.softmax(scores, dim=-1)
        out = ops.bmm(w, value)
        if single:
            return out.squeeze(1), w.squeeze(1)
        return out, w
