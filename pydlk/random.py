"""``pydlk.random``: torch.random, the default generator's state and ``fork_rng``.

pydlk has one generator (``pydlk._random.default_generator``) for the CPU and the GPU: the GPU
kernels draw from the same Philox (seed, offset) stream, so the functions here and those of
``pydlk.cuda`` (``get_rng_state``, ``seed``, ...) act on the same state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from ._random import (
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)

__all__ = [
    "default_generator",
    "fork_rng",
    "get_rng_state",
    "initial_seed",
    "manual_seed",
    "seed",
    "set_rng_state",
]


@contextlib.contextmanager
def fork_rng(
    devices: Iterable[Any] | None = None,
    enabled: bool = True,
    _caller: str = "fork_rng",
    _devices_kw: str = "devices",
    device_type: str = "cuda",
) -> Iterator[None]:
    """``with pydlk.random.fork_rng():`` the random state is saved on entry and restored on exit,
    so the draws inside leave the stream outside unchanged. ``enabled=False`` does nothing.

    ``devices`` and ``device_type`` are accepted for torch's signature: the one generator serves
    every device, so its state is all there is to save.
    """
    if not enabled:
        yield
        return
    state = default_generator.get_state()
    try:
        yield
    finally:
        default_generator.set_state(state)
