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

``allow_direct_conv`` (default True): float32 convolution forwards with several input and at
least 8 output channels per group and a kernel larger than 1x1 (stride-2 layers, 5x5 kernels)
run a direct AVX-512 kernel with no im2col copy where the CPU has AVX-512
(``csrc/conv2d_direct512.cpp``; at stride 1 with a multiple of 16 outputs on small images,
LeNet's conv2 among them, ``csrc/conv2d_k16.cpp``); Winograd, where it applies, comes first.
It also lets the
weight gradient of layers with 9-16 outputs, one group and a 3x3 or 5x5 kernel (LeNet's conv2,
a ResNet stem) run without im2col (``csrc/conv2d_dw512.cpp``), and the input gradient of such
layers at stride 1 with rows at most 32 wide without col2im (``csrc/conv2d_dx512.cpp``). Same
sums, in another order.
``pydlk.backends.cpu.direct_conv_supported()`` says whether this machine has it.

``allow_amx`` (default True): the bf16 products of ``pydlk.autocast`` (linear, conv2d) run on
AMX tiles (``tdpbf16ps``) where the CPU has AMX-BF16 (Intel Xeon from Sapphire Rapids on) and
the OS lets the process use them; else, and when set to False, on AVX512_BF16
(``vdpbf16ps``). Both multiply the same bf16 operands exactly and add in float32; only the
order of the sums differs. AMX is 4-6x faster where both exist (``bench/test_bf16.py``).
``pydlk.backends.cpu.amx_supported()`` says whether this machine has it.

``allow_avx512_exp`` (default True): the kernels bound by the exponential run hand-vectorised
AVX-512 loops where the CPU has AVX-512: the softmax family's row sums (softmax, log_softmax,
cross_entropy, logsumexp, attention's softmax; ``csrc/softmax_rows.h``: softmax on (4096, 1000)
1.7x faster) and silu, sigmoid, tanh and gelu (``csrc/activation.cpp``: 1.2x); else, and when
set to False, the portable loops. The same polynomials: results agree to about 1 ulp, and
exponentials below 2^-126 are subnormal on the AVX-512 loops where the portable ones flush them
to 0.
"""

import sys
import types

from .. import _C


class _CpuBackend(types.ModuleType):
    """The module, with ``allow_winograd``, ``allow_direct_conv``, ``allow_amx`` and
    ``allow_avx512_exp`` as properties that read and set the kernels' flags."""

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

    @property
    def allow_direct_conv(self) -> bool:
        """Whether dense float32 convolution forwards may run the AVX-512 direct kernel."""
        return bool(_C.get_conv_direct())

    @allow_direct_conv.setter
    def allow_direct_conv(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(
                f"pydlk.backends.cpu.allow_direct_conv must be True or False, got {value!r}"
            )
        _C.set_conv_direct(value)

    @staticmethod
    def direct_conv_supported() -> bool:
        """True where the CPU has the AVX-512 the direct convolution forward needs."""
        return bool(_C.conv_direct_supported())

    @property
    def allow_amx(self) -> bool:
        """Whether the bf16 products may run on AMX tiles (see the module's docstring)."""
        return bool(_C.get_bf16_amx())

    @allow_amx.setter
    def allow_amx(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"pydlk.backends.cpu.allow_amx must be True or False, got {value!r}")
        _C.set_bf16_amx(value)

    @staticmethod
    def amx_supported() -> bool:
        """True where the CPU has AMX-BF16 and the OS let this process use the tiles."""
        return bool(_C.bf16_amx_supported())

    @property
    def allow_avx512_exp(self) -> bool:
        """Whether the kernels bound by the exponential may run their AVX-512 loops (see the
        module's docstring)."""
        return bool(_C.get_avx512_exp())

    @allow_avx512_exp.setter
    def allow_avx512_exp(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(
                f"pydlk.backends.cpu.allow_avx512_exp must be True or False, got {value!r}"
            )
        _C.set_avx512_exp(value)


sys.modules[__name__].__class__ = _CpuBackend
