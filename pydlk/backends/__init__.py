"""Switches for how the kernels compute, as ``torch.backends``: ``pydlk.backends.cpu`` (pydlk's
own), ``cudnn`` and ``cuda`` (torch's names; see each for what they change here)."""

from . import cpu, cuda, cudnn

__all__ = ["cpu", "cuda", "cudnn", "get_float32_matmul_precision", "set_float32_matmul_precision"]

_matmul_precision = {"value": "highest"}


def set_float32_matmul_precision(precision: str) -> None:
    """torch's switch between float32 products and faster reduced-precision ones ('high',
    'medium': TF32 or bf16 on hardware that has them). Accepted and remembered; pydlk's float32
    products stay float32 whatever it says (for bf16 products use ``pydlk.autocast``)."""
    if precision not in ("highest", "high", "medium"):
        raise ValueError(
            f"set_float32_matmul_precision: precision must be 'highest', 'high' or 'medium', "
            f"got {precision!r}"
        )
    _matmul_precision["value"] = precision


def get_float32_matmul_precision() -> str:
    """What ``set_float32_matmul_precision`` was last given ('highest' by default)."""
    return _matmul_precision["value"]
