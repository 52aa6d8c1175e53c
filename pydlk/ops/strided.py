"""torch's strided views on the memory under a tensor: ``as_strided`` and ``as_strided_scatter``
(``Tensor.as_strided_``, the in-place form, is in ``tensor_legacy``).

A pydlk tensor holds a NumPy or CuPy array; the "storage" torch speaks of is the memory block
that array views: walking ``.base`` down to the array that owns the memory (through NumPy's
``as_strided`` wrapper too). Sizes, strides and the storage offset are in elements, as torch's,
and a view is ``numpy.lib.stride_tricks.as_strided`` (``cupy.lib.stride_tricks.as_strided``)
over that block, so it shares memory with the tensor as torch's does.

Refused with a RuntimeError, rather than read wrongly: a tensor whose memory is not one
contiguous block pydlk can address (an array over a foreign buffer with its own strides), and a
view of a kernel output that pydlk placed inside a larger byte block (``csrc/bind_util.h``:
``empty``; where that output starts in the block is not recorded): ``clone()`` it first. Such an
output itself is its own storage, starting at offset 0, as torch's fresh tensors do.

The gradient is torch's as_strided backward: the output's gradient is scatter-added into a zero
block of the storage's extent along the output's geometry and read back along the input's,
divided by how often the input's geometry visits each element where it overlaps itself.
"""

from __future__ import annotations

import builtins as _b
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy, ufunc_at
from ..autograd import Function, Tensor
from ._helpers import _fit, _fit_t, _t

__all__ = ["as_strided", "as_strided_scatter"]

# csrc/bind_util.h: empty() places large outputs (from _PLACE_MIN bytes, kPlaceBytes) in a
# uint8 block _PLACE_PAD bytes longer, which ends with kPlaceMagic and the output's start in it
_PLACE_PAD = 4096 + 16
_PLACE_MIN = 256 << 10
_PLACE_MAGIC = 0x434C507B6C647970


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray) or is_cupy(x)


def _ptr(a: Any) -> int:
    return int(a.data.ptr) if is_cupy(a) else int(a.__array_interface__["data"][0])


def _placed(a: Any, base: Any) -> bool:
    """Whether ``base`` is the byte block a kernel placed a large output in (csrc/bind_util.h):
    its size and the magic number in its tail."""
    return (
        isinstance(base, np.ndarray)
        and base.dtype == np.uint8
        and a.dtype != np.uint8
        and base.ndim == 1
        and base.flags.c_contiguous
        and (base.nbytes - _PLACE_PAD) % a.dtype.itemsize == 0
        and base.nbytes >= _PLACE_MIN + _PLACE_PAD
        and int(base[-16:-8].view("<u8")[0]) == _PLACE_MAGIC
    )


def _placed_storage(a: Any, block: Any, op: str) -> tuple[Any, int]:
    """``_storage`` of a view ``a`` of a placed output: the output's own bytes in ``block`` (the
    start its tail records) as ``a``'s dtype, and where ``a`` starts in them."""
    start = int(block[-8:].view("<u8")[0])
    n = (block.nbytes - _PLACE_PAD) // a.dtype.itemsize
    flat = block[start : start + n * a.dtype.itemsize].view(a.dtype)
    delta = _ptr(a) - _ptr(flat)
    if delta % a.dtype.itemsize or not 0 <= delta < max(flat.nbytes, 1):
        raise RuntimeError(
            f"{op}: the tensor starts {delta} bytes into the output it views, not a whole "
            f"number of {a.dtype} elements; clone() it first"
        )
    return flat, delta // a.dtype.itemsize


def _storage(a: Any, op: str) -> tuple[Any, int]:
    """``(flat, offset)``: the memory block under ``a`` as a 1-D array of ``a``'s dtype, and
    where ``a``'s first element lies in it (in elements). RuntimeError, naming ``op``, where
    that block cannot be told exactly."""
    root = a
    while True:
        b = getattr(root, "base", None)
        if b is None:
            break
        if _is_array(b) and is_cupy(b) != is_cupy(root):
            break  # a host buffer under a device array (the host stand-in of CuPy)
        if _is_array(b):
            if _placed(a, b):  # a kernel's placed output owns the block: its bytes are the storage
                return _placed_storage(a, b, op)
            root = b
            continue
        inner = getattr(b, "base", None)  # NumPy's as_strided wraps the array in a DummyArray
        if (
            _is_array(inner)
            and is_cupy(inner) == is_cupy(root)
            and hasattr(b, "__array_interface__")
        ):
            root = inner
            continue
        break
    mem = getattr(getattr(root, "data", None), "mem", None) if is_cupy(root) else None
    if mem is not None and int(root.data.ptr) != int(mem.ptr):
        # CuPy's as_strided (and ndarray(memptr=...)) records no base: an array that does not
        # start its allocation is a view whose storage CuPy does not tell
        raise RuntimeError(
            f"{op}: this GPU tensor is a strided view whose storage CuPy does not record; call "
            f"{op} on the tensor it was made from, or clone() it first"
        )
    if not root.flags.c_contiguous:
        raise RuntimeError(
            f"{op}: the tensor's memory is not one contiguous block pydlk can address (an array "
            "over a foreign buffer with strides of its own); clone() it first"
        )
    item = a.dtype.itemsize
    delta = _ptr(a) - _ptr(root)
    if delta % item:
        raise RuntimeError(
            f"{op}: the tensor starts {delta} bytes into its memory, not a whole number of "
            f"{a.dtype} elements; clone() it first"
        )
    flat = root.reshape(-1)
    if flat.dtype != a.dtype:  # t.view(dtype): the same bytes read as a's dtype
        n = flat.nbytes // item
        flat = flat.view(np.uint8)[: n * item].view(a.dtype)
    return flat, delta // item


def _ints(v: Any, op: str, name: str, pos: int) -> tuple[int, ...]:
    """A tuple of ints from a sequence (a TypeError as torch's for anything else)."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (v,)
    out = []
    for i, e in enumerate(v):
        if isinstance(e, Tensor) and e.ndim == 0 and e.dtype.kind in "iu":
            e = e.item()
        if isinstance(e, bool) or not isinstance(e, (int, np.integer)):
            raise TypeError(
                f"{op}(): argument '{name}' (position {pos}) must be tuple of ints, but found "
                f"element of type {type(e).__name__} at pos {i}"
            )
        out.append(int(e))
    return tuple(out)


def _geometry(
    size: Any, stride: Any, storage_offset: Any, op: str
) -> tuple[tuple[int, ...], tuple[int, ...], int | None]:
    """Checked ``(size, stride, offset)`` with torch's errors."""
    sz, st = _ints(size, op, "size", 1), _ints(stride, op, "stride", 2)
    if len(sz) != len(st):
        raise RuntimeError("mismatch in length of strides and shape")
    if _b.any(s < 0 for s in st):
        raise RuntimeError(
            f"{op}: Negative strides are not supported at the moment, got strides: {list(st)}"
        )
    if _b.any(s < 0 for s in sz):
        raise RuntimeError(
            f"Storage size calculation overflowed with sizes={list(sz)} and strides={list(st)}"
        )
    off = None
    if storage_offset is not None:
        off = _ints((storage_offset,), op, "storage_offset", 3)[0]
        if off < 0:
            raise RuntimeError(f"Tensor: invalid storage offset {off}")
    return sz, st, off


def _extent(size: Sequence[int], stride: Sequence[int], offset: int) -> int:
    """The storage elements ``(size, stride, offset)`` needs (0 for an empty view)."""
    if 0 in size:
        return 0
    return offset + 1 + _b.sum((s - 1) * t for s, t in zip(size, stride))


def _view(flat: Any, size: Sequence[int], stride: Sequence[int], offset: int, op: str) -> Any:
    """The strided view of the storage ``flat`` (bounds checked as torch's setStorage)."""
    need, item = _extent(size, stride, offset), flat.dtype.itemsize
    if need > flat.size:
        raise RuntimeError(
            f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {offset}, "
            f"and itemsize {item} requiring a storage size of {need * item} are out of bounds "
            f"for storage of size {flat.size * item}"
        )
    xp = get_array_module(flat)
    start = flat[_b.min(offset, flat.size) :]
    return xp.lib.stride_tricks.as_strided(start, tuple(size), tuple(int(s) * item for s in stride))


def _elem_strides(a: Any) -> tuple[int, ...]:
    return tuple(int(s) // a.dtype.itemsize for s in a.strides)


def _positions(xp: Any, size: Sequence[int], stride: Sequence[int], offset: int) -> Any:
    """The storage position of every element of the geometry, an int64 array of ``size``."""
    pos = xp.full((), offset, dtype=np.int64)
    for s, t in zip(size, stride):
        pos = pos[..., None] + xp.arange(s, dtype=np.int64) * t
    return xp.ascontiguousarray(pos.reshape(tuple(size)))


def _overlaps(size: Sequence[int], stride: Sequence[int]) -> bool:
    """torch's has_internal_overlap: a dim of stride 0 and more than one element."""
    return _b.any(s > 1 and t == 0 for s, t in zip(size, stride))


class AsStrided(Function):
    """``as_strided``: a strided view of the input's storage; the backward scatter-adds along
    the output's geometry and reads along the input's (torch's as_strided_backward)."""

    @staticmethod
    def forward(ctx, a, size, stride, offset):
        flat, base = _storage(a, "as_strided")
        off = base if offset is None else offset
        ctx.geom = (tuple(a.shape), _elem_strides(a), base, tuple(size), tuple(stride), off)
        ctx.dtype = a.dtype
        return _view(flat, size, stride, off, "as_strided")

    @staticmethod
    def _indices(ctx, xp):
        in_size, in_st, in_off, size, st, off = ctx.geom
        p_in = _positions(xp, in_size, in_st, in_off)
        p_out = _positions(xp, size, st, off)
        lo = _b.min(int(p_in.min()) if p_in.size else 0, int(p_out.min()) if p_out.size else 0)
        hi = _b.max(int(p_in.max()) if p_in.size else 0, int(p_out.max()) if p_out.size else 0)
        p_in, p_out = p_in - lo, p_out - lo
        count = None
        if _overlaps(in_size, in_st):
            count = xp.bincount(p_in.reshape(-1), minlength=hi - lo + 1)
        return p_in, p_out, hi - lo + 1, count

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        p_in, p_out, n, count = AsStrided._indices(ctx, xp)
        store = xp.zeros(n, dtype=g.dtype)
        ufunc_at("add", store, p_out.reshape(-1), g.reshape(-1))
        gi = store[p_in]
        if count is not None:
            gi = gi / count[p_in].astype(gi.dtype)
        return _fit(gi, (ctx.geom[0], ctx.dtype)), None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        from .factories import zeros

        xp = get_array_module(g._data)
        p_in, p_out, n, count = AsStrided._indices(ctx, xp)
        store = zeros(n, dtype=g.dtype, device=g.device)
        store = store.index_add(0, Tensor._wrap(p_out.reshape(-1)), g.reshape(-1))
        gi = store[Tensor._wrap(p_in)]
        if count is not None:
            gi = gi / Tensor._wrap(count[p_in].astype(g.dtype))
        return _fit_t(gi, (ctx.geom[0], ctx.dtype)), None, None, None


def as_strided(
    input: Tensor, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None
) -> Tensor:
    """A view of ``input``'s storage with ``size`` and ``stride`` (in elements) from
    ``storage_offset`` (default: ``input``'s own), sharing memory as torch.as_strided does;
    differentiable (torch's as_strided backward). Checks as torch's: strides and sizes
    non-negative, one stride per size, the view within the storage (RuntimeError otherwise).
    A tensor whose storage pydlk cannot tell exactly is refused (see the module's notes)."""
    sz, st, off = _geometry(size, stride, storage_offset, "as_strided")
    return AsStrided.apply(_t(input), sz, st, off)


class AsStridedScatter(Function):
    """``as_strided_scatter``: a copy of the input's whole storage with ``src`` written along
    the strided geometry, viewed with the input's geometry (torch's clone_preserve_strides);
    ``src`` gets the gradient read along that geometry, the input the rest."""

    @staticmethod
    def forward(ctx, a, src, size, stride, offset):
        xp = get_array_module(a)
        if _overlaps(a.shape, _elem_strides(a)) or a.size == 0:
            flat, base = xp.ascontiguousarray(a).reshape(-1), 0  # torch: a plain clone
            in_st = tuple(int(s) // a.dtype.itemsize for s in xp.empty(a.shape, a.dtype).strides)
        else:
            flat, base = _storage(a, "as_strided_scatter")
            flat, in_st = flat.copy(), _elem_strides(a)
        off = base if offset is None else offset
        part = _view(flat, size, stride, off, "as_strided_scatter")
        if tuple(part.shape) != tuple(src.shape):
            raise RuntimeError(
                "expected src to have a size equal to the slice of self. src size = "
                f"{list(src.shape)}, slice size = {list(part.shape)}"
            )
        part[...] = src
        ctx.geom = (tuple(a.shape), in_st, base, tuple(size), tuple(stride), off)
        ctx.meta = ((tuple(a.shape), a.dtype), (tuple(src.shape), src.dtype))
        return _view(flat, a.shape, in_st, base, "as_strided_scatter")

    @staticmethod
    def _indices(ctx, xp):
        in_size, in_st, in_off, size, st, off = ctx.geom
        p_in = _positions(xp, in_size, in_st, in_off).reshape(-1)
        p_src = _positions(xp, size, st, off)
        n = 1 + _b.max(int(p_in.max()) if p_in.size else 0, int(p_src.max()) if p_src.size else 0)
        covered = xp.zeros(n, dtype=bool)
        covered[p_src.reshape(-1)] = True
        return p_in, p_src, n, covered[p_in].reshape(in_size)

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        p_in, p_src, n, covered = AsStridedScatter._indices(ctx, xp)
        ga = gs = None
        if ctx.needs_input_grad[0]:
            ga = _fit(xp.where(covered, xp.zeros((), g.dtype), g), ctx.meta[0])
        if ctx.needs_input_grad[1]:
            store = xp.zeros(n, dtype=g.dtype)
            store[p_in] = g.reshape(-1)
            gs = _fit(store[p_src], ctx.meta[1])
        return ga, gs, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        from .arithmetic import where
        from .factories import zeros

        xp = get_array_module(g._data)
        p_in, p_src, n, covered = AsStridedScatter._indices(ctx, xp)
        ga = gs = None
        if ctx.needs_input_grad[0]:
            ga = _fit_t(where(Tensor._wrap(covered), 0.0, g), ctx.meta[0])
        if ctx.needs_input_grad[1]:
            store = zeros(n, dtype=g.dtype, device=g.device)
            store = store.index_add(0, Tensor._wrap(p_in), g.reshape(-1))
            gs = _fit_t(store[Tensor._wrap(p_src)], ctx.meta[1])
        return ga, gs, None, None, None


def as_strided_scatter(
    input: Tensor,
    src: Tensor,
    size: Sequence[int],
    stride: Sequence[int],
    storage_offset: int | None = None,
) -> Tensor:
    """A new tensor like ``input`` (a copy of its whole storage, viewed with its sizes, strides
    and offset) with ``src`` written where ``input.as_strided(size, stride, storage_offset)``
    would look, as torch.as_strided_scatter; ``src`` is cast to ``input``'s dtype and must have
    the slice's shape (RuntimeError otherwise). Differentiable in both: ``src`` gets the
    gradient along the slice, ``input`` the rest (torch allows this only for contiguous
    inputs; pydlk computes it for any geometry)."""
    sz, st, off = _geometry(size, stride, storage_offset, "as_strided_scatter")
    x = _t(input)
    s = src if isinstance(src, Tensor) else Tensor._wrap(get_array_module(x._data).asarray(src))
    return AsStridedScatter.apply(x, s, sz, st, off)


def _storage_offset_of(a: Any) -> int | None:
    """The storage offset of the array ``a``: where ``as_strided`` reads it, or for a GPU array
    the element offset in its CuPy allocation (None where neither is known)."""
    mem = getattr(getattr(a, "data", None), "mem", None) if is_cupy(a) else None
    if mem is not None:
        delta = int(a.data.ptr) - int(mem.ptr)
        return delta // a.dtype.itemsize if delta % a.dtype.itemsize == 0 else None
    try:
        return _storage(a, "storage_offset")[1]
    except RuntimeError:
        return None


def _strided_empty(xp: Any, size: Sequence[int], stride: Sequence[int], dtype: Any) -> Any:
    """An uninitialised array of ``size`` laid out with ``stride`` (elements) over a block just
    large enough (``new_empty_strided``, ``empty_permuted``)."""
    n = _extent(size, stride, 0)
    flat = xp.empty(_b.max(n, 1), dtype=dtype)
    return _view(flat, size, stride, 0, "empty_strided")
