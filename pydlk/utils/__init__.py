"""torch.utils's import path for the data pipeline: ``pydlk.utils.data`` is ``pydlk.data``, and
its submodules are ``pydlk.data``'s (``pydlk.utils.data.dataloader``, ``.dataset``,
``.sampler``, ``.distributed``), the same module objects, so classes imported either way are
the same classes. ``pydlk.utils.checkpoint`` is there after ``import pydlk``, as
``torch.utils.checkpoint`` is after ``import torch``. ``pydlk.utils.tensorboard``
(torch.utils.tensorboard's ``SummaryWriter``) is imported when first used, so that
``import pydlk`` does not import the tensorboard package."""

import sys as _sys

from .. import data  # noqa: F401
from ..data import dataloader, dataset, distributed, sampler
from . import checkpoint  # noqa: F401

_sys.modules[__name__ + ".data"] = data
for _m in (dataloader, dataset, distributed, sampler):
    _sys.modules[__name__ + ".data." + _m.__name__.rsplit(".", 1)[1]] = _m
del _m, dataloader, dataset, distributed, sampler


def __getattr__(name):
    # pydlk.utils.tensorboard imports tensorboard (an optional extra): it is imported when first
    # used, so that `import pydlk` does not import tensorboard
    if name == "tensorboard":
        import importlib

        try:
            return importlib.import_module(__name__ + ".tensorboard")
        except ImportError as e:  # hasattr(pydlk.utils, 'tensorboard') is False without it
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}: {e}") from e
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
