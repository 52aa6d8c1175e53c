"""Data-parallel wrappers (torch.nn.parallel's names)."""

from .distributed import DistributedDataParallel  # noqa: F401
