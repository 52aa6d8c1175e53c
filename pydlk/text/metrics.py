"""Perplexity of a language model."""

from __future__ import annotations

import math

import numpy as np

from .._typing import TensorOrArrayLike
from ..autograd import Tensor

__all__ = ["perplexity"]


def perplexity(
    logits_or_nll: TensorOrArrayLike | float,
    target: TensorOrArrayLike | None = None,
    ignore_index: int = -100,
) -> float:
    """``exp(mean negative log-likelihood per token)``.

    With ``target`` (int64 token ids, ``ignore_index`` left out), ``logits_or_nll`` are logits
    (..., V) and the NLL is their cross-entropy at the targets. Without, it is already the
    NLL: a scalar mean (e.g. a cross-entropy loss value) or per-token values to average."""
    a = logits_or_nll._data if isinstance(logits_or_nll, Tensor) else np.asarray(logits_or_nll)
    a = np.asarray(a, np.float64)
    if target is None:
        if a.size == 0:
            raise ValueError("perplexity: no tokens")
        return math.exp(float(a.mean()))
    t = np.asarray(target._data if isinstance(target, Tensor) else target)
    if a.shape[:-1] != t.shape:
        raise ValueError(
            f"perplexity: logits {a.shape} need targets of shape {a.shape[:-1]}, got {t.shape}"
        )
    a, t = a.reshape(-1, a.shape[-1]), t.reshape(-1)
    keep = t != ignore_index
    if not keep.any():
        raise ValueError("perplexity: every target is ignore_index")
    a, t = a[keep], t[keep]
    m = a.max(-1, keepdims=True)
    lse = (m + np.log(np.exp(a - m).sum(-1, keepdims=True)))[:, 0]
    return math.exp(float((lse - a[np.arange(len(t)), t]).mean()))
