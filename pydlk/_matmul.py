"""``a @ b`` for arrays, as the ops multiply: NumPy's matmul rules (1-D operands, broadcast
batch dims) on the kernels' ``matmul`` (pydlk's BLAS and OpenMP team; ``cupy.matmul`` on the
GPU) rather than NumPy's BLAS, whose thread pool spin-waits after each product and then takes
cores from the next kernel (csrc/matmul.h)."""

import numpy as np

from . import _C
from ._backend import get_array_module, is_cupy, kernels_for

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_TINY = 4096  # m * n * k per matrix at or below which NumPy multiplies


def matmul(a, b, bf16=False):
    """``a @ b`` of two arrays. float32 or float64 pairs of one dtype with at least one operand
    of two or more dims run the kernels' batched product; anything else (integers, complex,
    mixed dtypes, vector dot products, matrices of 4096 multiply-adds or fewer on the CPU) runs
    the array module's ``@``. ``bf16``: the product's bf16 kernel (``_C.matmul_bf16``, float32
    in and out) for float32 NumPy operands, as autocast asks (``pydlk.amp.use_bf16``, which the
    caller checked, also for its backward)."""
    if a.dtype != b.dtype or a.dtype not in _FLOATS or a.ndim == 0 or b.ndim == 0:
        return a @ b
    if a.ndim == 1 and b.ndim == 1:
        return a @ b
    xp = get_array_module(a)
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        return a @ b  # the array module's error message
    if a2.shape[-2] * a2.shape[-1] * b2.shape[-1] <= _TINY and not is_cupy(a):
        # NumPy's loop for tiny matrices (16x16 and below: 4x faster than a BLAS call each);
        # OpenBLAS runs products this small on the calling thread, waking no pool
        return a @ b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a3 = xp.broadcast_to(a2, batch + a2.shape[-2:])
    b3 = xp.broadcast_to(b2, batch + b2.shape[-2:])
    if bf16 and a.dtype == np.float32 and type(a) is np.ndarray and type(b) is np.ndarray:
        out = _C.matmul_bf16(a3, b3)
    else:
        out = kernels_for(a).matmul(a3, b3)
    if b.ndim == 1:
        return xp.ascontiguousarray(out[..., 0])
    if a.ndim == 1:
        return xp.ascontiguousarray(out[..., 0, :])
    return out
