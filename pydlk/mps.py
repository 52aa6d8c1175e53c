"""``torch.mps``: Apple's Metal device, which pydlk does not have (see pydlk.backends.mps)."""

__all__ = ["device_count", "is_available", "synchronize"]


def is_available() -> bool:
    """Always False: pydlk has no MPS device."""
    return False


def device_count() -> int:
    """Always 0."""
    return 0


def synchronize() -> None:
    """Raises RuntimeError, as torch's does without an MPS backend."""
    raise RuntimeError("pydlk.mps.synchronize: pydlk has no MPS backend (no MPS device)")
