"""``torch.version``: ``__version__`` and what the build has. ``cuda`` is the CUDA runtime of
the installed CuPy (pydlk's GPU path; None without CuPy), read when first asked for, so that a
CPU install never imports CuPy by importing pydlk."""

from __future__ import annotations

import importlib.util
from typing import Any

from ._config import config

__all__ = ["__version__", "debug", "git_version", "hip", "rocm", "xpu"]  # and cuda (below)

__version__: str = config()["version"]
git_version: str = "Unknown"
hip: str | None = None
rocm: str | None = None
xpu: str | None = None
debug: bool = False


def _cuda_version() -> str | None:
    if importlib.util.find_spec("cupy") is None:
        return None
    try:
        import cupy

        v = int(cupy.cuda.runtime.runtimeGetVersion())  # e.g. 12080
    except Exception:  # CuPy without a usable CUDA runtime
        return None
    return f"{v // 1000}.{v % 1000 // 10}"


def __getattr__(name: str) -> Any:
    if name == "cuda":
        return _cuda_version()
    raise AttributeError(f"module 'pydlk.version' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__ + ["cuda"])
