"""``torch.backends.mps``: Apple's Metal backend, which pydlk does not have (it runs on the CPU
and on NVIDIA GPUs), so that device-selection code such as ``'mps' if
torch.backends.mps.is_available() else 'cpu'`` runs and picks another device."""

__all__ = ["get_core_count", "get_name", "is_available", "is_built", "is_macos13_or_newer",
           "is_macos_or_newer"]  # fmt: skip


def is_available() -> bool:
    """Always False: pydlk has no MPS backend."""
    return False


def is_built() -> bool:
    """Always False: pydlk is not built with MPS."""
    return False


def is_macos_or_newer(major: int, minor: int) -> bool:
    """False, as torch's where MPS is not available."""
    return False


def is_macos13_or_newer(minor: int = 0) -> bool:
    """False, as torch's where MPS is not available."""
    return False


def get_name() -> str:
    """Raises RuntimeError: there is no MPS device."""
    raise RuntimeError("pydlk.backends.mps.get_name: pydlk has no MPS backend (no MPS device)")


def get_core_count() -> int:
    """Raises RuntimeError: there is no MPS device."""
    raise RuntimeError(
        "pydlk.backends.mps.get_core_count: pydlk has no MPS backend (no MPS device)"
    )
