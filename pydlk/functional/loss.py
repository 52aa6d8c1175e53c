"""loss: fused softmax + cross-entropy, NLL and the multi-class hinge (SVM) loss.

Inputs are (N, C), (N, C, d1, ...) or unbatched (C,), as in torch; the kernels view them as
(outer, C, inner). Per-sample losses are computed in the kernels, reductions are sums in double.
The legacy ``size_average``/``reduce`` arguments of torch are not accepted (use ``reduction``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._backend import get_array_module, kernels_for
from ..autograd import Function, Tensor, is_grad_enabled
from ._util import array_of, check_float, contiguous, reduction_arg
from .activation import Softmax

__all__ = ["cross_entropy", "nll_loss", "multi_margin_loss"]


def _ratio(a, b):
    """a / b as floats, nan for 0 / 0 (every target ignored, as torch) and a signed inf for
    x / 0 (np.errstate around a NumPy division cost more than the rest of this function)."""
    if b != 0:
        return a / b
    return math.nan if a == 0 or a != a else math.copysign(math.inf, a)


def _reduce(loss, total, denom, reduction, dtype, xp):
    """The reduced loss from the kernels' sum and divisor: Python floats from the CPU kernels,
    0-d device arrays (or a float divisor) from the GPU ones, divided there (IEEE division
    gives _ratio's nan and infinities) so that nothing is read back to the host."""
    if reduction == "none":
        return loss
    if xp is np:
        if reduction == "sum":
            return np.asarray(total, dtype=dtype)
        return np.asarray(_ratio(float(total), float(denom)), dtype=dtype)
    return (total if reduction == "sum" else total / denom).astype(dtype)


def _upstream(dy, reduction, denom, per_sample_shape):
    """(per-sample gradient array of ``per_sample_shape`` or None, scalar gradient) for the
    backward kernels; on a GPU the scalar stays a 0-d device array."""
    if reduction == "none":
        return contiguous(dy).reshape(per_sample_shape), 0.0
    if get_array_module(dy) is not np:
        g = dy.reshape(()).astype(np.float64)
        return None, (g if reduction == "sum" else g / denom)
    g = float(dy.reshape(()).item())
    if reduction == "sum":
        return None, g
    return None, _ratio(g, float(denom))


def _batched(x, t, prob):
    """Unbatched (C,) input and () target (or (C,) probabilities) as a batch of one."""
    if x.ndim == 1:
        return x.reshape(1, -1), (t.reshape(1, -1) if prob else t.reshape(1))
    return x, t


class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, label_smoothing):
        K = kernels_for(x)
        prob = target.dtype.kind == "f"
        x2, t2 = _batched(contiguous(x), contiguous(target), prob)
        w = None if weight is None else contiguous(weight)
        # A reduced loss whose input needs a gradient: the kernel gives that gradient (for an
        # upstream 1) with the forward, from the same exponentials; backward only scales it.
        grad_of = (
            reduction
            if reduction != "none" and ctx.needs_input_grad[0] and is_grad_enabled()
            else "none"
        )
        out = K.cross_entropy_forward(x2, t2, w, ignore_index, label_smoothing, grad_of)
        loss, lse, total, denom = out[:4]
        ctx.dx1 = out[4] if grad_of != "none" else None
        ctx.save_for_backward(x2, lse, t2, w)
        ctx.args = (ignore_index, reduction, label_smoothing, denom, x.shape)
        if x.ndim == 1:
            loss = loss.reshape(())
        return _reduce(loss, total, denom, reduction, x.dtype, get_array_module(x))

    @staticmethod
    def backward(ctx, dy):
        x2, lse, t2, w = ctx.saved_tensors
        ignore_index, reduction, label_smoothing, denom, shape = ctx.args
        dx = None
        if ctx.needs_input_grad[0] and ctx.dx1 is not None:
            if get_array_module(dy) is not np:  # scaled on the device, nothing read back
                dx = (ctx.dx1 * dy.reshape(())).reshape(shape)
            else:
                g = dy.reshape(()).item()
                # upstream 1 (loss.backward()): the forward's gradient itself, handed over
                dx = (ctx.dx1 if g == 1.0 else ctx.dx1 * g).reshape(shape)
        elif ctx.needs_input_grad[0]:
            g, gs = _upstream(dy, reduction, denom, lse.shape)
            dx = (
                kernels_for(x2)
                .cross_entropy_backward(g, gs, x2, lse, t2, w, ignore_index, label_smoothing)
                .reshape(shape)
            )
        return dx, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        # loss_n = -sum_k qw_nk log p_nk, with qw the (smoothed) target distribution times the
        # class weights; so d loss_n / d x_n = p_n sum_k qw_nk - qw_n, recorded through softmax
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None, None
        x2, lse, t2, w = ctx.saved_tensors
        ignore_index, reduction, eps, denom, shape = ctx.args
        xp = get_array_module(x2)
        C = x2.shape[1]
        cls_shape = (1, C) + (1,) * (x2.ndim - 2)
        wc = (xp.ones(C) if w is None else w.astype(np.float64)).reshape(cls_shape)
        if t2.dtype.kind == "f":  # class probabilities
            qw = (t2 * (1 - eps) + eps / C) * wc
        else:
            onehot, valid = _target_onehot(x2, t2, ignore_index)
            qw = (onehot * (1 - eps) + eps / C) * wc * valid
        qsum = qw.sum(axis=1, keepdims=True).astype(x2.dtype)
        qw = qw.astype(x2.dtype)
        p = Softmax.apply(inputs[0].reshape(x2.shape), 1, False, None)
        c = _upstream_t(dy, reduction, denom, x2.shape)
        return ((p * qsum - qw) * c).reshape(shape), None, None, None, None, None


def _upstream_t(dy, reduction, denom, shape):
    """The upstream gradient as a recorded Tensor that broadcasts against (N, C, *): per
    sample with reduction='none', else the scalar divided by the mean's divisor."""
    if reduction == "none":
        return dy.reshape((shape[0], 1) + tuple(shape[2:]))
    return dy.reshape(()) / (1.0 if reduction == "sum" else float(denom))


def _target_onehot(x2, t2, ignore_index):
    """(one-hot of the targets (N, C, *) bool, mask of the samples not ignored (N, 1, *), None
    without an ignore_index)."""
    xp = get_array_module(x2)
    C = x2.shape[1]
    valid = (t2 != ignore_index)[:, None] if ignore_index is not None else None
    cls = xp.arange(C).reshape((1, C) + (1,) * (x2.ndim - 2))
    return cls == (t2 if valid is None else xp.where(valid[:, 0], t2, 0))[:, None], valid


class NLLLoss(Function):
    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        K = kernels_for(x)
        x2, t2 = _batched(contiguous(x), contiguous(target), False)
        w = None if weight is None else contiguous(weight)
        loss, total, denom = K.nll_loss_forward(x2, t2, w, ignore_index)
        ctx.save_for_backward(x2, t2, w)
        ctx.args = (ignore_index, reduction, denom, x.shape)
        if x.ndim == 1:
            loss = loss.reshape(())
        return _reduce(loss, total, denom, reduction, x.dtype, get_array_module(x))

    @staticmethod
    def backward(ctx, dy):
        x2, t2, w = ctx.saved_tensors
        ignore_index, reduction, denom, shape = ctx.args
        dx = None
        if ctx.needs_input_grad[0]:
            g, gs = _upstream(dy, reduction, denom, t2.shape)
            dx = kernels_for(x2).nll_loss_backward(g, gs, x2, t2, w, ignore_index).reshape(shape)
        return dx, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        # linear in x: dx = -w_t onehot(t) times the upstream gradient (0 for ignored samples)
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        x2, t2, w = ctx.saved_tensors
        ignore_index, reduction, denom, shape = ctx.args
        onehot, valid = _target_onehot(x2, t2, ignore_index)
        coef = onehot & valid
        if w is not None:
            coef = coef * w.reshape((1, -1) + (1,) * (x2.ndim - 2))
        c = _upstream_t(dy, reduction, denom, x2.shape)
        return (c * -coef.astype(x2.dtype)).reshape(shape), None, None, None, None


class MultiMarginLoss(Function):
    @staticmethod
    def forward(ctx, x, target, p, margin, weight, reduction):
        K = kernels_for(x)
        x2, t2 = _batched(contiguous(x), contiguous(target), False)
        w = None if weight is None else contiguous(weight)
        loss, total, denom = K.multi_margin_loss_forward(x2, t2, p, margin, w)
        ctx.save_for_backward(x2, t2, w)
        ctx.args = (p, margin, reduction, denom, x.shape)
        if x.ndim == 1:
            loss = loss.reshape(())
        return _reduce(loss, total, denom, reduction, x.dtype, get_array_module(x))

    @staticmethod
    def backward(ctx, dy):
        x2, t2, w = ctx.saved_tensors
        p, margin, reduction, denom, shape = ctx.args
        dx = None
        if ctx.needs_input_grad[0]:
            g, gs = _upstream(dy, reduction, denom, t2.shape)
            dx = (
                kernels_for(x2)
                .multi_margin_loss_backward(g, gs, x2, t2, p, margin, w)
                .reshape(shape)
            )
        return dx, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        # loss_n = sum_{j != t} w_t max(0, z_j)^p / C with z_j = margin - x_t + x_j: the
        # gradient in x_j is w_t p z_j^(p-1) / C where z_j > 0, and x_t gets minus their sum
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None, None
        x2, t2, w = ctx.saved_tensors
        p, margin, reduction, denom, shape = ctx.args
        xp = get_array_module(x2)
        onehot, _ = _target_onehot(x2, t2, None)
        x = inputs[0].reshape(x2.shape)
        x_t = xp.take_along_axis(x2, t2[:, None], 1)
        active = ((margin - x_t + x2) > 0) & ~onehot
        scale = xp.full((x2.shape[0], 1), 1.0 / x2.shape[1]) if w is None else w[t2][:, None]
        if w is not None:
            scale = scale / x2.shape[1]
        coef = (active * scale).astype(x2.dtype)
        if p == 2:  # 2 z_j, recorded (x_t again as a recorded sum)
            z = margin - (x * onehot.astype(x2.dtype)).sum(dim=1, keepdim=True) + x
            g = z * (2 * coef)
        else:
            g = Tensor._wrap(coef)
        c = _upstream_t(dy, reduction, denom, x2.shape)
        gx = g - onehot.astype(x2.dtype) * g.sum(dim=1, keepdim=True)
        return (gx * c).reshape(shape), None, None, None, None, None


# ----------------------------------------------------------------------------- checks


def _check_input(input, op, allow_spatial=True):
    x = check_float(input, op, "input")
    if x.ndim == 0 or (not allow_spatial and x.ndim > 2):
        want = "(C,), (N, C) or (N, C, d1, ...)" if allow_spatial else "(C,) or (N, C)"
        raise ValueError(f"{op}: input must be {want}, got shape {tuple(x.shape)}")
    return x


def _check_class_target(target, x, op):
    t = array_of(target)
    if not hasattr(t, "dtype") or t.dtype != np.int64:
        got = t.dtype if hasattr(t, "dtype") else type(target).__name__
        raise TypeError(f"{op}: target must be an int64 array of class indices, got {got}")
    want = () if x.ndim == 1 else (x.shape[0],) + tuple(x.shape[2:])
    if tuple(t.shape) != want:
        raise ValueError(
            f"{op}: target must have shape {want} for input of shape "
            f"{tuple(x.shape)}, got {tuple(t.shape)}"
        )
    return t


def _check_weight(weight, x, op):
    if weight is None:
        return None
    w = check_float(weight, op, "weight")
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    if tuple(w.shape) != (C,):
        raise ValueError(
            f"{op}: weight must have shape ({C},) (one per class), got {tuple(w.shape)}"
        )
    if w.dtype != x.dtype:
        raise TypeError(f"{op}: weight must have the input's dtype {x.dtype}, got {w.dtype}")
    return w


def _check_int(v, op, name):
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
        raise TypeError(f"{op}: {name} must be an int, got {type(v).__name__}")
    return int(v)


# ----------------------------------------------------------------------------- public


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy of logits ``input`` (C,), (N, C) or (N, C, d1, ...) against class indices
    (int64, the input's shape without the class dimension) or class probabilities (float, the
    input's shape), with softmax fused in (log-sum-exp in the stable form).

    As torch: ``weight`` rescales each class; 'mean' divides by the summed weights of the
    non-ignored targets (nan when every target is ignored), or by the number of samples for
    probability targets; ``label_smoothing`` mixes the target with the uniform distribution.
    Differs from torch: no gradient flows to a probability target (it is treated as a constant),
    and ``size_average``/``reduce`` are not accepted."""
    op = "cross_entropy"
    x = _check_input(input, op)
    reduction_arg(reduction, None, None, op)
    if (
        isinstance(label_smoothing, bool)
        or not isinstance(label_smoothing, numbers.Real)
        or not 0.0 <= float(label_smoothing) <= 1.0
    ):
        raise ValueError(
            f"{op}: label_smoothing must be a number in [0, 1], got {label_smoothing!r}"
        )
    ignore_index = _check_int(ignore_index, op, "ignore_index")
    t = array_of(target)
    if hasattr(t, "dtype") and t.dtype.kind == "f":
        if tuple(t.shape) != tuple(x.shape):
            raise ValueError(
                f"{op}: probability target must have the input's shape "
                f"{tuple(x.shape)}, got {tuple(t.shape)}"
            )
        if t.dtype != x.dtype:
            raise TypeError(
                f"{op}: probability target must have the input's dtype {x.dtype}, got {t.dtype}"
            )
    else:
        _check_class_target(target, x, op)
    _check_weight(weight, x, op)
    return CrossEntropy.apply(
        input, t, array_of(weight), ignore_index, reduction, float(label_smoothing)
    )


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (C,), (N, C) or (N, C, d1, ...) at
    the int64 class indices ``target``: ``-weight[y] * input[n, y]``; 'mean' divides by the
    summed weights of the non-ignored targets, as torch. No ``size_average``/``reduce``."""
    op = "nll_loss"
    x = _check_input(input, op)
    reduction_arg(reduction, None, None, op)
    ignore_index = _check_int(ignore_index, op, "ignore_index")
    t = _check_class_target(target, x, op)
    _check_weight(weight, x, op)
    return NLLLoss.apply(input, t, array_of(weight), ignore_index, reduction)


def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    p: float = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Multi-class hinge (SVM) loss of scores ``input`` (C,) or (N, C) and int64 classes
    ``target``: ``sum_{i != y} weight[y] * max(0, margin - x[y] + x[i])**p / C``, p in {1, 2};
    'mean' averages over the N samples (weights do not enter the divisor), as torch.
    No ``size_average``/``reduce``."""
    op = "multi_margin_loss"
    x = _check_input(input, op, allow_spatial=False)
    reduction_arg(reduction, None, None, op)
    p = _check_int(p, op, "p")
    if p not in (1, 2):
        raise ValueError(f"{op}: p must be 1 or 2, got {p}")
    if (
        isinstance(margin, bool)
        or not isinstance(margin, numbers.Real)
        or not np.isfinite(float(margin))
    ):
        raise ValueError(f"{op}: margin must be a finite number, got {margin!r}")
    t = _check_class_target(target, x, op)
    _check_weight(weight, x, op)
    return MultiMarginLoss.apply(input, t, p, float(margin), array_of(weight), reduction)
