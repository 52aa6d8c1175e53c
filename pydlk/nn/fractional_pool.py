"""nn.FractionalMaxPool2d and nn.FractionalMaxPool3d (torch's modules on
F.fractional_max_pool2d and F.fractional_max_pool3d)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import functional as F
from .._typing import _size_2_t
from ..functional.volumetric import triple
from .module import Module

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["FractionalMaxPool2d", "FractionalMaxPool3d"]


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


class FractionalMaxPool3d(Module):
    """3-D fractional max pooling over (N, C, T, H, W) or (C, T, H, W) to ``output_size`` or
    ``output_ratio`` of the input size, with ``kernel_size`` windows at pseudo-random starts
    (fresh samples each call unless ``_random_samples`` (N, C, 3) is fixed; see
    ``F.fractional_max_pool3d``). As torch's: ``kernel_size``, ``output_size`` and
    ``output_ratio`` are kept as triples, ``_random_samples`` is a buffer (in the state dict
    when given) and the repr shows no arguments. Raises ValueError for a non-positive
    ``kernel_size``, both or neither of ``output_size`` and ``output_ratio``, or a ratio outside
    (0, 1)."""

    def __init__(
        self,
        kernel_size,
        output_size=None,
        output_ratio=None,
        return_indices: bool = False,
        _random_samples=None,
    ) -> None:
        super().__init__()
        ks = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size,)
        if not all(isinstance(k, int) and k > 0 for k in ks):
            raise ValueError(f"kernel_size must be greater than 0, but got {kernel_size}")
        self.kernel_size = triple(kernel_size, "FractionalMaxPool3d", "kernel_size")
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = (
            triple(output_size, "FractionalMaxPool3d", "output_size")
            if output_size is not None
            else None
        )
        ratio = output_ratio
        if ratio is not None and not isinstance(ratio, (tuple, list)):
            ratio = (ratio,) * 3
        self.output_ratio = tuple(ratio) if ratio is not None else None
        if output_size is None and output_ratio is None:
            raise ValueError(
                "FractionalMaxPool3d requires specifying either an output size, or a pooling ratio"
            )
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input: Tensor):
        return F.fractional_max_pool3d(
            input,
            self.kernel_size,
            self.output_size,
            self.output_ratio,
            self.return_indices,
            self._random_samples,
        )
