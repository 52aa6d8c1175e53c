"""Randomized low-rank factorizations: torch.svd_lowrank and torch.pca_lowrank.

Halko, Martinsson and Tropp's range finder (2009, Algorithm 4.4 with ``niter`` subspace
iterations, then Algorithm 5.1), as torch/_lowrank.py runs it, written with pydlk's recorded ops
(randn, matmul, linalg.qr, linalg.svd), so gradients follow. The random test matrix comes from
pydlk's generator: results equal torch's to the accuracy of the approximation, not bit for
bit."""

from __future__ import annotations

from ..autograd import Tensor
from ..ops.factories import randn
from ._common import _check_matrix, _tensor
from ._factor import qr, svd


def _basis(A: Tensor, q: int, niter: int, M: Tensor | None) -> Tensor:
    """An orthonormal (*, m, q) basis whose span approximates the range of A - M."""

    def times(x: Tensor) -> Tensor:
        return A @ x if M is None else A @ x - M @ x

    def times_h(x: Tensor) -> Tensor:
        return A.mT @ x if M is None else A.mT @ x - M.mT @ x

    R = randn(A.shape[-1], q, dtype=A.dtype, device=A.device)
    Q = qr(times(R)).Q
    for _ in range(niter):
        Q = qr(times_h(Q)).Q
        Q = qr(times(Q)).Q
    return Q


def svd_lowrank(
    A: Tensor, q: int | None = 6, niter: int | None = 2, M: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(U, S, V)``, a rank-``q`` approximation A - M ~ U diag(S) V^T by randomized subspace
    iteration, as torch.svd_lowrank (``q`` default 6, ``niter`` default 2; ``M`` broadcast to
    A's shape). Exact when A - M has rank at most ``q``. V, not its transpose, as torch's."""
    A = _tensor(A)
    _check_matrix("svd_lowrank", A)
    q = 6 if q is None else int(q)
    niter = 2 if niter is None else int(niter)
    m, n = A.shape[-2:]
    if not 0 < q <= min(m, n):
        raise ValueError(f"svd_lowrank: q(={q}) must be positive and at most min(m, n)={min(m, n)}")
    if niter < 0:
        raise ValueError(f"svd_lowrank: niter(={niter}) must be non-negative")
    if M is not None:
        M = _tensor(M).broadcast_to(A.shape)
    if m < n:  # work on the tall transpose, as torch
        A = A.mT
        M = None if M is None else M.mT
    Q = _basis(A, q, niter, M)
    B = Q.mT @ A if M is None else Q.mT @ A - Q.mT @ M
    U, S, Vh = svd(B, full_matrices=False)
    U, V = Q @ U, Vh.mT
    return (V, S, U) if m < n else (U, S, V)


def pca_lowrank(
    A: Tensor, q: int | None = None, center: bool = True, niter: int = 2
) -> tuple[Tensor, Tensor, Tensor]:
    """``(U, S, V)`` of the principal components of the rows of A (*, m, n), as
    torch.pca_lowrank: ``svd_lowrank`` of A with its column means subtracted (``center``);
    ``q`` defaults to min(6, m, n). ``V[..., :k]`` are the first k principal directions and
    ``S**2 / (m - 1)`` the variances along them."""
    A = _tensor(A)
    _check_matrix("pca_lowrank", A)
    m, n = A.shape[-2:]
    q = min(6, m, n) if q is None else int(q)
    if not 0 <= q <= min(m, n):
        raise ValueError(
            f"pca_lowrank: q(={q}) must be non-negative and at most min(m, n)={min(m, n)}"
        )
    if not center:
        return svd_lowrank(A, q, niter)
    return svd_lowrank(A - A.mean(dim=-2, keepdim=True), q, niter)
