"""SGD, Adam, AdamW, RMSprop and Adagrad: torch.optim's names, arguments, defaults and
(single-tensor) formulas, each step one fused kernel call per arena (``*_step`` of pydlk._C for
CPU parameters, of pydlk._cuda on a GPU, chosen by ``kernels_for`` from the arena's array).

Differences from torch: ``foreach``, ``fused`` and ``differentiable`` are accepted and ignored
(there is one implementation), and so is ``capturable`` except for Adam/AdamW on a GPU (there it
keeps the step count on the device, see ``Adam``; on the CPU, where torch refuses it, it is
ignored); every group also takes
``l1_weight_decay`` and ``max_norm`` (see pydlk.optim.optimizer); a parameter whose .grad is
None is stepped with a zero gradient.
"""

import numpy as np

from .._backend import is_cupy, kernels_for
from .optimizer import Optimizer, check_nonnegative

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


def check_adam_group(name, g):
    """lr, eps, weight_decay non-negative and both betas in [0, 1), as torch's Adam family
    checks them (Adam, AdamW, Adamax, NAdam, RAdam)."""
    for k in ("lr", "eps", "weight_decay"):
        check_nonnegative(name, k, g[k])
    for i, b in enumerate(g["betas"]):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"{name}: invalid beta parameter at index {i}: {b}")


def _state_or_new(a, name):
    """The arena's state buffer ``name``, made (zeros) on first use: a group may turn on
    momentum, AMSGrad or centering after its arena was built (through param_groups)."""
    buf = a.state.get(name)
    return a.new_state(name) if buf is None else buf


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as torch.optim.SGD:
    ``v = momentum*v + (1-dampening)*g`` (first step ``v = g``), ``p -= lr*v`` (Nesterov:
    ``p -= lr*(g + momentum*v)``)."""

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0,
        dampening=0,
        weight_decay=0,
        nesterov=False,
        *,
        maximize=False,
        foreach=None,
        differentiable=False,
        fused=None,
        l1_weight_decay=0.0,
        max_norm=None,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                maximize=maximize,
                foreach=foreach,
                differentiable=differentiable,
                fused=fused,
                l1_weight_decay=l1_weight_decay,
                max_norm=max_norm,
            ),
        )

    def _check_group(self, g):
        for k in ("lr", "momentum", "weight_decay"):
            check_nonnegative("SGD", k, g[k])
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")

    def _init_arena(self, a, g):
        if g["momentum"] != 0:
            a.new_state("momentum_buffer")

    def _step_arena(self, a, g):
        mom = g["momentum"]
        buf = _state_or_new(a, "momentum_buffer") if mom != 0 else None
        first = "momentum_buffer" in a.fresh  # torch: the first step sets v = g
        if first:
            a.fresh.discard("momentum_buffer")
        kernels_for(a.param).sgd_step(
            a.param,
            buf,
            a.grad,
            g["lr"],
            mom,
            g["dampening"],
            g["weight_decay"],
            g["l1_weight_decay"],
            g["nesterov"],
            g["maximize"],
            first,
        )


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction, eps added after the square root, optional
    AMSGrad, as torch.optim.Adam. ``decoupled_weight_decay=True`` is AdamW.

    ``capturable=True`` (as torch) on GPU parameters keeps each arena's step count in device
    memory: a step increments it with a device op and the fused kernel computes the bias
    corrections from it, so a step captured in a CUDA graph (``pydlk.cuda.graph_train_step``)
    is right on every replay. ``state_dict``/``state`` read the count back from the device."""

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
        fused=None,
        decoupled_weight_decay=False,
        l1_weight_decay=0.0,
        max_norm=None,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                amsgrad=amsgrad,
                maximize=maximize,
                foreach=foreach,
                capturable=capturable,
                differentiable=differentiable,
                fused=fused,
                decoupled_weight_decay=decoupled_weight_decay,
                l1_weight_decay=l1_weight_decay,
                max_norm=max_norm,
            ),
        )

    def _check_group(self, g):
        check_adam_group(type(self).__name__, g)

    def _init_arena(self, a, g):
        a.new_state("exp_avg")
        a.new_state("exp_avg_sq")
        if g["amsgrad"]:
            a.new_state("max_exp_avg_sq")

    def _step_arena(self, a, g):
        st = a.state
        vmax = _state_or_new(a, "max_exp_avg_sq") if g["amsgrad"] else None
        b1, b2 = g["betas"]
        dstep = self._device_step(a, g)
        kernels_for(a.param).adam_step(
            a.param,
            st["exp_avg"],
            st["exp_avg_sq"],
            vmax,
            a.grad,
            g["lr"],
            b1,
            b2,
            g["eps"],
            g["weight_decay"],
            g["l1_weight_decay"],
            a.step if dstep is None else dstep,
            g["decoupled_weight_decay"],
            g["maximize"],
        )

    @staticmethod
    def _device_step(a, g):
        """The arena's step count on its GPU, advanced by one (capturable), or None."""
        if not (g["capturable"] and is_cupy(a.param)):
            return None
        t = getattr(a, "step_t", None)
        if t is None:  # first capturable step: a.step was already advanced by step()
            t = a.step_t = a.xp.full(1, a.step - 1, np.float64)
        t += 1  # a device op: a graph replay advances it too
        return t

    def _pull_steps(self):
        """Host step counts from the device ones (after graph replays the host's are stale)."""
        for arenas in self._arenas:
            for a in arenas:
                t = getattr(a, "step_t", None)
                if t is not None:
                    a.step = int(float(t[0]))

    @property
    def state(self):
        self._pull_steps()
        return super().state

    @state.setter
    def state(self, value):
        Optimizer.state.fset(self, value)  # a reset

    def state_dict(self):
        self._pull_steps()
        return super().state_dict()

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for arenas in self._arenas:
            for a in arenas:
                t = getattr(a, "step_t", None)
                if t is not None:
                    t[...] = a.step


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW:
    ``p *= 1 - lr*weight_decay`` before the Adam update; weight_decay defaults to 1e-2."""

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        *,
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        fused=None,
        l1_weight_decay=0.0,
        max_norm=None,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
            l1_weight_decay=l1_weight_decay,
            max_norm=max_norm,
        )


class RMSprop(Optimizer):
    """RMSprop as torch.optim.RMSprop: ``sq = alpha*sq + (1-alpha)*g^2``; centered subtracts
    the squared running mean of g; eps is added after the square root; optional momentum."""

    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
        *,
        l1_weight_decay=0.0,
        max_norm=None,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
                capturable=capturable,
                foreach=foreach,
                maximize=maximize,
                differentiable=differentiable,
                l1_weight_decay=l1_weight_decay,
                max_norm=max_norm,
            ),
        )

    def _check_group(self, g):
        for k in ("lr", "eps", "momentum", "weight_decay", "alpha"):
            check_nonnegative("RMSprop", k, g[k])

    def _init_arena(self, a, g):
        a.new_state("square_avg")
        if g["momentum"] > 0:
            a.new_state("momentum_buffer")
        if g["centered"]:
            a.new_state("grad_avg")

    def _step_arena(self, a, g):
        st = a.state
        ga = _state_or_new(a, "grad_avg") if g["centered"] else None
        buf = _state_or_new(a, "momentum_buffer") if g["momentum"] > 0 else None
        kernels_for(a.param).rmsprop_step(
            a.param,
            st["square_avg"],
            ga,
            buf,
            a.grad,
            g["lr"],
            g["alpha"],
            g["eps"],
            g["weight_decay"],
            g["l1_weight_decay"],
            g["momentum"],
            g["maximize"],
        )


class Adagrad(Optimizer):
    """Adagrad as torch.optim.Adagrad: ``sum += g^2``,
    ``p -= lr/(1 + (t-1)*lr_decay) * g/(sqrt(sum) + eps)``."""

    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        fused=None,
        l1_weight_decay=0.0,
        max_norm=None,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
                foreach=foreach,
                maximize=maximize,
                differentiable=differentiable,
                fused=fused,
                l1_weight_decay=l1_weight_decay,
                max_norm=max_norm,
            ),
        )

    def _check_group(self, g):
        for k in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_nonnegative("Adagrad", k, g[k])

    def _init_arena(self, a, g):
        a.new_state("sum", g["initial_accumulator_value"])

    def _step_arena(self, a, g):
        kernels_for(a.param).adagrad_step(
            a.param,
            a.state["sum"],
            a.grad,
            g["lr"],
            g["lr_decay"],
            g["eps"],
            g["weight_decay"],
            g["l1_weight_decay"],
            a.step,
            g["maximize"],
        )
