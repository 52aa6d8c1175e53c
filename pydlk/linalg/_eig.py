"""The eigendecomposition of general (non-symmetric) matrices: eig and eigvals, as torch's.

NumPy's (CuPy's, or NumPy's on the host where CuPy has none) ``linalg.eig`` is LAPACK's geev:
eigenvectors of unit norm. torch returns complex results whatever the input, so real inputs
give complex64 (float32) or complex128 (float64) eigenvalues and eigenvectors here too.

The backward is torch's linalg_eig_backward: with E_ij = conj(L_j - L_i),
gA = V^-H (diag(gL) + (V^H gV - V^H V diag(re(diag(V^H gV)))) / E) V^H, its real part for a
real A. Eigenvectors are defined up to a phase e^{i phi}; a loss that depends on it is
ill-defined, and the backward raises, as torch's does."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._backend import get_array_module, host_array, is_cupy
from ..autograd import Function, Tensor
from ._common import _mT, _tensor


class linalg_eig(NamedTuple):
    """``(eigenvalues, eigenvectors)`` of ``pydlk.linalg.eig``."""

    eigenvalues: Tensor
    eigenvectors: Tensor


linalg_eig.__module__ = "pydlk.return_types"


def _complex_of(dtype: Any) -> np.dtype:
    return np.dtype(
        np.complex64 if np.dtype(dtype) in (np.float32, np.complex64) else np.complex128
    )


def _geev(a: Any) -> tuple[Any, Any]:
    """Eigenvalues and unit eigenvectors of each matrix, complex, on ``a``'s device."""
    xp = get_array_module(a)
    cdt = _complex_of(a.dtype)
    if is_cupy(a) and not hasattr(xp.linalg, "eig"):  # older CuPy: LAPACK on the host
        w, v = np.linalg.eig(host_array(a))
        return xp.asarray(w.astype(cdt)), xp.asarray(v.astype(cdt))
    w, v = xp.linalg.eig(a)
    return w.astype(cdt, copy=False), v.astype(cdt, copy=False)


def _mH(a: Any) -> Any:
    return _mT(a).conj()


class Eig(Function):
    """(L, V) with A V = V diag(L); gradients by torch's formula (module docstring)."""

    @staticmethod
    def forward(ctx, a):
        w, v = _geev(a)
        ctx.save_for_backward(w, v)
        ctx.real_input = a.dtype.kind == "f"
        return w, v

    @staticmethod
    def backward(ctx, gw, gv):
        w, v = ctx.saved_tensors
        xp = get_array_module(v)
        vh = _mH(v)
        vhgv = vh @ gv
        d = xp.diagonal(vhgv, axis1=-2, axis2=-1)
        if bool(xp.any(xp.abs(d.imag) > 1e-2)):  # torch: allclose(imag, 0, 1e-2, 1e-2)
            raise RuntimeError(
                "linalg_eig_backward: The eigenvectors in the complex case are specified up to "
                "multiplication by e^{i phi}. The specified loss function depends on this "
                "quantity, so it is ill-defined."
            )
        ga = vhgv - vh @ (v * d.real[..., None, :])
        e = w.conj()[..., None, :] - w.conj()[..., :, None]
        n = w.shape[-1]
        idx = xp.arange(n)
        e[..., idx, idx] = 1
        ga = ga / e
        ga[..., idx, idx] = gw
        ga = xp.linalg.solve(vh, ga @ vh)  # V^-H ga V^H
        return ga.real if ctx.real_input else ga


class _EigvalsOnly(Function):
    """The eigenvalues alone: the backward above with gV = 0 (no phase question arises)."""

    @staticmethod
    def forward(ctx, a):
        w, v = _geev(a)
        ctx.save_for_backward(w, v)
        ctx.real_input = a.dtype.kind == "f"
        return w

    @staticmethod
    def backward(ctx, gw):
        w, v = ctx.saved_tensors
        xp = get_array_module(v)
        vh = _mH(v)
        n = w.shape[-1]
        ga = xp.zeros(v.shape, v.dtype)
        idx = xp.arange(n)
        ga[..., idx, idx] = gw
        ga = xp.linalg.solve(vh, ga @ vh)
        return ga.real if ctx.real_input else ga


def _eig_args(op: str, A: Any) -> Tensor:
    A = _tensor(A)
    if A.ndim < 2:
        raise ValueError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if A.dtype.kind not in "fc" or A.dtype.itemsize < 4:
        raise TypeError(
            f"{op}: Expected a floating point or complex tensor as input. Got {A.dtype}"
        )
    if A.shape[-1] != A.shape[-2]:
        raise ValueError(
            f"{op}: A must be batches of square matrices, but they are "
            f"{A.shape[-2]} by {A.shape[-1]} matrices"
        )
    if not bool(get_array_module(A._data).isfinite(A._data).all()):
        raise ValueError(f"{op}: input should not contain infs or NaNs.")
    return A


def eig(A: Tensor, *, out: None = None) -> linalg_eig:
    """Eigenvalues and eigenvectors of each square matrix, as torch.linalg.eig: complex
    ``(eigenvalues (*, n), eigenvectors (*, n, n))`` with unit-norm eigenvector columns (LAPACK
    geev's), for real or complex input. Differentiable (torch's formula); a loss that depends
    on the eigenvectors' phases raises in backward, as torch's does. For symmetric matrices
    ``eigh`` is faster and real."""
    A = _eig_args("linalg.eig", A)
    w, v = Eig.apply(A)
    return linalg_eig(w, v)


def eigvals(A: Tensor, *, out: None = None) -> Tensor:
    """The complex eigenvalues of each square matrix, as torch.linalg.eigvals (differentiable).
    For symmetric matrices ``eigvalsh`` is faster and real."""
    A = _eig_args("linalg.eigvals", A)
    return _EigvalsOnly.apply(A)
