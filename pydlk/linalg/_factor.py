"""Factorizations: cholesky, qr, eigh, svd (and cholesky_ex, eigvalsh, svdvals).

Each is a Function on arrays (NumPy's or CuPy's ``linalg``) with torch's backward formula
(torch/csrc/autograd/FunctionsManual.cpp). The eigenvector and singular-vector gradients divide
by differences of eigenvalues (squared singular values): they are only finite for distinct
ones, and only meaningful for a loss that does not depend on the vectors' signs, as torch
documents. Only ``cholesky`` has a double backward; the others raise the engine's error."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from ..autograd import Function, Tensor
from ._common import (
    LinAlgError,
    _all_finite,
    _check_matrix,
    _chol_info,
    _infos,
    _mT,
    _not_pd_error,
    _square_t,
    _tensor,
    linalg_cholesky_ex,
    linalg_eigh,
    linalg_qr,
    linalg_svd,
)
from ._inverse import Inv, _nan_where


def _diag_idx(n: int, xp: Any) -> tuple[Any, Any]:
    i = xp.arange(n)
    return i, i


def _sym_from_lower(a: Any) -> Any:
    """The symmetric matrix whose lower triangle is ``a``'s (LAPACK's potrf reads only that)."""
    xp = get_array_module(a)
    return xp.tril(a) + _mT(xp.tril(a, -1))


class Cholesky(Function):
    """The lower Cholesky factor L (A = L L^T) of each matrix, from its lower triangle.
    Backward (Murray 2016, torch's): Phi = tril(L^T G) with its strict lower part mirrored and
    halved, gA = L^-T Phi L^-1 (symmetric)."""

    @staticmethod
    def forward(ctx, a):
        xp = get_array_module(a)
        try:
            L = xp.linalg.cholesky(_sym_from_lower(a))
        except np.linalg.LinAlgError:
            raise _not_pd_error("linalg.cholesky", a) from None
        if is_cupy(a) and not _all_finite(L):
            raise _not_pd_error("linalg.cholesky", a)
        ctx.save_for_backward(L)
        return L

    @staticmethod
    def backward(ctx, g):
        (L,) = ctx.saved_tensors
        xp = get_array_module(L)
        m = xp.tril(_mT(L) @ g)
        phi = 0.5 * (m + _mT(xp.tril(m, -1)))
        linv = xp.linalg.inv(L)
        return _mT(linv) @ phi @ linv

    @staticmethod
    def backward_graph(ctx, inputs, g):
        L = Cholesky.apply(inputs[0])
        m = (L.mT @ g).tril()
        phi = 0.5 * (m + m.tril(-1).mT)
        linv = Inv.apply(L)
        return linv.mT @ phi @ linv


def _copyltu(m: Any) -> Any:
    """The symmetric matrix with ``m``'s lower triangle."""
    return _sym_from_lower(m)


def _qr_square_backward(q: Any, r: Any, gq: Any, gr: Any) -> Any:
    """The QR gradient for m >= n (R square): M = R gR^T - gQ^T Q,
    gA = (gQ + Q copyltu(M)) R^-T."""
    xp = get_array_module(q)
    m = r @ _mT(gr) - _mT(gq) @ q
    b = gq + q @ _copyltu(m)
    return _mT(xp.linalg.solve(r, _mT(b)))  # b R^-T


class QR(Function):
    """``(Q, R)`` of each matrix (Householder, LAPACK's signs), ``mode`` as torch's. Backward
    for 'reduced' (and 'complete' with m <= n): the square case above; a wide A = [X | Y]
    (m < n) is X's square case with gQ + Y gR_Y^T, and gY = Q gR_Y."""

    @staticmethod
    def forward(ctx, a, mode):
        xp = get_array_module(a)
        if mode == "r":
            q, r = xp.empty((0,), a.dtype), xp.linalg.qr(a, mode="r")
        else:
            q, r = xp.linalg.qr(a, mode=mode)
        ctx.save_for_backward(q, r)
        ctx.mode = mode
        return q, r

    @staticmethod
    def backward(ctx, gq, gr):
        q, r = ctx.saved_tensors
        if ctx.mode == "r":
            raise RuntimeError(
                "linalg.qr: The derivative of linalg.qr depends on Q, which is not computed "
                "when mode='r'. Please use linalg.qr(A, mode='reduced') if you are going to "
                "differentiate through linalg.qr."
            )
        m, n = q.shape[-2], r.shape[-1]
        if ctx.mode == "complete" and m > n:
            raise RuntimeError(
                "linalg.qr: The QR decomposition is not differentiable when mode='complete' "
                "and nrows > ncols."
            )
        if m >= n:
            return _qr_square_backward(q, r, gq, gr), None
        xp = get_array_module(q)
        r1, r2 = r[..., :, :m], r[..., :, m:]
        gr1, gr2 = gr[..., :, :m], gr[..., :, m:]
        gx = _qr_square_backward(q, r1, gq + (q @ r2) @ _mT(gr2), gr1)
        return xp.concatenate([gx, q @ gr2], -1), None


class Eigh(Function):
    """Eigenvalues (ascending) and eigenvectors of each symmetric matrix, from its ``UPLO``
    triangle. Backward (torch's): with V^T gV made skew, R = skew / (w_j - w_i) off the
    diagonal and gw on it, gA = V R V^T; without a gradient on V (``eigvalsh``),
    gA = V diag(gw) V^T, finite for repeated eigenvalues too."""

    @staticmethod
    def forward(ctx, a, uplo):
        w, v = get_array_module(a).linalg.eigh(a, UPLO=uplo)
        ctx.save_for_backward(w, v)
        return w, v

    @staticmethod
    def backward(ctx, gw, gv):
        w, v = ctx.saved_tensors
        xp = get_array_module(v)
        if not bool(xp.any(gv)):  # no loss term reads V
            return (v * gw[..., None, :]) @ _mT(v), None
        vg = _mT(v) @ gv
        vg = 0.5 * (vg - _mT(vg))
        e = w[..., None, :] - w[..., :, None]
        i, j = _diag_idx(w.shape[-1], xp)
        e[..., i, j] = 1
        with np.errstate(divide="ignore", invalid="ignore"):
            r = vg / e
        r[..., i, j] = gw
        return v @ r @ _mT(v), None


class SVD(Function):
    """``(U, S, Vh)`` of each matrix. Backward (torch's svd_backward, on the first
    k = min(m, n) columns of U and rows of Vh): with E_ij = s_j^2 - s_i^2,
    gA = U [(skew(U^T gU) S + S skew(Vh gVh^T)) / E + diag(gS)] Vh, plus the parts of gU
    (m > n) or gVh (m < n) outside the span of U (V); without gradients on U and Vh
    (``svdvals``), gA = U diag(gS) Vh."""

    @staticmethod
    def forward(ctx, a, full_matrices):
        u, s, vh = get_array_module(a).linalg.svd(a, full_matrices=full_matrices)
        ctx.save_for_backward(u, s, vh)
        return u, s, vh

    @staticmethod
    def backward(ctx, gu, gs, gvh):
        u, s, vh = ctx.saved_tensors
        xp = get_array_module(s)
        k = s.shape[-1]
        u, vh, gu, gvh = u[..., :, :k], vh[..., :k, :], gu[..., :, :k], gvh[..., :k, :]
        m, n = u.shape[-2], vh.shape[-1]
        has_u, has_v = bool(xp.any(gu)), bool(xp.any(gvh))
        if not has_u and not has_v:
            return (u * gs[..., None, :]) @ vh, None
        s2 = s * s
        e = s2[..., None, :] - s2[..., :, None]
        i, j = _diag_idx(k, xp)
        e[..., i, j] = 1
        ga = xp.zeros(e.shape, s.dtype)
        if has_u:
            uu = _mT(u) @ gu
            ga = ga + (uu - _mT(uu)) * s[..., None, :]
        if has_v:
            vv = vh @ _mT(gvh)
            ga = ga + s[..., :, None] * (vv - _mT(vv))
        with np.errstate(divide="ignore", invalid="ignore"):
            ga = ga / e
            ga[..., i, j] += gs
            if m > n and has_u:
                gus = gu / s[..., None, :]
                ga = (u @ ga + gus - u @ (_mT(u) @ gus)) @ vh
            elif m < n and has_v:
                sgv = gvh / s[..., :, None]
                ga = u @ (ga @ vh + sgv - (sgv @ _mT(vh)) @ vh)
            else:
                ga = u @ ga @ vh
        return ga, None


# -- the public functions


def cholesky(A: Tensor, *, upper: bool = False, out: None = None) -> Tensor:
    """The Cholesky factor of a symmetric positive-definite matrix (or batch), as
    torch.linalg.cholesky: lower L with A = L L^T, or with ``upper=True`` U = L^T (A = U^T U).
    Only A's lower triangle is read. Raises LinAlgError (a RuntimeError) naming the batch
    element and the leading minor that is not positive-definite, as torch's; ValueError for a
    non-square input."""
    if out is not None:
        raise TypeError("linalg.cholesky: out= is not supported")
    L = Cholesky.apply(_square_t("linalg.cholesky", A))
    return L.mT if upper else L


def cholesky_ex(
    A: Tensor, *, upper: bool = False, check_errors: bool = False, out: None = None
) -> linalg_cholesky_ex:
    """``(L, info)``, as torch.linalg.cholesky_ex: ``info`` (int32, batch shape) is 0 where
    the factorization succeeded and the order of the leading minor that is not
    positive-definite elsewhere (there L is NaN, without gradient). ``check_errors=True``
    raises as ``cholesky``."""
    A = _square_t("linalg.cholesky_ex", A)
    xp = get_array_module(A._data)
    try:
        L = Cholesky.apply(A)
        info = Tensor(xp.zeros(A.shape[:-2], np.int32))
        return linalg_cholesky_ex(L.mT if upper else L, info)
    except LinAlgError:
        if check_errors:
            raise
    info_h = _infos(A._data, _chol_info)
    bad = xp.asarray(info_h != 0)
    safe = xp.where(bad[..., None, None], xp.eye(A.shape[-1], dtype=A.dtype), A._data)
    L = _nan_where(info_h != 0, xp.linalg.cholesky(_sym_from_lower(safe)))
    return linalg_cholesky_ex(Tensor(_mT(L) if upper else L), Tensor(xp.asarray(info_h)))


_QR_MODES = ("reduced", "complete", "r")


def qr(A: Tensor, mode: str = "reduced", *, out: None = None) -> linalg_qr:
    """``(Q, R)`` with A = Q R, Q orthonormal columns and R upper triangular, as
    torch.linalg.qr (Householder, LAPACK's signs). ``mode``: 'reduced' (Q (m, k), R (k, n),
    k = min(m, n)), 'complete' (Q (m, m), R (m, n)) or 'r' (R only; Q is empty). Gradients as
    torch's: not for mode 'r', nor 'complete' with m > n (those raise in backward)."""
    if out is not None:
        raise TypeError("linalg.qr: out= is not supported")
    A = _tensor(A)
    _check_matrix("linalg.qr", A)
    if mode not in _QR_MODES:
        raise ValueError(
            f"linalg.qr: received unrecognized mode {mode!r} but expected one of 'reduced' "
            "(default), 'r', or 'complete'"
        )
    Q, R = QR.apply(A, mode)
    return linalg_qr(Q.detach() if mode == "r" else Q, R)


def _uplo(op: str, UPLO: str) -> str:
    if UPLO not in ("L", "U"):
        raise ValueError(f"{op}: Expected UPLO argument to be 'L' or 'U', but got {UPLO!r}")
    return UPLO


def eigh(A: Tensor, UPLO: str = "L", *, out: None = None) -> linalg_eigh:
    """``(eigenvalues, eigenvectors)`` of a symmetric matrix (or batch), as torch.linalg.eigh:
    eigenvalues ascending, eigenvectors as columns; only the ``UPLO`` ('L' or 'U') triangle is
    read. The eigenvectors' signs are LAPACK's (they may differ from torch's): gradients
    through them are meaningful only for sign-invariant losses, and finite only for distinct
    eigenvalues."""
    if out is not None:
        raise TypeError("linalg.eigh: out= is not supported")
    A = _square_t("linalg.eigh", A)
    w, v = Eigh.apply(A, _uplo("linalg.eigh", UPLO))
    return linalg_eigh(w, v)


def eigvalsh(A: Tensor, UPLO: str = "L", *, out: None = None) -> Tensor:
    """The eigenvalues (ascending) of a symmetric matrix (or batch), as torch.linalg.eigvalsh;
    only the ``UPLO`` triangle is read. Its gradient is V diag(g) V^T, finite for repeated
    eigenvalues too."""
    if out is not None:
        raise TypeError("linalg.eigvalsh: out= is not supported")
    A = _square_t("linalg.eigvalsh", A)
    return Eigh.apply(A, _uplo("linalg.eigvalsh", UPLO))[0]


def svd(
    A: Tensor, full_matrices: bool = True, *, driver: str | None = None, out: None = None
) -> linalg_svd:
    """``(U, S, Vh)`` with A = U diag(S) Vh, S descending, as torch.linalg.svd. With
    ``full_matrices`` U is (m, m) and Vh (n, n), else (m, k) and (k, n), k = min(m, n);
    ``driver`` (a CUDA option in torch) is accepted and ignored. The vectors' signs are
    LAPACK's: gradients through U and Vh are meaningful only for losses that do not depend on
    them (``U @ diag(S) @ Vh``, ``abs``), and finite only for distinct singular values; the
    extra columns of a full U or Vh get none, as in torch."""
    if out is not None:
        raise TypeError("linalg.svd: out= is not supported")
    A = _tensor(A)
    _check_matrix("linalg.svd", A)
    U, S, Vh = SVD.apply(A, bool(full_matrices))
    return linalg_svd(U, S, Vh)


def svdvals(A: Tensor, *, driver: str | None = None, out: None = None) -> Tensor:
    """The singular values of a matrix (or batch), descending, as torch.linalg.svdvals; the
    gradient is U diag(g) Vh."""
    if out is not None:
        raise TypeError("linalg.svdvals: out= is not supported")
    A = _tensor(A)
    _check_matrix("linalg.svdvals", A)
    return SVD.apply(A, False)[1]
