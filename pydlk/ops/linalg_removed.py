"""torch's removed and deprecated linear-algebra spellings.

``torch.eig``, ``torch.lstsq``, ``torch.solve``, ``torch.symeig`` and ``torch.matrix_rank``
(and the methods ``Tensor.eig``, ``lstsq``, ``solve``, ``symeig``) were removed in torch 1.9's
successors: torch keeps the names and raises a RuntimeError whose text shows the
``torch.linalg`` replacement, and pydlk raises the same text, so code written for old torch
gets the migration hint rather than an AttributeError.

``chain_matmul`` still works in torch (with a deprecation warning), as do ``nuclear_norm`` and
``frobenius_norm`` (warning that they are left for JIT compatibility); pydlk computes them with
``pydlk.linalg.multi_dot``, ``matrix_norm(..., 'nuc')`` and ``vector_norm``, differentiably,
with the same warnings.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from ..autograd import Tensor
from ._helpers import _t
from .misc_more import _torch_name

__all__ = [
    "chain_matmul",
    "eig",
    "frobenius_norm",
    "lstsq",
    "matrix_rank",
    "nuclear_norm",
    "solve",
    "symeig",
]

_REMOVED = "This function was deprecated since version 1.9 and is now removed."

_EIG = (
    f"{_REMOVED} `torch.linalg.eig` returns complex tensors of dtype `cfloat` or `cdouble` rather "
    "than real tensors mimicking complex tensors.\n\n"
    "L, _ = torch.eig(A) should be replaced with:\nL_complex = torch.linalg.eigvals(A)\n\nand\n\n"
    "L, V = torch.eig(A, eigenvectors=True) should be replaced with:\n"
    "L_complex, V_complex = torch.linalg.eig(A)"
)
_LSTSQ = (
    f"{_REMOVED} `torch.lstsq` is deprecated in favor of `torch.linalg.lstsq`.\n"
    "`torch.linalg.lstsq` has reversed arguments and does not return the QR decomposition in "
    "the returned tuple (although it returns other information about the problem).\n\n"
    "To get the QR decomposition consider using `torch.linalg.qr`.\n\n"
    "The returned solution in `torch.lstsq` stored the residuals of the solution in the last "
    "m - n columns of the returned value whenever m > n. In torch.linalg.lstsq, the residuals "
    "are in the field 'residuals' of the returned named tuple.\n\n"
    "The unpacking of the solution, as in\nX, _ = torch.lstsq(B, A).solution[:A.size(1)]\n"
    "should be replaced with:\nX = torch.linalg.lstsq(A, B).solution"
)
_SOLVE = (
    f"{_REMOVED} `torch.solve` is deprecated in favor of `torch.linalg.solve`. "
    "`torch.linalg.solve` has its arguments reversed and does not return the LU factorization."
    "\n\nTo get the LU factorization see `torch.lu`, which can be used with `torch.lu_solve` or "
    "`torch.lu_unpack`.\nX = torch.solve(B, A).solution should be replaced with:\n"
    "X = torch.linalg.solve(A, B)"
)
_SYMEIG = (
    f"{_REMOVED} The default behavior has changed from using the upper triangular portion of "
    "the matrix by default to using the lower triangular portion.\n\n"
    "L, _ = torch.symeig(A, upper=upper) should be replaced with:\n"
    "L = torch.linalg.eigvalsh(A, UPLO='U' if upper else 'L')\n\nand\n\n"
    "L, V = torch.symeig(A, eigenvectors=True) should be replaced with:\n"
    "L, V = torch.linalg.eigh(A, UPLO='U' if upper else 'L')"
)
_MATRIX_RANK = (
    f"{_REMOVED}\nPlease use the `torch.linalg.matrix_rank` function instead. The parameter "
    "'symmetric' was renamed in `torch.linalg.matrix_rank()` to 'hermitian'."
)


def eig(self: Tensor, eigenvectors: bool = False, *, e: Any = None, v: Any = None) -> NoReturn:
    """Removed from torch: raises RuntimeError with torch's message (use
    ``pydlk.linalg.eig`` / ``eigvals``)."""
    raise RuntimeError(_EIG)


def lstsq(input: Tensor, A: Tensor, *, out: Any = None) -> NoReturn:
    """Removed from torch: raises RuntimeError with torch's message (use
    ``pydlk.linalg.lstsq(A, B)``, arguments reversed)."""
    raise RuntimeError(_LSTSQ)


def solve(input: Tensor, A: Tensor, *, out: Any = None) -> NoReturn:
    """Removed from torch: raises RuntimeError with torch's message (use
    ``pydlk.linalg.solve(A, B)``, arguments reversed)."""
    raise RuntimeError(_SOLVE)


def symeig(
    input: Tensor, eigenvectors: bool = False, upper: bool = True, *, out: Any = None
) -> NoReturn:
    """Removed from torch: raises RuntimeError with torch's message (use
    ``pydlk.linalg.eigh`` / ``eigvalsh``)."""
    raise RuntimeError(_SYMEIG)


def matrix_rank(
    input: Tensor, tol: float | None = None, symmetric: bool = False, *, out: Any = None
) -> NoReturn:
    """Removed from torch: raises RuntimeError with torch's message (use
    ``pydlk.linalg.matrix_rank``)."""
    raise RuntimeError(_MATRIX_RANK)


def chain_matmul(*matrices: Tensor, out: Any = None) -> Tensor:
    """The product of the 2-D ``matrices`` in the cheapest order (``linalg.multi_dot``), as
    torch.chain_matmul, with torch's deprecation warning; one matrix gives a copy of it.
    RuntimeError for none or for a tensor that is not 2-D."""
    from ..linalg import multi_dot

    warnings.warn(
        "torch.chain_matmul is deprecated and will be removed in a future PyTorch release. Use "
        "torch.linalg.multi_dot instead, which accepts a list of two or more tensors rather than "
        "multiple parameters.",
        UserWarning,
        stacklevel=2,
    )
    if out is not None:
        raise TypeError("chain_matmul: out= is not supported")
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    ms = [_t(m) for m in matrices]
    for m in ms:
        if m.ndim != 2:
            raise RuntimeError(f"Tensor dimension is {m.ndim}, expected 2 instead.")
    if len(ms) == 1:
        return ms[0].clone()
    return multi_dot(ms)


def nuclear_norm(
    input: Tensor, dim: Any = None, keepdim: bool = False, *, out: Any = None
) -> Tensor:
    """The sum of the singular values over the dims ``dim`` (a pair; default the last two),
    as torch.nuclear_norm (``nuclear_norm(input, keepdim)`` or ``(input, dim, keepdim)``), with
    torch's deprecation warning; differentiable."""
    from ..linalg import matrix_norm

    warnings.warn(
        "at::nuclear_norm is deprecated and it is just left for JIT compatibility. It will be "
        "removed in a future PyTorch release. Please use `linalg.matrix_norm(A, 'nuc', dim, "
        "keepdim)` instead",
        UserWarning,
        stacklevel=2,
    )
    if isinstance(dim, bool):  # the (input, keepdim) overload
        dim, keepdim = None, dim
    if dim is None:
        dims: tuple[int, ...] = (-2, -1)
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dims) != 2:
            raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {len(dims)}")
    return matrix_norm(_t(input), "nuc", (dims[0], dims[1]), keepdim)


def frobenius_norm(
    input: Tensor, dim: int | Sequence[int], keepdim: bool = False, *, out: Any = None
) -> Tensor:
    """``sqrt(sum |x|^2)`` over ``dim`` (one or two dims), as torch.frobenius_norm, with
    torch's deprecation warning; a complex input gives a real result; integer input raises
    RuntimeError, as torch's; differentiable."""
    from ..linalg import vector_norm
    from .arithmetic import abs as _abs

    warnings.warn(
        "at::frobenius_norm is deprecated and it is just left for JIT compatibility. It will be "
        "removed in a future PyTorch release. Please use `linalg.vector_norm(A, 2., dim, "
        "keepdim)` instead",
        UserWarning,
        stacklevel=2,
    )
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if len(dims) > 2:
        raise RuntimeError(
            f"Expected at most 2 dimensions, but got {len(dims)} dimensions instead."
        )
    x = _t(input)
    if x.dtype.kind not in "fc":
        raise RuntimeError(
            "norm(): input dtype should be either floating point or complex. Got "
            f"{_torch_name(x.dtype)} instead."
        )
    if x.dtype.kind == "c":
        x = _abs(x)
    return vector_norm(x, 2, dims, keepdim)


def _eig_method(self: Tensor, eigenvectors: bool = False) -> NoReturn:
    raise RuntimeError(_EIG)


def _lstsq_method(self: Tensor, other: Tensor) -> NoReturn:
    raise RuntimeError(_LSTSQ)


def _solve_method(self: Tensor, other: Tensor) -> NoReturn:
    raise RuntimeError(_SOLVE)


def _symeig_method(self: Tensor, eigenvectors: bool = False) -> NoReturn:
    raise RuntimeError(_SYMEIG)


TENSOR_METHODS: dict[str, Any] = {
    "eig": _eig_method,
    "lstsq": _lstsq_method,
    "solve": _solve_method,
    "symeig": _symeig_method,
}
