"""What ``pydlk.train.fit`` needs to run under ``mpiexec``: every rank trains, rank 0 alone
prints, draws and writes files, and the epoch's loss and metrics are averaged over all ranks.

Each helper is the identity in a single process (no process group, or one rank), so ``fit``
calls them unconditionally.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import process_group as _pg

__all__ = [
    "average_logs",
    "data_parallel",
    "is_main_process",
    "rank_zero_callbacks",
    "set_epoch",
    "sum_across_ranks",
]

# callbacks that print or write files: run on rank 0 only (any callback class can opt in with
# a ``rank_zero_only = True`` attribute)
_RANK_ZERO = ("ProgressBar", "ModelCheckpoint", "CSVLogger")


def _active() -> bool:
    return _pg._group is not None and _pg._group.size > 1


def is_main_process() -> bool:
    """True on rank 0 (and in a single process): the rank that prints and writes."""
    return _pg.get_rank() == 0


def rank_zero_callbacks(callbacks: list) -> list:
    """``callbacks`` on rank 0; on other ranks without those that print or write files
    (ProgressBar, ModelCheckpoint, CSVLogger, and any with ``rank_zero_only = True``). Callbacks
    that decide (EarlyStopping) stay on every rank: they see the same averaged logs."""
    if is_main_process():
        return list(callbacks)
    return [
        c
        for c in callbacks
        if not (type(c).__name__ in _RANK_ZERO or getattr(c, "rank_zero_only", False))
    ]


def sum_across_ranks(*values: float) -> tuple:
    """The sums over all ranks of the given numbers (one all-reduce; float64)."""
    if not _active():
        return values
    from .collectives import all_reduce

    a = np.array(values, np.float64)
    all_reduce(a)
    return tuple(type(v)(x) if isinstance(v, int) else float(x) for v, x in zip(values, a))


def average_logs(logs: dict) -> dict:
    """Each numeric entry of ``logs`` averaged over the ranks (same keys on every rank)."""
    if not _active() or not logs:
        return logs
    keys = sorted(logs)
    vals = sum_across_ranks(*[float(logs[k]) for k in keys])
    n = _pg._group.size  # type: ignore[union-attr]  # _active() checked that a group is set
    return {k: v / n for k, v in zip(keys, vals)} | {k: logs[k] for k in logs if k not in keys}


def set_epoch(loader: Any, epoch: int) -> None:
    """Call ``set_epoch(epoch)`` on the loader's sampler when it has one (DistributedSampler
    needs it for a fresh shuffle each epoch; torch leaves this call to the user's loop)."""
    sampler = getattr(loader, "sampler", None)
    if sampler is not None and hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def data_parallel(model: Any, dataset: Any, batch_size: int, **loader_kwargs: Any) -> tuple:
    """``(model, train_loader)`` for a training job, data-parallel when launched by ``mpiexec``
    with more than one rank, plain otherwise.

    Under ``mpiexec -n N``: the process group is initialised, batch norms become
    ``SyncBatchNorm``, the model is wrapped in ``DistributedDataParallel`` and each rank loads
    ``batch_size // N`` samples per step from its ``DistributedSampler`` share, so the global
    batch, the batch statistics and the averaged gradient are those of the one-process job.
    In one process: the model unchanged and a shuffling ``DataLoader``.
    """
    from ..data import DataLoader

    if _pg.get_world_size() <= 1:
        return model, DataLoader(dataset, batch_size=batch_size, shuffle=True, **loader_kwargs)
    from ..data import DistributedSampler
    from ..nn import SyncBatchNorm
    from ..nn.parallel import DistributedDataParallel

    if not _pg.is_initialized():
        _pg.init_process_group("mpi")
    world = _pg.get_world_size()
    if batch_size % world:
        raise ValueError(
            f"data_parallel: batch_size {batch_size} does not split evenly over {world} ranks"
        )
    model = DistributedDataParallel(SyncBatchNorm.convert_sync_batchnorm(model))
    # every rank seeded pydlk alike, so every rank draws the same sampler seed here
    from .. import _random

    seed = int(_random.default_generator.numpy.integers(1 << 31))
    sampler = DistributedSampler(dataset, shuffle=True, seed=seed)
    loader = DataLoader(dataset, batch_size=batch_size // world, sampler=sampler, **loader_kwargs)
    return model, loader
