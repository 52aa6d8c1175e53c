"""grid_sample on the GPU, the counterpart of csrc/grid_sample.cpp: the tap code of
pydlk/functional/grid_sampling.py on CuPy arrays (one gather per tap for the forward, cupyx's
scatter_add for the input gradient, the weights' derivatives for the grid's), with the CPU
kernel's arguments and results."""

from ._common import check_float, check_like


def _checked(x, grid, op):
    x = check_float(x, op, "input")
    if x.ndim not in (4, 5):
        raise ValueError(
            f"{op}: input must be 4-D (N, C, H, W) or 5-D (N, C, D, H, W), got shape "
            f"{tuple(x.shape)}"
        )
    k = x.ndim - 2
    grid = check_like(grid, x.dtype, op, "grid")
    if grid.ndim != x.ndim or grid.shape[0] != x.shape[0] or grid.shape[-1] != k:
        raise ValueError(
            f"{op}: grid must have shape (N, *out, {k}) with input's N = {x.shape[0]}, got "
            f"{tuple(grid.shape)}"
        )
    return x, grid


def _taps(x, grid, mode, padding_mode, align_corners, op):
    from ..functional import grid_sampling as gs

    if mode not in ("bilinear", "nearest"):
        raise ValueError(
            f"{op}: mode must be 'bilinear' or 'nearest', got '{mode}' ('bicubic' runs in "
            "pydlk.functional.grid_sample)"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            f"{op}: padding_mode must be 'zeros', 'border' or 'reflection', got '{padding_mode}'"
        )
    return gs, gs._taps(grid, x.shape[2:], mode, padding_mode, bool(align_corners))


def grid_sample_forward(
    input, grid, mode="bilinear", padding_mode="zeros", align_corners=False, *, out=None
):
    """input (N, C, *spatial) sampled at grid (N, *out, k) -> (N, C, *out), as the CPU kernel."""
    op = "grid_sample_forward"
    x, grid = _checked(input, grid, op)
    gs, taps = _taps(x, grid, mode, padding_mode, align_corners, op)
    y = gs._sample(x, taps, grid.shape[1:-1])
    if out is None:
        return y
    check_like(out, x.dtype, op, "out", y.shape)[...] = y
    return out


def grid_sample_backward(
    grad_output,
    input,
    grid,
    mode="bilinear",
    padding_mode="zeros",
    align_corners=False,
    input_grad=True,
    grid_grad=True,
):
    """(grad_input, grad_grid) of grid_sample_forward, each None when not asked for."""
    op = "grid_sample_backward"
    x, grid = _checked(input, grid, op)
    want = (x.shape[0], x.shape[1]) + tuple(grid.shape[1:-1])
    g = check_like(grad_output, x.dtype, op, "grad_output", want)
    gs, taps = _taps(x, grid, mode, padding_mode, align_corners, op)
    dx = gs._sample_adjoint(g, taps, x.shape[2:]) if input_grad else None
    dgrid = None
    if grid_grad and mode == "nearest":
        dgrid = gs.get_array_module(g).zeros(grid.shape, dtype=g.dtype)
    elif grid_grad:
        dgrid = gs._grid_grad(x, g, taps, grid.shape)
    return dx, dgrid
