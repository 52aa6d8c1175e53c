"""DistributedSampler: each rank draws its share of a data set's indices (torch's semantics)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["DistributedSampler"]


class DistributedSampler:
    """torch.utils.data.DistributedSampler: the indices of ``dataset`` split over
    ``num_replicas`` ranks, a disjoint share each.

    Per epoch the (shuffled) index list is padded by repeating its start until its length is a
    multiple of ``num_replicas`` (or, with ``drop_last``, cut to the largest multiple), and rank
    r takes every ``num_replicas``-th index from position r. So without ``drop_last`` every
    index appears at least once across ranks (exactly once when the size divides evenly), and
    every rank gets ``len(self)`` indices. ``set_epoch(e)`` before each epoch gives a fresh
    permutation, the same on every rank (seeded by ``seed + epoch``).

    Differs from torch: the permutation comes from NumPy's ``default_rng(seed + epoch)``, not
    torch's ``randperm``, so the order differs from torch's for the same seed (the sizes,
    padding and striding rules are torch's). ``num_replicas``/``rank`` default to the launcher's
    world size and rank (see ``pydlk.distributed.get_rank``) even before
    ``init_process_group``.

    An iterable of int indices with ``__len__``: pass it as a DataLoader's ``sampler=``, or index
    the data set with it.
    """

    def __init__(
        self,
        dataset: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        from .. import distributed as dist

        if num_replicas is None:
            num_replicas = dist.get_world_size()
        if rank is None:
            rank = dist.get_rank()
        if not isinstance(num_replicas, (int, np.integer)) or num_replicas < 1:
            raise ValueError(
                f"DistributedSampler: num_replicas must be a positive integer, got {num_replicas!r}"
            )
        if not isinstance(rank, (int, np.integer)) or rank >= num_replicas or rank < 0:
            raise ValueError(
                f"DistributedSampler: Invalid rank {rank}, rank should be in the "
                f"interval [0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.epoch = 0
        self.drop_last = bool(drop_last)
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = bool(shuffle)
        self.seed = int(seed)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 array."""
        n = len(self.dataset)
        if self.shuffle:
            idx = np.random.default_rng(self.seed + self.epoch).permutation(n).astype(np.int64)
        else:
            idx = np.arange(n, dtype=np.int64)
        if not self.drop_last:
            pad = self.total_size - n
            if pad > 0:
                reps = math.ceil(pad / n) if n else 0
                idx = np.concatenate([idx, np.tile(idx, reps)[:pad]])
        else:
            idx = idx[: self.total_size]
        return idx[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next permutation (call at each epoch's start, on every rank)."""
        self.epoch = int(epoch)
