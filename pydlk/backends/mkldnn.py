"""``torch.backends.mkldnn``: pydlk does not use oneDNN (its convolutions and bf16 products are
its own kernels), so ``is_available()`` is False."""

__all__ = ["is_available"]


def is_available() -> bool:
    """Always False: pydlk is not built with oneDNN (mkldnn)."""
    return False
