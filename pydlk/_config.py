"""Build and runtime configuration: ``show_config`` and the one thread-count switch."""
from . import _C


def set_num_threads(n):
    """Set the thread count of pydlk's OpenMP kernels and of the BLAS together."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    _C.set_num_threads(n)


def get_num_threads():
    return _C.get_num_threads()


def config():
    """The configuration as a dict (what ``show_config`` prints)."""
    return dict(_C.config())


def show_config():
    c = config()
    rows = [("version", c["version"]), ("compiler", c["compiler"]), ("OpenMP", c["openmp"]),
            ("BLAS", c["blas"]), ("BLAS kernels", c["blas_core"]),
            ("SIMD build", c["simd_build"]), ("SIMD in use", c["simd"]),
            ("threads", f'{c["num_threads"]} (BLAS {c["blas_threads"]})'),
            ("allocator", c["allocator"])]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
