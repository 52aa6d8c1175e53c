"""torch.profiler: where the time of a pydlk program goes.

``profile`` records every autograd op's forward and backward, ``record_function`` ranges and,
with a ``schedule``, one range per step; ``key_averages().table(...)`` prints torch's summary
table and ``export_chrome_trace`` writes a trace for chrome://tracing or Perfetto::

    from pydlk.profiler import profile, record_function, ProfilerActivity

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        with record_function("step"):
            loss = model(x).sum()
            loss.backward()
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))

Op names are ``pydlk::<op>`` where torch writes ``aten::<op>``, and backward nodes are named
as torch names them (``LinearBackward0``). When no profile records, nothing is wrapped: the
only cost left is one attribute check on entering a ``record_function``.
"""

from ._events import EventList, FunctionEvent, FunctionEventAvg
from ._profile import (
    ProfilerAction,
    ProfilerActivity,
    profile,
    schedule,
    supported_activities,
    tensorboard_trace_handler,
)
from ._record import record_function

__all__ = [
    "EventList",
    "FunctionEvent",
    "FunctionEventAvg",
    "ProfilerAction",
    "ProfilerActivity",
    "profile",
    "record_function",
    "schedule",
    "supported_activities",
    "tensorboard_trace_handler",
]
