"""torch's memory formats: ``pydlk.contiguous_format``, ``channels_last``, ``channels_last_3d``
and ``preserve_format``, and the checks of the ``memory_format=`` argument.

pydlk keeps every tensor it makes as a C-order (NCHW) array: a memory format is a layout hint
that changes no value. ``x.contiguous(memory_format=pydlk.channels_last)``,
``x.to(memory_format=...)``, ``clone``, ``empty`` and the ``*_like`` factories accept it (with
torch's rank check: channels_last needs a 4-d tensor, channels_last_3d a 5-d one) and return
C-order results. ``x.is_contiguous(memory_format=...)`` reads the array's strides as torch reads
a tensor's, so it answers as torch would for a tensor with those strides: an NCHW-contiguous
tensor is channels_last-contiguous only when C == 1 or H == W == 1.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "channels_last",
    "channels_last_3d",
    "contiguous_format",
    "memory_format",
    "preserve_format",
]


class memory_format:  # noqa: N801  (torch's name)
    """A memory format (torch.memory_format): one of ``pydlk.contiguous_format``,
    ``pydlk.channels_last``, ``pydlk.channels_last_3d``, ``pydlk.preserve_format``. Its repr is
    torch's (``torch.channels_last``); each is a singleton, kept through copy and pickle."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"torch.{self._name}"

    __str__ = __repr__

    def __reduce__(self) -> str:
        return self._name  # the module attribute of that name: the same object after a copy

    def __copy__(self) -> memory_format:
        return self

    def __deepcopy__(self, memo: Any) -> memory_format:
        return self


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")

_RANK = {"channels_last": 4, "channels_last_3d": 5}
# torch's order of dims from the fastest-varying for each channels-last format
_ORDER = {"channels_last": (1, 3, 2, 0), "channels_last_3d": (1, 4, 3, 2, 0)}


def _check_memory_format(op: str, fmt: Any, ndim: int | None = None, optional: bool = True) -> Any:
    """``fmt`` checked for ``op``: a memory_format (or None where ``optional``), else TypeError
    naming the op and argument, as torch's; with ``ndim``, a channels-last format for a tensor
    of the wrong rank is torch's RuntimeError."""
    if fmt is None and optional:
        return None
    if not isinstance(fmt, memory_format):
        raise TypeError(
            f"{op}(): argument 'memory_format' must be pydlk.memory_format (pydlk.channels_last, "
            f"pydlk.contiguous_format, ...), not {type(fmt).__name__}"
        )
    rank = _RANK.get(fmt._name)
    if ndim is not None and rank is not None and ndim != rank:
        raise RuntimeError(f"required rank {rank} tensor to use {fmt._name} format")
    return fmt


def _check_new_format(op: str, fmt: Any, ndim: int) -> None:
    """The ``memory_format`` of a new tensor (``empty``): checked; preserve_format has nothing
    to preserve there and is torch's RuntimeError."""
    if _check_memory_format(op, fmt, ndim) is preserve_format:
        raise RuntimeError("unsupported memory format Preserve")


def _is_contiguous_as(array: Any, fmt: Any) -> bool:
    """Whether ``array``'s strides are contiguous in memory format ``fmt`` (torch's test: dims
    of size 1 are skipped; channels-last formats need rank 4 or 5, else False)."""
    order = _ORDER.get(fmt._name)
    if order is None:
        return bool(array.flags.c_contiguous)
    if array.ndim != len(order):
        return False
    expected = 1
    item = array.itemsize
    for d in order:
        n = array.shape[d]
        if n != 1:
            if array.strides[d] != expected * item:
                return False
            expected *= n
    return True
