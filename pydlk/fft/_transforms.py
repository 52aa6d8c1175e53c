"""torch.fft's transforms: fft/ifft (1-D, 2-D, n-D), their real-input (rfft, irfft) and
Hermitian (hfft, ihfft) variants, under torch's arguments: ``n`` or ``s`` (the signal size:
zero-padded or trimmed to it), ``dim``, ``norm`` (None or "backward": the forward transform
unscaled and the inverse scaled by 1/n; "ortho": both by 1/sqrt(n); "forward": the forward by
1/n and the inverse unscaled)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..autograd import Tensor
from ..ops._helpers import _t
from ._core import _DUAL, C2C, C2R, R2C, Resize, _complex_of, _norm

_Dims = int | Sequence[int] | None
_Sizes = Sequence[int] | None


def _prep(input: Tensor, op: str) -> Tensor:
    """``input`` as a Tensor of a dtype the transforms take: integers and bool become float32,
    as torch promotes them; float16 and bfloat16 raise TypeError (torch: only on CUDA)."""
    x = _t(input)
    if x.dtype.kind in "biu":
        return x.to(np.float32)
    if x.dtype not in (np.float32, np.float64, np.complex64, np.complex128):
        raise TypeError(
            f"{op}: unsupported dtype {x.dtype} (float32, float64, complex64, complex128 or an "
            "integer type, which becomes float32)"
        )
    return x


def _as_complex(x: Tensor) -> Tensor:
    """A real tensor as complex (its gradient comes back real, the real part)."""
    return x if x.dtype.kind == "c" else x.to(_complex_of(x.dtype))


def _dims_sizes(
    x: Tensor, s: _Sizes, dim: _Dims, op: str, arg: str = "s"
) -> tuple[tuple[int, ...], list[int]]:
    """torch's rules for (s, dim): neither -> every dim; only s -> the last len(s) dims; only
    dim -> the sizes of those dims. An entry -1 of s keeps that dim's size."""
    nd = x.ndim
    if dim is None:
        if s is None:
            dims = tuple(range(nd))
        else:
            if len(s) > nd:
                raise ValueError(f"{op}: {arg} has {len(s)} entries, the input only {nd} dims")
            dims = tuple(range(nd - len(s), nd))
    else:
        raw = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        found: list[int] = []
        for d in raw:
            if not -nd <= d < nd or nd == 0:
                raise IndexError(
                    f"{op}: dim {d} is out of range for a tensor of {nd} dims "
                    f"(expected in [{-max(nd, 1)}, {max(nd, 1) - 1}])"
                )
            found.append(int(d) % nd)
        dims = tuple(found)
        if len(set(dims)) != len(dims):
            raise ValueError(f"{op}: dims must be unique, got {tuple(raw)}")
        if s is not None and len(s) != len(dims):
            raise ValueError(
                f"{op}: dim and {arg} must have the same length when both are given, "
                f"got {len(dims)} and {len(s)}"
            )
    sizes = [x.shape[d] for d in dims] if s is None else [int(n) for n in s]
    sizes = [x.shape[d] if n == -1 else n for d, n in zip(dims, sizes)]
    return dims, sizes


def _check_sizes(sizes: Sequence[int], op: str, arg: str) -> None:
    for n in sizes:
        if n < 1:
            raise ValueError(f"{op}: invalid number of data points ({n}) specified in {arg}")


def _resized(x: Tensor, dims: tuple[int, ...], sizes: Sequence[int]) -> Tensor:
    if all(x.shape[d] == n for d, n in zip(dims, sizes)):
        return x
    return Resize.apply(x, dims, tuple(sizes))


def _one(n: int | None) -> _Sizes:
    return None if n is None else (n,)


def _c2c(input: Tensor, s: _Sizes, dim: _Dims, norm: str | None, fwd: bool, op: str) -> Tensor:
    x = _as_complex(_prep(input, op))
    nm = _norm(norm, op)
    dims, sizes = _dims_sizes(x, s, dim, op, "s" if op.endswith(("n", "2")) else "n")
    _check_sizes(sizes, op, "n" if op in ("fft", "ifft") else "s")
    return C2C.apply(_resized(x, dims, sizes), dims, nm, fwd)


def _r2c(input: Tensor, s: _Sizes, dim: _Dims, norm: str, op: str) -> Tensor:
    x = _prep(input, op)
    if x.dtype.kind == "c":
        raise TypeError(f"{op}: expects a real input tensor, got {x.dtype}")
    dims, sizes = _dims_sizes(x, s, dim, op)
    _check_sizes(sizes, op, "n" if op in ("rfft", "ihfft") else "s")
    if not dims:
        raise ValueError(f"{op}: needs at least one dim to transform")
    return R2C.apply(_resized(x, dims, sizes), dims, norm)


def _c2r(input: Tensor, s: _Sizes, dim: _Dims, norm: str, op: str) -> Tensor:
    x = _as_complex(_prep(input, op))
    dims, sizes = _dims_sizes(x, s, dim, op)
    if not dims:
        raise ValueError(f"{op}: needs at least one dim to transform")
    last = dims[-1]
    if s is None or list(s)[-1] == -1:  # the default: 2 (m - 1) for m one-sided entries
        sizes[-1] = 2 * (x.shape[last] - 1)
    _check_sizes(sizes, op, "n" if op in ("irfft", "hfft") else "s")
    half = [*sizes[:-1], sizes[-1] // 2 + 1]
    return C2R.apply(_resized(x, dims, half), dims, tuple(sizes), norm)


def fft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The 1-D discrete Fourier transform along ``dim``: ``X[k] = sum_j x[j] exp(-2 pi i jk/n)``
    (scaled by ``norm``), the input zero-padded or trimmed to ``n`` first. A real input gives
    the complex dtype of its precision (float32 -> complex64), integers become float32."""
    return _c2c(input, _one(n), dim, norm, True, "fft")


def ifft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The 1-D inverse discrete Fourier transform along ``dim`` (by default scaled by 1/n)."""
    return _c2c(input, _one(n), dim, norm, False, "ifft")


def fft2(input: Tensor, s: _Sizes = None, dim: _Dims = (-2, -1), norm: str | None = None) -> Tensor:
    """The 2-D discrete Fourier transform over ``dim`` (the last two by default)."""
    return _c2c(input, s, dim, norm, True, "fft2")


def ifft2(
    input: Tensor, s: _Sizes = None, dim: _Dims = (-2, -1), norm: str | None = None
) -> Tensor:
    """The 2-D inverse discrete Fourier transform over ``dim`` (the last two by default)."""
    return _c2c(input, s, dim, norm, False, "ifft2")


def fftn(input: Tensor, s: _Sizes = None, dim: _Dims = None, norm: str | None = None) -> Tensor:
    """The n-D discrete Fourier transform over ``dim`` (None: every dim, or the last len(s)
    dims when ``s`` is given); ``s`` pads or trims each, -1 keeping a dim's size."""
    return _c2c(input, s, dim, norm, True, "fftn")


def ifftn(input: Tensor, s: _Sizes = None, dim: _Dims = None, norm: str | None = None) -> Tensor:
    """The n-D inverse discrete Fourier transform (dims and sizes as ``fftn``)."""
    return _c2c(input, s, dim, norm, False, "ifftn")


def rfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The 1-D Fourier transform of a real input: the n//2 + 1 non-negative frequencies (the
    others are their complex conjugates). A complex input raises TypeError."""
    return _r2c(input, _one(n), dim, _norm(norm, "rfft"), "rfft")


def irfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The inverse of ``rfft``: a one-sided spectrum to a real signal of length ``n`` (default
    2 (m - 1) for m input entries; pass n for an odd length). The imaginary parts of the zero
    (and, n even, the Nyquist) frequency are ignored, as torch."""
    return _c2r(input, _one(n), dim, _norm(norm, "irfft"), "irfft")


def rfft2(
    input: Tensor, s: _Sizes = None, dim: _Dims = (-2, -1), norm: str | None = None
) -> Tensor:
    """``rfftn`` over two dims (the last two by default); the last of them is one-sided."""
    return _r2c(input, s, dim, _norm(norm, "rfft2"), "rfft2")


def irfft2(
    input: Tensor, s: _Sizes = None, dim: _Dims = (-2, -1), norm: str | None = None
) -> Tensor:
    """The inverse of ``rfft2``."""
    return _c2r(input, s, dim, _norm(norm, "irfft2"), "irfft2")


def rfftn(input: Tensor, s: _Sizes = None, dim: _Dims = None, norm: str | None = None) -> Tensor:
    """The n-D Fourier transform of a real input; the last of ``dim`` keeps its n//2 + 1
    non-negative frequencies (dims and sizes as ``fftn``)."""
    return _r2c(input, s, dim, _norm(norm, "rfftn"), "rfftn")


def irfftn(input: Tensor, s: _Sizes = None, dim: _Dims = None, norm: str | None = None) -> Tensor:
    """The inverse of ``rfftn``: the last of ``dim`` is one-sided, its output length
    2 (m - 1) unless ``s`` says otherwise."""
    return _c2r(input, s, dim, _norm(norm, "irfftn"), "irfftn")


def hfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The Fourier transform of a Hermitian-symmetric signal given by its first half: a real
    spectrum of length ``n`` (default 2 (m - 1)). It is ``irfft(conj(input))`` with the forward
    transform's scaling, as torch.fft.hfft."""
    nm = _DUAL[_norm(norm, "hfft")]
    return _c2r(_as_complex(_prep(input, "hfft")).conj(), _one(n), dim, nm, "hfft")


def ihfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None) -> Tensor:
    """The inverse of ``hfft``: the first n//2 + 1 entries of the inverse Fourier transform of a
    real input (``conj(rfft(input))`` with the inverse's scaling)."""
    return _r2c(input, _one(n), dim, _DUAL[_norm(norm, "ihfft")], "ihfft").conj()


def hfft2(
    input: Tensor, s: _Sizes = None, dim: _Dims = (-2, -1), norm: str | None = None
) -> Tensor:
    """``hfftn`` over two dims (the last two by default)."""
    nm = _DUAL[_norm(norm, "hfft2")]
    return _c2r(_as_complex(_prep(input, "hfft2")).conj(), s, dim, nm, "hfft2")


def ihfft2(
    input: Tensor, s: _Sizes = None, dim: _Dims = (-2, -1), norm: str | None = None
) -> Tensor:
    """``ihfftn`` over two dims (the last two by default)."""
    return _r2c(input, s, dim, _DUAL[_norm(norm, "ihfft2")], "ihfft2").conj()


def hfftn(input: Tensor, s: _Sizes = None, dim: _Dims = None, norm: str | None = None) -> Tensor:
    """The n-D ``hfft``: the last of ``dim`` holds the first half of a Hermitian signal, the
    output is real."""
    nm = _DUAL[_norm(norm, "hfftn")]
    return _c2r(_as_complex(_prep(input, "hfftn")).conj(), s, dim, nm, "hfftn")


def ihfftn(input: Tensor, s: _Sizes = None, dim: _Dims = None, norm: str | None = None) -> Tensor:
    """The n-D ``ihfft`` of a real input; the last of ``dim`` is one-sided."""
    return _r2c(input, s, dim, _DUAL[_norm(norm, "ihfftn")], "ihfftn").conj()
