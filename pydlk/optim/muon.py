"""Muon (Jordan et al. 2024) as torch.optim.Muon: momentum whose update is orthogonalised by a
quintic Newton-Schulz iteration, for 2-D parameters, on NumPy or CuPy arrays.

torch runs the iteration in bfloat16 (each product accumulated in float32 and rounded to
bfloat16); so does this one, rounding float32 results to bfloat16 (to nearest, ties to even)
after every operation where torch's bfloat16 tensors round, so that the update is torch's. The
products run on the kernels' matmul (pydlk's BLAS and thread team, pydlk._matmul)."""

from __future__ import annotations

import math

import numpy as np

from .. import _C
from .._backend import get_array_module
from .._matmul import matmul
from .._typing import ParamsT
from ._per_param import PerParamOptimizer

__all__ = ["Muon"]

# torch's defaults (Keller Jordan's coefficients)
EPS = 1e-7
DEFAULT_A = 3.4445
DEFAULT_B = -4.7750
DEFAULT_C = 2.0315
DEFAULT_NS_STEPS = 5


def _bf16(x):
    """float32 array ``x`` rounded to the nearest bfloat16 (ties to even), kept as float32."""
    xp = get_array_module(x)
    u = x.view(np.uint32)
    r = (u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))) & np.uint32(0xFFFF0000)
    return xp.where(xp.isnan(x), x, r.view(np.float32))


def _mm(a, b):
    """``a @ b`` of two float32 arrays holding bfloat16 values, summed in float32: pydlk's bf16
    GEMM (vdpbf16ps / AMX, exact on such operands, as torch's bf16 matmul on the CPU) where the
    CPU has AVX512_BF16, else the float32 product (the same products, summed in float32)."""
    if get_array_module(a) is np and _C.bf16_supported():
        return _C.gemm_bf16(np.ascontiguousarray(a), np.ascontiguousarray(b))
    return matmul(a, b)


def _f32(v: float) -> np.float32:
    return np.float32(v)


def zeropower_via_newtonschulz(grad, ns_coefficients, ns_steps: int, eps: float):
    """torch's ``_zeropower_via_newtonschulz`` on a 2-D array: ``X = G / max(|G|_F, eps)``
    (the transpose when G has more rows than columns), then ``ns_steps`` times
    ``A = X X^T;  X = a X + (b A + c A A) X``, in bfloat16 arithmetic; returns a float32 array
    of bfloat16 values, G's shape. Raises ValueError as torch's (2-D only, fewer than 100
    steps, three coefficients)."""
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if len(grad.shape) != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(ns_coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    xp = get_array_module(grad)
    a, b, c = (_f32(v) for v in ns_coefficients)
    x = _bf16(grad.astype(np.float32))  # torch's bfloat16 of a double goes through float too
    tall = grad.shape[0] > grad.shape[1]
    if tall:
        x = xp.ascontiguousarray(x.T)
    norm = _bf16(xp.sqrt(xp.sum(x.astype(np.float64) ** 2)).astype(np.float32))
    x = _bf16(x / xp.maximum(norm, _bf16(xp.asarray(eps, np.float32))))
    for _ in range(ns_steps):
        gram = _bf16(_mm(x, x.T))
        upd = _bf16(b * gram + c * _mm(gram, gram))
        x = _bf16(a * x + _mm(upd, x))
    return x.T if tall else x


def _adjust_lr(lr: float, adjust_lr_fn: str | None, shape) -> float:
    """torch's learning-rate scaling by the matrix's shape (A, B)."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, rows / cols))
    elif adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(rows, cols))
    else:
        ratio = 1.0
    return lr * ratio


class Muon(PerParamOptimizer):
    """``Muon(params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
    ns_coefficients=(3.4445, -4.7750, 2.0315), eps=1e-7, ns_steps=5, adjust_lr_fn=None)``,
    torch's algorithm, for 2-D parameters only (hidden layers' weights; train biases and
    embeddings with another optimiser)::

        B = lerp(B, G, 1 - momentum)                      # state "momentum_buffer"
        U = lerp(G, B, momentum) if nesterov else B
        O = newton_schulz(U)                              # bfloat16, as torch's
        p *= 1 - lr * weight_decay;  p -= adjusted_lr * O

    ``adjusted_lr`` is ``lr * sqrt(max(1, A / B))`` ("original", the default) or
    ``0.2 * lr * sqrt(max(A, B))`` ("match_rms_adamw") for an (A, B) parameter. A parameter
    whose ``.grad`` is None is skipped, as torch skips it. Like every pydlk optimiser, a group
    also takes ``l1_weight_decay`` and ``max_norm``.

    Raises ValueError as torch's: a parameter that is not 2-D (naming its size), a negative
    ``lr``, ``momentum`` or ``weight_decay``, an unknown ``adjust_lr_fn``."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = (DEFAULT_A, DEFAULT_B, DEFAULT_C),
        eps: float = EPS,
        ns_steps: int = DEFAULT_NS_STEPS,
        adjust_lr_fn: str | None = None,
        *,
        l1_weight_decay: float = 0.0,
        max_norm: float | None = None,
    ) -> None:
        if hasattr(lr, "numel") and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ["original", "match_rms_adamw"]:
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        super().__init__(
            params,
            {
                "lr": lr,
                "weight_decay": weight_decay,
                "momentum": momentum,
                "nesterov": nesterov,
                "ns_coefficients": ns_coefficients,
                "eps": eps,
                "ns_steps": ns_steps,
                "adjust_lr_fn": adjust_lr_fn,
                "l1_weight_decay": l1_weight_decay,
                "max_norm": max_norm,
            },
        )

    def _check_group(self, group):
        for p in group["params"]:
            if p.ndim != 2:
                raise ValueError(
                    "Muon only supports 2D parameters whereas we found a parameter with size: "
                    f"{p.size()}"
                )

    def _step_param(self, p, param, grad, state, g):
        xp = get_array_module(param)
        dt = param.dtype.type
        if g["l1_weight_decay"]:
            grad = grad + dt(g["l1_weight_decay"]) * xp.sign(param)
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = xp.zeros_like(grad)
        buf = state["momentum_buffer"]
        m = float(g["momentum"])
        _lerp_(buf, grad, 1 - m)
        if g["nesterov"]:
            update = grad.copy()
            _lerp_(update, buf, m)
        else:
            update = buf
        ortho = zeropower_via_newtonschulz(update, g["ns_coefficients"], g["ns_steps"], g["eps"])
        lr = float(g["lr"])
        adjusted = _adjust_lr(lr, g["adjust_lr_fn"], param.shape)
        param *= dt(1 - lr * g["weight_decay"])
        param += dt(-adjusted) * ortho.astype(param.dtype)


def _lerp_(a, end, w):
    """``a.lerp_(end, w)`` with torch's formula for a scalar weight."""
    if w < 0.5:
        a += a.dtype.type(w) * (end - a)
    else:
        a[...] = end - (end - a) * a.dtype.type(1 - w)
