"""Normalisation: batch_norm, layer_norm, group_norm, instance_norm (kernels in csrc/norm.cpp).

Each op saves the mean and rstd = 1/sqrt(var + eps) of the values it normalised, and its
backward is the closed form derived in csrc/norm.cpp. Running statistics (batch norm, instance
norm) are plain buffers updated in place, never part of the graph.

Higher-order gradients (create_graph=True) are supported by every op here, the fused batch
norm + relu (+ max pool) paths included: the backward is then recorded as Tensor ops with the
statistics recomputed from the input (_norm_graph.py).

Differs from torch: eps must be finite and >= 0 (torch does not check; a negative eps can give
NaN), and running buffers, weight and bias must have the input's dtype.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._backend import is_cupy, kernels_for
from ..autograd import Function
from . import _norm_graph as _graph
from ._util import array_of, check_float, contiguous

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm"]


def _opt(a):
    return None if a is None else contiguous(a)


def _param(p, x, op, name):
    """Check an optional affine parameter (Tensor or array) of the input's dtype."""
    if p is None:
        return
    a = check_float(p, op, name)
    if a.dtype != x.dtype:
        raise TypeError(
            f"{op}: {name} must have the same dtype as the input ({x.dtype}), got {a.dtype}"
        )


def _buffer(buf, x, op, name):
    """The array behind a running-stats buffer (Tensor or array), to be updated in place."""
    if buf is None:
        return None
    a = check_float(buf, op, name)
    if a.dtype != x.dtype:
        raise TypeError(
            f"{op}: {name} must have the same dtype as the input ({x.dtype}), got {a.dtype}"
        )
    return a


def _momentum(momentum, op):
    if momentum is None:
        raise TypeError(
            f"{op}: momentum must be a float, got None. For a cumulative moving average (what "
            "torch.nn.BatchNorm does with momentum=None) the caller counts the batches and "
            "passes momentum=1/num_batches_tracked, as torch's module does"
        )
    return float(momentum)


def _check_running_norm(op, input, weight, bias, running_mean, running_var, momentum):
    """The checks batch_norm and instance_norm share: input (N, C, *), weight and bias,
    the running buffers and momentum. Returns (input array, running_mean, running_var,
    momentum as a float)."""
    x = check_float(input, op, "input")
    if x.ndim < 2:
        raise ValueError(f"{op}: input must be at least 2-D (N, C, *), got shape {x.shape}")
    for p, name in [(weight, "weight"), (bias, "bias")]:
        _param(p, x, op, name)
    rm = _buffer(running_mean, x, op, "running_mean")
    rv = _buffer(running_var, x, op, "running_var")
    momentum = _momentum(momentum, op)
    return x, rm, rv, momentum


def _with_buffers(call, buffers):
    """Run ``call(*contiguous buffers)``; copy back into any buffer that had to be copied."""
    kern = [None if b is None else contiguous(b) for b in buffers]
    out = call(*kern)
    for b, k in zip(buffers, kern):
        if b is not None and k is not b:
            b[...] = k
    return out


# ----------------------------------------------------------------------------- batch norm


class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        K = kernels_for(x)
        x = contiguous(x)
        w, b = _opt(weight), _opt(bias)
        y, mean, rstd = _with_buffers(
            lambda rm, rv: K.batchnorm_forward(x, w, b, rm, rv, training, momentum, eps),
            (running_mean, running_var),
        )
        ctx.save_for_backward(x, w, mean, rstd)
        ctx.training, ctx.eps = training, eps
        return y

    @staticmethod
    def backward(ctx, dy):
        x, w, mean, rstd = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx, dw, db = kernels_for(dy).batchnorm_backward(
            contiguous(dy), x, w, mean, rstd, ctx.training, need_x, need_w, need_b
        )
        return dx, dw, db, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        ctx.bn_saved = ctx.saved_tensors
        grads = _graph.batch_norm_grads(ctx, inputs[0], inputs[1], dy, ctx.needs_input_grad[:3])
        return grads + (None,) * 5


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch norm over input (N, C, *): each channel normalised over N and the spatial positions.

    training=True: the batch's mean and biased variance normalise; running_mean/running_var
    (Tensors or arrays of length C, or None) are updated in place,
    ``running = (1 - momentum) * running + momentum * batch_stat`` with the unbiased variance
    for running_var, as torch. training=False: the running stats normalise (both required).
    The buffers never enter the autograd graph.

    As in torch.nn.functional, momentum=None raises TypeError: for a cumulative moving average
    pass ``momentum=1/num_batches_tracked`` (what the BatchNorm modules compute before calling
    this function). Differs from torch: running buffers must have the input's dtype.
    """
    op = "batch_norm"
    x, rm, rv, momentum = _check_running_norm(
        op, input, weight, bias, running_mean, running_var, momentum
    )
    return BatchNorm.apply(input, weight, bias, rm, rv, bool(training), momentum, float(eps))


_RECOMPUTE_MASK_BYTES = 1 << 20


class BatchNormAddReLU(Function):
    """relu(batch_norm(x) + residual) in one kernel pass (residual None: relu(batch_norm(x))).
    Bitwise the separate ops, forward and backward: the backward masks the gradient as relu's
    backward does (that is the residual's gradient) and runs batch norm's backward on it.
    Without a residual the CPU backward of a large input recomputes the relu's mask from x and
    the bias instead of keeping and reading the output (the same bits, less memory traffic)."""

    op_name = "batch_norm_add_relu"  # its name in errors (not batch_norm_add_re_lu)

    @staticmethod
    def forward(ctx, x, residual, weight, bias, running_mean, running_var, training, momentum, eps):
        K = kernels_for(x)
        x = contiguous(x)
        r = None if residual is None else contiguous(residual)
        w, b = _opt(weight), _opt(bias)
        y, mean, rstd = _with_buffers(
            lambda rm, rv: K.batchnorm_add_relu_forward(
                x, r, w, b, rm, rv, training, momentum, eps
            ),
            (running_mean, running_var),
        )
        # Where the backward takes the relu's mask from: y, or (large tensors on the CPU, no
        # residual) x and the bias. Recomputing costs arithmetic and saves reading y: measured
        # (2 threads) it wins from about 1 MiB, (64, 6, 28, 28) 96 -> 71 us, (64, 16, 32, 32)
        # 550 -> 401, and loses below, (64, 16, 10, 10) 31 -> 35. The GPU always reads y.
        keep_y = r is not None or is_cupy(x) or x.nbytes < _RECOMPUTE_MASK_BYTES
        ctx.save_for_backward(y if keep_y else None, x, w, None if keep_y else b, mean, rstd)
        ctx.training, ctx.eps = training, eps
        return y

    @staticmethod
    def backward(ctx, dy):
        y, x, w, b, mean, rstd = ctx.saved_tensors
        need_x, need_r, need_w, need_b = ctx.needs_input_grad[:4]
        dx, dw, db, dr = kernels_for(dy).batchnorm_add_relu_backward(
            contiguous(dy),
            y,
            x,
            w,
            mean,
            rstd,
            ctx.training,
            need_x,
            need_w,
            need_b,
            need_r,
            bias=b,
        )
        return dx, dr, dw, db, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        return _graph.batch_norm_add_relu(ctx, inputs, dy) + (None,) * 5


def _batch_norm_add_relu(
    input: Tensor,
    residual: Tensor | None,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """``relu(batch_norm(input, ...) + residual)`` (``residual`` None: no add) as one fused op:
    what the BatchNorm modules run when a plain ReLU follows them in a Sequential, a ResNet stem
    or a BasicBlock (see ``nn.normalization.bn_relu_fusable``). Arguments as ``batch_norm``;
    ``residual`` must have the input's shape and dtype."""
    op = "batch_norm_add_relu"
    x, rm, rv, momentum = _check_running_norm(
        op, input, weight, bias, running_mean, running_var, momentum
    )
    if residual is not None:
        r = check_float(residual, op, "residual")
        if r.shape != x.shape or r.dtype != x.dtype:
            raise ValueError(
                f"{op}: residual must have the input's shape {tuple(x.shape)} and dtype "
                f"{x.dtype}, got {tuple(r.shape)} {r.dtype}"
            )
    return BatchNormAddReLU.apply(
        input, residual, weight, bias, rm, rv, bool(training), momentum, float(eps)
    )


class BatchNormReLUMaxPool2d(Function):
    """max_pool2d(relu(batch_norm(x)), 2) (2x2 windows, stride 2) in one kernel pass: the
    full-size activation is never written; the pooled output and one byte per window (its
    arg-max) are. Forward, running statistics and the pooled output are bitwise the separate
    ops'; the backward gives their gradients with the batch-norm sums taken over the windows'
    arg-maxes only (max pool's gradient is 0 elsewhere), so those may round differently.
    LeNet-5+BN's first block at batch 256, (256, 6, 28, 28), forward and backward through a
    Sequential (``bench/test_norm.py -k bn_relu_pool``, 2 threads, Zen 5): 0.72 -> 0.46 ms."""

    op_name = "batch_norm_relu_max_pool2d"

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        K = kernels_for(x)
        x = contiguous(x)
        w, b = _opt(weight), _opt(bias)
        y, mean, rstd, arg = _with_buffers(
            lambda rm, rv: K.batchnorm_relu_maxpool2d_forward(
                x, w, b, rm, rv, training, momentum, eps
            ),
            (running_mean, running_var),
        )
        ctx.save_for_backward(x, w, b, mean, rstd, arg)
        ctx.training, ctx.eps = training, eps
        return y

    @staticmethod
    def backward(ctx, dy):
        x, w, b, mean, rstd, arg = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx, dw, db = kernels_for(dy).batchnorm_relu_maxpool2d_backward(
            contiguous(dy), arg, x, w, b, mean, rstd, ctx.training, need_x, need_w, need_b
        )
        return dx, dw, db, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        return _graph.batch_norm_relu_max_pool2d(ctx, inputs, dy) + (None,) * 5


def _batch_norm_relu_max_pool2d(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """``max_pool2d(relu(batch_norm(input, ...)), 2)`` as one fused op: what a Sequential runs
    for BatchNorm2d, ReLU, MaxPool2d(2) in a row (see ``nn.normalization.bn_relu_pool_fusable``).
    Arguments as ``batch_norm``; input (N, C, H, W) with H and W at least 2."""
    op = "batch_norm_relu_max_pool2d"
    x, rm, rv, momentum = _check_running_norm(
        op, input, weight, bias, running_mean, running_var, momentum
    )
    if x.ndim != 4 or x.shape[2] < 2 or x.shape[3] < 2:
        raise ValueError(
            f"{op}: input must be 4-D (N, C, H, W) with H and W at least 2, got shape "
            f"{tuple(x.shape)}"
        )
    return BatchNormReLUMaxPool2d.apply(
        input, weight, bias, rm, rv, bool(training), momentum, float(eps)
    )


# ----------------------------------------------------------------------------- layer norm


class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, nd, eps):
        K = kernels_for(x)
        shape = x.shape
        M, D = math.prod(shape[: x.ndim - nd]), math.prod(shape[x.ndim - nd :])
        x2 = contiguous(x).reshape(M, D)
        w = None if weight is None else contiguous(weight).reshape(D)
        b = None if bias is None else contiguous(bias).reshape(D)
        y, mean, rstd = K.layernorm_forward(x2, w, b, eps)
        ctx.save_for_backward(x2, w, mean, rstd)
        ctx.shape = shape
        ctx.pshape = shape[x.ndim - nd :]
        ctx.eps = eps
        return y.reshape(shape)

    @staticmethod
    def backward(ctx, dy):
        x2, w, mean, rstd = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx, dw, db = kernels_for(dy).layernorm_backward(
            contiguous(dy).reshape(x2.shape), x2, w, mean, rstd, need_x, need_w, need_b
        )
        if dx is not None:
            dx = dx.reshape(ctx.shape)
        if dw is not None:
            dw = dw.reshape(ctx.pshape)
        if db is not None:
            db = db.reshape(ctx.pshape)
        return dx, dw, db, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        return _graph.layer_norm(ctx, inputs, dy) + (None, None)


def _shape_tuple(normalized_shape, op):
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        return (int(normalized_shape),)
    try:
        t = tuple(normalized_shape)
    except TypeError:
        raise TypeError(
            f"{op}: normalized_shape must be an int or a sequence of ints, got {normalized_shape!r}"
        ) from None
    if not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in t):
        raise TypeError(f"{op}: normalized_shape must contain ints, got {normalized_shape!r}")
    return tuple(int(i) for i in t)


def layer_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims of input: each of its rows (of
    prod(normalized_shape) values) gets its own mean and biased variance; weight and bias have
    shape normalized_shape (elementwise affine)."""
    op = "layer_norm"
    x = check_float(input, op, "input")
    ns = _shape_tuple(normalized_shape, op)
    if len(ns) == 0 or any(i < 0 for i in ns):
        raise ValueError(f"{op}: normalized_shape must be a non-empty shape, got {ns}")
    if x.ndim < len(ns) or tuple(x.shape[x.ndim - len(ns) :]) != ns:
        raise ValueError(
            f"{op}: normalized_shape={ns} expects input of shape (*, "
            f"{', '.join(map(str, ns))}), got {tuple(x.shape)}"
        )
    for p, name in [(weight, "weight"), (bias, "bias")]:
        _param(p, x, op, name)
        if p is not None and tuple(array_of(p).shape) != ns:
            raise ValueError(
                f"{op}: {name} must have shape normalized_shape={ns}, got "
                f"{tuple(array_of(p).shape)}"
            )
    return LayerNorm.apply(input, weight, bias, len(ns), float(eps))


# ----------------------------------------------------------------------------- group norm


class GroupNorm(Function):
    @staticmethod
    def forward(ctx, x, num_groups, weight, bias, eps):
        K = kernels_for(x)
        x = contiguous(x)
        w, b = _opt(weight), _opt(bias)
        y, mean, rstd = K.groupnorm_forward(x, num_groups, w, b, eps)
        ctx.save_for_backward(x, w, mean, rstd)
        ctx.num_groups, ctx.eps = num_groups, eps
        return y

    @staticmethod
    def backward(ctx, dy):
        x, w, mean, rstd = ctx.saved_tensors
        need_x, _, need_w, need_b, _ = ctx.needs_input_grad
        dx, dw, db = kernels_for(dy).groupnorm_backward(
            contiguous(dy), x, ctx.num_groups, w, mean, rstd, need_x, need_w, need_b
        )
        return dx, None, dw, db, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        need_x, _, need_w, need_b, _ = ctx.needs_input_grad
        dx, dw, db = _graph.group_norm(
            ctx, inputs[0], inputs[2], dy, ctx.num_groups, (need_x, need_w, need_b)
        )
        return dx, None, dw, db, None


def _int(v, op, name):
    if not isinstance(v, numbers.Integral) or isinstance(v, bool):
        raise TypeError(f"{op}: {name} must be an int, got {type(v).__name__}")
    return int(v)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Group norm of input (N, C, *): the C channels form num_groups groups of C/num_groups
    channels; each (sample, group) is normalised over its channels and spatial positions;
    weight and bias (C,) are per channel."""
    op = "group_norm"
    x = check_float(input, op, "input")
    if x.ndim < 2:
        raise ValueError(f"{op}: input must be at least 2-D (N, C, *), got shape {x.shape}")
    num_groups = _int(num_groups, op, "num_groups")
    for p, name in [(weight, "weight"), (bias, "bias")]:
        _param(p, x, op, name)
    return GroupNorm.apply(input, num_groups, weight, bias, float(eps))


# ----------------------------------------------------------------------------- instance norm


class InstanceNorm(Function):
    """Instance norm with the input's statistics: group norm with one channel per group."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps):
        K = kernels_for(x)
        x = contiguous(x)
        w, b = _opt(weight), _opt(bias)
        y, mean, rstd = _with_buffers(
            lambda rm, rv: K.instancenorm_forward(x, w, b, rm, rv, momentum, eps),
            (running_mean, running_var),
        )
        ctx.save_for_backward(x, w, mean, rstd)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx, dy):
        x, w, mean, rstd = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx, dw, db = kernels_for(dy).groupnorm_backward(
            contiguous(dy), x, x.shape[1], w, mean, rstd, need_x, need_w, need_b
        )
        return dx, dw, db, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        C = ctx.saved_tensors[0].shape[1]
        grads = _graph.group_norm(ctx, inputs[0], inputs[1], dy, C, ctx.needs_input_grad[:3])
        return grads + (None,) * 4


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Instance norm of input (N, C, *): each (sample, channel) normalised over its spatial
    positions (group norm with num_groups = C); weight and bias (C,).

    use_input_stats=True: the instance statistics normalise; running_mean/running_var, if given,
    are updated in place with the batch average of the instance means and unbiased variances
    (torch's rule). use_input_stats=False: the running stats normalise (batch norm in
    evaluation mode); both are required.
    """
    op = "instance_norm"
    x, rm, rv, momentum = _check_running_norm(
        op, input, weight, bias, running_mean, running_var, momentum
    )
    if not use_input_stats:
        if rm is None or rv is None:
            raise ValueError(
                f"{op}: running_mean and running_var must be given when use_input_stats=False"
            )
        return BatchNorm.apply(input, weight, bias, rm, rv, False, momentum, float(eps))
    return InstanceNorm.apply(input, weight, bias, rm, rv, momentum, float(eps))
