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


def on_device_of(v, like):
    """Array ``v`` on ``like``'s device, copied only when it is elsewhere: what an in-place copy
    ``like[...] = v`` across devices needs (CuPy refuses host arrays there, NumPy device ones)."""
    if is_cupy(like):
        if is_cupy(v) and v.device.id == like.device.id:
            return v
        cp = sys.modules["cupy"]
        with cp.cuda.Device(like.device.id):
            return cp.asarray(v)
    return host_array(v)


def device_of(a):
    """The device string of an array: ``'cpu'`` or ``'cuda:N'``."""
    if is_cupy(a):
        return f"cuda:{a.device.id}"
    return "cpu"
