"""``pydlk.cuda``: torch.cuda's device queries, answered through CuPy.

Nothing here imports CuPy on a machine where it is not installed: ``importlib.util.find_spec``
is asked first, and any error from CuPy or the CUDA runtime (no driver, no device) means "not
available". The GPU kernels themselves live in ``pydlk._cuda``.
"""

from __future__ import annotations

import importlib
import importlib.util

from .. import _random
from .._device import DeviceLike, cuda_unavailable_error, device
from .._legacy_types import CUDA_TYPES as _TYPES
from .._oom import OutOfMemoryError

__all__ = [
    "BFloat16Tensor",
    "BoolTensor",
    "ByteTensor",
    "CUDAGraph",
    "CharTensor",
    "DoubleTensor",
    "FloatTensor",
    "HalfTensor",
    "IntTensor",
    "LongTensor",
    "OutOfMemoryError",
    "ShortTensor",
    "amp",
    "current_device",
    "device_count",
    "get_arch_list",
    "get_device_name",
    "get_rng_state",
    "get_rng_state_all",
    "initial_seed",
    "seed",
    "seed_all",
    "set_rng_state",
    "set_rng_state_all",
    "graph",
    "graph_train_step",
    "init",
    "ipc_collect",
    "is_available",
    "is_initialized",
    "manual_seed",
    "make_graphed_callables",
    "manual_seed_all",
    "set_device",
    "synchronize",
    "versions",
]


# torch's legacy CUDA tensor types (pydlk/_legacy_types.py): pydlk.cuda.FloatTensor(2, 3) makes a
# float32 tensor on the GPU, isinstance(t, pydlk.cuda.FloatTensor) checks dtype and device
FloatTensor = _TYPES["FloatTensor"]
DoubleTensor = _TYPES["DoubleTensor"]
HalfTensor = _TYPES["HalfTensor"]
BFloat16Tensor = _TYPES["BFloat16Tensor"]
LongTensor = _TYPES["LongTensor"]
IntTensor = _TYPES["IntTensor"]
ShortTensor = _TYPES["ShortTensor"]
CharTensor = _TYPES["CharTensor"]
ByteTensor = _TYPES["ByteTensor"]
BoolTensor = _TYPES["BoolTensor"]


def _cupy():
    """The cupy module, or None when it is not installed or fails to import."""
    if importlib.util.find_spec("cupy") is None:
        return None
    try:
        import cupy
    except Exception:  # noqa: BLE001 (a broken CUDA install raises many types)
        return None
    return cupy


def device_count() -> int:
    """The number of CUDA devices CuPy can see (0 without CuPy or a GPU)."""
    cp = _cupy()
    if cp is None:
        return 0
    try:
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:  # noqa: BLE001
        return 0


def is_available() -> bool:
    """True only if CuPy imports and at least one CUDA device is present."""
    return device_count() > 0


def is_initialized() -> bool:
    """True once CuPy has been imported by this process and a device is present."""
    import sys

    return "cupy" in sys.modules and is_available()


def _require():
    cp = _cupy()
    if cp is None or device_count() == 0:
        raise cuda_unavailable_error()
    return cp


def _index(dev: DeviceLike | None) -> int:
    if dev is None:
        return current_device()
    if isinstance(dev, int) and not isinstance(dev, bool):
        return dev
    d = device(dev)
    if d.type != "cuda":
        raise ValueError(f"pydlk.cuda: expected a CUDA device, got {d}")
    return current_device() if d.index is None else d.index


def current_device() -> int:
    """The index of the current CUDA device (raises when CUDA is not available)."""
    return int(_require().cuda.runtime.getDevice())


def set_device(device: DeviceLike) -> None:
    """Make ``device`` the current CUDA device."""
    cp = _require()
    cp.cuda.runtime.setDevice(_index(device))


def synchronize(device: DeviceLike | None = None) -> None:
    """Wait for all work queued on ``device`` (default: the current one) to finish."""
    cp = _require()
    with cp.cuda.Device(_index(device)):
        cp.cuda.runtime.deviceSynchronize()


def get_device_name(device: DeviceLike | None = None) -> str:
    """The name of a CUDA device, e.g. ``'NVIDIA H200'``."""
    cp = _require()
    name = cp.cuda.runtime.getDeviceProperties(_index(device))["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def manual_seed(seed: int) -> None:
    """Seed the random stream of GPU kernels.

    Differs from torch: pydlk has one generator for both devices (GPU kernels draw from the
    same Philox (seed, offset) stream as the CPU kernels, so a seed gives the same dropout mask
    on both), so this is ``pydlk.manual_seed(seed)``. Like torch, it works without a GPU.
    """
    _random.manual_seed(seed)


def manual_seed_all(seed: int) -> None:
    """Seed every GPU's random stream; the same as :func:`manual_seed` (one shared stream)."""
    _random.manual_seed(seed)


def get_rng_state(device: DeviceLike = "cuda") -> dict:
    """The random state of the GPU kernels: ``pydlk.get_rng_state()``, a dict (torch returns a
    ByteTensor per device). One generator serves both devices (the GPU kernels draw from the
    CPU's Philox (seed, offset) stream), so this is also the CPU's state; works without a GPU.
    """
    return _random.get_rng_state()


def set_rng_state(new_state: dict, device: DeviceLike = "cuda") -> None:
    """Restore a state from :func:`get_rng_state` (of the one generator both devices share)."""
    _random.set_rng_state(new_state)


def get_rng_state_all() -> list[dict]:
    """``[get_rng_state()]``: one state per device, and pydlk's devices share one generator."""
    return [_random.get_rng_state()]


def set_rng_state_all(new_states: list[dict]) -> None:
    """Restore the states of :func:`get_rng_state_all` (the first, the one shared generator).

    Raises ValueError for an empty list.
    """
    states = list(new_states)
    if not states:
        raise ValueError("set_rng_state_all: new_states is empty; expected one state per device")
    _random.set_rng_state(states[0])


def seed() -> None:
    """Seed the shared generator with a non-deterministic number (``pydlk.seed()``)."""
    _random.seed()


def seed_all() -> None:
    """The same as :func:`seed`: one generator serves every device."""
    _random.seed()


def initial_seed() -> int:
    """The seed of the shared generator (``pydlk.initial_seed()``)."""
    return _random.initial_seed()


def init() -> None:
    """torch.cuda.init: initialise the GPU path now rather than at first use (imports CuPy and
    makes the current device's context). Raises RuntimeError without CuPy or a GPU, as torch
    does where CUDA is not available."""
    cp = _require()
    cp.cuda.runtime.getDevice()


def ipc_collect() -> None:
    """torch.cuda.ipc_collect: nothing to collect. torch frees GPU memory that other processes
    held through CUDA IPC; pydlk sends GPU tensors between processes as host copies
    (``pydlk.multiprocessing``), so none is ever held that way. Raises RuntimeError without a
    GPU, as torch does."""
    _require()


def get_arch_list() -> list[str]:
    """torch.cuda.get_arch_list: the GPU architectures pydlk's kernels are built for, as
    ``'sm_XY'`` strings; ``[]`` without a GPU, as torch. Differs from torch, whose list is
    fixed when torch is built: CuPy compiles pydlk's kernels at run time (NVRTC) for the
    devices present, so this lists the architectures of the visible devices."""
    if not is_available():
        return []
    rt = _cupy().cuda.runtime
    archs = []
    for i in range(device_count()):
        props = rt.getDeviceProperties(i)
        arch = f"sm_{int(props['major'])}{int(props['minor'])}"
        if arch not in archs:
            archs.append(arch)
    return archs


def _cuda_version(v):
    """CUDA's integer version (12040) as '12.4'."""
    return f"{v // 1000}.{v % 1000 // 10}"


def versions() -> dict | None:
    """``{'GPU', 'driver', 'CUDA runtime', 'CuPy', 'cuDNN'}`` as strings for device 0, or None
    without CuPy or a GPU. cuDNN is the version ``nvidia-cudnn-frontend`` loads, or 'not
    installed' (convolutions then run as im2col + cuBLAS)."""
    if not is_available():
        return None
    cp = _cupy()
    rt = cp.cuda.runtime
    cudnn = "not installed (convolutions run as im2col + cuBLAS)"
    if importlib.util.find_spec("cudnn") is not None:
        try:
            v = int(importlib.import_module("cudnn").backend_version())
            cudnn = f"{v // 10000}.{v % 10000 // 100}.{v % 100} (nvidia-cudnn-frontend)"
        except Exception as e:  # noqa: BLE001 (a frontend without its library)
            cudnn = f"frontend installed, library not loadable ({type(e).__name__})"
    return {
        "GPU": get_device_name(0),
        "driver": f"supports CUDA {_cuda_version(int(rt.driverGetVersion()))}",
        "CUDA runtime": _cuda_version(int(rt.runtimeGetVersion())),
        "CuPy": str(cp.__version__),
        "cuDNN": cudnn,
    }


from . import (
    amp,  # noqa: E402
    memory,  # noqa: E402
    nvtx,  # noqa: E402
    streams,  # noqa: E402
)
from .graphs import CUDAGraph, graph, graph_train_step, make_graphed_callables  # noqa: E402
from .memory import *  # noqa: E402,F401,F403  (events, memory queries, device properties)
from .streams import *  # noqa: E402,F401,F403  (Stream, stream, current_stream, default_stream)

__all__ += memory.__all__ + streams.__all__
