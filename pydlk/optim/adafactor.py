"""Adafactor (Shazeer and Stern 2018) as torch.optim.Adafactor (torch 2.5+), its single-tensor
formula on NumPy or CuPy arrays, one parameter at a time (pydlk.optim._per_param: the state of a
matrix is a row and a column factor, not one value per element)."""

from __future__ import annotations

import numpy as np

from .._backend import get_array_module
from .._matmul import matmul
from .._typing import ParamsT
from ._per_param import PerParamOptimizer

__all__ = ["Adafactor"]


def _lerp_(xp, a, end, w):
    """``a.lerp_(end, w)`` with torch's formula for a scalar weight (exact at w = 1)."""
    if w < 0.5:
        a += a.dtype.type(w) * (end - a)
    else:
        a[...] = end - (end - a) * a.dtype.type(1 - w)


def _norm(xp, a, axis=None, keepdims=False):
    return xp.sqrt(xp.sum(a * a, axis=axis, keepdims=keepdims))


class Adafactor(PerParamOptimizer):
    """``Adafactor(params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
    weight_decay=0.0, *, foreach=None, maximize=False)``, torch's algorithm. At a parameter's
    step ``t`` (from 1), with ``G`` its gradient (negated under ``maximize``)::

        beta = t ** beta2_decay;  rho = min(lr, 1 / sqrt(t))
        alpha = max(eps2, RMS(p)) * rho;  p *= 1 - lr * weight_decay
        p.ndim >= 2:  row_var = lerp(row_var, mean(G^2, -1), beta)   # (..., m, 1)
                      col_var = lerp(col_var, mean(G^2, -2), beta)   # (..., 1, n)
                      V = row_var @ col_var / max(mean(row_var, -2), eps1)
        otherwise:    variance = lerp(variance, G^2, beta);  V = variance
        U = G / sqrt(max(V, eps1^2));  p -= alpha / max(1, RMS(U) / d) * U

    ``eps1`` None is the machine epsilon of the parameter's dtype. State per parameter, as
    torch's: ``step`` and either ``row_var`` and ``col_var`` (parameters with 2 or more
    dimensions, factored over the last two) or ``variance``; made at its first step with a
    gradient, and a parameter whose ``.grad`` is None is skipped, as torch skips it. LR
    schedulers set ``lr``. ``foreach`` is accepted and ignored (both of torch's
    implementations compute the same). Like every pydlk optimiser, a group also takes
    ``l1_weight_decay`` (adds ``l1_weight_decay * sign(p)`` to the gradient) and ``max_norm``.

    Differs from torch: ``step`` in the state is an int (torch keeps a 0-d float tensor; each
    loads the other's). Raises ValueError for a negative ``lr``, ``eps`` or ``weight_decay``, a
    positive ``beta2_decay`` or ``d < 1`` (torch's messages)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        l1_weight_decay: float = 0.0,
        max_norm: float | None = None,
    ) -> None:
        if hasattr(lr, "numel") and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        super().__init__(
            params,
            {
                "lr": lr,
                "beta2_decay": beta2_decay,
                "eps": eps,
                "d": d,
                "weight_decay": weight_decay,
                "foreach": foreach,
                "maximize": maximize,
                "l1_weight_decay": l1_weight_decay,
                "max_norm": max_norm,
            },
        )

    def _step_param(self, p, param, grad, state, g):
        xp = get_array_module(param)
        dt = param.dtype.type
        grad = -grad if g["maximize"] else grad
        if g["l1_weight_decay"]:
            grad = grad + dt(g["l1_weight_decay"]) * xp.sign(param)
        factored = grad.ndim > 1
        if not state:  # torch's _init_group
            state["step"] = 0
            if factored:
                state["row_var"] = xp.zeros(grad.shape[:-1] + (1,), param.dtype)
                state["col_var"] = xp.zeros(grad.shape[:-2] + (1, grad.shape[-1]), param.dtype)
            else:
                state["variance"] = xp.zeros(grad.shape, param.dtype)
        lr = float(g["lr"])
        eps1, eps2 = g["eps"]
        if eps1 is None:
            eps1 = float(np.finfo(param.dtype).eps)
        state["step"] += 1
        t = float(state["step"])
        beta = t ** g["beta2_decay"]
        rho = min(lr, 1 / (t**0.5))
        n = param.size
        alpha = max(eps2, float(_norm(xp, param)) / (n**0.5)) * rho
        if g["weight_decay"] != 0:
            param *= dt(1 - lr * g["weight_decay"])
        if factored:
            row_var, col_var = state["row_var"], state["col_var"]
            row_mean = _norm(xp, grad, axis=-1, keepdims=True) ** 2 / dt(grad.shape[-1])
            _lerp_(xp, row_var, row_mean, beta)
            col_mean = _norm(xp, grad, axis=-2, keepdims=True) ** 2 / dt(grad.shape[-2])
            _lerp_(xp, col_var, col_mean, beta)
            var = matmul(row_var, col_var)
            var /= xp.maximum(row_var.mean(axis=-2, keepdims=True), dt(eps1))
        else:
            variance = state["variance"]
            _lerp_(xp, variance, grad * grad, beta)
            var = variance.copy()
        update = 1 / xp.sqrt(xp.maximum(var, dt(eps1 * eps1)))
        update *= grad
        denom = max(1.0, float(_norm(xp, update)) / ((update.size**0.5) * g["d"]))
        param += dt(-alpha / denom) * update
