"""``torch.backends.mkl``: pydlk does not use Intel's MKL (its BLAS is OpenBLAS, its kernels its
own), so ``is_available()`` is False."""

__all__ = ["is_available"]


def is_available() -> bool:
    """Always False: pydlk is not built with MKL."""
    return False
