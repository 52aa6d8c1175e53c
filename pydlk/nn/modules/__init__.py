"""torch.nn.modules's import path: every module class of pydlk.nn, also under torch's submodule
names (``pydlk.nn.modules.linear``, ``.conv``, ``.batchnorm``, ...), so that imports written for
torch (``from torch.nn.modules.batchnorm import _BatchNorm``) work after renaming the package.

Each submodule name is this same namespace (pydlk groups its layers differently from torch)."""

import sys as _sys

from ... import nn as _nn
from .. import activation as _activation
from .. import conv as _conv
from .. import dropout as _dropout
from .. import linear as _linear
from .. import module as _module
from .. import normalization as _normalization
from .. import pooling as _pooling

_names = {k: v for k, v in vars(_nn).items() if isinstance(v, type) and not k.startswith("__")}
# torch's private base classes that user code subclasses or checks with isinstance
for _src in (_linear, _conv, _pooling, _normalization, _dropout, _activation, _module):
    for _k, _v in vars(_src).items():
        if isinstance(_v, type) and _k.startswith("_") and not _k.startswith("__"):
            _names.setdefault(_k, _v)
for _k in ("_ConvBase", "_ConvTransposeBase"):
    _names.setdefault(_k, getattr(_sys.modules[_nn.__name__ + ".conv_extra"], _k))
_names.setdefault("_ConvNd", _names["_ConvBase"])
_names.setdefault("_ConvTransposeNd", _names["_ConvTransposeBase"])
_names.setdefault("_LazyNormBase", _sys.modules[_nn.__name__ + ".lazy"]._LazyNormMixin)
globals().update(_names)
__all__ = [k for k in sorted(_names) if not k.startswith("_")]

_SUBMODULES = (
    "module",
    "linear",
    "conv",
    "batchnorm",
    "instancenorm",
    "normalization",
    "activation",
    "loss",
    "container",
    "rnn",
    "transformer",
    "dropout",
    "pooling",
    "sparse",
    "lazy",
    "upsampling",
    "flatten",
    "padding",
    "pixelshuffle",
    "distance",
    "channelshuffle",
    "fold",
    "adaptive",
)
for _s in _SUBMODULES:
    _sys.modules.setdefault(f"{__name__}.{_s}", _sys.modules[__name__])
    globals()[_s] = _sys.modules[__name__]  # nn.modules.batchnorm as an attribute too

from . import utils  # noqa: E402,F401  (torch.nn.modules.utils, a module of its own)
