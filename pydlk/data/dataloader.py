"""torch.utils.data.dataloader's import path: ``from torch.utils.data.dataloader import
default_collate`` (or ``DataLoader``, ``get_worker_info``) works unchanged."""

from ._collate import default_collate, default_convert
from ._worker import get_worker_info
from .loader import DataLoader

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]
