"""Samplers: which dataset indices a DataLoader visits, in which order (torch's names).

Random samplers draw from a ``pydlk.Generator`` (its NumPy stream); without one they take a
fresh seed from pydlk's global generator on each pass, as torch does, so ``pydlk.manual_seed``
fixes the order. The orders differ from torch's for the same seed (different generators).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import cast

import numpy as np

from .. import _random


class Sampler:
    """Base class: an iterable over dataset indices (or over lists of indices)."""

    def __init__(self, data_source=None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError


def _rng(generator: _random.Generator | None) -> np.random.Generator:
    if generator is None:
        seed = int(_random.default_generator.numpy.integers(1 << 63))
        return np.random.default_rng(seed)
    if isinstance(generator, np.random.Generator):
        return generator
    return generator.numpy


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices, or ``num_samples`` draws with replacement."""

    def __init__(
        self, data_source, replacement: bool = False, num_samples: int | None = None, generator=None
    ) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(
                f"RandomSampler: replacement should be a boolean value, got {replacement!r}"
            )
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                f"RandomSampler: num_samples should be a positive integer, got {self.num_samples!r}"
            )

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        # A DataLoader with shuffle=True hands its sampler each epoch's generator.
        rng = self.__dict__.pop("_epoch_rng", None) or _rng(self.generator)
        if self.replacement:
            yield from rng.integers(0, n, self.num_samples).tolist()
            return
        # As torch: whole permutations first, then the head of one more.
        for _ in range(self.num_samples // n):
            yield from rng.permutation(n).tolist()
        yield from rng.permutation(n)[: self.num_samples % n].tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order (no replacement)."""

    def __init__(self, indices: Sequence[int], generator=None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        for i in _rng(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in ``[0, len(weights))`` drawn with probability proportional to
    ``weights`` (with or without replacement)."""

    def __init__(
        self, weights: Sequence[float], num_samples: int, replacement: bool = True, generator=None
    ) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(
                f"WeightedRandomSampler: num_samples should be a positive integer, "
                f"got {num_samples!r}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(
                f"WeightedRandomSampler: replacement should be a boolean value, "  # noqa: TRY004 (torch's type)
                f"got {replacement!r}"
            )
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(
                f"WeightedRandomSampler: weights should be a 1-D sequence, got shape {w.shape}"
            )
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(
                "WeightedRandomSampler: weights must be finite, non-negative and not all zero"
            )
        self.weights = w
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        w, k = self.weights, self.num_samples
        rng = _rng(self.generator)
        p = w / w.sum()
        if self.replacement:
            yield from rng.choice(len(w), k, replace=True, p=p).tolist()
            return
        if k > len(w):  # raised when iterating, as torch's multinomial does
            raise RuntimeError(
                f"WeightedRandomSampler: cannot draw num_samples={k} without "
                f"replacement from {len(w)} weights"
            )
        nonzero = int((w > 0).sum())
        yield from rng.choice(len(w), min(k, nonzero), replace=False, p=p).tolist()
        if k > nonzero:  # as torch: zero-weight indices come last, once the others are drawn
            yield from rng.permutation(np.flatnonzero(w == 0))[: k - nonzero].tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``)."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(
                f"BatchSampler: batch_size should be a positive integer value, got {batch_size!r}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(
                f"BatchSampler: drop_last should be a boolean value, got "  # noqa: TRY004 (torch's type)
                f"{drop_last!r}"
            )
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list]:
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(cast(Sized, self.sampler))  # TypeError for an unsized sampler, as torch
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
