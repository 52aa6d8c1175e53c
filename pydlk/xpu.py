"""``torch.xpu``: Intel's GPU device, which pydlk does not have (it runs on the CPU and on
NVIDIA GPUs), so that device-selection code asking ``torch.xpu.is_available()`` runs."""

__all__ = ["current_device", "device_count", "is_available", "is_initialized"]


def is_available() -> bool:
    """Always False: pydlk has no XPU device."""
    return False


def is_initialized() -> bool:
    """Always False."""
    return False


def device_count() -> int:
    """Always 0."""
    return 0


def current_device() -> int:
    """Raises RuntimeError, as torch's does without XPU support."""
    raise RuntimeError("pydlk.xpu.current_device: pydlk has no XPU backend (no XPU device)")
