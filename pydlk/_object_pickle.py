"""The pickled members of a checkpoint (``save`` of a whole Module, as ``torch.save(model)``):
each Tensor's values (and stored gradient) are pickled as host arrays with the device they were
saved from, and unpickling puts them where ``load``'s ``map_location`` says, as torch's
``map_location`` applies to every storage of a pickled model. Members written before, with the
arrays pickled as they were, still unpickle as they were written."""

from __future__ import annotations

import io
import pickle
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ._backend import device_of, host_array, is_cupy
from .autograd import Tensor

_ARRAY_FIELDS = ("_data", "_grad")
_placing = threading.local()


def _is_array(a: Any) -> bool:
    return isinstance(a, np.ndarray) or is_cupy(a)


def reduce_tensor(obj: Any) -> Any:
    """A dense Tensor's reduce tuple: its fields, and its arrays as host copies with their
    devices (``_set_tensor_state`` puts them back); NotImplemented for anything else (sparse
    tensors included: pickle's own way). pydlk.multiprocessing sends Tensors this way too."""
    if not isinstance(obj, Tensor) or not _is_array(obj.__dict__.get("_data")):
        return NotImplemented
    state = obj.__getstate__()
    stored = {}
    for k in _ARRAY_FIELDS:
        if _is_array(state.get(k)):
            a = state.pop(k)
            stored[k] = (host_array(a), device_of(a))
    return (_new_tensor, (type(obj),), (state, stored), None, None, _set_tensor_state)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        return reduce_tensor(obj)


def dumps(obj: Any) -> bytes:
    """``obj`` pickled, its Tensors' arrays on the host with their devices recorded."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def loads(data: bytes, place: Callable[[np.ndarray, str], Any]) -> Any:
    """Unpickle ``data``; ``place(host_array, saved_device)`` gives each Tensor's array on the
    device it should have (load's map_location)."""
    previous = getattr(_placing, "place", None)
    _placing.place = place
    try:
        return pickle.loads(data)
    finally:
        _placing.place = previous


def _new_tensor(cls: type[Tensor]) -> Tensor:
    return cls.__new__(cls)


def _restore(a: np.ndarray, loc: str) -> Any:
    """Outside ``loads`` (a plain ``pickle.loads``): back onto the device it was saved from."""
    if loc == "cpu":
        return a
    import cupy

    with cupy.cuda.Device(int(loc.split(":")[1])):
        return cupy.asarray(a)


def _set_tensor_state(obj: Tensor, state: tuple) -> None:
    fields, stored = state
    obj.__dict__.update(fields)
    place = getattr(_placing, "place", None) or _restore
    for k, (a, loc) in stored.items():
        obj.__dict__[k] = place(a, loc)
