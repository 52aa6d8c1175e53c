"""torch.utils.data's ``default_collate`` and ``default_convert`` for pydlk Tensors.

Same rules as torch: Tensors and NumPy arrays are stacked along a new first dimension (dtype
kept), Python floats become a float64 Tensor, ints int64, bools bool, NumPy scalars keep their
dtype, strings and bytes stay as given (a list for a batch of strings, a tuple for a string
field of tuple or list samples), and mappings, namedtuples and sequences are collated field
by field (a tuple sample gives a list batch, as torch).
"""

from __future__ import annotations

import collections.abc
from typing import Any

import numpy as np

from ..autograd import Tensor

_ERR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _same_type(x: Any) -> Any:
    """``type(x)``, typed as a callable: a Mapping or Sequence subclass is rebuilt from a dict
    or a list, which the abstract base classes' signatures do not describe."""
    return type(x)


def _stack(arrays) -> Tensor:
    return Tensor._wrap(np.stack(arrays))


def default_collate(batch: list | tuple) -> Any:
    """Put a list of samples together into a batch of Tensors (torch's default collation)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "SaUO":
            raise TypeError(_ERR.format(elem.dtype))
        return _stack(batch)
    if isinstance(elem, np.generic):  # a NumPy scalar keeps its dtype
        if elem.dtype.kind in "SaUO":
            raise TypeError(_ERR.format(elem.dtype))
        return Tensor._wrap(np.asarray(batch, dtype=elem.dtype))
    if isinstance(elem, bool):
        return Tensor._wrap(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, float):
        return Tensor._wrap(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):
        return Tensor._wrap(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return _same_type(elem)(out)
        except TypeError:  # a mapping type that cannot be built from a dict
            return out
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        n = len(elem)
        if not all(len(b) == n for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        # each field's samples as a tuple, as torch's ``zip(*batch)``: strings come back a tuple
        transposed = [default_collate(s) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return transposed  # torch returns a list for tuple samples
        try:
            return _same_type(elem)(transposed)
        except TypeError:
            return transposed
    raise TypeError(_ERR.format(type(elem)))


def _stack_tensors(batch) -> Tensor:
    from .._backend import get_array_module

    xp = get_array_module(batch[0]._data)
    return Tensor._wrap(xp.stack([b._data for b in batch]))


def default_convert(data: Any) -> Any:
    """NumPy arrays (and NumPy scalars) to Tensors, recursing into mappings and sequences;
    everything else unchanged (torch's ``default_convert``, used when ``batch_size=None``)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if data.dtype.kind in "SaUO" else Tensor._wrap(data)
    if isinstance(data, np.generic):
        return data if data.dtype.kind in "SaUO" else Tensor._wrap(np.asarray(data))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        try:
            return _same_type(data)(out)
        except TypeError:
            return out
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        try:
            return _same_type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
