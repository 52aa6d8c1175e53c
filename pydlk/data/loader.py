"""DataLoader with torch's arguments and semantics: samplers, default collation into pydlk
Tensors, worker processes, and pydlk's extras (a seeded per-batch ``transform``, a prefetch
thread when there are no workers, a resumable epoch counter).

Determinism: one seed per epoch (from ``seed``, else ``generator``, else pydlk's global
generator) fixes the shuffled order and, for each batch, the NumPy generator handed to
``transform`` (derived from the epoch seed and the batch's index). Batches therefore do not depend
on ``num_workers``, on which worker made them, or on the order they were made in.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np

from .. import _random
from ..autograd import Tensor
from ._collate import default_collate, default_convert
from ._worker import ExceptionWrapper, IterEnd, worker_loop
from .dataset import IterableDataset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert"]


def _transform_rng(epoch_seed: int, index: int) -> np.random.Generator:
    # A child stream per batch index: the same whatever process or order makes the batch.
    return np.random.default_rng(np.random.SeedSequence(epoch_seed, spawn_key=(index,)))


def _apply_transform(transform, batch, rng):
    """``transform(x, rng)`` on the batch's first element (on its array, wrapped back)."""
    if isinstance(batch, (list, tuple)) and not hasattr(batch, "_fields"):
        first = batch[0]
        arr = first._data if isinstance(first, Tensor) else first
        out = transform(arr, rng)
        out = (
            Tensor._wrap(out) if isinstance(first, Tensor) and not isinstance(out, Tensor) else out
        )
        return type(batch)([out, *batch[1:]])
    arr = batch._data if isinstance(batch, Tensor) else batch
    out = transform(arr, rng)
    return Tensor._wrap(out) if isinstance(batch, Tensor) and not isinstance(out, Tensor) else out


class _Fetcher:
    """Turns indices into a batch; runs in the main process, its thread or a worker."""

    def __init__(self, dataset, auto_collation, collate_fn, batch_size, drop_last, transform):
        self.dataset = dataset
        self.iterable = isinstance(dataset, IterableDataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.transform = transform
        # TensorDataset: one fancy index per array instead of collating sample by sample.
        self.fast = (
            isinstance(dataset, TensorDataset) and auto_collation and collate_fn is default_collate
        )

    def _finish(self, batch, idx, epoch_seed):
        if self.transform is not None:
            batch = _apply_transform(self.transform, batch, _transform_rng(epoch_seed, idx))
        return batch

    def fetch(self, indices, idx: int, epoch_seed: int):
        if not self.auto_collation:
            return self._finish(self.collate_fn(self.dataset[indices]), idx, epoch_seed)
        if self.fast:
            sel = np.asarray(indices, dtype=np.int64)
            batch = [Tensor._wrap(a[sel]) for a in self.dataset.arrays]
        else:
            getitems = getattr(self.dataset, "__getitems__", None)
            data = getitems(indices) if getitems is not None else [self.dataset[i] for i in indices]
            batch = self.collate_fn(data)
        return self._finish(batch, idx, epoch_seed)

    def stream(self):
        return iter(self.dataset)

    def next_from(self, stream, idx: int, epoch_seed: int):
        """The next batch of an IterableDataset; StopIteration when it is exhausted."""
        if not self.auto_collation:
            return self._finish(self.collate_fn(next(stream)), idx, epoch_seed)
        data = list(itertools.islice(stream, self.batch_size))
        if not data or (self.drop_last and len(data) < self.batch_size):
            raise StopIteration
        return self._finish(self.collate_fn(data), idx, epoch_seed)


class DataLoader:
    """Iterate over ``dataset`` in batches (torch.utils.data.DataLoader).

    Arguments, defaults and semantics are torch's. Batches are pydlk Tensors collated by
    :func:`default_collate` (dtypes kept: float64 NumPy stays float64, Python floats become
    float64 and ints int64; a tuple sample gives a list batch). A ``TensorDataset`` is gathered
    with one fancy index per array, and each Tensor wraps the gathered array without a copy.

    ``num_workers > 0`` runs worker processes (``'fork'`` on Linux unless
    ``multiprocessing_context`` says otherwise), each seeded with ``base_seed + worker_id``
    (Python's ``random``, NumPy's global generator and pydlk's generator), then
    ``worker_init_fn(worker_id)``. Each worker keeps ``prefetch_factor`` (default 2) batches in
    flight; batches arrive in order unless ``in_order=False``; an error in a worker is raised here
    with the worker's traceback in its message; ``timeout`` seconds without a batch raise
    ``RuntimeError``. ``pin_memory=True`` pins each batch (every Tensor in it, inside tuples,
    lists, dicts and namedtuples, as torch's pin-memory thread does, here in the main process)
    when CuPy sees a GPU, so ``.to('cuda', non_blocking=True)`` of it is asynchronous; without one
    it warns as torch does and does not pin.

    pydlk extras: ``transform(x, rng)`` is applied to each batch's first element (its array),
    with a NumPy generator derived from the epoch seed and the batch index, so augmented batches
    are identical for any ``num_workers``; ``prefetch`` batches are prepared in a background
    thread when ``num_workers == 0`` (0 disables the thread); ``seed`` fixes each epoch's seed
    (``seed`` and the epoch number) instead of drawing it from ``generator`` or pydlk's global
    generator; ``state_dict()`` / ``load_state_dict()`` save and restore the epoch number.
    """

    def __init__(
        self,
        dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler=None,
        batch_sampler=None,
        num_workers: int = 0,
        collate_fn: Callable | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context=None,
        generator=None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
        transform: Callable | None = None,
        prefetch: int = 2,
        seed: int | None = None,
    ):
        if batch_size is not None and (
            not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1
        ):
            raise ValueError(
                f"DataLoader: batch_size must be a positive int or None, got {batch_size!r}"
            )
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(
                f"DataLoader: num_workers option should be non-negative; use "
                f"num_workers=0 to disable multiprocessing, got {num_workers!r}"
            )
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "DataLoader: prefetch_factor option could only be specified in "
                "multiprocessing; let num_workers > 0 to enable multiprocessing"
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and (
            not isinstance(prefetch_factor, int) or prefetch_factor < 1
        ):
            raise ValueError(
                f"DataLoader: prefetch_factor must be a positive int, got {prefetch_factor!r}"
            )
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be >= 0, got {prefetch}")
        if isinstance(dataset, IterableDataset):
            if shuffle not in (None, False):
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle "
                    f"option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified sampler "
                    f"option, but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified "
                    f"batch_sampler option, but got batch_sampler={batch_sampler}"
                )
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "DataLoader: batch_sampler option is mutually exclusive with "
                    "batch_size, shuffle, sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "DataLoader: batch_size=None option disables auto-batching and is "
                "mutually exclusive with drop_last"
            )

        self._auto_shuffle = False
        if sampler is None and not isinstance(dataset, IterableDataset):
            if shuffle:
                sampler = RandomSampler(dataset, generator=generator)
                self._auto_shuffle = True
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and sampler is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.transform = transform
        self.prefetch = prefetch
        self.seed = seed
        self.epoch = 0
        self._pool: _Pool | None = None
        # [seed, batches handed out] while an epoch is being iterated
        self._position: list[int] | None = None
        self._resume: tuple[int, int] | None = None  # (seed, batches to skip) for the next pass

    # ------------------------------------------------------------------ shape of an epoch
    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (
            self.batch_size is not None and isinstance(self.dataset, IterableDataset)
        )

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    @property
    def shuffle(self) -> bool:
        return isinstance(self.sampler, RandomSampler)

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)  # type: ignore[arg-type]  # TypeError without __len__, as torch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self._index_sampler)

    def _epoch_seed(self) -> int:
        if self.seed is not None:
            return (int(self.seed) * 1_000_003 + self.epoch) & ((1 << 63) - 1)
        source = self.generator if self.generator is not None else _random.default_generator
        return int(source.numpy.integers(1 << 63))

    def _fetcher(self) -> _Fetcher:
        return _Fetcher(
            self.dataset,
            self._auto_collation,
            self.collate_fn,
            self.batch_size,
            self.drop_last,
            self.transform,
        )

    def __iter__(self) -> Iterator[Any]:
        pin = False
        if self.pin_memory:
            from .. import cuda

            pin = cuda.is_available()
            if not pin:
                warnings.warn(
                    "DataLoader: 'pin_memory' argument is set as true but no "
                    "accelerator is found, then device pinned memory won't be used.",
                    UserWarning,
                    stacklevel=2,
                )
        if self._resume is not None:  # continue an epoch a checkpoint was taken in
            seed, skip = self._resume
            self._resume = None
        else:
            seed, skip = self._epoch_seed(), 0
            self.epoch += 1
        if self._auto_shuffle:
            self.sampler._epoch_rng = np.random.default_rng(seed)
        batches = self._multi(seed, skip) if self.num_workers > 0 else self._single(seed, skip)
        if pin:
            from .._pinned import pin_batch

            batches = map(pin_batch, batches)
        return self._tracked(batches, seed, skip)

    def _tracked(self, batches: Iterator[Any], seed: int, skip: int) -> Iterator[Any]:
        # Each batch's transform stream depends only on (seed, batch index), so skipping the
        # first `skip` batches of the same order resumes an epoch exactly.
        self._position = [seed, skip]
        for batch in batches:
            self._position[1] += 1  # counted as handed out: a checkpoint after its step
            yield batch
        self._position = None

    # ------------------------------------------------------------------ main process
    def _single(self, seed: int, skip: int = 0) -> Iterator[Any]:
        fetcher = self._fetcher()
        if fetcher.iterable:
            gen = _iterable_batches(fetcher, seed)
        else:
            tasks = self._index_sampler
            if self.prefetch > 0:
                # Draw the order here, not in the thread, so a sampler that draws from pydlk's
                # global generator does so at a fixed point of the main program.
                tasks = list(tasks)
            gen = (
                fetcher.fetch(ix, i, seed)
                for i, ix in itertools.islice(enumerate(tasks), skip, None)
            )
        if self.prefetch == 0:
            yield from gen
            return
        yield from _prefetched(gen, self.prefetch)

    # ------------------------------------------------------------------ worker processes
    def _context(self):
        ctx = self.multiprocessing_context
        if ctx is None:
            return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
        if isinstance(ctx, str):
            return multiprocessing.get_context(ctx)
        return ctx

    def _multi(self, seed: int, skip: int = 0) -> Iterator[Any]:
        pool = self._pool
        if pool is None:
            pool = _Pool(
                self._context(), self._fetcher(), self.num_workers, seed, self.worker_init_fn
            )
            if self.persistent_workers:
                self._pool = pool
        tag = pool.new_epoch()
        iterable = isinstance(self.dataset, IterableDataset)
        tasks = (
            ((i, None) for i in itertools.count())
            if iterable
            else itertools.islice(enumerate(self._index_sampler), skip, None)
        )
        n = self.num_workers
        active = [True] * n
        sent: dict[int, int] = {}  # batch index -> worker
        buffer: dict[int, Any] = {}  # batch index -> batch, held back to keep the order
        rr = itertools.cycle(range(n))

        def send() -> bool:
            for _ in range(n):
                w = next(rr)
                if active[w]:
                    break
            else:
                return False
            try:
                i, ix = next(tasks)
            except StopIteration:
                return False
            pool.index_queues[w].put((tag, i, ix, seed))
            sent[i] = w
            return True

        try:
            # prefetch_factor is an int whenever num_workers > 0 (set in __init__)
            for _ in range(cast(int, self.prefetch_factor) * n):
                if not send():
                    break
            next_yield = 0 if iterable else skip
            while sent:
                if self.in_order and next_yield in buffer:
                    b = buffer.pop(next_yield)
                    del sent[next_yield]
                    next_yield += 1
                else:
                    t, i, b = pool.get(self.timeout)
                    if t != tag:
                        continue  # left over from an abandoned epoch of persistent workers
                    if isinstance(b, IterEnd):
                        active[sent[i]] = False
                    if self.in_order:
                        buffer[i] = b
                        continue
                    del sent[i]
                if isinstance(b, ExceptionWrapper):
                    b.reraise()
                send()
                if not isinstance(b, IterEnd):
                    yield b
        finally:
            if not self.persistent_workers:
                pool.shutdown()

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown()
            self._pool = None

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """The epoch count and, taken mid-epoch, the epoch's seed and the batches handed out,
        so that ``load_state_dict`` continues the same epoch with the same order."""
        state = {"epoch": self.epoch}
        if self._position is not None:
            state["seed"], state["batch"] = int(self._position[0]), int(self._position[1])
        return state

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self._position = None
        self._resume = (int(state["seed"]), int(state["batch"])) if "batch" in state else None


def _iterable_batches(fetcher: _Fetcher, seed: int):
    stream = fetcher.stream()
    for i in itertools.count():
        try:
            b = fetcher.next_from(stream, i, seed)
        except StopIteration:
            return
        yield b


class _Pool:
    """The worker processes of one DataLoader, their task queues and the shared result queue."""

    def __init__(self, ctx, fetcher, num_workers, base_seed, worker_init_fn):
        self.result_queue = ctx.Queue()
        self.index_queues, self.workers = [], []
        self.epoch = 0
        for wid in range(num_workers):
            q = ctx.Queue()
            w = ctx.Process(
                target=worker_loop,
                daemon=True,
                name=f"pydlk-worker-{wid}",
                args=(fetcher, q, self.result_queue, wid, num_workers, base_seed, worker_init_fn),
            )
            w.start()
            self.index_queues.append(q)
            self.workers.append(w)
        self.closed = False

    def new_epoch(self) -> int:
        self.epoch += 1
        return self.epoch

    def get(self, timeout: float):
        start = time.monotonic()
        while True:
            wait = 1.0 if timeout <= 0 else max(0.0, min(1.0, timeout - (time.monotonic() - start)))
            try:
                return self.result_queue.get(timeout=wait)
            except queue.Empty:
                pass
            dead = [w for w in self.workers if not w.is_alive()]
            if dead:
                pids = ", ".join(str(w.pid) for w in dead)
                codes = ", ".join(str(w.exitcode) for w in dead)
                raise RuntimeError(
                    f"DataLoader worker (pid(s) {pids}) exited unexpectedly (exit code {codes})"
                )
            if timeout > 0 and time.monotonic() - start >= timeout:
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds")

    def shutdown(self):
        if self.closed:
            return
        self.closed = True
        for q in self.index_queues:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for w in self.workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
                w.join()
        for q in (*self.index_queues, self.result_queue):
            q.cancel_join_thread()
            q.close()


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
        except BaseException as e:  # noqa: BLE001 (handed to the consumer)
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
