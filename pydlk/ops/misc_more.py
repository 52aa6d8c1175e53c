"""More of torch's top-level functions: ``binomial`` (draws), ``histogramdd``, ``get_device``
and ``set_flush_denormal``.

``binomial`` draws from pydlk's generator on the host (``manual_seed`` reproduces it; GPU
tensors get the draws copied over), with torch's edge rules (count <= 0 or prob <= 0 gives 0,
prob >= 1 gives count). torch records ``binomial`` and ``histogramdd`` on the graph when an
input requires grad but has no derivative for them: pydlk does the same (``NotDifferentiable``),
so ``backward`` raises torch's "derivative for aten::... is not implemented".

``set_flush_denormal`` cannot set the CPU's flush-to-zero mode: NumPy has no portable switch
and pydlk's kernels run on OpenMP threads the calling thread's MXCSR does not reach, so it
changes nothing and returns False, as torch does on a CPU without the mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .._backend import get_array_module, is_cupy
from .._random import Generator
from ..autograd import Function, Tensor
from ._helpers import _t
from .factories import _gen

__all__ = ["binomial", "get_device", "histogramdd", "set_flush_denormal"]

_TORCH_NAMES = {
    "float64": "Double",
    "float32": "Float",
    "float16": "Half",
    "int64": "Long",
    "int32": "Int",
    "int16": "Short",
    "int8": "Char",
    "uint8": "Byte",
    "bool": "Bool",
}


def _torch_name(dt: Any) -> str:
    return _TORCH_NAMES.get(np.dtype(dt).name, np.dtype(dt).name)


class NotDifferentiable(Function):
    """A precomputed result recorded on the graph, whose backward raises torch's error: what
    torch does for ops it records but cannot differentiate (binomial, histogramdd,
    detach_copy)."""

    @staticmethod
    def forward(ctx, out, op, *inputs):
        ctx.op = op
        return out

    @staticmethod
    def backward(ctx, *g):
        raise RuntimeError(f"derivative for aten::{ctx.op} is not implemented")

    @staticmethod
    def backward_graph(ctx, inputs, *g):
        raise RuntimeError(f"derivative for aten::{ctx.op} is not implemented")


def _result(out: Any, op: str, *inputs: Any) -> Tensor:
    """``out`` as a Tensor; recorded (without a derivative) when an input requires grad."""
    if any(isinstance(i, Tensor) and i.requires_grad for i in inputs):
        from ..autograd import is_grad_enabled

        if is_grad_enabled() and out.dtype.kind in "fc":
            return NotDifferentiable.apply(out, op, *inputs)
    return Tensor._wrap(out)


def binomial(count: Tensor, prob: Tensor, generator: Generator | None = None) -> Tensor:
    """Binomial(count, prob) draws, elementwise (count and prob broadcast; both of one float
    dtype, as torch), from pydlk's generator (or ``generator``). count <= 0 or prob <= 0 gives
    0, prob >= 1 gives count, as torch's sampler."""
    c, p = _t(count), _t(prob)
    if c.dtype.kind != "f":
        raise ValueError(
            f"binomial only supports floating-point dtypes for count, got: {_torch_name(c.dtype)}"
        )
    if p.dtype != c.dtype:
        raise RuntimeError(
            f"Found dtype {_torch_name(p.dtype)} but expected {_torch_name(c.dtype)}"
        )
    ca, pa = c._data, p._data
    gpu = is_cupy(ca) or is_cupy(pa)
    hc = ca.get() if is_cupy(ca) else np.asarray(ca)
    hp = pa.get() if is_cupy(pa) else np.asarray(pa)
    hc, hp = np.broadcast_arrays(hc.astype(np.float64), hp.astype(np.float64))
    with np.errstate(invalid="ignore"):
        n = np.where(hc > 0, np.floor(hc), 0).astype(np.int64)
        q = np.clip(np.nan_to_num(hp, nan=0.0), 0.0, 1.0)
    drawn = _gen(generator).binomial(n, q).astype(np.float64)
    out = np.where((hc <= 0) | (hp <= 0), 0.0, np.where(hp >= 1, hc, drawn)).astype(c.dtype)
    if gpu:
        out = get_array_module(ca if is_cupy(ca) else pa).asarray(out)
    return _result(out, "binomial", c, p)


class histogramdd_return(NamedTuple):  # noqa: N801  (torch.return_types' name)
    """``(hist, bin_edges)`` as torch.return_types.histogramdd: the D-dimensional counts and
    one tensor of edges per dimension."""

    hist: Tensor
    bin_edges: tuple[Tensor, ...]


histogramdd_return.__name__ = histogramdd_return.__qualname__ = "histogramdd"
histogramdd_return.__module__ = "pydlk.return_types"


def _fmt(v: float) -> str:
    return f"{v:g}"


def _edges(
    pts: Any, bins: Any, rng: Sequence[float] | None, d: int, xp: Any, dtype: Any
) -> list[Any]:
    """The bin edges of each of the ``d`` dims, in ``dtype`` (as torch reports them)."""
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        bins = [int(bins)] * d
    bins = list(bins)
    r: list[float] = []
    if len(bins) != d:
        raise RuntimeError(
            "histogramdd: The size of bins must be equal to the innermost dimension of the input."
        )
    if rng is not None:
        r = [float(v) for v in rng]
        if len(r) != 2 * d:
            raise RuntimeError(
                f"torch.histogramdd: for a {d}-dimensional histogram range should have {2 * d} "
                f"elements, but got {len(r)}"
            )
    out = []
    for i, b in enumerate(bins):
        if isinstance(b, Tensor) or hasattr(b, "shape"):
            e = _t(b)._data
            e = e if get_array_module(e) is xp else xp.asarray(e.get() if is_cupy(e) else e)
            if e.ndim != 1 or e.size < 1:
                raise RuntimeError("torch.histogramdd: bin edges must be a 1-d tensor")
            out.append(e.astype(dtype))
            continue
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
            raise RuntimeError(
                f"torch.histogramdd: bins must be > 0, but got {b} for dimension {i}"
            )
        if rng is not None:
            lo, hi = r[2 * i], r[2 * i + 1]
        elif pts.shape[0]:
            lo, hi = float(pts[:, i].min()), float(pts[:, i].max())
        else:
            lo, hi = 0.0, 1.0
        if lo > hi:
            raise RuntimeError(
                f"torch.histogramdd: min should not exceed max, but got min {_fmt(lo)} max "
                f"{_fmt(hi)} for dimension {i}"
            )
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        out.append(_linspace(xp, lo, hi, int(b) + 1, dtype))
    return out


def _linspace(xp: Any, lo: float, hi: float, steps: int, dtype: Any) -> Any:
    """torch.linspace's values in ``dtype``: from ``lo`` below the halfway point, back from
    ``hi`` above it, with the step rounded to ``dtype`` (so the edges are torch's bits)."""
    dt = np.dtype(dtype)
    start, end = dt.type(lo), dt.type(hi)
    step = (end - start) / dt.type(steps - 1) if steps > 1 else dt.type(0)
    i = xp.arange(steps, dtype=dt)
    up = start + step * i
    down = end - step * (dt.type(steps - 1) - i)
    return xp.where(xp.arange(steps) < steps // 2, up, down).astype(dt)


def histogramdd(
    input: Tensor,
    bins: int | Sequence[int] | Sequence[Tensor],
    *,
    range: Sequence[float] | None = None,
    weight: Tensor | None = None,
    density: bool = False,
) -> histogramdd_return:
    """The D-dimensional histogram of the points ``input[..., :]`` (the last dim holds each
    point's D coordinates), as torch.histogramdd: ``bins`` one count for every dim, a count per
    dim, or a 1-d tensor of increasing edges per dim; ``range`` the flat ``[min0, max0, min1,
    max1, ...]`` of the equal-width bins (default: the data's, widened by 0.5 either way where
    all values agree); ``weight`` one per point; ``density`` normalises to a density. The last
    bin of each dim includes its right edge. Floating point only; no derivative, as torch."""
    x = _t(input)
    if x.ndim < 2:
        raise RuntimeError("torch.histogramdd: input tensor should have at least 2 dimensions")
    if x.dtype.kind != "f":
        raise NotImplementedError(f"\"histogramdd\" not implemented for '{_torch_name(x.dtype)}'")
    a = x._data
    xp = get_array_module(a)
    d = int(a.shape[-1])
    pts = a.reshape(-1, d)
    w = None
    if weight is not None:
        wt = _t(weight)
        if tuple(wt.shape) != tuple(a.shape[:-1]):
            raise RuntimeError(
                "torch.histogramdd: if weight tensor is provided it should have the same shape "
                "as the input tensor excluding its innermost dimension, but got input with "
                f"shape {list(a.shape)} and weight with shape {list(wt.shape)}"
            )
        w = wt._data.reshape(-1).astype(np.float64)
    edges = _edges(pts, bins, range, d, xp, a.dtype)
    hist, _ = xp.histogramdd(
        pts.astype(np.float64),
        bins=[e.astype(np.float64) for e in edges],
        weights=w,
        density=bool(density),
    )
    out = _result(hist.astype(a.dtype), "_histogramdd_from_bin_cts", x, weight)
    return histogramdd_return(out, tuple(Tensor._wrap(e) for e in edges))


def get_device(input: Tensor) -> int:
    """The GPU index of a GPU tensor, -1 for a CPU tensor (torch.get_device)."""
    a = _t(input)._data
    return int(a.device.id) if is_cupy(a) else -1


def set_flush_denormal(mode: bool) -> bool:
    """torch.set_flush_denormal: pydlk cannot switch the CPU's flush-to-zero mode (see the
    module's notes), so this changes nothing and returns False, as torch does where the mode
    is unsupported."""
    if not isinstance(mode, (bool, int, np.bool_)):
        raise TypeError(f"set_flush_denormal(): argument 'mode' must be bool, not {type(mode)}")
    return False
