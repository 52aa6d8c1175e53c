"""``pydlk.multiprocessing``: torch.multiprocessing, i.e. Python's ``multiprocessing`` (every
name of it: ``Process``, ``Queue``, ``Pool``, ``get_context``, ``set_start_method``, ...) with
pydlk's Tensors able to travel, plus ``spawn``/``start_processes`` (``fn(i, *args)`` in
``nprocs`` processes, a child's exception raised in the parent with its traceback) and the
sharing-strategy switches.

Importing this module registers a reducer for ``Tensor`` and ``nn.Parameter`` with
``multiprocessing``'s pickler (as torch's import does for its tensors), so they go through
queues, pipes, pools and ``spawn``'s arguments as ``pydlk.save`` pickles them: values,
``requires_grad`` and ``.grad``, a GPU tensor as a host copy that the receiver puts back on the
same GPU. A non-leaf tensor that requires grad is refused, as torch refuses it (autograd does
not cross processes; send ``t.detach()``).

Differs from torch: a tensor sent through a queue, a pipe, a pool or ``spawn``'s arguments
arrives as a copy, not as shared memory, so a write to it in one process is not seen by another
(torch moves CPU tensors into shared memory and maps CUDA memory through CUDA IPC).
``set_sharing_strategy`` is therefore recorded and checked but changes nothing. As with torch,
a child that uses the GPU must be started with 'spawn' (or 'forkserver'), not 'fork'.
"""

from __future__ import annotations

import sys
from multiprocessing import *  # noqa: F403  (torch.multiprocessing is the stdlib module and more)
from multiprocessing.reduction import ForkingPickler
from typing import Any

from .._object_pickle import reduce_tensor as _reduce_tensor
from ..autograd import Tensor
from ..nn.parameter import Parameter
from .spawn import (
    ProcessContext,
    ProcessException,
    ProcessExitedException,
    ProcessRaisedException,
    SpawnContext,
    spawn,
    start_processes,
)

# pydlk's own names; the stdlib's (Process, Queue, Pool, get_context, ...) are here as well,
# as attributes, but their documentation is Python's
__all__ = [
    "ProcessContext",
    "ProcessException",
    "ProcessExitedException",
    "ProcessRaisedException",
    "SpawnContext",
    "get_all_sharing_strategies",
    "get_sharing_strategy",
    "set_sharing_strategy",
    "spawn",
    "start_processes",
]

if sys.platform in ("darwin", "win32"):
    _sharing_strategy = "file_system"
    _all_sharing_strategies = {"file_system"}
else:
    _sharing_strategy = "file_descriptor"
    _all_sharing_strategies = {"file_descriptor", "file_system"}


def set_sharing_strategy(new_strategy: str) -> None:
    """Choose how torch would share CPU tensors between processes ('file_descriptor' or
    'file_system' on Linux); another name raises AssertionError, as torch's. pydlk sends
    tensors by value (see the module docstring), so the choice is recorded only."""
    global _sharing_strategy
    if new_strategy not in _all_sharing_strategies:
        raise AssertionError(
            f"set_sharing_strategy: invalid sharing strategy {new_strategy!r}, expected one of "
            f"{sorted(_all_sharing_strategies)}"
        )
    _sharing_strategy = new_strategy


def get_sharing_strategy() -> str:
    """The strategy :func:`set_sharing_strategy` set ('file_descriptor' on Linux by default)."""
    return _sharing_strategy


def get_all_sharing_strategies() -> set[str]:
    """The strategies this system supports, as torch lists them."""
    return set(_all_sharing_strategies)


def _reduce(t: Tensor) -> Any:
    if t.requires_grad and not t.is_leaf:
        raise RuntimeError(
            "Cowardly refusing to serialize non-leaf tensor which requires_grad, since "
            "autograd does not support crossing process boundaries.  If you just want to "
            "transfer the data, call detach() on the tensor before serializing (e.g., putting "
            "it on the queue)."
        )
    out = _reduce_tensor(t)
    if out is NotImplemented:  # a Tensor whose data is not an array: its own pickling
        return t.__reduce_ex__(4)
    return out


for _cls in (Tensor, Parameter):
    ForkingPickler.register(_cls, _reduce)
