"""Optimisers on a flat parameter arena, and learning-rate schedules (torch.optim).

See pydlk.optim.optimizer for the arena and how it differs from torch."""

from . import lr_scheduler, swa_utils  # noqa: F401
from ._fused import SGD, Adagrad, Adam, AdamW, RMSprop  # noqa: F401
from .adadelta import Adadelta  # noqa: F401
from .adafactor import Adafactor  # noqa: F401
from .adam_variants import Adamax, NAdam, RAdam  # noqa: F401
from .asgd import ASGD  # noqa: F401
from .lbfgs import LBFGS  # noqa: F401
from .muon import Muon  # noqa: F401
from .newton import BFGS, Newton  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
from .sparse_rprop import Rprop, SparseAdam  # noqa: F401

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "LBFGS",
    "lr_scheduler",
    "swa_utils",
]
__all__ += ["Adadelta", "Adamax", "ASGD", "NAdam", "RAdam", "Rprop", "SparseAdam"]
__all__ += ["Adafactor", "Muon"]
from .inverse_sqrt import InverseSqrtLR  # noqa: F401
from .proximal import ProximalL1, prox_l1_  # noqa: F401
