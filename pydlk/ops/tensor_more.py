"""Tensor conveniences torch code calls that have no top-level op: sizes and layout
(``element_size``, ``nelement``, ``ndimension``, ``nbytes``, ``itemsize``, ``is_cpu``,
``stride``, ``storage_offset``, ``retains_grad``), ``mH``/``H``, ``Tensor.where``, and the
in-place forms of shape ops (``unsqueeze_``, ``squeeze_``, ``t_``, ``transpose_``,
``swapaxes_``, ``swapdims_``) and of elementwise ops (``tril_``, ``cumsum_``, ``eq_``, ...,
``logical_and_``, ``lgamma_``, ``nan_to_num_``, ``remainder_``, ``floor_divide_``).

The in-place elementwise ones are ``inplace_math``'s wrappers (recorded on a graph tensor, as
torch records them). Comparisons and logical ops write 1/0 in the tensor's own dtype, with a
zero gradient on a graph tensor, as torch's ``eq_``. The in-place shape ops give the tensor a
view of its own memory with the new shape, and on a graph tensor move the view op onto its
history; a leaf that requires grad is refused, as in torch.
"""

from __future__ import annotations

import weakref
from typing import Any

from .._backend import is_cupy
from .._typing import TensorOrScalar
from ..autograd import Tensor
from . import comparison as _cmp
from ._helpers import _dim, _new_version, _refuse_leaf, _stand_for
from .arithmetic import where
from .complex_ops import conj
from .cumulative import cumprod
from .inplace import _records
from .inplace_math import _binary_, _unary_, _zero_grad_
from .reductions import cumsum
from .shape import _mT, squeeze, swapaxes, t, transpose, unsqueeze
from .special import digamma, lgamma
from .statistics import nan_to_num
from .strided import _storage_offset_of
from .triangular import tril, triu


def _element_size(self: Tensor) -> int:
    """The bytes of one element (torch.Tensor.element_size)."""
    return int(self._data.dtype.itemsize)


def _nelement(self: Tensor) -> int:
    """The number of elements (numel)."""
    return int(self._data.size)


def _ndimension(self: Tensor) -> int:
    """The number of dims (ndim)."""
    return int(self._data.ndim)


def _nbytes(self: Tensor) -> int:
    """The bytes of the elements (property, as torch's)."""
    return int(self._data.size * self._data.dtype.itemsize)


def _itemsize(self: Tensor) -> int:
    """The bytes of one element (property, as torch's)."""
    return int(self._data.dtype.itemsize)


def _is_cpu(self: Tensor) -> bool:
    """True for a tensor in host memory (property)."""
    return not is_cupy(self._data)


def _stride(self: Tensor, dim: int | None = None) -> Any:
    """The step in elements between neighbours along each dim (a tuple), or along ``dim``.
    pydlk's views may step backwards (flip): a negative stride where torch would copy."""
    item = self._data.dtype.itemsize
    st = tuple(int(s) // item for s in self._data.strides)
    if dim is None:
        return st
    return st[_dim(dim, self.ndim, "stride")] if self.ndim else 1


def _ptr(a: Any) -> int:
    return int(a.data.ptr) if is_cupy(a) else int(a.__array_interface__["data"][0])


def _storage_offset(self: Tensor) -> int:
    """The offset in elements of the first element from the start of the memory it views (0
    for a tensor that owns its memory); the offset ``as_strided`` reads (``strided.py``)."""
    a = self._data
    off = _storage_offset_of(a)
    if off is not None:
        return off
    base = a
    while getattr(base, "base", None) is not None and hasattr(base.base, "dtype"):
        base = base.base
    if base is a:
        return 0
    return (_ptr(a) - _ptr(base)) // a.dtype.itemsize


def _retains_grad(self: Tensor) -> bool:
    """True if ``retain_grad()`` was called on this non-leaf tensor (property)."""
    return bool(getattr(self, "_retain_grad", False)) and self._node is not None


def _mH(self: Tensor) -> Tensor:
    """The conjugate transpose of the last two dims (property)."""
    r = _mT(self)
    return conj(r) if self.dtype.kind == "c" else r


def _H(self: Tensor) -> Tensor:
    """The conjugate transpose of a matrix (property); a 0-d tensor is itself."""
    if self.ndim not in (0, 2):
        raise RuntimeError(
            f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor."
        )
    r = t(self)
    return conj(r) if self.dtype.kind == "c" else r


def _where(self: Tensor, condition: Tensor, y: TensorOrScalar) -> Tensor:
    """Tensor.where(condition, y): self where ``condition`` holds, else y."""
    return where(condition, self, y)


def _view_(name: str, op: Any) -> Any:
    """The in-place shape method ``name`` of the view op ``op``."""

    def method(self: Tensor, *args: Any) -> Tensor:
        if _records(self):
            _refuse_leaf(self, name)
            before = _stand_for(self)
            r = op(before, *args)
            self._data = r._data
            if r._node is not None:
                _new_version(self, before)
                node, i = r._node
                node.outputs[i] = weakref.ref(self)
                self._node = r._node
            return self
        self._data = op(Tensor._wrap(self._data), *args)._data
        return self

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``{op.__name__}`` in place: the tensor itself takes the new shape."
    return method


_unsqueeze_ = _view_("unsqueeze_", unsqueeze)
_squeeze_ = _view_("squeeze_", squeeze)
_t_ = _view_("t_", t)
_transpose_ = _view_("transpose_", transpose)
_swapaxes_ = _view_("swapaxes_", swapaxes)
_swapdims_ = _view_("swapdims_", swapaxes)

_tril_ = _binary_("tril_", tril)
_triu_ = _binary_("triu_", triu)
_cumsum_ = _binary_("cumsum_", cumsum)
_cumprod_ = _binary_("cumprod_", cumprod)
_lgamma_ = _unary_("lgamma_", lgamma)
_digamma_ = _unary_("digamma_", digamma)
_nan_to_num_ = _binary_("nan_to_num_", nan_to_num)


# remainder differentiates as torch (1 for input, -floor(input / other) for other); a float
# result into an integer tensor is refused by _binary_, as torch refuses it
_remainder_ = _binary_("remainder_", _cmp.remainder)
_floor_divide_ = _zero_grad_("floor_divide_", _cmp.floor_divide)
_eq_ = _zero_grad_("eq_", _cmp.eq)
_ne_ = _zero_grad_("ne_", _cmp.ne)
_lt_ = _zero_grad_("lt_", _cmp.lt)
_le_ = _zero_grad_("le_", _cmp.le)
_gt_ = _zero_grad_("gt_", _cmp.gt)
_ge_ = _zero_grad_("ge_", _cmp.ge)
_logical_and_ = _zero_grad_("logical_and_", _cmp.logical_and)
_logical_or_ = _zero_grad_("logical_or_", _cmp.logical_or)
_logical_xor_ = _zero_grad_("logical_xor_", _cmp.logical_xor)
_logical_not_ = _zero_grad_("logical_not_", _cmp.logical_not)

__all__: list[str] = []

TENSOR_METHODS = {
    "element_size": _element_size,
    "nelement": _nelement,
    "ndimension": _ndimension,
    "stride": _stride,
    "storage_offset": _storage_offset,
    "where": _where,
    "unsqueeze_": _unsqueeze_,
    "squeeze_": _squeeze_,
    "t_": _t_,
    "transpose_": _transpose_,
    "swapaxes_": _swapaxes_,
    "swapdims_": _swapdims_,
    "tril_": _tril_,
    "triu_": _triu_,
    "cumsum_": _cumsum_,
    "cumprod_": _cumprod_,
    "eq_": _eq_,
    "ne_": _ne_,
    "lt_": _lt_,
    "le_": _le_,
    "gt_": _gt_,
    "ge_": _ge_,
    "logical_and_": _logical_and_,
    "logical_or_": _logical_or_,
    "logical_xor_": _logical_xor_,
    "logical_not_": _logical_not_,
    "lgamma_": _lgamma_,
    "digamma_": _digamma_,
    "nan_to_num_": _nan_to_num_,
    "remainder_": _remainder_,
    "floor_divide_": _floor_divide_,
}

# attached as properties (``Tensor.nbytes``, ...), as torch has them
TENSOR_PROPERTIES = {
    "nbytes": _nbytes,
    "itemsize": _itemsize,
    "is_cpu": _is_cpu,
    "retains_grad": _retains_grad,
    "mH": _mH,
    "H": _H,
}
