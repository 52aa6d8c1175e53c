"""The CuPy path: the same kernel names as ``pydlk._C``, written with CuPy for arrays on a GPU.

Only ops listed here run on the GPU; any other op raises a clear error naming it rather than
moving data behind the user's back.
"""
import cupy as cp  # noqa: F401  (imported only through _backend.kernels_for on a CuPy array)


def linear_forward(input, weight, bias=None):
    y = input @ weight.T
    if bias is not None:
        y += bias
    return y


def linear_backward(grad_output, input, weight, need_input=True, need_weight=True, need_bias=True):
    dx = grad_output @ weight if need_input else None
    dw = grad_output.T @ input if need_weight else None
    db = grad_output.sum(axis=0) if need_bias else None
    return dx, dw, db


def __getattr__(name):
    raise NotImplementedError(f"pydlk: '{name}' has no CUDA (CuPy) kernel yet; "
                              "move the arrays to the CPU with .cpu()")
