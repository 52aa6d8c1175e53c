"""Shape ops: reshape, view, squeeze, permute, transpose, expand, flip, ..."""

from __future__ import annotations

import builtins as _b
import math
from typing import Any

import numpy as np

from .._backend import get_array_module
from .._typing import _dims as _Dims
from .._typing import _size
from ..autograd import Function, Tensor
from ._helpers import _dim, _dims, _fit, _fit_t, _meta, _t, _unpack
from .memory_formats import _check_memory_format, _is_contiguous_as
from .memory_formats import contiguous_format as _CONTIGUOUS


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g.reshape(ctx.shape), None


def reshape(input: Tensor, *shape: int | _size) -> Tensor:
    """The same elements in a new shape (one dim may be -1, inferred); the shape may be given
    as ints or one tuple. Raises ValueError if the sizes do not fit.
    """
    given = _unpack(shape)
    input = _t(input)
    try:
        new = tuple(int(s) for s in given)
    except TypeError:
        raise TypeError(f"reshape: shape must be ints, got {given!r}") from None
    known = math.prod(s for s in new if s != -1)  # Python ints: no overflow, no NumPy call
    bad = (
        new.count(-1) > 1
        or _b.any(s < -1 for s in new)
        or (-1 not in new and known != input.numel())
        or (-1 in new and (known == 0 or input.numel() % known))
    )
    if bad:
        raise ValueError(
            f"reshape: shape {list(new)} is invalid for input of size "
            f"{input.numel()} (shape {tuple(input.shape)})"
        )
    return Reshape.apply(input, new)


def view(input: Tensor, *shape: int | _size) -> Tensor:
    """As ``reshape`` (copies a non-contiguous tensor where torch's view would refuse)."""
    return reshape(input, *shape)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim`` to ``end_dim`` (inclusive) into one; a 0-d input becomes 1-d."""
    input = _t(input)
    shape = input.shape
    if input.ndim == 0:
        _dim(start_dim, 0, "flatten")
        _dim(end_dim, 0, "flatten")
        return Reshape.apply(input, (1,))
    s, e = _dim(start_dim, input.ndim, "flatten"), _dim(end_dim, input.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    new = shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :]
    return Reshape.apply(input, new)


def unflatten(input: Tensor, dim: int, sizes: _size) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (their product must be its size; one may be -1)."""
    input = _t(input)
    d = _dim(dim, input.ndim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    new = input.shape[:d] + sizes + input.shape[d + 1 :]
    return reshape(input, new)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dim at position ``dim`` (``-1`` appends)."""
    input = _t(input)
    d = _dim(dim, input.ndim, "unsqueeze", extra=1)
    return Reshape.apply(input, input.shape[:d] + (1,) + input.shape[d:])


def squeeze(input: Tensor, dim: _Dims = None) -> Tensor:
    """Drop size-1 dims (all of them, or those in ``dim``; a named dim of another size stays)."""
    input = _t(input)
    shape = input.shape
    if dim is None:
        drop = {i for i, s in enumerate(shape) if s == 1}
    else:
        drop = {d for d in (_dims(dim, input.ndim, "squeeze") or ()) if shape[d] == 1}
    return Reshape.apply(input, tuple(s for i, s in enumerate(shape) if i not in drop))


class Permute(Function):
    @staticmethod
    def forward(ctx, a, perm):
        ctx.perm = perm
        return get_array_module(a).transpose(a, perm)

    @staticmethod
    def backward(ctx, g):
        return get_array_module(g).transpose(g, tuple(np.argsort(ctx.perm))), None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g.permute(tuple(int(i) for i in np.argsort(ctx.perm))), None


def permute(input: Tensor, *dims: int | _size) -> Tensor:
    """Reorder the dims as ``dims`` (a permutation of all of them). Raises ValueError for a
    wrong count or a repeated dim.
    """
    given = _unpack(dims)
    input = _t(input)
    if len(given) != input.ndim:
        raise ValueError(
            f"permute: got {len(given)} dims {tuple(given)} for a tensor with "
            f"{input.ndim} dimensions"
        )
    perm = tuple(_dim(d, input.ndim, "permute") for d in given)
    if len(set(perm)) != len(perm):
        raise ValueError(f"permute: dims {tuple(given)} repeat a dimension")
    return Permute.apply(input, perm)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap dims ``dim0`` and ``dim1``. Also named ``swapaxes`` and ``swapdims``."""
    input = _t(input)
    if input.ndim == 0:
        _dim(dim0, 0, "transpose")
        _dim(dim1, 0, "transpose")
        return Permute.apply(input, ())
    perm = list(range(input.ndim))
    d0, d1 = _dim(dim0, input.ndim, "transpose"), _dim(dim1, input.ndim, "transpose")
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return Permute.apply(input, tuple(perm))


swapaxes = swapdims = transpose


def movedim(input: Tensor, source: int | _size, destination: int | _size) -> Tensor:
    """Move dim(s) ``source`` to position(s) ``destination``, keeping the others' order.
    Also named ``moveaxis``.
    """
    input = _t(input)
    n = input.ndim
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [_dim(d, n, "movedim") for d in src]
    dst = [_dim(d, n, "movedim") for d in dst]
    if len(src) != len(dst):
        raise ValueError("movedim: source and destination need the same number of dims")
    perm = [d for d in range(n) if d not in src]
    for d, s in sorted(zip(dst, src)):
        perm.insert(d, s)
    return Permute.apply(input, tuple(perm))


moveaxis = movedim


def t(input: Tensor) -> Tensor:
    """Transpose a tensor of at most 2 dims (0-d and 1-d come back as they are)."""
    input = _t(input)
    if input.ndim > 2:
        raise ValueError(
            f"t: expects a tensor with <= 2 dimensions, got {input.ndim}; "
            "use transpose(dim0, dim1) or .mT"
        )
    return Permute.apply(input, tuple(range(input.ndim))[::-1])


def _T(self: Tensor) -> Tensor:
    return Permute.apply(self, tuple(range(self.ndim))[::-1])


def _mT(self: Tensor) -> Tensor:
    if self.ndim < 2:
        raise ValueError(f"mT: needs a tensor with at least 2 dimensions, got {self.ndim}")
    return transpose(self, -2, -1)


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.meta = _meta(a)
        return get_array_module(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return _fit(g, ctx.meta), None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return _fit_t(g, ctx.meta), None


def expand(input: Tensor, *sizes: int | _size) -> Tensor:
    """A broadcast view of ``input`` with ``sizes`` (-1 keeps a dim; new dims go in front)."""
    input = _t(input)
    new = tuple(int(s) for s in _unpack(sizes))
    n, m = input.ndim, len(new)
    if m < n:
        raise ValueError(
            f"expand: the number of sizes ({m}) must be at least the number of dimensions ({n})"
        )
    shape = []
    for i, s in enumerate(new):
        j = i - (m - n)
        if j < 0:
            if s < 0:
                raise ValueError(f"expand: -1 is not allowed for the new leading dimension {i}")
            shape.append(s)
            continue
        old = input.shape[j]
        if s == -1:
            s = old
        if s != old and old != 1:
            raise ValueError(
                f"expand: the expanded size {s} must match the existing size "
                f"{old} at dimension {j} (only size-1 dims can grow); input shape "
                f"{tuple(input.shape)}, sizes {new}"
            )
        shape.append(s)
    return Expand.apply(input, tuple(shape))


def broadcast_to(input: Tensor, size: _size) -> Tensor:
    """``input`` expanded to shape ``size`` by NumPy broadcasting (as ``expand``)."""
    return expand(input, tuple(size))


class Repeat(Function):
    @staticmethod
    def forward(ctx, a, reps):
        ctx.shape = a.shape
        return get_array_module(a).tile(a, reps)

    @staticmethod
    def backward(ctx, g):
        reps = g.ndim
        src = (1,) * (reps - len(ctx.shape)) + tuple(ctx.shape)
        r = [o // s if s else 0 for o, s in zip(g.shape, src)]
        # out has shape (r0*s0, r1*s1, ...), laid out as (r0, s0, r1, s1, ...): sum the r axes
        if 0 in r or 0 in src:
            return get_array_module(g).zeros(ctx.shape, g.dtype), None
        inter = g.reshape(tuple(v for pair in zip(r, src) for v in pair))
        return inter.sum(axis=tuple(range(0, 2 * reps, 2))).reshape(ctx.shape), None

    @staticmethod
    def backward_graph(ctx, inputs, g):  # backward's reshape and sum, recorded
        src = (1,) * (g.ndim - len(ctx.shape)) + tuple(ctx.shape)
        r = [o // s if s else 0 for o, s in zip(g.shape, src)]
        if 0 in r or 0 in src:
            return g.sum() * get_array_module(g._data).zeros(ctx.shape, g.dtype), None
        inter = g.reshape(tuple(v for pair in zip(r, src) for v in pair))
        return inter.sum(dim=tuple(range(0, 2 * g.ndim, 2))).reshape(ctx.shape), None


def _repeat(self: Tensor, *sizes: int | _size) -> Tensor:
    reps = tuple(int(s) for s in _unpack(sizes))
    if len(reps) < self.ndim:
        raise ValueError(
            f"repeat: the number of repeats ({len(reps)}) must be at least the "
            f"number of dimensions ({self.ndim})"
        )
    if _b.any(s < 0 for s in reps):
        raise ValueError(f"repeat: repeats must be non-negative, got {reps}")
    return Repeat.apply(self, reps)


class Flip(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return get_array_module(a).flip(a, dims) if dims else a.copy()

    @staticmethod
    def backward(ctx, g):
        return (get_array_module(g).flip(g, ctx.dims) if ctx.dims else g), None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return (Flip.apply(g, ctx.dims) if ctx.dims else g), None


def flip(input: Tensor, dims: int | _size) -> Tensor:
    """Reverse the order of elements along ``dims`` (a copy, unlike NumPy's view)."""
    input = _t(input)
    return Flip.apply(input, _dims(dims, input.ndim, "flip"))


class Copy(Function):
    """clone() and contiguous(): a fresh C-contiguous copy; the gradient passes through."""

    @staticmethod
    def forward(ctx, a):
        return get_array_module(a).array(a, copy=True, order="C")

    @staticmethod
    def backward(ctx, g):
        return g

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g


def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:
    """A fresh C-contiguous copy; the gradient passes through. ``memory_format``
    (``pydlk.preserve_format`` by default, ``channels_last``, ...) is a layout hint: it is
    checked as torch checks it, and the copy is C-order (NCHW) whatever it says."""
    input = _t(input)
    if memory_format is not None:
        _check_memory_format("clone", memory_format, input.ndim)
    return Copy.apply(input)


def _contiguous(self: Tensor, *, memory_format: Any = _CONTIGUOUS) -> Tensor:
    """``self`` if C-contiguous, else a C-contiguous copy. ``memory_format`` is a layout hint
    (torch's rank check kept): pydlk's arrays stay C-order (NCHW) for channels_last too."""
    if memory_format is not _CONTIGUOUS:
        _check_memory_format("contiguous", memory_format, self.ndim, optional=False)
    return self if self._data.flags.c_contiguous else Copy.apply(self)


def _is_contiguous(self: Tensor, *, memory_format: Any = _CONTIGUOUS) -> bool:
    """Whether the array is contiguous in ``memory_format``, read from its strides as torch
    reads a tensor's: a C-order NCHW tensor is channels_last-contiguous only when C == 1 or
    H == W == 1."""
    if memory_format is _CONTIGUOUS:
        return bool(self._data.flags.c_contiguous)
    _check_memory_format("is_contiguous", memory_format, optional=False)
    return _is_contiguous_as(self._data, memory_format)


def _sum_to_size(self: Tensor, *size: Any, **kw: Any) -> Tensor:
    """Tensor.sum_to_size: ``self`` summed down to ``size`` (ints, or one tuple or Size;
    ``size=`` too), which must be expandable to ``self``'s shape: the leading dims and the
    dims that are 1 in ``size`` are summed. Differentiable; ``self`` itself when the shape
    already is ``size``. Raises RuntimeError for a size that does not expand to the shape."""
    if "size" in kw:
        size = (kw.pop("size"),)
    if kw:
        raise TypeError(f"sum_to_size: unexpected keyword argument(s) {sorted(kw)}")
    want = tuple(int(n) for n in _unpack(size))
    shape = tuple(self.shape)
    lead = len(shape) - len(want)
    if lead < 0 or any(w != 1 and w != n for w, n in zip(want, shape[lead:])):
        raise RuntimeError(f"size {{{list(want)}}} is not expandable to size {{{list(shape)}}}.")
    if want == shape:
        return self
    dims = tuple(range(lead)) + tuple(
        lead + i for i, w in enumerate(want) if w == 1 and shape[lead + i] != 1
    )
    return self.sum(dim=dims, keepdim=True).reshape(want) if dims else self.reshape(want)


def _unfold(self: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """Tensor.unfold: every window of ``size`` elements along ``dimension``, ``step`` apart,
    in a new last dim (shape ``[..., (n - size) // step + 1, ..., size]``); torch's patch and
    sliding-window idiom. A copy where torch gives a view; the gradient adds up over
    overlapping windows. Raises RuntimeError for a size larger than the dim or a step < 1."""
    from .indexing import Index

    self = _t(self)
    d = _dim(dimension, _b.max(self.ndim, 1), "unfold")
    n = self.shape[d] if self.ndim else 1
    if size > n:
        raise RuntimeError(
            f"unfold: maximum size for tensor at dimension {d} is {n} but size is {size}"
        )
    if size < 0:
        raise RuntimeError(f"unfold: size is {size} but must be >= 0")
    if step < 1:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    if self.ndim == 0:
        return self.reshape(1)
    xp = get_array_module(self._data)
    starts = xp.arange(0, n - size + 1, step)
    idx = starts[:, None] + xp.arange(size)[None, :]
    out = Index.apply(self, (slice(None),) * d + (idx,))
    return movedim(out, d + 1, -1)


def roll(input: Tensor, shifts: int | _size, dims: int | _size | None = None) -> Tensor:
    """Shift elements along ``dims`` by ``shifts``, those past the end coming back at the
    start (``dims`` None: over the flattened tensor, shape kept). Raises RuntimeError when
    shifts and dims differ in length."""
    from .indexing import Index

    input = _t(input)
    sh = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    if dims is None:
        if len(sh) != 1:
            raise RuntimeError(f"roll: shifts must have one entry when dims is None, got {sh}")
        return roll(input.flatten(), sh[0], 0).reshape(input.shape)
    ds = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(sh) != len(ds):
        raise RuntimeError(
            f"roll: shifts and dimensions must align. shifts: {len(sh)}, dims: {len(ds)}"
        )
    xp = get_array_module(input._data)
    out = input
    for s, d in zip(sh, ds):
        d = _dim(d, input.ndim, "roll")
        n = input.shape[d]
        if n == 0 or s % n == 0:
            continue
        perm = (xp.arange(n) - s) % n
        out = Index.apply(out, (slice(None),) * d + (perm,))
    return out if out is not input else clone(input)


def rot90(input: Tensor, k: int = 1, dims: _size = (0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``, from the first dim towards
    the second (as torch). Raises RuntimeError for dims that are not two distinct dims of a
    tensor with at least 2 dims."""
    input = _t(input)
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"rot90: expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = (_dim(d, input.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise RuntimeError(f"rot90: expected rotation dims to be different, but got {d0} and {d1}")
    k %= 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return flip(transpose(input, d0, d1), (d1,))
    return clone(input)
