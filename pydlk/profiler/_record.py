"""What a recording profile collects, and how pydlk's work reaches it.

A profile that records sets ``_collector``; ``record_function`` reads it once on entry (the
whole cost when nothing records). Autograd ops reach the collector through two wrappers that
exist only while a profile records: ``Function.apply`` is replaced by a timed version (every
op's forward, pydlk's own and user-written alike), and each Function class whose forward ran
gets a timed ``backward`` (and ``backward_graph``, the create_graph path), named as torch names
backward nodes (``LinearBackward0``). ``stop`` puts every original back, so when no profile
records, ``Function.apply`` and every backward are exactly pydlk's own.
"""

import re
import threading
import time
import traceback

from .. import autograd as _ag

_collector = None  # the recording _Collector, or None
_lock = threading.Lock()


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip("_")).lower()


def op_name(cls):
    """The event name of a Function's forward: ``pydlk::<op>`` (torch's ``aten::<op>``)."""
    return "pydlk::" + (getattr(cls, "op_name", None) or _snake(cls.__name__))


class _Event:
    """One timed range on one thread: ``start``/``end`` from ``perf_counter_ns``."""

    __slots__ = (
        "name",
        "cat",
        "tid",
        "start",
        "end",
        "parent",
        "child_ns",
        "shapes",
        "stack",
        "mem",
        "child_mem",
        "flops",
    )

    def __init__(self, name, cat, tid, parent, shapes, stack):
        self.name, self.cat, self.tid, self.parent = name, cat, tid, parent
        self.shapes, self.stack = shapes, stack
        self.start = time.perf_counter_ns()
        self.end = None
        self.child_ns = 0
        self.mem = 0
        self.child_mem = 0
        self.flops = 0


def _shapes(args):
    return [list(a.shape) if hasattr(a, "shape") and hasattr(a, "dtype") else [] for a in args]


def _user_stack():
    """The caller's frames outside pydlk, innermost first, as torch writes them."""
    frames = traceback.extract_stack()[:-3]
    out = []
    for f in reversed(frames):
        if "/pydlk/" in f.filename.replace("\\", "/"):
            continue
        out.append(f"{f.filename}({f.lineno}): {f.name}")
    return out


class _Collector:
    """Events of one recording window, with a per-thread stack of the open ranges."""

    def __init__(
        self, record_shapes=False, profile_memory=False, with_stack=False, with_flops=False
    ):
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.with_flops = with_flops
        self.events = []
        self.local = threading.local()
        self.wall0 = time.time_ns()
        self.perf0 = time.perf_counter_ns()

    def open(self, name, cat, args=None):
        stack = getattr(self.local, "stack", None)
        if stack is None:
            stack = self.local.stack = []
        parent = stack[-1] if stack else None
        shapes = _shapes(args) if (self.record_shapes and args is not None) else []
        where = _user_stack() if self.with_stack and cat != "user_annotation" else None
        ev = _Event(name, cat, threading.get_ident(), parent, shapes, where)
        stack.append(ev)
        return ev

    def close(self, ev):
        ev.end = time.perf_counter_ns()
        stack = self.local.stack
        while stack and stack[-1] is not ev:  # a range left open by an exception inside
            stack.pop()
        if stack:
            stack.pop()
        if ev.parent is not None:
            ev.parent.child_ns += ev.end - ev.start
            ev.parent.child_mem += ev.mem + ev.child_mem
        self.events.append(ev)


# ------------------------------------------------------------------ autograd wrappers

_saved_apply = None  # Function.__dict__["apply"] while the wrapper is installed
_wrapped: dict[type, list] = {}  # Function class -> [(attribute, had its own entry, the entry)]


def _timed_apply(cls, *args):
    c = _collector
    if c is None:
        return _saved_apply.__func__(cls, *args)
    ev = c.open(op_name(cls), "cpu_op", args)
    try:
        out = _saved_apply.__func__(cls, *args)
    except BaseException:
        c.close(ev)
        raise
    _after_forward(c, ev, out)
    c.close(ev)
    return out


def _after_forward(c, ev, out):
    outs = out if isinstance(out, tuple) else (out,)
    for t in outs:
        if isinstance(t, _ag.Tensor):
            if c.profile_memory:
                ev.mem += int(t._data.nbytes)
            node = t._node
            if node is not None and node[0].fn not in _wrapped:
                _wrap_backward(node[0].fn)
    if c.with_flops:
        from ._events import estimate_flops

        ev.flops = estimate_flops(ev.name, ev.shapes)


def _timed(fn, name):
    def wrapper(*args):
        c = _collector
        if c is None:
            return fn(*args)
        ev = c.open(name, "cpu_op")
        try:
            grads = fn(*args)
        except BaseException:
            c.close(ev)
            raise
        if c.profile_memory:
            for g in grads if isinstance(grads, tuple) else (grads,):
                ev.mem += int(getattr(getattr(g, "_data", g), "nbytes", 0) or 0)
        c.close(ev)
        return grads

    wrapper._profiled = fn  # a subclass inheriting this one wraps the original, not this
    return staticmethod(wrapper)


def _wrap_backward(cls):
    with _lock:
        if cls in _wrapped:
            return
        saved = []
        name = cls.__name__ + "Backward0"
        for attr in ("backward", "backward_graph"):
            fn = getattr(cls, attr, None)
            if fn is None:
                continue
            fn = getattr(fn, "_profiled", fn)
            saved.append((attr, attr in cls.__dict__, cls.__dict__.get(attr)))
            setattr(cls, attr, _timed(fn, name))
        _wrapped[cls] = saved


def install(collector):
    """Start recording into ``collector``: the wrappers go in."""
    global _collector, _saved_apply
    with _lock:
        if _collector is not None:
            raise RuntimeError("Profiler is already enabled on this thread")
        Function = _ag.Function
        entry = Function.__dict__.get("apply")
        if isinstance(entry, classmethod):  # else ops go unrecorded, ranges still are
            _saved_apply = entry
            Function.apply = classmethod(_timed_apply)
        _collector = collector


def uninstall():
    """Stop recording: every original goes back."""
    global _collector, _saved_apply
    with _lock:
        _collector = None
        if _saved_apply is not None:
            _ag.Function.apply = _saved_apply
            _saved_apply = None
        for cls, saved in _wrapped.items():
            for attr, had, entry in saved:
                if had:
                    setattr(cls, attr, entry)
                else:
                    delattr(cls, attr)
        _wrapped.clear()


class record_function:
    """torch.profiler.record_function (torch.autograd.profiler.record_function): a named
    range in the profile, as a context manager or a decorator. Costs one attribute check when
    no profile records. ``args`` is accepted for torch's signature and stored in the trace."""

    def __init__(self, name, args=None):
        self.name = name
        self.args = args
        self._open = []

    def __enter__(self):
        c = _collector
        self._open.append(None if c is None else (c, c.open(self.name, "user_annotation")))
        return self

    def __exit__(self, exc_type, exc, tb):
        entry = self._open.pop() if self._open else None
        if entry is not None:
            entry[0].close(entry[1])
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with record_function(self.name, self.args):
                return fn(*args, **kwargs)

        return wrapper
