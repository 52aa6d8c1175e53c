"""``pydlk.backends.cuda``: torch.backends.cuda's switches, accepted so that GPU scripts that set
them run. pydlk's GPU products (cuBLAS through ``cupy.matmul``, which computes float32
products in float32 unless ``CUPY_TF32=1`` is set in the environment) ignore them:
``matmul.allow_tf32`` (False, torch's default), ``matmul.allow_fp16_reduced_precision_reduction``
and ``matmul.allow_bf16_reduced_precision_reduction``.
"""

import types

matmul = types.SimpleNamespace(
    allow_tf32=False,
    allow_fp16_reduced_precision_reduction=True,
    allow_bf16_reduced_precision_reduction=True,
)


def is_built() -> bool:
    """Whether pydlk can use CUDA at all: CuPy imports (a GPU may still be absent)."""
    from .. import cuda

    return cuda._cupy() is not None
