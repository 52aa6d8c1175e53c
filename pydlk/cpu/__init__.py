"""``torch.cpu``: the CPU as a device, for device-agnostic code (``torch.cpu.is_available()``,
``synchronize()``, streams that do nothing) and the deprecated ``torch.cpu.amp`` names.

pydlk's CPU kernels return when their work is done, so there is nothing to wait for: streams and
events are the trivial objects torch's are on the CPU."""

from __future__ import annotations

import contextlib
import os
import platform
import types
from collections.abc import Mapping
from typing import Any

from . import amp

__all__ = [
    "Event",
    "Stream",
    "StreamContext",
    "amp",
    "current_device",
    "current_stream",
    "device_count",
    "get_capabilities",
    "is_available",
    "is_initialized",
    "set_device",
    "stream",
    "synchronize",
]


def is_available() -> bool:
    """Always True: the CPU is there."""
    return True


def is_initialized() -> bool:
    """Always True, as torch's."""
    return True


def device_count() -> int:
    """The number of CPU devices (not cores): always 1."""
    return 1


def current_device() -> str:
    """Always ``'cpu'``."""
    return "cpu"


def set_device(device: Any) -> None:
    """Accepted and ignored, as torch's: there is one CPU device."""


def synchronize(device: Any = None) -> None:
    """Returns at once: pydlk's CPU kernels have finished when they return."""


class Stream:
    """torch.cpu.Stream: a stream that runs everything in order as it is issued (``priority``
    is accepted for torch's signature)."""

    def __init__(self, priority: int = -1) -> None:
        self.priority = priority

    def wait_stream(self, stream: Stream) -> None:
        """Nothing to wait for."""

    def wait_event(self, event: Event) -> None:
        """Nothing to wait for."""

    def record_event(self, event: Event | None = None) -> Event:
        """An event marking this point (already reached)."""
        return event if event is not None else Event()


class Event:
    """torch.cpu.Event: every event has already happened."""

    def query(self) -> bool:
        """Always True."""
        return True

    def record(self, stream: Stream | None = None) -> None:
        """Nothing to record."""

    def synchronize(self) -> None:
        """Returns at once."""

    def wait(self, stream: Stream | None = None) -> None:
        """Returns at once."""


_default_stream = Stream()


def current_stream(device: Any = None) -> Stream:
    """The CPU's one stream."""
    return _default_stream


class StreamContext(contextlib.AbstractContextManager):
    """torch.cpu.StreamContext: selects ``stream`` inside the block (a no-op on the CPU)."""

    def __init__(self, stream: Stream | None) -> None:
        self.stream = stream

    def __enter__(self) -> StreamContext:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def stream(stream: Stream | None) -> StreamContext:
    """``with pydlk.cpu.stream(s):``, as torch's (nothing changes on the CPU)."""
    return StreamContext(stream)


# torch's capability names -> the flag Linux lists in /proc/cpuinfo (where it differs)
_FLAG_OF = {
    "sse3": "pni",
    "fma3": "fma",
    "lzcnt": "abm",
    "bmi": "bmi1",
    "sha": "sha_ni",
    "avx512_f": "avx512f",
    "avx512_bw": "avx512bw",
    "avx512_cd": "avx512cd",
    "avx512_dq": "avx512dq",
    "avx512_vl": "avx512vl",
    "avx512_ifma": "avx512ifma",
    "avx512_vbmi": "avx512vbmi",
}
_FLAGS = (
    "sse sse2 sse3 ssse3 sse4_1 sse4_2 sse4a avx avx2 fma3 fma4 f16c popcnt lzcnt bmi bmi2 aes "
    "sha clflush clflushopt clwb avx512_f avx512_bw avx512_cd avx512_dq avx512_vl avx512_ifma "
    "avx512_vbmi avx512_vbmi2 avx512_bitalg avx512_vpopcntdq avx512_vnni avx512_bf16 avx512_fp16 "
    "avx512_vp2intersect avx512_4vnniw avx512_4fmaps avx_vnni avx_vnni_int8 avx_vnni_int16 "
    "avx_ne_convert amx_tile amx_bf16 amx_int8 amx_fp16 avx10_1 avx10_2"
).split()


def _cpuinfo() -> tuple[set[str], str, int, int]:
    """Flags, model name, sockets and physical cores from /proc/cpuinfo (empty elsewhere)."""
    flags: set[str] = set()
    name, sockets, cores = "", set(), set()
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return flags, platform.processor(), 1, os.cpu_count() or 1
    phys = "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "flags" and not flags:
            flags = set(value.split())
        elif key == "model name" and not name:
            name = value
        elif key == "physical id":
            phys = value
            sockets.add(value)
        elif key == "core id":
            cores.add((phys, value))
    physical = len(cores) if cores else (os.cpu_count() or 1)  # no core ids: count CPUs
    return flags, name, max(1, len(sockets)), physical


def _cache_size(level: int, kind: str) -> int:
    """Bytes of CPU 0's cache of this level and type ('Data' or 'Unified'), from sysfs; 0 if
    unknown."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = os.listdir(base)
    except OSError:
        return 0
    for e in entries:
        try:
            with open(f"{base}/{e}/level") as f:
                lv = int(f.read())
            with open(f"{base}/{e}/type") as f:
                ty = f.read().strip()
            with open(f"{base}/{e}/size") as f:
                size = f.read().strip()
        except (OSError, ValueError):
            continue
        if lv == level and ty == kind:
            mult = {"K": 1 << 10, "M": 1 << 20}.get(size[-1:], 1)
            return int(size.rstrip("KM")) * mult
    return 0


def get_capabilities() -> Mapping[str, Any]:
    """An immutable mapping of what this CPU has, with torch's keys: instruction-set flags
    (``'avx2'``, ``'avx512_bf16'``, ``'amx_tile'``, ...) as booleans from /proc/cpuinfo (all
    False where it is not readable), ``'architecture'``, ``'cpu_name'``, ``'num_sockets'``,
    ``'num_physical_cores'``, ``'num_logical_cores'``, ``'l1d_cache_size'`` and
    ``'l2_cache_size'`` (bytes; 0 where unknown)."""
    flags, name, sockets, cores = _cpuinfo()
    caps: dict[str, Any] = {k: _FLAG_OF.get(k, k) in flags for k in _FLAGS}
    caps.update(
        architecture=platform.machine(),
        cpu_name=name,
        num_sockets=sockets,
        num_physical_cores=cores,
        num_logical_cores=os.cpu_count() or 1,
        l1d_cache_size=_cache_size(1, "Data"),
        l2_cache_size=_cache_size(2, "Unified"),
    )
    return types.MappingProxyType(caps)
