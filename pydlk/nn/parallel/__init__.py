"""Data-parallel wrappers (torch.nn.parallel's names)."""

from .data_parallel import DataParallel, data_parallel  # noqa: F401
from .distributed import DistributedDataParallel  # noqa: F401
