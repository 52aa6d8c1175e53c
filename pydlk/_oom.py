"""``pydlk.OutOfMemoryError`` (the same class as ``pydlk.cuda.OutOfMemoryError``, torch's
``torch.OutOfMemoryError``, a RuntimeError) and where pydlk raises it.

CuPy reports a failed device allocation as ``cupy.cuda.memory.OutOfMemoryError`` (a
MemoryError), or, from allocations outside its pool, as a ``CUDARuntimeError`` naming
``cudaErrorMemoryAllocation``. pydlk turns either into ``OutOfMemoryError`` where GPU work
enters it: every op (``Function.apply``), the backward pass (``backward``, ``autograd.grad``),
copies onto a GPU (``Tensor.to``/``cuda()``, ``Module.to``/``cuda()``, factories with
``device='cuda'``) and ``Optimizer.step``. The message starts as torch's
(``CUDA out of memory. Tried to allocate 2.00 GiB.``, what torch code that retries with a
smaller batch looks for) and carries CuPy's; CuPy's exception is its ``__cause__``. CuPy code
the user calls directly still raises CuPy's own error. On the CPU nothing changes (NumPy's
MemoryError, as torch's CPU allocator raises its own RuntimeError, not this class).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


class OutOfMemoryError(RuntimeError):
    """torch.OutOfMemoryError / torch.cuda.OutOfMemoryError: a GPU allocation failed (CuPy's
    ``OutOfMemoryError``, mapped where pydlk's GPU work starts; see ``pydlk._oom``)."""


OutOfMemoryError.__module__ = "pydlk"


def _size_text(n: int) -> str:
    """Bytes as torch's messages write them: '512 bytes', '2.00 MiB', '1.50 GiB'."""
    if n < 1024:
        return f"{n} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024  # type: ignore[assignment]
        if n < 1024 or unit == "TiB":
            return f"{n:.2f} {unit}"
    raise AssertionError("unreachable")


def cuda_oom(e: BaseException) -> OutOfMemoryError | None:
    """The ``OutOfMemoryError`` that stands for ``e`` when ``e`` is CuPy's report of a failed
    device allocation, else None (``e`` is then not an allocation failure, or already ours)."""
    if isinstance(e, OutOfMemoryError):
        return None
    module = type(e).__module__ or ""
    if not module.startswith(("cupy", "cupy_backends")):
        return None
    text = str(e)
    if not (isinstance(e, MemoryError) or "cudaErrorMemoryAllocation" in text):
        return None
    size = getattr(e, "_size", None)
    if not isinstance(size, int):
        m = re.search(r"allocating ([\d,]+) bytes", text)
        size = int(m.group(1).replace(",", "")) if m else None
    tried = f" Tried to allocate {_size_text(size)}." if size is not None else ""
    return OutOfMemoryError(
        f"CUDA out of memory.{tried} CuPy: {type(e).__name__}: {text} "
        "(pydlk.cuda.memory_summary() shows the pool; pydlk.cuda.empty_cache() returns its "
        "cached blocks)"
    )


def maps_cuda_oom(fn: _F) -> _F:
    """``fn`` with CuPy's allocation failures raised as :class:`OutOfMemoryError` (from the
    original). Costs nothing while no exception is raised."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (MemoryError, RuntimeError) as e:
            oom = cuda_oom(e)
            if oom is None:
                raise
            raise oom from e

    return wrapper  # type: ignore[return-value]
