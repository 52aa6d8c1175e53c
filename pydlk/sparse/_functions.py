"""The differentiable steps between sparse and dense: building a sparse tensor from values,
``to_dense``, ``to_sparse``, ``coalesce``, ``values()``, and the elementwise ops torch allows
on a sparse tensor (scale by a number, add two, transpose, cast and move).

Each is a ``Function`` on arrays (``SparseCOO`` for the sparse side). A gradient reaching a
sparse tensor is a ``SparseCOO`` or a dense array (``torch.mm`` gives a dense one, as torch
does); ``_coo.gather`` reads either at a pattern's indices.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from . import _coo
from ._coo import SparseCOO


class FromValues(Function):
    """``sparse_coo_tensor(indices, values)``: the values' gradient is the sparse gradient read
    at each stored index (torch's SparseCooTensorWithDimsAndTensorsBackward)."""

    @staticmethod
    def forward(ctx, values, indices, shape, coalesced):
        ctx.indices, ctx.shape = indices, shape
        return SparseCOO(indices, values, shape, coalesced)

    @staticmethod
    def backward(ctx, g):
        return _coo.gather(g, ctx.indices, ctx.shape), None, None, None


class ToDense(Function):
    """``to_dense()``: the gradient is the dense gradient masked to the input's pattern, a
    sparse tensor (torch's ``masked_grad=True``), else the dense gradient."""

    @staticmethod
    def forward(ctx, sp, masked):
        ctx.pattern, ctx.masked = sp, masked
        return _coo.to_dense(sp)

    @staticmethod
    def backward(ctx, g):
        return (_coo.mask_like(g, ctx.pattern) if ctx.masked else g), None


class ToSparse(Function):
    """``to_sparse(sparse_dim)`` of a dense tensor: the gradient back as a dense array."""

    @staticmethod
    def forward(ctx, a, sparse_dim):
        return _coo.from_dense(a, sparse_dim)

    @staticmethod
    def backward(ctx, g):
        return _coo.densify(g), None


class Coalesce(Function):
    """``coalesce()``: the same tensor, so the gradient passes through."""

    @staticmethod
    def forward(ctx, sp):
        out = _coo.coalesce(sp)
        if out is sp:  # already coalesced: a new array object all the same (a new Tensor)
            out = SparseCOO(sp.indices, sp.values, sp.shape, True)
        return out

    @staticmethod
    def backward(ctx, g):
        return g


class Values(Function):
    """``values()`` of a coalesced tensor: the gradient is sparse with its indices."""

    @staticmethod
    def forward(ctx, sp):
        ctx.pattern = sp
        return sp.values

    @staticmethod
    def backward(ctx, g):
        return ctx.pattern.with_values(g)


class Scale(Function):
    """``sparse * c`` (and ``/ c``, ``-sparse``) for a Python number ``c``."""

    @staticmethod
    def forward(ctx, sp, c):
        ctx.c = c
        v = sp.values * c
        return sp.with_values(v.astype(sp.dtype, copy=False) if sp.dtype.kind in "fc" else v)

    @staticmethod
    def backward(ctx, g):
        return _coo.scale(g, ctx.c), None


class Add(Function):
    """``a + alpha * b`` of two sparse tensors of one shape."""

    @staticmethod
    def forward(ctx, a, b, alpha):
        ctx.alpha = alpha
        if alpha != 1:
            b = b.with_values(b.values * alpha)
        return _coo.add(a, b)

    @staticmethod
    def backward(ctx, g):
        return g, _coo.scale(g, ctx.alpha), None


class Transpose(Function):
    """``transpose(d0, d1)`` of two sparse dims (``t()`` of a matrix)."""

    @staticmethod
    def forward(ctx, sp, d0, d1):
        ctx.dims = d0, d1
        return _coo.transpose(sp, d0, d1)

    @staticmethod
    def backward(ctx, g):
        return _coo.transpose(g, *ctx.dims), None, None


def _move(a, device):
    from ..ops.conversions import _move as move

    return move(a, device)


class ToDtypeDevice(Function):
    """``to(dtype)`` / ``to(device)``: values cast, indices and values moved; the gradient goes
    back to the input's dtype and device."""

    @staticmethod
    def forward(ctx, sp, dtype, device):
        ctx.dtype, ctx.device = sp.dtype, _coo.device_str(sp)
        indices, values = sp.indices, sp.values
        if device is not None and device != ctx.device:
            indices, values = _move(indices, device), _move(values, device)
        if dtype is not None:
            values = values.astype(dtype)
        return SparseCOO(indices, values, sp.shape, sp.coalesced)

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, SparseCOO):
            out = SparseCOO(
                _move(g.indices, ctx.device),
                _move(g.values, ctx.device).astype(ctx.dtype, copy=False),
                g.shape,
                g.coalesced,
            )
        else:
            out = _move(g, ctx.device).astype(ctx.dtype, copy=False)
        return out, None, None


class Clone(Function):
    """``clone()``: new arrays, the gradient passes through."""

    @staticmethod
    def forward(ctx, sp):
        return sp.copy()

    @staticmethod
    def backward(ctx, g):
        return g


def as_int64_indices(xp, a, op):
    """Indices as int64, refusing non-integer ones."""
    if a.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: indices must be an integer tensor (torch.int64), got {a.dtype}; "
            "indices are positions, (sparse_dim, nnz)"
        )
    return a.astype(np.int64, copy=False)
