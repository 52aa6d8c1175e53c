"""SparseAdam and Rprop as torch.optim's, stepped with NumPy (or CuPy) passes over an arena's
flat buffers (there is no C++ kernel for them)."""

from __future__ import annotations

import math

from .._typing import ParamsT
from .optimizer import Optimizer

__all__ = ["SparseAdam", "Rprop"]


class SparseAdam(Optimizer):
    """``SparseAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False)``: Adam
    that moves only the rows a gradient touched (embedding tables trained with
    ``nn.Embedding(sparse=True)``), torch's formula on those rows:
    ``m = b1*m + (1-b1)*g``, ``v = b2*v + (1-b2)*g^2``,
    ``p -= lr * sqrt(1-b2^t) / (1-b1^t) * m / (sqrt(v) + eps)``; other rows, and their
    moments, are left as they are.

    Differs from torch: pydlk's gradients are dense, so "touched" means a row (a slice along
    dimension 0) with a nonzero gradient entry; torch takes the sparse gradient's rows (a row
    looked up whose gradient is exactly zero is stepped there, not here). Dense gradients are
    accepted (torch refuses them). The step count is shared by a group's parameters."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
    ) -> None:
        if not 0.0 < lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "maximize": maximize})

    def _init_arena(self, a, g):
        a.new_state("exp_avg")
        a.new_state("exp_avg_sq")

    def _step_arena(self, a, g):
        xp = a.xp
        b1, b2 = g["betas"]
        t = a.step
        step_size = g["lr"] * math.sqrt(1 - b2**t) / (1 - b1**t)
        for i, p in enumerate(a.params):
            shape = p._data.shape
            n0 = shape[0] if len(shape) else 1
            grad = a.slice(a.grad, i).reshape(n0, -1)
            rows = xp.nonzero((grad != 0).any(axis=1))[0]
            if rows.size == 0:
                continue
            param = a.slice(a.param, i).reshape(n0, -1)
            m = a.slice(a.state["exp_avg"], i).reshape(n0, -1)
            v = a.slice(a.state["exp_avg_sq"], i).reshape(n0, -1)
            gr = -grad[rows] if g["maximize"] else grad[rows]
            mr = m[rows] + (gr - m[rows]) * (1 - b1)
            vr = v[rows] + (gr * gr - v[rows]) * (1 - b2)
            m[rows], v[rows] = mr, vr
            param[rows] -= (step_size * mr / (xp.sqrt(vr) + g["eps"])).astype(param.dtype)


class Rprop(Optimizer):
    """``Rprop(params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50))``, torch's resilient
    backpropagation: each element's step size grows by ``etas[1]`` while its gradient keeps
    its sign and shrinks by ``etas[0]`` when the sign flips (clamped to ``step_sizes``); after
    a flip the element waits a step. ``p -= sign(g) * step_size``. State names ``prev`` and
    ``step_size``, as torch's. ``foreach``, ``capturable`` and ``differentiable`` are accepted
    and ignored; ``maximize`` ascends."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        super().__init__(
            params,
            {
                "lr": lr,
                "etas": tuple(etas),
                "step_sizes": tuple(step_sizes),
                "foreach": foreach,
                "maximize": maximize,
                "differentiable": differentiable,
                "capturable": capturable,
            },
        )

    def _init_arena(self, a, g):
        a.new_state("prev")
        a.new_state("step_size")

    def _step_arena(self, a, g):
        xp = a.xp
        if "step_size" in a.fresh:  # torch fills it with the lr at the first step
            a.state["step_size"].fill(g["lr"])
            a.fresh.discard("step_size")
        a.fresh.discard("prev")
        etaminus, etaplus = g["etas"]
        lo, hi = g["step_sizes"]
        prev, step_size, p = a.state["prev"], a.state["step_size"], a.param
        grad = -a.grad if g["maximize"] else a.grad.copy()
        sign = xp.sign(grad * prev)
        factor = xp.where(sign > 0, etaplus, xp.where(sign < 0, etaminus, 1.0)).astype(p.dtype)
        step_size *= factor
        xp.clip(step_size, lo, hi, out=step_size)
        grad[sign < 0] = 0
        p -= xp.sign(grad) * step_size
        prev[...] = grad
