"""Load the BLAS (scipy-openblas32) before ``pydlk._C``, choosing its kernels well.

OpenBLAS picks its kernels from the CPU at load time. On AMD Zen 4/5 it has been seen to pick
the AVX2 (Haswell) sgemm, about half the speed of its AVX-512 (SkylakeX) kernels on the same
CPU. When the CPU has AVX-512 and the user has not chosen (``OPENBLAS_CORETYPE`` unset), we ask
for SkylakeX for this load only. ``pydlk.show_config()`` shows what was picked, and warns (as
does ``pydlk bench``) when the kernels in use are below what the CPU supports, e.g. a user's
``OPENBLAS_CORETYPE=Haswell`` on an AVX-512 CPU.
"""

import ctypes
import os
import sys

# The library loaded by ``load()``: pydlk's own OpenBLAS, kept single-threaded (csrc/blas.h).
PATH = None

# x86-64 SIMD levels, as OpenBLAS's kernels and the CPU flags name them.
SIMD_NAMES = {1: "AVX", 2: "AVX2+FMA", 3: "AVX-512"}
# OpenBLAS core names (DYNAMIC_ARCH, x86-64) -> the SIMD level of their GEMM kernels. Zen runs
# the Haswell kernels; Bulldozer and its successors have AVX and FMA but not AVX2.
CORE_SIMD = {
    "skylakex": 3,
    "cooperlake": 3,
    "sapphirerapids": 3,
    "haswell": 2,
    "zen": 2,
    "sandybridge": 1,
    "bulldozer": 1,
    "piledriver": 1,
    "steamroller": 1,
    "excavator": 1,
    "nehalem": 0,
    "core2": 0,
    "penryn": 0,
    "dunnington": 0,
    "prescott": 0,
    "atom": 0,
    "opteron": 0,
    "barcelona": 0,
    "bobcat": 0,
}


def _cpu_flags():
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def cpu_simd_level():
    """The CPU's x86-64 SIMD level (0 below AVX, 1 AVX, 2 AVX2+FMA, 3 AVX-512), None if unknown."""
    flags = _cpu_flags()
    if flags is None:
        return None
    if {"avx512f", "avx512bw", "avx512vl"} <= flags:
        return 3
    if {"avx2", "fma"} <= flags:
        return 2
    return 1 if "avx" in flags else 0


def _cpu_has_avx512():
    return cpu_simd_level() == 3


def load():
    global PATH
    # Both settings must be in the environment before scipy_openblas32 is imported: importing
    # it loads the library (its __init__ reads the library's config), and OpenBLAS reads its
    # environment once, at load.
    chosen = "OPENBLAS_CORETYPE" in os.environ
    if not chosen and _cpu_has_avx512():
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    # One thread from the start: pydlk calls it single-threaded only (csrc/blas.h), so the
    # server threads OpenBLAS would start for more are never used, and with them in the
    # process the OpenMP team ran slowly in some processes (on 2 cores, an autograd
    # cross-entropy step (256, 1000) took 385 us instead of 170 in 4 of 6 processes; with one
    # thread, in 0 of 6). For this load only; the user's value is put back.
    threads = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import scipy_openblas32 as sob

        path = os.path.join(sob.get_lib_dir(), sob.get_library(fullname=True))
        # RTLD_GLOBAL so that _C's reference to the library resolves to this copy.
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        PATH = path
    finally:
        if not chosen:
            os.environ.pop("OPENBLAS_CORETYPE", None)
        if threads is None:
            os.environ.pop("OPENBLAS_NUM_THREADS", None)
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = threads
