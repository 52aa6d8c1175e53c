"""``CorrCholeskyTransform`` (re-exported by ``pydlk.distributions.transforms``): unconstrained
vectors onto Cholesky factors of correlation matrices."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops as _ops
from ..autograd import Tensor, tensor
from . import constraints
from ._transform_base import Transform
from .utils import _softplus


def _tril_selector(n: int, diag: int, like: Tensor) -> Tensor:
    """The ``(n*n, N)`` 0/1 matrix that takes the flattened ``n x n`` matrix to the entries
    of its triangle below ``diag`` (row by row, torch's ``tril_indices`` order); its
    transpose puts them back. A product with it is differentiable on every backend."""
    rows, cols = np.tril_indices(n, diag)
    sel = np.zeros((n * n, rows.size))
    sel[rows * n + cols, np.arange(rows.size)] = 1.0
    return tensor(sel, dtype=like.dtype, device=like.device)


def _vec_to_tril(vec: Tensor, n: int, diag: int) -> Tensor:
    sel = _tril_selector(n, diag, vec)
    return _ops.matmul(vec, sel.transpose(0, 1)).reshape(tuple(vec.shape[:-1]) + (n, n))


def _tril_to_vec(mat: Tensor, diag: int) -> Tensor:
    n = mat.shape[-1]
    flat = mat.reshape(tuple(mat.shape[:-2]) + (n * n,))
    return _ops.matmul(flat, _tril_selector(n, diag, mat))


def _pad_one_before(t: Tensor) -> Tensor:
    ones = _ops.ones(tuple(t.shape[:-1]) + (1,), dtype=t.dtype, device=t.device)
    return _ops.cat([ones, t], -1)


class CorrCholeskyTransform(Transform):
    """Unconstrained vectors of length ``D (D - 1) / 2`` onto ``D x D`` lower Cholesky factors
    of correlation matrices (unit rows, positive diagonal): ``tanh`` into (-1, 1), laid out
    in the strictly lower triangle row by row, then stick breaking on each row's squares (as
    torch's transform for ``constraints.corr_cholesky``)."""

    domain = constraints.real_vector
    codomain = constraints.corr_cholesky
    bijective = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CorrCholeskyTransform)

    __hash__ = Transform.__hash__

    def _call(self, x: Tensor) -> Tensor:
        eps = float(np.finfo(np.dtype(x.dtype)).eps)
        x = x.tanh().clamp(min=-1 + eps, max=1 - eps)
        n = self.forward_shape(tuple(x.shape))[-1]
        r = _vec_to_tril(x, n, -1)
        z1m_cumprod_sqrt = (1 - r.pow(2)).sqrt().cumprod(-1)
        r = r + _ops.eye(n, dtype=r.dtype, device=r.device)
        return r * _pad_one_before(z1m_cumprod_sqrt[..., :-1])

    def _inverse(self, y: Tensor) -> Tensor:
        y_cumsum = 1 - (y * y).cumsum(-1)
        y_cumsum_shifted = _pad_one_before(y_cumsum[..., :-1])
        y_vec = _tril_to_vec(y, -1)
        y_cumsum_vec = _tril_to_vec(y_cumsum_shifted, -1)
        t = y_vec / y_cumsum_vec.sqrt()
        return (t.log1p() - (-t).log1p()) / 2

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor, intermediates: Any = None) -> Tensor:
        """The stick breaking's ``sum log(1 - cumsum(y**2)) / 2`` below the subdiagonal plus
        the tanh's ``sum log(1 - tanh(x)**2)``."""
        y1m_cumsum = 1 - (y * y).cumsum(-1)
        stick = 0.5 * _tril_to_vec(y1m_cumsum, -2).log().sum(-1)
        tanh = -2 * (x + _softplus(-2 * x) - math.log(2.0)).sum(-1)
        return stick + tanh

    def forward_shape(self, shape: Any) -> tuple[int, ...]:
        """``(..., N)`` to ``(..., D, D)`` with ``N = D (D - 1) / 2``."""
        if len(shape) < 1:
            raise ValueError("Too few dimensions on input")
        N = shape[-1]
        D = round((0.25 + 2 * N) ** 0.5 + 0.5)
        if D * (D - 1) // 2 != N:
            raise ValueError("Input is not a flattend lower-diagonal number")
        return tuple(shape[:-1]) + (D, D)

    def inverse_shape(self, shape: Any) -> tuple[int, ...]:
        """``(..., D, D)`` to ``(..., D (D - 1) / 2)``."""
        if len(shape) < 2:
            raise ValueError("Too few dimensions on input")
        if shape[-2] != shape[-1]:
            raise ValueError("Input is not square")
        D = shape[-1]
        return tuple(shape[:-2]) + (D * (D - 1) // 2,)
