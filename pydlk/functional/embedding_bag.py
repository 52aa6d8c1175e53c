"""embedding_bag (torch.nn.functional.embedding_bag): the sum, mean or max of each bag of
embedding rows, composed from ``embedding`` and differentiable segment reductions."""

from __future__ import annotations

import numpy as np

from .._backend import get_array_module
from ..autograd import Tensor
from ..ops.scatter_extra import index_add, scatter_reduce
from ._util import array_of, check_float
from .embedding import embedding

__all__ = ["embedding_bag"]


def _bags(idx, offsets, include_last_offset, n_total, xp):
    """(bag of each index, number of bags) from 1-d offsets, checked as torch checks them."""
    off = array_of(offsets)
    if not hasattr(off, "dtype") or off.dtype.kind not in "iu" or off.ndim != 1:
        raise TypeError("embedding_bag: offsets must be a 1-d integer tensor")
    off = xp.asarray(off, dtype=np.int64)
    if include_last_offset:
        if off.shape[0] < 1:
            raise ValueError("embedding_bag: include_last_offset needs at least one offset")
        off = off[:-1]
    nb = int(off.shape[0])
    if nb and int(off[0]) != 0:
        raise ValueError(f"embedding_bag: offsets[0] has to be 0, got {int(off[0])}")
    if nb and (bool((off[1:] < off[:-1]).any()) or int(off[-1]) > n_total):
        raise ValueError(
            f"embedding_bag: offsets must be non-decreasing and at most the input's length "
            f"{n_total}"
        )
    # bag of position p: the number of offsets <= p, minus one
    bag = xp.searchsorted(off, xp.arange(n_total), side="right") - 1
    return bag.astype(np.int64), nb


def embedding_bag(
    input: Tensor,
    weight: Tensor,
    offsets: Tensor | None = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Tensor | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Tensor:
    """The ``mode`` ('sum', 'mean' or 'max') of each bag of rows of ``weight``, as torch: a 2-d
    ``input`` (B, N) has one bag per row (``offsets`` must be None); a 1-d input is split into
    bags at ``offsets`` (``include_last_offset``: the last offset closes the last bag).
    ``per_sample_weights`` (input's shape, mode 'sum' only) scales each row; entries equal to
    ``padding_idx`` are left out (they count for no mean); an empty bag gives zeros. Differs
    from torch: max_norm, scale_grad_by_freq and sparse are refused, as in ``embedding``."""
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    w = check_float(weight, "embedding_bag", "weight")
    if w.ndim != 2:
        raise ValueError(f"embedding_bag: weight must be 2-D, got shape {tuple(w.shape)}")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise ValueError("embedding_bag: max_norm, scale_grad_by_freq and sparse are not supported")
    idx = array_of(input)
    xp = get_array_module(w)
    if not hasattr(idx, "dtype") or idx.dtype.kind not in "iu":
        raise TypeError("embedding_bag: input must be an integer tensor")
    idx = xp.asarray(idx, dtype=np.int64)
    if per_sample_weights is not None and mode != "sum":
        raise ValueError(
            f"embedding_bag: per_sample_weights is only supported for mode='sum', got mode={mode!r}"
        )
    if per_sample_weights is not None and tuple(per_sample_weights.shape) != tuple(idx.shape):
        raise ValueError(
            f"embedding_bag: per_sample_weights of shape {tuple(per_sample_weights.shape)} "
            f"must match the input's shape {tuple(idx.shape)}"
        )
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: offsets must be None for a 2-d input")
        nb, per = idx.shape
        bag = xp.repeat(xp.arange(nb, dtype=np.int64), per)
    elif idx.ndim == 1:
        if offsets is None:
            raise ValueError("embedding_bag: a 1-d input needs offsets")
        bag, nb = _bags(idx, offsets, include_last_offset, idx.shape[0], xp)
    else:
        raise ValueError(f"embedding_bag: input must be 1-d or 2-d, got {idx.ndim} dims")
    flat = idx.reshape(-1)
    n = w.shape[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError("embedding_bag: padding_idx must be within num_embeddings")
        padding_idx %= n
    keep = xp.ones(flat.shape, bool) if padding_idx is None else flat != padding_idx
    wt = weight if isinstance(weight, Tensor) else Tensor(weight)
    sel = xp.nonzero(keep)[0]
    rows = embedding(Tensor._wrap(flat[sel]), wt)  # (kept, D)
    if per_sample_weights is not None:
        psw = (
            per_sample_weights
            if isinstance(per_sample_weights, Tensor)
            else Tensor(per_sample_weights)
        )
        rows = rows * psw.reshape(-1)[Tensor._wrap(sel)].unsqueeze(1)
    b = Tensor._wrap(bag[sel])
    zeros = Tensor._wrap(xp.zeros((nb, w.shape[1]), w.dtype))
    if mode == "max":
        where = Tensor._wrap(xp.broadcast_to(bag[sel][:, None], rows.shape).copy())
        return scatter_reduce(zeros, 0, where, rows, "amax", include_self=False)
    out = index_add(zeros, 0, b, rows)
    if mode == "mean":
        count = xp.bincount(bag[sel], minlength=nb).astype(w.dtype)
        out = out / Tensor._wrap(xp.maximum(count, 1)[:, None])
    return out
