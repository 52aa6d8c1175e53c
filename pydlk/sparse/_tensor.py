"""The sparse COO Tensor: ``sparse_coo_tensor``, ``SparseTensor`` (a ``Tensor`` whose ``_data``
is a ``SparseCOO``) and the methods torch gives a sparse tensor. The dense-tensor side of the
same methods (``to_sparse``, ``is_sparse``, ``layout``, ...) is in ``_methods.py``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from .._device import device as _device
from ..autograd import Tensor, _default_dtype_array, _default_floats, is_grad_enabled
from . import _coo
from . import _functions as fn
from ._coo import SparseCOO
from ._layout import sparse_coo


def _sp(t: Tensor) -> SparseTensor:
    """A Function's output that holds a SparseCOO, as a SparseTensor."""
    t.__class__ = SparseTensor
    return t  # type: ignore[return-value]


def _array_str(host: np.ndarray, indent: int) -> str:
    """The printed values of an array, continuation lines indented by ``indent``, as a dense
    Tensor prints them."""
    try:
        from .._tensor_str import tensor_str
    except ImportError:  # the NumPy layout with the print options' precision
        from ..ops.dtype_utils import _PRINT

        return np.array2string(
            host, separator=", ", prefix=" " * indent, precision=_PRINT["precision"]
        )
    return tensor_str(host, indent)


def _new(sp: SparseCOO) -> SparseTensor:
    """A new SparseTensor (no history) holding ``sp``."""
    return _sp(Tensor._wrap(sp))


def _refuse(op: str, what: str) -> NotImplementedError:
    return NotImplementedError(
        f"{op}: not supported for sparse COO tensors (layout pydlk.sparse_coo); {what}"
    )


class SparseTensor(Tensor):
    """A sparse COO tensor (torch's ``layout=torch.sparse_coo``): ``indices()`` (sparse_dim,
    nnz) int64 and ``values()`` (nnz, *dense_shape), standing for the dense tensor in which
    each value is added at its index. ``isinstance(s, pydlk.Tensor)`` holds, as in torch. The
    ops torch runs on sparse tensors are here; every other Tensor method raises
    NotImplementedError naming itself (call ``.to_dense()`` first)."""

    is_sparse = True
    layout = sparse_coo
    _data: SparseCOO

    # -- structure ------------------------------------------------------------------
    def sparse_dim(self) -> int:
        """The number of leading dims the indices address."""
        return self._data.sparse_dim

    def dense_dim(self) -> int:
        """The number of trailing dims each value has."""
        return self._data.dense_dim

    def _nnz(self) -> int:
        """The number of stored entries (duplicates counted until coalesced)."""
        return self._data.nnz

    def is_coalesced(self) -> bool:
        """True if the indices are known sorted and unique (torch's flag)."""
        return self._data.coalesced

    def coalesce(self) -> SparseTensor:
        """The same tensor with duplicate indices summed and the indices sorted."""
        return _sp(fn.Coalesce.apply(self))

    def _indices(self) -> Tensor:
        """The indices as they are stored (coalesced or not), not differentiable."""
        return Tensor._wrap(self._data.indices)

    def _values(self) -> Tensor:
        """The values as they are stored, detached (torch's ``_values`` is not
        differentiable)."""
        return Tensor._wrap(self._data.values)

    def indices(self) -> Tensor:
        """The indices (sparse_dim, nnz) of a coalesced tensor."""
        if not self._data.coalesced:
            raise RuntimeError(
                "indices: Cannot get indices on an uncoalesced tensor, please call "
                ".coalesce() first"
            )
        return Tensor._wrap(self._data.indices)

    def values(self) -> Tensor:
        """The values (nnz, *dense_shape) of a coalesced tensor; differentiable (the gradient
        comes back as a sparse tensor with these indices)."""
        if not self._data.coalesced:
            raise RuntimeError(
                "values: Cannot get values on an uncoalesced tensor, please call .coalesce() first"
            )
        return fn.Values.apply(self)

    # -- conversions ----------------------------------------------------------------
    def to_dense(self, dtype: Any = None, *, masked_grad: bool | None = None) -> Tensor:
        """The dense tensor (duplicates summed). Its gradient reaches this tensor masked to its
        pattern, a sparse tensor (``masked_grad`` True, torch's default), else dense.
        ``dtype`` is refused, as torch."""
        if dtype is not None:
            raise RuntimeError("to_dense: dtype argument is not supported by sparse_to_dense")
        return fn.ToDense.apply(self, masked_grad is not False)

    def to_sparse(self, sparseDims: int | None = None, **kwargs: Any) -> SparseTensor:  # noqa: N803
        """Itself (torch refuses another ``sparse_dim``)."""
        sd = kwargs.pop("sparse_dim", sparseDims)
        if sd is not None and sd != self.sparse_dim():
            raise RuntimeError(
                "to_sparse: conversion from Sparse to Sparse with sparse_dim argument "
                "!=self.sparse_dim() is not supported"
            )
        return self

    def to(self, *args: Any, **kwargs: Any) -> SparseTensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)``: values cast,
        indices and values moved; itself when nothing changes. Differentiable."""
        from ..ops.conversions import _is_dtype_like, _parse_device

        dtype, device = kwargs.get("dtype"), kwargs.get("device")
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif _is_dtype_like(a) and not (
                isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda")
            ):
                dtype = a
            else:
                device = a
        dev = _parse_device(device)
        if dev == _coo.device_str(self._data):
            dev = None
        dt = None if dtype is None or np.dtype(dtype) == self.dtype else np.dtype(dtype)
        if dev is None and dt is None:
            return self.clone() if kwargs.get("copy") else self
        return _sp(fn.ToDtypeDevice.apply(self, dt, dev))

    def cpu(self, memory_format: Any = None) -> SparseTensor:
        return self.to("cpu")

    def cuda(
        self, device: Any = None, non_blocking: bool = False, memory_format: Any = None
    ) -> SparseTensor:
        return self.to(
            "cuda" if device is None else (f"cuda:{device}" if type(device) is int else device)
        )

    def double(self) -> SparseTensor:
        return self.to(np.float64)

    def float(self) -> SparseTensor:
        return self.to(np.float32)

    def half(self) -> SparseTensor:
        return self.to(np.float16)

    def long(self) -> SparseTensor:
        return self.to(np.int64)

    def type_as(self, other: Tensor) -> SparseTensor:
        return self.to(other.dtype)

    def clone(self, *, memory_format: Any = None) -> SparseTensor:
        """A copy (indices and values); differentiable."""
        return _sp(fn.Clone.apply(self))

    def detach(self) -> SparseTensor:
        return _new(self._data)

    @property
    def data(self) -> SparseTensor:
        return _new(self._data)

    @data.setter
    def data(self, value: Any) -> None:
        if not isinstance(value, SparseTensor):
            raise TypeError("data: a sparse tensor's data must be a sparse tensor")
        self._data = value._data

    @property
    def grad(self) -> Tensor | None:
        """The gradient: a sparse tensor from ``sparse.mm``, ``to_dense``, ``values()`` ...,
        a dense one from ``torch.mm`` (as torch)."""
        g = self._grad
        if g is None:
            return None
        w = self._grad_t
        if w is None or w._data is not g:
            w = _new(g) if isinstance(g, SparseCOO) else Tensor._wrap(g)
            self._grad_t = w
        return w

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            self._grad = self._grad_t = None
            return
        g = value._data if isinstance(value, Tensor) else value
        if tuple(g.shape) != self.shape:
            raise RuntimeError(
                f"grad: assigned grad has data of a different size: {tuple(g.shape)}, "
                f"expected {tuple(self.shape)}"
            )
        self._grad, self._grad_t = g, value if isinstance(value, Tensor) else None

    # -- metadata that differs from a dense array's ----------------------------------
    @property
    def device(self) -> _device:
        return _device(_coo.device_str(self._data))

    @property
    def is_cuda(self) -> bool:
        return is_cupy(self._data.values)

    @property
    def is_cpu(self) -> bool:
        return not is_cupy(self._data.values)

    def get_device(self) -> int:
        v = self._data.values
        return v.device.id if is_cupy(v) else -1

    def numpy(self, *, force: bool = False) -> np.ndarray:
        raise TypeError("can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() first.")

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        raise TypeError("can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() first.")

    def __repr__(self) -> str:
        sp = self._data

        def body(a: Any, indent: int) -> str:
            host = a.get() if is_cupy(a) else np.asarray(a)
            if host.size == 0:
                return f"tensor([], size={tuple(host.shape)})"
            return "tensor(" + _array_str(host, indent) + ")"

        ind = body(sp.indices, len("tensor(indices=tensor("))
        val = body(sp.values, len("       values=tensor("))
        tail = f"size={tuple(self.shape)}, nnz={sp.nnz}"
        if sp.dtype not in _default_floats():
            tail += f", dtype={sp.dtype}"
        if self.device != "cpu":
            tail += f", device='{self.device}'"
        tail += f", layout={sparse_coo}"
        if self._node is not None:
            tail += f",\n       grad_fn=<{self._node[0].name()}>"
        elif self.requires_grad:
            tail += ",\n       requires_grad=True"
        return f"tensor(indices={ind},\n       values={val},\n       {tail})"

    # -- arithmetic torch allows on sparse tensors -------------------------------------
    def mul(self, other: Any) -> SparseTensor:
        """``sparse * number`` (other products are refused: call to_dense first)."""
        if isinstance(other, Tensor) and other.ndim == 0 and not other.requires_grad:
            other = other.item()
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            raise _refuse("mul", "only multiplication by a Python number is supported")
        return _sp(fn.Scale.apply(self, other))

    __mul__ = __rmul__ = mul

    def div(self, other: Any, *, rounding_mode: str | None = None) -> SparseTensor:
        """``sparse / number`` (``rounding_mode`` is refused)."""
        if rounding_mode is not None:
            raise _refuse("div", "rounding_mode= is not supported")
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            raise _refuse("div", "only division by a Python number is supported")
        if self.dtype.kind not in "fc":
            raise _refuse("div", "integer sparse tensors divide only after .to(a float dtype)")
        return _sp(fn.Scale.apply(self, 1.0 / other))

    __truediv__ = div

    def neg(self) -> SparseTensor:
        return _sp(fn.Scale.apply(self, -1))

    __neg__ = neg

    def add(self, other: Any, *, alpha: Any = 1) -> Any:
        """``sparse + sparse`` (same shape) is sparse; ``sparse + dense`` is refused, as torch
        refuses it (write ``dense + sparse``)."""
        if isinstance(other, SparseTensor):
            if other.shape != self.shape:
                raise RuntimeError(
                    f"add: expected sizes of the two sparse tensors to match, got "
                    f"{tuple(self.shape)} and {tuple(other.shape)}"
                )
            if other.sparse_dim() != self.sparse_dim():
                raise RuntimeError("add: the two sparse tensors differ in sparse_dim")
            return _sp(fn.Add.apply(self, other, alpha))
        raise RuntimeError(
            "add(sparse, dense) is not supported. Use add(dense, sparse) instead."
            if isinstance(other, Tensor)
            else "add: a sparse tensor adds only another sparse tensor of its shape"
        )

    __add__ = add

    def __radd__(self, other: Any) -> Any:
        if isinstance(other, Tensor) and not other.is_sparse:
            from ..ops import add as dense_add

            return dense_add(other, self.to_dense())
        return self.add(other)

    def sub(self, other: Any, *, alpha: Any = 1) -> Any:
        return self.add(other, alpha=-alpha)

    __sub__ = sub

    def t(self) -> SparseTensor:
        """The transpose of a matrix (2 sparse dims, no dense dims), as torch."""
        if self._data.sparse_dim > 2 or self._data.dense_dim:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 sparse and 0 dense dimensions, but got "
                f"{self._data.sparse_dim} sparse and {self._data.dense_dim} dense dimensions"
            )
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self) -> SparseTensor:  # noqa: N802
        return self.t()

    def transpose(self, dim0: int, dim1: int) -> SparseTensor:
        """Two sparse dims swapped (the indices' rows)."""
        nd, sd = self.ndim, self._data.sparse_dim
        d0, d1 = (d + nd if d < 0 else d for d in (dim0, dim1))
        for d in (d0, d1):
            if not 0 <= d < nd:
                raise IndexError(
                    f"transpose: Dimension out of range (expected to be in range of "
                    f"[{-nd}, {nd - 1}], but got {d})"
                )
        if d0 >= sd or d1 >= sd:
            raise _refuse("transpose", "only two sparse dims can be swapped")
        return self if d0 == d1 else _sp(fn.Transpose.apply(self, d0, d1))

    def mm(self, mat2: Tensor) -> Tensor:
        from ._ops import _mm

        return _mm(self, mat2, "mm", masked=False)

    def matmul(self, other: Tensor) -> Tensor:
        from ._ops import _mm

        return _mm(self, other, "matmul", masked=False)

    __matmul__ = matmul

    def __rmatmul__(self, other: Any) -> Tensor:
        from ._ops import _mm

        return _mm(other, self, "matmul", masked=False)

    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """``torch.sparse.sum`` (keepdim is refused)."""
        if keepdim:
            raise _refuse("sum", "keepdim=True is not supported")
        from ._ops import sum as sparse_sum

        return sparse_sum(self, dim, dtype=dtype)


# Tensor methods a sparse tensor keeps as they are (metadata, autograd plumbing); every other
# attached method is replaced on SparseTensor by a refusal naming it (refuse_dense_methods).
_KEEP = frozenset(
    "__init__ _wrap requires_grad_ retain_grad register_hook register_post_accumulate_grad_hook "
    "backward size dim ndimension numel nelement __len__ __hash__ __deepcopy__ __getstate__ "
    "__format__ _check_inplace _check_inplace_write is_floating_point is_complex element_size "
    "detach_ __init_subclass__ __class_getitem__ is_same_size __repr__ __str__ type".split()
)


def refuse_dense_methods() -> None:
    """Give SparseTensor a refusal for each Tensor method it neither defines nor keeps (run
    once, after ``_tensor_methods`` attached the ops to Tensor)."""

    def make(name: str) -> Any:
        op = name.strip("_") or name

        def refused(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise _refuse(op, "call .to_dense() first")

        refused.__name__ = name
        refused.__doc__ = f"Not supported for sparse COO tensors (``{op}``)."
        return refused

    own = vars(SparseTensor)
    for name, v in list(vars(Tensor).items()):
        if name in own or name in _KEEP or not callable(v) or isinstance(v, type):
            continue
        setattr(SparseTensor, name, make(name))


def _size_of(shape: Any, sparse_dim: int, dense_shape: tuple[int, ...], op: str) -> tuple:
    size = tuple(int(n) for n in shape)
    if len(size) != sparse_dim + len(dense_shape):
        raise RuntimeError(
            f"{op}: size {size} has {len(size)} dims, but the indices give {sparse_dim} "
            f"sparse dims and the values {len(dense_shape)} dense dims ('len(size) == "
            f"sparse_dim + dense_dim' is not satisfied)"
        )
    if size[sparse_dim:] != dense_shape:
        raise RuntimeError(
            f"{op}: values have dense shape {dense_shape}, but size says "
            f"{size[sparse_dim:]} for the dense dims"
        )
    return size


def check_indices(indices: Any, size: tuple, op: str) -> None:
    """Refuse negative indices and indices past ``size`` (torch's ``check_invariants``)."""
    if indices.shape[1] == 0:
        return
    low = indices.min(axis=1)
    high = indices.max(axis=1)
    low, high = (a.get() if is_cupy(a) else a for a in (low, high))
    for d in range(indices.shape[0]):
        if low[d] < 0:
            raise RuntimeError(f"{op}: found negative index {int(low[d])} for dim {d}")
        if high[d] >= size[d]:
            raise RuntimeError(
                f"{op}: size is inconsistent with indices: for dim {d}, size is {size[d]} "
                f"but found index {int(high[d])}"
            )


def sparse_coo_tensor(
    indices: Any,
    values: Any,
    size: Any = None,
    *,
    dtype: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
    check_invariants: bool | None = None,
    is_coalesced: bool | None = None,
) -> SparseTensor:
    """A sparse COO tensor (torch.sparse_coo_tensor): ``indices`` (sparse_dim, nnz) integer,
    ``values`` (nnz, *dense_shape); ``size`` inferred when omitted (one past the largest index
    of each sparse dim, then the values' dense shape). The arrays are used as given (duplicate
    indices stay until ``coalesce()``). Values that require grad make a differentiable tensor
    (the gradient reaches them); ``requires_grad=True`` makes a sparse leaf, whose ``.grad``
    is sparse (from ``sparse.mm``, ``to_dense``) or dense (from ``torch.mm``), as torch.

    Differs from torch: indices are checked against ``size`` unless
    ``check_invariants=False`` (torch checks only when asked); float indices are refused
    (torch casts them)."""
    op = "sparse_coo_tensor"
    if isinstance(values, Tensor) and values.is_sparse:
        raise TypeError(f"{op}: values must be a dense tensor, got a sparse one")
    vals_t: Tensor | None = values if isinstance(values, Tensor) else None
    vals = values._data if vals_t is not None else values
    xp = get_array_module(vals)
    vals = _default_dtype_array(vals, dtype, xp)
    if dtype is not None:
        vals = vals.astype(np.dtype(dtype), copy=False)
    idx = indices._data if isinstance(indices, Tensor) else indices
    idx = get_array_module(idx).asarray(idx)
    if idx.size == 0 and idx.dtype.kind == "f":  # torch.tensor([]) as empty indices
        idx = idx.astype(np.int64)
    idx = fn.as_int64_indices(xp, idx, op)
    if idx.ndim != 2:
        raise RuntimeError(
            f"{op}: indices must be 2-D (sparse_dim, nnz), got shape {tuple(idx.shape)}"
        )
    if vals.ndim < 1:
        raise RuntimeError(f"{op}: values must have at least 1 dim (nnz, ...), got a 0-d tensor")
    if idx.shape[1] != vals.shape[0]:
        raise RuntimeError(
            f"{op}: indices and values must have same nnz, but got nnz from indices: "
            f"{idx.shape[1]}, nnz from values: {vals.shape[0]}"
        )
    if is_cupy(vals) != is_cupy(idx):  # one device for both, the values' one
        from ..ops.conversions import _move

        idx = _move(idx, f"cuda:{vals.device.id}" if is_cupy(vals) else "cpu")
    sd = idx.shape[0]
    if size is None:
        high = idx.max(axis=1) + 1 if idx.shape[1] else xp.zeros(sd, np.int64)
        high = high.get() if is_cupy(high) else high
        size = tuple(int(n) for n in high) + tuple(vals.shape[1:])
    size = _size_of(size, sd, tuple(vals.shape[1:]), op)
    if check_invariants is not False:
        check_indices(idx, size, op)
    coalesced = bool(is_coalesced) if is_coalesced is not None else idx.shape[1] < 2
    if device is not None:
        from ..ops.conversions import _move, _parse_device

        dev = _parse_device(device) or "cpu"
        idx, vals = _move(idx, dev), _move(vals, dev)
        if vals_t is not None and vals_t._data is not vals:
            vals_t = vals_t.to(dev)
    if vals_t is not None and vals_t.requires_grad and is_grad_enabled():
        if vals_t.dtype != vals.dtype:
            vals_t = vals_t.to(vals.dtype)
        out = _sp(fn.FromValues.apply(vals_t, idx, size, coalesced))
    else:
        out = _new(SparseCOO(idx, vals, size, coalesced))
        if requires_grad:
            out.requires_grad_(True)
    return out
