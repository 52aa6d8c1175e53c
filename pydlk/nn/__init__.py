"""Modules, parameters, initialisation and losses (torch.nn's names)."""

import importlib as _importlib
import sys as _sys

from .. import functional  # noqa: F401
from . import utils  # noqa: F401
from .parameter import Buffer, Parameter  # noqa: F401

# `import pydlk.nn.functional as F` works as torch users write it: the same module as
# pydlk.functional under its torch name.
_sys.modules[__name__ + ".functional"] = functional
from . import (
    init,  # noqa: F401
    parallel,  # noqa: F401,E402
)
from .activation import *  # noqa: F401,F403
from .activation_extra import *  # noqa: F401,F403
from .activation_more import *  # noqa: F401,F403
from .adaptive import *  # noqa: F401,F403
from .additive_attention import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .blocks import *  # noqa: F401,F403
from .container import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .conv_extra import *  # noqa: F401,F403
from .distance import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .fold import *  # noqa: F401,F403
from .fractional_pool import *  # noqa: F401,F403
from .lazy import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .loss_more import *  # noqa: F401,F403
from .misc_more import *  # noqa: F401,F403
from .module import Module, RemovableHandle  # noqa: F401
from .normalization import *  # noqa: F401,F403
from .padding import *  # noqa: F401,F403
from .parallel import DataParallel  # noqa: F401
from .pooling import *  # noqa: F401,F403
from .pooling1d import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .rnn_cells import *  # noqa: F401,F403
from .sync_batchnorm import SyncBatchNorm  # noqa: F401
from .transformer import *  # noqa: F401,F403
from .upsampling import *  # noqa: F401,F403
from .volumetric import *  # noqa: F401,F403

# torch.nn.modules as an attribute path (``nn.modules.batchnorm._BatchNorm``); imported last, as
# it collects the classes above (an assignment, so that sorting the imports leaves it here)
modules = _importlib.import_module(__name__ + ".modules")
