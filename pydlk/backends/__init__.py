"""Switches for how the kernels compute, as ``torch.backends``: ``pydlk.backends.cpu`` (pydlk's
own), ``cudnn`` and ``cuda`` (torch's names; see each for what they change here); ``mps``,
``mkl``, ``mkldnn`` and ``openmp`` say what this build has, as torch's do."""

from . import cpu, cuda, cudnn, mkl, mkldnn, mps, openmp

__all__ = [
    "are_deterministic_algorithms_enabled",
    "cpu",
    "cuda",
    "cudnn",
    "get_float32_matmul_precision",
    "is_deterministic_algorithms_warn_only_enabled",
    "mkl",
    "mkldnn",
    "mps",
    "openmp",
    "set_float32_matmul_precision",
    "use_deterministic_algorithms",
]

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


_deterministic = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """torch's switch to deterministic algorithms only. Recorded (``are_deterministic_algorithms_
    enabled`` reads it back); it changes nothing in pydlk, whose results are already the same
    run to run: the CPU kernels are deterministic whatever the thread count (reductions split
    the same way, random masks are Philox functions of the element index); on the GPU the
    backward passes of pooling (``pydlk._cuda.pool2d``) and the gradients made by CuPy's
    ``scatter_add`` (gather, index_select, indexing with repeated indices) add with atomics, so
    their float32 sums may differ in the last bits between runs, and cuDNN's engine choice is
    not restricted. torch would raise (or warn, with ``warn_only=True``) for those; pydlk runs
    them.
    """
    _deterministic["mode"] = bool(mode)
    _deterministic["warn_only"] = bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    """What ``use_deterministic_algorithms`` was last given (False by default)."""
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """The ``warn_only`` last given to ``use_deterministic_algorithms`` (False by default)."""
    return _deterministic["warn_only"]
