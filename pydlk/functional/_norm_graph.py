"""The normalisations' backward as recorded Tensor ops, for create_graph=True (norm.py's
Functions call these from their ``backward_graph``).

The statistics are recomputed from x with differentiable ops, so that the gradient is an exact
function of x, the weight and dy and can be differentiated again to any order. Over the
normalised group (n values) with xhat = (x - mean) * rstd and g = dy * weight:

    dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
    dweight = sum(dy * xhat),  dbias = sum(dy)     (sums over everything but the channel)

With fixed statistics (batch norm in evaluation mode) the op is affine: dx = g * rstd."""

from __future__ import annotations

from .._backend import get_array_module
from ..autograd import Tensor
from .shape_ops import pad


def _tensor(t, a):
    """The forward's Tensor argument, or its saved array as a constant Tensor."""
    return t if t is not None else Tensor._wrap(a)


def _normalized(x, axes, eps):
    """(xhat, rstd) over ``axes`` of the Tensor x, recorded (biased variance)."""
    xc = x - x.mean(dim=axes, keepdim=True)
    rstd = ((xc * xc).mean(dim=axes, keepdim=True) + eps).rsqrt()
    return xc * rstd, rstd


def _input_grad(g, xhat, rstd, axes):
    gm = g.mean(dim=axes, keepdim=True)
    return rstd * (g - gm - xhat * (g * xhat).mean(dim=axes, keepdim=True))


def _sum_except(t, keep):
    """t summed over every dim but those in ``keep`` (the parameter's dims)."""
    dims = tuple(d for d in range(t.ndim) if d not in keep)
    return t.sum(dim=dims) if dims else t


def _affine_grads(dy, xhat, keep, need_w, need_b, pshape):
    dw = _sum_except(dy * xhat, keep).reshape(pshape) if need_w else None
    db = _sum_except(dy, keep).reshape(pshape) if need_b else None
    return dw, db


def layer_norm(ctx, inputs, dy):
    x2, w, _, _ = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    shape, pshape = tuple(ctx.shape), tuple(ctx.pshape)
    lead = len(shape) - len(pshape)
    axes = tuple(range(lead, len(shape)))
    x = _tensor(inputs[0], x2.reshape(shape))
    xhat, rstd = _normalized(x, axes, ctx.eps)
    weight = inputs[1] if inputs[1] is not None else (None if w is None else w.reshape(pshape))
    dx = None
    if need_x:
        dx = _input_grad(dy if weight is None else dy * weight, xhat, rstd, axes)
    dw, db = _affine_grads(dy, xhat, axes, need_w, need_b, pshape)
    return (dx, dw, db)


def _per_channel(p, ndim):
    """A (C,) parameter (Tensor or array) shaped to broadcast over (N, C, *)."""
    return p.reshape((-1,) + (1,) * (ndim - 2))


def group_norm(ctx, x_t, w_t, dy, num_groups, needs):
    """dx, dweight, dbias of group norm (instance norm: num_groups = C); ``x_t``, ``w_t`` the
    forward's x and weight Tensors (None where they were not), ``needs`` which to compute."""
    x_arr, w, _, _ = ctx.saved_tensors
    need_x, need_w, need_b = needs
    x = _tensor(x_t, x_arr)
    shape = tuple(x.shape)
    grouped = (shape[0], num_groups, -1)
    xhat_g, rstd = _normalized(x.reshape(grouped), (2,), ctx.eps)
    xhat = xhat_g.reshape(shape)
    weight = w_t if w_t is not None else w
    dx = None
    if need_x:
        g = dy if weight is None else dy * _per_channel(weight, len(shape))
        dx = _input_grad(g.reshape(grouped), xhat_g, rstd, (2,)).reshape(shape)
    dw, db = _affine_grads(dy, xhat, (1,), need_w, need_b, (shape[1],))
    return dx, dw, db


def batch_norm_grads(ctx, x_t, w_t, dy, needs):
    """dx, dweight, dbias of batch norm at the gradient dy (Tensor), with the batch's
    statistics recomputed from x (training) or the saved running ones (evaluation)."""
    x_arr, w, mean, rstd = ctx.bn_saved
    need_x, need_w, need_b = needs
    x = _tensor(x_t, x_arr)
    nd = x.ndim
    weight = w_t if w_t is not None else w
    if ctx.training:
        axes = (0,) + tuple(range(2, nd))
        xhat, r = _normalized(x, axes, ctx.eps)
    else:
        r = _per_channel(rstd, nd)
        xhat = (x - _per_channel(mean, nd)) * r
    dx = None
    if need_x:
        g = dy if weight is None else dy * _per_channel(weight, nd)
        dx = _input_grad(g, xhat, r, axes) if ctx.training else g * r
    dw, db = _affine_grads(dy, xhat, (1,), need_w, need_b, (x.shape[1],))
    return dx, dw, db


def _pre_relu(x, w, b, mean, rstd):
    """batch norm's output before the relu, on arrays (for the relu's mask)."""
    nd = x.ndim
    z = (x - _per_channel(mean, nd)) * _per_channel(rstd, nd)
    if w is not None:
        z = z * _per_channel(w, nd)
    return z if b is None else z + _per_channel(b, nd)


def batch_norm_add_relu(ctx, inputs, dy):
    y, x, w, b, mean, rstd = ctx.saved_tensors
    need_x, need_r, need_w, need_b = ctx.needs_input_grad[:4]
    on = y > 0 if y is not None else _pre_relu(x, w, b, mean, rstd) > 0
    dz = dy * on.astype(dy.dtype)
    ctx.bn_saved = (x, w, mean, rstd)
    dx, dw, db = batch_norm_grads(ctx, inputs[0], inputs[2], dz, (need_x, need_w, need_b))
    return dx, dz if need_r else None, dw, db


def batch_norm_relu_max_pool2d(ctx, inputs, dy):
    x, w, b, mean, rstd, arg = ctx.saved_tensors
    xp = get_array_module(x)
    N, C, H, W = x.shape
    H2, W2 = H // 2, W // 2
    # each window's arg-max (low two bits: 0..3 = top-left, top-right, bottom-left,
    # bottom-right) as a one-hot (N, C, H2, 2, W2, 2), times the relu's mask there
    pos = (arg & 3)[:, :, :, None, :, None]
    two = xp.arange(2)
    hot = ((pos >> 1) == two.reshape(2, 1, 1)) & ((pos & 1) == two)
    on = _pre_relu(x, w, b, mean, rstd)[:, :, : 2 * H2, : 2 * W2] > 0
    mask = (hot & on.reshape(N, C, H2, 2, W2, 2)).astype(x.dtype)
    da = (dy.reshape(N, C, H2, 1, W2, 1) * mask).reshape(N, C, 2 * H2, 2 * W2)
    if (2 * H2, 2 * W2) != (H, W):  # an odd last row/column is in no window: zero gradient
        da = pad(da, (0, W - 2 * W2, 0, H - 2 * H2))
    ctx.bn_saved = (x, w, mean, rstd)
    return batch_norm_grads(ctx, inputs[0], inputs[1], da, ctx.needs_input_grad[:3])
