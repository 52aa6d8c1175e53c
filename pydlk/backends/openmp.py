"""``torch.backends.openmp``: whether the kernels were built with OpenMP (``pydlk.config()``
says which)."""

__all__ = ["is_available"]


def is_available() -> bool:
    """True when pydlk's kernels were compiled with OpenMP (they run on several threads)."""
    from .._config import config

    return not str(config().get("openmp", "")).startswith("none")
