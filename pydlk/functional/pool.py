"""2-D pooling (csrc/pool2d.cpp): max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d.

Inputs are (N, C, H, W) or unbatched (C, H, W), as in torch; the kernels see 4-D C-contiguous
arrays (an unbatched input gets a batch dimension of 1 here, a non-contiguous one is copied).

Higher-order gradients (create_graph=True) are supported: each pooling's gradient is linear in
the incoming gradient and is recorded as such (max pooling's with the forward's arg-maxes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._backend import get_array_module, kernels_for
from .._typing import _size_2_t
from ..autograd import Function
from ._adjoint import LinearMap
from ._util import check_float, contiguous, pair

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"]


def _batched(a, unbatched):
    """``a`` as the kernels' 4-D C-contiguous array (an unbatched (C, H, W) gets N = 1)."""
    return contiguous(a[None] if unbatched else a)


def _unbatch(a, unbatched):
    return a[0] if unbatched else a


def _batch_input(ctx, x):
    """The kernels' 4-D array of ``x`` (checked 3-D or 4-D by the caller); ``ctx`` remembers
    whether the outputs and the gradient drop the batch dimension again."""
    ctx.unbatched = x.ndim == 3
    return _batched(x, ctx.unbatched)


def _pooled(ctx, y, idx, return_indices):
    """A max pooling's output, with its indices when asked for, shaped like the input."""
    y = _unbatch(y, ctx.unbatched)
    return (y, _unbatch(idx, ctx.unbatched)) if return_indices else y


def _grad_input(ctx, dy, kernel, *args):
    """The input's gradient from the backward ``kernel`` (its name in pydlk._C / pydlk._cuda),
    called on the batched ``dy`` and ``args``; None when the input needs no gradient."""
    if not ctx.needs_input_grad[0]:
        return None
    dx = getattr(kernels_for(dy), kernel)(_batched(dy, ctx.unbatched), *args)
    return _unbatch(dx, ctx.unbatched)


# -- create_graph=True: every pooling's backward is linear in the incoming gradient (max
# pooling's with the arg-max indices fixed by the forward), recorded as a LinearMap whose
# adjoint is the forward kernel (average) or a gather at the indices (max), so the gradient
# can be differentiated again to any order.


def _graph_grad(ctx, dy, backward_fn, adjoint_fn):
    """The input's gradient as a recorded LinearMap; ``backward_fn``/``adjoint_fn`` map 4-D
    arrays (the batched dy to the batched dx, and back)."""
    unbatched = ctx.unbatched

    def on_arrays(fn):
        return lambda a: _unbatch(fn(_batched(a, unbatched)), unbatched)

    return LinearMap.apply(dy, on_arrays(backward_fn), on_arrays(adjoint_fn))


def _gather_at(idx):
    """G (N, C, H, W) -> G at the flat per-plane indices ``idx`` (N, C, OH, OW): the adjoint
    of max pooling's scatter of dy to its arg-maxes."""

    def gather(g):
        xp = get_array_module(g)
        flat = g.reshape(g.shape[0], g.shape[1], -1)
        at = idx.reshape(idx.shape[0], idx.shape[1], -1)
        return xp.ascontiguousarray(xp.take_along_axis(flat, at, axis=2).reshape(idx.shape))

    return gather


def _max_graph_grad(ctx, dy, kernel, *args):
    (idx,) = ctx.saved_tensors
    idx4 = _batched(idx, ctx.unbatched)
    scatter = lambda a: getattr(kernels_for(a), kernel)(a, idx4, *args)  # noqa: E731
    return _graph_grad(ctx, dy, scatter, _gather_at(idx4))


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
        K = kernels_for(x)
        x4 = _batch_input(ctx, x)
        need_idx = return_indices or ctx.needs_input_grad[0]
        y, idx = K.max_pool2d_forward(
            x4, kernel_size, stride, padding, dilation, ceil_mode, need_idx
        )
        ctx.save_for_backward(idx)
        ctx.geometry = (x4.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
        return _pooled(ctx, y, idx, return_indices)

    @staticmethod
    def backward(ctx, dy, *_index_grad):  # indices carry no gradient
        (idx,) = ctx.saved_tensors
        dx = _grad_input(ctx, dy, "max_pool2d_backward", idx, *ctx.geometry)
        return dx, None, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy, *_index_grad):
        dx = _max_graph_grad(ctx, dy, "max_pool2d_backward", *ctx.geometry)
        return dx, None, None, None, None, None, None


class AvgPool2d(Function):
    @staticmethod
    def forward(
        ctx, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    ):
        K = kernels_for(x)
        x4 = _batch_input(ctx, x)
        y = K.avg_pool2d_forward(
            x4, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        )
        ctx.geometry = (
            x4.shape[2:],
            kernel_size,
            stride,
            padding,
            ceil_mode,
            count_include_pad,
            divisor_override,
        )
        return _unbatch(y, ctx.unbatched)

    @staticmethod
    def backward(ctx, dy):
        dx = _grad_input(ctx, dy, "avg_pool2d_backward", *ctx.geometry)
        return dx, None, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        geometry = ctx.geometry
        dx = _graph_grad(
            ctx,
            dy,
            lambda a: kernels_for(a).avg_pool2d_backward(a, *geometry),
            lambda a: kernels_for(a).avg_pool2d_forward(a, *geometry[1:]),
        )
        return dx, None, None, None, None, None, None


class AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, output_size):
        K = kernels_for(x)
        x4 = _batch_input(ctx, x)
        y = K.adaptive_avg_pool2d_forward(x4, output_size)
        ctx.input_size = x4.shape[2:]
        return _unbatch(y, ctx.unbatched)

    @staticmethod
    def backward(ctx, dy):
        return _grad_input(ctx, dy, "adaptive_avg_pool2d_backward", ctx.input_size), None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        size, out_size = ctx.input_size, tuple(dy.shape[-2:])
        dx = _graph_grad(
            ctx,
            dy,
            lambda a: kernels_for(a).adaptive_avg_pool2d_backward(a, size),
            lambda a: kernels_for(a).adaptive_avg_pool2d_forward(a, out_size),
        )
        return dx, None


class AdaptiveMaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, output_size, return_indices):
        K = kernels_for(x)
        x4 = _batch_input(ctx, x)
        need_idx = return_indices or ctx.needs_input_grad[0]
        y, idx = K.adaptive_max_pool2d_forward(x4, output_size, need_idx)
        ctx.save_for_backward(idx)
        ctx.input_size = x4.shape[2:]
        return _pooled(ctx, y, idx, return_indices)

    @staticmethod
    def backward(ctx, dy, *_index_grad):  # indices carry no gradient
        (idx,) = ctx.saved_tensors
        dx = _grad_input(ctx, dy, "adaptive_max_pool2d_backward", idx, ctx.input_size)
        return dx, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy, *_index_grad):
        dx = _max_graph_grad(ctx, dy, "adaptive_max_pool2d_backward", ctx.input_size)
        return dx, None, None


def _check_rank(x, op):
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{op}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape {tuple(x.shape)}"
        )


def _pool_args(op, kernel_size, stride, padding, dilation=1):
    k = pair(kernel_size, op, "kernel_size")
    empty = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    s = k if empty else pair(stride, op, "stride")
    p = pair(padding, op, "padding", allow_zero=True)
    d = pair(dilation, op, "dilation")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(
            f"{op}: padding must be at most half of kernel_size, got padding {p} "
            f"and kernel_size {k}"
        )
    return k, s, p, d


def _output_size(output_size, x, op):
    """torch's output_size: an int, or a pair whose None entries keep the input's size."""
    H, W = x.shape[-2:]
    if output_size is None:
        raise TypeError(f"{op}: output_size must be an int or a pair of ints/None, got None")
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{op}: output_size must have 2 values, got {len(output_size)}")
        output_size = (
            H if output_size[0] is None else output_size[0],
            W if output_size[1] is None else output_size[1],
        )
    return pair(output_size, op, "output_size")


def max_pool2d(
    input: Tensor,
    kernel_size: _size_2_t,
    stride: _size_2_t | None = None,
    padding: _size_2_t = 0,
    dilation: _size_2_t = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """2-D max pooling over (N, C, H, W) or (C, H, W), as ``torch.nn.functional.max_pool2d``.

    Padding is implicit -inf; ties go to the first maximum in window order and a NaN in the
    window is the maximum (as torch). With ``return_indices`` returns ``(output, indices)``:
    int64 flat indices ``ih * W + iw`` into each input plane, which carry no gradient.
    """
    op = "max_pool2d"
    x = check_float(input, op, "input")
    _check_rank(x, op)
    k, s, p, d = _pool_args(op, kernel_size, stride, padding, dilation)
    return MaxPool2d.apply(input, k, s, p, d, bool(ceil_mode), bool(return_indices))


def avg_pool2d(
    input: Tensor,
    kernel_size: _size_2_t,
    stride: _size_2_t | None = None,
    padding: _size_2_t = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override=None,
) -> Tensor:
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``, with torch's divisor: the
    ``divisor_override`` if given, else the window clipped to the padded input when
    ``count_include_pad`` (padding counts, ceil_mode overhang past the padding does not), else
    the window clipped to the input. Differs from torch only in rounding: sums are taken in
    double (torch sums float32 in float32), and outside the 2x2/stride-2 case the divisor is
    applied as a product of reciprocals, so float32 results can differ in the last bit."""
    op = "avg_pool2d"
    x = check_float(input, op, "input")
    _check_rank(x, op)
    k, s, p, _ = _pool_args(op, kernel_size, stride, padding)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, int):
            raise TypeError(
                f"{op}: divisor_override must be an int or None, got {divisor_override!r}"
            )
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must not be zero")
    return AvgPool2d.apply(
        input, k, s, p, bool(ceil_mode), bool(count_include_pad), divisor_override
    )


def adaptive_avg_pool2d(input: Tensor, output_size: _size_2_t) -> Tensor:
    """Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``: output (i, j)
    averages rows [floor(i*H/OH), ceil((i+1)*H/OH)) and likewise columns. ``output_size`` is an
    int or a pair; a None entry keeps that input size."""
    op = "adaptive_avg_pool2d"
    x = check_float(input, op, "input")
    _check_rank(x, op)
    return AdaptiveAvgPool2d.apply(input, _output_size(output_size, x, op))


def adaptive_max_pool2d(input: Tensor, output_size: _size_2_t, return_indices: bool = False):
    """Adaptive max pooling, as ``torch.nn.functional.adaptive_max_pool2d`` (windows as in
    ``adaptive_avg_pool2d``, max rule and indices as in ``max_pool2d``)."""
    op = "adaptive_max_pool2d"
    x = check_float(input, op, "input")
    _check_rank(x, op)
    return AdaptiveMaxPool2d.apply(input, _output_size(output_size, x, op), bool(return_indices))
