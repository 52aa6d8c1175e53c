"""torch.distributed's backend names, availability checks and error classes.

pydlk has one transport per kind of array, whatever backend name a script asks for: NumPy
arrays travel through MPI (mpi4py), CuPy arrays through NCCL (``cupy.cuda.nccl``, bootstrapped
over MPI). ``"mpi"``, ``"gloo"`` and ``"nccl"`` are therefore all accepted by
``init_process_group`` and ``new_group``; the name is kept (``get_backend`` returns it) so that
a script which branches on it behaves as its author meant. Nothing here imports mpi4py or CuPy
at load time.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

__all__ = [
    "Backend",
    "DistBackendError",
    "DistError",
    "DistNetworkError",
    "DistStoreError",
    "get_default_backend_for_device",
    "is_backend_available",
    "is_gloo_available",
    "is_mpi_available",
    "is_nccl_available",
    "is_torchelastic_launched",
]


class DistError(RuntimeError):
    """torch.distributed.DistError: the base of the errors a process group raises (a
    RuntimeError, so ``except RuntimeError`` still catches them)."""


class DistBackendError(DistError):
    """A failure of the communication backend: a collective that timed out, an MPI or NCCL
    error, a backend that is not installed (torch.distributed.DistBackendError)."""


class DistNetworkError(DistError):
    """torch.distributed.DistNetworkError. pydlk opens no sockets of its own (MPI connects the
    ranks), so nothing raises it; it exists for ``except`` clauses written for torch."""


class DistStoreError(DistError):
    """torch.distributed.DistStoreError. pydlk has no key-value store (MPI's launcher does the
    rendezvous), so nothing raises it; it exists for ``except`` clauses written for torch."""


class Backend(str):
    """torch.distributed.Backend: the backend names as lower-case strings.

    ``Backend("GLOO")`` returns ``"gloo"``; an unknown name comes back lower-cased, as in
    torch (``init_process_group`` is where an unsupported name is refused). The attributes
    are torch's; pydlk runs ``MPI``, ``GLOO`` and ``NCCL`` (all three over MPI for host arrays
    and NCCL for CuPy arrays), the others are names only.
    """

    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    UCC = "ucc"
    MPI = "mpi"
    XCCL = "xccl"
    FAKE = "fake"

    backend_list = [UNDEFINED, GLOO, NCCL, XCCL, UCC, MPI, FAKE]
    default_device_backend_map = {"cpu": GLOO, "cuda": NCCL}
    backend_capability = {GLOO: ["cpu", "cuda"], NCCL: ["cuda"], MPI: ["cpu", "cuda"]}

    def __new__(cls, name: str) -> Any:
        """The lower-case name (a plain ``str``, as torch's ``Backend(...)`` returns)."""
        if not isinstance(name, str):
            raise ValueError("Backend constructor parameter must be string-ish")
        value = getattr(Backend, name.upper(), Backend.UNDEFINED)
        if value == Backend.UNDEFINED:
            value = name.lower()
        return value


# the backends pydlk runs (by the transport behind them)
SUPPORTED = (Backend.MPI, Backend.GLOO, Backend.NCCL)


def is_mpi_available() -> bool:
    """True when mpi4py can be found (without importing it, so MPI is not initialised)."""
    return importlib.util.find_spec("mpi4py") is not None


def is_gloo_available() -> bool:
    """True when ``backend="gloo"`` can run: pydlk runs it over MPI, so when mpi4py is
    installed (torch's answer depends on how torch was built)."""
    return is_mpi_available()


def is_nccl_available() -> bool:
    """True when CuPy's NCCL binding (``cupy.cuda.nccl``) imports, the path CuPy arrays take.
    CuPy is imported by this check (only when it is installed)."""
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        from cupy.cuda import nccl  # noqa: F401
    except Exception:  # noqa: BLE001  (no NCCL in this CuPy build, no CUDA driver)
        return False
    return True


def is_backend_available(backend: str) -> bool:
    """Whether ``backend`` (a name, or torch's composite ``"cpu:gloo,cuda:nccl"``) can run
    here: only mpi, gloo and nccl ever can."""
    name = str(backend).lower()
    if ":" in name:
        parts = [p.split(":", 1)[-1] for p in name.split(",")]
        return all(is_backend_available(p) for p in parts)
    check = {"mpi": is_mpi_available, "gloo": is_gloo_available, "nccl": is_nccl_available}
    return check[name]() if name in check else False


def is_torchelastic_launched() -> bool:
    """True when the process was started by torchelastic (``torchrun``): the
    ``TORCHELASTIC_RUN_ID`` variable is set. pydlk itself runs under ``mpiexec``."""
    return os.getenv("TORCHELASTIC_RUN_ID") is not None


def get_default_backend_for_device(device: Any) -> str:
    """torch's default backend for a device type: ``"gloo"`` for ``"cpu"``, ``"nccl"`` for
    ``"cuda"`` (a ``pydlk.device``, ``"cuda:1"`` or ``"cpu"``); ValueError for others."""
    kind = getattr(device, "type", None)
    if kind is None:
        if not isinstance(device, str):
            raise TypeError(
                f"get_default_backend_for_device: device must be a str or a pydlk.device, "
                f"got {type(device).__name__}"
            )
        kind = device.split(":", 1)[0]
    backend = Backend.default_device_backend_map.get(kind)
    if backend is None:
        raise ValueError(f"Default backend not registered for device : {device}")
    return backend


def check_backend(backend: Any, op: str) -> str:
    """The normalised name of a supported backend (None means "mpi"), else a ValueError that
    names ``op``; a composite ``"cpu:gloo,cuda:nccl"`` is accepted when each part is. The
    NCCL part is refused (DistBackendError) when CuPy's NCCL binding is missing."""
    if backend is None:
        return Backend.MPI
    if not isinstance(backend, str):
        raise TypeError(f"{op}: backend must be a str, got {type(backend).__name__}")
    name = Backend(backend)
    parts = [p.split(":", 1)[-1] for p in name.split(",")] if ":" in name else [name]
    for p in parts:
        if p not in SUPPORTED:
            raise ValueError(
                f"{op}: backend {backend!r} is not available; pydlk runs 'mpi', 'gloo' and "
                f"'nccl' (host arrays over MPI, CuPy arrays over NCCL)"
            )
    if Backend.NCCL in parts and ":" not in name and not is_nccl_available():
        raise DistBackendError(
            f"{op}: backend 'nccl' needs CuPy with NCCL (cupy.cuda.nccl), which does not "
            f"import here; use backend='gloo' or 'mpi' for CPU tensors"
        )
    return name
