"""Switches for how the kernels compute, as ``torch.backends``: ``pydlk.backends.cpu``."""

from . import cpu

__all__ = ["cpu"]
