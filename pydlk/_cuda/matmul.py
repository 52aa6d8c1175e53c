"""Batched matrix products on the GPU, the counterpart of csrc/matmul.cpp: cuBLAS through
``cupy.matmul``, with the CPU kernel's arguments and checks. Operands are read as they are
(a broadcast batch of one matrix is not copied per batch element)."""

import numpy as np

from ._common import is_cupy


def matmul(a, b):
    """a (*, m, k) @ b (*, k, n) -> (*, m, n), float32 or float64, one batch shape."""
    op = "matmul"
    for v, name in ((a, "a"), (b, "b")):  # strided operands (broadcast batches) stay views
        if not is_cupy(v):
            raise TypeError(f"{op}: {name} must be a CuPy array, got {type(v).__name__}")
        if v.dtype not in (np.float32, np.float64):
            raise TypeError(f"{op}: {name} must be float32 or float64, got {v.dtype}")
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: b must have the dtype of a ({a.dtype}), got {b.dtype}")
    if a.ndim < 2 or a.ndim != b.ndim or a.shape[:-2] != b.shape[:-2]:
        raise ValueError(
            f"{op}: a and b must be stacks of matrices (*, m, k) and (*, k, n) of one rank and "
            f"batch shape, got shapes {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"{op}: a's columns must equal b's rows, got shapes {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )
    import cupy

    return cupy.ascontiguousarray(cupy.matmul(a, b))
