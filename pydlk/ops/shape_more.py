"""More of torch's shape ops, built on the differentiable ones so that their gradients hold to
any order: atleast_1d/2d/3d, column_stack, row_stack, dstack, tensor_split, hsplit, vsplit,
dsplit, split_with_sizes, ravel, select, take, fliplr, flipud, diag_embed, diagflat,
combinations, unravel_index, broadcast_tensors, broadcast_shapes, narrow_copy, the
``*_scatter`` family (select_scatter, slice_scatter, diagonal_scatter: a copy of the input
with ``src`` written into one slice), and unsafe_chunk / unsafe_split (chunk and split: pydlk
has no views to make unsafe).
"""

from __future__ import annotations

import builtins as _b
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module
from .._size import Size
from ..autograd import Function, Tensor
from ._helpers import _arr, _dim, _nograd, _o, _t, _unpack
from .diagonal import Diagonal, DiagonalScatter
from .indexing import Index
from .joining import Split, cat, chunk, hstack, split, vstack
from .selection import narrow
from .shape import clone, expand, flip, reshape


def _tensors(args: tuple[Any, ...]) -> tuple[list[Tensor], bool]:
    """``f(x)``, ``f(x, y)`` or ``f([x, y])``: the tensors, and whether one came alone."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return [_t(a) for a in args[0]], False
    return [_t(a) for a in args], len(args) == 1


def _atleast(args: tuple[Any, ...], n: int) -> Tensor | tuple[Tensor, ...]:
    ts, single = _tensors(args)
    out = []
    for t in ts:
        if t.ndim < n:
            if n == 3 and t.ndim == 2:
                t = reshape(t, (*t.shape, 1))
            elif n == 3 and t.ndim == 1:
                t = reshape(t, (1, t.shape[0], 1))
            else:
                t = reshape(t, (1,) * (n - t.ndim) + tuple(t.shape))
        out.append(t)
    return out[0] if single else tuple(out)


def atleast_1d(*tensors: Any) -> Tensor | tuple[Tensor, ...]:
    """Each tensor with at least one dim (a 0-d one becomes shape (1,)); one tensor in, one
    out, several (or a list) in, a tuple out, as torch.atleast_1d."""
    return _atleast(tensors, 1)


def atleast_2d(*tensors: Any) -> Tensor | tuple[Tensor, ...]:
    """Each tensor with at least two dims (leading 1s added), as torch.atleast_2d."""
    return _atleast(tensors, 2)


def atleast_3d(*tensors: Any) -> Tensor | tuple[Tensor, ...]:
    """Each tensor with at least three dims as torch.atleast_3d: () -> (1, 1, 1),
    (n,) -> (1, n, 1), (m, n) -> (m, n, 1)."""
    return _atleast(tensors, 3)


def _seq(tensors: Any, op: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: tensors must be a list or tuple of tensors")
    if not tensors:
        raise RuntimeError(f"{op}: expects a non-empty list of tensors")
    return [_t(t) for t in tensors]


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """The tensors side by side as columns: 0-d and 1-d ones become (n, 1) columns, then
    concatenated along dim 1 (torch.column_stack)."""
    ts = _seq(tensors, "column_stack")
    return hstack([reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in ts])


def row_stack(tensors: Sequence[Tensor]) -> Tensor:
    """torch.row_stack, an alias of vstack: 1-d tensors as rows, concatenated along dim 0."""
    return vstack(_seq(tensors, "row_stack"))


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """The tensors made at least 3-d (``atleast_3d``), concatenated along dim 2."""
    ts = _seq(tensors, "dstack")
    return cat(list(_atleast((ts,), 3)), 2)


def _slices(t: Tensor, d: int, bounds: Sequence[int]) -> tuple[Tensor, ...]:
    """``t[..., a:b, ...]`` along dim ``d`` between consecutive ``bounds`` (Python slicing:
    negative bounds count from the end, a decreasing pair gives an empty piece)."""
    pre = (slice(None),) * d
    out = []
    for a, b in itertools.pairwise([0, *bounds, None]):
        out.append(Index.apply(t, (*pre, slice(a, b))))
    return tuple(out)


def tensor_split(
    input: Tensor, indices_or_sections: int | Sequence[int] | Tensor, dim: int = 0
) -> tuple[Tensor, ...]:
    """Split ``input`` along ``dim`` into ``n`` nearly equal pieces (an int: the first
    ``size % n`` pieces one longer) or at the given indices (a list or 1-d integer tensor;
    slicing rules: negative indices count from the end), as torch.tensor_split."""
    input = _t(input)
    if input.ndim == 0:
        raise RuntimeError(
            "tensor_split: expected at least a 1-dimensional tensor, but got a tensor with 0 dims"
        )
    d = _dim(dim, input.ndim, "tensor_split")
    s = _arr(indices_or_sections)
    if hasattr(s, "dtype"):
        if s.dtype.kind not in "iu" or s.ndim > 1:
            raise RuntimeError(
                "tensor_split: tensor_indices_or_sections must be a zero-dimensional or "
                f"one-dimensional integer tensor, got dtype {s.dtype} with {s.ndim} dims"
            )
        s = int(s) if s.ndim == 0 else [int(v) for v in s.tolist()]
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        if s <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {s}")
        n = input.shape[d]
        sections = [n // s + 1] * (n % s) + [n // s] * (s - n % s)
        return Split.apply(input, sections, d)
    try:
        idx = [int(v) for v in s]
    except TypeError:
        raise TypeError(
            "tensor_split: indices_or_sections must be an int, a sequence of ints or an "
            f"integer tensor, got {type(indices_or_sections).__name__}"
        ) from None
    return _slices(input, d, idx)


def _even_split(
    input: Tensor, sections: int | Sequence[int], d: int, op: str, need: int
) -> tuple[Tensor, ...]:
    input = _t(input)
    if input.ndim < need:
        raise RuntimeError(
            f"torch.{op} requires a tensor with at least {need} dimension, but got a tensor "
            f"with {input.ndim} dimensions!"
        )
    if isinstance(sections, (int, np.integer)) and not isinstance(sections, bool):
        n = input.shape[d]
        if sections == 0 or n % sections:
            raise RuntimeError(
                f"torch.{op} attempted to split along dimension {d}, but the size of the "
                f"dimension {n} is not divisible by the split_size {sections}!"
            )
    return tensor_split(input, sections, d)


def hsplit(input: Tensor, indices_or_sections: int | Sequence[int]) -> tuple[Tensor, ...]:
    """tensor_split along dim 1 (dim 0 for a 1-d tensor); an int must divide that dim."""
    input = _t(input)
    return _even_split(input, indices_or_sections, 1 if input.ndim > 1 else 0, "hsplit", 1)


def vsplit(input: Tensor, indices_or_sections: int | Sequence[int]) -> tuple[Tensor, ...]:
    """tensor_split along dim 0 of a tensor of at least 2 dims; an int must divide dim 0."""
    return _even_split(input, indices_or_sections, 0, "vsplit", 2)


def dsplit(input: Tensor, indices_or_sections: int | Sequence[int]) -> tuple[Tensor, ...]:
    """tensor_split along dim 2 of a tensor of at least 3 dims; an int must divide dim 2."""
    return _even_split(input, indices_or_sections, 2, "dsplit", 3)


def split_with_sizes(input: Tensor, split_sizes: Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of the listed sizes along ``dim`` (they must sum to its size), as split with a
    list."""
    if isinstance(split_sizes, (int, np.integer)):
        raise TypeError("split_with_sizes: split_sizes must be a sequence of ints")
    return split(input, list(split_sizes), dim)


def unsafe_split(
    tensor: Tensor, split_size: int | Sequence[int], dim: int = 0
) -> tuple[Tensor, ...]:
    """torch.unsafe_split: split (pydlk's pieces are safe to modify in place anyway)."""
    return split(tensor, split_size, dim)


def unsafe_chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """torch.unsafe_chunk: chunk."""
    return chunk(input, chunks, dim)


def ravel(input: Tensor) -> Tensor:
    """The elements as a 1-d tensor in C order (torch.ravel)."""
    return reshape(_t(input), -1)


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """``input[..., index, ...]`` along ``dim``, that dim removed; IndexError out of range."""
    input = _t(input)
    if input.ndim == 0:
        raise IndexError("select: select() cannot be applied to a 0-dim tensor.")
    d = _dim(dim, input.ndim, "select")
    n = input.shape[d]
    i = int(index)
    if not -n <= i < n:
        raise IndexError(
            f"select: index {i} out of range for tensor of size {tuple(input.shape)} at "
            f"dimension {d}"
        )
    return Index.apply(input, (slice(None),) * d + (i % n,))


def _flat_index(index: Any, numel: int, op: str) -> Any:
    idx = _arr(index)
    if not hasattr(idx, "dtype") or idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer (int64) tensor")
    if idx.size and (int(idx.min()) < -numel or int(idx.max()) >= numel):
        bad = int(idx.max()) if int(idx.max()) >= numel else int(idx.min())
        raise IndexError(
            f"{op}: out of range: tried to access index {bad} on a tensor of {numel} elements."
        )
    return idx


def take(input: Tensor, index: Tensor) -> Tensor:
    """The elements of ``input`` (as if flattened) at ``index``, in index's shape (negative
    indices count from the end); the gradient adds back to the taken places."""
    input = _t(input)
    idx = _flat_index(index, input.numel(), "take")
    xp = get_array_module(input._data)
    return Index.apply(reshape(input, -1), xp.asarray(idx))


def fliplr(input: Tensor) -> Tensor:
    """Reverse dim 1 (left/right) of a tensor of at least 2 dims."""
    input = _t(input)
    if input.ndim < 2:
        raise RuntimeError("fliplr: input tensor must be >= 2-d")
    return flip(input, (1,))


def flipud(input: Tensor) -> Tensor:
    """Reverse dim 0 (up/down) of a tensor of at least 1 dim."""
    input = _t(input)
    if input.ndim < 1:
        raise RuntimeError("flipud: input tensor must be >= 1-d")
    return flip(input, (0,))


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """A tensor whose ``offset`` diagonals over (dim1, dim2) hold input's last dim, zeros
    elsewhere (torch.diag_embed; dims index the output, which has one dim more)."""
    input = _t(input)
    d1 = _dim(dim1, input.ndim, "diag_embed", 1)
    d2 = _dim(dim2, input.ndim, "diag_embed", 1)
    if d1 == d2:
        raise RuntimeError(f"diag_embed: diagonal dimensions cannot be identical {dim1}, {dim2}")
    if input.ndim == 0:
        input = reshape(input, 1)
    m = input.shape[-1] + abs(int(offset))
    batch = list(input.shape[:-1])
    shape = []
    for i in range(len(batch) + 2):
        shape.append(m if i in (d1, d2) else batch.pop(0))
    return DiagonalScatter.apply(input, tuple(shape), int(offset), d1, d2)


def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """A 2-d tensor with the flattened input on its ``offset`` diagonal (torch.diagflat)."""
    return diag_embed(reshape(_t(input), -1), offset, 0, 1)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-``r`` combinations of the elements of a 1-d tensor, one per row, in
    itertools.combinations (or combinations_with_replacement) order; differentiable."""
    input = _t(input)
    if input.ndim != 1:
        raise RuntimeError(f"combinations: Expect a 1D vector, but got shape {tuple(input.shape)}")
    if r < 0:
        raise RuntimeError(f"combinations: Expect a non-negative number, but got {r}")
    if r == 0:
        return _nograd(get_array_module(input._data).zeros((0,), input.dtype))
    f = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = list(f(range(input.shape[0]), r))
    idx = np.asarray(rows, np.int64).reshape(len(rows), r)
    return Index.apply(input, get_array_module(input._data).asarray(idx))


def unravel_index(indices: Tensor | int, shape: int | Sequence[int]) -> tuple[Tensor, ...]:
    """The coordinates in ``shape`` of each flat (C-order) index, one int64 tensor per dim
    (negative indices count from the end), as torch.unravel_index."""
    a = _arr(indices)
    if isinstance(a, bool) or getattr(getattr(a, "dtype", None), "kind", "i") not in "iu":
        raise TypeError("unravel_index: expected 'indices' to be an integer tensor")
    if isinstance(a, (float, complex)):
        raise TypeError("unravel_index: expected 'indices' to be an integer tensor")
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if _b.any(s < 0 for s in shape):
        raise ValueError(f"unravel_index: 'shape' cannot have negative values, got {shape}")
    xp = get_array_module(a)
    a = xp.asarray(a, dtype=np.int64)
    n = int(np.prod(shape, dtype=np.int64))
    if a.size and (int(a.min()) < -n or int(a.max()) >= n):
        raise RuntimeError(
            f"unravel_index: 'indices' must be in range [-{n}, {n - 1}] for shape {shape}"
        )
    a = xp.where(a < 0, a + n, a)
    out = []
    for s in reversed(shape):
        out.append(a % s if s else a * 0)
        a = a // s if s else a
    return tuple(_nograd(_o(c)) for c in reversed(out))


def broadcast_shapes(*shapes: int | Sequence[int]) -> Size:
    """The shape that tensors of ``shapes`` broadcast to, as a pydlk.Size; RuntimeError when
    they do not broadcast."""
    sh = [
        (int(s),) if isinstance(s, (int, np.integer)) else tuple(int(v) for v in s) for s in shapes
    ]
    try:
        return Size(np.broadcast_shapes(*sh))
    except ValueError:
        raise RuntimeError(f"broadcast_shapes: shapes {sh} cannot be broadcast together") from None


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The tensors expanded to their common broadcast shape (gradients summed back)."""
    ts = [_t(t) for t in _unpack(tensors)]
    try:
        shape = np.broadcast_shapes(*(tuple(t.shape) for t in ts))
    except ValueError:
        raise RuntimeError(
            f"broadcast_tensors: shapes {[tuple(t.shape) for t in ts]} cannot be broadcast together"
        ) from None
    return tuple(t if tuple(t.shape) == shape else expand(t, shape) for t in ts)


def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """narrow, as a copy (torch.narrow_copy)."""
    return clone(narrow(input, dim, start, length))


# -- the *_scatter family: a copy of ``a`` with ``src`` written into one part of it. A part is
# ("key", key) for a basic index, or ("diag", offset, dim1, dim2) for a diagonal.


def _get(a: Any, part: tuple[Any, ...]) -> Any:
    if part[0] == "key":
        return _o(a[part[1]])
    return get_array_module(a).diagonal(a, *part[1:])


def _set(a: Any, part: tuple[Any, ...], v: Any) -> None:
    if part[0] == "key":
        a[part[1]] = v
        return
    offset, d1, d2 = part[1:]
    xp = get_array_module(a)
    n = min(a.shape[d1] + min(offset, 0), a.shape[d2] - max(offset, 0))
    if n > 0:
        i = xp.arange(n)
        xp.moveaxis(a, (d1, d2), (-2, -1))[..., i + max(-offset, 0), i + max(offset, 0)] = v


class PartScatter(Function):
    """A copy of ``a`` with ``src`` written into ``part``: the gradient of ``a`` is ``g`` with
    that part zeroed, and ``src``'s is ``g``'s part (both linear in g: any order)."""

    @staticmethod
    def forward(ctx, a, src, part):
        ctx.part = part
        out = a.copy()
        _set(out, part, src)
        return out

    @staticmethod
    def backward(ctx, g):
        ga = gs = None
        if ctx.needs_input_grad[0]:
            ga = g.copy()
            _set(ga, ctx.part, 0)
        if ctx.needs_input_grad[1]:
            gs = _get(g, ctx.part).copy()
        return ga, gs, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        ga = gs = None
        part = ctx.part
        if ctx.needs_input_grad[0]:
            keep = get_array_module(g._data).ones(g.shape, g.dtype)
            _set(keep, part, 0)
            ga = g * keep
        if ctx.needs_input_grad[1]:
            gs = Index.apply(g, part[1]) if part[0] == "key" else Diagonal.apply(g, *part[1:])
        return ga, gs, None


def _scatter_part(input: Any, src: Any, part: tuple[Any, ...], op: str) -> Tensor:
    input, src = _t(input), _t(src)
    want = tuple(_get(input._data, part).shape)
    if tuple(src.shape) != want:
        raise RuntimeError(
            f"{op}: expected src to have a size equal to the slice of self. src size = "
            f"{list(src.shape)}, slice size = {list(want)}"
        )
    if src.dtype != input.dtype:
        src = src.to(input.dtype)
    return PartScatter.apply(input, src, part)


def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """A copy of input with ``src`` written at ``index`` along ``dim`` (src has input's shape
    without that dim); gradients go to both."""
    input = _t(input)
    if input.ndim == 0:
        raise IndexError("select_scatter: cannot be applied to a 0-dim tensor")
    d = _dim(dim, input.ndim, "select_scatter")
    n = input.shape[d]
    if not -n <= int(index) < n:
        raise IndexError(
            f"select_scatter: index {index} out of range for tensor of size "
            f"{tuple(input.shape)} at dimension {d}"
        )
    return _scatter_part(
        input, src, ("key", (slice(None),) * d + (int(index) % n,)), "select_scatter"
    )


def slice_scatter(
    input: Tensor,
    src: Tensor,
    dim: int = 0,
    start: int | None = None,
    end: int | None = None,
    step: int = 1,
) -> Tensor:
    """A copy of input with ``src`` written into ``input[..., start:end:step, ...]`` along
    ``dim``; gradients go to both."""
    input = _t(input)
    d = _dim(dim, input.ndim, "slice_scatter")
    if step <= 0:
        raise RuntimeError(f"slice_scatter: slice step must be positive, got {step}")
    key = (slice(None),) * d + (slice(start, end, step),)
    return _scatter_part(input, src, ("key", key), "slice_scatter")


def diagonal_scatter(
    input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1
) -> Tensor:
    """A copy of input with ``src`` written onto its ``offset`` diagonal over (dim1, dim2)
    (src shaped as ``diagonal(input, offset, dim1, dim2)``); gradients go to both."""
    input = _t(input)
    d1 = _dim(dim1, input.ndim, "diagonal_scatter")
    d2 = _dim(dim2, input.ndim, "diagonal_scatter")
    if d1 == d2:
        raise RuntimeError(
            f"diagonal_scatter: diagonal dimensions cannot be identical {dim1}, {dim2}"
        )
    return _scatter_part(input, src, ("diag", int(offset), d1, d2), "diagonal_scatter")


__all__ = [
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "column_stack",
    "row_stack",
    "dstack",
    "tensor_split",
    "hsplit",
    "vsplit",
    "dsplit",
    "split_with_sizes",
    "unsafe_split",
    "unsafe_chunk",
    "ravel",
    "select",
    "take",
    "fliplr",
    "flipud",
    "diag_embed",
    "diagflat",
    "combinations",
    "unravel_index",
    "broadcast_shapes",
    "broadcast_tensors",
    "narrow_copy",
    "select_scatter",
    "slice_scatter",
    "diagonal_scatter",
]

TENSOR_METHODS = {
    name: globals()[name]
    for name in (
        "ravel",
        "select",
        "take",
        "tensor_split",
        "hsplit",
        "vsplit",
        "dsplit",
        "split_with_sizes",
        "unsafe_split",
        "unsafe_chunk",
        "fliplr",
        "flipud",
        "diag_embed",
        "diagflat",
        "narrow_copy",
        "select_scatter",
        "slice_scatter",
        "diagonal_scatter",
    )
}
