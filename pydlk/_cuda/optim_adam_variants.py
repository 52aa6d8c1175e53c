"""Adamax, NAdam and RAdam steps on the GPU: one elementwise pass over the flat arena each, with
the formulas of csrc/optim_adam_variants.cpp (coupled weight decay and L1 folded into the
gradient, maximize as a sign, decoupled decay as a shrink of the parameter). The step-dependent
coefficients are computed on the host in double, as the CPU binding does, so both devices
apply the same numbers."""

import functools
import math

import numpy as np

from ._common import Source, i64, launch, need_finite, scalar
from .optim import _grad, _param, _state

_CODE = r"""
__device__ __forceinline__ T sgn_(T x) { return (T)(x > (T)0) - (T)(x < (T)0); }

extern "C" __global__ void adamax_k(T* p, T* m, T* u, const T* g, i64 n, T clr, T omb1, T b2,
                                    T eps, T wd, T l1, T s) {
  GRID_STRIDE(i, n) {
    T pi = p[i];
    T gi = s * g[i] + wd * pi + l1 * sgn_(pi);
    T mi = m[i] + omb1 * (gi - m[i]);
    T ui = b2 * u[i];
    T ai = fabs(gi) + eps;
    ui = ui > ai ? ui : ai;
    m[i] = mi;
    u[i] = ui;
    p[i] = pi - clr * (mi / ui);
  }
}

// Two roundings of p, as torch's two addcdiv_ calls.
extern "C" __global__ void nadam_k(T* p, T* m, T* v, const T* g, i64 n, T shrink, T cg, T cm,
                                   T omb1, T b2, T omb2, T bc2, T eps, T wd, T l1, T s) {
  GRID_STRIDE(i, n) {
    T pi = p[i] * shrink;
    T gi = s * g[i] + wd * pi + l1 * sgn_(pi);
    T mi = m[i] + omb1 * (gi - m[i]);
    T vi = b2 * v[i] + omb2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    T d = sqrt(vi / bc2) + eps;
    pi = pi - cg * (gi / d);
    p[i] = pi - cm * (mi / d);
  }
}

// adaptive: the rectified step p -= step_size m / (sqrt(v) + eps); else p -= step_size m.
extern "C" __global__ void radam_k(T* p, T* m, T* v, const T* g, i64 n, T shrink, T step_size,
                                   T omb1, T b2, T omb2, T eps, T wd, T l1, T s, int adaptive) {
  GRID_STRIDE(i, n) {
    T pi = p[i] * shrink;
    T gi = s * g[i] + wd * pi + l1 * sgn_(pi);
    T mi = m[i] + omb1 * (gi - m[i]);
    T vi = b2 * v[i] + omb2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] = adaptive ? pi - step_size * (mi / (sqrt(vi) + eps)) : pi - step_size * mi;
  }
}
"""

_SRC = Source("optim_adam_variants", _CODE, ("adamax_k", "nadam_k", "radam_k"))


def _check(op, lr, beta1, beta2, eps, weight_decay, l1, step):
    need_finite(lr, op, "lr"), need_finite(eps, op, "eps")
    need_finite(weight_decay, op, "weight_decay"), need_finite(l1, op, "l1")
    if not 0 <= beta1 < 1:
        raise ValueError(f"{op}: beta1 must be in [0, 1), got {beta1}")
    if not 0 <= beta2 < 1:
        raise ValueError(f"{op}: beta2 must be in [0, 1), got {beta2}")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"{op}: step must be an int >= 1, got {step!r}")


def adamax_step(
    param,
    exp_avg,
    exp_inf,
    grad,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay=0.0,
    l1=0.0,
    step=1,
    maximize=False,
):
    """One Adamax step in place (torch.optim.Adamax's formula), step number ``step`` >= 1."""
    op = "adamax_step"
    p = _param(param, op)
    m = _state(exp_avg, p, op, "exp_avg")
    u = _state(exp_inf, p, op, "exp_inf")
    g = _grad(grad, p, op)
    _check(op, lr, beta1, beta2, eps, weight_decay, l1, step)
    T = functools.partial(scalar, p.dtype)
    clr = lr / (1 - beta1 ** float(step))
    launch(
        _SRC("adamax_k", p.dtype),
        p.size,
        (
            p,
            m,
            u,
            g,
            i64(p.size),
            T(clr),
            T(1 - beta1),
            T(beta2),
            T(eps),
            T(weight_decay),
            T(l1),
            T(-1.0 if maximize else 1.0),
        ),
    )


def nadam_step(
    param,
    exp_avg,
    exp_avg_sq,
    grad,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay=0.0,
    l1=0.0,
    mu=0.0,
    mu_next=0.0,
    mu_product=0.0,
    step=1,
    decoupled=False,
    maximize=False,
):
    """One NAdam step in place (torch.optim.NAdam's formula); ``mu``, ``mu_next``: this and the
    next step's momentum coefficients, ``mu_product``: their product up to this step's."""
    op = "nadam_step"
    p = _param(param, op)
    m = _state(exp_avg, p, op, "exp_avg")
    v = _state(exp_avg_sq, p, op, "exp_avg_sq")
    g = _grad(grad, p, op)
    _check(op, lr, beta1, beta2, eps, weight_decay, l1, step)
    for name, val in (("mu", mu), ("mu_next", mu_next), ("mu_product", mu_product)):
        need_finite(val, op, name)
    if not (mu_product < 1 and mu_product * mu_next < 1):
        raise ValueError(
            f"{op}: mu_product must be < 1 (the product of the momentum coefficients up to "
            f"this step), got {mu_product}"
        )
    T = functools.partial(scalar, p.dtype)
    bc2 = 1 - beta2 ** float(step)
    cg = lr * (1 - mu) / (1 - mu_product)
    cm = lr * mu_next / (1 - mu_product * mu_next)
    launch(
        _SRC("nadam_k", p.dtype),
        p.size,
        (
            p,
            m,
            v,
            g,
            i64(p.size),
            T(1 - lr * weight_decay if decoupled else 1.0),
            T(cg),
            T(cm),
            T(1 - beta1),
            T(beta2),
            T(1 - beta2),
            T(bc2),
            T(eps),
            T(0.0 if decoupled else weight_decay),
            T(l1),
            T(-1.0 if maximize else 1.0),
        ),
    )


def radam_step(
    param,
    exp_avg,
    exp_avg_sq,
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
    """One RAdam step in place (torch.optim.RAdam's formula: rectified once rho_t > 5, a
    momentum step before)."""
    op = "radam_step"
    p = _param(param, op)
    m = _state(exp_avg, p, op, "exp_avg")
    v = _state(exp_avg_sq, p, op, "exp_avg_sq")
    g = _grad(grad, p, op)
    _check(op, lr, beta1, beta2, eps, weight_decay, l1, step)
    t = float(step)
    bc1, bc2 = 1 - beta1**t, 1 - beta2**t
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * beta2**t / bc2
    adaptive = rho_t > 5.0
    step_size = lr / bc1
    if adaptive:
        step_size *= math.sqrt(
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        ) * math.sqrt(bc2)
    T = functools.partial(scalar, p.dtype)
    launch(
        _SRC("radam_k", p.dtype),
        p.size,
        (
            p,
            m,
            v,
            g,
            i64(p.size),
            T(1 - lr * weight_decay if decoupled else 1.0),
            T(step_size),
            T(1 - beta1),
            T(beta2),
            T(1 - beta2),
            T(eps),
            T(0.0 if decoupled else weight_decay),
            T(l1),
            T(-1.0 if maximize else 1.0),
            np.int32(adaptive),
        ),
    )
