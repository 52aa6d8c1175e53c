"""The array behind a layer's argument, on the device where it lives."""

import numpy as np

from .._backend import is_cupy
from ..autograd import Tensor


def as_array(x):
    """The array of ``x`` where it lives: a Tensor's own array, a CuPy array as it is (on its
    GPU; ``np.asarray`` of one raises), anything else through ``np.asarray``."""
    if isinstance(x, Tensor):
        return x._data
    return x if is_cupy(x) else np.asarray(x)
