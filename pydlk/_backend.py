"""Which array library and which kernels an array uses: NumPy arrays go to ``pydlk._C``,
CuPy arrays to ``pydlk._cuda``. CuPy is optional and imported only when a CuPy array shows up."""

import sys

import numpy as np


def is_cupy(a):
    """True if ``a`` is a CuPy array (never imports CuPy)."""
    # Never imports cupy: a CuPy array can only exist if cupy is already imported.
    cp = sys.modules.get("cupy")
    return cp is not None and isinstance(a, cp.ndarray)


def get_array_module(a):
    """``numpy`` or ``cupy``, the module that owns ``a`` (chainer's ``get_array_module``)."""
    if is_cupy(a):
        return sys.modules["cupy"]
    return np


def kernels_for(a):
    """The kernel module for ``a``'s device: ``pydlk._C`` (CPU) or ``pydlk._cuda`` (CuPy)."""
    if is_cupy(a):
        from . import _cuda

        return _cuda
    # Looked up in sys.modules (pydlk imports _C first): an import statement here costs a
    # microsecond on every op of every step.
    kernels = sys.modules.get("pydlk._C")
    if kernels is None:
        from . import _C as kernels
    return kernels


def host_array(a):
    """``a`` as a NumPy array: a CuPy array copied to the host (``np.asarray`` of one raises),
    anything else through ``np.asarray``."""
    return a.get() if is_cupy(a) else np.asarray(a)


def on_device_of(v, like):
    """Array ``v`` on ``like``'s device, copied only when it is elsewhere: what an in-place copy
    ``like[...] = v`` across devices needs (CuPy refuses host arrays there, NumPy device ones)."""
    if is_cupy(like):
        if is_cupy(v) and v.device.id == like.device.id:
            return v
        cp = sys.modules["cupy"]
        with cp.cuda.Device(like.device.id):
            return cp.asarray(v)
    return host_array(v)


def device_of(a):
    """The device string of an array: ``'cpu'`` or ``'cuda:N'``."""
    if is_cupy(a):
        return f"cuda:{a.device.id}"
    return "cpu"


# the dtypes whose scatter CuPy has: cupyx.scatter_add (atomicAdd) and scatter_max/min
_CUPY_ADD_AT = frozenset(
    map(np.dtype, ("int32", "uint32", "uint64", "float16", "float32", "float64"))
)
_CUPY_MAX_AT = frozenset(map(np.dtype, ("int32", "uint32", "uint64", "float32", "float64")))


def ufunc_at(op, a, key, v):
    """``np.<op>.at(a, key, v)`` (op 'add', 'multiply', 'maximum' or 'minimum'): ``a[key] =
    op(a[key], v)`` in place, repeated indices combining. NumPy runs ``np.<op>.at``. CuPy has
    scatter_add for int32/uint32/uint64/float16/float32/float64 and scatter_max/min for those
    but float16, nothing for multiply: int64 adds go through an uint64 view (two's complement
    sums wrap alike) and every other case through :func:`_segment_at`."""
    if not is_cupy(a):
        getattr(np, op).at(a, key, v)
        return
    import cupyx

    if op == "add" and a.dtype in _CUPY_ADD_AT:
        cupyx.scatter_add(a, key, v)
    elif op == "add" and a.dtype == np.int64:
        cp = sys.modules["cupy"]
        cupyx.scatter_add(a.view(np.uint64), key, cp.asarray(v).astype(np.int64).view(np.uint64))
    elif op in ("maximum", "minimum") and a.dtype in _CUPY_MAX_AT:
        (cupyx.scatter_max if op == "maximum" else cupyx.scatter_min)(a, key, v)
    else:
        _segment_at(op, a, key, v)


def _segment_at(op, a, key, v):
    """``ufunc_at`` on CuPy for any op and dtype, without reading anything back: the flat
    positions ``key`` selects are sorted, each run of equal positions is folded by ``op`` in
    log2(n) halving rounds (element i takes element i + s of its run), and every member of a run
    writes its run's result, so repeated writes carry one value."""
    cp = sys.modules["cupy"]
    fn = getattr(cp, op)
    pos = cp.arange(a.size).reshape(a.shape)[key]
    val = cp.broadcast_to(cp.asarray(v), pos.shape).ravel()
    pos = pos.ravel()
    n = pos.size
    if n == 0:
        return
    order = cp.argsort(pos)
    pos, val = pos[order], val[order]
    start = cp.searchsorted(pos, pos, side="left")
    end = cp.searchsorted(pos, pos, side="right")
    rank = cp.arange(n) - start
    s = 1
    while s < n:
        nxt = cp.concatenate([val[s:], val[:s]])  # val[i + s]; the wrapped tail is masked off
        take = (rank % (2 * s) == 0) & (start + rank + s < end)
        val = cp.where(take, fn(val, nxt), val)
        s *= 2
    where = cp.unravel_index(pos, a.shape)
    a[where] = fn(a[where], val[start])
