"""word2vec skip-gram with negative sampling (Mikolov et al., 2013)."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import ops
from .._typing import DTypeLike, TensorOrArrayLike
from ..autograd import Tensor
from ..nn.module import Module
from ..nn.parameter import Parameter

__all__ = [
    "SkipGramNegativeSampling",
    "negative_sampling_distribution",
    "sample_negatives",
    "skipgram_pairs",
]


def negative_sampling_distribution(counts: TensorOrArrayLike, power: float = 0.75) -> np.ndarray:
    """Noise distribution ``P(w) = count(w)**power / sum_v count(v)**power`` (word2vec's
    unigram^0.75 table, as probabilities rather than a 1e8-entry table)."""
    c = np.asarray(counts, np.float64)
    if c.ndim != 1 or np.any(c < 0) or c.sum() <= 0:
        raise ValueError(
            "negative_sampling_distribution: counts must be a 1-D array of "
            "non-negative counts with a positive sum"
        )
    p = c**power
    return p / p.sum()


def sample_negatives(
    probs: np.ndarray, shape: int | tuple[int, ...], rng: np.random.Generator | None = None
) -> np.ndarray:
    """int64 word ids of ``shape`` drawn i.i.d. from ``probs`` (one inverse-CDF search each)."""
    rng = rng if rng is not None else np.random.default_rng()
    cdf = np.cumsum(probs)
    ids = np.searchsorted(cdf, rng.random(shape) * cdf[-1], side="right")
    return np.minimum(ids, len(probs) - 1).astype(np.int64)


def skipgram_pairs(
    tokens: TensorOrArrayLike, window: int = 2, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(center, context) int64 arrays of every pair within ``window`` of each other in the id
    sequence ``tokens``. With ``rng``, each center's window is shrunk to a uniform random size
    in [1, window] as word2vec does (nearer words are sampled more often)."""
    t = np.asarray(tokens, np.int64)
    centers, contexts = [], []
    n = len(t)
    sizes = rng.integers(1, window + 1, n) if rng is not None else np.full(n, window)
    for d in range(1, window + 1):
        if d >= n:
            break
        for a, b in ((np.arange(n - d), np.arange(d, n)), (np.arange(d, n), np.arange(n - d))):
            keep = sizes[a] >= d
            centers.append(t[a[keep]])
            contexts.append(t[b[keep]])
    if not centers:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(centers), np.concatenate(contexts)


class SkipGramNegativeSampling(Module):
    """Input vectors ``in_embed`` (v, for centers) and output vectors ``out_embed`` (u, for
    contexts), both (num_embeddings, embedding_dim). ``forward(center (B,), context (B,),
    negatives (B, K))`` returns the mean over the batch of the SGNS loss

        -log sigma(u_o . v_c) - sum_k log sigma(-u_k . v_c)

    Initialised as word2vec: v ~ U(-0.5/D, 0.5/D), u = 0. ``embeddings()`` gives v, the
    vectors usually kept."""

    def __init__(
        self, num_embeddings: int, embedding_dim: int, dtype: DTypeLike = np.float32
    ) -> None:
        super().__init__()
        if num_embeddings < 1 or embedding_dim < 1:
            raise ValueError(
                f"SkipGramNegativeSampling: num_embeddings and embedding_dim must "
                f"be positive, got {num_embeddings}, {embedding_dim}"
            )
        from .._random import default_generator

        g = default_generator.numpy
        self.in_embed = Parameter(
            g.uniform(
                -0.5 / embedding_dim, 0.5 / embedding_dim, (num_embeddings, embedding_dim)
            ).astype(dtype)
        )
        self.out_embed = Parameter(np.zeros((num_embeddings, embedding_dim), dtype))

    def forward(
        self, center: TensorOrArrayLike, context: TensorOrArrayLike, negatives: TensorOrArrayLike
    ) -> Tensor:
        c, o, neg = (
            np.asarray(a._data if isinstance(a, Tensor) else a)
            for a in (center, context, negatives)
        )
        if c.ndim != 1 or o.shape != c.shape or neg.ndim != 2 or neg.shape[0] != c.shape[0]:
            raise ValueError(
                f"SkipGramNegativeSampling: need center (B,), context (B,), "
                f"negatives (B, K); got {c.shape}, {o.shape}, {neg.shape}"
            )
        v = F.embedding(Tensor._wrap(c), self.in_embed)  # (B, D)
        u_o = F.embedding(Tensor._wrap(o), self.out_embed)  # (B, D)
        u_k = F.embedding(Tensor._wrap(neg), self.out_embed)  # (B, K, D)
        pos = (v * u_o).sum(-1)
        negs = ops.bmm(u_k, v.unsqueeze(2)).squeeze(2)  # (B, K)
        # -log sigma(s) = softplus(-s); -log sigma(-s) = softplus(s)
        loss = F.softplus(-pos) + F.softplus(negs).sum(-1)
        return loss.mean()

    def embeddings(self) -> np.ndarray:
        return self.in_embed.detach().numpy()
