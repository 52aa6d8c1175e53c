"""The pseudo-inverse and what uses it (pinv, lstsq, matrix_rank), the matrix exponential, and
the small products (cross, vecdot, multi_dot) and views (diagonal) of torch.linalg."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._backend import get_array_module
from ..autograd import Function, Tensor
from ..ops._helpers import _dim, _o
from ..ops.diagonal import diagonal as _diagonal
from ..ops.joining import cat
from ..ops.products import matmul
from ._common import _check_matrix, _check_square, _mT, _tensor, linalg_lstsq
from ._factor import svdvals
from ._inverse import inv


def _tol(x: Any, xp: Any, dtype: Any) -> Any:
    """A tolerance (float, Tensor or array of the batch shape) as an array with a trailing
    dim of size 1, to compare with a batch of singular values."""
    a = x._data if isinstance(x, Tensor) else x
    return xp.asarray(a, dtype=dtype)[..., None]


def _default_rtol(a: Any) -> float:
    return float(np.finfo(a.dtype).eps) * max(a.shape[-2], a.shape[-1])


def _tolerances(a: Any, atol: Any, rtol: Any) -> tuple[Any, Any]:
    """torch's get_atol_rtol: atol 0 unless given; rtol given, or eps * max(m, n), or 0 where
    a positive atol was given without rtol."""
    xp = get_array_module(a)
    ft = np.float64
    at = _tol(0.0 if atol is None else atol, xp, ft)
    if rtol is not None:
        rt = _tol(rtol, xp, ft)
    elif atol is not None:
        rt = xp.where(at > 0, 0.0, _default_rtol(a))
    else:
        rt = _tol(_default_rtol(a), xp, ft)
    return at, rt


def _pinv(a: Any, atol: Any, rtol: Any, hermitian: bool) -> Any:
    """The pseudo-inverse of each matrix: singular values (|eigenvalues| when ``hermitian``)
    above max(atol, rtol * the largest) inverted, the rest dropped."""
    xp = get_array_module(a)
    if hermitian:
        w, v = xp.linalg.eigh(a)
        s = xp.abs(w)
        top = s.max(-1, keepdims=True) if s.shape[-1] else s
        with np.errstate(divide="ignore"):
            wi = xp.where(s > xp.maximum(atol, rtol * top), 1 / w, 0).astype(a.dtype)
        return (v * wi[..., None, :]) @ _mT(v)
    u, s, vh = xp.linalg.svd(a, full_matrices=False)
    with np.errstate(divide="ignore"):
        si = xp.where(s > xp.maximum(atol, rtol * s[..., :1]), 1 / s, 0).astype(a.dtype)
    return _mT(vh) @ (si[..., :, None] * _mT(u))


def _pinv_backward(g: Any, x: Any, a: Any) -> Any:
    """torch's pinv_backward, for the gradient ``g`` of X = pinv(A)."""
    m, n = a.shape[-2:]
    xh, gh = _mT(x), _mT(g)
    if m <= n:
        k = gh @ x
        kxh = k @ xh
        return -_mT(x @ k) + kxh - (a @ x) @ kxh + (xh @ x) @ (gh - k @ a)
    k = x @ gh
    xhk = xh @ k
    return -_mT(k @ x) + (gh - a @ k) @ x @ xh + xhk - xhk @ x @ a


class Pinv(Function):
    """The pseudo-inverse X of each matrix. Backward: torch's pinv_backward (exact where the
    rank is locally constant)."""

    @staticmethod
    def forward(ctx, a, atol, rtol, hermitian):
        x = _pinv(a, atol, rtol, hermitian)
        ctx.save_for_backward(a, x)
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        return _pinv_backward(g, x, a), None, None, None


# Higham (2005), scaling and squaring with the degree-13 Pade approximant
_PADE13 = (
    64764752532480000.0,
    32382376266240000.0,
    7771770303897600.0,
    1187353796428800.0,
    129060195264000.0,
    10559470521600.0,
    670442572800.0,
    33522128640.0,
    1323241920.0,
    40840800.0,
    960960.0,
    16380.0,
    182.0,
    1.0,
)
_THETA13 = 5.371920351148152


def _expm(a: Any) -> Any:
    """exp of each matrix of ``a``, in float64 (then ``a``'s dtype): each matrix scaled by
    2^-s so that its 1-norm is at most theta_13, the [13/13] Pade approximant, then squared s
    times."""
    xp = get_array_module(a)
    dt = a.dtype
    a = a.astype(np.float64)
    if a.shape[-1] == 0:
        return a.astype(dt)
    norm1 = xp.abs(a).sum(-2).max(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = xp.ceil(xp.log2(norm1 / _THETA13))
    s = xp.where(xp.isfinite(s) & (s > 0), s, 0).astype(np.int64)
    a = a / (2.0 ** s.astype(np.float64))[..., None, None]
    b = _PADE13
    eye = xp.eye(a.shape[-1])
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2
             + b[1] * eye)  # fmt: skip
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    r = xp.linalg.solve(v - u, v + u)
    for k in range(int(s.max()) if s.size else 0):
        r = xp.where((s > k)[..., None, None], r @ r, r)
    return r.astype(dt)


def _expm_backward(a: Any, g: Any) -> Any:
    """The gradient of exp(A) for G: the upper-right block of exp([[A^T, G], [0, A^T]])."""
    xp = get_array_module(a)
    n = a.shape[-1]
    at = _mT(a)
    top = xp.concatenate([at, g], -1)
    bottom = xp.concatenate([xp.zeros_like(at), at], -1)
    return _expm(xp.concatenate([top, bottom], -2))[..., :n, n:]


class MatrixExp(Function):
    """exp of each square matrix (the power series sum A^k / k!). Backward: the block-matrix
    identity above; its double backward is the same exp of a block matrix, recorded."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _expm(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return _expm_backward(a, g)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        A = inputs[0]
        n = A.shape[-1]
        At = A.mT
        zeros = Tensor._wrap(get_array_module(g._data).zeros(tuple(At.shape), At.dtype))
        block = cat([cat([At, g], -1), cat([zeros, At], -1)], -2)
        return MatrixExp.apply(block)[..., :n, n:]


# -- the public functions


def pinv(
    A: Tensor,
    rcond: float | Tensor | None = None,
    hermitian: bool = False,
    *,
    atol: float | Tensor | None = None,
    rtol: float | Tensor | None = None,
    out: None = None,
) -> Tensor:
    """The Moore-Penrose pseudo-inverse of a matrix (or batch), as torch.linalg.pinv: from the
    SVD (the eigendecomposition when ``hermitian``), singular values at or below
    max(atol, rtol * largest) treated as zero. ``rtol`` defaults to eps * max(m, n), or to 0
    when a positive ``atol`` is given; ``rcond`` (torch's older, NumPy's name) is ``rtol``."""
    if out is not None:
        raise TypeError("linalg.pinv: out= is not supported")
    A = _tensor(A)
    _check_matrix("linalg.pinv", A)
    if hermitian:
        _check_square("linalg.pinv", A)
    if rcond is not None:
        if atol is not None or rtol is not None:
            raise TypeError("linalg.pinv: give rcond or atol/rtol, not both")
        atol, rtol = 0.0, rcond
    at, rt = _tolerances(A._data, atol, rtol)
    return Pinv.apply(A, at, rt, bool(hermitian))


def matrix_exp(A: Tensor) -> Tensor:
    """The matrix exponential of a square matrix (or batch), as torch.linalg.matrix_exp:
    scaling and squaring with a Pade approximant, computed in float64. Raises ValueError for a
    non-square input."""
    A = _tensor(A)
    _check_square("linalg.matrix_exp", A)
    return MatrixExp.apply(A)


_DRIVERS = (None, "gels", "gelsy", "gelsd", "gelss")


def lstsq(
    A: Tensor, B: Tensor, rcond: float | None = None, *, driver: str | None = None
) -> linalg_lstsq:
    """The least-squares solution X of ``A X = B`` (minimum ||A X - B||), as
    torch.linalg.lstsq: A (*, m, n), B (*, m, k) (or (*, m)), batch dims broadcast. Returns
    ``(solution, residuals, rank, singular_values)``; which are filled follows torch's
    ``driver`` rules (default 'gelsy'): residuals (squared, per column) for 'gels', 'gelsd' and
    'gelss' when m > n and every A has full rank, rank for all but 'gels', singular values for
    'gelsd' and 'gelss'; the others are empty. The solution is pinv(A) B (singular values below
    ``rcond`` times the largest dropped, default eps * max(m, n)), so its gradient is torch's;
    for a rank-deficient A it is the minimum-norm solution, which gelsy need not return."""
    op = "linalg.lstsq"
    A, B = _tensor(A), _tensor(B)
    _check_matrix(op, A)
    if driver not in _DRIVERS:
        raise ValueError(
            f"{op}: parameter `driver` should be one of (gels, gelsy, gelsd, gelss), got {driver!r}"
        )
    driver = driver or "gelsy"
    vector = B.ndim == A.ndim - 1
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.ndim < 2 or Bm.shape[-2] != A.shape[-2]:
        raise ValueError(
            f"{op}: A's rows ({A.shape[-2]}) and B's ({Bm.shape[-2] if Bm.ndim > 1 else '?'}) "
            "differ"
        )
    m, n = A.shape[-2:]
    xp = get_array_module(A._data)
    rt = _tol(_default_rtol(A._data) if rcond is None or rcond < 0 else rcond, xp, np.float64)
    X = matmul(Pinv.apply(A, _tol(0.0, xp, np.float64), rt, False), Bm)
    empty = Tensor(xp.zeros((0,), A.dtype))
    s = None
    rank = Tensor(xp.zeros((0,), np.int64))
    if driver != "gels":
        s = xp.linalg.svd(A._data, compute_uv=False)
        rank = Tensor((s > rt * s[..., :1]).sum(-1).astype(np.int64))
    full = bool((rank._data == n).all()) if driver != "gels" else True
    residuals = empty
    if driver != "gelsy" and m > n and full:
        residuals = ((matmul(A, X) - Bm) ** 2).sum(-2)
        residuals = residuals.squeeze(-1) if vector else residuals
    singular_values = Tensor(s) if driver in ("gelsd", "gelss") and s is not None else empty
    return linalg_lstsq(X.squeeze(-1) if vector else X, residuals, rank, singular_values)


def matrix_rank(
    A: Tensor,
    tol: float | None = None,
    hermitian: bool = False,
    *,
    atol: float | Tensor | None = None,
    rtol: float | Tensor | None = None,
    out: None = None,
) -> Tensor:
    """The number of singular values (|eigenvalues| when ``hermitian``) above
    max(atol, rtol * largest), as torch.linalg.matrix_rank (int64, batch shape); tolerances
    default as in ``pinv``, and ``tol`` (the older name) is ``atol`` with ``rtol`` 0."""
    op = "linalg.matrix_rank"
    A = _tensor(A)
    _check_matrix(op, A)
    if tol is not None:
        atol, rtol = tol, 0.0
    a = A._data
    xp = get_array_module(a)
    at, rt = _tolerances(a, atol, rtol)
    if hermitian:
        _check_square(op, A)
        s = xp.abs(xp.linalg.eigvalsh(a))
        top = s.max(-1, keepdims=True) if s.shape[-1] else s
    else:
        s = xp.linalg.svd(a, compute_uv=False)
        top = s[..., :1]
    return Tensor(_o((s > xp.maximum(at, rt * top)).sum(-1).astype(np.int64)))


def cross(input: Tensor, other: Tensor, *, dim: int = -1, out: None = None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (input and other broadcast), as
    torch.linalg.cross. Raises ValueError unless both have size 3 there."""
    op = "linalg.cross"
    a, b = _tensor(input), _tensor(other)
    if a.ndim != b.ndim:
        raise ValueError(
            f"{op}: inputs must have the same number of dimensions, got {a.ndim} and {b.ndim}"
        )
    nd = a.ndim
    d = _dim(dim, nd, op)
    if a.shape[d] != 3 or b.shape[d] != 3:
        raise ValueError(
            f"{op}: inputs dimension {dim} must have length 3. Got {a.shape[d]} and {b.shape[d]}"
        )
    try:
        shape = tuple(np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
    except ValueError:
        raise ValueError(
            f"{op}: the shapes {tuple(a.shape)} and {tuple(b.shape)} do not broadcast"
        ) from None
    a, b = a.expand(shape), b.expand(shape)
    # component i is a_{i+1} b_{i+2} - a_{i+2} b_{i+1}: rolls bring those entries to i
    return a.roll(-1, d) * b.roll(1, d) - a.roll(1, d) * b.roll(-1, d)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1, out: None = None) -> Tensor:
    """The dot product of x and y (broadcast) along ``dim``, as torch.linalg.vecdot."""
    return (_tensor(x) * y).sum(dim)


def multi_dot(tensors: Sequence[Tensor], *, out: None = None) -> Tensor:
    """The product of two or more matrices, as torch.linalg.multi_dot: the first may be a 1-D
    row vector and the last a 1-D column vector (dropped from the result's shape), the others
    2-D. Multiplied left to right."""
    op = "linalg.multi_dot"
    ts = [_tensor(t) for t in tensors]
    if len(ts) < 2:
        raise ValueError(f"{op}: expected at least 2 tensors but got {len(ts)}")
    for i, t in enumerate(ts):
        ok = t.ndim == 2 or (t.ndim == 1 and i in (0, len(ts) - 1))
        if not ok:
            where = "the first and last" if i in (0, len(ts) - 1) else "the middle"
            raise ValueError(
                f"{op}: tensor {i} must be 2-D ({where} may also be 1-D), got {t.ndim}-D"
            )
    out_t = ts[0]
    for t in ts[1:]:
        out_t = matmul(out_t, t)
    return out_t


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The ``offset`` diagonal of dims (dim1, dim2), appended as the last dim, as
    torch.linalg.diagonal (``pydlk.diagonal`` with the last two dims as defaults)."""
    return _diagonal(_tensor(A), offset, dim1, dim2)


def cond(A: Tensor, p: float | str | None = None, *, out: None = None) -> Tensor:
    """The condition number of a matrix (or batch) in the norm ``p``, as torch.linalg.cond:
    for None or 2 (-2) the ratio of the largest to the smallest singular value (its inverse),
    for 'fro', 'nuc', inf, -inf, 1, -1 ``matrix_norm(A, p) * matrix_norm(inv(A), p)`` (A
    square and invertible)."""
    from ._norms import matrix_norm

    A = _tensor(A)
    _check_matrix("linalg.cond", A)
    if p is None or p in (2, -2):
        s = svdvals(A)
        big, small = s[..., 0], s[..., -1]
        return big / small if p != -2 else small / big
    _check_square("linalg.cond", A)
    return matrix_norm(A, p) * matrix_norm(inv(A), p)


def vander(x: Tensor, *, N: int | None = None) -> Tensor:
    """The Vandermonde matrix of ``x`` (*, n) with increasing powers, as torch.linalg.vander:
    column j is ``x ** j`` for j < N (default n). Built as a running product of ``x``, so the
    gradient is finite at 0 (``x ** 0`` has none). Integer inputs give integer outputs."""
    x = _tensor(x)
    if x.ndim < 1:
        raise ValueError("linalg.vander: x must have at least one dimension")
    n = x.shape[-1] if N is None else N
    if not isinstance(n, (int, np.integer)) or n <= 1:
        raise ValueError(f"linalg.vander: N must be greater than 1, got {n}")
    from ..ops.cumulative import cumprod

    ones = Tensor._wrap(get_array_module(x._data).ones(tuple(x.shape) + (1,), x.dtype))
    return cat([ones, cumprod(x.unsqueeze(-1).expand(*x.shape, int(n) - 1), -1)], -1)


def householder_product(A: Tensor, tau: Tensor, *, out: None = None) -> Tensor:
    """The first n columns of H_1 H_2 ... H_k, H_i = I - tau_i v_i v_i^T, with v_i the i-th
    column of A below the diagonal (and 1 on it), as torch.linalg.householder_product (LAPACK's
    orgqr: Q from geqrf's reflectors). A (*, m, n) with m >= n >= k, tau (*, k). Applied
    reflector by reflector as recorded ops, so it is differentiable in A and tau."""
    op = "linalg.householder_product"
    A, tau = _tensor(A), _tensor(tau)
    _check_matrix(op, A, "input")
    m, n = A.shape[-2:]
    if m < n:
        raise ValueError(f"{op}: input.shape[-2] must be greater than or equal to input.shape[-1]")
    if tau.ndim < 1 or tau.shape[-1] > n:
        raise ValueError(f"{op}: input.shape[-1] must be greater than or equal to tau.shape[-1]")
    if tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise ValueError(
            f"{op}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got "
            f"{list(tau.shape[:-1])}"
        )
    if tau.dtype != A.dtype:
        raise TypeError(f"{op}: tau must have the dtype of input ({A.dtype}), got {tau.dtype}")
    xp = get_array_module(A._data)
    k = tau.shape[-1]
    eye_mk = Tensor._wrap(xp.eye(m, max(k, 1), dtype=A.dtype))
    V = A[..., :, :k].tril(-1) + eye_mk[:, :k]
    Q = Tensor._wrap(xp.broadcast_to(xp.eye(m, dtype=A.dtype), tuple(A.shape[:-2]) + (m, m)))
    if k == 0:  # the identity's first n columns, still recorded (a zero gradient for A), as torch
        from ..ops.arithmetic import where

        keep = Tensor._wrap(xp.zeros((m, n), bool))
        return where(keep, A, Q[..., :, :n])
    for i in range(k):
        v = V[..., :, i : i + 1]
        Q = Q - matmul(Q, v) * tau[..., i : i + 1, None] * v.mT
    return Q[..., :, :n]
