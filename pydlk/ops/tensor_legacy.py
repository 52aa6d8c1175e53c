"""Tensor methods torch keeps from its older API and a few newer conveniences: the legacy
constructor ``new``, ``resize``/``resize_as`` (deprecated, out of place), ``new_empty_strided``,
the Python-callable fills ``apply_``/``map_``/``map2_``, ``sgn_``, ``conj_physical_``,
``prelu``, ``hardshrink``, ``adjoint`` (and ``torch.adjoint``), ``nonzero_static`` (and
``torch.nonzero_static``), ``dim_order``, ``const_data_ptr``, ``as_strided_``,
``share_memory_``/``is_shared``, ``record_stream`` and ``chalf``; ``torch.empty_permuted``.

Where pydlk differs from torch:

* ``share_memory_()`` copies a CPU tensor's values into an anonymous shared memory map
  (``mmap.mmap(-1, n)``, MAP_SHARED), so processes forked afterwards (DataLoader workers,
  ``multiprocessing`` with the fork start method) see each other's writes; ``is_shared()`` is
  True for such tensors and their views, and for every GPU tensor (as torch's). torch moves the
  storage, which every view follows; pydlk gives this tensor a new array, so views made before
  the call keep the old memory. A tensor packed into an optimiser's parameter arena is refused
  (call it before building the optimiser).
* ``chalf()``: NumPy has no complex32, so it raises TypeError naming the dtype.
* ``record_stream(s)`` keeps the array alive until the work queued on ``s`` when the tensor
  is freed has finished (CuPy's pool may otherwise hand the block to another stream); on a CPU
  tensor it does nothing.
* ``dim_order`` reads pydlk's strides, which are negative for a flipped view (torch would
  have copied): those dims are ordered by the stride's size.
"""

from __future__ import annotations

import mmap
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from .._size import Size
from .._typing import DeviceLike, DTypeLike
from ..autograd import Tensor
from . import tensor_more as _tm
from ._helpers import _sizes, _t
from .complex_ops import conj, conj_physical, sgn
from .counting import nonzero
from .factories import _new, empty
from .inplace_math import _unary_
from .memory_formats import _is_contiguous_as, channels_last, memory_format
from .shape import reshape
from .strided import _view, as_strided, as_strided_scatter

__all__ = ["adjoint", "empty_permuted", "nonzero_static"]


# -- the legacy constructor and the deprecated out-of-place resizes


def _new_legacy(self: Tensor, *args: Any, device: DeviceLike | None = None, **kw: Any) -> Tensor:
    """torch's legacy constructor: ``t.new(2, 3)`` or ``t.new(Size)`` an uninitialised tensor
    of that shape, ``t.new(data)`` a tensor of ``data`` (a list, a tuple, a number sequence),
    ``t.new(other)`` a tensor over ``other``'s memory (same dtype only), ``t.new()`` an empty
    one; always ``self``'s dtype, on ``self``'s device unless ``device``."""
    if kw:
        raise TypeError(
            f"new() received an invalid combination of arguments: unexpected keyword(s) "
            f"{sorted(kw)} (only device= is accepted; new_empty, new_tensor, ... take dtype=)"
        )
    dev = self.device if device is None else device
    if not args:
        return _new(np.empty((0,), self.dtype), dev, False)
    if len(args) == 1 and isinstance(args[0], Tensor):
        other = args[0]
        if other.dtype != self.dtype:
            raise TypeError(
                f"new(): expected a tensor of dtype {self.dtype} ({self.type()}), "
                f"got {other.dtype} ({other.type()})"
            )
        return Tensor._wrap(other._data)
    ints = all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args)
    if ints or (len(args) == 1 and isinstance(args[0], Size)):
        shape = _sizes(args, "new")
        return _new(np.empty(shape, self.dtype), dev, False)
    if len(args) != 1:
        raise TypeError(f"new(): expected sizes (ints) or one sequence of data, got {args!r}")
    data = args[0]
    if is_cupy(data):
        data = data.get()
    return _new(np.array(data, dtype=self.dtype), dev, False)


def _resize_check(self: Tensor, shape: tuple[int, ...]) -> None:
    n = int(np.prod(shape, dtype=np.int64))
    if n != self.numel():
        raise RuntimeError(
            f"requested resize to {'x'.join(map(str, shape))} ({n} elements in total), but the "
            f"given tensor has a size of {'x'.join(map(str, self.shape))} ({self.numel()} "
            "elements). autograd's resize can only change the shape of a given tensor, while "
            "preserving the number of elements. "
        )


def _resize(self: Tensor, *sizes: Any) -> Tensor:
    """Deprecated in torch (a UserWarning, as torch's): ``self`` reshaped to ``sizes``, which
    must keep the number of elements (RuntimeError otherwise); differentiable."""
    warnings.warn("non-inplace resize is deprecated", UserWarning, stacklevel=2)
    shape = _sizes(sizes, "resize")
    _resize_check(self, shape)
    return reshape(self, shape)


def _resize_as(self: Tensor, tensor: Tensor) -> Tensor:
    """Deprecated in torch (a UserWarning): ``self`` reshaped to ``tensor``'s shape."""
    warnings.warn("non-inplace resize_as is deprecated", UserWarning, stacklevel=2)
    shape = tuple(_t(tensor).shape)
    _resize_check(self, shape)
    return reshape(self, shape)


def _device_flat(n: int, dtype: Any, device: Any) -> Any:
    """An uninitialised 1-D array of ``n`` elements on ``device``."""
    return empty(max(n, 1), dtype=dtype, device=device)._data


def _new_empty_strided(
    self: Tensor,
    size: Sequence[int],
    stride: Sequence[int],
    *,
    dtype: DTypeLike | None = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    layout: Any = None,
    pin_memory: bool = False,
) -> Tensor:
    """An uninitialised tensor of ``size`` laid out with ``stride`` (in elements) over a block
    just large enough; ``self``'s dtype and device unless given."""
    from .strided import _extent, _geometry

    sz, st, _ = _geometry(size, stride, None, "new_empty_strided")
    dt = self.dtype if dtype is None else np.dtype(dtype)
    flat = _device_flat(_extent(sz, st, 0), dt, self.device if device is None else device)
    t = Tensor._wrap(_view(flat, sz, st, 0, "new_empty_strided"))
    if requires_grad:
        t.requires_grad_(True)
    return t


def empty_permuted(
    size: Sequence[int],
    physical_layout: Sequence[int],
    *,
    dtype: DTypeLike | None = None,
    layout: Any = None,
    device: DeviceLike | None = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """An uninitialised dense tensor of ``size`` whose dims lie in memory in the order
    ``physical_layout`` (outermost first: ``(0, 2, 3, 1)`` is NHWC for an NCHW size), as
    torch.empty_permuted; the default float dtype unless ``dtype``."""
    shape = _sizes(size, "empty_permuted")
    perm = [int(p) for p in physical_layout]
    if len(perm) != len(shape):
        raise RuntimeError(
            "Number of dimensions in size does not match the length of the physical_layout; "
            f"i.e. len(size) = {len(shape)} is not equal to len(physical_layout) = {len(perm)}"
        )
    if sorted(perm) != list(range(len(shape))):
        raise RuntimeError("Duplicate dim not allowed")
    phys = empty(tuple(shape[p] for p in perm), dtype=dtype, device=device)._data
    t = Tensor._wrap(phys.transpose(tuple(int(i) for i in np.argsort(perm))))
    if requires_grad:
        t.requires_grad_(True)
    return t


# -- Python callables over the elements (CPU only, outside autograd, as torch's)


def _callable_check(op: str, self: Tensor, *others: Tensor) -> None:
    if any(t.requires_grad for t in (self, *others)):
        raise RuntimeError(
            f"Can't call {op}() on Variable that requires grad. Use var.detach().{op}() instead."
        )


def _cpu_only(op: str, *ts: Tensor) -> None:
    if any(is_cupy(t._data) for t in ts):
        raise TypeError(f"{op} is only implemented on CPU tensors")


def _write_back(self: Tensor, values: list[Any]) -> Tensor:
    a = self._data
    out = np.empty(a.shape, dtype=object)
    out.reshape(-1)[:] = values if values else []
    a[...] = out.astype(a.dtype) if a.dtype != np.bool_ else out.astype(bool)
    return self


def _apply_(self: Tensor, callable: Callable[[Any], Any]) -> Tensor:
    """Each element replaced by ``callable(element)`` (a Python number in, one out, cast to the
    tensor's dtype), in place; CPU tensors only (TypeError on a GPU, as torch), and not on a
    tensor that requires grad (RuntimeError, as torch)."""
    _callable_check("apply_", self)
    _cpu_only("apply_", self)
    return _write_back(self, [callable(v) for v in self._data.reshape(-1).tolist()])


def _operands(op: str, self: Tensor, names: Sequence[str], others: Sequence[Any]) -> list[Any]:
    """The other tensors broadcast to ``self``'s shape, checked as torch's map_/map2_."""
    out = []
    for name, o in zip(names, others):
        o = _t(o)
        if o.dtype != self.dtype:
            raise TypeError(f"{op}: expected {self.type()} for {name} (got {o.type()})")
        try:
            out.append(np.broadcast_to(o._data, self.shape).reshape(-1).tolist())
        except ValueError:
            raise RuntimeError(
                f"{op}: {name} of shape {tuple(o.shape)} does not broadcast to the tensor's "
                f"shape {tuple(self.shape)}"
            ) from None
    return out


def _map_(self: Tensor, tensor: Tensor, callable: Callable[[Any, Any], Any]) -> Tensor:
    """``self[i] = callable(self[i], tensor[i])`` for every element (``tensor`` of the same
    dtype, broadcast to ``self``), in place; CPU only, no tensor requiring grad."""
    _callable_check("map_", self, _t(tensor))
    (o,) = _operands("map_", self, ["'other'"], [tensor])
    _cpu_only("map_", self, _t(tensor))
    own = self._data.reshape(-1).tolist()
    return _write_back(self, [callable(a, b) for a, b in zip(own, o)])


def _map2_(self: Tensor, x: Tensor, y: Tensor, callable: Callable[[Any, Any, Any], Any]) -> Tensor:
    """``self[i] = callable(self[i], x[i], y[i])`` for every element (``x`` and ``y`` of the
    same dtype, broadcast to ``self``), in place; CPU only, no tensor requiring grad."""
    _callable_check("map2_", self, _t(x), _t(y))
    ox, oy = _operands("map2_", self, ["argument 'x'", "argument 'y'"], [x, y])
    _cpu_only("map2_", self, _t(x), _t(y))
    own = self._data.reshape(-1).tolist()
    return _write_back(self, [callable(a, b, c) for a, b, c in zip(own, ox, oy)])


# -- elementwise and matrix methods


_sgn_ = _unary_("sgn_", sgn)
_conj_physical_ = _unary_("conj_physical_", conj_physical)


def _prelu(self: Tensor, weight: Tensor) -> Tensor:
    """``F.prelu(self, weight)``: x where x >= 0, else weight * x (per channel)."""
    from ..functional import prelu

    return prelu(self, weight)


def _hardshrink(self: Tensor, lambd: float = 0.5) -> Tensor:
    """``F.hardshrink(self, lambd)``: x where |x| > lambd, else 0."""
    from ..functional import hardshrink

    return hardshrink(self, lambd)


def adjoint(input: Tensor) -> Tensor:
    """The conjugate transpose of the last two dims (a view for real tensors), as
    torch.adjoint; a 1-D tensor raises RuntimeError, a 0-d one warns (deprecated) and gives its
    conjugate."""
    x = _t(input)
    if x.ndim == 0:
        warnings.warn(
            "adjoint() is deprecated on 0-D tensors. Consider using x.conj().",
            UserWarning,
            stacklevel=2,
        )
        return conj(x) if x.dtype.kind == "c" else x
    if x.ndim == 1:
        raise RuntimeError(
            "tensor.adjoint() is only supported on matrices or batches of matrices. Got 1-D tensor."
        )
    return _tm._mH(x)


def nonzero_static(input: Tensor, *, size: int, fill_value: int = -1) -> Tensor:
    """``nonzero(input)`` with a fixed number of rows: the first ``size`` index rows, padded
    with rows of ``fill_value`` when there are fewer (an int64 (size, input.ndim) tensor), as
    torch.nonzero_static. ``size`` must be a non-negative int."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"nonzero_static(): argument 'size' must be int, not {type(size).__name__}")
    if isinstance(fill_value, bool) or not isinstance(fill_value, (int, np.integer)):
        raise TypeError(
            f"nonzero_static(): argument 'fill_value' must be int, not {type(fill_value).__name__}"
        )
    if size < 0:
        raise RuntimeError("nonzero_static: 'size' must be an non-negative integer")
    x = _t(input)
    idx = nonzero(x)._data
    xp = get_array_module(idx)
    out = xp.full((int(size), x.ndim), int(fill_value), dtype=np.int64)
    k = min(int(size), int(idx.shape[0]))
    out[:k] = idx[:k]
    return Tensor._wrap(out)


def _nonzero_static(self: Tensor, *, size: int, fill_value: int = -1) -> Tensor:
    return nonzero_static(self, size=size, fill_value=fill_value)


_nonzero_static.__name__ = _nonzero_static.__qualname__ = "nonzero_static"


# -- layout and memory


def _dim_order(self: Tensor, *, ambiguity_check: bool | list[Any] = False) -> tuple[int, ...]:
    """The dims from outermost to innermost in memory (torch's dim_order): ``(0, 1, 2, 3)``
    for a C-order tensor, ``(0, 2, 3, 1)`` for channels_last. ``ambiguity_check=True`` raises
    RuntimeError when more than one order fits (a dim of size 1, two equal strides); a list of
    memory formats instead asks that exactly one of them fit."""
    if not isinstance(ambiguity_check, bool):
        if not isinstance(ambiguity_check, list) or not all(
            isinstance(m, memory_format) for m in ambiguity_check
        ):
            raise TypeError(
                "The ambiguity_check argument must be a bool or a list of memory formats."
            )
    a = self._data
    shape = tuple(a.shape)
    strides = tuple(abs(s) for s in _tm._stride(self))
    check = ambiguity_check if isinstance(ambiguity_check, bool) else True
    formats = ambiguity_check if isinstance(ambiguity_check, list) else []
    if check:
        several = any(s == t for s, t in zip(strides, strides[1:])) or 1 in shape
        fits = sum(1 for m in formats if self.is_contiguous(memory_format=m))
        if several and fits != 1:
            raise RuntimeError(
                "The tensor does not have unique dim order, or cannot map to exact one of the "
                "given memory formats."
            )
    return tuple(_physical_order(a, shape, strides))


def _physical_order(a: Any, shape: tuple[int, ...], strides: tuple[int, ...]) -> list[int]:
    """torch._prims_common.compute_elementwise_output_logical_to_physical_perm of one tensor."""
    nd = len(shape)
    if nd == 0:
        return []
    if nd == 1:
        return [0]
    contiguous, last = bool(a.flags.c_contiguous), _is_contiguous_as(a, channels_last)
    if contiguous and not last:
        return list(range(nd))
    if last and not contiguous:
        return [0, *range(2, nd), 1]

    def ge(x: int, y: int) -> bool:
        if y == 0:
            return True
        if x == 0:
            return False
        return x >= y or x % y == 0

    def should_swap(i: int, j: int) -> int:
        sa, sb = strides[i], strides[j]
        if sa == 0 or sb == 0:
            return 0
        if sa == sb:
            return 0 if ge(shape[j], shape[i]) else 1
        if ge(sb, sa):
            return -1
        if ge(sa, sb):
            return 1
        return 0

    perm = list(reversed(range(nd)))
    for i in range(1, nd):
        d1 = i
        for d0 in reversed(range(i)):
            c = should_swap(perm[d0], perm[d1])
            if c > 0:
                perm[d0], perm[d1] = perm[d1], perm[d0]
                d1 = d0
            elif c < 0:
                break
    return list(reversed(perm))


def _const_data_ptr(self: Tensor) -> int:
    """The address of the first element (``data_ptr()``; pydlk has no read-only pointers)."""
    return self.data_ptr()


class _SharedBlock(mmap.mmap):
    """An anonymous MAP_SHARED mapping made by ``share_memory_`` (marks the tensor shared)."""


def _root_buffer(a: Any) -> Any:
    b = a
    while isinstance(b, np.ndarray):
        b = b.base
    return b.obj if isinstance(b, memoryview) else b


def _is_shared(self: Tensor) -> bool:
    """True when the tensor's memory is shared between processes: made by ``share_memory_``
    (or a view of such memory), or on a GPU (as torch's)."""
    if is_cupy(self._data):
        return True
    return isinstance(_root_buffer(self._data), _SharedBlock)


def _share_memory_(self: Tensor) -> Tensor:
    """Move the tensor's values into shared memory (an anonymous MAP_SHARED map), so that
    processes forked afterwards see each other's writes; a no-op when already shared or on a
    GPU. Returns ``self``. See the module's notes for how this differs from torch's."""
    if _is_shared(self):
        return self
    from .. import _arena

    if _arena.owning_arena(self) is not None:
        raise RuntimeError(
            "share_memory_: this tensor lives in an optimiser's parameter arena; call "
            "share_memory_() (or Module.share_memory()) before building the optimiser"
        )
    a = self._data
    block = _SharedBlock(-1, max(a.nbytes, 1))
    new = np.ndarray(a.shape, dtype=a.dtype, buffer=block)
    new[...] = a
    self._data = new
    return self


_recorded: list[tuple[Any, Any]] = []  # (event, array) of freed tensors a stream may still use


def _freed(stream: Any, array: Any) -> None:
    """A tensor that ``record_stream`` marked was freed: keep its array until the work queued
    on ``stream`` by now has finished."""
    _recorded[:] = [(e, a) for e, a in _recorded if not e.done]
    _recorded.append((stream.record(), array))


def _record_stream(self: Tensor, stream: Any) -> None:
    """Mark a GPU tensor's memory as used by ``stream`` (a ``pydlk.cuda.Stream`` or a CuPy
    stream): when the tensor is freed its block is kept until the work ``stream`` had queued
    by then is done. A no-op on a CPU tensor."""
    if not is_cupy(self._data):
        return
    raw = getattr(stream, "_s", stream)
    if not hasattr(raw, "record"):
        raise TypeError(f"record_stream: expected a pydlk.cuda.Stream, got {type(stream).__name__}")
    weakref.finalize(self, _freed, raw, self._data)


def _chalf(self: Tensor, memory_format: Any = None) -> Tensor:
    """torch's complex32 cast: refused, as NumPy (and CuPy) have no complex32 dtype."""
    raise TypeError(
        "chalf: NumPy has no complex32 (torch.complex32 / torch.chalf) dtype; use cfloat() "
        "(complex64) instead"
    )


def _as_strided_(
    self: Tensor, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None
) -> Tensor:
    """``as_strided`` in place: the tensor itself becomes the strided view of its storage
    (recorded on a graph tensor; a leaf that requires grad is refused, as torch)."""
    return _as_strided_view_(self, size, stride, storage_offset)


_as_strided_view_ = _tm._view_("as_strided_", as_strided)

TENSOR_METHODS: dict[str, Any] = {
    "new": _new_legacy,
    "resize": _resize,
    "resize_as": _resize_as,
    "new_empty_strided": _new_empty_strided,
    "apply_": _apply_,
    "map_": _map_,
    "map2_": _map2_,
    "sgn_": _sgn_,
    "conj_physical_": _conj_physical_,
    "prelu": _prelu,
    "hardshrink": _hardshrink,
    "adjoint": adjoint,
    "nonzero_static": _nonzero_static,
    "dim_order": _dim_order,
    "const_data_ptr": _const_data_ptr,
    "share_memory_": _share_memory_,
    "is_shared": _is_shared,
    "record_stream": _record_stream,
    "chalf": _chalf,
    "as_strided": as_strided,
    "as_strided_": _as_strided_,
    "as_strided_scatter": as_strided_scatter,
}
