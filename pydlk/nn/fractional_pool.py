"""nn.FractionalMaxPool2d (torch's module on F.fractional_max_pool2d)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import functional as F
from .._typing import _size_2_t
from .module import Module

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["FractionalMaxPool2d"]


class FractionalMaxPool2d(Module):
    """Fractional max pooling to ``output_size`` or ``output_ratio`` of the input size with
    ``kernel_size`` windows at pseudo-random starts (fresh samples each call unless
    ``_random_samples`` is fixed). Same arguments and checks as torch."""

    def __init__(
        self,
        kernel_size: _size_2_t,
        output_size: _size_2_t | None = None,
        output_ratio=None,
        return_indices: bool = False,
        _random_samples=None,
    ) -> None:
        super().__init__()
        if (output_size is None) == (output_ratio is None):
            raise ValueError(
                "FractionalMaxPool2d requires specifying either an output size, or "
                "a pooling ratio (exactly one)"
            )
        if output_ratio is not None:
            r = output_ratio if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * 2
            if not all(0 < float(v) < 1 for v in r):
                raise ValueError(
                    f"FractionalMaxPool2d: output_ratio must be between 0 and 1 "
                    f"(exclusive), got {output_ratio}"
                )
        self.kernel_size, self.output_size, self.output_ratio = (
            kernel_size,
            output_size,
            output_ratio,
        )
        self.return_indices = return_indices
        self._random_samples = _random_samples

    def forward(self, input: Tensor) -> Tensor:
        return F.fractional_max_pool2d(
            input,
            self.kernel_size,
            self.output_size,
            self.output_ratio,
            self.return_indices,
            self._random_samples,
        )

    def extra_repr(self):
        return (
            f"kernel_size={self.kernel_size}, output_size={self.output_size}, "
            f"output_ratio={self.output_ratio}"
        )
