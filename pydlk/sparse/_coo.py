"""The array a sparse COO Tensor holds, and the index arithmetic on it.

``SparseCOO`` stands where a dense Tensor's ``_data`` holds a NumPy (or CuPy) array: indices
``(sparse_dim, nnz)`` int64, values ``(nnz, *dense_shape)``, the full ``shape`` and whether the
indices are known to be coalesced (sorted row-major, no duplicates). Everything here is
array-module generic (``xp`` is NumPy or CuPy): segment sums are scatter-adds
(``np.add.at``, ``cupyx.scatter_add``), grouping is a sort of linearised indices.

The autograd engine treats a ``SparseCOO`` gradient as an opaque array: it reads ``shape`` and
``dtype``, copies it (``copy``/``astype``) and adds two gradients of one tensor (``+``; a dense
and a sparse gradient add to a dense one).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy, ufunc_at


def scatter_add(xp: Any, out: Any, index: Any, values: Any) -> None:
    """``out[index] += values`` with repeated indices accumulating (in place)."""
    ufunc_at("add", out, index, values)


def scatter_max(xp: Any, out: Any, index: Any, values: Any) -> None:
    """``out[index] = max(out[index], values)`` with repeated indices (in place)."""
    ufunc_at("maximum", out, index, values)


class SparseCOO:
    """A sparse COO array: ``indices`` (sparse_dim, nnz) int64, ``values`` (nnz, *dense),
    ``shape`` (the dense shape it stands for), ``coalesced`` (sorted, no duplicates)."""

    __slots__ = ("indices", "values", "shape", "coalesced")
    __array_priority__ = 1000  # CuPy's ``dense + sparse`` calls our __radd__ (NumPy's: ufunc)

    def __init__(self, indices: Any, values: Any, shape: tuple[int, ...], coalesced: bool = False):
        self.indices = indices
        self.values = values
        self.shape = tuple(int(n) for n in shape)
        self.coalesced = bool(coalesced)

    # -- what the engine and Tensor's metadata read ------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def sparse_dim(self) -> int:
        return int(self.indices.shape[0])

    @property
    def dense_dim(self) -> int:
        return self.values.ndim - 1

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[1])

    @property
    def xp(self) -> Any:
        return get_array_module(self.values)

    def with_values(self, values: Any, coalesced: bool | None = None) -> SparseCOO:
        """The same pattern with other values."""
        c = self.coalesced if coalesced is None else coalesced
        return SparseCOO(self.indices, values, self.shape, c)

    def copy(self) -> SparseCOO:
        return SparseCOO(self.indices.copy(), self.values.copy(), self.shape, self.coalesced)

    def astype(self, dtype: Any, copy: bool = True) -> SparseCOO:
        return self.with_values(self.values.astype(dtype, copy=copy))

    def __add__(self, other: Any) -> Any:
        if isinstance(other, SparseCOO):
            return add(self, other)
        return to_dense(self) + other

    def __radd__(self, other: Any) -> Any:
        return other + to_dense(self)

    # A dense op that meets a sparse tensor's array fails here with the op's name (NumPy's
    # ufuncs and functions); ``dense + sparse`` (a gradient of each kind) adds up densely.
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if ufunc is np.add and method == "__call__" and set(kwargs) <= {"out"}:
            xp = self.xp
            a, b = (to_dense(x) if isinstance(x, SparseCOO) else xp.asarray(x) for x in inputs)
            out = kwargs.get("out")
            return np.add(a, b, out=out[0]) if out else a + b
        raise _unsupported(ufunc.__name__)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        raise _unsupported(func.__name__)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"an op needed '{name}' of a dense array but got a sparse COO tensor's; "
            "sparse tensors support only the ops of pydlk.sparse: call .to_dense() first"
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            "can't convert a sparse COO tensor (layout pydlk.sparse_coo) to a NumPy array; "
            "use .to_dense() first"
        )

    def __repr__(self) -> str:
        return f"SparseCOO(shape={self.shape}, nnz={self.nnz}, dtype={self.dtype})"


def _unsupported(op: str) -> NotImplementedError:
    return NotImplementedError(
        f"{op}: not supported for sparse COO tensors (layout pydlk.sparse_coo); call "
        ".to_dense() first"
    )


def device_str(sp: SparseCOO) -> str:
    return f"cuda:{sp.values.device.id}" if is_cupy(sp.values) else "cpu"


def linear_index(xp: Any, indices: Any, sizes: tuple[int, ...]) -> Any:
    """Each column of ``indices`` as one row-major int64 number over ``sizes``."""
    lin = xp.zeros(indices.shape[1], dtype=np.int64)
    for d, n in enumerate(sizes):
        lin = lin * n + indices[d]
    return lin


def coalesce(sp: SparseCOO) -> SparseCOO:
    """Indices sorted row-major with duplicates summed (explicit zeros are kept, as torch)."""
    if sp.coalesced:
        return sp
    xp = sp.xp
    nnz = sp.nnz
    if nnz == 0:
        return SparseCOO(sp.indices, sp.values, sp.shape, True)
    lin = linear_index(xp, sp.indices, sp.shape[: sp.sparse_dim])
    order = xp.argsort(lin, kind="stable")
    lin = lin[order]
    first = xp.ones(nnz, dtype=bool)
    first[1:] = lin[1:] != lin[:-1]
    segment = xp.cumsum(first) - 1
    n_unique = int(segment[-1]) + 1
    values = xp.zeros((n_unique,) + sp.values.shape[1:], dtype=sp.values.dtype)
    scatter_add(xp, values, segment, sp.values[order])
    indices = sp.indices[:, order][:, first]
    return SparseCOO(indices, values, sp.shape, True)


def coalesced_indices(sp: SparseCOO) -> Any:
    """The indices ``coalesce(sp)`` has, without summing the values."""
    if sp.coalesced or sp.nnz == 0:
        return sp.indices
    xp = sp.xp
    lin = linear_index(xp, sp.indices, sp.shape[: sp.sparse_dim])
    _, first = xp.unique(lin, return_index=True)
    return sp.indices[:, first]


def to_dense(sp: SparseCOO) -> Any:
    """The dense array: each stored value added at its index (duplicates sum)."""
    xp = sp.xp
    out = xp.zeros(sp.shape, dtype=sp.dtype)
    if sp.nnz:
        scatter_add(xp, out, tuple(sp.indices), sp.values)
    return out


def from_dense(a: Any, sparse_dim: int) -> SparseCOO:
    """The nonzero entries (over the first ``sparse_dim`` dims) of a dense array, coalesced."""
    xp = get_array_module(a)
    if sparse_dim == a.ndim:
        mask = a != 0
    else:
        mask = xp.any(a != 0, axis=tuple(range(sparse_dim, a.ndim)))
    if sparse_dim == 0:  # one entry at no index: the whole array
        return SparseCOO(xp.zeros((0, 1), np.int64), a[None].copy(), a.shape, True)
    where = xp.nonzero(mask)
    indices = xp.stack([w.astype(np.int64) for w in where]) if where else None
    return SparseCOO(indices, a[where].copy(), a.shape, True)


def gather(g: Any, indices: Any, shape: tuple[int, ...]) -> Any:
    """The values of gradient ``g`` (dense array or SparseCOO of ``shape``) at the columns of
    ``indices``: ``(nnz, *dense_shape)``; 0 where a sparse ``g`` stores nothing."""
    if not isinstance(g, SparseCOO):
        return g[tuple(indices)]
    xp = get_array_module(g.values)
    g = coalesce(g)
    sizes = shape[: indices.shape[0]]
    out_shape = (indices.shape[1],) + g.values.shape[1:]
    if g.nnz == 0:
        return xp.zeros(out_shape, g.dtype)
    have = linear_index(xp, g.indices, sizes)
    want = linear_index(xp, indices, sizes)
    pos = xp.clip(xp.searchsorted(have, want), 0, g.nnz - 1)
    found = have[pos] == want
    vals = g.values[pos]
    mask = found.reshape((-1,) + (1,) * (vals.ndim - 1))
    return xp.where(mask, vals, xp.zeros((), vals.dtype))


def mask_like(g: Any, pattern: SparseCOO) -> SparseCOO:
    """``g`` restricted to the coalesced pattern of ``pattern`` (torch's ``sparse_mask``)."""
    idx = coalesced_indices(pattern)
    return SparseCOO(idx, gather(g, idx, pattern.shape), pattern.shape, False)


def scale(g: Any, c: Any) -> Any:
    """``g * c`` for a dense or sparse gradient."""
    if isinstance(g, SparseCOO):
        return g.with_values(g.values * c)
    return g * c


def add(a: SparseCOO, b: SparseCOO) -> SparseCOO:
    """``a + b``: coalesced when both are (duplicates summed), else the entries side by side."""
    xp = a.xp
    both = a.coalesced and b.coalesced
    out = SparseCOO(
        xp.concatenate([a.indices, b.indices], axis=1),
        xp.concatenate([a.values, b.values.astype(a.values.dtype, copy=False)]),
        a.shape,
        False,
    )
    return coalesce(out) if both else out


def transpose(g: Any, d0: int, d1: int) -> Any:
    """Dims ``d0`` and ``d1`` swapped, of a dense or sparse array (sparse: both sparse dims)."""
    if not isinstance(g, SparseCOO):
        return g.swapaxes(d0, d1)
    order = list(range(g.sparse_dim))
    order[d0], order[d1] = order[d1], order[d0]
    shape = list(g.shape)
    shape[d0], shape[d1] = shape[d1], shape[d0]
    return SparseCOO(g.indices[order], g.values, tuple(shape), g.nnz < 2 and g.coalesced)


def densify(g: Any) -> Any:
    """A gradient as a dense array."""
    return to_dense(g) if isinstance(g, SparseCOO) else g
