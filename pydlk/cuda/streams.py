"""torch.cuda's streams over CuPy's: ``Stream`` (``wait_event``, ``wait_stream``,
``record_event``, ``query``, ``synchronize``, a context manager), ``stream(s)`` (the context
that makes ``s`` current; ``None`` does nothing), ``current_stream`` and ``default_stream``.
pydlk's kernels launch on CuPy's current stream, so work inside ``with pydlk.cuda.stream(s):``
is queued on ``s``, as torch's is."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .._device import DeviceLike

__all__ = ["Stream", "StreamContext", "current_stream", "default_stream", "stream"]


def _on(device: DeviceLike | None) -> tuple[Any, Any, int]:
    from . import _index, _require

    cp = _require()
    i = _index(device)
    return cp, cp.cuda.Device(i), i


class Stream:
    """torch.cuda.Stream: a new CUDA stream on ``device`` (default: the current device);
    ``priority`` is accepted (CuPy's streams have the default priority)."""

    def __init__(self, device: DeviceLike | None = None, priority: int = 0, **kwargs: Any) -> None:
        cp, dev, i = _on(device)
        self.device_index = i
        wrap = kwargs.get("_wrap")
        if wrap is None:
            with dev:
                wrap = cp.cuda.Stream(non_blocking=True)
        self._s = wrap

    @property
    def device(self) -> Any:
        """The stream's device, as ``pydlk.device('cuda', N)``."""
        from .._device import device

        return device("cuda", self.device_index)

    @property
    def cuda_stream(self) -> int:
        """The raw ``cudaStream_t`` as an int (torch's name)."""
        return int(self._s.ptr)

    @property
    def ptr(self) -> int:
        """The raw ``cudaStream_t`` as an int (CuPy's name)."""
        return int(self._s.ptr)

    def wait_event(self, event: Any) -> None:
        """Make later work on this stream wait for ``event`` (a pydlk.cuda.Event)."""
        self._s.wait_event(getattr(event, "_ev", event))

    def wait_stream(self, stream: Stream) -> None:
        """Make later work on this stream wait for the work queued on ``stream`` so far."""
        self._s.wait_event(_raw(stream).record())

    def record_event(self, event: Any = None) -> Any:
        """Record ``event`` (a new one when None) on this stream; returns it."""
        from .memory import Event

        event = Event() if event is None else event
        event.record(self)
        return event

    def query(self) -> bool:
        """True when all work queued on this stream has finished."""
        return bool(self._s.record().done)

    def synchronize(self) -> None:
        """Wait for all work queued on this stream."""
        self._s.synchronize()

    def __enter__(self) -> Stream:
        self._s.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._s.__exit__(*exc)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream) and self.ptr == other.ptr

    def __hash__(self) -> int:
        return hash((self.ptr, self.device_index))

    def __repr__(self) -> str:
        return f"<pydlk.cuda.Stream device=cuda:{self.device_index} cuda_stream={self.ptr:#x}>"


def _raw(s: Any) -> Any:
    """CuPy's stream of a pydlk Stream (a CuPy stream as it is)."""
    return s._s if isinstance(s, Stream) else s


def current_stream(device: DeviceLike | None = None) -> Stream:
    """The stream pydlk's kernels launch on now, on ``device`` (default: the current one)."""
    cp, dev, _ = _on(device)
    with dev:
        return Stream(device, _wrap=cp.cuda.get_current_stream())


def default_stream(device: DeviceLike | None = None) -> Stream:
    """The device's default (legacy null) stream."""
    cp, _, _ = _on(device)
    null = getattr(cp.cuda.Stream, "null", None)
    return Stream(device, _wrap=null if null is not None else cp.cuda.Stream(null=True))


@contextlib.contextmanager
def StreamContext(s: Stream | None) -> Iterator[Stream | None]:
    """Make ``s`` the current stream inside the block (nothing for ``None``), as torch's."""
    if s is None:
        yield None
        return
    with _raw(s):
        yield s


def stream(s: Stream | None) -> Any:
    """``with pydlk.cuda.stream(s):`` queues the block's GPU work on ``s`` (torch.cuda.stream)."""
    return StreamContext(s)
