"""Fractional max pooling (Graham, 2014), 2-D and 3-D, with torch's pseudo-random interval
formula: one Function over any number of trailing spatial dims."""

from __future__ import annotations

import numpy as np

from .._backend import get_array_module, on_device_of
from .._random import default_generator
from .._typing import _size_2_t
from ..autograd import Function, Tensor
from ._adjoint import LinearMap
from ._util import array_of, check_float, pair
from .grid_sampling import _scatter_add
from .volumetric import triple

__all__ = [
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
]


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


class FractionalMaxPoolFn(Function):
    """Fractional max pooling over the trailing ``len(ks)`` dims of (N, C, *spatial), one
    column of ``samples`` (N * C, nd) per spatial dim in that order."""

    @staticmethod
    def forward(ctx, x, ks, outs, samples):
        N, C, *S = x.shape
        nd, P, xp = len(S), N * C, get_array_module(x)
        # each dim's window positions, (P, out_j, k_j), broadcast over the others into flat
        # positions (P, *outs, *ks): the windows' elements in scan order (last dim fastest)
        flat = xp.zeros((P,) + (1,) * (2 * nd), np.int64)
        stride = 1
        for j in reversed(range(nd)):
            pos = _intervals(samples[:, j], S[j], outs[j], ks[j])[:, :, None] + xp.arange(ks[j])
            shape = [P] + [1] * (2 * nd)
            shape[1 + j], shape[1 + nd + j] = outs[j], ks[j]
            flat = flat + pos.reshape(shape) * stride
            stride *= S[j]
        flat = flat.reshape((P,) + tuple(outs) + (-1,))
        win = xp.take_along_axis(x.reshape(P, -1), flat.reshape(P, -1), axis=1).reshape(flat.shape)
        k = xp.argmax(win, axis=-1)
        # a NaN wins its window, the last NaN in scan order (torch's `val > max || isnan(val)`);
        # chosen on the device, without asking the host whether any NaN is there
        nan = xp.isnan(win)
        last_nan = win.shape[-1] - 1 - xp.argmax(nan[..., ::-1], axis=-1)
        k = xp.where(nan.any(axis=-1), last_nan, k)
        idx = xp.take_along_axis(flat, k[..., None], axis=-1)[..., 0]
        out = xp.take_along_axis(win, k[..., None], axis=-1)[..., 0]
        ctx.save_for_backward(idx)
        ctx.in_shape = x.shape
        return out.reshape((N, C) + tuple(outs)), idx.reshape((N, C) + tuple(outs))

    @staticmethod
    def backward(ctx, dy, _):
        (idx,) = ctx.saved_tensors
        N, C, *S = ctx.in_shape
        # windows overlap, so one input may win several windows: accumulate
        dx = _scatter(dy, idx, N * C, int(np.prod(S))).reshape(ctx.in_shape)
        return dx, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy, _):
        # linear in dy: the scatter-add above, whose adjoint reads each window's winner again
        (idx,) = ctx.saved_tensors
        N, C, *S = ctx.in_shape
        P, vol = N * C, int(np.prod(S))

        def scatter(g):
            return _scatter(g, idx, P, vol).reshape(ctx.in_shape)

        def gather(g):
            xp = get_array_module(g)
            out = xp.take_along_axis(g.reshape(P, vol), idx.reshape(P, -1), 1)
            return out.reshape((N, C) + idx.shape[1:])

        return LinearMap.apply(dy, scatter, gather), None, None, None


def _samples(_random_samples, x, N, C, nd, op):
    """The (N, C, nd) samples in x's dtype on x's device: given, or drawn from pydlk's host
    generator (as pydlk's other draws) and moved to x's device."""
    if _random_samples is None:
        return on_device_of(default_generator.numpy.random((N, C, nd)).astype(x.dtype), x)
    samples = array_of(_random_samples)
    samples = samples if hasattr(samples, "shape") else np.asarray(samples)
    if samples.shape != (N, C, nd):
        raise ValueError(f"{op}: _random_samples must have shape {(N, C, nd)}, got {samples.shape}")
    return samples.astype(x.dtype, copy=False)


def _pool(input, x, ks, outs, samples):
    """Run the Function on (N, C, ...) input, unbatched input given one batch row."""
    batched = x.ndim == len(ks) + 2
    inp = input if isinstance(input, Tensor) else Tensor._wrap(x)
    if not batched:
        inp = inp.unsqueeze(0)
    P = samples.shape[0] * samples.shape[1]
    out, idx = FractionalMaxPoolFn.apply(inp, ks, outs, samples.reshape(P, -1))
    if not batched:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return out, idx


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
    N, C = (x.shape[0], x.shape[1]) if x.ndim == 4 else (1, x.shape[0])
    samples = _samples(_random_samples, x, N, C, 2, op)
    # the samples are (x, y) per plane: the W column, then the H one
    return _pool(input, x, (kh, kw), (oh, ow), samples[..., ::-1])


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


def _ratio3(output_ratio, op):
    r = output_ratio if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * 3
    if len(r) != 3 or not all(0 < float(v) < 1 for v in r):
        raise ValueError(f"{op}: output_ratio must be in (0, 1), got {output_ratio!r}")
    return tuple(float(v) for v in r)


def fractional_max_pool3d_with_indices(
    input: Tensor,
    kernel_size,
    output_size=None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples=None,
) -> tuple[Tensor, Tensor]:
    """3-D fractional max pooling over (N, C, T, H, W) or (C, T, H, W): windows of
    ``kernel_size`` at pseudo-random starts by torch's formula, so that equal
    ``_random_samples`` (N, C, 3) in [0, 1) (t, h, w per volume) give torch's output and
    indices exactly. Returns ``(output, indices)``; the indices are flat positions
    ``t * H * W + h * W + w`` in each volume (MaxUnpool3d's). ``output_size`` (an int or a
    triple) or ``output_ratio`` (in (0, 1), an int-truncated fraction of each size) sets the
    output. Without ``_random_samples`` they are drawn from pydlk's global generator (torch
    draws from its own, so those differ). Raises ValueError for a bad shape or size, or when
    ``output + kernel_size - 1`` is not below the input size (torch's rule for 3-D)."""
    op = "fractional_max_pool3d"
    x = check_float(input, op, "input")
    if x.ndim not in (4, 5):
        raise ValueError(f"{op}: input must be (C, T, H, W) or (N, C, T, H, W), got {x.shape}")
    ks = triple(kernel_size, op, "kernel_size")
    S = tuple(x.shape[-3:])
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    if output_size is None:
        r = _ratio3(output_ratio, op)
        outs = tuple(int(S[j] * r[j]) for j in range(3))
    else:
        outs = triple(output_size, op, "output_size")
    for j, name in enumerate(("time", "height", "width")):
        if not outs[j] + ks[j] - 1 < S[j]:
            raise ValueError(
                f"{op}: pool {name} {ks[j]} too large relative to input {name} {S[j]} "
                f"for output {name} {outs[j]}: need output + kernel - 1 < input"
            )
    N, C = (x.shape[0], x.shape[1]) if x.ndim == 5 else (1, x.shape[0])
    samples = _samples(_random_samples, x, N, C, 3, op)
    return _pool(input, x, ks, outs, samples)


def fractional_max_pool3d(
    input: Tensor,
    kernel_size,
    output_size=None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples=None,
):
    """torch.nn.functional.fractional_max_pool3d: the output, or ``(output, indices)`` with
    ``return_indices``. See fractional_max_pool3d_with_indices."""
    out, idx = fractional_max_pool3d_with_indices(
        input, kernel_size, output_size, output_ratio, return_indices, _random_samples
    )
    return (out, idx) if return_indices else out
