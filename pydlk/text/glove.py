"""GloVe (Pennington, Socher and Manning, 2014): weighted least squares on log co-occurrences."""

from __future__ import annotations

import numpy as np

from .._typing import DTypeLike, TensorOrArrayLike
from ..autograd import Tensor
from ..nn.module import Module
from ..nn.parameter import Parameter

__all__ = ["GloVe", "cooccurrence_matrix", "glove_loss", "glove_weight"]


def cooccurrence_matrix(tokens: TensorOrArrayLike, vocab_size: int, window: int = 5) -> np.ndarray:
    """Symmetric co-occurrence counts X (V, V) of the id sequence ``tokens``; a pair ``d`` words
    apart adds ``1/d`` (GloVe's distance weighting)."""
    t = np.asarray(tokens, np.int64)
    X = np.zeros((vocab_size, vocab_size))
    for d in range(1, window + 1):
        if d >= len(t):
            break
        np.add.at(X, (t[:-d], t[d:]), 1.0 / d)
        np.add.at(X, (t[d:], t[:-d]), 1.0 / d)
    return X


def glove_weight(
    x: TensorOrArrayLike | float, x_max: float = 100.0, alpha: float = 0.75
) -> np.ndarray:
    """``f(x) = (x / x_max)**alpha`` for x < x_max, else 1."""
    a = np.asarray(x, np.float64)
    return np.minimum((a / x_max) ** alpha, 1.0)


def glove_loss(
    w_i: Tensor,
    w_j: Tensor,
    b_i: Tensor,
    b_j: Tensor,
    x_ij: TensorOrArrayLike,
    x_max: float = 100.0,
    alpha: float = 0.75,
    reduction: str = "sum",
) -> Tensor:
    """``sum_ij f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2`` over the given nonzero pairs:
    ``w_i, w_j`` (P, D), ``b_i, b_j`` (P,), counts ``x_ij`` (P,) > 0. 'mean' divides by P."""
    x = np.asarray(x_ij._data if isinstance(x_ij, Tensor) else x_ij, np.float64)
    if np.any(x <= 0):
        raise ValueError("glove_loss: x_ij must be positive (only nonzero co-occurrences enter)")
    if reduction not in ("sum", "mean"):
        raise ValueError(f"glove_loss: reduction must be 'sum' or 'mean', got {reduction!r}")
    dt = w_i.dtype
    f = Tensor._wrap(glove_weight(x, x_max, alpha).astype(dt))
    logx = Tensor._wrap(np.log(x).astype(dt))
    r = (w_i * w_j).sum(-1) + b_i + b_j - logx
    loss = (f * r * r).sum()
    return loss / float(len(x)) if reduction == "mean" else loss


class GloVe(Module):
    """Word vectors ``w``, context vectors ``w_tilde`` and their biases; ``forward(i, j, x)``
    is ``glove_loss`` on the pairs (i, j) with counts x. ``embeddings()`` is ``w + w_tilde``,
    the sum the paper uses."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        x_max: float = 100.0,
        alpha: float = 0.75,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        from .._random import default_generator

        g = default_generator.numpy
        s = 0.5 / embedding_dim
        self.w = Parameter(g.uniform(-s, s, (num_embeddings, embedding_dim)).astype(dtype))
        self.w_tilde = Parameter(g.uniform(-s, s, (num_embeddings, embedding_dim)).astype(dtype))
        self.b = Parameter(np.zeros(num_embeddings, dtype))
        self.b_tilde = Parameter(np.zeros(num_embeddings, dtype))
        self.x_max, self.alpha = x_max, alpha

    def forward(
        self,
        i: TensorOrArrayLike,
        j: TensorOrArrayLike,
        x: TensorOrArrayLike,
        reduction: str = "mean",
    ) -> Tensor:
        ii = np.asarray(i._data if isinstance(i, Tensor) else i, np.int64)
        jj = np.asarray(j._data if isinstance(j, Tensor) else j, np.int64)
        return glove_loss(
            self.w[ii],
            self.w_tilde[jj],
            self.b[ii],
            self.b_tilde[jj],
            x,
            self.x_max,
            self.alpha,
            reduction,
        )

    def embeddings(self) -> np.ndarray:
        return self.w.detach().numpy() + self.w_tilde.detach().numpy()
