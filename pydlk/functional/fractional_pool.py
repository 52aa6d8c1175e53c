"""Fractional max pooling (Graham, 2014) with torch's pseudo-random interval formula."""

from __future__ import annotations

import numpy as np

from .._backend import get_array_module, on_device_of
from .._random import default_generator
from .._typing import _size_2_t
from ..autograd import Function, Tensor
from ._adjoint import LinearMap
from ._util import array_of, check_float, pair
from .grid_sampling import _scatter_add

__all__ = ["fractional_max_pool2d", "fractional_max_pool2d_with_indices"]


def _intervals(sample, in_size, out_size, pool):
    """Window starts, (P, out_size) for samples (P,): torch's generate_intervals,
    ``start_i = int((i + u) * alpha) - int(u * alpha)`` with ``alpha = (in - pool) / (out - 1)``
    in the input's dtype, and the last window flush with the end."""
    dt, xp = sample.dtype, get_array_module(sample)
    seq = xp.empty((sample.shape[0], out_size), np.int64)
    if out_size > 1:
        alpha = dt.type(in_size - pool) / dt.type(out_size - 1)
        i = xp.arange(out_size - 1, dtype=dt)
        # products in the input dtype, then truncation toward zero, as the C++ casts do
        seq[:, :-1] = ((i[None, :] + sample[:, None]) * alpha).astype(np.int64) - (
            sample * alpha
        ).astype(np.int64)[:, None]
    seq[:, -1] = in_size - pool
    return seq


def _scatter(g, idx, P, HW):
    """(P, HW) zeros with each plane's g added at its winners' flat positions idx, repeats
    accumulating (NumPy's add.at or cupyx's scatter_add)."""
    xp = get_array_module(g)
    dx = xp.zeros(P * HW, g.dtype)
    _scatter_add(dx, (idx.reshape(P, -1) + xp.arange(P)[:, None] * HW).ravel(), g.ravel())
    return dx.reshape(P, HW)


class FractionalMaxPool2dFn(Function):
    @staticmethod
    def forward(ctx, x, kh, kw, oh, ow, samples):
        N, C, H, W = x.shape
        P, xp = N * C, get_array_module(x)
        s = samples.reshape(P, 2)
        rows = _intervals(s[:, 1], H, oh, kh)[:, :, None] + xp.arange(kh)  # (P, oh, kh)
        cols = _intervals(s[:, 0], W, ow, kw)[:, :, None] + xp.arange(kw)  # (P, ow, kw)
        flat = (rows[:, :, None, :, None] * W + cols[:, None, :, None, :]).reshape(P, oh, ow, -1)
        win = xp.take_along_axis(
            x.reshape(P, 1, 1, H * W), flat.reshape(P, 1, 1, -1), axis=3
        ).reshape(flat.shape)
        k = xp.argmax(win, axis=3)
        # a NaN wins its window, the last NaN in scan order (torch's `val > max || isnan(val)`);
        # chosen on the device, without asking the host whether any NaN is there
        nan = xp.isnan(win)
        last_nan = win.shape[3] - 1 - xp.argmax(nan[..., ::-1], axis=3)
        k = xp.where(nan.any(axis=3), last_nan, k)
        idx = xp.take_along_axis(flat, k[..., None], axis=3)[..., 0]
        out = xp.take_along_axis(win, k[..., None], axis=3)[..., 0]
        ctx.save_for_backward(idx)
        ctx.in_shape = x.shape
        return out.reshape(N, C, oh, ow), idx.reshape(N, C, oh, ow)

    @staticmethod
    def backward(ctx, dy, _):
        (idx,) = ctx.saved_tensors
        N, C, H, W = ctx.in_shape
        P = N * C
        # windows overlap, so one input may win several windows: accumulate
        return _scatter(dy, idx, P, H * W).reshape(N, C, H, W), None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy, _):
        # linear in dy: the scatter-add above, whose adjoint reads each window's winner again
        (idx,) = ctx.saved_tensors
        N, C, H, W = ctx.in_shape
        P = N * C

        def scatter(g):
            return _scatter(g, idx, P, H * W).reshape(N, C, H, W)

        def gather(g):
            xp = get_array_module(g)
            out = xp.take_along_axis(g.reshape(P, H * W), idx.reshape(P, -1), 1)
            return out.reshape((N, C) + idx.shape[1:])

        return LinearMap.apply(dy, scatter, gather), None, None, None, None, None


def fractional_max_pool2d_with_indices(
    input: Tensor,
    kernel_size: _size_2_t,
    output_size: _size_2_t | None = None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples=None,
) -> tuple[Tensor, Tensor]:
    """Max pooling over pseudo-random, overlapping windows of ``kernel_size`` whose starts
    follow torch's formula, so that equal ``_random_samples`` (N, C, 2) in [0, 1) (x then y
    per plane) give torch's output and indices exactly. Returns ``(output, indices)``; the
    indices are flat positions in each (H, W) plane. Without ``_random_samples`` they are drawn
    from pydlk's global generator (torch draws from its own, so those differ)."""
    op = "fractional_max_pool2d"
    x = check_float(input, op, "input")
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: input must be (C, H, W) or (N, C, H, W), got {x.shape}")
    kh, kw = pair(kernel_size, op, "kernel_size")
    H, W = x.shape[-2:]
    if (output_size is None) == (output_ratio is None):
        raise ValueError(f"{op}: give exactly one of output_size and output_ratio")
    if output_size is None:
        r = output_ratio if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * 2
        if len(r) != 2 or not all(0 < float(v) < 1 for v in r):
            raise ValueError(f"{op}: output_ratio must be in (0, 1), got {output_ratio!r}")
        oh, ow = int(H * float(r[0])), int(W * float(r[1]))
    else:
        oh, ow = pair(output_size, op, "output_size")
    if oh + kh - 1 > H or ow + kw - 1 > W:
        raise ValueError(
            f"{op}: kernel_size {(kh, kw)} too large for output size {(oh, ow)} "
            f"and input size {(H, W)}: need output + kernel - 1 <= input"
        )
    batched = x.ndim == 4
    xb = x if batched else x[None]
    N, C = xb.shape[:2]
    if _random_samples is None:  # drawn on the host, as pydlk's other draws, then moved to x's
        samples = on_device_of(default_generator.numpy.random((N, C, 2)).astype(x.dtype), x)
    else:
        samples = array_of(_random_samples)
        samples = samples if hasattr(samples, "shape") else np.asarray(samples)
        if samples.shape != (N, C, 2):
            raise ValueError(
                f"{op}: _random_samples must have shape {(N, C, 2)}, got {samples.shape}"
            )
        samples = samples.astype(x.dtype, copy=False)
    inp = input if isinstance(input, Tensor) else Tensor._wrap(x)
    if not batched:
        inp = inp.unsqueeze(0)
    out, idx = FractionalMaxPool2dFn.apply(inp, kh, kw, oh, ow, samples)
    if not batched:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return out, idx


def fractional_max_pool2d(
    input: Tensor,
    kernel_size: _size_2_t,
    output_size: _size_2_t | None = None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples=None,
):
    """torch.nn.functional.fractional_max_pool2d: the output, or ``(output, indices)`` with
    ``return_indices``. See fractional_max_pool2d_with_indices."""
    out, idx = fractional_max_pool2d_with_indices(
        input, kernel_size, output_size, output_ratio, return_indices, _random_samples
    )
    return (out, idx) if return_indices else out
