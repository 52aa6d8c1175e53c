"""The sparse methods of a dense Tensor (torch's, on a strided tensor): ``to_sparse``,
``to_dense`` (itself), ``is_sparse``, ``layout``, ``sparse_dim``, ``dense_dim``, and the
refusals of ``indices()``, ``values()``, ``coalesce()``, ... with torch's messages. Attached
by ``pydlk/_tensor_methods.py`` (TENSOR_METHODS); ``SparseTensor`` overrides them all."""

from __future__ import annotations

from typing import Any

from ..autograd import Tensor
from . import _functions as fn
from ._layout import strided
from ._tensor import _sp


def to_sparse(self: Tensor, sparseDims: int | None = None, **kwargs: Any) -> Tensor:  # noqa: N803
    """A sparse COO copy of the nonzero entries (over the first ``sparseDims`` dims, all when
    omitted), coalesced. Differentiable: the gradient comes back dense. ``layout`` other than
    ``pydlk.sparse_coo`` (CSR, BSR, ...) is refused."""
    from ._layout import sparse_coo

    layout = kwargs.pop("layout", None)
    sparse_dim = kwargs.pop("sparse_dim", sparseDims)
    if kwargs.pop("blocksize", None) is not None or kwargs.pop("dense_dim", None) is not None:
        raise NotImplementedError("to_sparse: blocksize= and dense_dim= are for CSR/BSR layouts")
    if kwargs:
        raise TypeError(f"to_sparse: unexpected keyword arguments {sorted(kwargs)}")
    if layout is not None and layout is not sparse_coo:
        raise NotImplementedError(
            f"to_sparse: only layout=pydlk.sparse_coo is supported, got {layout}"
        )
    sd = self.ndim if sparse_dim is None else int(sparse_dim)
    if not 0 <= sd <= self.ndim:
        raise RuntimeError(
            f"dense_to_sparse: sparse_dim argument must be in [0,{self.ndim}] range, but {sd} is "
            "given"
        )
    return _sp(fn.ToSparse.apply(self, sd))


def to_dense(self: Tensor, dtype: Any = None, *, masked_grad: bool | None = None) -> Tensor:
    """Itself for a dense tensor (cast when ``dtype`` is given), as torch."""
    return self if dtype is None else self.to(dtype)


def sparse_dim(self: Tensor) -> int:
    """0 for a dense tensor."""
    return 0


def dense_dim(self: Tensor) -> int:
    """All of a dense tensor's dims."""
    return self.ndim


def _layout_error(op: str, kind: str = "sparse coordinate tensor") -> Any:
    def refused(self: Tensor) -> Any:
        raise RuntimeError(f"{op} expected {kind} layout but got Strided")

    refused.__name__ = op
    refused.__doc__ = f"Only for sparse COO tensors (``{op}``): a dense tensor raises."
    return refused


TENSOR_METHODS = {
    "to_sparse": to_sparse,
    "to_dense": to_dense,
    "sparse_dim": sparse_dim,
    "dense_dim": dense_dim,
    "is_sparse": property(lambda self: False, doc="False: a dense (strided) tensor."),
    "layout": property(lambda self: strided, doc="pydlk.strided for a dense tensor."),
    "coalesce": _layout_error("coalesce"),
    "is_coalesced": _layout_error("is_coalesced"),
    "indices": _layout_error("indices"),
    "values": _layout_error("values", "sparse tensor"),
    "_indices": _layout_error("_indices"),
    "_values": _layout_error("_values", "sparse tensor"),
    "_nnz": _layout_error("_nnz"),
}
