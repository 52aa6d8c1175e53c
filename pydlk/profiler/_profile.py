"""torch.profiler.profile and its schedule: which steps record, when results are handed to
``on_trace_ready``, and the exports (Chrome trace JSON, written atomically)."""

import enum
import gzip
import json
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from .._atomic import atomic_write
from . import _record
from ._events import EventList, FunctionEvent


class ProfilerActivity(enum.Enum):
    """torch.profiler.ProfilerActivity. pydlk times work on the host: with CUDA the times of
    GPU ops are their launch times (CuPy runs kernels asynchronously); no device time column
    is reported."""

    CPU = 0
    CUDA = 1
    XPU = 2
    MTIA = 3


def supported_activities():
    """The activities ``profile`` accepts here (torch.profiler.supported_activities)."""
    from .. import cuda

    acts = {ProfilerActivity.CPU}
    if cuda.is_available():
        acts.add(ProfilerActivity.CUDA)
    return acts


class ProfilerAction(enum.Enum):
    """What the profiler does during a step (torch.profiler.ProfilerAction)."""

    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait, warmup, active, repeat=0, skip_first=0, skip_first_wait=0):
    """torch.profiler.schedule: skip ``skip_first`` steps, then cycles of ``wait`` idle
    steps, ``warmup`` steps and ``active`` recorded steps (the last of them RECORD_AND_SAVE,
    which hands the results to ``on_trace_ready``), ``repeat`` times (0: until the profile
    ends). ``skip_first_wait`` skips the first cycle's wait.

    Raises:
        AssertionError: a negative count or ``active`` < 1 (torch's exception type).
    """

    def schedule_fn(step):
        if step < 0:
            raise AssertionError(f"Step must be non-negative. Got {step}.")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait != 0:
            step += wait
        num_steps = wait + warmup + active
        if repeat > 0 and step / num_steps >= repeat:
            return ProfilerAction.NONE
        mod_step = step % num_steps
        if mod_step < wait:
            return ProfilerAction.NONE
        if mod_step < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if mod_step < num_steps - 1 else ProfilerAction.RECORD_AND_SAVE

    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise AssertionError(
            f"Invalid profiler schedule arguments. Got wait={wait} (need >= 0), warmup={warmup} "
            f"(need >= 0), active={active} (need > 0), repeat={repeat} (need >= 0), "
            f"skip_first={skip_first} (need >= 0)."
        )
    if warmup == 0:
        warnings.warn(
            "Profiler won't be using warmup, this can skew profiler results", stacklevel=2
        )
    return schedule_fn


def _always_record(_step):
    return ProfilerAction.RECORD


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False):
    """torch.profiler.tensorboard_trace_handler: an ``on_trace_ready`` that writes each
    trace to ``dir_name/<worker>.<time_ns>.pt.trace.json`` (``.gz`` with ``use_gzip``),
    atomically; ``worker_name`` defaults to ``<hostname>_<pid>``."""

    def handler_fn(prof):
        nonlocal worker_name
        if not os.path.isdir(dir_name):
            try:
                os.makedirs(dir_name, exist_ok=True)
            except Exception as e:
                raise RuntimeError("Can't create directory: " + dir_name) from e
        if not worker_name:
            worker_name = f"{socket.gethostname()}_{os.getpid()}"
        name = f"{worker_name}.{time.time_ns()}.pt.trace.json"
        if use_gzip:
            name += ".gz"
        prof.export_chrome_trace(os.path.join(dir_name, name))

    return handler_fn


class profile:
    """torch.profiler.profile: a context manager recording the time of pydlk's work.

    While it records it sees every autograd op's forward (``pydlk::linear``, ...) and each
    backward node (``LinearBackward0``), ``record_function`` ranges and, with a schedule, one
    ``ProfilerStep#N`` range per step. Results come from ``key_averages()`` and ``events()``;
    ``export_chrome_trace(path)`` writes a trace for chrome://tracing or Perfetto.

    Args:
        activities: ``ProfilerActivity`` values; CPU (host) time is what is measured.
        schedule: a function of the step number returning a ``ProfilerAction`` (see
            ``schedule``); without one every step records.
        on_trace_ready: called with the profiler when a recording cycle ends.
        record_shapes: record the input shapes of ops (``key_averages(group_by_input_shape=
            True)`` shows them).
        profile_memory: record the bytes of each op's outputs ("CPU Mem" columns; an
            estimate: pydlk has no allocator to ask, so frees are not subtracted).
        with_stack: record the Python frames that called each op.
        with_flops: estimate the FLOPs of matmul, linear and convolution ops.
        acc_events: keep the events of every cycle instead of the last one.

    Other torch arguments (``experimental_config``, ``execution_trace_observer``,
    ``with_modules``, ``use_cuda``) are accepted and ignored.
    """

    def __init__(
        self,
        *,
        activities: Iterable[ProfilerActivity] | None = None,
        schedule: Callable[[int], ProfilerAction] | None = None,
        on_trace_ready: Callable[[Any], None] | None = None,
        record_shapes: bool = False,
        profile_memory: bool = False,
        with_stack: bool = False,
        with_flops: bool = False,
        with_modules: bool = False,
        experimental_config: Any = None,
        execution_trace_observer: Any = None,
        acc_events: bool = False,
        use_cuda: bool | None = None,
        custom_trace_id_callback: Any = None,
    ) -> None:
        self.activities = set(activities) if activities else supported_activities()
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.with_flops = with_flops
        self.acc_events = acc_events
        self.on_trace_ready = on_trace_ready
        self.schedule = schedule if schedule is not None else _always_record
        self.record_steps = schedule is not None
        self.step_num = 0
        self.step_rec_fn = None
        self.current_action = self.schedule(self.step_num)
        self._collector = None
        self._events = EventList()
        self._recording = False
        A = ProfilerAction
        warn = partial(warnings.warn, stacklevel=3)
        self.action_map = {
            (A.NONE, A.NONE): [],
            (A.NONE, A.WARMUP): [self.prepare_trace],
            (A.NONE, A.RECORD): [self.prepare_trace, self.start_trace],
            (A.NONE, A.RECORD_AND_SAVE): [self.prepare_trace, self.start_trace],
            (A.WARMUP, A.NONE): [
                partial(warn, "Incorrect schedule: WARMUP followed by NONE"),
                self.start_trace,
                self.stop_trace,
            ],
            (A.WARMUP, A.WARMUP): [],
            (A.WARMUP, A.RECORD): [self.start_trace],
            (A.WARMUP, A.RECORD_AND_SAVE): [self.start_trace],
            (A.RECORD, A.NONE): [
                partial(warn, "Incorrect schedule: RECORD followed by NONE"),
                self.stop_trace,
            ],
            (A.RECORD, A.WARMUP): [
                partial(warn, "Incorrect schedule: RECORD followed by WARMUP"),
                self.stop_trace,
            ],
            (A.RECORD, A.RECORD): [],
            (A.RECORD, A.RECORD_AND_SAVE): [],
            (A.RECORD_AND_SAVE, A.NONE): [self.stop_trace, self._trace_ready],
            (A.RECORD_AND_SAVE, A.WARMUP): [self.stop_trace, self._trace_ready, self.prepare_trace],
            (A.RECORD_AND_SAVE, A.RECORD): [
                self.stop_trace,
                self._trace_ready,
                self.prepare_trace,
                self.start_trace,
            ],
            (A.RECORD_AND_SAVE, A.RECORD_AND_SAVE): [
                self.stop_trace,
                self._trace_ready,
                self.prepare_trace,
                self.start_trace,
            ],
            (A.WARMUP, None): [self.start_trace, self.stop_trace],
            (A.RECORD, None): [self.stop_trace, self._trace_ready],
            (A.RECORD_AND_SAVE, None): [self.stop_trace, self._trace_ready],
        }

    # ------------------------------------------------------------------ the state machine

    def prepare_trace(self):
        """Begin a new recording window (torch: set up the profiler; nothing recorded yet)."""
        self._collector = _record._Collector(
            self.record_shapes, self.profile_memory, self.with_stack, self.with_flops
        )

    def start_trace(self):
        """Start recording into the current window."""
        if self._collector is None:
            self.prepare_trace()
        _record.install(self._collector)
        self._recording = True

    def stop_trace(self):
        """Stop recording; the window's events become ``events()``."""
        if self._recording:
            _record.uninstall()
            self._recording = False
        if self._collector is not None:
            events = _to_function_events(self._collector)
            if self.acc_events:
                self._events.extend(events)
            else:
                self._events = events
            self._events._profile_memory = self.profile_memory
            self._events._with_flops = self.with_flops

    def _trace_ready(self):
        if self.on_trace_ready:
            self.on_trace_ready(self)

    def _transit_action(self, prev, current):
        for action in self.action_map.get((prev, current), []):
            action()

    # ------------------------------------------------------------------ the public API

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.stop()

    def start(self):
        """Begin profiling at step 0 (what ``with`` does on entry)."""
        self._transit_action(ProfilerAction.NONE, self.current_action)
        if self.record_steps:
            self.step_rec_fn = _record.record_function(f"ProfilerStep#{self.step_num}")
            self.step_rec_fn.__enter__()

    def stop(self):
        """End profiling (what ``with`` does on exit)."""
        if self.record_steps and self.step_rec_fn:
            self.step_rec_fn.__exit__(None, None, None)
            self.step_rec_fn = None
        self._transit_action(self.current_action, None)

    def step(self):
        """Signal that the next step begins: the schedule decides what it records."""
        if self.record_steps and self.step_rec_fn:
            self.step_rec_fn.__exit__(None, None, None)
            self.step_rec_fn = None
        prev = self.current_action
        self.step_num += 1
        self.current_action = self.schedule(self.step_num)
        self._transit_action(prev, self.current_action)
        if self.record_steps:
            self.step_rec_fn = _record.record_function(f"ProfilerStep#{self.step_num}")
            self.step_rec_fn.__enter__()

    def events(self):
        """The recorded ranges of the last finished recording window (an ``EventList`` of
        ``FunctionEvent``), in the order they ended."""
        return self._events

    def key_averages(
        self, group_by_input_shape=False, group_by_stack_n=0, group_by_overload_name=False
    ):
        """Events added up by name (and input shapes, and the first ``group_by_stack_n``
        frames); ``.table(sort_by=..., row_limit=...)`` prints torch's summary."""
        return self._events.key_averages(group_by_input_shape, group_by_stack_n)

    def export_chrome_trace(self, path):
        """Write the recorded events as a Chrome trace (JSON; gzipped when ``path`` ends in
        ``.gz``), atomically: a reader sees the old file or the whole new one, never part."""
        data = json.dumps(self._trace(path)).encode()
        if path.endswith(".gz"):
            data = gzip.compress(data)
        with atomic_write(path, "wb") as f:
            f.write(data)

    def _trace(self, path):
        c = self._collector
        wall0 = c.wall0 / 1e3 if c is not None else 0.0
        pid = os.getpid()
        tids = {}
        trace = []
        for ev in sorted(self._events, key=lambda e: e.time_range_start):
            args = {}
            if ev.input_shapes:
                args["Input Dims"] = ev.input_shapes
            if ev.stack:
                args["stack"] = ev.stack
            trace.append(
                {
                    "ph": "X",
                    "cat": ev.category,
                    "name": ev.trace_name,
                    "pid": pid,
                    "tid": tids.setdefault(ev.thread, len(tids) + 1),
                    "ts": wall0 + ev.time_range_start,
                    "dur": ev.cpu_time_total,
                    "args": args,
                }
            )
        return {
            "schemaVersion": 1,
            "deviceProperties": [],
            "traceEvents": trace,
            "traceName": os.fspath(path),
            "displayTimeUnit": "ms",
        }


def _to_function_events(collector):
    """The collector's raw events as FunctionEvents (microseconds from the window's start),
    with their parents and children linked."""
    perf0 = collector.perf0
    raw = [e for e in collector.events if e.end is not None]
    made = {}
    out = EventList()
    for i, e in enumerate(raw):
        name = "ProfilerStep*" if e.name.startswith("ProfilerStep#") else e.name  # torch's key
        fe = FunctionEvent(
            i,
            name,
            e.cat,
            e.tid,
            (e.start - perf0) / 1e3,
            (e.end - perf0) / 1e3,
            e.shapes,
            e.stack,
            e.mem,
            e.mem + e.child_mem,
            e.flops,
        )
        fe.trace_name = e.name
        made[id(e)] = fe
        out.append(fe)
    for e in raw:
        if e.parent is not None and id(e.parent) in made:
            parent, child = made[id(e.parent)], made[id(e)]
            child.cpu_parent = parent
            parent.cpu_children.append(child)
    return out
