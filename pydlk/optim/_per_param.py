"""The base of optimisers whose state is not one value per parameter element (Adafactor's row and
column factors) or that step each parameter by itself (Muon's orthogonalisation of a matrix).

The parameters still sit in the flat arena (``zero_grad`` is a memset, backward writes into the
slots), but the state is torch's: a dict per parameter, made at the parameter's first step with a
gradient, holding arrays on the parameter's device, and a parameter whose ``.grad`` is None is
skipped, as torch skips it (the arena optimisers step it with a zero gradient). ``state_dict`` and
``load_state_dict`` keep torch's layout and key names, so state dicts move between the two."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._backend import on_device_of
from .._typing import ParamsT
from ..autograd import Tensor, enable_grad
from .optimizer import Optimizer, _state_array

__all__ = ["PerParamOptimizer"]


class PerParamOptimizer(Optimizer):
    """Subclasses implement ``_step_param(p, param, grad, state, group)`` on the parameter's
    array and its gradient's (both views of the arena; write ``param`` in place) and fill
    ``state`` (empty at the first step) with arrays and numbers under torch's names."""

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self._pstate: dict[int, dict[str, Any]] = {}
        super().__init__(params, defaults)

    def _step_param(self, p, param, grad, state, group):
        raise NotImplementedError

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Step each parameter that has a gradient (after syncing hand-set gradients into the
        arena), then apply the group's ``max_norm``."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        op = type(self).__name__ + ".step"
        for group, arenas in zip(self.param_groups, self._arenas):
            for a in arenas:
                a.check(op)
                has_grad = [p._grad is not None for p in a.params]
                a.sync_grads()
                for i, p in enumerate(a.params):
                    if not has_grad[i]:
                        continue
                    state = self._pstate.setdefault(id(p), {})
                    for k, v in state.items():  # the model moved after its optimiser was built
                        if hasattr(v, "shape"):
                            state[k] = on_device_of(v, p._data)
                    self._step_param(p, a.slice(a.param, i), a.slice(a.grad, i), state, group)
                if group["max_norm"] is not None:
                    a.max_norm_(group["max_norm"])
        return loss

    # -- state, as torch keeps it -----------------------------------------------------------
    @property
    def state(self) -> dict[Any, Any]:
        """``{param: {name: value}}`` for the parameters stepped so far; array states are
        Tensors over the live buffers (writing into them changes the optimiser's state)."""
        out = {}
        for group in self.param_groups:
            for p in group["params"]:
                st = self._pstate.get(id(p))
                if st:
                    out[p] = {k: _wrap(v) for k, v in st.items()}
        return out

    @state.setter
    def state(self, value: Any) -> None:
        """``optimizer.state = {}`` (or an empty defaultdict): forget every parameter's state."""
        if not (hasattr(value, "keys") and len(value) == 0):
            raise TypeError(
                f"{type(self).__name__}.state: only an empty dict may be assigned (a reset); use "
                "load_state_dict to set state"
            )
        self._pstate.clear()

    def state_dict(self) -> dict[str, Any]:
        """torch's layout: ``{"state": {index: {name: value}}, "param_groups": [...]}``, the
        parameters numbered in group order, array states as Tensor copies, only parameters
        that have state (as torch's)."""
        state, groups, k = {}, [], 0
        for group in self.param_groups:
            g = {key: v for key, v in group.items() if key != "params"}
            g["params"] = list(range(k, k + len(group["params"])))
            for i, p in zip(g["params"], group["params"]):
                st = self._pstate.get(id(p))
                if st:
                    state[i] = {
                        name: Tensor._wrap(v.copy()) if hasattr(v, "shape") else v
                        for name, v in st.items()
                    }
            k += len(group["params"])
            groups.append(g)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take a pydlk or torch state dict: each state array copied onto its parameter's device
        in its dtype (``step`` a number), then the groups' hyperparameters. The groups must match
        in number and sizes (ValueError, torch's messages)."""
        groups = self._matching_groups(state_dict)
        saved = state_dict["state"]
        new: dict[int, dict[str, Any]] = {}
        for g, mine in zip(groups, self.param_groups):
            for sk, p in zip(g["params"], mine["params"]):
                st = saved.get(sk, saved.get(str(sk)))
                if not st:
                    continue
                new[id(p)] = {k: _loaded(k, v, p) for k, v in st.items()}
        self._pstate = new
        for g, mine in zip(groups, self.param_groups):
            for key, v in g.items():
                if key != "params":
                    mine[key] = v


def _wrap(v):
    return Tensor._wrap(v) if hasattr(v, "shape") else v


def _loaded(name, v, p):
    """A loaded state value for parameter ``p``: ``step`` as an int (torch keeps a 0-d float
    tensor), arrays on ``p``'s device in ``p``'s dtype."""
    if name == "step":
        a = _state_array(v) if hasattr(v, "shape") else v
        return int(round(float(a.item() if hasattr(a, "item") else a)))
    a = _state_array(v)
    return on_device_of(a, p._data).astype(p._data.dtype, copy=True)
