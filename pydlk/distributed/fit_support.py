"""What ``pydlk.train.fit`` needs to run under ``mpiexec``: every rank trains, rank 0 alone
prints, draws and writes files, and the epoch's loss and metrics are those of the union of the
ranks' shards: counts and sums are added over ranks before any ratio is taken (a loss is the
summed loss over the summed sample count; precision or F1 come from the summed confusion
matrix), never an average of per-rank ratios, which is wrong when shards differ in size and for
any metric that is not a plain mean.

Each helper is the identity in a single process (no process group, or one rank), so ``fit``
calls them unconditionally.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import process_group as _pg

__all__ = [
    "barrier",
    "broadcast_from_rank_zero",
    "broadcast_model",
    "data_parallel",
    "eval_shard",
    "is_main_process",
    "rank_zero_callbacks",
    "set_epoch",
    "sum_across_ranks",
    "sum_metric_states",
    "unwrap",
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


def sum_metric_states(metrics: list) -> None:
    """Replace each metric's state (``pydlk.metrics``: arrays of counts and sums) by its sum
    over all ranks, in one all-reduce; ``compute()`` then gives the figure of the whole data.
    Counts travel as float64, exact up to 2**53."""
    if not _active() or not metrics:
        return
    from .collectives import all_reduce

    states = [m.state for m in metrics]
    parts = [np.asarray(v, np.float64).reshape(-1) for st in states for v in st.values()]
    if not parts:
        return
    flat = np.concatenate(parts)
    all_reduce(flat)
    off = 0
    for m, st in zip(metrics, states):
        new = {}
        for k, v in st.items():
            v = np.asarray(v)
            new[k] = flat[off : off + v.size].reshape(v.shape).astype(v.dtype)
            off += v.size
        m.state = new


def barrier() -> None:
    """Wait for every rank (nothing in a single process)."""
    if _active():
        from .collectives import barrier as _barrier

        _barrier()


def broadcast_from_rank_zero(value: Any) -> Any:
    """Rank 0's value of a number or flag on every rank (the value itself in one process)."""
    if not _active():
        return value
    from .collectives import broadcast

    a = np.array([float(value)], np.float64)
    broadcast(a, src=0)
    return type(value)(a[0])


def broadcast_model(model: Any) -> None:
    """Copy rank 0's parameters and buffers into ``model`` on every rank (a
    ``DistributedDataParallel``; any other model is left alone)."""
    from ..nn.parallel import DistributedDataParallel

    if _active() and isinstance(model, DistributedDataParallel):
        model._broadcast_state()


def unwrap(model: Any) -> Any:
    """The module inside a ``DistributedDataParallel``; any other model as it is. Checkpoints
    hold the unwrapped module's state, so they load into the same model in any world size."""
    from ..nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def eval_shard(dataset: Any) -> Any:
    """This rank's share of an evaluation data set: every ``world_size``-th sample from
    ``rank`` (no padding, unlike ``DistributedSampler``: each sample is counted exactly once
    when the ranks' counts are summed; shards may differ by one sample). The data set itself
    in one process or before the process group exists (``data_parallel`` creates it)."""
    if not _active():
        return dataset
    from ..data import Subset

    return Subset(dataset, np.arange(_pg.get_rank(), len(dataset), _pg.get_world_size()))


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
