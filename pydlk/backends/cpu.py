"""Choices of the CPU kernels (``pydlk.backends.cpu``), in the manner of
``torch.backends.cudnn.allow_tf32``: a speed-for-rounding trade a user can turn off.

``allow_winograd`` (default True): float32 3x3 convolutions with stride 1, no dilation, one
group, at least 8 channels in and out and at least 64 4x4 output tiles in the batch (64
images of 8x8, one of 32x32) run the Winograd F(4x4, 3x3) algorithm, 1.4-2.8x faster, with
more rounding than the direct sum: about 5e-6 of the largest output at 64 channels against
2e-7 (see ``csrc/conv2d_winograd.cpp``). A NaN or Inf in the input also reaches every output
of the 4x4 tiles whose 6x6 input patch holds it, not only its receptive field. Set it to
False for the direct sum everywhere; float64 never takes Winograd. GPU convolutions follow
cuDNN's own choice.

    pydlk.backends.cpu.allow_winograd = False
"""

import sys
import types

from .. import _C


class _CpuBackend(types.ModuleType):
    """The module, with ``allow_winograd`` as a property that reads and sets the kernels' flag."""

    @property
    def allow_winograd(self) -> bool:
        """Whether float32 3x3 convolutions may run Winograd (see the module's docstring)."""
        return bool(_C.get_conv_winograd())

    @allow_winograd.setter
    def allow_winograd(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(
                f"pydlk.backends.cpu.allow_winograd must be True or False, got {value!r}"
            )
        _C.set_conv_winograd(value)


sys.modules[__name__].__class__ = _CpuBackend
