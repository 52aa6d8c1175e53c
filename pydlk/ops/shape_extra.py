"""Shape ops built from the others, so they are differentiable to any order: repeat_interleave,
tile, take_along_dim, diff, block_diag, cartesian_prod; the index factories tril_indices and
triu_indices."""

from __future__ import annotations

import builtins as _b
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module
from .._typing import DTypeLike, _size
from ..autograd import Tensor
from ._helpers import _arr, _dim, _nograd, _t, _unpack
from .joining import cat, meshgrid, stack
from .selection import gather, index_select, narrow
from .shape import _repeat, expand, reshape


def repeat_interleave(
    input: Tensor,
    repeats: int | Tensor | None = None,
    dim: int | None = None,
    *,
    output_size: int | None = None,
) -> Tensor:
    """Each element (or slice along ``dim``) repeated ``repeats`` times in place, as
    torch.repeat_interleave: ``repeats`` an int or a 1-d tensor of one count per slice;
    ``dim=None`` flattens first. With only a 1-d integer tensor, ``repeat_interleave(r)``
    gives ``i`` repeated ``r[i]`` times. ``output_size`` is accepted (the total; checked)."""
    if repeats is None:  # repeat_interleave(repeats): the indices, each repeated
        r = _arr(input)
        if r.ndim != 1 or r.dtype.kind not in "iu":
            raise TypeError("repeat_interleave: repeats must be a 1-d integer tensor")
        xp = get_array_module(r)
        return _nograd(xp.repeat(xp.arange(r.shape[0], dtype=np.int64), r))
    input = _t(input)
    if dim is None:
        input, d = reshape(input, -1), 0
    else:
        d = _dim(dim, input.ndim, "repeat_interleave")
    if input.ndim == 0:
        input = reshape(input, 1)
    n = input.shape[d]
    xp = get_array_module(input._data)
    r = _arr(repeats)
    if hasattr(r, "dtype") and r.dtype.kind not in "iu":
        raise TypeError(f"repeat_interleave: repeats must be integers, got {r.dtype}")
    r = xp.asarray(r, dtype=np.int64)
    if r.ndim > 1 or (r.ndim == 1 and r.shape[0] not in (1, n)):
        raise ValueError(
            f"repeat_interleave: repeats must be an int or a 1-d tensor of size {n} (one per "
            f"slice along dim {d}), got shape {tuple(r.shape)}"
        )
    if bool((r < 0).any()):
        raise ValueError("repeat_interleave: repeats must be non-negative")
    idx = xp.repeat(xp.arange(n, dtype=np.int64), r.reshape(-1) if r.ndim else int(r))
    if output_size is not None and int(output_size) != idx.shape[0]:
        raise ValueError(
            f"repeat_interleave: output_size={output_size} but the repeats sum to {idx.shape[0]}"
        )
    return index_select(input, d, Tensor._wrap(idx))


def tile(input: Tensor, dims: _size) -> Tensor:
    """``input`` repeated ``dims[i]`` times along each dimension; fewer dims than the input has
    are padded with 1s in front (torch.tile), more add leading dimensions (as ``repeat``)."""
    input = _t(input)
    dims = tuple(
        int(k) for k in _unpack(tuple(dims) if isinstance(dims, (list, tuple)) else (dims,))
    )
    if _b.any(k < 0 for k in dims):
        raise ValueError(f"tile: dims must be non-negative, got {dims}")
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return _repeat(input, dims)


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """Values of ``input`` at ``indices`` along ``dim`` (``gather`` with the two broadcast to one
    shape except along ``dim``), as torch.take_along_dim; ``dim=None`` indexes the flattened
    input. The indices come from ``argmax``, ``argsort``, ``topk``."""
    input = _t(input)
    idx = _t(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"take_along_dim: indices must be an integer tensor, got {idx.dtype}")
    if dim is None:
        return gather(reshape(input, -1), 0, reshape(idx, -1))
    if input.ndim != idx.ndim:
        raise ValueError(
            f"take_along_dim: input and indices should have the same number of dimensions, "
            f"got {input.ndim} and {idx.ndim}"
        )
    d = _dim(dim, input.ndim, "take_along_dim")
    si, sx = list(input.shape), list(idx.shape)
    si[d] = sx[d] = 1
    try:
        common = list(np.broadcast_shapes(tuple(si), tuple(sx)))
    except ValueError:
        raise ValueError(
            f"take_along_dim: input of shape {tuple(input.shape)} and indices of shape "
            f"{tuple(idx.shape)} do not broadcast outside dim {d}"
        ) from None
    ci, cx = list(common), list(common)
    ci[d], cx[d] = input.shape[d], idx.shape[d]
    if tuple(ci) != tuple(input.shape):
        input = expand(input, tuple(ci))
    if tuple(cx) != tuple(idx.shape):
        idx = Tensor._wrap(get_array_module(idx._data).broadcast_to(idx._data, tuple(cx)))
    return gather(input, d, idx)


def diff(
    input: Tensor,
    n: int = 1,
    dim: int = -1,
    prepend: Tensor | None = None,
    append: Tensor | None = None,
) -> Tensor:
    """The ``n``-th forward difference along ``dim`` (``out[i] = x[i + 1] - x[i]``), after
    joining ``prepend`` and ``append`` to the input along ``dim``, as torch.diff; bool input
    gives ``!=`` of neighbours."""
    x = _t(input)
    if x.ndim == 0:
        raise ValueError("diff: expected at least a 1-dimensional tensor")
    d = _dim(dim, x.ndim, "diff")
    if int(n) < 0:
        raise ValueError(f"diff: order n must be non-negative, got {n}")
    parts = [p if p is x else _t(p) for p in (prepend, x, append) if p is not None]
    for p in parts:
        if p.ndim != x.ndim:
            raise ValueError(
                "diff: expects prepend or append to be the same dimension as input, got "
                f"{p.ndim} and {x.ndim}"
            )
    if len(parts) > 1:
        x = cat(parts, dim=d)
    for _ in range(int(n)):
        m = x.shape[d]
        if m == 0:
            break
        hi, lo = narrow(x, d, 1, m - 1), narrow(x, d, 0, m - 1)
        x = _nograd(hi._data != lo._data) if x.dtype == np.bool_ else hi - lo
    return x


def block_diag(*tensors: Tensor) -> Tensor:
    """The tensors (0-d, 1-d as one row, or 2-d) placed on the diagonal of a zero matrix, in
    their common dtype (torch.block_diag)."""
    ts = [_t(t) for t in tensors]
    if not ts:
        return Tensor._wrap(np.zeros((1, 0), np.float32))
    for i, t in enumerate(ts):
        if t.ndim > 2:
            raise ValueError(
                f"block_diag: input tensors must have 2 or fewer dimensions, tensor {i} has "
                f"{t.ndim}"
            )
    ts = [
        reshape(t, (1, 1)) if t.ndim == 0 else (reshape(t, (1, -1)) if t.ndim == 1 else t)
        for t in ts
    ]
    dt = np.result_type(*(t._data.dtype for t in ts))
    ts = [t if t.dtype == dt else t.to(dt) for t in ts]
    cols = _b.sum(t.shape[1] for t in ts)
    xp = get_array_module(ts[0]._data)
    rows, left = [], 0
    for t in ts:
        r, c = t.shape
        pieces = []
        if left:
            pieces.append(Tensor._wrap(xp.zeros((r, left), dt)))
        pieces.append(t)
        if cols - left - c:
            pieces.append(Tensor._wrap(xp.zeros((r, cols - left - c), dt)))
        rows.append(cat(pieces, dim=1) if len(pieces) > 1 else t)
        left += c
    return cat(rows, dim=0)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """Every combination of one element of each 1-d tensor, one per row (itertools.product
    order), as torch.cartesian_prod; a single tensor comes back as itself."""
    ts = [_t(t) for t in tensors]
    for i, t in enumerate(ts):
        if t.ndim != 1:
            raise ValueError(f"cartesian_prod: expects 1-d tensors, tensor {i} has {t.ndim} dims")
    if len(ts) == 1:
        return ts[0]
    grids = meshgrid(*ts, indexing="ij")
    return stack([reshape(g, -1) for g in grids], dim=1)


def _tri_indices(
    op: str, row: int, col: int, offset: int, dtype: DTypeLike | None, device: Any, lower: bool
) -> Tensor:
    from .factories import _new

    if int(row) < 0 or int(col) < 0:
        raise ValueError(f"{op}: row and col must be non-negative, got {row} and {col}")
    r, c = np.tril_indices(row, offset, col) if lower else np.triu_indices(row, offset, col)
    dt = np.dtype(np.int64 if dtype is None else dtype)
    return _new(np.stack([r, c]).astype(dt).reshape(2, -1), device, False)


def tril_indices(
    row: int,
    col: int,
    offset: int = 0,
    *,
    dtype: DTypeLike | None = None,
    device: Any = None,
    layout: Any = None,
) -> Tensor:
    """The (2, N) coordinates of the lower triangle of a ``row`` x ``col`` matrix (on and below
    diagonal ``offset``), row by row, as torch.tril_indices (int64 unless ``dtype``)."""
    return _tri_indices("tril_indices", row, col, offset, dtype, device, True)


def triu_indices(
    row: int,
    col: int,
    offset: int = 0,
    *,
    dtype: DTypeLike | None = None,
    device: Any = None,
    layout: Any = None,
) -> Tensor:
    """The (2, N) coordinates of the upper triangle of a ``row`` x ``col`` matrix (on and above
    diagonal ``offset``), row by row, as torch.triu_indices (int64 unless ``dtype``)."""
    return _tri_indices("triu_indices", row, col, offset, dtype, device, False)


def _tile_method(self: Tensor, *dims: int | Sequence[int]) -> Tensor:
    return tile(self, _unpack(dims))
