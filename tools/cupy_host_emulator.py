"""A host (CPU) stand-in for the parts of CuPy that pydlk._cuda uses, to run the GPU-vs-CPU tests
of tests/test_cuda_kernels.py on a machine without a GPU.

Arrays are NumPy arrays of a subclass (``ndarray``); ``RawModule`` compiles the very CUDA C text
of each kernel as C++ with g++ (a small header maps __global__, blockIdx, atomicAdd, __umulhi,
... to host code) and runs the blocks of a launch one after the other.

Two modes (environment variable PYDLK_EMU_THREADS):

* ``1`` (the default): one thread per block, the prelude's block and warp reductions replaced
  by the identity (right for one thread). Fast; checks the Python glue, argument passing, index
  arithmetic and formulas of every kernel against pydlk._C.
* ``64`` (opt-in; any multiple of 32): that many host threads per block, in lockstep:
  ``__syncthreads`` is a barrier of the block, ``__shfl_down_sync`` an exchange through memory
  between the 32 threads of a warp with a barrier of the warp, ``__shared__`` arrays are shared.
  This also runs the GPU prelude's real warp-shuffle block and warp reductions.

Streams and events exist as stand-ins that order nothing (every launch runs at once, in program
order), so code that enqueues work on side streams runs, serially; ``a.data.ptr`` is the host
address. Reductions give 0-d arrays, as CuPy's do, not NumPy scalars. The default memory pool
counts the bytes of live device arrays (each allocated through the current allocator, so a
``set_allocator`` wrapper sees every allocation); its ``set_limit(size=)`` makes an allocation
past the limit raise ``cupy.cuda.memory.OutOfMemoryError``, as CuPy's pool does, which is how
tests stand for a full GPU; ``alloc_pinned_memory`` gives a ``PinnedMemoryPointer`` that is
ordinary host memory.

The arrays are NumPy arrays, so NumPy would take them where CuPy refuses; what CuPy refuses
raises here too when pydlk's own code does it: ``np.asarray``/``np.array``/``asanyarray``/
``ascontiguousarray`` of a device array (CuPy's ``__array__`` raises TypeError), and NumPy
arrays, 0-d ones included, among the operands of a ufunc or NumPy function on device arrays
(CuPy raises TypeError), a host array of 1+ dimensions assigned into a device array
(``d[...] = host``: CuPy refuses it, gh-2079); NumPy functions on device arrays give device
arrays, as CuPy's ``__array_function__`` dispatch does.

Stream capture (``Stream.begin_capture`` / ``end_capture``) is checked, not recorded: the work
runs at once as ever, but while a capture is on every copy between host and device raises
RuntimeError as CuPy's does (``get``, ``float()``, ``int()``, ``bool()``, ``item``,
``asnumpy``, ``asarray``/``array`` of host data, assigning host arrays into device ones). So
the tests show that a captured step reads nothing back. The captured graph's first ``launch``
stands for the work that already ran (right only when its inputs have not changed since the
capture); a second one raises.

Launches hold one lock, so threads that stand for ranks (tests of the NCCL paths with a fake
communicator) may launch kernels concurrently.

Neither checks what only a GPU shows: atomics under contention, memory-model races between
warps that a barrier does not order, launch limits, stream overlap, cuBLAS and cuDNN. Use
``tools/run_cuda_tests_on_host.py``.
"""

import contextlib
import ctypes
import hashlib
import importlib.machinery
import os
import subprocess
import sys
import tempfile
import threading
import time
import types
import weakref

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cupy_api  # noqa: E402  (the real CuPy's names)

_NAMES, _VERSION = cupy_api.load()

BUILD = os.environ.get("PYDLK_EMU_BUILD", os.path.join(tempfile.gettempdir(), "pydlk_cuda_emu"))

THREADS = int(os.environ.get("PYDLK_EMU_THREADS", "1"))

HOST_HEADER = r"""
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
using namespace std;
struct Dim3 { unsigned int x, y, z; };
static thread_local Dim3 blockIdx, threadIdx;
static Dim3 blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline unsigned int __umulhi(unsigned int a, unsigned int b) {
  return (unsigned int)(((unsigned long long)a * b) >> 32);
}
// CUDA's erfinv (no C library has one): bisection on erf, independent of pydlk's own erfinv.
static inline double erfinv(double x) {
  if (std::isnan(x) || x < -1 || x > 1) return NAN;
  if (x == 1 || x == -1) return x * INFINITY;
  double lo = -6, hi = 6;
  for (int i = 0; i < 200 && lo < hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (mid == lo || mid == hi) break;
    (std::erf(mid) < x ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}
static std::mutex atomic_mu;
template <class V> static inline V atomicAdd(V* p, V v) {
  std::lock_guard<std::mutex> g(atomic_mu);
  V o = *p; *p = o + v; return o;
}
struct Barrier {  // reusable: generation counter
  std::mutex mu; std::condition_variable cv; unsigned n = 1, waiting = 0, gen = 0;
  void wait() {
    std::unique_lock<std::mutex> l(mu);
    unsigned g = gen;
    if (++waiting == n) { waiting = 0; ++gen; cv.notify_all(); return; }
    cv.wait(l, [&] { return gen != g; });
  }
};
static Barrier block_bar, warp_bar[32];
static inline void __syncthreads() { block_bar.wait(); }
template <class V> static inline V __shfl_down_sync(unsigned, V v, int o) {
  static V buf[1024];
  const unsigned t = threadIdx.x, lane = t & 31;
  buf[t] = v;
  warp_bar[t >> 5].wait();
  V r = lane + o < 32 ? buf[t + o] : v;
  warp_bar[t >> 5].wait();
  return r;
}
extern "C" void emu_init(unsigned threads, unsigned grid) {
  blockDim.x = threads; gridDim.x = grid;
  block_bar.n = threads;
  for (int w = 0; w < 32; ++w) warp_bar[w].n = 32;
}
extern "C" void emu_thread(unsigned t, unsigned b) { threadIdx.x = t; blockIdx.x = b; }
extern "C" void emu_block_end() { block_bar.wait(); }
"""


def _host_prelude(gpu_prelude):
    """The GPU prelude with its block and warp reductions replaced by the one-thread versions
    (kernels that give an item a warp use min(blockDim.x, 32) lanes: one here)."""
    start = gpu_prelude.index("// Sum of v over the block")
    end = gpu_prelude.index("// sigmoid without overflow")
    one_thread = (
        "__device__ double block_sum(double v) { return v; }\n"
        "__device__ T block_max(T v) { return v; }\n"
        "__device__ double warp_sum(double v) { return v; }\n"
    )
    return gpu_prelude[:start] + one_thread + gpu_prelude[end:]


_CAPTURE = {"on": False}


def _transfer(what):
    """CuPy refuses copies between host and device while a stream is being captured."""
    if _CAPTURE["on"]:
        raise RuntimeError(f"the current stream is capturing, so {what} transfers are disallowed")


# CuPy's ufunc.at is its scatter op, which only these ufuncs have (others raise
# NotImplementedError), for only these dtypes (TypeError): cupy/_core/_routines_indexing.pyx
_SCATTER_DTYPES = {
    "add": ("int32", "float16", "float32", "float64", "uint32", "uint64"),
    "maximum": ("int32", "float32", "float64", "uint32", "uint64"),
    "minimum": ("int32", "float32", "float64", "uint32", "uint64"),
    "bitwise_and": None,
    "bitwise_or": None,
    "bitwise_xor": None,
}


def _check_scatter(name, a):
    if name not in _SCATTER_DTYPES:
        raise NotImplementedError(f"`cupy_{name}.at` is not supported yet")
    ok = _SCATTER_DTYPES[name]
    if ok is not None and np.dtype(a.dtype).name not in ok:
        raise TypeError(f"scatter_{name} only supports {', '.join(ok)} as data type")


def _scatter(name, a, slices, value):
    """cupyx.scatter_add / scatter_max / scatter_min, with CuPy's dtype limits."""
    _check_scatter(name, a)
    getattr(np, name).at(a, slices, value)


class ndarray(np.ndarray):
    """A 'device' array: a NumPy array that CuPy-only code paths accept."""

    def __array_finalize__(self, obj):
        owner = self
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        _allocate(owner)  # a view of a device array finds its owner counted already

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        return super().__array_wrap__(arr, context, False)  # 0-d arrays, as CuPy

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if _from_pydlk():
            if ufunc.__name__ not in _NAMES["cupy"]:
                raise TypeError(f"CuPy {_VERSION} has no ufunc cupy.{ufunc.__name__}")
            extra = set(kwargs) - {"out", "dtype", "casting"}  # all a CuPy ufunc call takes
            if method == "__call__" and extra:
                raise TypeError(f"Wrong arguments {sorted(extra)} (cupy.{ufunc.__name__})")
        # CuPy takes scalars and its own arrays, not NumPy arrays (0-d ones neither)
        for a in inputs + tuple(kwargs.get("out", ())):
            if type(a) is np.ndarray and _from_pydlk():
                raise TypeError(
                    f"Unsupported type {type(a)} (a NumPy array in a CuPy {ufunc.__name__})"
                )
        args = tuple(a.view(np.ndarray) if isinstance(a, ndarray) else a for a in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(
                a.view(np.ndarray) if isinstance(a, ndarray) else a for a in kwargs["out"]
            )
        if method == "at" and _from_pydlk():
            _check_scatter(ufunc.__name__, inputs[0])
        r = getattr(ufunc, method)(*args, **kwargs)
        return _wrap(r) if method != "at" else r

    def __array_function__(self, func, types, args, kwargs):
        # NumPy functions on CuPy arrays run CuPy's: results stay on the device, and NumPy
        # arrays among the arguments are refused; a function CuPy lacks is refused (CuPy's
        # __array_function__ looks up cupy.<submodule>.<name> and returns NotImplemented)
        if _from_pydlk():
            if not cupy_api.numpy_counterpart_exists(_NAMES, func.__module__, func.__name__):
                raise TypeError(
                    f"no implementation found for '{func.__module__}.{func.__name__}' on "
                    f"types that implement __array_function__ (CuPy {_VERSION} has none)"
                )
            for a in args:
                for e in a if isinstance(a, (list, tuple)) else (a,):
                    if type(e) is np.ndarray:
                        raise TypeError(
                            f"Unsupported type {type(e)} (a NumPy array in cupy.{func.__name__})"
                        )
        return _wrap(func._implementation(*args, **kwargs))

    def __getitem__(self, key):
        return _wrap(super().__getitem__(key))  # a[()] of a 0-d array: 0-d, as CuPy's

    def get(self, stream=None):
        _transfer("D2H")
        return np.asarray(self).copy()

    def set(self, arr, stream=None):
        _transfer("H2D")
        if not isinstance(arr, np.ndarray) or isinstance(arr, ndarray):
            raise TypeError("ndarray.set: the source must be a numpy.ndarray")
        if arr.shape != self.shape or arr.dtype != self.dtype:
            raise ValueError("ndarray.set: shape and dtype must match")
        np.copyto(self, arr)

    def item(self, *args):
        _transfer("D2H")
        return super().item(*args)

    def tolist(self):
        _transfer("D2H")
        return super().tolist()

    def __float__(self):
        _transfer("D2H")
        return super().__float__()

    def __int__(self):
        _transfer("D2H")
        return super().__int__()

    def __index__(self):
        _transfer("D2H")
        return super().__index__()

    def __bool__(self):
        _transfer("D2H")
        return super().__bool__()

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray) and not isinstance(value, ndarray):
            _transfer("H2D")
            if value.ndim and _from_pydlk():  # CuPy refuses host arrays here (cupy gh-2079)
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        super().__setitem__(key, value)

    @property
    def data(self):  # CuPy's MemoryPointer: .ptr is the address of the first element, .mem
        # the allocation it lies in (.mem.ptr its start, .mem.size its bytes)
        owner = self
        while True:
            b = owner.base
            if isinstance(b, np.ndarray):
                owner = b
            elif isinstance(getattr(b, "base", None), np.ndarray):  # NumPy's as_strided wrapper
                owner = b.base
            else:
                break
        mem = types.SimpleNamespace(ptr=owner.__array_interface__["data"][0], size=owner.nbytes)
        return types.SimpleNamespace(ptr=self.__array_interface__["data"][0], mem=mem)

    @property
    def device(self):  # every emulated array is on "GPU" 0
        return _DEVICE0


_DEVICE0 = types.SimpleNamespace(id=0)


_PYDLK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pydlk") + os.sep


def _from_pydlk(depth=2):
    """Whether the caller (``depth`` frames up) is pydlk's own code: NumPy's internals may convert
    these arrays, pydlk may not (on a GPU that raises)."""
    return sys._getframe(depth).f_code.co_filename.startswith(_PYDLK)


def _strict_numpy():
    """np.asarray / array / asanyarray / ascontiguousarray of a device array, called from pydlk,
    raise TypeError as CuPy's ``__array__`` does; the emulation's arrays are NumPy arrays, so
    without this an implicit conversion would pass here and fail on a GPU."""
    for name in ("asarray", "array", "asanyarray", "ascontiguousarray"):
        orig = getattr(np, name)
        if getattr(orig, "__emulator_strict__", False):
            continue

        def strict(a, *args, _orig=orig, **kwargs):
            if isinstance(a, ndarray) and _from_pydlk():
                raise TypeError(
                    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` "
                    "to construct a NumPy array explicitly."
                )
            return _orig(a, *args, **kwargs)

        strict.__emulator_strict__ = True
        setattr(np, name, strict)


def _wrap(v):
    """Results as device arrays; NumPy scalars as 0-d arrays (CuPy returns no scalars)."""
    if isinstance(v, np.generic):
        return np.asarray(v).view(ndarray)
    if isinstance(v, np.ndarray) and not isinstance(v, ndarray):
        return v.view(ndarray)
    if isinstance(v, tuple):
        return tuple(_wrap(e) for e in v)
    return v


_LAUNCH = threading.Lock()  # the emulated kernels share the block state of their library


class _Kernel:
    def __init__(self, lib, name):
        self.lib, self.fn = lib, getattr(lib, name)

    def __call__(self, grid, block, args):
        cargs = []
        for a in args:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous, "kernel argument not C-contiguous"
                cargs.append(ctypes.c_void_p(a.ctypes.data))
            elif isinstance(a, np.generic):
                cargs.append(
                    {
                        np.dtype(np.int64): ctypes.c_longlong,
                        np.dtype(np.uint64): ctypes.c_ulonglong,
                        np.dtype(np.int32): ctypes.c_int,
                        np.dtype(np.uint32): ctypes.c_uint,
                        np.dtype(np.float32): ctypes.c_float,
                        np.dtype(np.float64): ctypes.c_double,
                    }[a.dtype](a.item())
                )
            else:
                raise TypeError(f"kernel argument of type {type(a).__name__}: pass NumPy scalars")
        with _LAUNCH:
            self._run(grid, cargs)

    def _run(self, grid, cargs):
        lib, nt, errors = self.lib, THREADS, []
        lib.emu_init(nt, grid[0])

        def thread(t):
            try:
                for b in range(grid[0]):
                    lib.emu_thread(t, b)
                    self.fn(*cargs)
                    lib.emu_block_end()  # no thread starts a block before all finished the last
            except BaseException as e:  # noqa: BLE001  (re-raised in the launching thread)
                errors.append(e)

        if nt == 1:
            thread(0)
        else:
            ts = [threading.Thread(target=thread, args=(t,)) for t in range(nt)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        if errors:
            raise errors[0]


class RawModule:
    def __init__(self, code, options=()):
        from pydlk._cuda._common import PRELUDE

        typedef, rest = code.split("\n", 1)
        assert rest.startswith(PRELUDE)
        prelude = _host_prelude(PRELUDE) if THREADS == 1 else PRELUDE
        text = HOST_HEADER + typedef + "\n" + prelude + rest[len(PRELUDE) :]
        os.makedirs(BUILD, exist_ok=True)
        h = hashlib.sha1(text.encode()).hexdigest()[:16]
        so = os.path.join(BUILD, f"k_{h}.so")
        if not os.path.exists(so):
            # per process and thread: ranks stood for by threads compile the same source at once
            me = f"{os.getpid()}.{threading.get_ident()}"
            cpp = f"{so[:-3]}.{me}.cpp"
            with open(cpp, "w") as f:
                f.write(text)
            tmp = f"{so}.{me}.tmp"
            r = subprocess.run(
                ["g++", "-O1", "-std=c++14", "-shared", "-fPIC", "-o", tmp, cpp],
                capture_output=True,
                text=True,
            )
            if r.returncode:
                raise RuntimeError(f"host compile of a CUDA source failed:\n{r.stderr}")
            os.replace(tmp, so)  # atomic: a concurrent run never loads a half-written library
        self.lib = ctypes.CDLL(so)

    def get_function(self, name):
        return _Kernel(self.lib, name)


class _Device:
    """``cupy.cuda.Device(i)``: a no-op context (there is one emulated device, 0)."""

    def __init__(self, i=0):
        self.id = int(i)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Stream:
    """``cupy.cuda.Stream``: a context that makes it current; work runs at once in any case."""

    _current: list = []

    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.ptr = 0 if null else id(self)
        self._capturing = False

    def begin_capture(self, mode=None):
        if _CAPTURE["on"]:
            raise RuntimeError("host emulation: one stream capture at a time")
        _CAPTURE["on"] = self._capturing = True

    def is_capturing(self):
        return self._capturing

    def end_capture(self):
        if not self._capturing:
            raise RuntimeError("end_capture: this stream is not capturing")
        _CAPTURE["on"] = self._capturing = False
        return _Graph()

    def __enter__(self):
        _Stream._current.append(self)
        return self

    def __exit__(self, *exc):
        _Stream._current.pop()
        return False

    def wait_event(self, event):
        pass

    def record(self, event=None):
        return event if event is not None else _Event()

    def synchronize(self):
        pass


class _Graph:
    """``cupy.cuda.Graph``: the captured work ran at capture; the first launch stands for it."""

    def __init__(self):
        self._launched = False

    def upload(self, stream=None):
        pass

    def launch(self, stream=None):
        if self._launched:
            raise RuntimeError(
                "host emulation runs captured work once, at capture: a graph cannot be replayed"
            )
        self._launched = True


class _PoolMemory:
    """What the emulated pool's ``malloc`` returns: a block's size, given back by ``free``."""

    def __init__(self, pool, size):
        self.pool, self.size = pool, size

    def free(self):
        self.pool._release(self.size)


class OutOfMemoryError(MemoryError):
    """``cupy.cuda.memory.OutOfMemoryError``, with CuPy's message and attributes."""

    def __init__(self, size, total, limit=0):
        self._size, self._total, self._limit = size, total, limit
        msg = f"Out of memory allocating {size:,} bytes (allocated so far: {total:,} bytes"
        super().__init__(msg + (f", limit set to: {limit:,} bytes)." if limit else ")."))

    def __reduce__(self):
        return (type(self), (self._size, self._total, self._limit))


OutOfMemoryError.__module__ = "cupy.cuda.memory"


class _MemoryPool:
    """``cupy.cuda.MemoryPool``: NumPy allocates, the pool counts. Every device array that owns
    its memory is allocated through the current allocator (``set_allocator``; this pool's
    ``malloc`` by default) when it appears and freed when it is collected; blocks are rounded
    up to CuPy's 512 bytes, and freed ones stay cached (``total_bytes``) until
    ``free_all_blocks``, a later allocation taking from the cache first. ``set_limit(size=)``
    caps the bytes the pool holds (``total_bytes``), as CuPy's: an allocation that would need
    more raises CuPy's ``OutOfMemoryError`` (how tests simulate a full GPU)."""

    def __init__(self):
        self._used = self._cached = self._limit = 0
        self._lock = threading.RLock()  # a collection inside malloc frees blocks too

    def set_limit(self, size=None, fraction=None):
        if fraction is not None:
            raise NotImplementedError("host emulation: set_limit(fraction=) is not emulated")
        self._limit = int(size or 0)

    def get_limit(self):
        return self._limit

    def malloc(self, size):
        size = -(-int(size) // 512) * 512
        with self._lock:
            held = self._used + self._cached  # what the pool holds from the device
            if self._limit and held + max(0, size - self._cached) > self._limit:
                raise OutOfMemoryError(size, held, self._limit)
            self._used += size
            self._cached = max(0, self._cached - size)
        return _PoolMemory(self, size)

    def _release(self, size):
        with self._lock:
            self._used -= size
            self._cached += size

    def free_all_blocks(self, stream=None):
        with self._lock:
            self._cached = 0

    def used_bytes(self):
        return self._used

    def free_bytes(self):
        return self._cached

    def total_bytes(self):
        return self._used + self._cached


_OWNERS = {}  # id of a device array that owns its memory -> its block from the allocator


def _allocate(owner):
    """Count ``owner``'s memory as allocated through the current allocator until it is
    collected (once per owning array)."""
    key = id(owner)
    if key in _OWNERS:
        return
    alloc = _ALLOCATOR["current"]
    _OWNERS[key] = alloc(owner.nbytes) if alloc is not None else None
    weakref.finalize(owner, _deallocate, key).atexit = False


def _deallocate(key):
    mem = _OWNERS.pop(key, None)
    if isinstance(mem, _PoolMemory):
        mem.free()


class PinnedMemoryPointer(bytearray):
    """``cupy.cuda.PinnedMemoryPointer``: what ``alloc_pinned_memory`` returns, a buffer NumPy
    arrays are built over (``cupyx.empty_pinned``); ordinary host memory here."""


_POOL, _PINNED_POOL = _MemoryPool(), _MemoryPool()
_ALLOCATOR = {"current": _POOL.malloc}


def _set_allocator(allocator=None):
    _ALLOCATOR["current"] = allocator


class _Event:
    """``cupy.cuda.Event``: recorded work has always finished."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.done = True
        self.timing, self.t = not disable_timing, None

    def record(self, stream=None):
        self.t = time.perf_counter()  # the work before it has run: the host's clock

    def synchronize(self):
        pass


_NULL_STREAM = _Stream(null=True)


def _current_stream():
    return _Stream._current[-1] if _Stream._current else _NULL_STREAM


def _set_device(i):
    if i != 0:  # one emulated device, as CuPy refuses a device it does not have
        raise RuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {i}")


def _module():
    m = types.ModuleType("cupy")
    m.ndarray = ndarray
    m.RawModule = RawModule
    m.__spec__ = importlib.machinery.ModuleSpec("cupy", None)  # find_spec("cupy") finds it
    m.__version__ = f"{_VERSION}+host-emulation"  # the CuPy whose names it admits
    m.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(
            getDeviceCount=lambda: 1,
            getDevice=lambda: 0,
            setDevice=_set_device,
            driverGetVersion=lambda: 13000,  # CUDA 13.0, as the GPU machine's
            runtimeGetVersion=lambda: 13000,
            deviceSynchronize=lambda: None,
            memGetInfo=lambda: (15 << 30, 16 << 30),
            getDeviceProperties=lambda i: {
                "name": b"host emulation",
                "totalGlobalMem": 16 << 30,
                "major": 9,
                "minor": 0,
                "multiProcessorCount": 1,
            },
        ),
        memory=types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError),
        get_allocator=lambda: _ALLOCATOR["current"],
        set_allocator=_set_allocator,
        get_elapsed_time=lambda a, b: (b.t - a.t) * 1e3,
        MemoryPool=_MemoryPool,
        alloc_pinned_memory=lambda nbytes: PinnedMemoryPointer(nbytes),
        PinnedMemoryPointer=PinnedMemoryPointer,
        using_allocator=lambda allocator=None: contextlib.nullcontext(),
        Device=_Device,
        Stream=_Stream,
        Event=_Event,
        get_current_stream=_current_stream,
    )

    def asnumpy(a):
        if isinstance(a, ndarray):
            _transfer("D2H")
        return np.array(a, copy=True).view(np.ndarray)

    def asarray(a, dtype=None, order=None):
        if not isinstance(a, ndarray):
            _transfer("H2D")
        return np.array(a, dtype=dtype, order=order or "K", copy=True).view(ndarray)

    def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0):
        if not isinstance(obj, ndarray):
            _transfer("H2D")
        return np.array(obj, dtype=dtype, copy=copy, order=order, ndmin=ndmin).view(ndarray)

    m.asnumpy, m.asarray, m.array = asnumpy, asarray, array
    m.__host_emulator__ = True
    m.get_default_memory_pool = lambda: _POOL
    m.get_default_pinned_memory_pool = lambda: _PINNED_POOL

    def getattr_(name):
        if name not in _NAMES["cupy"]:
            raise AttributeError(f"module 'cupy' has no attribute {name!r} (CuPy {_VERSION})")
        if name in ("linalg", "fft", "random"):
            return _submodule(name)
        if name == "lib":
            return _LIB
        v = getattr(np, name)
        if isinstance(v, (type, np.ufunc)) or not callable(v):
            return v  # a ufunc as itself: on device arrays it comes back through __array_ufunc__

        def f(*a, **k):
            return _wrap(v(*a, **k))

        return f

    m.__getattr__ = getattr_
    return m


def _as_strided(x, shape=None, strides=None):
    """cupy.lib.stride_tricks.as_strided(x, shape=None, strides=None): a view of x's memory
    (CuPy's has no subok/writeable arguments; the stand-in keeps the device array type)."""
    return np.lib.stride_tricks.as_strided(x, shape, strides, subok=True)


# cupy.lib: only stride_tricks.as_strided, the one function of it pydlk calls
_LIB = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_as_strided))


def _submodule(name):
    """cupy.linalg / fft / random: NumPy's functions of that name, where CuPy has them."""
    m = types.ModuleType(f"cupy.{name}")
    names, npmod = _NAMES[f"cupy.{name}"], getattr(np, name)

    def getattr_(attr):
        if attr not in names:
            raise AttributeError(
                f"module 'cupy.{name}' has no attribute {attr!r} (CuPy {_VERSION})"
            )
        v = getattr(npmod, attr)
        if isinstance(v, type) or not callable(v):
            return v

        def f(*a, **k):
            return _wrap(v(*a, **k))

        return f

    m.__getattr__ = getattr_
    return m


def _refuse_missing_methods():
    """ndarray attributes CuPy's ndarray lacks (resize, setflags, ctypes, ...) raise
    AttributeError when pydlk's code reaches for them; the stand-in itself may use them."""
    for name in dir(np.ndarray):
        if name.startswith("_") or name in _NAMES["cupy.ndarray"] or name in vars(ndarray):
            continue

        def get(self, _name=name):
            if _from_pydlk():
                raise AttributeError(
                    f"'cupy.ndarray' object has no attribute {_name!r} (CuPy {_VERSION})"
                )
            return getattr(super(ndarray, self), _name)

        setattr(ndarray, name, property(get))


def install():
    """Puts the stand-in into sys.modules['cupy'] (before anything imports the real one)."""
    if "cupy" in sys.modules and not getattr(sys.modules["cupy"], "__host_emulator__", False):
        raise RuntimeError("the real cupy is already imported")
    sys.modules["cupy"] = _module()
    cupyx = types.ModuleType("cupyx")  # the cupyx functions pydlk calls
    cupyx.scatter_add = lambda a, slices, value: _scatter("add", a, slices, value)
    cupyx.scatter_max = lambda a, slices, value: _scatter("maximum", a, slices, value)
    cupyx.scatter_min = lambda a, slices, value: _scatter("minimum", a, slices, value)
    cupyx.__spec__ = importlib.machinery.ModuleSpec("cupyx", None)
    sys.modules["cupyx"] = cupyx
    _strict_numpy()
    _refuse_missing_methods()
