"""The parameter arena: flat buffers that hold the values and gradients of an optimiser's
parameters (see DESIGN.md, "The parameter arena", and pydlk/optim/optimizer.py for the rules).

This module owns the two private attributes the arena puts on a parameter: ``p._grad_slot`` (a
view of the parameter's slot in ``arena.grad``; backward writes the gradient there) and
``p._arena`` (the ``Arena`` that holds it). Nobody else reads or writes them; they call:

* ``Arena(params, dtype, owner)`` -- pack parameters and rebind them to views of their slots;
* ``grad_slot(t)`` / ``owning_arena(t)`` -- the slot view / arena of a tensor, or None;
* ``write_grad(t, g)`` -- the autograd engine's first write of a leaf's gradient;
* ``unbind(t)`` -- forget the slot after ``t._data`` was rebound to another array;
* ``whole_arena_grads(params)`` -- the flat gradient buffers when ``params`` are whole arenas.

The buffers live where the parameters live: NumPy arrays for CPU parameters, CuPy arrays on the
parameters' GPU for CUDA ones (``_backend.get_array_module``), so a step is one kernel there.

It imports nothing from pydlk but ``_backend`` (NumPy only), so that ``autograd`` can use it
without an import cycle.
"""

import numpy as np

from ._backend import device_of, get_array_module


def grad_slot(t):
    """The view of ``t``'s slot in its arena's flat gradient buffer, or None."""
    return getattr(t, "_grad_slot", None)


def owning_arena(t):
    """The ``Arena`` that holds ``t``, or None."""
    return getattr(t, "_arena", None)


def unbind(t):
    """Forget ``t``'s gradient slot (its ``data`` no longer lives in the arena)."""
    t._grad_slot = None


def moved(t, where):
    """Record that ``t``'s array was moved to device ``where`` after an optimiser packed it: its
    arena's buffers stayed behind, so that optimiser refuses to step (see ``Arena.check``)."""
    a = getattr(t, "_arena", None)
    t._grad_slot = None
    if a is not None and a.moved_to is None:
        a.moved_to = where


def write_grad(t, g):
    """Write leaf ``t``'s first gradient ``g`` into its slot and return the slot, or return None
    when ``t`` has no slot of ``g``'s shape (the caller then stores a copy of ``g``)."""
    slot = getattr(t, "_grad_slot", None)
    if slot is None or slot.shape != g.shape:
        return None
    slot[...] = g
    return slot


def whole_arena_grads(params):
    """The flat gradient buffers if ``params`` are exactly the parameters of whole, attached
    arenas and every gradient is its slot; otherwise None."""
    arenas = {}
    for p in params:
        a = owning_arena(p)
        if a is None or a.detached or p._grad is None or p._grad is not grad_slot(p):
            return None
        arenas[id(a)] = a
    if sum(len(a.params) for a in arenas.values()) != len(params):
        return None
    return [a.grad for a in arenas.values()]


class Arena:
    """Flat buffers for the trainable parameters of one group, one device and one dtype,
    allocated by the parameters' array module (NumPy or CuPy) on their device."""

    def __init__(self, params, dtype, owner):
        self.params = params
        self.dtype = np.dtype(dtype)
        self.owner = owner
        self.xp = get_array_module(params[0]._data)
        self.device = device_of(params[0]._data)
        self.detached = False
        self.moved_to = None  # set when a parameter was moved to another device afterwards
        self.step = 0
        self.state = {}
        self.fresh = set()  # states allocated but not yet used by a step
        sizes = [p._data.size for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).tolist()
        n = self.offsets[-1]
        self.numel = n
        xp = self.xp
        self.param = xp.empty(n, self.dtype)
        self.grad = xp.zeros(n, self.dtype)
        old = set()
        slots = []
        for i, p in enumerate(params):
            a, b = self.offsets[i], self.offsets[i + 1]
            self.param[a:b] = p._data.reshape(-1)
            prev = owning_arena(p)
            if prev is not None and prev is not self:
                old.add(prev)
            view = self.param[a:b].reshape(p._data.shape)
            gview = self.grad[a:b].reshape(p._data.shape)
            if p._grad is not None:
                gview[...] = getattr(p._grad, "_data", p._grad)
                p._grad = gview
            p._data = view
            p._grad_slot = gview
            p._arena = self
            slots.append(gview)
        self.slots = slots
        self.pairs = list(zip(params, slots))
        # rows of parameters with >= 2 dims, for the max-norm constraint
        self.rows = [
            self.param[self.offsets[i] : self.offsets[i + 1]].reshape(p._data.shape[0], -1)
            for i, p in enumerate(params)
            if p._data.ndim >= 2 and p._data.size > 0
        ]
        for a in old:
            a.detached = True

    def relocate(self, where, move):
        """Move this arena's buffers (parameters, gradients, every state, a device step count)
        to device ``where`` with ``move(array)`` and re-point its parameters at them: how a
        model moved after its optimiser was built takes the optimiser along (Module.to moves
        an arena only when it moves all of the arena's parameters)."""
        self.param, self.grad = move(self.param), move(self.grad)
        self.state = {k: move(v) for k, v in self.state.items()}
        if getattr(self, "step_t", None) is not None:
            self.step_t = move(self.step_t)
        self.xp = get_array_module(self.param)
        self.device = where
        slots = []
        for i, p in enumerate(self.params):
            a, b = self.offsets[i], self.offsets[i + 1]
            shape = p._data.shape
            own = p._grad is not None and p._grad is getattr(p, "_grad_slot", None)
            gview = self.grad[a:b].reshape(shape)
            p._data = self.param[a:b].reshape(shape)
            p._grad_slot = gview
            if own:
                p._grad = gview
            elif p._grad is not None:
                p._grad = move(getattr(p._grad, "_data", p._grad))
            slots.append(gview)
        self.slots = slots
        self.pairs = list(zip(self.params, slots))
        self.rows = [
            self.param[self.offsets[i] : self.offsets[i + 1]].reshape(p._data.shape[0], -1)
            for i, p in enumerate(self.params)
            if p._data.ndim >= 2 and p._data.size > 0
        ]

    def new_state(self, name, fill=0.0):
        buf = self.xp.full(self.numel, fill, self.dtype)
        self.state[name] = buf
        self.fresh.add(name)
        return buf

    def check(self, op):
        if self.detached:
            raise RuntimeError(
                f"{op}: this optimizer is detached: a newer optimizer was created over some of "
                f"its parameters and re-packed them into its own arena. Use the newer optimizer "
                f"(or create a new one over all the parameters)."
            )
        if self.moved_to is not None:
            raise RuntimeError(
                f"{op}: a parameter of this optimizer was moved to {self.moved_to} after the "
                f"optimizer was built; its buffers (parameters, gradients, states) stay on "
                f"{self.device}. Move the model first (model.to(...)), then build the optimizer "
                f"(state carries over with optimizer.load_state_dict)."
            )

    def sync_grads(self):
        """Make the flat gradient buffer hold every parameter's current gradient."""
        for p, s in self.pairs:
            g = p._grad
            if g is not s:
                if g is None:
                    s.fill(0)
                else:
                    s[...] = getattr(g, "_data", g)  # a hand-set Tensor: its array
                    p._grad = s

    def max_norm_(self, c):
        # scale = c / fmax(norm, c): exactly 1 for rows within the bound (and NaN norms), so
        # each row is one multiply and nothing waits for the device to say which rows exceed it
        xp = self.xp
        for w in self.rows:
            w64 = w.astype(np.float64, copy=False)
            norms = xp.sqrt(xp.einsum("ij,ij->i", w64, w64))
            w *= (c / xp.fmax(norms, c)).astype(w.dtype)[:, None]

    def slice(self, flat, i):
        p = self.params[i]
        return flat[self.offsets[i] : self.offsets[i + 1]].reshape(p._data.shape)
