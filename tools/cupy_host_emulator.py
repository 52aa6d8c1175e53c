"""A host (CPU) stand-in for the parts of CuPy that pydlk._cuda uses, to run the GPU-vs-CPU tests
of tests/test_cuda_kernels.py on a machine without a GPU.

Arrays are NumPy arrays of a subclass (``ndarray``); ``RawModule`` compiles the very CUDA C text
of each kernel as C++ with g++ (a small header maps __global__, blockIdx, atomicAdd, __umulhi,
... to host code) and runs every block of a launch one after the other with ONE thread per block.
So this checks the Python glue, argument passing, index arithmetic and formulas of every kernel
against pydlk._C; it does not check what only a GPU shows: the warp-shuffle block reductions of
the prelude (replaced here by the identity, right for one thread), atomics under contention,
races, launch limits, cuBLAS/cuDNN. Use ``tools/run_cuda_tests_on_host.py``.
"""
import ctypes
import hashlib
import os
import subprocess
import sys
import tempfile
import types

import numpy as np

BUILD = os.environ.get("PYDLK_EMU_BUILD", os.path.join(tempfile.gettempdir(), "pydlk_cuda_emu"))

HOST_HEADER = r"""
#include <algorithm>
#include <cmath>
#include <cstring>
using namespace std;
struct Dim3 { unsigned int x, y, z; };
extern "C" { Dim3 blockIdx, threadIdx, blockDim, gridDim; }
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline unsigned int __umulhi(unsigned int a, unsigned int b) {
  return (unsigned int)(((unsigned long long)a * b) >> 32);
}
template <class V> static inline V atomicAdd(V* p, V v) { V o = *p; *p = o + v; return o; }
static inline void __syncthreads() {}
"""


def _host_prelude(gpu_prelude):
    """The GPU prelude with its block reductions replaced by the one-thread versions."""
    start = gpu_prelude.index("// Sum of v over the block")
    end = gpu_prelude.index("// sigmoid without overflow")
    one_thread = ("__device__ double block_sum(double v) { return v; }\n"
                  "__device__ T block_max(T v) { return v; }\n")
    return gpu_prelude[:start] + one_thread + gpu_prelude[end:]


class ndarray(np.ndarray):
    """A 'device' array: a NumPy array that CuPy-only code paths accept."""

    def get(self):
        return np.asarray(self).copy()


def _wrap(v):
    if isinstance(v, np.ndarray) and not isinstance(v, ndarray):
        return v.view(ndarray)
    if isinstance(v, tuple):
        return tuple(_wrap(e) for e in v)
    return v


class _Kernel:
    def __init__(self, lib, name):
        self.lib, self.fn = lib, getattr(lib, name)
        self.dims = {k: Dim3.in_dll(lib, k) for k in ("blockIdx", "threadIdx", "blockDim",
                                                       "gridDim")}

    def __call__(self, grid, block, args):
        cargs = []
        for a in args:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous, "kernel argument not C-contiguous"
                cargs.append(ctypes.c_void_p(a.ctypes.data))
            elif isinstance(a, np.generic):
                cargs.append({np.dtype(np.int64): ctypes.c_longlong,
                              np.dtype(np.uint64): ctypes.c_ulonglong,
                              np.dtype(np.int32): ctypes.c_int,
                              np.dtype(np.uint32): ctypes.c_uint,
                              np.dtype(np.float32): ctypes.c_float,
                              np.dtype(np.float64): ctypes.c_double}[a.dtype](a.item()))
            else:
                raise TypeError(f"kernel argument of type {type(a).__name__}: pass NumPy scalars")
        d = self.dims
        d["gridDim"].x, d["blockDim"].x, d["threadIdx"].x = grid[0], 1, 0
        for b in range(grid[0]):
            d["blockIdx"].x = b
            self.fn(*cargs)


class Dim3(ctypes.Structure):
    _fields_ = [("x", ctypes.c_uint), ("y", ctypes.c_uint), ("z", ctypes.c_uint)]


class RawModule:
    def __init__(self, code, options=()):
        from pydlk._cuda._common import PRELUDE
        typedef, rest = code.split("\n", 1)
        assert rest.startswith(PRELUDE)
        text = HOST_HEADER + typedef + "\n" + _host_prelude(PRELUDE) + rest[len(PRELUDE):]
        os.makedirs(BUILD, exist_ok=True)
        h = hashlib.sha1(text.encode()).hexdigest()[:16]
        so = os.path.join(BUILD, f"k_{h}.so")
        if not os.path.exists(so):
            cpp = f"{so[:-3]}.{os.getpid()}.cpp"
            with open(cpp, "w") as f:
                f.write(text)
            tmp = f"{so}.{os.getpid()}.tmp"
            r = subprocess.run(["g++", "-O1", "-std=c++14", "-shared", "-fPIC", "-o", tmp, cpp],
                               capture_output=True, text=True)
            if r.returncode:
                raise RuntimeError(f"host compile of a CUDA source failed:\n{r.stderr}")
            os.replace(tmp, so)  # atomic: a concurrent run never loads a half-written library
        self.lib = ctypes.CDLL(so)

    def get_function(self, name):
        return _Kernel(self.lib, name)


def _module():
    m = types.ModuleType("cupy")
    m.ndarray = ndarray
    m.RawModule = RawModule
    m.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    m.asnumpy = lambda a: np.array(a, copy=True).view(np.ndarray)
    m.asarray = lambda a, dtype=None: np.array(a, dtype=dtype, copy=True).view(ndarray)
    m.__host_emulator__ = True

    def getattr_(name):
        v = getattr(np, name)
        if isinstance(v, type) or not callable(v):
            return v

        def f(*a, **k):
            return _wrap(v(*a, **k))
        return f
    m.__getattr__ = getattr_
    return m


def install():
    """Puts the stand-in into sys.modules['cupy'] (before anything imports the real one)."""
    if "cupy" in sys.modules and not getattr(sys.modules["cupy"], "__host_emulator__", False):
        raise RuntimeError("the real cupy is already imported")
    sys.modules["cupy"] = _module()
