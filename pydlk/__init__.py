"""pydlk: a deep-learning training kit with a PyTorch-style API on NumPy arrays.

Kernels are C++17 + OpenMP (``pydlk._C``); arrays on a GPU (CuPy) take the ``pydlk._cuda`` path.
"""
from . import _blas

_blas.load()

from . import _C  # noqa: E402
from ._config import config, get_num_threads, set_num_threads, show_config  # noqa: E402
from ._random import (Generator, get_rng_state, initial_seed, manual_seed,  # noqa: E402
                      set_rng_state)
from ._device import device  # noqa: E402
from .autograd import (Function, Tensor, as_tensor, enable_grad, from_dlpack,  # noqa: E402
                       from_numpy, is_grad_enabled, no_grad, set_grad_enabled, tensor)
from .gradcheck import GradcheckError, gradcheck  # noqa: E402
from . import functional  # noqa: E402
from . import nn, optim, utils  # noqa: E402,F401
from . import distributed  # noqa: E402,F401
from . import ops  # noqa: E402
from .ops import *  # noqa: E402,F401,F403
from . import _tensor_methods  # noqa: E402,F401  (attaches the ops to Tensor; see that file)
from . import functional  # noqa: E402
from . import nn, optim, utils  # noqa: E402,F401
from .serialization import load, save  # noqa: E402,F401
from .summary import summary  # noqa: E402,F401
from . import models  # noqa: E402,F401
from . import accelerator, cuda  # noqa: E402,F401

__version__ = config()["version"]
from .functional import conv1d, conv_transpose1d, conv_transpose2d, cosine_similarity, pairwise_distance, prelu  # noqa: F401,I001
from . import vision  # noqa: E402,F401
from . import text  # noqa: E402,F401
from . import ensemble, visualize  # noqa: E402,F401
