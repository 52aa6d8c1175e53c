"""``pydlk.Size``: torch.Size, the type of ``Tensor.shape`` and ``Tensor.size()``."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any, SupportsIndex, overload


class Size(tuple):
    """torch.Size: a tuple of ints (``Tensor.shape`` and ``Tensor.size()`` return one). It equals
    the plain tuple of the same ints (``x.shape == (2, 3)``); slicing it, adding a tuple to it
    or repeating it gives a Size; ``numel()`` is the product of the sizes.

    Differs from torch: it prints as the plain tuple ``(2, 3)``, where torch prints
    ``torch.Size([2, 3])``, so that messages naming a shape read the same either way.

    Raises TypeError for sizes that are not ints.
    """

    __slots__ = ()

    def __new__(cls, sizes: Iterable[Any] = ()) -> Size:
        try:
            return tuple.__new__(cls, [operator.index(s) for s in sizes])
        except TypeError:
            raise TypeError(f"Size: sizes must be ints, got {sizes!r}") from None

    @overload
    def __getitem__(self, key: SupportsIndex) -> int: ...
    @overload
    def __getitem__(self, key: slice) -> Size: ...
    def __getitem__(self, key: SupportsIndex | slice) -> int | Size:
        r = tuple.__getitem__(self, key)
        return tuple.__new__(Size, r) if isinstance(key, slice) else r

    def __add__(self, other: tuple[Any, ...]) -> Size:  # type: ignore[override]
        """``Size + tuple``: a Size."""
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(self, other))

    def __radd__(self, other: tuple[Any, ...]) -> Size:
        """``tuple + Size``: a Size."""
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))

    def __mul__(self, n: SupportsIndex) -> Size:
        """``Size * n``: the sizes repeated n times, a Size."""
        return tuple.__new__(Size, tuple.__mul__(self, n))

    __rmul__ = __mul__

    def numel(self) -> int:
        """The number of elements of a tensor of this shape (1 for ``Size([])``)."""
        n = 1
        for s in self:
            n *= s
        return n

    def __reduce__(self) -> tuple[Any, ...]:
        return (Size, (tuple(self),))
