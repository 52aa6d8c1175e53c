"""torch.cuda's memory queries, device properties, events and the current stream, through CuPy
(its default memory pool, which pydlk's GPU arrays come from, and the CUDA runtime).

Differs from torch: the peaks (``max_memory_allocated``, ``max_memory_reserved``, the
``.peak`` entries of ``memory_stats``) count from the first call of any of them or of
``reset_peak_memory_stats`` in the process (CuPy's pool keeps no peak; from then on every
allocation through the default pool updates them). ``memory_stats`` has the entries CuPy's pool
can answer: allocated and reserved bytes, current and peak, for ``all`` (torch also splits them
into small and large pools and counts allocations, frees, retries and OOMs). Streams are in
``streams.py``.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .._device import DeviceLike
from .streams import _raw

__all__ = [
    "Event",
    "empty_cache",
    "get_device_capability",
    "get_device_properties",
    "is_bf16_supported",
    "max_memory_allocated",
    "max_memory_cached",
    "max_memory_reserved",
    "mem_get_info",
    "memory_allocated",
    "memory_cached",
    "memory_reserved",
    "memory_stats",
    "memory_summary",
    "reset_max_memory_allocated",
    "reset_peak_memory_stats",
]


def _require():
    from . import _require as require

    return require()


def _none() -> bool:
    """No GPU (or no CuPy): the memory queries answer 0 and empty_cache does nothing, as
    torch's do without CUDA."""
    from . import is_available

    return not is_available()


def _on(device: DeviceLike | None):
    from . import _index

    cp = _require()
    return cp, cp.cuda.Device(_index(device))


def memory_allocated(device: DeviceLike | None = None) -> int:
    """Bytes of the device's memory that arrays hold now (CuPy's pool: used bytes)."""
    if _none():
        return 0
    cp, dev = _on(device)
    with dev:
        return int(cp.get_default_memory_pool().used_bytes())


def memory_reserved(device: DeviceLike | None = None) -> int:
    """Bytes the memory pool holds from the device, in use or cached for reuse."""
    if _none():
        return 0
    cp, dev = _on(device)
    with dev:
        return int(cp.get_default_memory_pool().total_bytes())


_peak: dict[int, int] = {}  # device -> most used bytes at once
_peak_reserved: dict[int, int] = {}  # device -> most bytes the pool held at once


def _track(cp) -> None:
    """Route the default pool's allocations through a counter of the peaks of used and held
    bytes (once; not where a user installed an allocator of their own)."""
    if getattr(_track, "installed", False):
        return
    pool = cp.get_default_memory_pool()
    if cp.cuda.get_allocator() != pool.malloc:
        raise RuntimeError(
            "max_memory_allocated: a custom CuPy allocator is installed; pydlk counts peaks "
            "only for CuPy's default memory pool"
        )

    def malloc(size):
        mem = pool.malloc(size)
        dev = cp.cuda.Device().id
        used, held = int(pool.used_bytes()), int(pool.total_bytes())
        if used > _peak.get(dev, 0):
            _peak[dev] = used
        if held > _peak_reserved.get(dev, 0):
            _peak_reserved[dev] = held
        return mem

    cp.cuda.set_allocator(malloc)
    _track.installed = True  # type: ignore[attr-defined]


def max_memory_allocated(device: DeviceLike | None = None) -> int:
    """The most bytes arrays held at once since the last ``reset_peak_memory_stats`` (counting
    starts at the first call of either; see the module docstring)."""
    if _none():
        return 0
    cp, dev = _on(device)
    _track(cp)
    with dev:
        now = int(cp.get_default_memory_pool().used_bytes())
        return max(_peak.get(dev.id, 0), now)


def max_memory_reserved(device: DeviceLike | None = None) -> int:
    """The most bytes the memory pool held from the device at once since the last
    ``reset_peak_memory_stats`` (counting starts at the first call of a peak query or of that;
    see the module docstring). 0 without a GPU, as torch."""
    if _none():
        return 0
    cp, dev = _on(device)
    _track(cp)
    with dev:
        now = int(cp.get_default_memory_pool().total_bytes())
        return max(_peak_reserved.get(dev.id, 0), now)


def reset_peak_memory_stats(device: DeviceLike | None = None) -> None:
    """Start the peak counts of ``max_memory_allocated`` and ``max_memory_reserved`` again from
    what is in use and held now. Raises RuntimeError without a GPU."""
    cp, dev = _on(device)
    _track(cp)
    with dev:
        pool = cp.get_default_memory_pool()
        _peak[dev.id] = int(pool.used_bytes())
        _peak_reserved[dev.id] = int(pool.total_bytes())


def reset_max_memory_allocated(device: DeviceLike | None = None) -> None:
    """Deprecated in torch, kept for its scripts: warns (FutureWarning) as torch does and calls
    ``reset_peak_memory_stats``, which resets every peak."""
    warnings.warn(
        "pydlk.cuda.reset_max_memory_allocated now calls pydlk.cuda.reset_peak_memory_stats, "
        "which resets /all/ peak memory stats.",
        FutureWarning,
        stacklevel=2,
    )
    reset_peak_memory_stats(device)


def memory_cached(device: DeviceLike | None = None) -> int:
    """Deprecated in torch, kept for its scripts: warns (FutureWarning) as torch does and
    returns ``memory_reserved(device)``."""
    warnings.warn(
        "`pydlk.cuda.memory_cached` has been renamed to `pydlk.cuda.memory_reserved`",
        FutureWarning,
        stacklevel=2,
    )
    return memory_reserved(device)


def max_memory_cached(device: DeviceLike | None = None) -> int:
    """Deprecated in torch, kept for its scripts: warns (FutureWarning) as torch does and
    returns ``max_memory_reserved(device)``."""
    warnings.warn(
        "`pydlk.cuda.max_memory_cached` has been renamed to `pydlk.cuda.max_memory_reserved`",
        FutureWarning,
        stacklevel=2,
    )
    return max_memory_reserved(device)


def memory_stats(device: DeviceLike | None = None) -> OrderedDict[str, int]:
    """torch's memory statistics that CuPy's default pool can answer, in torch's key names:
    ``allocated_bytes.all.current``/``.peak`` (bytes arrays hold) and
    ``reserved_bytes.all.current``/``.peak`` (bytes the pool holds from the device, in use or
    cached). The peaks count as ``max_memory_allocated``'s (see the module docstring). Empty
    without a GPU, as torch's."""
    stats: OrderedDict[str, int] = OrderedDict()
    if _none():
        return stats
    stats["allocated_bytes.all.current"] = memory_allocated(device)
    stats["allocated_bytes.all.peak"] = max_memory_allocated(device)
    stats["reserved_bytes.all.current"] = memory_reserved(device)
    stats["reserved_bytes.all.peak"] = max_memory_reserved(device)
    return stats


def _format_size(n: int, pref: int) -> str:
    """torch's size cell: ``n`` in the unit that suits ``pref`` (B, KiB, MiB, ...)."""
    units = ["B  ", "KiB", "MiB", "GiB", "TiB", "PiB"]
    unit, pref_f = units[0], float(pref)
    for u in units[1:]:
        if pref_f < 768 * 1024:
            break
        unit, n, pref_f = u, n // 1024, pref_f / 1024
    return f"{n:6d} {unit}"


def memory_summary(device: DeviceLike | None = None, abbreviated: bool = False) -> str:
    """A table of :func:`memory_stats` laid out as torch's (current and peak usage of allocated
    and reserved memory, and the reserved bytes cached for reuse); ``abbreviated`` is accepted
    (there are no per-pool rows to leave out). Without a GPU the table shows zeros (torch's
    raises KeyError there)."""
    from . import _index

    stats = memory_stats(device)
    dev = _index(device) if stats else 0
    alloc = (stats.get("allocated_bytes.all.current", 0), stats.get("allocated_bytes.all.peak", 0))
    res = (stats.get("reserved_bytes.all.current", 0), stats.get("reserved_bytes.all.peak", 0))
    rows: list[tuple[str, tuple[int, int | None]]] = [
        ("Allocated memory", alloc),
        ("GPU reserved memory", res),
        ("Cached, unused memory", (res[0] - alloc[0], None)),  # no peak of the difference
    ]
    line, thick = "|" + "-" * 49 + "|", "|" + "=" * 49 + "|"
    out = [
        thick,
        "|{:^49}|".format(f"pydlk CUDA memory summary, device ID {dev}"),
        "|{:^49}|".format("(CuPy's default memory pool)"),
        thick,
        "|        Metric         | Cur Usage  | Peak Usage |",
        line,
    ]
    for name, (cur, peak) in rows:
        peak_cell = f"{'-':^10}" if peak is None else _format_size(peak, peak)
        out.append(f"| {name:<21} | {_format_size(cur, cur)} | {peak_cell} |")
        out.append(line)
    out[-1] = thick
    return "\n".join(out) + "\n"


def empty_cache() -> None:
    """Give the pools' cached, unused blocks back to the driver (device and pinned host)."""
    if _none():
        return
    cp = _require()
    cp.get_default_memory_pool().free_all_blocks()
    cp.get_default_pinned_memory_pool().free_all_blocks()


def mem_get_info(device: DeviceLike | None = None) -> tuple[int, int]:
    """(free, total) bytes of the device's memory, as the driver reports them."""
    cp, dev = _on(device)
    with dev:
        free, total = cp.cuda.runtime.memGetInfo()
    return int(free), int(total)


@dataclass(frozen=True)
class DeviceProperties:
    """torch.cuda's ``_CudaDeviceProperties`` fields that scripts read."""

    name: str
    total_memory: int
    major: int
    minor: int
    multi_processor_count: int


def get_device_properties(device: DeviceLike | None = None) -> DeviceProperties:
    """The device's name, memory, compute capability and multiprocessor count."""
    from . import _index

    cp = _require()
    p = cp.cuda.runtime.getDeviceProperties(_index(device))
    name = p["name"]
    return DeviceProperties(
        name=name.decode() if isinstance(name, bytes) else str(name),
        total_memory=int(p["totalGlobalMem"]),
        major=int(p["major"]),
        minor=int(p["minor"]),
        multi_processor_count=int(p["multiProcessorCount"]),
    )


def get_device_capability(device: DeviceLike | None = None) -> tuple[int, int]:
    """(major, minor) compute capability, e.g. (9, 0) for an H100 or H200."""
    p = get_device_properties(device)
    return p.major, p.minor


def is_bf16_supported() -> bool:
    """False: pydlk's GPU kernels compute in float32 and float64 (``autocast('cuda')`` runs in
    float32 whatever its dtype), so a script that picks bf16 when this is True picks float16."""
    return False


class Event:
    """torch.cuda.Event over ``cupy.cuda.Event``: ``record``, ``wait``, ``query``,
    ``synchronize``, ``elapsed_time`` (milliseconds, both events made with
    ``enable_timing=True``)."""

    def __init__(
        self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False
    ) -> None:
        cp = _require()
        self._cp = cp
        self._ev = cp.cuda.Event(
            block=blocking, disable_timing=not enable_timing, interprocess=interprocess
        )

    def record(self, stream: Any = None) -> None:
        """Record the event on ``stream`` (a pydlk or CuPy stream; default: the current one)."""
        self._ev.record(_raw(stream) if stream is not None else self._cp.cuda.get_current_stream())

    def wait(self, stream: Any = None) -> None:
        """Make later work on ``stream`` (default: the current one) wait for this event."""
        s = _raw(stream) if stream is not None else self._cp.cuda.get_current_stream()
        s.wait_event(self._ev)

    def query(self) -> bool:
        return bool(self._ev.done)

    def synchronize(self) -> None:
        self._ev.synchronize()

    def elapsed_time(self, end_event: Event) -> float:
        return float(self._cp.cuda.get_elapsed_time(self._ev, end_event._ev))
