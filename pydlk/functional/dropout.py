"""dropout: inverted dropout and channel dropout on the counter-based Philox4x32-10 generator.

Masks are a pure function of (seed, offset, element index) (csrc/philox.h): the same seed gives
the same mask whatever the thread count. Each call takes a fresh offset range from
``pydlk._random.default_generator`` (``pydlk.manual_seed`` resets it), as torch's calls advance
its generator. ``_dropout``/``_dropout2d`` take (seed, offset) explicitly, so repeated calls (a
gradient check's forwards) see one mask. Higher-order gradients (create_graph=True) are
supported: the gradient is the incoming one times the forward's mask.
"""

from __future__ import annotations

import numbers

from .._backend import get_array_module, kernels_for
from .._random import default_generator
from ..autograd import Function, Tensor
from ._util import apply_inplace, check_float, contiguous

__all__ = ["dropout", "dropout2d"]


class Dropout(Function):
    """y = x * keep / (1 - p), keep = (uniform >= p). The forward saves the packed keep mask
    (1 bit per element) for the backward; see csrc/dropout.cpp for the measured choice."""

    @staticmethod
    def forward(ctx, x, p, seed, offset, inplace):
        K = kernels_for(x)
        xc = contiguous(x)
        out = xc if inplace else None
        y, mask = K.dropout_forward(xc, p, seed, offset, out=out)
        if inplace and xc is not x:  # a non-contiguous input is written back
            x[...] = y
            y = x
        ctx.save_for_backward(mask)
        ctx.p, ctx.seed, ctx.offset = p, seed, offset
        return y

    @staticmethod
    def backward(ctx, dy):
        (mask,) = ctx.saved_tensors
        dx = None
        if ctx.needs_input_grad[0]:
            dx = kernels_for(dy).dropout_backward(contiguous(dy), mask, ctx.p, ctx.seed, ctx.offset)
        return dx, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        # create_graph=True: dy times the forward's scaled mask, a recorded product
        (mask,) = ctx.saved_tensors  # None: regenerated from (seed, offset)
        ones = get_array_module(dy._data).ones(dy.shape, dy.dtype)
        scale = kernels_for(ones).dropout_backward(ones, mask, ctx.p, ctx.seed, ctx.offset)
        return dy * scale, None, None, None, None


class ChannelDropout(Function):
    """y[n, c, ...] = x[n, c, ...] * keep[n, c] / (1 - p); the (N, C) mask is saved."""

    @staticmethod
    def forward(ctx, x, p, seed, offset, inplace):
        K = kernels_for(x)
        xp = get_array_module(x)
        scale = xp.empty(x.shape[:2], x.dtype)
        K.bernoulli_mask(scale, p, 0.0 if p >= 1 else 1.0 / (1.0 - p), seed, offset)
        xc = contiguous(x)
        y = K.channel_scale(xc, scale, out=xc if inplace else None)
        if inplace and xc is not x:
            x[...] = y
            y = x
        ctx.save_for_backward(scale)
        return y

    @staticmethod
    def backward(ctx, dy):
        (scale,) = ctx.saved_tensors
        dx = None
        if ctx.needs_input_grad[0]:
            dx = kernels_for(dy).channel_scale(contiguous(dy), scale)
        return dx, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        (scale,) = ctx.saved_tensors  # (N, C): one factor per channel
        return dy * scale.reshape(scale.shape + (1,) * (dy.ndim - 2)), None, None, None, None


def dropout_mask(shape, p, dtype, like):
    """An inverted-dropout mask on ``like``'s device: 1/(1-p) with probability 1-p, else 0 (all
    zeros for p = 1), drawn by the Philox kernel that dropout uses, from the default generator,
    so a seed gives the same mask on the CPU and the GPU (for layers that keep their mask:
    attention, the recurrent layers)."""
    xp = get_array_module(like)
    mask = xp.empty(shape, dtype)
    seed, offset = default_generator.philox_seed_offset(mask.size)
    kernels_for(mask).bernoulli_mask(mask, p, 0.0 if p >= 1 else 1.0 / (1.0 - p), seed, offset)
    return mask


def _check_p(p, op):
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{op}: p must be a number in [0, 1], got {type(p).__name__}")
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also refuses nan
        raise ValueError(f"{op}: dropout probability p has to be between 0 and 1, but got p={p}")
    return p


def _identity(input):
    return input if isinstance(input, Tensor) else Tensor(input)


def _prepare(input, p, op, inplace):
    check_float(input, op, "input")
    p = _check_p(p, op)
    if inplace and isinstance(input, Tensor):
        input._check_inplace(op)
    return p


def _dropout(input, p, seed, offset, inplace=False):
    """dropout with an explicit Philox (seed, offset): the same arguments give the same mask."""
    if inplace:
        return apply_inplace(
            input, "dropout", lambda x: Dropout.apply(x, p, int(seed), int(offset), True)
        )
    return Dropout.apply(input, p, int(seed), int(offset), False)


def _dropout2d(input, p, seed, offset, inplace=False):
    if inplace:
        return apply_inplace(
            input, "dropout2d", lambda x: ChannelDropout.apply(x, p, int(seed), int(offset), True)
        )
    return ChannelDropout.apply(input, p, int(seed), int(offset), False)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: each element is zeroed with probability ``p`` and the kept ones are
    scaled by ``1/(1-p)``. ``training=False`` or ``p=0`` returns the input unchanged; ``p=1``
    gives ``input * 0`` (zeros for finite input; NaN stays NaN, as in torch)."""
    p = _prepare(input, p, "dropout", inplace)
    if not training or p == 0.0:
        return _identity(input)
    n = int(getattr(input, "size", 0)) if not isinstance(input, Tensor) else input.numel()
    seed, offset = default_generator.philox_seed_offset(n)
    return _dropout(input, p, seed, offset, inplace)


def dropout2d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Channel dropout: each channel ``input[n, c]`` of an (N, C, H, W) input is zeroed with
    probability ``p`` (one draw per (n, c)), kept channels scaled by ``1/(1-p)``.

    Differs from torch: only 3-D and 4-D inputs are accepted (others raise ValueError instead of
    torch's warning), and a 3-D input is read as (N, C, L) (torch's current behaviour, without its
    warning)."""
    p = _prepare(input, p, "dropout2d", inplace)
    ndim = input.ndim
    if ndim not in (3, 4):
        raise ValueError(
            f"dropout2d: input must be 3-D (N, C, L) or 4-D (N, C, H, W), got "
            f"shape {tuple(input.shape)}"
        )
    if not training or p == 0.0:
        return _identity(input)
    seed, offset = default_generator.philox_seed_offset(input.shape[0] * input.shape[1])
    return _dropout2d(input, p, seed, offset, inplace)
