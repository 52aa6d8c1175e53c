"""Shared machinery of the CuPy kernels: lazy CuPy import, argument checks, allocation, and
``Source``, a CUDA C source compiled on first use once per dtype.

Nothing here imports CuPy at import time: a ``Source`` only records its text (so that
``tools/check_cuda_sources.py`` can compile-check every kernel with nvcc on a machine without a
GPU); CuPy is imported and the code compiled the first time a kernel is launched.
"""

from __future__ import annotations

import math
import sys

import numpy as np

#: Every Source ever created, in creation order (read by tools/check_cuda_sources.py).
SOURCES: list[Source] = []

# Device helpers every source gets, after ``typedef <float|double> T;``. NVRTC has no standard
# headers, so integer types are spelled out and infinity is built from its bits.
PRELUDE = r"""
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

__device__ __forceinline__ T pos_inf() { return (T)__int_as_float(0x7f800000); }
__device__ __forceinline__ T quiet_nan() { return (T)__int_as_float(0x7fc00000); }

// Sum of v over the block (blockDim.x a power of two, <= 1024), in double; every thread gets it.
__device__ double block_sum(double v) {
  __shared__ double sh_sum[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) sh_sum[warp] = v;
  __syncthreads();
  const int nw = (blockDim.x + 31) >> 5;
  v = (int)threadIdx.x < nw ? sh_sum[threadIdx.x] : 0.0;
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if (threadIdx.x == 0) sh_sum[0] = v;
  __syncthreads();
  v = sh_sum[0];
  __syncthreads();
  return v;
}

// Max of v over the block, NaN-propagating (a NaN anywhere gives NaN); every thread gets it.
__device__ T block_max(T v) {
  __shared__ T sh_max[32];
  for (int o = 16; o > 0; o >>= 1) {
    T u = __shfl_down_sync(0xffffffffu, v, o);
    v = (u > v || u != u) ? u : v;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) sh_max[warp] = v;
  __syncthreads();
  const int nw = (blockDim.x + 31) >> 5;
  v = (int)threadIdx.x < nw ? sh_max[threadIdx.x] : -pos_inf();
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) {
      T u = __shfl_down_sync(0xffffffffu, v, o);
      v = (u > v || u != u) ? u : v;
    }
  if (threadIdx.x == 0) sh_max[0] = v;
  __syncthreads();
  v = sh_max[0];
  __syncthreads();
  return v;
}

// Sum of v over the 32 lanes of a warp (all of them must call it); lane 0 gets the sum.
__device__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

// sigmoid without overflow: z = e^{-|x|} in (0, 1].
__device__ __forceinline__ T sigmoid_(T x) {
  T z = exp(-fabs(x));
  T r = (T)1 / ((T)1 + z);
  return x >= (T)0 ? r : z * r;
}

#define GRID_STRIDE(i, n) \
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

// A thread's strided walk over a rows x cols index space (flat j = r * cols + q), `step` at a
// time. The step is split into whole rows and columns once, so that each step costs adds and
// one compare: a 64-bit division per element is a long instruction sequence on a GPU.
struct Walk2 {
  i64 r, q, dr, dq, cols;
  __device__ Walk2(i64 j, i64 step, i64 cols_) : cols(cols_ > 0 ? cols_ : 1) {
    r = j / cols; q = j % cols; dr = step / cols; dq = step % cols;
  }
  __device__ void next() {
    q += dq;
    r += dr;
    if (q >= cols) { q -= cols; ++r; }
  }
};
"""

THREADS = 256


def cupy():
    """The cupy module, imported on first use."""
    import cupy as cp

    return cp


def ctype(dtype) -> str:
    dt = np.dtype(dtype)
    if dt == np.float32:
        return "float"
    if dt == np.float64:
        return "double"
    raise TypeError(f"pydlk: CUDA kernels take float32 or float64, got {dt}")


class Source:
    """CUDA C text (extern "C" __global__ kernels over the element type T), compiled lazily with
    NVRTC through ``cupy.RawModule`` once per dtype."""

    def __init__(self, family: str, code: str, names: tuple[str, ...]):
        self.family, self.code, self.names = family, code, tuple(names)
        self._modules: dict = {}
        SOURCES.append(self)

    def full_code(self, dtype) -> str:
        return f"typedef {ctype(dtype)} T;\n" + PRELUDE + self.code

    def __call__(self, name: str, dtype):
        """The compiled kernel ``name`` for ``dtype`` (compiling this source on first use)."""
        key = np.dtype(dtype).str
        mod = self._modules.get(key)
        if mod is None:
            mod = cupy().RawModule(code=self.full_code(dtype), options=("--std=c++14",))
            self._modules[key] = mod
        return mod.get_function(name)


def launch(kernel, n: int, args, threads: int = THREADS):
    """Runs a grid-stride kernel over n items (nothing when n == 0)."""
    if n <= 0:
        return
    blocks = max(1, min((n + threads - 1) // threads, 65535 * 8))
    kernel((blocks,), (threads,), args)


def launch_warps(kernel, n: int, args, threads: int = THREADS):
    """Runs a kernel that gives each of n items one warp (32 threads), grid-stride over warps
    (nothing when n == 0)."""
    if n <= 0:
        return
    per_block = threads // 32
    blocks = max(1, min((n + per_block - 1) // per_block, 65535 * 8))
    kernel((blocks,), (threads,), args)


def by_column(D: int, inner: int) -> bool:
    """Whether a reduction over D values ``inner`` apart (softmax and cross-entropy along dim 1
    of (N, C, *)) should run one thread per slice rather than one block per slice. With
    inner > 1 the slices interleave: a thread per slice, consecutive threads on consecutive
    slices, makes each step of a warp read contiguous memory once inner >= 32 (a block per
    slice reads values inner apart), and with D <= THREADS a block per slice would leave most
    of its threads idle. Long slices that interleave little (inner < 32, D large) keep a block
    each, to split their work."""
    return inner > 1 and (inner >= 32 or D <= THREADS)


#: The most blocks one launch may have along x (CUDA's grid limit).
MAX_ROWS = 2**31 - 1


def launch_rows(kernel, rows: int, args, threads: int = THREADS, op: str = "a row kernel"):
    """One block per row. More rows than a grid holds raise ValueError: CuPy would pass the count
    to the driver modulo 2^32 and leave the rows past it uncomputed."""
    if rows <= 0:
        return
    if rows > MAX_ROWS:
        raise ValueError(
            f"{op}: {rows} rows (one GPU block each) exceed CUDA's grid limit of {MAX_ROWS}; "
            f"split the batch"
        )
    kernel((rows,), (threads,), args)


def capturing() -> bool:
    """Whether the current stream is being captured into a CUDA graph: then nothing may copy
    between host and device (CuPy raises), so data-dependent checks that read device values
    on the host are skipped and the kernels guard themselves."""
    return bool(cupy().cuda.get_current_stream().is_capturing())


def device_scalar(v):
    """A 0-d float64 device array holding v (a number, or a 0-d device array): how kernels take
    scalars computed from device data (a loss's divisor, an upstream gradient), so that no value
    has to come to the host and a captured graph reads the current one on every replay. A
    number is written by a fill kernel, not copied from the host."""
    cp = cupy()
    if isinstance(v, cp.ndarray):
        return cp.ascontiguousarray(v.reshape(()), dtype=cp.float64)
    return cp.full((), float(v), cp.float64)


def i64(v) -> np.int64:
    return np.int64(v)


def f64(v) -> np.float64:
    return np.float64(v)


def scalar(dtype, v):
    """v as a NumPy scalar of the kernel's element type (RawKernel arguments are typed by it)."""
    return np.dtype(dtype).type(v)


def is_cupy(a) -> bool:
    cp = sys.modules.get("cupy")
    return cp is not None and isinstance(a, cp.ndarray)


def check_float(x, op: str, name: str):
    if not is_cupy(x):
        raise TypeError(f"{op}: {name} must be a CuPy array, got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {name} must be float32 or float64, got {x.dtype}")
    return contiguous(x)


def check_like(a, dtype, op: str, name: str, shape=None):
    if not is_cupy(a):
        raise TypeError(f"{op}: {name} must be a CuPy array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{op}: {name} must be {np.dtype(dtype)}, got {a.dtype}")
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}, got {tuple(a.shape)}")
    return contiguous(a)


def check_int64(a, op: str, name: str, shape=None):
    if not is_cupy(a):
        raise TypeError(f"{op}: {name} must be a CuPy array, got {type(a).__name__}")
    if a.dtype != np.int64:
        raise TypeError(f"{op}: {name} must be int64, got {a.dtype}")
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}, got {tuple(a.shape)}")
    return contiguous(a)


def contiguous(a):
    return a if a.flags.c_contiguous else cupy().ascontiguousarray(a)


def out_or_new(out, shape, dtype, op: str, name: str = "out"):
    """``out`` checked (dtype, shape, C-contiguous), or a new uninitialised array."""
    if out is None:
        return cupy().empty(tuple(shape), dtype=dtype)
    if not is_cupy(out):
        raise TypeError(f"{op}: {name} must be a CuPy array or None, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{op}: {name} must be {np.dtype(dtype)}, got {out.dtype}")
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}, got {tuple(out.shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{op}: {name} must be C-contiguous")
    return out


def need_finite(v, op: str, name: str, nonneg: bool = True):
    if not (math.isfinite(v) and (not nonneg or v >= 0)):
        raise ValueError(
            f"{op}: {name} must be {'a finite number >= 0' if nonneg else 'finite'}, got {v}"
        )


def int_pair(v, op: str, name: str):
    """An int or a pair of ints (never bool), as pydlk._C accepts them."""

    def one(e):
        if isinstance(e, bool) or not isinstance(e, (int, np.integer)):
            raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
        return int(e)

    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return one(v), one(v)
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{op}: {name} must have 2 values, got {len(v)}")
        return one(v[0]), one(v[1])
    return one(v)  # raises the TypeError
