"""torch.sparse's ops: ``mm``, ``addmm``, ``sum``, ``softmax``, ``log_softmax`` (and the
sparse-times-dense products ``torch.mm``/``matmul``/``@``/``spmm``/``smm``/``hspmm``).

Products scatter-add ``value * dense_row`` into the output rows; reductions over stored
entries group the entries by their other coordinates (``unique`` of the linearised indices)
and reduce with scatter-adds and scatter-maxes, on NumPy or CuPy alike.
"""

from __future__ import annotations

import builtins
from typing import Any

from ..autograd import Function, Tensor, is_grad_enabled
from . import _coo
from ._coo import SparseCOO, scatter_add, scatter_max
from ._tensor import SparseTensor, _new, _sp


class SparseMM(Function):
    """sparse (n, m) @ dense (m, p) -> dense (n, p). The sparse operand's gradient is masked
    to its pattern (``torch.sparse.mm``, ``masked``) or dense (``torch.mm``), as torch."""

    @staticmethod
    def forward(ctx, sp, d, masked):
        xp = sp.xp
        rows, cols = sp.indices
        out = xp.zeros((sp.shape[0], d.shape[1]), dtype=sp.dtype)
        if sp.nnz:
            scatter_add(xp, out, rows, sp.values[:, None] * d[cols])
        ctx.sp, ctx.d, ctx.masked = sp, d, masked
        return out

    @staticmethod
    def backward(ctx, g):
        sp, d = ctx.sp, ctx.d
        xp = sp.xp
        gs = gd = None
        if ctx.needs_input_grad[1]:
            gd = xp.zeros_like(d)
            if sp.nnz:
                rows, cols = sp.indices
                scatter_add(xp, gd, cols, sp.values[:, None] * g[rows])
        if ctx.needs_input_grad[0]:
            if ctx.masked:  # <g @ d.T> at each stored index
                idx = _coo.coalesced_indices(sp)
                gs = SparseCOO(idx, (g[idx[0]] * d[idx[1]]).sum(axis=1), sp.shape, False)
            else:
                gs = g @ d.T
        return gs, gd, None


def _is_sparse(x: Any) -> bool:
    return isinstance(x, SparseTensor)


def _mm(a: Any, b: Any, op: str, masked: bool) -> Tensor:
    """``a @ b`` with one sparse COO matrix operand (the other dense)."""
    if _is_sparse(a) and _is_sparse(b):
        raise NotImplementedError(
            f"{op}: the product of two sparse tensors is not supported; call .to_dense() on one"
        )
    if not _is_sparse(a):  # dense @ sparse = (sparse.T @ dense.T).T
        if not isinstance(a, Tensor):
            a = Tensor(a)
        if a.ndim == 1:
            return _mm(b.t(), a, op, masked)
        if a.ndim != 2:
            raise RuntimeError(f"{op}: the dense operand must be 1-D or 2-D, got {a.ndim}-D")
        return _mm(b.t(), a.t(), op, masked).t()
    if not isinstance(b, Tensor):
        b = Tensor(b)
    sp = a._data
    if sp.sparse_dim != 2 or sp.dense_dim:
        raise RuntimeError(
            f"{op}: the sparse operand must be a matrix (2 sparse dims, 0 dense dims), got "
            f"{sp.sparse_dim} sparse and {sp.dense_dim} dense dims"
        )
    if b.ndim == 1:
        return _mm(a, b.unsqueeze(1), op, masked).squeeze(1)
    if b.ndim != 2:
        raise RuntimeError(f"{op}: the dense operand must be 1-D or 2-D, got {b.ndim}-D")
    if b.shape[0] != a.shape[1]:
        raise RuntimeError(
            f"{op}: shape mismatch, sparse {tuple(a.shape)} @ dense {tuple(b.shape)}: the dense "
            f"operand (mat2) must have {a.shape[1]} rows, got {b.shape[0]}"
        )
    if b.dtype != a.dtype:
        raise RuntimeError(
            f"{op}: expected both operands to have one dtype, got sparse {a.dtype} and dense "
            f"{b.dtype}; convert one with .to(dtype)"
        )
    if a.device != b.device:
        raise RuntimeError(
            f"{op}: expected all tensors to be on the same device, got {a.device} and {b.device}"
        )
    return SparseMM.apply(a, b, masked)


def mm(mat1: Tensor, mat2: Tensor, reduce: str | None = None) -> Tensor:
    """torch.sparse.mm: sparse COO (n, m) @ dense (m, p) -> dense (n, p). The sparse operand's
    gradient is a sparse tensor with its (coalesced) pattern, the dense one's dense, as torch.
    ``reduce`` other than None (torch's CSR-only 'sum'/'mean'/...) is refused."""
    if reduce is not None:
        raise NotImplementedError("sparse.mm: reduce= is supported only for CSR tensors in torch")
    if not _is_sparse(mat1):
        raise TypeError("sparse.mm: mat1 must be a sparse COO tensor (layout pydlk.sparse_coo)")
    return _mm(mat1, mat2, "sparse.mm", masked=True)


def addmm(
    mat: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1.0, alpha: float = 1.0
) -> Tensor:
    """torch.sparse.addmm: ``beta * mat + alpha * (mat1 @ mat2)``, mat1 sparse COO, mat and
    mat2 dense; gradients as ``sparse.mm``'s."""
    if not _is_sparse(mat1):
        raise TypeError("sparse.addmm: mat1 must be a sparse COO tensor (layout pydlk.sparse_coo)")
    return _addmm(mat, mat1, mat2, beta, alpha, "sparse.addmm", masked=True)


def _addmm(mat, mat1, mat2, beta, alpha, op, masked):
    if _is_sparse(mat):
        raise NotImplementedError(f"{op}: input (mat) must be dense")
    p = _mm(mat1, mat2, op, masked)
    if alpha != 1:
        p = p * alpha
    if beta == 0:  # input ignored (its NaNs too), as torch
        return p
    return p + (mat if beta == 1 else mat * beta)


def spmm(input: Tensor, mat2: Tensor) -> Tensor:
    """torch.spmm: ``torch.mm`` of a sparse COO matrix and a dense one (dense gradient for the
    sparse operand, as torch.mm)."""
    return _mm(input, mat2, "spmm", masked=False)


def _no_grad_product(op: str, a: Any, b: Any) -> Any:
    if is_grad_enabled() and any(isinstance(x, Tensor) and x.requires_grad for x in (a, b)):
        raise RuntimeError(f"{op}: the derivative is not implemented (nor is it in torch)")
    if not _is_sparse(a):
        raise TypeError(f"{op}: input must be a sparse COO tensor (layout pydlk.sparse_coo)")
    out = _mm(a, b, op, masked=False)._data
    rows = a._data.xp.unique(a._data.indices[0])
    return rows, out


def hspmm(mat1: Tensor, mat2: Tensor) -> SparseTensor:
    """torch.hspmm: sparse (n, m) @ dense (m, p) as a hybrid sparse tensor, one entry (a dense
    row of p values) per row of mat1 that stores anything. Not differentiable (as torch)."""
    rows, out = _no_grad_product("hspmm", mat1, mat2)
    return _new(SparseCOO(rows[None], out[rows], out.shape, True))


def smm(input: Tensor, mat: Tensor) -> SparseTensor:
    """torch.smm: sparse (n, m) @ dense (m, p) as a sparse (n, p) tensor storing every column of
    each row of ``input`` that stores anything. Not differentiable (as torch)."""
    rows, out = _no_grad_product("smm", input, mat)
    xp = input._data.xp
    p = out.shape[1]
    idx = xp.stack([xp.repeat(rows, p), xp.tile(xp.arange(p, dtype=rows.dtype), rows.size)])
    return _new(SparseCOO(idx, out[rows].reshape(-1), out.shape, True))


# ----------------------------------------------------------------------------- reductions


def _dims(op: str, dim: Any, ndim: int) -> tuple[int, ...]:
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -ndim <= d < ndim:
            raise IndexError(
                f"{op}: Dimension out of range (expected to be in range of [{-ndim}, "
                f"{ndim - 1}], but got {d})"
            )
        d = d % ndim
        if d in out:
            raise RuntimeError(f"{op}: dim {d} appears multiple times in the list of dims")
        out.append(d)
    return tuple(sorted(out))


class SparseSum(Function):
    """Sum over ``dims`` (None: all): dense when every sparse dim is summed, else sparse. The
    gradient is sparse with the coalesced input's pattern (torch's ``_sparse_sum_backward``)."""

    @staticmethod
    def forward(ctx, sp, dims):
        sp = _coo.coalesce(sp)
        sd = sp.sparse_dim
        dims = tuple(range(sp.ndim)) if dims is None else dims
        sdims = [d for d in dims if d < sd]
        vaxes = tuple(d - sd + 1 for d in dims if d >= sd)  # axes of the values array
        vals = sp.values.sum(axis=vaxes) if vaxes else sp.values
        keep = [d for d in range(sd) if d not in sdims]
        shape = tuple(n for d, n in enumerate(sp.shape) if d not in dims)
        ctx.sp, ctx.vaxes, ctx.keep, ctx.shape = sp, vaxes, keep, shape
        if not keep:
            return vals.sum(axis=0)
        return _coo.coalesce(SparseCOO(sp.indices[keep], vals, shape, not sdims))

    @staticmethod
    def backward(ctx, g):
        sp = ctx.sp
        xp = sp.xp
        if not ctx.keep:
            gv = _coo.densify(g)[None]
        else:
            gv = _coo.gather(g, sp.indices[ctx.keep], ctx.shape)
        if ctx.vaxes:
            gv = xp.expand_dims(gv, ctx.vaxes)
        gv = xp.ascontiguousarray(xp.broadcast_to(gv, sp.values.shape))
        return SparseCOO(sp.indices, gv.astype(sp.dtype, copy=False), sp.shape, True), None


def sum(input: Tensor, dim: Any = None, dtype: Any = None) -> Tensor:
    """torch.sparse.sum: the sum of the stored values over ``dim`` (an int or a tuple; None:
    all, a 0-d dense tensor). Summing every sparse dim gives a dense tensor, else a sparse one.
    ``dtype`` casts first. Differentiable; the gradient is sparse with the input's pattern."""
    if not _is_sparse(input):
        raise TypeError("sparse.sum: input must be a sparse COO tensor (layout pydlk.sparse_coo)")
    if dtype is not None:
        input = input.to(dtype)
    dims = None if dim is None else _dims("sparse.sum", dim, input.ndim)
    out = SparseSum.apply(input, dims)
    return _sp(out) if isinstance(out._data, SparseCOO) else out


class SparseSoftmax(Function):
    """softmax / log_softmax over the stored entries along ``dim``: entries that share every
    other sparse coordinate form a group (missing entries count as -inf); along a dense dim it
    is the ordinary softmax of the values."""

    @staticmethod
    def forward(ctx, sp, dim, log):
        sp = _coo.coalesce(sp)
        xp, v, sd = sp.xp, sp.values, sp.sparse_dim
        ctx.sp, ctx.log = sp, log
        if dim >= sd or sp.nnz == 0:
            ctx.grp = None
            ctx.axis = axis = max(dim - sd + 1, 0)
            z = v - v.max(axis=axis, keepdims=True) if v.size else v
            e = xp.exp(z)
            s = e.sum(axis=axis, keepdims=True)
            y = z - xp.log(s) if log else e / s
        else:
            other = [d for d in range(sd) if d != dim]
            key = _coo.linear_index(xp, sp.indices[other], tuple(sp.shape[d] for d in other))
            _, grp = xp.unique(key, return_inverse=True)
            grp = grp.reshape(-1)
            n = int(grp.max()) + 1
            m = xp.full((n,) + v.shape[1:], -xp.inf, dtype=v.dtype)
            scatter_max(xp, m, grp, v)
            z = v - m[grp]
            e = xp.exp(z)
            s = xp.zeros((n,) + v.shape[1:], dtype=v.dtype)
            scatter_add(xp, s, grp, e)
            y = z - xp.log(s)[grp] if log else e / s[grp]
            ctx.grp, ctx.n = grp, n
        ctx.y = y
        return sp.with_values(y, True)

    @staticmethod
    def backward(ctx, g):
        sp, y = ctx.sp, ctx.y
        xp = sp.xp
        gv = _coo.gather(g, sp.indices, sp.shape)
        t = gv if ctx.log else gv * y
        if ctx.grp is None:
            tot = t.sum(axis=ctx.axis, keepdims=True)
        else:
            tot = xp.zeros((ctx.n,) + y.shape[1:], dtype=y.dtype)
            scatter_add(xp, tot, ctx.grp, t)
            tot = tot[ctx.grp]
        gi = gv - xp.exp(y) * tot if ctx.log else y * (gv - tot)
        return sp.with_values(gi, True), None, None


def _softmax(op: str, input: Tensor, dim: int, dtype: Any, log: bool) -> SparseTensor:
    if not _is_sparse(input):
        raise TypeError(f"{op}: input must be a sparse COO tensor (layout pydlk.sparse_coo)")
    if dtype is not None:
        input = input.to(dtype)
    if input.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: expected a floating-point tensor, got {input.dtype}")
    (d,) = _dims(op, builtins.int(dim), input.ndim)
    return _sp(SparseSoftmax.apply(input, d, log))


def softmax(input: Tensor, dim: int, *, dtype: Any = None) -> SparseTensor:
    """torch.sparse.softmax: softmax along ``dim`` over the stored entries only (an entry not
    stored counts as -inf, so it stays unstored); the result has the coalesced input's
    pattern. ``dtype`` casts first. Differentiable (a sparse gradient with that pattern)."""
    return _softmax("sparse.softmax", input, dim, dtype, False)


def log_softmax(input: Tensor, dim: int, *, dtype: Any = None) -> SparseTensor:
    """torch.sparse.log_softmax: log of ``sparse.softmax`` over the stored entries."""
    return _softmax("sparse.log_softmax", input, dim, dtype, True)
