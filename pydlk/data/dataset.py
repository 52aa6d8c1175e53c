"""Map-style datasets: anything with ``__len__`` and ``__getitem__`` (torch's protocol)."""

import numpy as np

from ..autograd import Tensor


class Dataset:
    """Base class of map-style datasets; ``a + b`` is ``ConcatDataset([a, b])`` as in torch.
    As torch's, it defines no ``__len__``: ``len()`` of a dataset without one is a TypeError,
    which ``list()`` of a DataLoader over an IterableDataset relies on."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        return ConcatDataset([self, other])


def _array(a):
    return a._data if isinstance(a, Tensor) else np.asarray(a)


class TensorDataset(Dataset):
    """Samples are rows of the given arrays (all with the same first dimension), as Tensors.

    Indexing with an array of indices returns whole batches at once, which the DataLoader uses
    instead of collating one sample at a time.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: need at least one array")
        self.arrays = tuple(_array(a) for a in arrays)
        n = len(self.arrays[0])
        for i, a in enumerate(self.arrays):
            if len(a) != n:
                raise ValueError(f"TensorDataset: array {i} has {len(a)} rows, array 0 has {n}")

    def __getitem__(self, index):
        # Tensors, as torch's TensorDataset gives (a NumPy scalar row becomes a 0-d array)
        rows = (a[index] for a in self.arrays)
        return tuple(Tensor._wrap(np.asarray(r) if isinstance(r, np.generic) else r) for r in rows)

    def __len__(self):
        return len(self.arrays[0])

    @property
    def tensors(self):
        """The stored arrays as Tensors sharing their memory (torch's attribute)."""
        return tuple(Tensor._wrap(a) for a in self.arrays)


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order (torch.utils.data.Subset).
    ``indices`` is kept as given (``random_split`` gives a list of ints); an index drawn from a
    NumPy array reaches the dataset as a Python int. A list (or array) index gives the
    dataset's item at those positions, one call."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[_int(self.indices[i]) for i in index]]
        if isinstance(index, np.ndarray):
            return self.dataset[np.asarray(self.indices, dtype=np.int64)[index]]
        return self.dataset[_int(self.indices[index])]

    def __len__(self):
        return len(self.indices)


def _int(i):
    """A NumPy integer as a Python int (torch's datasets receive ints); anything else as is."""
    return int(i) if isinstance(i, np.integer) else i


def random_split(dataset, lengths, generator=None, seed=0):
    """Split into non-overlapping Subsets of the given lengths (or fractions summing to 1).

    The permutation comes from ``generator`` (a ``pydlk.Generator``) when given, else from a
    generator seeded with ``seed``. Differs from torch: without a generator torch draws from
    its global generator; pydlk's default split is fixed (seed 0) so a validation split stays
    the same across runs.
    """
    n = len(dataset)
    lengths = list(lengths)
    if all(isinstance(x, float) for x in lengths) and abs(sum(lengths) - 1) < 1e-9:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths sum to {sum(lengths)}, dataset has {n} samples")
    rng = (
        np.random.default_rng(seed) if generator is None else getattr(generator, "numpy", generator)
    )
    perm = rng.permutation(n)
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[start : start + k].tolist()))
        start += k
    return out


class IterableDataset(Dataset):
    """A dataset that is a stream: ``__iter__`` yields samples. With ``num_workers > 0`` each
    worker iterates its own copy; use ``get_worker_info()`` to give each worker a shard."""

    def __iter__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise TypeError("IterableDataset: samples are read by iterating, not by index")

    def __add__(self, other):
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """The samples of several IterableDatasets, one stream after the other (torch's
    ChainDataset); ``a + b`` of two IterableDatasets makes one."""

    def __init__(self, datasets):
        super().__init__()
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self):
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)
        return total


class ConcatDataset(Dataset):
    """The samples of several map-style datasets, one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset: does not support IterableDataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError(
                    "ConcatDataset: absolute value of index should not exceed dataset length"
                )
            idx += len(self)
        d = int(np.searchsorted(self.cumulative_sizes, idx, side="right"))
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][idx - start]


class StackDataset(Dataset):
    """Several datasets of one length side by side (torch's StackDataset): sample ``i`` is
    ``(a[i], b[i], ...)`` for ``StackDataset(a, b, ...)``, or ``{"x": a[i], ...}`` for
    ``StackDataset(x=a, ...)``. Raises ValueError for mixed or no datasets, or unequal lengths."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError(
                "Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) like "
                "input/output, but both types are given."
            )
        if not args and not kwargs:
            raise ValueError("At least one dataset should be passed")
        parts = list(args) if args else list(kwargs.values())
        self._length = len(parts[0])
        if any(self._length != len(d) for d in parts):
            raise ValueError("Size mismatch between datasets")
        self.datasets = args if args else kwargs

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self):
        return self._length
