"""Parameter averaging, as torch.optim.swa_utils: ``AveragedModel`` (an nn.Module holding a deep
copy of the model, whose parameters, and buffers with ``use_buffers=True``,
``update_parameters`` averages: stochastic weight averaging by default, an exponential moving
average with ``get_ema_multi_avg_fn`` / ``get_ema_avg_fn``), ``update_bn`` (recomputes the
BatchNorm statistics in one pass over a loader), ``SWALR`` and the ``get_*_avg_fn`` builders.

Not in torch: ``ExponentialMovingAverage`` keeps an EMA of an optimizer's (or a parameter
list's) values as flat shadow buffers parallel to its arenas, with ``average_parameters()`` to
swap it into the live parameters for a block, and ``copy_to()``.

The lerp rules (the default SWA average, ``get_swa_multi_avg_fn()``, ``get_ema_multi_avg_fn()``
and ``ExponentialMovingAverage``) are one fused pass per buffer (``average_update`` of pydlk._C,
or of pydlk._cuda for buffers on a GPU). When the source model's parameters are packed in an
optimizer's arenas, ``AveragedModel`` packs their averaged copies alike into flat buffers of
its own, so that an update is one kernel call per arena. Everything stays on the averaged
model's device.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .._arena import grad_slot, owning_arena
from .._backend import device_of, kernels_for
from .._typing import ParamsT
from ..autograd import Tensor, no_grad, tensor
from ..nn.module import Module
from ..nn.normalization import _BatchNorm
from ..ops.conversions import _move
from .lr_scheduler import LRScheduler, _format_param
from .optimizer import Optimizer

__all__ = [
    "AveragedModel",
    "update_bn",
    "SWALR",
    "get_ema_multi_avg_fn",
    "get_swa_multi_avg_fn",
    "get_ema_avg_fn",
    "get_swa_avg_fn",
    "ExponentialMovingAverage",
]


class _Averager:
    def __init__(self, source):
        if isinstance(source, Optimizer):
            self._opt = source
            self._arenas = [a for arenas in source._arenas for a in arenas]
            self._params = None
            srcs = [a.param for a in self._arenas]
        else:
            if hasattr(source, "parameters") and callable(source.parameters):
                source = source.parameters()
            self._opt = None
            self._params = [p for p in ([source] if isinstance(source, Tensor) else source)]
            if not self._params:
                raise ValueError(f"{type(self).__name__}: got an empty parameter list")
            for p in self._params:
                if not isinstance(p, Tensor) or p._data.dtype not in (np.float32, np.float64):
                    raise TypeError(
                        f"{type(self).__name__}: parameters must be float32/float64 Tensors"
                    )
            srcs = [p._data for p in self._params]
        self.shadow = [s.copy() for s in srcs]  # on the parameters' device

    def _sources(self):
        """The live arrays (re-read each time: an optimizer built later rebinds p._data)."""
        if self._params is None:
            for a in self._arenas:
                a.check(f"{type(self).__name__}")
            return [a.param for a in self._arenas]
        return [p._data if p._data.flags.c_contiguous else None for p in self._params]

    def _blend(self, w):
        for s, x, p in zip(self.shadow, self._sources(), self._params or [None] * len(self.shadow)):
            if x is None:  # a non-contiguous parameter: plain NumPy
                s += w * (p._data - s)
            else:
                x = x.reshape(s.shape) if x.shape != s.shape else x
                kernels_for(s).average_update(s, x, w)

    def copy_to(self):
        """Write the averages into the live parameters (in place: arenas stay intact)."""
        for s, x, p in zip(self.shadow, self._sources(), self._params or [None] * len(self.shadow)):
            (p._data if x is None else x)[...] = s

    @contextlib.contextmanager
    def average_parameters(self):
        """Swap the averages in for the block (e.g. evaluation) and the live values back out."""
        live = [
            (p._data if x is None else x).copy()
            for x, p in zip(self._sources(), self._params or [None] * len(self.shadow))
        ]
        self.copy_to()
        try:
            yield self
        finally:
            for b, x, p in zip(live, self._sources(), self._params or [None] * len(self.shadow)):
                (p._data if x is None else x)[...] = b

    def averaged_parameters(self):
        """The averages as arrays shaped like the parameters (views of the average buffers)."""
        if self._params is not None:
            return list(self.shadow)
        out = []
        for a, s in zip(self._arenas, self.shadow):
            out.extend(a.slice(s, i) for i in range(len(a.params)))
        return out

    def state_dict(self):
        d = {
            k: v
            for k, v in self.__dict__.items()
            if k not in ("_opt", "_arenas", "_params", "shadow")
        }
        d["shadow"] = [s.copy() for s in self.shadow]
        return d

    def load_state_dict(self, state_dict):
        for s, v in zip(self.shadow, state_dict["shadow"]):
            s[...] = v
        for k, v in state_dict.items():
            if k != "shadow":
                setattr(self, k, v)


class ExponentialMovingAverage(_Averager):
    """``shadow = decay*shadow + (1-decay)*param`` at each ``update()``; the shadow starts at the
    parameters' values at construction. ``average_parameters()`` swaps it in for a block.

    ``use_num_updates=True`` uses ``min(decay, (1+n)/(10+n))`` (TensorFlow's warm-up rule)."""

    def __init__(
        self, parameters: ParamsT, decay: float = 0.995, use_num_updates: bool = False
    ) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"ExponentialMovingAverage: decay must be in [0, 1], got {decay}")
        super().__init__(parameters)
        self.decay = decay
        self.num_updates = 0 if use_num_updates else None

    def update(self) -> None:
        d = self.decay
        if self.num_updates is not None:
            self.num_updates += 1
            d = min(d, (1 + self.num_updates) / (10 + self.num_updates))
        self._blend(1.0 - d)


def _as_int(n) -> int:
    """The number of averaged models as a Python int (``n`` may be a 0-d Tensor or an array)."""
    return int(n.item()) if hasattr(n, "item") else int(n)


def _lerp_(a, x, w: float) -> None:
    """``a += w * (x - a)`` in place on array ``a`` (``x`` an array on ``a``'s device): one fused
    kernel for contiguous float32/float64 arrays, array arithmetic for other floats."""
    if x.shape != a.shape:
        x = x.reshape(a.shape)
    if (
        a.dtype in (np.float32, np.float64)
        and x.dtype == a.dtype
        and a.flags.c_contiguous
        and x.flags.c_contiguous
        and a.size
    ):
        kernels_for(a).average_update(a, x, w)
    else:
        a[...] = a + w * (x.astype(a.dtype, copy=False) - a)


def _lerp_rule(weight, int_update):
    """A multi_avg_fn over lists of Tensors that lerps float ones by ``weight(n)`` and updates
    the others with ``int_update(avg, x, n)`` (arrays; the float result is truncated toward
    zero when written back, as torch's ``copy_`` into an integer tensor). ``update_parameters``
    recognises it (``_lerp_weight``) and averages whole flat buffers with it where it can."""

    def update(averaged_param_list, current_param_list, num_averaged) -> None:
        n = _as_int(num_averaged)
        for p_avg, p_cur in zip(averaged_param_list, current_param_list, strict=True):
            a, x = p_avg._data, getattr(p_cur, "_data", p_cur)
            if a.dtype.kind in "fc":
                _lerp_(a, x, weight(n))
            else:
                a[...] = int_update(a, x.reshape(a.shape), n)

    update._lerp_weight = weight
    return update


def get_ema_multi_avg_fn(decay: float = 0.999):
    """The function that updates lists of averaged Tensors in place to the exponential moving
    average ``decay * avg + (1 - decay) * param`` (torch.optim.swa_utils.get_ema_multi_avg_fn),
    for ``AveragedModel(multi_avg_fn=...)``."""
    if decay < 0.0 or decay > 1.0:
        raise ValueError(
            f"Invalid decay value {decay} provided. Please provide a value in [0,1] range."
        )
    return _lerp_rule(lambda n: 1.0 - decay, lambda a, x, n: a * decay + x * (1 - decay))


def get_swa_multi_avg_fn():
    """The function that updates lists of averaged Tensors in place to the equal average
    ``avg + (param - avg) / (n + 1)`` (torch.optim.swa_utils.get_swa_multi_avg_fn)."""
    return _lerp_rule(lambda n: 1.0 / (n + 1), lambda a, x, n: a + (x - a) / (n + 1))


def get_ema_avg_fn(decay: float = 0.999):
    """The function ``(avg, param, n) -> decay * avg + (1 - decay) * param`` on one Tensor
    (torch.optim.swa_utils.get_ema_avg_fn), for ``AveragedModel(avg_fn=...)``."""
    if decay < 0.0 or decay > 1.0:
        raise ValueError(
            f"Invalid decay value {decay} provided. Please provide a value in [0,1] range."
        )

    def ema_update(ema_param, current_param, num_averaged):
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn():
    """The function ``(avg, param, n) -> avg + (param - avg) / (n + 1)`` on one Tensor
    (torch.optim.swa_utils.get_swa_avg_fn)."""

    def swa_update(averaged_param, current_param, num_averaged):
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (_as_int(num_averaged) + 1)

    return swa_update


_DEFAULT_RULE = get_swa_multi_avg_fn()


class _Cache(dict):
    """The packed flat buffers of an AveragedModel: neither deep-copied nor pickled (they hold
    the source optimiser's arenas); a copy starts empty and packs again at its next update."""

    def __deepcopy__(self, memo):
        return _Cache()

    def __reduce__(self):
        return (_Cache, ())


class _FlatGroup:
    """The averaged copies of one source arena's parameters, packed into one flat buffer laid
    out as the arena's ``param`` buffer (each copy's array becomes a view of it), so that a
    lerp over all of them is one kernel call."""

    def __init__(self, arena, dst):
        self.arena, self.src_param, self.dst = arena, arena.param, dst
        self.flat = arena.xp.empty(arena.numel, arena.dtype)
        self.views = []
        for i, d in enumerate(dst):
            v = arena.slice(self.flat, i)
            v[...] = d._data
            d._data = v
            self.views.append(v)

    def valid(self, arena, dst) -> bool:
        """Still laid out over ``arena``'s current buffer, for the same copies, each still a
        view of the flat buffer (Module.to, load_state_dict or an optimiser may rebind them)."""
        return (
            self.arena is arena
            and arena.param is self.src_param
            and len(dst) == len(self.dst)
            and all(a is b for a, b in zip(dst, self.dst))
            and all(d._data is v and owning_arena(d) is None for d, v in zip(dst, self.views))
        )


def _same_device(x, like):
    """Array ``x`` on ``like``'s device (moved there if it is elsewhere)."""
    where = device_of(like)
    return x if device_of(x) == where else _move(x, where)


class AveragedModel(Module):
    """An nn.Module holding ``module``, a deep copy of ``model`` (moved to ``device`` if given),
    whose parameters ``update_parameters(model)`` averages with ``model``'s, as torch's
    ``torch.optim.swa_utils.AveragedModel``: the first call copies them; later calls apply
    ``avg_fn(averaged, current, n_averaged)`` (returns the new average) to each pair, or
    ``multi_avg_fn(averaged_list, current_list, n_averaged)`` (updates in place) to the lists;
    with neither, the equal average of stochastic weight averaging. ``use_buffers=True``
    averages the buffers too; otherwise they are copied from ``model`` at each call.
    ``n_averaged`` (an int64 buffer) counts the calls; ``forward`` calls ``module``; avg_fn and
    multi_avg_fn are not in the ``state_dict``.

    The lerp rules (the default, ``get_swa_multi_avg_fn()``, ``get_ema_multi_avg_fn(decay)``)
    are one fused kernel per tensor, or one per optimizer arena: when all of an arena's
    parameters are among ``model``'s and their copies here have its device and dtype, those
    copies are packed into one flat buffer laid out as the arena (the arrays of
    ``module``'s parameters become views of it)."""

    def __init__(
        self,
        model: Module,
        device: Any = None,
        avg_fn: Callable | None = None,
        multi_avg_fn: Callable | None = None,
        use_buffers: bool = False,
    ) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, dtype=np.int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers
        self._flat = _Cache()  # id(source arena) -> _FlatGroup

    def forward(self, *args, **kwargs):
        """Call ``module``."""
        return self.module(*args, **kwargs)

    def _pack(self, pairs: list) -> tuple[set[int], list[_FlatGroup]]:
        """The indices of the (averaged, source) ``pairs`` whose averages live in flat buffers
        laid out as the sources' arenas, and those ``_FlatGroup``s (made anew where needed)."""
        where: dict[int, dict[int, int]] = {}  # id(arena) -> {position in arena: pair index}
        arenas: dict[int, Any] = {}
        positions: dict[int, dict[int, int]] = {}
        for i, (d, s) in enumerate(pairs):
            a = owning_arena(s)
            if (
                a is None
                or a.detached
                or a.moved_to is not None
                or grad_slot(s) is None  # its array was rebound out of the arena
                or d._data.shape != s._data.shape
                or d._data.dtype != a.dtype
                or device_of(d._data) != a.device
                or owning_arena(d) is not None  # an optimizer packed the copy itself
            ):
                continue
            key = id(a)
            if key not in arenas:
                arenas[key] = a
                positions[key] = {id(p): k for k, p in enumerate(a.params)}
            k = positions[key].get(id(s))
            if k is not None:
                where.setdefault(key, {})[k] = i
        covered: list[int] = []
        groups: list[_FlatGroup] = []
        for key, at in where.items():
            a = arenas[key]
            if len(at) != len(a.params):
                continue  # only part of this arena is in the model
            idx = [at[k] for k in range(len(a.params))]
            dst = [pairs[i][0] for i in idx]
            g = self._flat.get(key)
            if g is None or not g.valid(a, dst):
                g = self._flat[key] = _FlatGroup(a, dst)
            covered.extend(idx)
            groups.append(g)
        for key in [k for k in self._flat if k not in where]:
            del self._flat[key]
        return set(covered), groups

    def update_parameters(self, model: Module) -> None:
        """Average ``model``'s parameters (and its buffers with ``use_buffers``) into
        ``module``'s; copy its buffers otherwise."""
        mine: Iterable[Tensor]
        theirs: Iterable[Tensor]
        if self.use_buffers:
            mine = itertools.chain(self.module.parameters(), self.module.buffers())
            theirs = itertools.chain(model.parameters(), model.buffers())
        else:
            mine, theirs = self.parameters(), model.parameters()
        pairs = list(zip(mine, theirs))
        n = _as_int(self.n_averaged)
        multi_avg_fn, avg_fn = self.multi_avg_fn, self.avg_fn
        rule: Callable | None = multi_avg_fn
        if rule is None and avg_fn is None:
            rule = _DEFAULT_RULE
        weight: Callable | None = getattr(rule, "_lerp_weight", None)
        covered, groups = self._pack(pairs) if weight is not None else (set(), [])
        with no_grad():
            for g in groups:  # one kernel per arena
                if n == 0:
                    g.flat[...] = g.arena.param
                elif weight is not None:
                    _lerp_(g.flat, g.arena.param, weight(n))
            avgs, curs = [], []
            for i, (d, s) in enumerate(pairs):
                if i in covered:
                    continue
                x = _same_device(s._data, d._data)
                if n == 0:
                    d._data[...] = x.reshape(d._data.shape)
                avgs.append(d.detach())
                curs.append(Tensor._wrap(x))
            if n > 0 and avgs:
                if weight is not None and rule is not None:
                    rule(avgs, curs, n)  # a lerp rule of this module: elementwise, n an int
                elif multi_avg_fn is not None:
                    groups_by: dict[tuple, tuple[list, list]] = {}
                    for d, x in zip(avgs, curs):
                        ds, xs = groups_by.setdefault((d.device, str(d.dtype)), ([], []))
                        ds.append(d)
                        xs.append(x)
                    for (dev, _), (ds, xs) in groups_by.items():
                        multi_avg_fn(ds, xs, self.n_averaged.to(dev))
                elif avg_fn is not None:
                    for d, x in zip(avgs, curs):
                        r = avg_fn(d, x, self.n_averaged.to(d.device))
                        d._data[...] = _same_device(getattr(r, "_data", r), d._data)
            if not self.use_buffers:  # keep the buffers in sync with the source model
                for b, mb in zip(self.module.buffers(), model.buffers(), strict=True):
                    b._data[...] = _same_device(mb._data, b._data)
            self.n_averaged._data[...] = n + 1


def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Recompute the running statistics of ``model``'s BatchNorm layers in one pass over
    ``loader`` (torch.optim.swa_utils.update_bn): reset them, run the model in training mode
    with ``momentum=None`` (a cumulative average over the batches), then restore the momenta
    and the model's mode. Each batch is a tensor or a list/tuple whose first item is the input;
    it is moved to ``device`` if given."""
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with no_grad():
        for input in loader:
            if isinstance(input, (list, tuple)):
                input = input[0]
            if device is not None:
                input = input.to(device)
            model(input)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneals each group's lr to ``swa_lr`` over ``anneal_epochs`` epochs (cos or linear), then
    holds it (torch.optim.swa_utils.SWALR)."""

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: float | list[float],
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        last_epoch: int = -1,
    ) -> None:
        for lr, g in zip(_format_param("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            g["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self._anneal_strategy = anneal_strategy
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, t) -> float:
        if self._anneal_strategy == "cos":
            return (1 - math.cos(math.pi * t)) / 2
        return t

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self):
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        prev = [
            self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha)
            for g in self.optimizer.param_groups
        ]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [
            g["swa_lr"] * alpha + lr * (1 - alpha)
            for g, lr in zip(self.optimizer.param_groups, prev)
        ]
