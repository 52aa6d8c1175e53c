"""The optimiser base class and the flat parameter arena (see DESIGN.md, "The parameter arena").

Each optimiser packs the trainable parameters of each parameter group into flat buffers, one set
per dtype (float32 and float64 parameters may share a group; they land in two arenas): ``param``
(the values), ``grad`` (the gradients) and one flat array per state (Adam's ``exp_avg``, ...).
Every parameter is rebound to views of its slot (``pydlk/_arena.py`` packs them and owns the
slot bookkeeping)::

    p._data = arena.param[off:off + n].reshape(p.shape)
    grad_slot(p) is arena.grad[off:off + n].reshape(p.shape)

so backward writes gradients straight into ``arena.grad`` (see pydlk.autograd), ``zero_grad``
writes nothing (``set_to_none``, the default) or one memset per arena, and ``step`` is one fused
C++ kernel call per arena.

Rules that follow from the arena (differences from torch are marked):

* Write new values INTO a parameter (``p.data[...] = v``, ``p.copy_(v)``, ``p.data = v`` of
  the same shape and dtype, a model's load_state_dict): the arena stays intact. Giving it
  another shape or dtype (``p.data = other``) takes the parameter out of its slot and the
  optimiser no longer sees it (not checked per step).
* Parameters with ``requires_grad=False`` when the optimiser is built are left out of the arena
  (they stay in ``param_groups`` and are never touched, as in torch).
* A parameter whose ``.grad`` is None at ``step()`` is stepped with a zero gradient (differs from
  torch, which skips it): momentum, Adam's moments and weight decay still move it. Its slot is
  zeroed first, so a stale value is never used.
* A ``.grad`` assigned by hand (not the slot view) is copied into the slot at ``step()``.
* Building a second optimiser over parameters that already sit in an arena (re-running a
  notebook cell) re-packs them into the new optimiser's arena and DETACHES the old optimiser:
  its ``step``/``zero_grad`` then raise a RuntimeError saying so.
* Besides torch's hyperparameters every group accepts ``l1_weight_decay`` (adds
  ``l1 * sign(p)`` to the gradient inside the fused step) and ``max_norm`` (after the step, each
  unit's incoming weight vector -- row ``i`` of a parameter with 2 or more dimensions, e.g. a
  Linear weight's row or a Conv2d weight's filter ``w[k]`` -- whose norm exceeds ``max_norm``
  is rescaled to norm ``max_norm``; rows below it and 1-D parameters are untouched).

Parameters may live on the CPU (NumPy) or a GPU (CuPy): each arena is allocated on its
parameters' device and stepped by that device's kernel (one arena per group, device and dtype).
``model.to(device)`` after the optimiser was built moves the arenas whose parameters it moves
all of (``Arena.relocate``); moving only some of an arena's parameters leaves the arena behind,
and the optimiser then refuses to step and says to build it after ``model.to(...)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from .._arena import Arena, owning_arena
from .._backend import device_of, is_cupy, on_device_of
from .._oom import maps_cuda_oom
from .._typing import ParamsT
from ..autograd import Tensor, enable_grad

__all__ = ["Optimizer", "required"]


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def check_nonnegative(opt, name: str, value: float) -> None:
    """An optimiser's hyperparameter check, with torch's wording: ``value`` must be >= 0."""
    if not 0.0 <= value:
        raise ValueError(f"{opt}: invalid {name} value: {value}")


class Optimizer:
    """Base class: parameter groups on flat arenas, zero_grad, state_dict/load_state_dict.

    Subclasses set ``_states`` (names of the per-element state arrays, in state_dict order) and
    implement ``_init_arena(arena, group)`` (allocates the states) and
    ``_step_arena(arena, group)`` (one fused kernel call).
    """

    _states = ()

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.defaults.setdefault("l1_weight_decay", 0.0)
        self.defaults.setdefault("max_norm", None)
        self.param_groups: list[dict[str, Any]] = []
        self._arenas: list[list[Any]] = []  # one list of Arena per group
        self._all_params: list[
            Tensor
        ] = []  # every parameter of every group (zero_grad clears their .grad)
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params argument given to the optimizer "
                f"should be an iterable of Tensors or dicts, but got a Tensor"
            )
        groups: list[Any] = list(params)
        if len(groups) == 0:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"

    # -- groups ---------------------------------------------------------------------------
    def _check_group(self, group):
        """Validate a group's hyperparameters (subclasses raise ValueError naming the option)."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(
                f"{name}.add_param_group: param_group must be a dict, "
                f"got {type(param_group).__name__}"
            )
        group = dict(param_group)
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for p in ps:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor")
            if not (isinstance(p._data, np.ndarray) or is_cupy(p._data)):
                raise TypeError(f"{name}: parameters must be NumPy (CPU) or CuPy (GPU) arrays")
            if p._data.dtype not in (np.float32, np.float64):
                raise TypeError(
                    f"{name}: parameters must be float32 or float64, got {p._data.dtype}"
                )
        ids = {id(p) for p in ps}
        if len(ids) != len(ps):
            raise ValueError(f"{name}: a parameter appears twice in one parameter group")
        if any(id(p) in ids for p in self._all_params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(
                    f"{name}: parameter group didn't specify a value of required "
                    f"optimization parameter {k}"
                )
            group.setdefault(k, v)
        group["params"] = ps
        self._check_group(group)
        if group["l1_weight_decay"] < 0:
            raise ValueError(f"{name}: invalid l1_weight_decay value: {group['l1_weight_decay']}")
        if group["max_norm"] is not None and not group["max_norm"] > 0:
            raise ValueError(f"{name}: max_norm must be positive or None, got {group['max_norm']}")
        trainable = [p for p in ps if p.requires_grad]
        arenas = []
        devices = list(dict.fromkeys(device_of(p._data) for p in trainable))
        for dev in devices:
            for dt in (np.float32, np.float64):
                sub = [p for p in trainable if p._data.dtype == dt and device_of(p._data) == dev]
                if sub:
                    a = Arena(sub, dt, self)
                    self._init_arena(a, group)
                    arenas.append(a)
        self.param_groups.append(group)
        self._arenas.append(arenas)
        self._all_params.extend(ps)

    def _init_arena(self, arena, group):
        pass

    # -- gradients ------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """With set_to_none each ``p._grad`` becomes None and nothing is written: the slot stays
        bound, the next backward's first gradient is copied over it (not added), and ``step``
        zeroes the slot of a parameter that got none (``Arena.sync_grads``). Otherwise one
        memset per arena and ``p._grad`` is the zeroed slot."""
        for arenas in self._arenas:
            for a in arenas:
                a.check(f"{type(self).__name__}.zero_grad")
                if not set_to_none:
                    a.grad.fill(0)
                    for p, s in a.pairs:
                        if p._grad is not None:
                            p._grad = s
        for p in self._all_params:
            if p._grad is not None and (set_to_none or owning_arena(p) is None):
                if set_to_none:
                    p._grad = None
                else:
                    p._grad[...] = 0

    # -- the step -------------------------------------------------------------------------
    @maps_cuda_oom  # a failed GPU allocation: pydlk.OutOfMemoryError, as torch's
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One fused kernel call per arena (after syncing hand-set gradients into the slots)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        op = type(self).__name__ + ".step"
        for group, arenas in zip(self.param_groups, self._arenas):
            for a in arenas:
                a.check(op)
                a.sync_grads()
                a.step += 1
                self._step_arena(a, group)
                if group["max_norm"] is not None:
                    a.max_norm_(group["max_norm"])
        return loss

    def _step_arena(self, arena, group):
        raise NotImplementedError

    # -- state ----------------------------------------------------------------------------
    def _custom_step(self) -> bool:
        """True for a user's subclass that writes its own ``step()`` (a Lion or Sophia written
        for torch): it keeps torch's per-parameter state, a ``defaultdict(dict)`` its step fills
        in, and state_dict/load_state_dict pack and restore that dict as torch's do."""
        for cls in type(self).__mro__:
            if "step" in cls.__dict__:
                return not cls.__module__.startswith("pydlk.")
        return False

    def _user_state(self) -> defaultdict:
        st = self.__dict__.get("_plain_state")
        if st is None:
            st = self.__dict__["_plain_state"] = defaultdict(dict)
        return st

    @property
    def state(self) -> dict[str, Any]:
        """``{param: {"step": k, name: Tensor over its slot in each state buffer}}``: the live
        buffers (writing into them changes the optimiser's state, as torch's), Tensors on the
        parameter's device. Differs from torch: ``step`` is an int, and assigning a new dict to
        ``state`` resets every state buffer to zeros and the step counts to 0 instead of
        replacing the dict. A user's subclass with its own ``step()`` gets torch's plain
        ``defaultdict(dict)`` instead, which persists whatever its step stores."""
        if self._custom_step():
            return self._user_state()
        out = {}
        for arenas in self._arenas:
            for a in arenas:
                for i, p in enumerate(a.params):
                    st: dict[str, Any] = {"step": a.step}
                    for k, buf in a.state.items():
                        st[k] = Tensor._wrap(a.slice(buf, i))
                    out[p] = st
        return out

    @state.setter
    def state(self, value: Any) -> None:
        """``optimizer.state = defaultdict(dict)`` (a reset, as scripts write it): zero every
        state buffer and step count; anything but an empty mapping is refused (a user's
        subclass with its own ``step()`` takes any mapping, as torch's)."""
        if self._custom_step():
            self.__dict__["_plain_state"] = (
                value if isinstance(value, defaultdict) else defaultdict(dict, value)
            )
            return
        if not (hasattr(value, "keys") and len(value) == 0):
            raise TypeError(
                f"{type(self).__name__}.state: only an empty dict may be assigned (a reset); use "
                "load_state_dict to set state"
            )
        for arenas in self._arenas:
            for a in arenas:
                for buf in a.state.values():
                    buf.fill(0)
                a.step = 0
                if getattr(a, "step_t", None) is not None:
                    a.step_t.fill(0)

    def _index(self):
        """(group index, param, arena, index in arena or None) for every parameter, in
        state_dict order."""
        rows, k = [], 0
        for gi, (group, arenas) in enumerate(zip(self.param_groups, self._arenas)):
            where = {}
            for a in arenas:
                for i, p in enumerate(a.params):
                    where[id(p)] = (a, i)
            for p in group["params"]:
                a, i = where.get(id(p), (None, None))
                rows.append((k, gi, p, a, i))
                k += 1
        return rows

    def state_dict(self) -> dict[str, Any]:
        """torch's layout: ``{"state": {index: {"step": k, name: Tensor}}, "param_groups":
        [{hyperparameters..., "params": [indices]}]}`` with torch's state names (``exp_avg``,
        ``momentum_buffer``, ...); the Tensors are copies, so a torch optimizer can load it once
        they are converted (``torch.from_numpy(np.asarray(v))``). Differs from torch: ``step``
        is a Python int (torch keeps a 0-d float tensor; its optimizers accept either)."""
        if self._custom_step():
            return self._user_state_dict()
        state, groups = {}, []
        rows = self._index()
        for gi, group in enumerate(self.param_groups):
            g = {k: v for k, v in group.items() if k != "params"}
            g["params"] = [k for (k, gj, *_r) in rows if gj == gi]
            groups.append(g)
        for k, _gi, _p, a, i in rows:
            if a is None:
                continue
            st = {"step": a.step}
            for name, buf in a.state.items():
                st[name] = Tensor._wrap(a.slice(buf, i).copy())
            state[k] = st
        return {"state": state, "param_groups": groups}

    def _matching_groups(self, state_dict: dict[str, Any]) -> list[dict[str, Any]]:
        """``state_dict``'s param_groups, which must match this optimiser's in number and sizes
        (ValueError, torch's messages)."""
        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: loaded state dict has {len(groups)} "
                f"parameter groups, this optimizer has {len(self.param_groups)}"
            )
        for g, mine in zip(groups, self.param_groups):
            if len(g["params"]) != len(mine["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: loaded state dict contains a parameter "
                    f"group that doesn't match the size of optimizer's group"
                )
        return groups

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Write a state_dict's states into the arena (the views stay bound) and take its
        hyperparameters. The groups must match in number and sizes."""
        name = type(self).__name__
        groups = self._matching_groups(state_dict)
        if self._custom_step():
            return self._load_user_state(state_dict, groups)
        rows = self._index()
        saved = state_dict["state"]
        for (k, _gi, _p, a, i), sk in zip(rows, [x for g in groups for x in g["params"]]):
            st = saved.get(sk, saved.get(str(sk)))
            if a is None or st is None:
                continue
            a.step = int(st.get("step", 0))  # an int, or torch's / pydlk's 0-d tensor
            for sname, val in st.items():
                if sname == "step":
                    continue
                if sname not in a.state:
                    a.new_state(sname)
                dst = a.slice(a.state[sname], i)
                val = on_device_of(_state_array(val), dst)  # onto the arena's device
                if val.shape != dst.shape:
                    raise ValueError(
                        f"{name}.load_state_dict: state {sname!r} of parameter {k} "
                        f"has shape {val.shape}, the parameter has {dst.shape}"
                    )
                dst[...] = val
                a.fresh.discard(sname)
        for g, mine in zip(groups, self.param_groups):
            for key, v in g.items():
                if key != "params":
                    mine[key] = v

    def _user_state_dict(self) -> dict[str, Any]:
        """torch's packing of a plain state: parameters numbered in group order."""
        index, groups, k = {}, [], 0
        for group in self.param_groups:
            g = {key: v for key, v in group.items() if key != "params"}
            g["params"] = list(range(k, k + len(group["params"])))
            index.update({id(p): i for p, i in zip(group["params"], g["params"])})
            k += len(group["params"])
            groups.append(g)
        state = {index[id(p)]: v for p, v in self._user_state().items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def _load_user_state(self, state_dict: dict[str, Any], groups: list) -> None:
        """Restore a plain state (copies on their parameter's device; floating-point Tensors
        cast to its dtype, except ``step``, as torch's), then the groups' hyperparameters."""
        import copy

        params = [p for g in self.param_groups for p in g["params"]]
        saved_ids = [i for g in groups for i in g["params"]]
        by_id = dict(zip(saved_ids, params))
        state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            p = by_id.get(k, by_id.get(int(k)) if str(k).isdigit() else None)
            if p is None:
                continue
            state[p] = {name: _cast_state(p, name, val, copy.deepcopy) for name, val in v.items()}
        self.__dict__["_plain_state"] = state
        for g, mine in zip(groups, self.param_groups):
            for key, v in g.items():
                if key != "params":
                    mine[key] = v


def _cast_state(p, name, val, deepcopy):
    """A loaded plain-state value for parameter ``p``, as torch's ``load_state_dict`` casts it:
    a Tensor copied onto ``p``'s device (floating point ones, except ``step``, in ``p``'s
    dtype), dicts and lists entry by entry, anything else deep-copied."""
    if isinstance(val, Tensor):
        val = val.detach()
        if name != "step" and val.is_floating_point():
            return val.to(device=p.device, dtype=p.dtype, copy=True)
        return val.to(device=p.device, copy=True) if name != "step" else val.clone()
    if isinstance(val, dict):
        return {k: _cast_state(p, k, v, deepcopy) for k, v in val.items()}
    if isinstance(val, (list, tuple)):
        return type(val)(_cast_state(p, name, v, deepcopy) for v in val)
    return deepcopy(val)


def _state_array(v):
    """A loaded state value as an array: a pydlk Tensor's array, a torch tensor through NumPy,
    anything else through ``np.asarray``."""
    if isinstance(v, Tensor):
        return v._data
    if is_cupy(v):
        return v
    if hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch tensor
        return v.detach().cpu().numpy()
    return np.asarray(v)
