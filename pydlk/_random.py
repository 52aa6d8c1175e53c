"""The global random state: ``pydlk.manual_seed`` seeds both streams.

* Philox (counter-based) streams for the kernels' random masks: a mask is a pure function of
  (seed, offset, element index), so it is the same whatever the thread count, and a backward
  pass can regenerate it. Each call takes a fresh range of offsets.
* A NumPy ``Generator`` for initialisation and shuffling on the Python side.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# torch's default seed when manual_seed was never called: runs are reproducible by default.
DEFAULT_SEED = 67280421310721


class Generator:
    """torch.Generator: ``Generator(device='cpu').manual_seed(s)``; one generator serves both
    devices (GPU kernels draw from the same Philox stream), so ``device`` is only recorded."""

    def __init__(self, seed: int = DEFAULT_SEED, device: str = "cpu") -> None:
        self.device = device
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)
        if seed < 0:
            seed &= (1 << 64) - 1  # torch wraps negative seeds the same way
        self._seed = seed
        self.offset = 0
        self.numpy = np.random.default_rng(seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def philox_seed_offset(self, count: int) -> tuple[int, int]:
        """(seed, offset) for a kernel that draws ``count`` numbers; advances the offset."""
        seed, offset = self._seed, self.offset
        self.offset += (int(count) + 3) // 4 * 4  # Philox yields four numbers per counter
        return seed, offset

    def get_state(self) -> dict[str, Any]:
        return {"seed": self._seed, "offset": self.offset, "numpy": self.numpy.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        self._seed = int(state["seed"])
        self.offset = int(state["offset"])
        self.numpy = np.random.default_rng()
        self.numpy.bit_generator.state = state["numpy"]


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed every pydlk random stream (kernel masks, initialisation, shuffling)."""
    return default_generator.manual_seed(seed)


def initial_seed() -> int:
    """The seed the default generator was last seeded with (torch's default if never)."""
    return default_generator.initial_seed()


def get_rng_state() -> dict[str, Any]:
    """The default generator's state, a dict (seed, Philox offset, NumPy state); torch returns
    a ByteTensor instead. Pass it to ``set_rng_state`` to replay.
    """
    return default_generator.get_state()


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state from ``get_rng_state``."""
    default_generator.set_state(state)


def seed() -> int:
    """Seed the default generator with a non-deterministic number (from the OS) and return it,
    as torch.seed."""
    import os

    s = int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)
    manual_seed(s)
    return s
