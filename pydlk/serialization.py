"""Checkpoints without pickle: ``pydlk.save(obj, path)`` / ``pydlk.load(path)``.

``.npz`` (the default): any nesting of dicts, lists, tuples, arrays, Tensors, numbers, strings,
bools and None (a model's, an optimiser's or a scheduler's state dict, the RNG state). Arrays go
into the archive as ``a0, a1, ...``; the structure around them is JSON in the member
``__structure__``, so loading never unpickles (``allow_pickle=False``).

``.safetensors``: a flat ``{name: array}`` dict (a model state dict), through the optional
``safetensors`` package; a state dict saved from torch with ``safetensors.torch.save_file``
loads here and into a pydlk model with the same architecture.

Writes are atomic: the file is written to a temporary file in the same directory, flushed and
fsynced, then renamed over the target (``os.replace``); a failure while writing leaves any old
file untouched.
"""
import json
import os

import numpy as np

from ._atomic import atomic_write
from .autograd import Tensor

__all__ = ["save", "load"]

_FORMAT = "pydlk-checkpoint"
_VERSION = 1


def _is_torch_tensor(v):
    return type(v).__module__.startswith("torch") and hasattr(v, "detach")


def _encode(obj, arrays):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return obj
    if isinstance(obj, Tensor):
        arrays.append(np.asarray(obj.data))
        return {"__tensor__": len(arrays) - 1, "requires_grad": bool(obj.requires_grad)}
    if _is_torch_tensor(obj):
        arrays.append(obj.detach().cpu().numpy())
        return {"__array__": len(arrays) - 1}
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("save: arrays of Python objects cannot be saved without pickle")
        arrays.append(obj)
        return {"__array__": len(arrays) - 1}
    if isinstance(obj, np.generic):
        arrays.append(np.asarray(obj))
        return {"__scalar__": len(arrays) - 1}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, arrays) for k, v in obj.items()}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise TypeError(f"save: dict keys must be str, int, float, bool or None, got "
                                f"{type(k).__name__}")
            items.append([k, _encode(v, arrays)])
        return {"__dict__": items}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    raise TypeError(f"save: cannot save an object of type {type(obj).__name__} (supported: "
                    "dict, list, tuple, array, Tensor, number, str, bool, None)")


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return Tensor(arrays[obj["__tensor__"]], requires_grad=obj.get("requires_grad", False))
    if "__array__" in obj:
        return arrays[obj["__array__"]]
    if "__scalar__" in obj:
        return arrays[obj["__scalar__"]][()]
    if "__tuple__" in obj:
        return tuple(_decode(v, arrays) for v in obj["__tuple__"])
    if "__dict__" in obj:
        return {k: _decode(v, arrays) for k, v in obj["__dict__"]}
    return {k: _decode(v, arrays) for k, v in obj.items()}


def _write_npz(f, obj):
    """Write ``obj`` as an npz archive into the open binary file ``f``."""
    arrays = []
    structure = _encode(obj, arrays)
    meta = json.dumps({"format": _FORMAT, "version": _VERSION, "object": structure})
    members = {f"a{i}": a for i, a in enumerate(arrays)}
    members["__structure__"] = np.frombuffer(meta.encode("utf-8"), np.uint8)
    np.savez(f, **members)


def _flat_arrays(obj):
    if not isinstance(obj, dict):
        raise TypeError(f"save: .safetensors holds a flat dict of arrays, got "
                        f"{type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        if not isinstance(k, str):
            raise TypeError(f"save: .safetensors keys must be str, got {type(k).__name__}")
        if isinstance(v, Tensor):
            v = v.data
        elif _is_torch_tensor(v):
            v = v.detach().cpu().numpy()
        if not isinstance(v, np.ndarray):
            raise TypeError(f"save: .safetensors values must be arrays; {k!r} is "
                            f"{type(v).__name__}")
        out[k] = np.ascontiguousarray(v)
    return out


def _safetensors():
    try:
        import safetensors.numpy as st
    except ImportError:
        raise ImportError("pydlk.save/load: .safetensors files need the optional 'safetensors' "
                          "package: pip install safetensors (or pydlk[safetensors])") from None
    return st


def _write_safetensors(f, obj):
    st = _safetensors()
    f.write(st.save(_flat_arrays(obj)))


def _is_safetensors(path):
    return str(path).endswith(".safetensors")


def save(obj, path):
    """Save ``obj`` to ``path`` (``.npz``, or ``.safetensors`` for a flat dict of arrays),
    atomically: a temporary file in the same directory, fsync, then os.replace."""
    path = os.fspath(path)
    if _is_safetensors(path):
        writer = _write_safetensors
        _safetensors()
    else:
        writer = _write_npz
    with atomic_write(path) as f:
        writer(f, obj)


def load(path, map_location=None, weights_only=True):
    """Load what ``save`` wrote. Arrays come back as NumPy arrays, saved Tensors as Tensors.
    ``map_location`` and ``weights_only`` are accepted for torch compatibility (loading never
    unpickles, whatever they say)."""
    path = os.fspath(path)
    if _is_safetensors(path):
        st = _safetensors()
        return st.load_file(path)
    with np.load(path, allow_pickle=False) as z:
        if "__structure__" not in z.files:
            # a plain npz of arrays (np.savez): a flat dict
            return {k: z[k] for k in z.files}
        meta = json.loads(bytes(z["__structure__"]).decode("utf-8"))
        if meta.get("format") != _FORMAT:
            raise ValueError(f"load: {path} is not a pydlk checkpoint")
        n = sum(1 for k in z.files if k != "__structure__")
        arrays = [z[f"a{i}"] for i in range(n)]
    return _decode(meta["object"], arrays)

