"""The four differentiable pieces that pydlk.fft composes: zero-pad/trim (torch's ``n``/``s``),
complex-to-complex, real-to-complex (one-sided) and complex-to-real transforms over some dims.

Each runs ``xp.fft`` (numpy.fft, pocketfft, on the CPU; cupy.fft, cuFFT, on CuPy arrays). Every
transform is linear, so its backward is its adjoint, another FFT: with the DFT matrix
F (F[k, j] = exp(-2 pi i jk / n)) and a scale c set by ``norm``, y = c F x has the gradient
c F^H g, the inverse-direction transform under the *dual* norm (backward <-> forward, ortho
stays). Each backward_graph calls these same Functions, so higher derivatives work too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module
from ..autograd import Function, Tensor

_NORMS = ("backward", "ortho", "forward")
_DUAL = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def _norm(norm: str | None, op: str) -> str:
    """``norm`` checked: None means "backward", as torch."""
    if norm is None:
        return "backward"
    if norm not in _NORMS:
        raise ValueError(
            f'{op}: norm must be None, "backward", "ortho" or "forward", got {norm!r} '
            "(torch: Invalid normalization mode)"
        )
    return norm


def _complex_of(dtype: Any) -> np.dtype:
    """float32 -> complex64, float64 -> complex128 (complex dtypes kept)."""
    return np.dtype(np.dtype(dtype).char.upper())


def _real_of(dtype: Any) -> np.dtype:
    """complex64 -> float32, complex128 -> float64 (real dtypes kept)."""
    return np.dtype(np.dtype(dtype).char.lower())


def _resize(x: Any, dims: Sequence[int], sizes: Sequence[int]) -> Any:
    """``x`` trimmed or zero-padded at the end of each of ``dims`` to ``sizes``."""
    index = [slice(None)] * x.ndim
    pad = [(0, 0)] * x.ndim
    for d, n in zip(dims, sizes):
        index[d] = slice(0, min(n, x.shape[d]))
        pad[d] = (0, max(n - x.shape[d], 0))
    y = x[tuple(index)]
    if any(p != (0, 0) for p in pad):
        y = get_array_module(x).pad(y, pad)
    return y


def _fft(a: Any) -> Any:
    return get_array_module(a).fft


def _c2c(x: Any, dims: tuple[int, ...], norm: str, forward: bool) -> Any:
    if not dims:
        return x.copy()
    f = _fft(x).fftn if forward else _fft(x).ifftn
    return f(x, axes=dims, norm=norm).astype(x.dtype, copy=False)


def _weights(xp: Any, ndim: int, dim: int, n: int, m: int, dtype: Any) -> Any:
    """The Hermitian weights of a one-sided spectrum of ``m = n//2 + 1`` entries along ``dim``:
    2 for each entry that also stands for its conjugate mirror (entries 1 .. n - m), else 1."""
    w = np.ones(m, dtype)
    w[1 : 1 + n - m] = 2
    shape = [1] * ndim
    shape[dim] = m
    return xp.asarray(w.reshape(shape))


class Resize(Function):
    """Zero-pad or trim along ``dims`` to ``sizes``; its adjoint trims or pads back."""

    @staticmethod
    def forward(ctx, x, dims, sizes):
        ctx.dims, ctx.old = dims, tuple(x.shape[d] for d in dims)
        return _resize(x, dims, sizes)

    @staticmethod
    def backward(ctx, g):
        return _resize(g, ctx.dims, ctx.old), None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return Resize.apply(g, ctx.dims, ctx.old), None, None


class C2C(Function):
    """fftn (``forward``) or ifftn of a complex array over ``dims`` under ``norm``."""

    @staticmethod
    def forward(ctx, x, dims, norm, forward):
        ctx.args = (dims, norm, forward)
        return _c2c(x, dims, norm, forward)

    @staticmethod
    def backward(ctx, g):
        dims, norm, forward = ctx.args
        return _c2c(g, dims, _DUAL[norm], not forward), None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        dims, norm, forward = ctx.args
        return C2C.apply(g, dims, _DUAL[norm], not forward), None, None, None


class R2C(Function):
    """rfftn of a real array over ``dims``: the last of them keeps n//2 + 1 entries.

    The one-sided output is the full DFT's first n//2 + 1 entries, so the adjoint is the real
    part of the inverse-direction DFT (dual norm) of g zero-extended to n entries (torch's
    fft_r2c_backward). That real part is computed as a complex-to-real transform: with h = g
    except h_k = g_k / 2 for the entries a one-sided spectrum counts twice (1 .. n - m),
    irfftn(h) = Re(sum_k g_k exp(2 pi i jk / n)) (irfft reads only the real parts of h_0 and, n
    even, h_{n/2}, the only parts that reach a real result), half the work of a full
    complex transform and no complex array of n entries.
    """

    @staticmethod
    def forward(ctx, x, dims, norm):
        ctx.args = (dims, norm, tuple(x.shape[d] for d in dims))
        out = _fft(x).rfftn(x, axes=dims, norm=norm)
        return out.astype(_complex_of(x.dtype), copy=False)

    @staticmethod
    def backward(ctx, g):
        dims, norm, sizes = ctx.args
        d = dims[-1]
        w = _weights(get_array_module(g), g.ndim, d, sizes[-1], g.shape[d], _real_of(g.dtype))
        gx = _fft(g).irfftn(g / w, s=sizes, axes=dims, norm=_DUAL[norm])
        return gx.astype(_real_of(g.dtype), copy=False), None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        dims, norm, sizes = ctx.args
        full = Resize.apply(g, (dims[-1],), (sizes[-1],))
        return C2C.apply(full, dims, _DUAL[norm], False).real, None, None


class C2R(Function):
    """irfftn: a one-sided spectrum (n//2 + 1 entries along the last of ``dims``) to the real
    signal of ``sizes`` along ``dims``.

    y_j = c Re(sum_k w_k X_k exp(2 pi i jk / n)) (k up to n//2, w_k = 2 where X_k also stands
    for its conjugate mirror, else 1; only the real parts of X_0 and, n even, X_{n/2} count),
    so dL/dX_k = w_k (c sum_j g_j exp(-2 pi i jk / n)): the one-sided forward DFT of g under the
    dual norm with those entries doubled (torch's fft_c2r_backward).
    """

    @staticmethod
    def forward(ctx, x, dims, sizes, norm):
        ctx.args = (dims, norm)
        out = _fft(x).irfftn(x, s=sizes, axes=dims, norm=norm)
        return out.astype(_real_of(x.dtype), copy=False)

    @staticmethod
    def backward(ctx, g):
        dims, norm = ctx.args
        gx = _fft(g).rfftn(g, axes=dims, norm=_DUAL[norm]).astype(_complex_of(g.dtype), copy=False)
        d = dims[-1]
        w = _weights(get_array_module(g), g.ndim, d, g.shape[d], gx.shape[d], g.dtype)
        return gx * w, None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        dims, norm = ctx.args
        gx = R2C.apply(g, dims, _DUAL[norm])
        d = dims[-1]
        xp = get_array_module(g._data)
        w = _weights(xp, g.ndim, d, g.shape[d], gx.shape[d], g.dtype)
        return gx * Tensor(w), None, None, None
