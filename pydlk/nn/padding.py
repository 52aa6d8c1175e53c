"""Padding layers as torch.nn's: ZeroPad, ConstantPad, ReflectionPad, ReplicationPad and
CircularPad in 1d, 2d and 3d, each ``F.pad`` with its mode over the last 1, 2 or 3 dims.
``padding`` is an int (the same on every side) or a tuple in F.pad's order (last dim first:
left, right, top, bottom, front, back)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import functional as F
from .module import Module

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
]


class _PadNd(Module):
    """``F.pad(input, padding, mode, value)`` over the last ``dims`` dims."""

    mode = "constant"
    dims = 2

    def __init__(self, padding: int | tuple[int, ...], value: float = 0.0) -> None:
        super().__init__()
        n = 2 * self.dims
        if isinstance(padding, int):
            padding = (padding,) * n
        padding = tuple(int(p) for p in padding)
        if len(padding) != n:
            raise ValueError(
                f"{type(self).__name__}: padding must be an int or a tuple of {n} ints, "
                f"got {len(padding)}"
            )
        self.padding = padding
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        if self.mode == "constant":
            return F.pad(input, self.padding, "constant", self.value)
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        extra = f", value={self.value}" if type(self).__name__.startswith("Constant") else ""
        return f"{self.padding}{extra}"


def _family(mode: str, name: str) -> tuple[type, type, type]:
    made = []
    for d in (1, 2, 3):
        doc = f"``F.pad(input, padding, mode='{mode}')`` over the last {d} dim(s), as torch's."
        made.append(
            type(
                f"{name}{d}d",
                (_PadNd,),
                {"mode": mode, "dims": d, "__doc__": doc, "__module__": __name__},
            )
        )
    return made[0], made[1], made[2]


class _ConstantNd(_PadNd):
    def __init__(self, padding: int | tuple[int, ...], value: float) -> None:
        super().__init__(padding, value)


class _ZeroNd(_PadNd):
    def __init__(self, padding: int | tuple[int, ...]) -> None:
        super().__init__(padding, 0.0)


class ConstantPad1d(_ConstantNd):
    """Pads the last dim with ``value`` (torch.nn.ConstantPad1d)."""

    dims = 1


class ConstantPad2d(_ConstantNd):
    """Pads the last 2 dims with ``value`` (torch.nn.ConstantPad2d)."""

    dims = 2


class ConstantPad3d(_ConstantNd):
    """Pads the last 3 dims with ``value`` (torch.nn.ConstantPad3d)."""

    dims = 3


class ZeroPad1d(_ZeroNd):
    """Pads the last dim with zeros (torch.nn.ZeroPad1d)."""

    dims = 1


class ZeroPad2d(_ZeroNd):
    """Pads the last 2 dims with zeros (torch.nn.ZeroPad2d)."""

    dims = 2


class ZeroPad3d(_ZeroNd):
    """Pads the last 3 dims with zeros (torch.nn.ZeroPad3d)."""

    dims = 3


ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = _family("reflect", "ReflectionPad")
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = _family("replicate", "ReplicationPad")
CircularPad1d, CircularPad2d, CircularPad3d = _family("circular", "CircularPad")
