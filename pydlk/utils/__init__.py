"""torch.utils's import path for the data pipeline: ``pydlk.utils.data`` is ``pydlk.data``, and
its submodules are ``pydlk.data``'s (``pydlk.utils.data.dataloader``, ``.dataset``,
``.sampler``, ``.distributed``), the same module objects, so classes imported either way are
the same classes. ``pydlk.utils.checkpoint`` is there after ``import pydlk``, as
``torch.utils.checkpoint`` is after ``import torch``."""

import sys as _sys

from .. import data  # noqa: F401
from ..data import dataloader, dataset, distributed, sampler
from . import checkpoint  # noqa: F401

_sys.modules[__name__ + ".data"] = data
for _m in (dataloader, dataset, distributed, sampler):
    _sys.modules[__name__ + ".data." + _m.__name__.rsplit(".", 1)[1]] = _m
del _m, dataloader, dataset, distributed, sampler
