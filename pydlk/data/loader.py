"""DataLoader: seeded shuffling, batches collated into contiguous float32 NCHW arrays and int64
labels, and prefetching in a background thread so the next batch is ready when a step ends."""
import queue
import threading

import numpy as np

from .. import _random
from .dataset import TensorDataset


def _normalise(a):
    a = np.asarray(a)
    if a.dtype.kind == "f" and a.dtype != np.float32:
        a = a.astype(np.float32)
    elif a.dtype.kind in "iub" and a.dtype != np.int64 and a.ndim == 1:
        a = a.astype(np.int64)  # labels
    return np.ascontiguousarray(a)


def default_collate(samples):
    """A list of samples (tuples of arrays/numbers) -> a tuple of stacked, contiguous arrays."""
    first = samples[0]
    if isinstance(first, tuple):
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
    return _normalise(np.stack([np.asarray(s) for s in samples]))


class DataLoader:
    """Iterate over ``dataset`` in batches.

    ``shuffle`` draws a fresh permutation each epoch from a seed taken from pydlk's global
    generator (so ``pydlk.manual_seed`` fixes the order), or from ``seed`` when given.
    ``transform(x, rng)`` (optional) is applied to each batch's first array, e.g. augmentation.
    ``prefetch`` batches are prepared in a background thread (0 disables the thread).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None,
                 transform=None, prefetch=2, seed=None):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be >= 0, got {prefetch}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.transform = transform
        self.prefetch = prefetch
        self.seed = seed
        self.epoch = 0
        self._position = None  # [seed, batches handed out] while an epoch is being iterated
        self._resume = None  # (seed, batches to skip) for the next iteration

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _epoch_seed(self):
        if self.seed is not None:
            return (int(self.seed) * 1_000_003 + self.epoch) & ((1 << 63) - 1)
        return int(_random.default_generator.numpy.integers(1 << 63))

    def _batches(self, order, rng):
        n = len(order)
        stop = n - n % self.batch_size if self.drop_last else n
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        for s in range(0, stop, self.batch_size):
            idx = order[s:s + self.batch_size]
            if fast:
                batch = tuple(_normalise(a) for a in self.dataset[idx])
            else:
                collate = self.collate_fn or default_collate
                batch = collate([self.dataset[int(i)] for i in idx])
            if self.transform is not None:
                batch = (self.transform(batch[0], rng),) + tuple(batch[1:])
            yield batch

    def __iter__(self):
        if self._resume is not None:  # continue an epoch a checkpoint was taken in
            seed, skip = self._resume
            self._resume = None
        else:
            seed, skip = self._epoch_seed(), 0
            self.epoch += 1
        rng = np.random.default_rng(seed)
        n = len(self.dataset)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        gen = self._batches(order, rng)
        # skipped batches are still made, so that the transform's draws from rng replay exactly
        for _ in range(skip):
            next(gen, None)
        if self.prefetch:
            gen = _prefetched(gen, self.prefetch)
        self._position = [seed, skip]
        for batch in gen:
            self._position[1] += 1  # counted as handed out: a checkpoint after its step
            yield batch
        self._position = None

    def state_dict(self):
        """The epoch count and, taken mid-epoch, the epoch's seed and the batches handed out,
        so that ``load_state_dict`` continues the same epoch with the same order."""
        state = {"epoch": self.epoch}
        if self._position is not None:
            state["seed"], state["batch"] = int(self._position[0]), int(self._position[1])
        return state

    def load_state_dict(self, state):
        self.epoch = int(state["epoch"])
        self._position = None
        self._resume = (int(state["seed"]), int(state["batch"])) if "batch" in state else None


_END = object()


def _prefetched(gen, depth):
    """Run ``gen`` in a background thread, ``depth`` items ahead; errors surface in the caller."""
    q = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work():
        try:
            for item in gen:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as e:  # handed to the consumer
            q.put(e)

    t = threading.Thread(target=work, daemon=True, name="pydlk-prefetch")
    t.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)
