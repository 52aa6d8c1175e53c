"""torch's statistics and reductions beyond ``statistics``: ``logcumsumexp``, ``cov``,
``corrcoef``, ``msort``, ``mode``, ``unique_consecutive``, ``histogram``, ``renorm``, ``dist``,
``kron``, ``inner``, ``pdist`` (the integrals and derivatives of sampled functions,
``trapezoid``, ``cumulative_trapezoid``, ``gradient``, are in ``calculus``).

Most are compositions of differentiable ops (``cov`` is torch's formula in means and a matrix
product, ``kron`` a broadcast product reshaped), so their gradients are those ops' and agree
with torch's. ``logcumsumexp`` is a ``Function`` (NumPy's ``logaddexp.accumulate`` on the CPU; on
a GPU the running sum of ``exp(x - max)`` in float64) whose backward works in log space, as
torch's. ``mode`` picks its indices on the host with NumPy (a sort per row, as torch's GPU
kernel sorts) and gathers the values, so the gradient reaches the element picked.
``unique_consecutive`` and ``histogram`` have no gradient, as in torch.
"""

from __future__ import annotations

import builtins as _b
from typing import Any, NamedTuple

import numpy as np

from .._backend import get_array_module, is_cupy
from .._typing import Array
from ..autograd import Function, Tensor
from ._helpers import _dim, _need_float, _nograd, _o, _quiet, _real_only, _t, _ValuesIndices
from ._promotion import to_float
from .arithmetic import abs as _abs
from .arithmetic import clamp, div, mul, sqrt, sub, where
from .diagonal import diagonal
from .inplace_math import _binary_
from .products import matmul
from .reductions import mean, norm
from .reductions import sum as _sum
from .selection import gather, index_select, sort
from .shape import reshape, unsqueeze
from .shape_extra import triu_indices


class _Mode(_ValuesIndices):
    __slots__ = ()


_Mode.__name__ = _Mode.__qualname__ = "mode"
_Mode.__module__ = "pydlk.return_types"


class histogram_return(NamedTuple):
    """``(hist, bin_edges)`` as torch.return_types.histogram."""

    hist: Tensor
    bin_edges: Tensor


histogram_return.__name__ = histogram_return.__qualname__ = "histogram"
histogram_return.__module__ = "pydlk.return_types"


# -- logcumsumexp


def _lcse(a: Array, axis: int) -> Array:
    """``log(cumsum(exp(a)))`` along ``axis``, without overflow."""
    xp = get_array_module(a)
    if not is_cupy(a):
        return np.logaddexp.accumulate(a, axis=axis) if a.size else a.copy()
    x = a.astype(np.float64)
    m = xp.max(x, axis=axis, keepdims=True) if x.size else xp.zeros_like(x)
    m = xp.where(xp.isfinite(m), m, 0)
    return (xp.log(xp.cumsum(xp.exp(x - m), axis=axis)) + m).astype(a.dtype)


class LogCumSumExp(Function):
    op_name = "logcumsumexp"  # torch's name, in errors

    @staticmethod
    @_quiet
    def forward(ctx, a, axis):
        out = _o(_lcse(a, axis))
        ctx.save_for_backward(a, out)
        ctx.axis = axis
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        # dx_j = sum_{i >= j} g_i exp(x_j - out_i), for the positive and the negative part of g
        # separately in log space: exp(x_j + revlogcumsumexp(log|g| - out)_j)
        a, out = ctx.saved_tensors
        ax = ctx.axis
        xp = get_array_module(g)

        def part(gp: Array) -> Array:
            w = xp.flip(xp.log(gp) - out, axis=ax)
            return xp.exp(a + xp.flip(_lcse(w, ax), axis=ax))

        z = xp.zeros((), g.dtype)
        return part(xp.maximum(g, z)) - part(xp.maximum(-g, z)), None


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """``log(cumsum(exp(input), dim))`` computed without overflow; floating point only."""
    input = _t(input)
    _real_only("logcumsumexp", input)
    _need_float(input, "logcumsumexp")
    if input.ndim == 0:
        _dim(dim, 0, "logcumsumexp")
        return input.clone()
    return LogCumSumExp.apply(input, _dim(dim, input.ndim, "logcumsumexp"))


# -- covariance and correlation


def cov(
    input: Tensor,
    *,
    correction: int = 1,
    fweights: Tensor | None = None,
    aweights: Tensor | None = None,
) -> Tensor:
    """The covariance matrix of the variables in ``input``'s rows (observations in columns; a
    1-D input is one variable, giving a 0-d tensor), with Bessel's ``correction``, integer
    frequency weights ``fweights`` and float observation weights ``aweights``, as torch.cov
    (NumPy's ``cov`` with ``ddof``)."""
    x = _t(input)
    if x.ndim > 2:
        raise ValueError(f"cov: expected input to have two or fewer dimensions, got {x.ndim}")
    x = to_float(x)
    xm = x if x.ndim == 2 else reshape(x, (1, -1))
    n = xm.shape[1]
    w: Tensor | None = None
    if fweights is not None:
        fw = _t(fweights)
        _cov_weights("fweights", fw, n, "iu")
        w = fw
    if aweights is not None:
        aw = _t(aweights)
        _cov_weights("aweights", aw, n, "f")
        w = aw if w is None else mul(w, aw)
    if w is None:
        avg = mean(xm, dim=1, keepdim=True)
        w_sum: Any = n
        factor: Any = n - correction
    else:
        w = w.to(xm.dtype) if w.dtype != xm.dtype else w
        w_sum = _sum(w)
        avg = div(_sum(mul(xm, w), dim=1, keepdim=True), w_sum)
        if correction == 0:
            factor = w_sum
        elif aweights is None:
            factor = sub(w_sum, correction)
        else:
            factor = sub(
                w_sum, mul(div(_sum(mul(w, _t(aweights).to(xm.dtype))), w_sum), correction)
            )
    if isinstance(factor, Tensor):
        factor = clamp(factor, min=0)
    else:
        factor = _b.max(factor, 0)
    d = sub(xm, avg)
    dw = d if w is None else mul(d, w)
    c = div(matmul(dw, d.conj().transpose(0, 1)), factor)
    return reshape(c, ()) if x.ndim < 2 else c


def _cov_weights(name: str, w: Tensor, n: int, kinds: str) -> None:
    if w.ndim > 1:
        raise ValueError(f"cov: expected {name} to have one or fewer dimensions, got {w.ndim}")
    if w.numel() != n:
        raise ValueError(
            f"cov: expected {name} to have the same numel as there are observations in the "
            f"input ({n}), got {w.numel()}"
        )
    if w.dtype.kind not in kinds:
        need = "integral" if kinds == "iu" else "floating point"
        raise TypeError(f"cov: expected {name} to have {need} dtype, got {w.dtype}")
    xp = get_array_module(w._data)
    if bool(xp.any(w._data < 0)):
        raise ValueError(f"cov: {name} cannot be negative")


def corrcoef(input: Tensor) -> Tensor:
    """Pearson's correlation coefficients of the variables in ``input``'s rows: ``cov``
    normalised by the standard deviations, clipped to [-1, 1] (real inputs), as torch."""
    c = cov(input)
    if c.ndim == 0:
        return div(c, c)
    sd = sqrt(diagonal(c).real if c.dtype.kind == "c" else diagonal(c))
    c = div(div(c, unsqueeze(sd, 1)), unsqueeze(sd, 0))
    return c if c.dtype.kind == "c" else clamp(c, -1, 1)


# -- sorting, modes, runs


def msort(input: Tensor) -> Tensor:
    """``input`` sorted along its first dim (the values of ``sort(input, dim=0)``)."""
    return sort(input, dim=0).values


def _mode_indices(a: np.ndarray) -> np.ndarray:
    """Per row of the 2-D ``a``: the index of the last occurrence of its mode, the smallest of
    the most frequent values (torch's rule)."""
    rows, n = a.shape
    order = np.argsort(a, axis=1, kind="stable")
    s = np.take_along_axis(a, order, axis=1)
    start = np.ones(a.shape, bool)
    if n > 1:
        same = s[:, 1:] == s[:, :-1]
        if s.dtype.kind in "fc":
            same |= np.isnan(s[:, 1:]) & np.isnan(s[:, :-1])
        start[:, 1:] = ~same
    first = np.flatnonzero(start.reshape(-1))  # runs of equal values, row by row
    length = np.diff(np.append(first, rows * n))
    row = first // n
    best = np.lexsort((first, -length, row))  # by row, then longest, then smallest value
    take = best[np.r_[True, row[best][1:] != row[best][:-1]]]
    last = first[take] + length[take] - 1  # the run's last element: the largest index (stable)
    return order.reshape(-1)[last]


def mode(input: Tensor, dim: int = -1, keepdim: bool = False) -> _Mode:
    """``(values, indices)``: the most frequent value along ``dim`` (the smallest of those
    tied) and the index of its last occurrence, as torch. The gradient reaches that element."""
    input = _t(input)
    _real_only("mode", input)
    if input.ndim == 0:
        _dim(dim, 0, "mode")
        z = get_array_module(input._data).zeros((), np.int64)
        return _Mode(input.clone(), _nograd(z))
    d = _dim(dim, input.ndim, "mode")
    if input.shape[d] == 0:
        raise IndexError(f"mode: expected a non-empty dim {d}, got shape {tuple(input.shape)}")
    xp = get_array_module(input._data)
    a = input._data
    host = a.get() if is_cupy(a) else a
    moved = np.moveaxis(host, d, -1)
    idx = _mode_indices(moved.reshape(-1, moved.shape[-1])).reshape(moved.shape[:-1])
    idx = xp.asarray(np.expand_dims(idx, d).astype(np.int64))
    values = gather(input, d, Tensor._wrap(idx))
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return _Mode(values, _nograd(idx))


def unique_consecutive(
    input: Tensor,
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: int | None = None,
) -> Any:
    """``input`` with runs of equal consecutive elements (``dim`` None: of the flattened
    tensor; else equal slices along ``dim``) kept once; with ``return_inverse`` the index of
    each element's run, with ``return_counts`` each run's length (int64). No gradient."""
    input = _t(input)
    a = input._data
    xp = get_array_module(a)
    if dim is None:
        flat = a.reshape(-1)
        keep = xp.ones(flat.shape, bool)
        if flat.size > 1:
            keep[1:] = flat[1:] != flat[:-1]
        out = flat[keep]
        inv_shape = a.shape
    else:
        d = _dim(dim, a.ndim, "unique_consecutive")
        m = xp.moveaxis(a, d, 0)
        keep = xp.ones(m.shape[0], bool)
        if m.shape[0] > 1:
            ne = (m[1:] != m[:-1]).reshape(m.shape[0] - 1, -1)
            keep[1:] = ne.any(axis=1) if ne.shape[1] else False
        out = xp.moveaxis(m[keep], 0, d)
        inv_shape = (m.shape[0],)
    res = [_nograd(out)]
    if return_inverse:
        res.append(_nograd((xp.cumsum(keep) - 1).astype(np.int64).reshape(inv_shape)))
    if return_counts:
        starts = xp.flatnonzero(keep)
        ends = xp.concatenate([starts[1:], xp.asarray([keep.size], starts.dtype)])
        res.append(_nograd((ends - starts).astype(np.int64)))
    return res[0] if len(res) == 1 else tuple(res)


def histogram(
    input: Tensor,
    bins: int | Tensor,
    *,
    range: tuple[float, float] | None = None,
    weight: Tensor | None = None,
    density: bool = False,
) -> histogram_return:
    """``(hist, bin_edges)``: counts (or summed ``weight``) of ``input``'s elements in ``bins``
    equal bins over ``range`` (default: the data's min and max), or in the bins a 1-D tensor of
    increasing edges gives; ``density`` normalises to a density. Floating point only; the
    last bin includes its right edge, as torch and NumPy. No gradient."""
    input = _t(input)
    a = input._data
    if a.dtype.kind != "f":
        raise TypeError(f"histogram: input must be floating point, got {a.dtype}")
    xp = get_array_module(a)
    if isinstance(bins, (Tensor,)) or hasattr(bins, "shape"):
        edges = xp.asarray(bins._data if isinstance(bins, Tensor) else bins)
        if edges.ndim != 1 or edges.size < 2:
            raise ValueError("histogram: bins must be a 1-D tensor of at least 2 edges")
        b: Any = edges.astype(np.float64)
    else:
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
            raise ValueError(f"histogram: bins must be a positive int or a tensor, got {bins!r}")
        b = int(bins)
    if range is not None:
        lo, hi = float(range[0]), float(range[1])
        if lo > hi:
            raise ValueError(f"histogram: range min {lo} must not exceed max {hi}")
    w = None if weight is None else xp.asarray(_t(weight)._data).reshape(-1)
    if w is not None and w.size != a.size:
        raise ValueError("histogram: weight must have the same shape as input")
    hist, e = xp.histogram(
        a.reshape(-1).astype(np.float64), bins=b, range=range, weights=w, density=density
    )
    return histogram_return(_nograd(hist.astype(a.dtype)), _nograd(e.astype(a.dtype)))


# -- norms and products


def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice along ``dim`` whose ``p``-norm exceeds ``maxnorm`` scaled down to norm
    ``maxnorm`` (by ``maxnorm / (norm + 1e-7)``, as torch); others unchanged."""
    x = _t(input)
    _need_float(x, "renorm")
    if float(p) <= 0:
        raise ValueError(f"renorm: non-positive norm p={p} is not supported")
    if float(maxnorm) < 0:
        raise ValueError(f"renorm: expected maxnorm to be >= 0, got {maxnorm}")
    if x.ndim == 0:
        raise ValueError("renorm: input needs at least 1 dimension")
    d = _dim(dim, x.ndim, "renorm")
    others = tuple(i for i in _b.range(x.ndim) if i != d)
    nrm = norm(x, p, dim=others, keepdim=True) if others else _abs(x)
    big = Tensor._wrap(nrm._data > maxnorm)
    factor = where(big, div(float(maxnorm), nrm + 1e-7), 1.0)
    return mul(x, factor.to(x.dtype))


def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm of ``input - other`` (broadcasting), a 0-d tensor."""
    return norm(sub(input, other), p)


def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: every element of ``input`` times the whole of ``other``, with the
    blocks laid out as ``input``'s elements (dims aligned on the right)."""
    a, b = _t(input), _t(other)
    n = _b.max(a.ndim, b.ndim)
    sa = (1,) * (n - a.ndim) + tuple(a.shape)
    sb = (1,) * (n - b.ndim) + tuple(b.shape)
    a2 = reshape(a, tuple(v for s in sa for v in (s, 1)))
    b2 = reshape(b, tuple(v for s in sb for v in (1, s)))
    return reshape(mul(a2, b2), tuple(x * y for x, y in zip(sa, sb)))


def inner(input: Tensor, other: Tensor) -> Tensor:
    """The sum of products over the last dims of ``input`` and ``other`` (a product with a 0-d
    operand): shape ``input.shape[:-1] + other.shape[:-1]``."""
    a, b = _t(input), _t(other)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"inner: last dims must match, got {tuple(a.shape)} and {tuple(b.shape)}")
    k = a.shape[-1]
    r = matmul(reshape(a, (-1, k)), reshape(b, (-1, k)).transpose(0, 1))
    return reshape(r, tuple(a.shape[:-1]) + tuple(b.shape[:-1]))


def pdist(input: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm distances between the rows of the 2-D ``input``, for each pair i < j in
    row-major order: ``N(N-1)/2`` values (gradient 0 at a zero distance, as torch)."""
    x = _t(input)
    if x.ndim != 2:
        raise ValueError(f"pdist: only supports 2D tensors, got {x.ndim}D")
    _need_float(x, "pdist")
    if float(p) < 0:
        raise ValueError(f"pdist: only supports non-negative p values, got {p}")
    n = x.shape[0]
    if n < 2:
        return Tensor._wrap(get_array_module(x._data).zeros((0,), x.dtype))
    ij = triu_indices(n, n, 1)
    if is_cupy(x._data):
        ij = Tensor._wrap(get_array_module(x._data).asarray(ij._data))
    d = sub(index_select(x, 0, ij[0]), index_select(x, 0, ij[1]))
    return norm(d, p, dim=1)


def _renorm_(self: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """``renorm`` in place."""
    return _renorm_inplace(self, p, dim, maxnorm)


def _histogram_method(
    self: Tensor,
    bins: int | Tensor,
    *,
    range: tuple[float, float] | None = None,
    weight: Tensor | None = None,
    density: bool = False,
) -> histogram_return:
    """``histogram(self, bins, ...)``."""
    return histogram(self, bins, range=range, weight=weight, density=density)


def _named(fn: Any, name: str) -> Any:
    fn.__name__ = fn.__qualname__ = name
    return fn


_renorm_inplace = _binary_("renorm_", renorm)

__all__ = [
    "logcumsumexp",
    "cov",
    "corrcoef",
    "msort",
    "mode",
    "unique_consecutive",
    "histogram",
    "renorm",
    "dist",
    "kron",
    "inner",
    "pdist",
]

TENSOR_METHODS: dict[str, Any] = {
    n: globals()[n]
    for n in (
        "logcumsumexp",
        "cov",
        "corrcoef",
        "msort",
        "mode",
        "unique_consecutive",
        "renorm",
        "dist",
        "kron",
        "inner",
    )
}
TENSOR_METHODS["histogram"] = _named(_histogram_method, "histogram")
TENSOR_METHODS["renorm_"] = _named(_renorm_, "renorm_")
