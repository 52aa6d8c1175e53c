"""Joining and splitting: cat, stack, split, chunk, unbind."""

from __future__ import annotations

import builtins as _b
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module
from .._typing import _size
from ..autograd import Function, Tensor
from ._helpers import _axis_alias, _dim, _t, _xp
from ._promotion import result_type
from .shape import Reshape, reshape


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] for a in arrays]
        ctx.dtypes = [a.dtype for a in arrays]
        return _xp(*arrays).concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        bounds = np.cumsum(ctx.sizes)[:-1].tolist()
        parts = xp.split(g, bounds, axis=ctx.dim)
        return (None,) + tuple(
            p.astype(d, copy=False) if ctx.needs_input_grad[i + 1] else None
            for i, (p, d) in enumerate(zip(parts, ctx.dtypes))
        )

    @staticmethod
    def backward_graph(ctx, inputs, g):
        # the same split as recorded ops (Split's own backward_graph is a Cat), so gradients
        # through cat/stack (a conditional critic's label channels) differentiate again
        parts = Split.apply(g, ctx.sizes, ctx.dim)
        return (None,) + tuple(
            (p if p.dtype == d else p.to(d)) if ctx.needs_input_grad[i + 1] else None
            for i, (p, d) in enumerate(zip(parts, ctx.dtypes))
        )


def _seq(tensors: Any, op: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if len(tensors) == 0:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    return [_t(x) for x in tensors]


def _promoted(ts: list[Tensor]) -> list[Tensor]:
    """The tensors cast (differentiably) to their torch.result_type: float32 with int64 joins
    as float32, uint8 with int8 as int16 (NumPy's concatenate would give float64 and int16)."""
    dt = ts[0].dtype
    if all(x.dtype == dt for x in ts):
        return ts
    res = result_type(*(x._data for x in ts))
    return ts if res is None else [x if x.dtype == res else x.to(res) for x in ts]


@_axis_alias
def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate tensors along an existing dim ``dim`` (in their torch.result_type: float32
    with int64 gives float32). Also named ``concat`` and ``concatenate``. Raises ValueError
    for an empty list, 0-d tensors, or sizes that differ outside ``dim``.
    """
    ts = _seq(tensors, "cat")
    n = ts[0].ndim
    if n == 0:
        raise ValueError("cat: zero-dimensional tensor 0 cannot be concatenated")
    d = _dim(dim, n, "cat")
    ref = ts[0].shape
    for i, x in enumerate(ts[1:], 1):
        if x.ndim != n:
            raise ValueError(f"cat: tensor {i} has {x.ndim} dimensions, tensor 0 has {n}")
        for j in range(n):
            if j != d and x.shape[j] != ref[j]:
                raise ValueError(
                    f"cat: sizes of tensors must match except in dimension {d}; "
                    f"tensor {i} has size {x.shape[j]} in dimension {j}, "
                    f"expected {ref[j]} (shapes {tuple(ref)} and {tuple(x.shape)})"
                )
    return Cat.apply(d, *_promoted(ts))


@_axis_alias
def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dim ``dim`` (in their torch.result_type). Raises
    ValueError if the shapes differ."""
    ts = _seq(tensors, "stack")
    ref = ts[0].shape
    for i, x in enumerate(ts[1:], 1):
        if x.shape != ref:
            raise ValueError(
                f"stack: all tensors must have the same shape; tensor {i} has "
                f"shape {tuple(x.shape)}, tensor 0 has {tuple(ref)}"
            )
    d = _dim(dim, len(ref), "stack", extra=1)
    return Cat.apply(d, *[Reshape.apply(x, ref[:d] + (1,) + ref[d:]) for x in _promoted(ts)])


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate along dim 1 (dim 0 for 1-d tensors), as torch.hstack."""
    ts = _seq(tensors, "hstack")
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate along dim 0, treating 1-d tensors as rows (1, n)."""
    ts = [x if x.ndim >= 2 else reshape(x, 1, -1) for x in _seq(tensors, "vstack")]
    return cat(ts, 0)


class Split(Function):
    """Views of consecutive pieces along ``dim``; the backward concatenates their gradients
    (zeros for pieces that received none)."""

    @staticmethod
    def forward(ctx, a, sections, dim):
        ctx.dim = dim
        bounds = np.cumsum(sections)[:-1].tolist()
        return tuple(get_array_module(a).split(a, bounds, axis=dim))

    @staticmethod
    def backward(ctx, *gs):
        return get_array_module(gs[0]).concatenate(gs, axis=ctx.dim), None, None

    @staticmethod
    def backward_graph(ctx, inputs, *gs):
        return Cat.apply(ctx.dim, *gs), None, None


def split(tensor: Tensor, split_size_or_sections: int | _size, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces along ``dim``: of size ``split_size_or_sections`` (an int; the last may be smaller)
    or of the listed sizes. Raises ValueError for a non-positive size or sizes that do not
    sum to the dim's size.
    """
    tensor = _t(tensor)
    d = _dim(dim, tensor.ndim, "split")
    n = tensor.shape[d] if tensor.ndim else 1
    s = split_size_or_sections
    if isinstance(s, (int, np.integer)):
        if s <= 0 and not (s == 0 and n == 0):
            raise ValueError(f"split: split_size must be positive, got {s}")
        sections = [s] * (n // s) + ([n % s] if n % s else []) if s else [0]
    else:
        sections = [int(v) for v in s]
        if _b.any(v < 0 for v in sections) or _b.sum(sections) != n:
            raise ValueError(
                f"split: sections {sections} must be non-negative and sum to the "
                f"size {n} of dimension {d}"
            )
    return Split.apply(tensor, sections, d)


def _split_method(self: Tensor, split_size: int | _size, dim: int = 0) -> tuple[Tensor, ...]:
    return split(self, split_size, dim)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Up to ``chunks`` pieces of ceil(n / chunks) along ``dim`` (fewer if n is small)."""
    input = _t(input)
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    d = _dim(dim, input.ndim, "chunk")
    n = input.shape[d]
    return split(input, _b.max(-(-n // chunks), 1) if n else 0, d)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, as a tuple of tensors with that dim removed."""
    input = _t(input)
    d = _dim(dim, input.ndim, "unbind")
    rest = input.shape[:d] + input.shape[d + 1 :]
    return tuple(Reshape.apply(p, rest) for p in split(input, 1, d))


concat = concatenate = cat


def meshgrid(*tensors: Tensor, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids from 1-d tensors: ``indexing='ij'`` (matrix, torch's default) or
    ``'xy'`` (Cartesian). As torch 2.x, leaving indexing out warns that it will be required."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        import warnings

        warnings.warn(
            "torch.meshgrid: in an upcoming release, it will be required to pass the "
            "indexing argument.",
            UserWarning,
            stacklevel=2,
        )
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [_t(x) for x in tensors]
    if not ts:
        raise ValueError("meshgrid: expects a non-empty list of tensors")
    for i, x in enumerate(ts):
        if x.ndim > 1:
            raise ValueError(f"meshgrid: tensor {i} must be 0-d or 1-d, got {x.ndim} dims")
        if x.dtype != ts[0].dtype:
            raise TypeError(
                f"meshgrid: all tensors must have the same dtype, got {ts[0].dtype} and {x.dtype}"
            )
    ts = [reshape(x, (-1,)) for x in ts]
    n = len(ts)
    swap = indexing == "xy" and n >= 2
    order = [1, 0] + list(range(2, n)) if swap else list(range(n))
    shape = tuple(ts[i].shape[0] for i in order)
    from .shape import expand

    out = []
    for i, x in enumerate(ts):
        pos = order.index(i)
        v = reshape(x, tuple(-1 if j == pos else 1 for j in range(n)))
        out.append(expand(v, shape))
    return tuple(out)
