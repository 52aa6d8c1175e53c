"""Batched matrix products on the GPU, the counterpart of csrc/matmul.cpp: cuBLAS through
``cupy.matmul``, with the CPU kernel's arguments and checks."""

from ._common import check_float


def matmul(a, b):
    """a (*, m, k) @ b (*, k, n) -> (*, m, n), float32 or float64, one batch shape."""
    op = "matmul"
    a = check_float(a, op, "a")
    b = check_float(b, op, "b")
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
