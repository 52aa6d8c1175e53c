"""Adadelta (Zeiler 2012) as torch.optim.Adadelta, on the flat parameter arena.

The step is a NumPy pass over the arena's flat buffers (there is no C++ kernel for it): a few
whole-arena array operations, in place where NumPy allows."""

from __future__ import annotations

from .._typing import ParamsT
from .optimizer import Optimizer, check_nonnegative

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """``Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0)``, torch's formula:

    ``g += weight_decay * p``; ``square_avg = rho*square_avg + (1-rho)*g^2``;
    ``delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g``;
    ``acc_delta = rho*acc_delta + (1-rho)*delta^2``; ``p -= lr*delta``.

    State names ``square_avg`` and ``acc_delta``, as torch's. ``foreach``, ``capturable`` and
    ``differentiable`` are accepted and ignored; ``maximize`` ascends. Like every pydlk optimiser,
    a group also takes ``l1_weight_decay`` (adds ``l1_weight_decay * sign(p)`` to the gradient)
    and ``max_norm``."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
        l1_weight_decay: float = 0.0,
        max_norm: float | None = None,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "rho": rho,
                "eps": eps,
                "weight_decay": weight_decay,
                "foreach": foreach,
                "capturable": capturable,
                "maximize": maximize,
                "differentiable": differentiable,
                "l1_weight_decay": l1_weight_decay,
                "max_norm": max_norm,
            },
        )

    def _check_group(self, g):
        check_nonnegative("Adadelta", "learning rate", g["lr"])
        check_nonnegative("Adadelta", "epsilon", g["eps"])
        check_nonnegative("Adadelta", "weight_decay", g["weight_decay"])
        if not 0.0 <= g["rho"] <= 1.0:
            raise ValueError(f"Adadelta: invalid rho value: {g['rho']}")

    def _init_arena(self, a, g):
        a.new_state("square_avg")
        a.new_state("acc_delta")

    def _step_arena(self, a, g):
        p, sq, acc = a.param, a.state["square_avg"], a.state["acc_delta"]
        xp = a.xp  # NumPy or CuPy: the arena's device
        rho, eps = p.dtype.type(g["rho"]), p.dtype.type(g["eps"])
        grad = -a.grad if g["maximize"] else a.grad.copy()
        if g["weight_decay"]:
            grad += p.dtype.type(g["weight_decay"]) * p
        if g["l1_weight_decay"]:
            grad += p.dtype.type(g["l1_weight_decay"]) * xp.sign(p)
        sq *= rho
        sq += (1 - rho) * grad * grad
        delta = xp.sqrt(acc + eps)
        delta /= xp.sqrt(sq + eps)
        delta *= grad
        acc *= rho
        acc += (1 - rho) * delta * delta
        p -= p.dtype.type(g["lr"]) * delta
