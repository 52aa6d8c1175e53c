"""The scaled matrix products in place (``Tensor.addmm_``, ``addmv_``, ``addbmm_``,
``baddbmm_``) and the scaled outer product ``addr`` (``torch.addr``, ``Tensor.addr``,
``Tensor.addr_``): ``beta * self + alpha * product``, with torch's beta/alpha keywords.

The in-place forms are their out-of-place op written back into the tensor, as
``inplace.py``'s arithmetic is: into the tensor's own array with nothing to record, else
recorded on the graph (``inplace._update``: a leaf that requires grad, or a tensor whose memory
something else holds, is refused with a RuntimeError naming the op). The product must have the
tensor's shape (``self`` may not be broadcast larger) and a dtype it can hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd import Tensor
from ._helpers import _t
from ._promotion import result_type
from .comparison import logical_or
from .factories import zeros
from .inplace import _assign, _records, _update
from .products import _scaled_sum, addbmm, addmm, addmv, baddbmm, outer

__all__ = ["addr"]


def _check_scalars(dtype: Any, beta: Any, alpha: Any) -> None:
    """torch's rule for integer results: beta and alpha may not be floats."""
    if np.dtype(dtype).kind in "iu":
        for name, v in (("beta", beta), ("alpha", alpha)):
            if isinstance(v, (float, np.floating)):
                raise RuntimeError(
                    f"For integral input tensors, argument {name} must not be a floating point "
                    "number."
                )


def addr(
    input: Tensor, vec1: Tensor, vec2: Tensor, *, beta: complex = 1, alpha: complex = 1
) -> Tensor:
    """``beta * input + alpha * outer(vec1, vec2)``: vec1 (n,) and vec2 (m,) 1-D, input
    broadcast to (n, m), dtypes promoted together, as torch.addr. With ``beta == 0`` input's
    values are ignored (its NaN and inf do not propagate). Integer results refuse float
    ``beta``/``alpha``; bool tensors read them as truth values (``(beta and input) or (alpha
    and vec1 vec2^T)``). Differentiable in all three tensors."""
    v1, v2 = _t(vec1), _t(vec2)
    for name, v in (("vec1", v1), ("vec2", v2)):
        if v.ndim != 1:
            raise RuntimeError(f"addr: Expected 1-D argument {name}, but got {v.ndim}-D")
    x = _t(input)
    dt = result_type(x, v1, v2)
    if dt == np.bool_:
        p = outer(v1, v2)
        if not alpha:
            p = zeros(tuple(p.shape), dtype=np.bool_, device=p.device)
        if beta:
            p = logical_or(x.expand(*p.shape), p)
        return p
    _check_scalars(dt, beta, alpha)
    return _scaled_sum("addr", x, outer(v1, v2), beta, alpha)


def _inplace(
    name: str, op: Callable[..., Tensor], self: Tensor, a: Any, b: Any, beta: Any, alpha: Any
) -> Tensor:
    """``self = op(self, a, b, beta=, alpha=)`` in place: into the tensor's own array with
    nothing to record, else recorded (``inplace._update``)."""
    if _records(self, a, b):
        return _update(self, name, lambda x: op(x, a, b, beta=beta, alpha=alpha))
    r = op(Tensor._wrap(self._data), a, b, beta=beta, alpha=alpha)
    return _assign(self, name, r._data)


def _addmm_(self: Tensor, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``addmm`` in place: ``self = beta * self + alpha * (mat1 @ mat2)``."""
    return _inplace("addmm_", addmm, self, mat1, mat2, beta, alpha)


def _addmv_(self: Tensor, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``addmv`` in place: ``self = beta * self + alpha * (mat @ vec)``."""
    return _inplace("addmv_", addmv, self, mat, vec, beta, alpha)


def _addbmm_(
    self: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1
) -> Tensor:
    """``addbmm`` in place: ``self = beta * self + alpha * sum_b batch1[b] @ batch2[b]``."""
    return _inplace("addbmm_", addbmm, self, batch1, batch2, beta, alpha)


def _baddbmm_(
    self: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1
) -> Tensor:
    """``baddbmm`` in place: ``self = beta * self + alpha * bmm(batch1, batch2)``."""
    return _inplace("baddbmm_", baddbmm, self, batch1, batch2, beta, alpha)


def _addr_(self: Tensor, vec1: Tensor, vec2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``addr`` in place: ``self = beta * self + alpha * outer(vec1, vec2)``."""
    return _inplace("addr_", addr, self, vec1, vec2, beta, alpha)


TENSOR_METHODS: dict[str, Any] = {
    "addr": addr,
    "addmm_": _addmm_,
    "addmv_": _addmv_,
    "addbmm_": _addbmm_,
    "baddbmm_": _baddbmm_,
    "addr_": _addr_,
}
