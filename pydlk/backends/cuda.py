"""``pydlk.backends.cuda``: torch.backends.cuda's switches, accepted so that GPU scripts that set
them run. pydlk's GPU products (cuBLAS through ``cupy.matmul``, which computes float32
products in float32 unless ``CUPY_TF32=1`` is set in the environment) ignore them:
``matmul.allow_tf32`` (False, torch's default), ``matmul.allow_fp16_reduced_precision_reduction``
and ``matmul.allow_bf16_reduced_precision_reduction``; likewise the scaled_dot_product_attention
switches (``enable_flash_sdp`` ... ``sdp_kernel``): pydlk has one attention kernel.
"""

import contextlib
import types
from collections.abc import Iterator

matmul = types.SimpleNamespace(
    allow_tf32=False,
    allow_fp16_reduced_precision_reduction=True,
    allow_bf16_reduced_precision_reduction=True,
)


def is_built() -> bool:
    """Whether pydlk can use CUDA at all: CuPy imports (a GPU may still be absent)."""
    from .. import cuda

    return cuda._cupy() is not None


# Which of torch's scaled_dot_product_attention implementations may run. pydlk has one, the
# math form (softmax(q k^T * scale) v on its own kernels, CPU and GPU); the switches are
# remembered and reported, so that scripts which set them (or pydlk.nn.attention.sdpa_kernel)
# run, and attention computes the same way whatever they say.
_sdp = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def enable_flash_sdp(enabled: bool) -> None:
    """torch's switch for the flash attention kernel: remembered (pydlk has only the math one)."""
    _sdp["flash"] = bool(enabled)


def flash_sdp_enabled() -> bool:
    """What ``enable_flash_sdp`` was last given (True by default)."""
    return _sdp["flash"]


def enable_mem_efficient_sdp(enabled: bool) -> None:
    """torch's switch for the memory-efficient attention kernel: remembered."""
    _sdp["mem_efficient"] = bool(enabled)


def mem_efficient_sdp_enabled() -> bool:
    """What ``enable_mem_efficient_sdp`` was last given (True by default)."""
    return _sdp["mem_efficient"]


def enable_math_sdp(enabled: bool) -> None:
    """torch's switch for the math attention (the one pydlk runs): remembered."""
    _sdp["math"] = bool(enabled)


def math_sdp_enabled() -> bool:
    """What ``enable_math_sdp`` was last given (True by default)."""
    return _sdp["math"]


def enable_cudnn_sdp(enabled: bool) -> None:
    """torch's switch for cuDNN's attention kernel: remembered."""
    _sdp["cudnn"] = bool(enabled)


def cudnn_sdp_enabled() -> bool:
    """What ``enable_cudnn_sdp`` was last given (True by default)."""
    return _sdp["cudnn"]


@contextlib.contextmanager
def sdp_kernel(
    enable_flash: bool = True,
    enable_math: bool = True,
    enable_mem_efficient: bool = True,
    enable_cudnn: bool = True,
) -> Iterator[None]:
    """torch's (deprecated) context manager over the four switches above; they are put back
    when the block ends. ``pydlk.nn.attention.sdpa_kernel`` is the current spelling."""
    before = dict(_sdp)
    _sdp.update(
        flash=bool(enable_flash),
        math=bool(enable_math),
        mem_efficient=bool(enable_mem_efficient),
        cudnn=bool(enable_cudnn),
    )
    try:
        yield
    finally:
        _sdp.update(before)
