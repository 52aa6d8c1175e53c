"""Integrals and derivatives of sampled functions, under torch's names: ``trapezoid`` (and its
old name ``trapz``), ``cumulative_trapezoid`` and ``gradient`` (NumPy's central differences,
with first- or second-order edges and uniform or coordinate spacing).

Each is a composition of differentiable ops (slices, differences, products, sums), so the
gradient with respect to the samples is that of the formula, as in torch; coordinates given as
tensors are used as constants by ``gradient``. Integer samples give the default float dtype, as
torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module
from ..autograd import Tensor
from ._helpers import _dim, _real_only, _t
from .arithmetic import add, mul
from .joining import cat
from .math_extra import _floating
from .reductions import cumsum
from .reductions import sum as _sum
from .selection import narrow
from .shape import reshape
from .shape_extra import diff


def _along(v: Any, d: int, ndim: int) -> Any:
    """The 1-D ``v`` shaped to broadcast along dim ``d`` of an ``ndim``-dim tensor."""
    shape = [1] * ndim
    shape[d] = -1
    return reshape(v, tuple(shape)) if isinstance(v, Tensor) else v.reshape(shape)


def _pieces(op: str, y: Any, x: Any, dx: Any, dim: int) -> tuple[Tensor, Any, int]:
    """The trapezoids' areas along ``dim`` (before the sum), for samples ``y`` at ``x`` or
    spacing ``dx``."""
    if x is not None and dx is not None:
        raise TypeError(f"{op}: give x or dx, not both")
    y = _floating(_t(y))
    _real_only(op, y)
    if y.ndim == 0:
        raise ValueError(f"{op}: y must have at least one dimension")
    d = _dim(dim, y.ndim, op)
    n = y.shape[d]
    mids = mul(add(narrow(y, d, 1, n - 1), narrow(y, d, 0, n - 1)), 0.5) if n > 1 else None
    if x is None:
        step = 1.0 if dx is None else dx
        return (mids if mids is not None else y), step, d
    x = _floating(_t(x))
    if x.ndim == 1:
        if x.shape[0] != n:
            raise ValueError(
                f"{op}: x has {x.shape[0]} samples, y has {n} along dim {dim} (they must match)"
            )
        step = _along(diff(x), d, y.ndim) if n > 1 else 0.0
    else:
        step = diff(x, dim=d) if n > 1 else 0.0
    return (mids if mids is not None else y), step, d


def trapezoid(
    y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1
) -> Tensor:
    """The trapezoidal rule along ``dim``: ``sum((y[i] + y[i+1]) / 2 * (x[i+1] - x[i]))`` with
    sample points ``x`` (1-D, or broadcasting with ``y``) or a constant spacing ``dx``
    (default 1). Fewer than two samples give 0."""
    y_t = _t(y)
    pieces, step, d = _pieces("trapezoid", y_t, x, dx, dim)
    if y_t.shape[d] < 2:
        xp = get_array_module(pieces._data)
        shape = tuple(s for i, s in enumerate(pieces.shape) if i != d)
        return Tensor._wrap(xp.zeros(shape, pieces.dtype))
    return _sum(mul(pieces, step), dim=d)


def trapz(y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1) -> Tensor:
    """Alias of ``trapezoid`` (torch's older name)."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(
    y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1
) -> Tensor:
    """The running trapezoidal integral along ``dim`` (as ``trapezoid``, each partial sum): one
    value fewer than ``y`` has along ``dim``."""
    y_t = _t(y)
    pieces, step, d = _pieces("cumulative_trapezoid", y_t, x, dx, dim)
    if y_t.shape[d] < 2:
        xp = get_array_module(pieces._data)
        shape = list(pieces.shape)
        shape[d] = 0
        return Tensor._wrap(xp.zeros(tuple(shape), pieces.dtype))
    return cumsum(mul(pieces, step), d)


def _coefs(xp: Any, dtype: Any, spacing: Any, n: int, edge_order: int) -> dict[str, Any]:
    """The finite-difference coefficients (NumPy's np.gradient) for ``n`` samples at spacing
    ``spacing`` (a number or a coordinate array)."""
    if not hasattr(spacing, "shape"):
        h = float(spacing)
        c = {"mid": (-0.5 / h, 0.0, 0.5 / h)}
        if edge_order == 1:
            c["left"], c["right"] = (-1 / h, 1 / h, 0.0), (0.0, -1 / h, 1 / h)
        else:
            c["left"] = (-1.5 / h, 2 / h, -0.5 / h)
            c["right"] = (0.5 / h, -2 / h, 1.5 / h)
        return {k: tuple(xp.asarray(v, dtype) for v in vs) for k, vs in c.items()}
    dx = xp.diff(spacing.astype(np.float64))
    d1, d2 = dx[:-1], dx[1:]
    mid = (-d2 / (d1 * (d1 + d2)), (d2 - d1) / (d1 * d2), d1 / (d2 * (d1 + d2)))
    if edge_order == 1:
        left = (-1 / dx[0], 1 / dx[0], 0.0 * dx[0])
        right = (0.0 * dx[-1], -1 / dx[-1], 1 / dx[-1])
    else:
        a, b = dx[0], dx[1]
        left = (-(2 * a + b) / (a * (a + b)), (a + b) / (a * b), -a / (b * (a + b)))
        a, b = dx[-2], dx[-1]
        right = (b / (a * (a + b)), -(a + b) / (a * b), (2 * b + a) / (b * (a + b)))
    out = {"mid": mid, "left": left, "right": right}
    return {k: tuple(xp.asarray(v).astype(dtype) for v in vs) for k, vs in out.items()}


def _grad_dim(f: Tensor, d: int, spacing: Any, edge_order: int) -> Tensor:
    n = f.shape[d]
    xp = get_array_module(f._data)
    c = _coefs(xp, f.dtype, spacing, n, edge_order)

    def term(start: int, length: int, k: Any) -> Tensor:
        k = Tensor._wrap(_along(k, d, f.ndim) if getattr(k, "ndim", 0) else k)
        return mul(narrow(f, d, start, length), k)

    m = c["mid"]
    mid = add(add(term(0, n - 2, m[0]), term(1, n - 2, m[1])), term(2, n - 2, m[2]))
    lo, hi = c["left"], c["right"]
    left = add(add(term(0, 1, lo[0]), term(1, 1, lo[1])), term(2, 1, lo[2]) if n > 2 else 0.0)
    right = add(
        add(term(n - 2, 1, hi[1]), term(n - 1, 1, hi[2])),
        term(n - 3, 1, hi[0]) if n > 2 else 0.0,
    )
    return cat([left, mid, right], dim=d) if n > 2 else cat([left, right], dim=d)


def gradient(
    input: Tensor,
    *,
    spacing: float | Sequence[float] | Sequence[Tensor] = 1,
    dim: int | Sequence[int] | None = None,
    edge_order: int = 1,
) -> tuple[Tensor, ...]:
    """The derivative estimated along each of ``dim`` (default: every dim) by central
    differences in the interior and one-sided differences of order ``edge_order`` (1 or 2) at
    the edges, as torch.gradient and np.gradient. ``spacing`` is one number, one per dim, or
    one 1-D tensor of coordinates per dim. Returns one tensor per dim."""
    f = _floating(_t(input))
    _real_only("gradient", f)
    if edge_order not in (1, 2):
        raise ValueError(f"gradient: edge_order must be 1 or 2, got {edge_order!r}")
    if dim is None:
        dims = list(range(f.ndim))
    elif isinstance(dim, (int, np.integer)):
        dims = [_dim(dim, f.ndim, "gradient")]
    else:
        dims = [_dim(x, f.ndim, "gradient") for x in dim]
    if isinstance(spacing, (list, tuple)):
        if len(spacing) != len(dims):
            raise ValueError(
                f"gradient: expected spacing to be a number or to have one entry per dim "
                f"({len(dims)}), got {len(spacing)}"
            )
        steps = list(spacing)
    else:
        steps = [spacing] * len(dims)
    out = []
    for d, s in zip(dims, steps):
        if f.shape[d] < edge_order + 1:
            raise ValueError(
                "gradient: expected each dimension size to be at least edge_order+1 "
                f"(dim {d} has {f.shape[d]})"
            )
        if isinstance(s, Tensor) or hasattr(s, "shape"):
            s = s._data if isinstance(s, Tensor) else s
            if s.ndim == 0:
                s = float(s)
            elif s.shape != (f.shape[d],):
                raise ValueError(
                    f"gradient: the coordinates for dim {d} must be 1-D with {f.shape[d]} "
                    f"values, got shape {tuple(s.shape)}"
                )
        out.append(_grad_dim(f, d, s, edge_order))
    return tuple(out)


__all__ = ["trapezoid", "trapz", "cumulative_trapezoid", "gradient"]

TENSOR_METHODS: dict[str, Any] = {}  # torch.Tensor has none of these
