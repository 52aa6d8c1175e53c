"""Averaged SGD (Polyak & Juditsky 1992) as torch.optim.ASGD, on the flat parameter arena.

The step is a NumPy (or CuPy) pass over the arena's flat buffers, as Adadelta's: a few whole-arena
array operations. ``eta`` and ``mu`` are scalars shared by an arena's parameters (they depend on
the step count and the group's hyperparameters only, and an arena steps all its parameters
together); ``state_dict`` gives each parameter its 0-d copy, as torch's."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._typing import ParamsT
from ..autograd import Tensor
from ..ops.dtype_utils import default_float
from .optimizer import Optimizer, _state_array

__all__ = ["ASGD"]

_SCALARS = ("eta", "mu")


def _scalar(v: float) -> float:
    """``v`` rounded as torch's 0-d ``eta``/``mu`` hold it: float64 under a float64 default
    dtype, float32 otherwise (torch's ``_get_scalar_dtype``)."""
    return float(np.float64(v) if default_float() == np.float64 else np.float32(v))


class ASGD(Optimizer):
    """``ASGD(params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0)``, torch's
    averaged stochastic gradient descent. At step ``t`` (from 1), with ``eta`` starting at
    ``lr`` and ``mu`` at 1::

        g += weight_decay * p
        p *= 1 - lambd * eta;  p -= eta * g
        ax = p if mu == 1 else ax + mu * (p - ax)
        eta = lr / (1 + lambd * lr * t) ** alpha;  mu = 1 / max(1, t - t0)

    ``ax`` is the running average of the iterates from step ``t0`` on (copy it into the model
    to evaluate the averaged weights). State names ``step``, ``eta``, ``mu`` and ``ax``, as
    torch's; ``eta`` and ``mu`` are 0-d Tensors in the state dict, rounded to float32 unless
    the default dtype is float64, as torch's. ``foreach``, ``capturable`` and
    ``differentiable`` are accepted and ignored; ``maximize`` ascends. Like every pydlk
    optimiser, a group also takes ``l1_weight_decay`` and ``max_norm``.

    Differs from torch: the parameters of one arena (a group's parameters of one dtype and
    device) share ``eta`` and ``mu``, as they share the step count; loading a state dict whose
    parameters disagree keeps the last parameter's values.

    Raises ValueError for a negative ``lr`` or ``weight_decay`` (torch's messages)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
        *,
        l1_weight_decay: float = 0.0,
        max_norm: float | None = None,
    ) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(
            params,
            {
                "lr": lr,
                "lambd": lambd,
                "alpha": alpha,
                "t0": t0,
                "weight_decay": weight_decay,
                "foreach": foreach,
                "maximize": maximize,
                "differentiable": differentiable,
                "capturable": capturable,
                "l1_weight_decay": l1_weight_decay,
                "max_norm": max_norm,
            },
        )

    def _init_arena(self, a, g):
        a.new_state("ax")
        a.asgd_eta = None  # None until the first step: eta starts at the group's lr then
        a.asgd_mu = None

    def _step_arena(self, a, g):
        xp, p, ax = a.xp, a.param, a.state["ax"]
        dt = p.dtype.type
        lr, lambd, alpha, t0 = float(g["lr"]), g["lambd"], g["alpha"], g["t0"]
        eta = _scalar(lr) if a.asgd_eta is None else a.asgd_eta
        mu = 1.0 if a.asgd_mu is None else a.asgd_mu
        grad = -a.grad if g["maximize"] else a.grad
        if g["weight_decay"]:
            grad = grad + dt(g["weight_decay"]) * p
        if g["l1_weight_decay"]:
            grad = grad + dt(g["l1_weight_decay"]) * xp.sign(p)
        p *= dt(1 - lambd * eta)
        p -= dt(eta) * grad
        if mu != 1:
            ax += (p - ax) * dt(mu)
        else:
            ax[...] = p
        a.fresh.discard("ax")
        t = a.step
        a.asgd_eta = _scalar(lr / ((1 + lambd * lr * t) ** alpha))
        a.asgd_mu = _scalar(1 / max(1, t - t0))

    # -- state: eta and mu as 0-d Tensors per parameter, as torch's ------------------------
    def _scalar_state(self, a, g) -> dict[str, Tensor]:
        dt = np.float64 if default_float() == np.float64 else np.float32
        eta = _scalar(float(g["lr"])) if a.asgd_eta is None else a.asgd_eta
        mu = 1.0 if a.asgd_mu is None else a.asgd_mu
        return {k: Tensor._wrap(a.xp.asarray(v, dt)) for k, v in (("eta", eta), ("mu", mu))}

    def _with_scalars(self, by_param: dict[int, dict[str, Any]]) -> None:
        """Put ``eta`` and ``mu`` into each parameter's state dict (keyed by id), in torch's
        key order: step, eta, mu, ax."""
        for group, arenas in zip(self.param_groups, self._arenas):
            for a in arenas:
                for p in a.params:
                    st = by_param.get(id(p))
                    if st is not None:
                        rest = {k: v for k, v in st.items() if k != "step"}
                        st.clear()
                        st.update({"step": a.step, **self._scalar_state(a, group), **rest})

    @property
    def state(self) -> dict[str, Any]:
        """``{param: {"step": k, "eta": 0-d Tensor, "mu": 0-d Tensor, "ax": Tensor}}``: ``ax``
        is the live buffer (see Optimizer.state); ``eta`` and ``mu`` are copies."""
        out = Optimizer.state.fget(self)  # type: ignore[attr-defined]
        if not self._custom_step():
            self._with_scalars({id(p): st for p, st in out.items()})
        return out

    @state.setter
    def state(self, value: Any) -> None:
        Optimizer.state.fset(self, value)  # type: ignore[attr-defined]
        if not self._custom_step():
            for arenas in self._arenas:
                for a in arenas:
                    a.asgd_eta = a.asgd_mu = None

    def state_dict(self) -> dict[str, Any]:
        """torch's layout (see Optimizer.state_dict), each parameter's state holding ``step``,
        ``eta``, ``mu`` (0-d Tensors) and ``ax``."""
        sd = super().state_dict()
        if not self._custom_step():
            rows = self._index()
            self._with_scalars({id(p): sd["state"][k] for k, _g, p, a, _i in rows if a})
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``ax`` and the step count into the arenas and ``eta``/``mu`` into their
        arena's scalars (from a pydlk or a torch state dict), then the hyperparameters."""
        if self._custom_step():
            return super().load_state_dict(state_dict)
        saved = state_dict["state"]
        stripped = {
            k: {n: v for n, v in st.items() if n not in _SCALARS} for k, st in saved.items()
        }
        super().load_state_dict({**state_dict, "state": stripped})
        keys = [k for g in state_dict["param_groups"] for k in g["params"]]
        for (_k, _gi, _p, a, _i), sk in zip(self._index(), keys):
            st = saved.get(sk, saved.get(str(sk)))
            if a is None or st is None:
                continue
            if "eta" in st:
                a.asgd_eta = _scalar(float(_host_scalar(st["eta"])))
            if "mu" in st:
                a.asgd_mu = _scalar(float(_host_scalar(st["mu"])))


def _host_scalar(v: Any) -> float:
    """A loaded 0-d state value (a pydlk or torch Tensor, an array or a number) as a float."""
    if isinstance(v, (int, float)):
        return float(v)
    a = _state_array(v)
    return float(a.item() if hasattr(a, "item") else a)
