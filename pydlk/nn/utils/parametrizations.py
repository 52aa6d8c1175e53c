"""Weight and spectral normalisation as parametrizations (``torch.nn.utils.parametrizations``).

Unlike the forward-pre-hook versions in :mod:`pydlk.nn.utils.weight_norm`, these register a
parametrization (:func:`pydlk.nn.utils.parametrize.register_parametrization`): the weight is
computed when it is read, the originals live under ``module.parametrizations.weight`` with
torch's ``state_dict`` keys (``parametrizations.weight.original0`` / ``original1`` for weight
norm; ``parametrizations.weight.original`` and the buffers ``parametrizations.weight.0._u`` /
``_v`` for spectral norm), so a state dict moves between the two libraries.

``orthogonal`` keeps a matrix (or a batch) orthogonal through ``matrix_exp``, the Cayley map or
a product of Householder reflectors, with torch's "dynamic trivialization" base.
"""

from __future__ import annotations

import numpy as np

from ..._grad_mode import no_grad
from ...autograd import Tensor
from ...functional.similarity import normalize
from ..module import Module
from . import parametrize
from .weight_norm import _norm_except_dim, _weight_norm

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


class _WeightNorm(Module):
    """``forward(g, v) = v * (g / ||v||)``, the norm over every dimension but ``dim`` (the
    whole tensor for ``dim=None``); ``right_inverse(w) = (||w||, w)``."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        if dim is None:
            dim = -1
        self.dim = dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Apply weight normalisation, ``w = g * v / ||v||``, to ``module.<name>`` as a
    parametrization (torch's ``torch.nn.utils.parametrizations.weight_norm``); returns the
    module.

    The magnitude ``g`` is ``module.parametrizations.<name>.original0`` (the norm of each slice
    along ``dim``, other dimensions kept as size 1; a 0-d tensor for ``dim=None``, which
    normalises the whole tensor) and the direction ``v`` is ``original1`` (the weight's values
    at registration). Both are parameters that optimisers train; ``module.<name>`` is computed
    from them on every read. Undo with ``parametrize.remove_parametrizations``. pydlk does not
    translate a state dict of the older hook API (``<name>_g`` / ``<name>_v`` keys) on load.
    """
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


class _SpectralNorm(Module):
    """``forward(W) = W / sigma``, ``sigma = u . (W_mat v)`` estimated by power iteration
    over the buffers ``_u`` and ``_v`` (refined in place, in training mode only); a 1-D weight
    is divided by its norm. ``W_mat`` is the weight with dimension ``dim`` first, the rest
    flattened."""

    def __init__(
        self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12
    ) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(
                "Dimension out of range (expected to be in range of "
                f"[-{ndim}, {ndim - 1}] but got {dim})"
            )
        if n_power_iterations <= 0:
            raise ValueError(
                "Expected n_power_iterations to be positive, but "
                f"got n_power_iterations={n_power_iterations}"
            )
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:  # a vector needs no estimate (see forward)
            from ... import randn

            self.n_power_iterations = n_power_iterations
            with no_grad():
                weight_mat = self._reshape_weight_to_matrix(weight.detach())
                h, w = weight_mat.shape
                u = randn(h, dtype=weight.dtype, device=weight.device)
                v = randn(w, dtype=weight.dtype, device=weight.device)
                self.register_buffer("_u", normalize(u, dim=0, eps=self.eps))
                self.register_buffer("_v", normalize(v, dim=0, eps=self.eps))
            # start from reasonable singular vectors, as torch does
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        # u and v are updated in place (a replica sharing the buffers sees the update) and
        # cloned before use in forward, so a backward through an earlier forward is not
        # disturbed by a later iteration
        with no_grad():
            wm = weight_mat.detach()
            for _ in range(n_power_iterations):
                u = normalize(wm.mv(self._v), dim=0, eps=self.eps)
                self._u._data[...] = u._data
                v = normalize(wm.t().mv(self._u), dim=0, eps=self.eps)
                self._v._data[...] = v._data

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u = self._u.clone()
        v = self._v.clone()
        sigma = u.dot(weight_mat.mv(v))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def spectral_norm(
    module: Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> Module:
    """Apply spectral normalisation, ``W / sigma(W)``, to ``module.<name>`` as a
    parametrization (torch's ``torch.nn.utils.parametrizations.spectral_norm``); returns the
    module.

    ``sigma``, the largest singular value of the weight seen as a matrix (dimension ``dim``
    first, the rest flattened; ``dim`` defaults to 1 for ConvTranspose layers, else 0), is
    estimated as ``u . (W v)`` from the buffers ``module.parametrizations.<name>[0]._u`` and
    ``_v``: random unit vectors refined by 15 power iterations at registration, then by
    ``n_power_iterations`` more on every read of ``module.<name>`` in training mode (none in
    eval mode). A 1-D weight is divided by its 2-norm. The original weight is
    ``module.parametrizations.<name>.original``; gradients reach it through ``sigma`` too.
    ValueError if the module has no tensor ``name`` or ``n_power_iterations <= 0``, IndexError
    for ``dim`` out of range.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        from ..conv_extra import _ConvTransposeBase  # ConvTranspose1d, 2d: weight (in, out, ...)

        dim = 1 if isinstance(module, _ConvTransposeBase) else 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps)
    )
    return module


_ORTH_MAPS = ("matrix_exp", "cayley", "householder")


def _is_orthogonal(Q: Tensor) -> bool:
    n, k = Q.size(-2), Q.size(-1)
    from ... import allclose, eye

    eps = 10.0 * n * float(np.finfo(np.dtype(Q.dtype)).eps)
    return bool(allclose(Q.mH @ Q, eye(k, dtype=Q.dtype, device=Q.device), atol=eps))


def _make_orthogonal(A: Tensor) -> Tensor:
    """The Q of ``A = QR`` with ``diag(R) >= 0`` (A tall)."""
    from ... import geqrf, linalg

    with no_grad():
        X, tau = geqrf(A)
        Q = linalg.householder_product(X, tau)
        return Q * X.diagonal(dim1=-2, dim2=-1).sgn().unsqueeze(-2)


class _Orthogonal(Module):
    """torch's ``_Orthogonal``: ``forward(X)`` maps the unconstrained ``X`` to an orthogonal
    matrix (``matrix_exp``/``cayley`` of the skew-symmetric ``tril(X) - tril(X)^H``, or the
    Householder product of ``X``'s strictly lower part), times the buffer ``base`` when
    ``use_trivialization``; ``right_inverse(Q)`` stores an orthogonal ``Q`` as the base."""

    def __init__(self, weight: Tensor, orthogonal_map: str, *, use_trivialization: bool = True):
        super().__init__()
        if weight.is_complex() and orthogonal_map == "householder":
            raise ValueError("The householder parametrization does not support complex tensors.")
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X: Tensor) -> Tensor:
        from ... import cat, eye, linalg, matrix_exp

        n, k = X.size(-2), X.size(-1)
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            X = X.tril()
            if n != k:
                X = cat([X, X.new_zeros(n, n - k).expand(*X.shape[:-2], -1, -1)], dim=-1)
            A = X - X.mH
            if self.orthogonal_map == "matrix_exp":
                Q = matrix_exp(A)
            else:
                Id = eye(n, dtype=A.dtype, device=A.device)
                Q = linalg.solve(Id - 0.5 * A, Id + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = linalg.householder_product(A, tau)
            Q = Q * X.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)
        if getattr(self, "base", None) is not None:
            Q = self.base @ Q
        if transposed:
            Q = Q.mT
        return Q

    def right_inverse(self, Q: Tensor) -> Tensor:
        from ... import arange, cat, geqrf, randn, where, zeros_like

        if tuple(Q.shape) != tuple(self.shape):
            raise ValueError(
                f"Expected a matrix or batch of matrices of shape {tuple(self.shape)}. "
                f"Got a tensor of shape {tuple(Q.shape)}."
            )
        with no_grad():
            Q_init = Q
            n, k = Q.size(-2), Q.size(-1)
            transpose = n < k
            if transpose:
                Q = Q.mT
                n, k = k, n
            if "base" not in self._buffers:
                if self.orthogonal_map in ("matrix_exp", "cayley"):
                    raise NotImplementedError(
                        "It is not possible to assign to the matrix exponential or the Cayley "
                        "parametrizations when use_trivialization=False."
                    )
                A, tau = geqrf(Q)
                # diag(A) = diag(R): keep only its signs (flipped where no reflection was used)
                d = A.diagonal(dim1=-2, dim2=-1).sign()
                d = where(tau == 0.0, -d, d)
                idx = arange(k, device=A.device)
                A[..., idx, idx] = d
                return A.mT if transpose else A
            if n == k:
                Q = _make_orthogonal(Q) if not _is_orthogonal(Q) else Q.clone()
            else:
                N = randn(*(tuple(Q.shape[:-2]) + (n, n - k)), dtype=Q.dtype, device=Q.device)
                Q = _make_orthogonal(cat([Q, N], dim=-1))
            self.base = Q
            neg_Id = zeros_like(Q_init)
            idx = arange(k, device=Q.device)
            neg_Id[..., idx, idx] = -1.0
            return neg_Id


def orthogonal(
    module: Module,
    name: str = "weight",
    orthogonal_map: str | None = None,
    *,
    use_trivialization: bool = True,
) -> Module:
    """Keep ``module.<name>`` (a matrix or a batch of matrices, ``(..., m, n)``) orthogonal
    (orthonormal columns if ``m >= n``, rows otherwise) as a parametrization, as torch's
    ``torch.nn.utils.parametrizations.orthogonal``; returns the module.

    ``orthogonal_map``: ``"matrix_exp"`` (default for square or complex matrices),
    ``"cayley"`` or ``"householder"`` (default otherwise). With ``use_trivialization=True`` the
    buffer ``module.parametrizations.<name>[0].base`` holds an orthogonal matrix the map's
    result multiplies; at registration it is the weight itself if orthogonal, else the Q of
    its QR factorisation (``diag(R) >= 0``), so the initial weight is that matrix. ValueError
    for a tensor of fewer than 2 dimensions or an unknown map.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(
            f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions."
        )
    if orthogonal_map is None:
        square = weight.size(-2) == weight.size(-1)
        orthogonal_map = "matrix_exp" if square or weight.is_complex() else "householder"
    if orthogonal_map not in _ORTH_MAPS:
        raise ValueError(
            'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
            f"Got: {orthogonal_map}"
        )
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
