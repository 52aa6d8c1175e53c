"""torch.utils's import path for the data pipeline: ``pydlk.utils.data`` is ``pydlk.data``."""

import sys as _sys

from .. import data  # noqa: F401

_sys.modules[__name__ + ".data"] = data
