"""torch.sparse: sparse COO tensors and the ops on them.

``pydlk.sparse_coo_tensor(indices, values, size)`` builds one (``SparseTensor``, a Tensor whose
array is a ``SparseCOO``: indices (sparse_dim, nnz), values (nnz, *dense_shape));
``dense.to_sparse()`` and ``sparse.to_dense()`` convert. The ops here, ``sparse @ dense``,
``pydlk.mm``/``matmul``/``spmm`` with a sparse operand, ``+`` of two sparse tensors and ``*`` by
a number are differentiable, with torch's gradients: ``sparse.mm``'s and ``to_dense``'s reach
a sparse leaf as a sparse tensor with its pattern, ``torch.mm``'s as a dense one.

Files: ``_coo.py`` the array and index arithmetic (NumPy or CuPy), ``_functions.py`` the
conversions' Functions, ``_tensor.py`` SparseTensor and ``sparse_coo_tensor``, ``_ops.py`` the
products and reductions, ``_methods.py`` the dense Tensor's side, ``_layout.py`` the layouts.
"""

from ._layout import layout, sparse_coo, strided
from ._ops import addmm, hspmm, log_softmax, mm, smm, softmax, spmm, sum
from ._tensor import SparseTensor, sparse_coo_tensor

__all__ = [
    "SparseTensor",
    "addmm",
    "hspmm",
    "layout",
    "log_softmax",
    "mm",
    "smm",
    "softmax",
    "sparse_coo",
    "sparse_coo_tensor",
    "spmm",
    "strided",
    "sum",
]
