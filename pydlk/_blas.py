"""Load the BLAS (scipy-openblas32) before ``pydlk._C``, choosing its kernels well.

OpenBLAS picks its kernels from the CPU at load time. On AMD Zen 4/5 it has been seen to pick
the AVX2 (Haswell) sgemm, about half the speed of its AVX-512 (SkylakeX) kernels on the same
CPU. When the CPU has AVX-512 and the user has not chosen (``OPENBLAS_CORETYPE`` unset), we ask
for SkylakeX for this load only. ``pydlk.show_config()`` shows what was picked.
"""
import ctypes
import os
import sys


def _cpu_has_avx512():
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split()
                    return "avx512f" in flags and "avx512bw" in flags and "avx512vl" in flags
    except OSError:
        pass
    return False


def load():
    import scipy_openblas32 as sob

    path = os.path.join(sob.get_lib_dir(), sob.get_library(fullname=True))
    chosen = "OPENBLAS_CORETYPE" in os.environ
    if not chosen and _cpu_has_avx512():
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    try:
        # RTLD_GLOBAL so that _C's reference to the library resolves to this copy.
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    finally:
        if not chosen:
            os.environ.pop("OPENBLAS_CORETYPE", None)
