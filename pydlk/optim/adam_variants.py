"""Adamax, NAdam and RAdam: torch.optim's names, arguments, defaults and (single-tensor) formulas,
each stepped over an arena's flat buffers by one fused kernel (``_C.adamax_step``,
``nadam_step``, ``radam_step``, or their GPU counterparts in ``pydlk._cuda``), as Adam is.

As the fused optimisers: ``maximize``; ``weight_decay`` adds ``wd * p`` to the gradient (NAdam
and RAdam: ``decoupled_weight_decay=True`` shrinks ``p`` by ``1 - lr * wd`` instead); every
group also takes ``l1_weight_decay`` and ``max_norm`` (pydlk.optim.optimizer); ``foreach``,
``capturable`` and ``differentiable`` are accepted and ignored. NAdam's running product of the
momentum coefficients is recomputed from the step count when it is not at hand (after
``load_state_dict``), so a state dict holds torch's buffers only.
"""

from __future__ import annotations

import math

from .._backend import kernels_for
from ._fused import check_adam_group
from .optimizer import Optimizer

__all__ = ["Adamax", "NAdam", "RAdam"]


class _AdamFamily(Optimizer):
    _extra: dict = {}

    def __init__(self, params, lr, betas, eps, weight_decay, **kw):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        defaults.update(kw)
        super().__init__(params, defaults)

    def _check_group(self, g):
        check_adam_group(type(self).__name__, g)


class Adamax(_AdamFamily):
    """Adamax (Kingma & Ba): Adam with the infinity norm, as torch.optim.Adamax:
    ``m = b1*m + (1-b1)*g``, ``u = max(b2*u, |g| + eps)``, ``p -= lr / (1 - b1^t) * m / u``."""

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            capturable=capturable,
        )

    def _init_arena(self, a, g):
        a.new_state("exp_avg")
        a.new_state("exp_inf")

    def _step_arena(self, a, g):
        b1, b2 = g["betas"]
        st = a.state
        kernels_for(a.param).adamax_step(
            a.param,
            st["exp_avg"],
            st["exp_inf"],
            a.grad,
            g["lr"],
            b1,
            b2,
            g["eps"],
            g["weight_decay"],
            g["l1_weight_decay"],
            a.step,
            g["maximize"],
        )


class NAdam(_AdamFamily):
    """Adam with Nesterov momentum (Dozat), as torch.optim.NAdam: the momentum coefficient
    ``mu_t = b1 * (1 - 0.5 * 0.96^(t * momentum_decay))`` and its running product weigh the
    gradient and the first moment in each step."""

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        momentum_decay=4e-3,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        if momentum_decay < 0:
            raise ValueError(f"NAdam: invalid momentum_decay value: {momentum_decay}")
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
        )

    def _init_arena(self, a, g):
        a.new_state("exp_avg")
        a.new_state("exp_avg_sq")

    @staticmethod
    def _mu(b1, psi, t):
        return b1 * (1.0 - 0.5 * 0.96 ** (t * psi))

    def _step_arena(self, a, g):
        (b1, b2), t, psi = g["betas"], a.step, g["momentum_decay"]
        held = getattr(a, "nadam_mu", None)  # (step, running product) of the last step
        if held is not None and held[0] == t - 1:
            prod = held[1]
        else:  # first step, or after load_state_dict: the product from the step count
            prod = math.prod(self._mu(b1, psi, k) for k in range(1, t))
        mu, mu_next = self._mu(b1, psi, t), self._mu(b1, psi, t + 1)
        prod *= mu
        a.nadam_mu = (t, prod)
        st = a.state
        kernels_for(a.param).nadam_step(
            a.param,
            st["exp_avg"],
            st["exp_avg_sq"],
            a.grad,
            g["lr"],
            b1,
            b2,
            g["eps"],
            g["weight_decay"],
            g["l1_weight_decay"],
            mu,
            mu_next,
            prod,
            t,
            g["decoupled_weight_decay"],
            g["maximize"],
        )


class RAdam(_AdamFamily):
    """Rectified Adam (Liu et al.), as torch.optim.RAdam: while the variance of the adaptive
    learning rate is intractable (rho_t <= 5) a plain momentum step, after it Adam's step
    scaled by the rectification term."""

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
        )

    def _init_arena(self, a, g):
        a.new_state("exp_avg")
        a.new_state("exp_avg_sq")

    def _step_arena(self, a, g):
        b1, b2 = g["betas"]
        st = a.state
        kernels_for(a.param).radam_step(
            a.param,
            st["exp_avg"],
            st["exp_avg_sq"],
            a.grad,
            g["lr"],
            b1,
            b2,
            g["eps"],
            g["weight_decay"],
            g["l1_weight_decay"],
            a.step,
            g["decoupled_weight_decay"],
            g["maximize"],
        )
