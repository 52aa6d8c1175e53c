"""DataLoader worker processes: each fetches, collates and transforms the batches it is sent.

A task is ``(epoch, batch_index, indices)``; a reply is ``(epoch, batch_index, batch)``, where
``batch`` may be an ``ExceptionWrapper`` (re-raised in the main process with the worker's
traceback text) or ``IterEnd`` (an IterableDataset copy is exhausted).
"""

from __future__ import annotations

import queue
import random
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker (torch's fields)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The current worker's ``WorkerInfo`` (id, num_workers, seed, dataset), or None in the
    main process."""
    return _worker_info


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process as its type and text."""

    def __init__(self, where: str):
        # built inside an except block; RuntimeError keeps a call outside one well-defined
        self.exc_type: type[BaseException] = sys.exc_info()[0] or RuntimeError
        self.msg = f"Caught {self.exc_type.__name__} {where}.\nOriginal {traceback.format_exc()}"

    def reraise(self):
        msg = self.msg
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)  # KeyError's str() would show the repr, one line
        try:
            exc = self.exc_type(msg)
        except Exception:  # noqa: BLE001 (an exception type with a different constructor)
            exc = RuntimeError(self.msg)
        raise exc


class _KeyErrorMessage(str):
    def __repr__(self):
        return self


class IterEnd:
    """A worker's IterableDataset copy has no more samples."""


def seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed Python's, NumPy's and pydlk's global generators as torch does: ``base_seed + id``."""
    from .. import _random

    seed = (base_seed + worker_id) & ((1 << 64) - 1)
    random.seed(seed)
    _random.manual_seed(seed)
    np.random.seed(
        np.random.SeedSequence([worker_id, base_seed & 0xFFFFFFFFFFFFFFFF]).generate_state(4)
    )
    return seed


def worker_loop(
    fetcher,
    index_queue,
    result_queue,
    worker_id: int,
    num_workers: int,
    base_seed: int,
    worker_init_fn,
) -> None:
    global _worker_info
    from .._config import set_num_threads

    set_num_threads(1)  # one kernel thread per worker, as torch: workers share the cores
    seed = seed_worker(base_seed, worker_id)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, fetcher.dataset)
    init_error = None
    try:
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
    except Exception:  # noqa: BLE001 (handed to the main process)
        init_error = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
    stream, stream_epoch = None, None
    while True:
        try:
            task = index_queue.get(timeout=5.0)
        except queue.Empty:
            continue
        except (EOFError, OSError):
            return
        if task is None:
            return
        epoch, idx, indices, epoch_seed = task
        if init_error is not None:
            result_queue.put((epoch, idx, init_error))
            continue
        try:
            if fetcher.iterable:
                if stream_epoch != epoch:
                    stream, stream_epoch = fetcher.stream(), epoch
                batch = fetcher.next_from(stream, idx, epoch_seed)
            else:
                batch = fetcher.fetch(indices, idx, epoch_seed)
        except StopIteration:
            batch = IterEnd()
        except Exception:  # noqa: BLE001 (handed to the main process)
            batch = ExceptionWrapper(f"in DataLoader worker process {worker_id}")
        del indices
        result_queue.put((epoch, idx, batch))
