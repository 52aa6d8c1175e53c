"""The LDL family: ldl_factor, ldl_factor_ex and ldl_solve, as torch's (LAPACK's sytrf/hetrf and
sytrs/hetrs with ``uplo='L'``).

On the CPU they call the kernels ``_C.ldl_factor`` and ``_C.ldl_solve`` (csrc/linalg_ldl.cpp):
OpenBLAS's LAPACK ?sytrf/?hetrf and ?sytrs/?hetrs on each matrix of the batch, matrices of order
up to 64 and matrices holding a NaN factored by a C++ port of the array code below, which is
faster there and reproduces torch's factors of real matrices bit for bit. On a GPU the kernels
of ``pydlk._cuda`` with the same names run the array code of this module: LAPACK's
Bunch-Kaufman diagonal pivoting (dsytf2's algorithm and conventions, alpha = (1 + sqrt(17)) /
8), vectorised over the batch on CuPy (or NumPy) arrays. Only the lower triangle of A is read.
A symmetric (Hermitian) copy of the trailing matrix is kept, so that LAPACK's symmetric
interchange of rows and columns kk and kp there is a gather of both axes; the columns of L
already computed are not interchanged, as in LAPACK, which is why ``ldl_solve`` applies the
pivots step by step.

Output, as torch's: ``LD`` holds the unit lower triangular L below the diagonal and the block
diagonal D (1x1 and 2x2 blocks; a 2x2 block's off-diagonal element in the lower triangle) on and
next to it, zeros above; ``pivots`` are int32 and 1-based: ``pivots[k] = kp > 0`` means rows and
columns k and kp - 1 were interchanged and D[k, k] is a 1x1 block; ``pivots[k] = pivots[k+1] =
-kp < 0`` means rows and columns k + 1 and kp - 1 were interchanged and D[k:k+2, k:k+2] is a 2x2
block. ``info`` (int32, batch shape) is the 1-based index of the first exactly zero pivot
column (D is singular; the factorisation is still complete) or 0. A NaN diagonal entry with a
nonzero column below it is not a zero pivot (torch's LAPACK's rule; reference LAPACK's would
end the column there).

Complex matrices are symmetric (``hermitian=False``: A = L D L^T, the pivot sizes measured as
LAPACK's ``|Re| + |Im|``) or Hermitian (``hermitian=True``: A = L D L^H, zhetrf's rules, the
diagonal's imaginary part ignored). float32, float64, complex64 and complex128, as torch's
(float16 is refused, as torch refuses it). None of the three has a derivative in torch; here
neither: a backward through them raises, as torch's."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._backend import get_array_module, host_array, kernels_for
from ..autograd import Function, Tensor
from ._common import LinAlgError, _tensor

_ALPHA = (1.0 + 17.0**0.5) / 8.0
_DTYPES = tuple(np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128))


class linalg_ldl_factor(NamedTuple):
    """``(LD, pivots)`` of ``pydlk.linalg.ldl_factor``."""

    LD: Tensor
    pivots: Tensor


class linalg_ldl_factor_ex(NamedTuple):
    """``(LD, pivots, info)`` of ``pydlk.linalg.ldl_factor_ex``."""

    LD: Tensor
    pivots: Tensor
    info: Tensor


def _mag(xp, z):
    """LAPACK's pivot size: ``|z|`` for real numbers, ``|Re z| + |Im z|`` for complex ones."""
    if z.dtype.kind == "c":
        return xp.abs(z.real) + xp.abs(z.imag)
    return xp.abs(z)


def _mirror(xp, t, herm):
    """The symmetric (Hermitian) matrix whose lower triangle is ``t``'s."""
    low = xp.tril(t, -1)
    up = xp.swapaxes(low, -1, -2)
    d = xp.diagonal(t, 0, -2, -1)
    if herm:
        up = up.conj()
        d = d.real
    out = low + up
    i = xp.arange(t.shape[-1])
    out[..., i, i] = d  # set, not added: a NaN stays where it is
    return out


def _some(xp, mask):
    """Whether any batch element is in ``mask``: NumPy answers; on a GPU every branch runs
    (masked), so that the loop never waits for the device."""
    return bool(mask.any()) if xp is np else True


def _select(xp, mask, new, old):
    """``new`` where ``mask`` (a batch mask), else ``old``; no copy when all are in ``mask``."""
    if xp is np and bool(mask.all()):
        return new
    return xp.where(mask.reshape(mask.shape + (1,) * (new.ndim - 1)), new, old)


def _symmetric(xp, r, lower, herm):
    """The symmetric (Hermitian) matrix whose lower triangle (``lower``: a tril mask) is
    ``r``'s: the trailing matrix keeps LAPACK's lower values in both halves."""
    rt = xp.swapaxes(r, -1, -2)
    out = xp.where(lower, r, rt.conj() if herm else rt)
    if herm:
        i = xp.arange(r.shape[-1])
        out[..., i, i] = out[..., i, i].real
    return out


def _sytrf(a, herm):
    """(LD, pivots, info) of the (B, n, n) array ``a`` by LAPACK's Bunch-Kaufman lower sytf2
    (hetf2 for ``herm`` and complex ``a``)."""
    xp = get_array_module(a)
    nb, n = a.shape[0], a.shape[-1]
    herm = herm and a.dtype.kind == "c"
    m = _mirror(xp, a, herm)
    lower = xp.tril(xp.ones((n, n), bool))
    piv = xp.zeros((nb, n), np.int32)
    info = xp.zeros(nb, np.int32)
    pending = xp.zeros(nb, bool)  # column k is the second of a 2x2 block begun at k - 1
    rows = xp.arange(nb)
    alpha = _ALPHA
    for k in range(n):
        act = ~pending
        akk = m[:, k, k]
        absakk = xp.abs(akk.real) if herm else _mag(xp, akk)
        if k + 1 < n:
            col = _mag(xp, m[:, k + 1 :, k])
            imax = k + 1 + xp.argmax(col, axis=1)
            colmax = col[rows, imax - k - 1]
        else:
            imax = xp.full(nb, k)
            colmax = xp.zeros(nb, absakk.dtype)
        # LAPACK's test MAX(ABSAKK, COLMAX) == 0 as torch's LAPACK computes it: a NaN ABSAKK
        # gives COLMAX (x86's max), so a NaN diagonal is a singular column only with a zero
        # column below it
        sing = act & (xp.where(xp.isnan(absakk), colmax, xp.maximum(absakk, colmax)) == 0)
        ok = act & ~sing
        c1 = absakk >= alpha * colmax
        # the largest off-diagonal entry of row/column imax in the trailing matrix
        rowvals = _mag(xp, m[rows, imax, k:])
        rowvals[rows, imax - k] = 0
        rowmax = rowvals.max(axis=1) if k + 1 < n else colmax
        safe = xp.where(rowmax == 0, 1, rowmax)
        c2 = absakk >= alpha * colmax * (colmax / safe)
        dimax = m[rows, imax, imax]
        c3 = (xp.abs(dimax.real) if herm else _mag(xp, dimax)) >= alpha * rowmax
        stay = ok & (c1 | c2)
        one = ok & (c1 | c2 | c3)
        two = ok & ~(c1 | c2 | c3)
        kk = k + two.astype(np.int64)
        kp = xp.where(stay | ~ok, kk, imax)
        info = xp.where(sing & (info == 0), k + 1, info)
        if _some(xp, kp != kk):  # interchange rows, then columns, kk and kp of the trailing part
            rk, rp = m[rows, kk, k:], m[rows, kp, k:]
            m[rows, kk, k:], m[rows, kp, k:] = rp, rk
            ck, cp = m[rows, k:, kk], m[rows, k:, kp]
            m[rows, k:, kk], m[rows, k:, kp] = cp, ck
        if k + 1 < n and _some(xp, one):
            x = m[:, k + 1 :, k]
            dkk = m[:, k, k]
            if herm:  # zher: A -= r1 x x^H with r1 = 1 / Re(d)
                r1 = 1 / xp.where(one, dkk.real, 1)
                y = (r1[:, None] * x).conj()
                xs = x * r1[:, None]
            else:  # dsyr: A -= d11 x x^T with d11 = 1 / d
                d11 = 1 / xp.where(one, dkk, 1)
                y = d11[:, None] * x
                xs = x * d11[:, None]
            trail = m[:, k + 1 :, k + 1 :]
            upd = _symmetric(
                xp, trail - x[:, :, None] * y[:, None, :], lower[k + 1 :, k + 1 :], herm
            )
            m[:, k + 1 :, k + 1 :] = _select(xp, one, upd, trail)
            m[:, k + 1 :, k] = _select(xp, one, xs, x)
        if k + 2 < n and _some(xp, two):
            _two_update(xp, m, k, two, herm, lower[k + 2 :, k + 2 :])
        kp1 = (kp + 1).astype(np.int32)
        piv[:, k] = xp.where(two, -kp1, xp.where(act, kp1, piv[:, k]))
        if k + 1 < n:
            piv[:, k + 1] = xp.where(two, -kp1, piv[:, k + 1])
        pending = two
    ld = xp.tril(m)
    if herm:
        i = xp.arange(n)
        ld[..., i, i] = ld[..., i, i].real
    return ld, piv, info


def _two_update(xp, m, k, two, herm, lower):
    """sytf2's update of the trailing matrix after a 2x2 pivot block at (k, k + 1), for the
    batch elements in ``two``; columns k and k + 1 below the block become L's."""
    ak, ak1 = m[:, k + 2 :, k], m[:, k + 2 :, k + 1]
    a21 = xp.where(two, m[:, k + 1, k], 1)
    if herm:
        d = xp.abs(a21)
        d11 = xp.where(two, m[:, k + 1, k + 1].real, 0) / d
        d22 = xp.where(two, m[:, k, k].real, 0) / d
        tt = 1 / (d11 * d22 - 1)
        d21 = a21 / d
        dd = tt / d
        wk = dd[:, None] * (d11[:, None] * ak - d21[:, None] * ak1)
        wkp1 = dd[:, None] * (d22[:, None] * ak1 - d21.conj()[:, None] * ak)
        w0, w1 = wk.conj(), wkp1.conj()
    else:
        d11 = xp.where(two, m[:, k + 1, k + 1], 0) / a21
        d22 = xp.where(two, m[:, k, k], 0) / a21
        t = 1 / (d11 * d22 - 1)
        d21 = t / a21
        wk = d21[:, None] * (d11[:, None] * ak - ak1)
        wkp1 = d21[:, None] * (d22[:, None] * ak1 - ak)
        w0, w1 = wk, wkp1
    trail = m[:, k + 2 :, k + 2 :]
    upd = trail - ak[:, :, None] * w0[:, None, :]
    upd = _symmetric(xp, upd - ak1[:, :, None] * w1[:, None, :], lower, herm)
    m[:, k + 2 :, k + 2 :] = _select(xp, two, upd, trail)
    m[:, k + 2 :, k] = _select(xp, two, wk, ak)
    m[:, k + 2 :, k + 1] = _select(xp, two, wkp1, ak1)


def _sytrs(ld, piv, b, herm):
    """X with A X = B from sytrf's ``(ld, piv)``: LAPACK's sytrs (hetrs) with uplo='L', for
    (B, n, n), (B, n) and (B, n, r) arrays."""
    xp = get_array_module(ld)
    nb, n = ld.shape[0], ld.shape[-1]
    herm = herm and ld.dtype.kind == "c"
    x = b.copy()
    rows = xp.arange(nb)
    top2 = xp.zeros((nb, n), bool)  # k begins a 2x2 block
    pending = xp.zeros(nb, bool)

    def swap(x, r, kp):
        idx = xp.broadcast_to(xp.arange(n), (nb, n)).copy()
        idx[rows, r] = kp
        idx[rows, kp] = r
        return x[rows[:, None], idx]

    # L D Y = P^T B, block column by block column
    for k in range(n):
        act = ~pending
        p = piv[:, k].astype(np.int64)
        one = act & (p > 0)
        two = act & (p < 0)
        top2[:, k] = two
        kp = xp.where(one, p - 1, xp.where(two, -p - 1, k))
        r = xp.where(two, k + 1, k)
        kp = xp.where(act, kp, r)
        x = swap(x, r, kp)
        xk = x[:, k]
        if k + 1 < n:
            lk = ld[:, k + 1 :, k]
            x1 = x[:, k + 1 :] - lk[:, :, None] * xk[:, None, :]
            x[:, k + 1 :] = xp.where(one[:, None, None], x1, x[:, k + 1 :])
        dkk = xp.where(one, ld[:, k, k], 1)
        rec = 1 / (dkk.real if herm else dkk)  # LAPACK scales by the reciprocal
        x[:, k] = xp.where(one[:, None], xk * rec[:, None], xk)
        if k + 1 < n:
            xk1 = x[:, k + 1]
            if k + 2 < n:
                x2 = x[:, k + 2 :] - ld[:, k + 2 :, k][:, :, None] * xk[:, None, :]
                x2 = x2 - ld[:, k + 2 :, k + 1][:, :, None] * xk1[:, None, :]
                x[:, k + 2 :] = xp.where(two[:, None, None], x2, x[:, k + 2 :])
            akm1k = xp.where(two, ld[:, k + 1, k], 1)[:, None]
            c = akm1k.conj() if herm else akm1k
            akm1 = xp.where(two, ld[:, k, k], 0)[:, None] / c
            ak = xp.where(two, ld[:, k + 1, k + 1], 0)[:, None] / akm1k
            denom = akm1 * ak - 1
            bkm1 = xk / c
            bk = xk1 / akm1k
            x[:, k] = xp.where(two[:, None], (ak * bkm1 - bk) / denom, x[:, k])
            x[:, k + 1] = xp.where(two[:, None], (akm1 * bk - bkm1) / denom, xk1)
        pending = two
    # L^T P^T X = Y (L^H for Hermitian), from the last row up
    for k in range(n - 1, -1, -1):
        p = piv[:, k].astype(np.int64)
        act = ~top2[:, k]
        if k + 1 < n:
            lk = ld[:, k + 1 :, k]
            lk = lk.conj() if herm else lk
            dot = xp.einsum("bi,bir->br", lk, x[:, k + 1 :])
            x[:, k] = xp.where(act[:, None], x[:, k] - dot, x[:, k])
            if k >= 1:
                bottom = act & (p < 0)
                lk1 = ld[:, k + 1 :, k - 1]
                lk1 = lk1.conj() if herm else lk1
                dot1 = xp.einsum("bi,bir->br", lk1, x[:, k + 1 :])
                x[:, k - 1] = xp.where(bottom[:, None], x[:, k - 1] - dot1, x[:, k - 1])
        kp = xp.where(p > 0, p - 1, -p - 1)
        kp = xp.where(act, kp, k)
        x = swap(x, xp.full(nb, k), kp)
    return x


def _check_pivots(xp, piv, n, op):
    """ValueError unless each row of ``piv`` (B, n) is a pivot sequence sytrs can follow: every
    ``|p|`` in [1, n], a negative entry read as a 2x2 block's first row (walking down) with a
    row after it, one read as its second row (walking up) with a row before it. The checks of
    ``_C.ldl_solve``, for the array code (which would index out of range)."""
    nb = piv.shape[0]
    if nb == 0 or n == 0:
        return
    piv = piv.astype(np.int64)
    if bool(((piv == 0) | (piv < -n) | (piv > n)).any()):
        raise ValueError(
            f"{op}: pivots must satisfy 1 <= |pivot| <= n = {n} (LAPACK's 1-based encoding "
            "from ldl_factor)"
        )
    neg = piv < 0
    second = xp.zeros(nb, bool)  # walking down: this row ends a block begun on the row before
    for k in range(n - 1):
        second = neg[:, k] & ~second
    down_bad = neg[:, n - 1] & ~second
    first = xp.zeros(nb, bool)  # walking up: this row begins a block ended on the row after
    for k in range(n - 1, 0, -1):
        first = neg[:, k] & ~first
    if bool((down_bad | (neg[:, 0] & ~first)).any()):
        raise ValueError(
            f"{op}: pivots are not an ldl_factor result: a 2x2 block (negative pivots) begins "
            "at the last row or ends at the first row"
        )


class LDLFactor(Function):
    """``(LD, pivots, info)``; torch has no derivative for it, and neither has this."""

    op_name = "linalg_ldl_factor_ex"

    @staticmethod
    def forward(ctx, a, hermitian):
        return kernels_for(a).ldl_factor(get_array_module(a).ascontiguousarray(a), hermitian)

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("derivative for aten::linalg_ldl_factor_ex is not implemented")


class LDLSolve(Function):
    """X from ``(LD, pivots)`` and B; no derivative, as torch's."""

    op_name = "linalg_ldl_solve"

    @staticmethod
    def forward(ctx, ld, piv, b, hermitian):
        xp = get_array_module(ld)
        n = ld.shape[-1]
        lead = np.broadcast_shapes(ld.shape[:-2], piv.shape[:-1], b.shape[:-2])
        if piv.dtype != np.int32:
            p32 = piv.astype(np.int32)
            if bool((p32 != piv).any()):
                raise ValueError(
                    f"torch.linalg.ldl_solve: pivots must satisfy 1 <= |pivot| <= n = {n}"
                )
            piv = p32

        def expand(x, shape):  # broadcast to the common batch shape, C-contiguous
            return xp.ascontiguousarray(xp.broadcast_to(x, lead + shape))

        return kernels_for(ld).ldl_solve(
            expand(ld, (n, n)), expand(piv, (n,)), expand(b, b.shape[-2:]), hermitian
        )

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("derivative for aten::linalg_ldl_solve is not implemented")


def _check_ldl_input(op: str, A: Any, name: str = "A") -> Tensor:
    """torch's checks and messages (ValueError for shapes, TypeError for dtypes, as pydlk's
    linalg raises them; torch raises RuntimeError)."""
    A = _tensor(A)
    if A.ndim < 2:
        raise ValueError(f"torch.{op}: The input tensor {name} must have at least 2 dimensions.")
    if A.dtype.kind not in "fc":
        raise TypeError(
            f"torch.{op}: Expected a floating point or complex tensor as input. Got {A.dtype}"
        )
    if A.dtype not in _DTYPES:
        raise TypeError(
            f"torch.{op}: Expected a float32, float64, complex64 or complex128 tensor (LAPACK's "
            f"types; torch refuses lower precisions too). Got {A.dtype}"
        )
    if A.shape[-1] != A.shape[-2]:
        raise ValueError(
            f"torch.{op}: {name} must be batches of square matrices, but they are "
            f"{A.shape[-2]} by {A.shape[-1]} matrices"
        )
    return A


def _raise_info(op: str, info: Any) -> None:
    info = host_array(info)
    bad = np.flatnonzero(info.reshape(-1) != 0)
    if bad.size == 0:
        return
    i = int(bad[0])
    where = f"(Batch element {i}): " if info.ndim > 0 else ""
    j = int(info.reshape(-1)[i])
    raise LinAlgError(
        f"torch.{op}: {where}The factorization could not be completed because the block "
        f"diagonal matrix D is singular: D[{j - 1},{j - 1}] is exactly zero"
    )


def ldl_factor_ex(
    A: Tensor, *, hermitian: bool = False, check_errors: bool = False, out: None = None
) -> linalg_ldl_factor_ex:
    """The LDL^T factorisation of each symmetric (``hermitian=True``: Hermitian) matrix of A
    (n x n, batched), with Bunch-Kaufman pivoting, as torch.linalg.ldl_factor_ex (LAPACK's
    sytrf, lower): ``(LD, pivots, info)``. Only A's lower triangle is read. ``LD`` holds L's
    strict lower triangle and the block diagonal D, ``pivots`` LAPACK's 1-based int32
    interchanges (negative for the two columns of a 2x2 block), ``info`` (int32, A's batch
    shape) the 1-based index of the first exactly zero diagonal block of D, or 0.
    ``check_errors=True`` raises LinAlgError where ``info`` is not 0 (torch's raises an
    internal assertion there). Not differentiable, as torch's. Raises ValueError for A with
    fewer than 2 dimensions or non-square matrices, TypeError for integer A."""
    op = "linalg.ldl_factor_ex"
    A = _check_ldl_input(op, A)
    ld, piv, info = LDLFactor.apply(A, bool(hermitian))
    if check_errors:
        _raise_info(op, info._data)
    return linalg_ldl_factor_ex(ld, piv, info)


def ldl_factor(A: Tensor, *, hermitian: bool = False, out: None = None) -> linalg_ldl_factor:
    """``(LD, pivots)`` of each matrix, as torch.linalg.ldl_factor (see ``ldl_factor_ex``);
    raises LinAlgError when D is singular (torch raises an internal assertion there)."""
    op = "linalg.ldl_factor"
    A = _check_ldl_input(op, A)
    ld, piv, info = LDLFactor.apply(A, bool(hermitian))
    _raise_info(op, info._data)
    return linalg_ldl_factor(ld, piv)


def ldl_solve(
    LD: Tensor, pivots: Tensor, B: Tensor, *, hermitian: bool = False, out: None = None
) -> Tensor:
    """The solution X of ``A X = B`` from A's ``ldl_factor`` output, as torch.linalg.ldl_solve
    (LAPACK's sytrs, lower): ``hermitian`` must be the factorisation's. Batch dimensions
    broadcast. Not differentiable, as torch's. Raises ValueError for mismatched shapes,
    TypeError for B of another dtype than LD or non-integer pivots."""
    op = "linalg.ldl_solve"
    LD, pivots, B = _tensor(LD), _tensor(pivots), _tensor(B)
    _check_ldl_input(op, LD, "LD")
    if B.ndim < 2:
        raise ValueError(f"torch.{op}: The input tensor B must have at least 2 dimensions.")
    if pivots.dtype.kind not in "iu":
        raise TypeError(f"torch.{op}: pivots must be an integer tensor, got {pivots.dtype}")
    n = LD.shape[-1]
    if tuple(pivots.shape[-1:]) != (n,):
        raise ValueError(
            f"torch.{op}: pivots must have LD's batch shape and {n} elements, got shape "
            f"{tuple(pivots.shape)}"
        )
    if B.shape[-2] != n:
        raise ValueError(
            f"Incompatible matrix sizes for torch.{op}: each A matrix is {n} by {n} but each "
            f"b matrix is {B.shape[-2]} by {B.shape[-1]}"
        )
    if B.dtype != LD.dtype:
        raise TypeError(
            f"Expected b and A to have the same dtype, but found b of type {B.dtype} and A of "
            f"type {LD.dtype} instead."
        )
    return LDLSolve.apply(LD, pivots, B, bool(hermitian))
