"""Modules, parameters, initialisation and losses (torch.nn's names)."""
from .parameter import Parameter  # noqa: F401
from . import utils  # noqa: F401
from .. import functional  # noqa: F401  (pydlk.nn.functional, as torch.nn.functional)
