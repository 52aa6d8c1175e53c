"""Fused optimiser steps on the GPU: one elementwise pass over the flat arena per step, with the
formulas of csrc/optim.cpp (coupled weight decay and L1 folded into the gradient, maximize as a
sign, AdamW's decoupled decay as a shrink of the parameter, bias corrections on the host), plus
the arena helpers average_update, norm_reduce and scale_, and add_ (the autograd engine's sum of
two gradients of one tensor).

Adam's step count may also live on the device (torch's ``capturable=True``): ``adam_step`` with
``step`` a one-element float64 CuPy array reads the count there and computes the bias
corrections in the kernel, so a CUDA graph that captured the step applies the right correction
on each replay (the optimiser increments that count with a device op before the step)."""

import functools
import math

import numpy as np

from ._common import (
    Source,
    check_float,
    check_like,
    contiguous,
    f64,
    i64,
    is_cupy,
    launch,
    need_finite,
    scalar,
)

_CODE = r"""
__device__ __forceinline__ T sgn_(T x) { return (T)(x > (T)0) - (T)(x < (T)0); }

// momentum: 0 none, 1 buffer. first step: keep = 0, add = 1 (b = g' exactly).
extern "C" __global__ void sgd_k(T* p, T* buf, const T* g, i64 n, T lr, T keep, T add, T cg,
                                 T cb, T wd, T l1, T s, int mom) {
  GRID_STRIDE(i, n) {
    T pi = p[i];
    T gi = s * g[i] + wd * pi + l1 * sgn_(pi);
    if (mom) {
      T b = keep * buf[i] + add * gi;
      buf[i] = b;
      gi = cg * gi + cb * b;  // nesterov: g' + mom b, else b
    }
    p[i] = pi - lr * gi;
  }
}

extern "C" __global__ void adam_k(T* p, T* m, T* v, T* vmax, const T* g, i64 n, T shrink, T wd,
                                  T l1, T s, T omb1, T b2, T omb2, T step_size, T inv_bc2s, T eps,
                                  int ams, const double* dstep, double lr, double b1, double b2d) {
  if (dstep) {  // capturable: the step count is on the device; corrections as on the host
    const double k = dstep[0];
    step_size = (T)(lr / (1.0 - pow(b1, k)));
    inv_bc2s = (T)(1.0 / sqrt(1.0 - pow(b2d, k)));
  }
  GRID_STRIDE(i, n) {
    T pi = p[i] * shrink;  // AdamW's decoupled decay (shrink = 1 for Adam)
    T gi = s * g[i] + wd * pi + l1 * sgn_(pi);
    T mi = m[i] + omb1 * (gi - m[i]);
    T vi = b2 * v[i] + omb2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    if (ams) {
      T vm = vmax[i];
      vi = vm > vi ? vm : vi;
      vmax[i] = vi;
    }
    T denom = sqrt(vi) * inv_bc2s + eps;
    p[i] = pi - step_size * (mi / denom);
  }
}

extern "C" __global__ void rmsprop_k(T* p, T* sq, T* ga, T* buf, const T* g, i64 n, T lr,
                                     T alpha, T oma, T eps, T wd, T l1, T mom, T s, int centered,
                                     int use_mom) {
  GRID_STRIDE(i, n) {
    T pi = p[i];
    T gi = s * g[i] + wd * pi + l1 * sgn_(pi);
    T si = alpha * sq[i] + oma * (gi * gi);
    sq[i] = si;
    if (centered) {
      T a = ga[i] + oma * (gi - ga[i]);
      ga[i] = a;
      si = si - a * a;
    }
    T avg = sqrt(si) + eps;
    if (use_mom) {
      T b = mom * buf[i] + gi / avg;
      buf[i] = b;
      p[i] = pi - lr * b;
    } else {
      p[i] = pi - lr * (gi / avg);
    }
  }
}

extern "C" __global__ void adagrad_k(T* p, T* sum, const T* g, i64 n, T clr, T eps, T wd, T l1,
                                     T s) {
  GRID_STRIDE(i, n) {
    T pi = p[i];
    T gi = s * g[i] + wd * pi + l1 * sgn_(pi);
    T si = sum[i] + gi * gi;
    sum[i] = si;
    p[i] = pi - clr * (gi / (sqrt(si) + eps));
  }
}

extern "C" __global__ void average_k(T* avg, const T* x, i64 n, T w) {
  GRID_STRIDE(i, n) avg[i] = avg[i] + w * (x[i] - avg[i]);
}

extern "C" __global__ void scale_k(T* x, i64 n, T c) {
  GRID_STRIDE(i, n) x[i] *= c;
}

extern "C" __global__ void add_k(T* x, const T* y, i64 n) {
  GRID_STRIDE(i, n) x[i] += y[i];
}

// Per-block partial of sum |x|^p in double (p = 2, 1, 0 (count of non-zeros) or general).
extern "C" __global__ void norm_partial_k(double* part, const T* x, i64 n, double p, int kind) {
  double acc = 0;
  GRID_STRIDE(i, n) {
    const double a = fabs((double)x[i]);
    acc += kind == 2 ? a * a : kind == 1 ? a : kind == 0 ? (x[i] != (T)0 ? 1.0 : 0.0) : pow(a, p);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) part[blockIdx.x] = acc;
}
"""

_SRC = Source(
    "optim",
    _CODE,
    (
        "sgd_k",
        "adam_k",
        "rmsprop_k",
        "adagrad_k",
        "average_k",
        "scale_k",
        "add_k",
        "norm_partial_k",
    ),
)


def _param(param, op, name="param"):
    p = check_float(param, op, name)
    if p is not param:
        raise ValueError(f"{op}: {name} must be C-contiguous (updated in place)")
    return p


def _state(a, param, op, name):
    if a is None:
        return None
    a2 = check_like(a, param.dtype, op, name)
    if a2.size != param.size:
        raise ValueError(f"{op}: {name} has {a2.size} elements, param has {param.size}")
    if a2 is not a:
        raise ValueError(f"{op}: {name} must be C-contiguous (updated in place)")
    return a2


def _grad(grad, param, op, name="grad", param_name="param"):
    g = check_like(grad, param.dtype, op, name)
    if g.size != param.size:
        raise ValueError(f"{op}: {name} has {g.size} elements, {param_name} has {param.size}")
    return g


def _dummy(p):
    return p  # never read: the kernel's flag is off


def sgd_step(
    param,
    momentum_buffer,
    grad,
    lr,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    l1=0.0,
    nesterov=False,
    maximize=False,
    first=False,
):
    """One SGD step in place (momentum, dampening, Nesterov, coupled weight decay, L1)."""
    op = "sgd_step"
    p = _param(param, op)
    g = _grad(grad, p, op)
    need_finite(lr, op, "lr"), need_finite(momentum, op, "momentum")
    need_finite(dampening, op, "dampening", False), need_finite(weight_decay, op, "weight_decay")
    need_finite(l1, op, "l1")
    if momentum != 0 and momentum_buffer is None:
        raise ValueError(f"{op}: momentum_buffer is required when momentum != 0")
    buf = _state(momentum_buffer, p, op, "momentum_buffer")
    T = functools.partial(scalar, p.dtype)
    s = T(-1.0 if maximize else 1.0)
    mom = momentum != 0 and buf is not None
    if mom:
        keep, add = (0.0, 1.0) if first else (momentum, 1.0 - dampening)
        cg, cb = (1.0, momentum) if nesterov else (0.0, 1.0)
    else:
        keep = add = cg = cb = 0.0
    launch(
        _SRC("sgd_k", p.dtype),
        p.size,
        (
            p,
            buf if mom else _dummy(p),
            g,
            i64(p.size),
            T(lr),
            T(keep),
            T(add),
            T(cg),
            T(cb),
            T(weight_decay),
            T(l1),
            s,
            np.int32(mom),
        ),
    )


def adam_step(
    param,
    exp_avg,
    exp_avg_sq,
    max_exp_avg_sq,
    grad,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay=0.0,
    l1=0.0,
    step=1,
    decoupled=False,
    maximize=False,
):
    """One Adam (decoupled: AdamW) step in place; AMSGrad when max_exp_avg_sq is given.

    ``step`` is this step's count (>= 1), or a one-element float64 CuPy array holding it on the
    device (torch's capturable Adam): the kernel then reads it and computes the bias
    corrections itself, so nothing step-dependent is a launch argument (a captured CUDA graph
    replays right). The device count is not checked on the host (that would synchronise)."""
    op = "adam_step"
    p = _param(param, op)
    m = _state(exp_avg, p, op, "exp_avg")
    v = _state(exp_avg_sq, p, op, "exp_avg_sq")
    g = _grad(grad, p, op)
    need_finite(lr, op, "lr"), need_finite(eps, op, "eps")
    need_finite(weight_decay, op, "weight_decay"), need_finite(l1, op, "l1")
    if not 0 <= beta1 < 1:
        raise ValueError(f"adam_step: beta1 must be in [0, 1), got {beta1}")
    if not 0 <= beta2 < 1:
        raise ValueError(f"adam_step: beta2 must be in [0, 1), got {beta2}")
    dstep = _device_step(step, op)
    if dstep is None and step < 1:
        raise ValueError(f"adam_step: step must be >= 1, got {step}")
    vmax = _state(max_exp_avg_sq, p, op, "max_exp_avg_sq")
    k = 1.0 if dstep is not None else float(step)  # device step: the kernel recomputes these
    bc1, bc2 = 1 - beta1**k, 1 - beta2**k
    T = functools.partial(scalar, p.dtype)
    shrink = 1 - lr * weight_decay if decoupled else 1.0
    wd = 0.0 if decoupled else weight_decay
    launch(
        _SRC("adam_k", p.dtype),
        p.size,
        (
            p,
            m,
            v,
            vmax if vmax is not None else _dummy(p),
            g,
            i64(p.size),
            T(shrink),
            T(wd),
            T(l1),
            T(-1.0 if maximize else 1.0),
            T(1 - beta1),
            T(beta2),
            T(1 - beta2),
            T(lr / bc1),
            T(1.0 / math.sqrt(bc2)),
            T(eps),
            np.int32(vmax is not None),
            dstep if dstep is not None else _NULL,
            f64(lr),
            f64(beta1),
            f64(beta2),
        ),
    )


_NULL = np.uint64(0)  # a null device pointer: the kernel's capturable branch is off


def _device_step(step, op):
    """``step`` when it is a device step count (a one-element float64 CuPy array), else None."""
    if isinstance(step, (int, float, np.integer, np.floating)):
        return None
    if not is_cupy(step) or step.dtype != np.float64 or step.size != 1:
        raise TypeError(
            f"{op}: step must be an int >= 1 or a one-element float64 CuPy array (the device "
            f"step count), got {type(step).__name__}"
            + (f" {step.dtype}[{step.size}]" if hasattr(step, "dtype") else "")
        )
    return contiguous(step)


def rmsprop_step(
    param,
    square_avg,
    grad_avg,
    momentum_buffer,
    grad,
    lr,
    alpha,
    eps,
    weight_decay=0.0,
    l1=0.0,
    momentum=0.0,
    maximize=False,
):
    """One RMSprop step in place (centered when grad_avg is given, momentum when > 0)."""
    op = "rmsprop_step"
    p = _param(param, op)
    sq = _state(square_avg, p, op, "square_avg")
    g = _grad(grad, p, op)
    need_finite(lr, op, "lr"), need_finite(eps, op, "eps")
    need_finite(weight_decay, op, "weight_decay"), need_finite(l1, op, "l1")
    need_finite(momentum, op, "momentum")
    if not 0 <= alpha <= 1:
        raise ValueError(f"rmsprop_step: alpha must be in [0, 1], got {alpha}")
    if momentum != 0 and momentum_buffer is None:
        raise ValueError(f"{op}: momentum_buffer is required when momentum != 0")
    ga = _state(grad_avg, p, op, "grad_avg")
    buf = _state(momentum_buffer, p, op, "momentum_buffer")
    use_mom = momentum > 0 and buf is not None
    T = functools.partial(scalar, p.dtype)
    launch(
        _SRC("rmsprop_k", p.dtype),
        p.size,
        (
            p,
            sq,
            ga if ga is not None else _dummy(p),
            buf if use_mom else _dummy(p),
            g,
            i64(p.size),
            T(lr),
            T(alpha),
            T(1 - alpha),
            T(eps),
            T(weight_decay),
            T(l1),
            T(momentum),
            T(-1.0 if maximize else 1.0),
            np.int32(ga is not None),
            np.int32(use_mom),
        ),
    )


def adagrad_step(
    param,
    state_sum,
    grad,
    lr,
    lr_decay=0.0,
    eps=1e-10,
    weight_decay=0.0,
    l1=0.0,
    step=1,
    maximize=False,
):
    """One Adagrad step in place; the rate is lr / (1 + (step - 1) lr_decay)."""
    op = "adagrad_step"
    p = _param(param, op)
    s = _state(state_sum, p, op, "state_sum")
    g = _grad(grad, p, op)
    need_finite(lr, op, "lr"), need_finite(lr_decay, op, "lr_decay"), need_finite(eps, op, "eps")
    need_finite(weight_decay, op, "weight_decay"), need_finite(l1, op, "l1")
    if step < 1:
        raise ValueError(f"adagrad_step: step must be >= 1, got {step}")
    clr = lr / (1 + (step - 1) * lr_decay)
    T = functools.partial(scalar, p.dtype)
    launch(
        _SRC("adagrad_k", p.dtype),
        p.size,
        (
            p,
            s,
            g,
            i64(p.size),
            T(clr),
            T(eps),
            T(weight_decay),
            T(l1),
            T(-1.0 if maximize else 1.0),
        ),
    )


def average_update(average, input, weight):
    """average += weight * (input - average), in place."""
    op = "average_update"
    a = _param(average, op, "average")
    x = _grad(input, a, op, "input", "average")
    need_finite(weight, op, "weight", False)
    launch(_SRC("average_k", a.dtype), a.size, (a, x, i64(a.size), scalar(a.dtype, weight)))


def norm_reduce(x, norm_type=2.0):
    """sum |x|^p (p = 2: sum of squares; inf/-inf: max/min |x|; 0: count of non-zeros), as a
    Python float (a device-to-host copy: the caller needs the number)."""
    cp = __import__("cupy")
    a = check_float(x, "norm_reduce", "x")
    p = float(norm_type)
    if math.isnan(p):
        raise ValueError("norm_reduce: norm_type must not be NaN")
    if math.isinf(p):
        if a.size == 0:
            return 0.0 if p > 0 else math.inf
        m = cp.abs(a).max() if p > 0 else cp.abs(a).min()
        return float(m)
    kind = 2 if p == 2 else 1 if p == 1 else 0 if p == 0 else 3
    blocks = max(1, min((a.size + 255) // 256, 1024))
    part = cp.zeros(blocks, cp.float64)
    if a.size:
        _SRC("norm_partial_k", a.dtype)(
            (blocks,), (256,), (part, a, i64(a.size), f64(p), np.int32(kind))
        )
    return float(part.sum())


def scale_(x, c):
    """x *= c in place."""
    a = _param(x, "scale_", "x")
    launch(_SRC("scale_k", a.dtype), a.size, (a, i64(a.size), scalar(a.dtype, c)))


def add_(x, other):
    """x += other in place (other: as many elements, same dtype)."""
    op = "add_"
    a = _param(x, op, "x")
    y = _grad(other, a, op, "other", "x")
    px, po = a.data.ptr, y.data.ptr
    if px != po and px < po + y.nbytes and po < px + a.nbytes:
        raise ValueError(f"{op}: x and other overlap in memory (other than being the same)")
    launch(_SRC("add_k", a.dtype), a.size, (a, y, i64(a.size)))
