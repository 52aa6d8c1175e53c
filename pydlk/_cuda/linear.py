"""linear: y = x W^T + b, and its gradients, on cuBLAS (``cupy.matmul``). Same names, arguments
and return conventions as ``pydlk._C``'s linear kernels."""

from ._common import check_float, check_like


def linear_forward(input, weight, bias=None):
    """y (M, K) = input (M, D) @ weight (K, D)^T + bias (K)."""
    op = "linear"
    x = check_float(input, op, "input")
    w = check_like(weight, x.dtype, op, "weight")
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(
            f"{op}: input (M, D) and weight (K, D) must agree, got {x.shape} and {w.shape}"
        )
    y = x @ w.T
    if bias is not None:
        y += check_like(bias, x.dtype, op, "bias", (w.shape[0],))
    return y


def linear_backward(grad_output, input, weight, need_input=True, need_weight=True, need_bias=True):
    """(grad_input, grad_weight, grad_bias); None where not asked for."""
    op = "linear_backward"
    dy = check_float(grad_output, op, "grad_output")
    x = check_like(input, dy.dtype, op, "input")
    w = check_like(weight, dy.dtype, op, "weight")
    dx = dy @ w if need_input else None
    dw = dy.T @ x if need_weight else None
    db = dy.sum(axis=0) if need_bias else None
    return dx, dw, db
