"""Anomaly detection (torch.autograd.detect_anomaly / set_detect_anomaly).

While enabled, every ``Function.apply`` checks its outputs: the first op whose forward produced
a NaN or an infinity is recorded with the module path it ran in (``first_nonfinite``), and the
backward pass raises ``RuntimeError`` as soon as a Function's backward returns NaN, naming that
Function, the module its forward ran in, and the first non-finite forward op when there was one.

The checks cost a pass over every output and gradient, so this is for debugging, as in torch.
``autograd.py`` holds only a module-level reference (``_anomaly``), ``None`` when disabled, read
in one place in ``Function.apply`` and one in the backward engine.
"""

import contextlib
import weakref

import numpy as np

__all__ = ["detect_anomaly", "is_anomaly_enabled", "set_detect_anomaly"]


def _nonfinite(a, nan_only=False):
    if a is None:
        return False
    from .autograd import Tensor

    if isinstance(a, Tensor):
        a = a._data
    if not hasattr(a, "dtype") or a.dtype.kind not in "fc":
        return False
    xp = np if isinstance(a, np.ndarray) else __import__("cupy")
    with np.errstate(all="ignore"):
        s = a.sum()
    if bool(xp.isfinite(s)):
        return False
    return bool(xp.isnan(a).any()) if nan_only else not bool(xp.isfinite(a).all())


class _State:
    """What one enabled anomaly mode records; the hooks ``autograd`` calls."""

    def __init__(self, model=None):
        self.first_nonfinite = None  # (op name, module path) of the first non-finite output
        self.where = weakref.WeakKeyDictionary()  # Node -> module path of its forward
        self.stack = []
        self.handles = []
        if model is not None and hasattr(model, "named_modules"):
            for name, mod in model.named_modules():
                self.handles.append(mod.register_forward_pre_hook(self._enter(name)))
                self.handles.append(mod.register_forward_hook(self._leave))

    def _enter(self, name):
        def hook(module, args):
            self.stack.append(name or "(model)")

        return hook

    def _leave(self, module, args, output):
        if self.stack:
            self.stack.pop()

    def module_path(self):
        return self.stack[-1] if self.stack else None

    def forward(self, fn, outputs, node):
        path = self.module_path()
        if node is not None and path is not None:
            self.where[node] = path
        if self.first_nonfinite is None and any(_nonfinite(o) for o in outputs):
            self.first_nonfinite = (fn.__name__, path)

    def backward(self, node, grads):
        for i, g in enumerate(grads):
            if _nonfinite(g, nan_only=True):
                name = node.fn.__name__
                msg = f"Function '{name}' returned nan values in its {i}th output"
                path = self.where.get(node)
                if path is not None:
                    msg += f"; its forward ran in module '{path}'"
                if self.first_nonfinite is not None:
                    op, where = self.first_nonfinite
                    msg += f"; the first non-finite forward output came from '{op}'" + (
                        f" in module '{where}'" if where else ""
                    )
                raise RuntimeError(msg)

    def close(self):
        for h in self.handles:
            h.remove()


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on (torch.is_anomaly_enabled)."""
    from . import autograd

    return autograd._anomaly is not None


@contextlib.contextmanager
def detect_anomaly(model=None, check_nan=True):
    """Context manager turning anomaly detection on (torch.autograd.detect_anomaly). Yields a
    state whose ``first_nonfinite`` is ``(op, module path)`` of the first non-finite forward
    output. Module paths need the model (``detect_anomaly(model)``): pydlk attaches forward
    hooks to its modules for the duration; torch prints the forward traceback instead."""
    from . import autograd

    previous = autograd._anomaly
    state = _State(model) if check_nan else None
    autograd._anomaly = state
    try:
        yield state
    finally:
        autograd._anomaly = previous
        if state is not None:
            state.close()


def set_detect_anomaly(mode: bool) -> None:
    """Turn anomaly detection on or off globally (torch.autograd.set_detect_anomaly; pydlk's
    takes no ``check_nan``). Module paths need ``detect_anomaly(model)``."""
    from . import autograd

    autograd._anomaly = _State() if mode else None
