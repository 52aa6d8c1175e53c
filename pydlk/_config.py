"""Build and runtime configuration: ``show_config`` and the one thread-count switch.

Threads. pydlk uses three pools of threads, and one setting governs all of them:

- pydlk's OpenMP team runs the kernels (``pydlk._C``), and large matrix products inside them
  are split over that team (``csrc/blas.h``);
- pydlk's own OpenBLAS (scipy-openblas32) stays at one thread, always: it is called from inside
  the team, and a second pool there would only fight it;
- NumPy's BLAS runs the NumPy products pydlk leaves to NumPy (linalg, einsum); ``pydlk.matmul``,
  ``bmm`` and attention run the kernels' ``matmul`` on the team instead (csrc/matmul.cpp):
  NumPy's OpenBLAS threads spin-wait after each product and took the cores from the next
  kernel (measured: a linear layer right after an attention product ran 2.5x slower).

``set_num_threads(n)`` sets pydlk's team to ``n`` and NumPy's BLAS to ``n`` too. NumPy's BLAS
follows ``n`` rather than staying at one thread because the two pools take turns: pydlk calls
NumPy only from the calling thread, between kernels, never from inside its team, so at most
``n`` threads compute at any moment. (What a switch between the pools can still cost is the
other pool's spin-wait after its last job; ``OMP_WAIT_POLICY=passive`` removes libgomp's.)

threadpoolctl sees pydlk too: a controller for ``pydlk._C`` is registered at import, so
``threadpoolctl.threadpool_info()`` lists it (user_api ``"openmp"``, internal_api ``"pydlk"``)
and ``threadpool_limits(n)`` (or ``threadpool_limits(n, user_api="openmp")``) limits pydlk's
kernels, restoring them afterwards. At start each pool follows the environment variable it
honours: ``OMP_NUM_THREADS`` sets pydlk's team and NumPy's OpenBLAS alike.
"""

import os
import warnings

import threadpoolctl

from . import _C, _blas


class PydlkController(threadpoolctl.LibController):
    """threadpoolctl's handle on pydlk's OpenMP team, found by the C symbols ``_C`` exports."""

    user_api = "openmp"
    internal_api = "pydlk"
    filename_prefixes = ("_c.",)  # threadpoolctl lower-cases names: _C.cpython-311-...so
    # Other modules named _C (torch's) do not have these, so they are not taken for pydlk.
    check_symbols = ("pydlk_get_num_threads", "pydlk_set_num_threads")

    def get_num_threads(self):
        get = getattr(self.dynlib, "pydlk_get_num_threads", None)
        return get() if get is not None else None

    def set_num_threads(self, num_threads):
        set_ = getattr(self.dynlib, "pydlk_set_num_threads", None)
        if set_ is not None:
            set_(int(num_threads))

    def get_version(self):
        if getattr(self.dynlib, "pydlk_get_num_threads", None) is None:
            return None  # another module named _C (threadpoolctl < 3.8 asks before checking)
        return _C.config()["version"]


threadpoolctl.register(PydlkController)


def _numpy_blas():
    """threadpoolctl controllers of every BLAS in the process except pydlk's own, i.e. NumPy's
    (pydlk cannot tell portably which one NumPy linked, so it takes them all). If NumPy shares
    pydlk's OpenBLAS, it is left at one thread."""
    own = os.path.realpath(_blas.PATH) if _blas.PATH else None
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    return [lib for lib in blas.lib_controllers if os.path.realpath(lib.filepath) != own]


def set_num_threads(n: int) -> None:
    """Set the number of threads of every pool pydlk uses: its OpenMP kernels (matmul and
    attention included) and NumPy's BLAS (linalg, einsum); pydlk's own BLAS stays at one thread
    inside the kernels.

    Like ``torch.set_num_threads``. ``threadpoolctl.threadpool_limits`` reaches the same pools.
    """
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    _C.set_num_threads(n)  # raises ValueError for n < 1
    for lib in _numpy_blas():
        lib.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads pydlk's kernels use (``set_num_threads``, ``OMP_NUM_THREADS``)."""
    return _C.get_num_threads()


def config() -> dict:
    """The configuration as a dict (what ``show_config`` prints)."""
    return dict(_C.config())


def blas_kernel_warning() -> "str | None":
    """Why pydlk's matrix products run slower than this CPU allows, or None.

    OpenBLAS's kernels are chosen at load (``pydlk/_blas.py``); a user's ``OPENBLAS_CORETYPE``
    is respected, so e.g. ``OPENBLAS_CORETYPE=Haswell`` on an AVX-512 CPU runs the AVX2 GEMMs,
    about half the speed. None where the CPU or the kernels' level is unknown (non-x86, or not
    Linux).
    """
    core = config()["blas_core"]
    have = _blas.CORE_SIMD.get(core.strip().lower())
    cpu = _blas.cpu_simd_level()
    if have is None or cpu is None or have >= cpu:
        return None
    names = _blas.SIMD_NAMES
    msg = (
        f"OpenBLAS runs its {core} ({names.get(have, 'pre-AVX')}) kernels but this CPU has "
        f"{names[cpu]}: linear and convolution layers run slower than the CPU allows"
    )
    if cpu == 3 and have == 2:
        msg += " (about half speed)"
    chosen = os.environ.get("OPENBLAS_CORETYPE")
    if chosen:
        msg += f"; OPENBLAS_CORETYPE={chosen} in the environment chose them: unset it"
    return msg + "."


def warn_if_slow_blas() -> None:
    """``warnings.warn`` the ``blas_kernel_warning`` if there is one (RuntimeWarning)."""
    msg = blas_kernel_warning()
    if msg:
        warnings.warn(msg, RuntimeWarning, stacklevel=2)


def bf16_kernels() -> str:
    """Which kernels ``pydlk.autocast``'s bf16 products run on here: AMX tiles, AVX512_BF16, or
    none (autocast then runs float32 and says so)."""
    if not _C.bf16_supported():
        return "none (no AVX512_BF16: autocast runs float32)"
    if _C.bf16_amx_supported():
        if _C.get_bf16_amx():
            return "AMX tiles (tdpbf16ps)"
        return "AVX512_BF16 (AMX present, off: pydlk.backends.cpu.allow_amx = False)"
    return "AVX512_BF16 (vdpbf16ps; direct convolutions)"


def _stream_stores(nbytes: int) -> str:
    """The streaming-store threshold in words (csrc/stream_store.h)."""
    size = f"{nbytes / 2**20:g} MiB" if nbytes >= 2**20 else f"{nbytes} bytes"
    return f"row-norm outputs from {size} (half the last-level cache by default)"


def show_config() -> None:
    """Print version, compiler, OpenMP, BLAS and its kernels, SIMD level, the bf16 kernels,
    threads, allocator, the streaming-store threshold;
    and a warning line when the BLAS kernels are below what the CPU supports."""
    c = config()
    numpy_blas = sorted({lib.num_threads for lib in _numpy_blas()})
    numpy_threads = "/".join(map(str, numpy_blas)) or "none found"
    rows = [
        ("version", c["version"]),
        ("compiler", c["compiler"]),
        ("OpenMP", c["openmp"]),
        ("BLAS", c["blas"]),
        ("BLAS kernels", c["blas_core"]),
    ]
    warning = blas_kernel_warning()
    if warning:
        rows.append(("WARNING", warning))
    rows += [
        ("SIMD build", c["simd_build"]),
        ("SIMD in use", c["simd"]),
        ("bf16 products", bf16_kernels()),
        (
            "threads",
            (
                f"{c['num_threads']} (pydlk's BLAS {c['blas_threads']}, "
                f"NumPy's BLAS {numpy_threads})"
            ),
        ),
        ("allocator", c["allocator"]),
        ("NumPy allocator", c["numpy_allocator"]),
        ("streaming stores", _stream_stores(c["stream_threshold"])),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
