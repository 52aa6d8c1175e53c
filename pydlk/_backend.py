"""Which array library and which kernels an array uses: NumPy arrays go to ``pydlk._C``,
CuPy arrays to ``pydlk._cuda``. CuPy is optional and imported only when a CuPy array shows up."""

import sys

import numpy as np


def is_cupy(a):
    """True if ``a`` is a CuPy array (never imports CuPy)."""
    # Never imports cupy: a CuPy array can only exist if cupy is already imported.
    cp = sys.modules.get("cupy")
    return cp is not None and isinstance(a, cp.ndarray)


def get_array_module(a):
    """``numpy`` or ``cupy``, the module that owns ``a`` (chainer's ``get_array_module``)."""
    if is_cupy(a):
        return sys.modules["cupy"]
    return np


def kernels_for(a):
    """The kernel module for ``a``'s device: ``pydlk._C`` (CPU) or ``pydlk._cuda`` (CuPy)."""
    if is_cupy(a):
        from . import _cuda

        return _cuda
    # Looked up in sys.modules (pydlk imports _C first): an import statement here costs a
    # microsecond on every op of every step.
    kernels = sys.modules.get("pydlk._C")
    if kernels is None:
        from . import _C as kernels
    return kernels


def host_array(a):
    """``a`` as a NumPy array: a CuPy array copied to the host (``np.asarray`` of one raises),
    anything else through ``np.asarray``."""
    return a.get() if is_cupy(a) else np.asarray(a)


def device_of(a):
    """The device string of an array: ``'cpu'`` or ``'cuda:N'``."""
    if is_cupy(a):
        return f"cuda:{a.device.id}"
    return "cpu"
