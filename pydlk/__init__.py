"""pydlk: a deep-learning training kit with a PyTorch-style API on NumPy arrays.

Kernels are C++17 + OpenMP (``pydlk._C``); arrays on a GPU (CuPy) take the ``pydlk._cuda`` path.
"""
from . import _blas

_blas.load()

from . import _C  # noqa: E402
from ._config import config, get_num_threads, set_num_threads, show_config  # noqa: E402
from ._random import (get_rng_state, initial_seed, manual_seed,  # noqa: E402
                      set_rng_state)
from .autograd import (Function, Tensor, as_tensor, enable_grad, from_dlpack,  # noqa: E402
                       from_numpy, is_grad_enabled, no_grad, set_grad_enabled, tensor)
from .gradcheck import GradcheckError, gradcheck  # noqa: E402
from . import functional  # noqa: E402
from . import nn, optim, utils  # noqa: E402,F401
from . import distributed  # noqa: E402,F401
from . import ops  # noqa: E402
from .ops import *  # noqa: E402,F401,F403
from .serialization import load, save  # noqa: E402,F401
from .summary import summary  # noqa: E402,F401
from . import models  # noqa: E402,F401

__version__ = config()["version"]
