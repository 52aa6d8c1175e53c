"""Checkpoints: ``pydlk.save(obj, f)`` / ``pydlk.load(f)``, without pickle for weights.

``.npz`` (the default): any nesting of dicts, lists, tuples, arrays, Tensors, numbers, strings,
bools and None (a model's, an optimiser's or a scheduler's state dict, the RNG state). Arrays go
into the archive as ``a0, a1, ...``; the structure around them is JSON in the member
``__structure__``, so loading such a file never unpickles (``allow_pickle=False``). Each
Tensor's entry records the device it was saved from (``'cpu'``, ``'cuda:0'``), where ``load``
puts it back, as torch does (files without one, written before, load onto the CPU). A state
dict's ``_metadata`` (per-module versions) is kept beside it and comes back on the loaded
OrderedDict, as through torch.save.

Anything else (a whole ``nn.Module`` as ``torch.save(model)`` writes it, an
``argparse.Namespace`` of hyperparameters, a set) is pickled into its own member, as torch
pickles everything. ``load`` refuses those members by default (``weights_only=True``, torch's
default since 2.6: unpickling can run code) and names the pickled type;
``load(..., weights_only=False)`` unpickles them, for files you trust.

``.safetensors``: a flat ``{name: array}`` dict (a model state dict), through the optional
``safetensors`` package; a state dict saved from torch with ``safetensors.torch.save_file``
loads here and into a pydlk model with the same architecture.

torch's ``.pt`` files (``torch.save``'s zip format) of plain tensors (state dicts, nested dicts,
optimiser state dicts) are read without running any code: the pickle inside is read by an
unpickler that knows only torch's tensor rebuild functions and ``OrderedDict``; anything else is
refused. torch need not be installed.

``load`` checks everything it reads and names the file and the problem in every error
(``CheckpointError``, a ``ValueError``); sizes are read from the zip and ``.npy`` headers and
checked against ``max_bytes`` before anything is inflated.

Writes to a path are atomic (``pydlk._atomic.atomic_write``): a temporary file in the same
directory, fsync, then ``os.replace``; a failure while writing leaves any old file untouched.
``f`` may also be a binary file object (``io.BytesIO``, an open file), written or read as is.
"""

from __future__ import annotations

import collections
import json
import os
import tokenize
import zipfile
from typing import IO, Any, cast

import numpy as np

from . import _object_pickle
from ._atomic import atomic_write
from ._backend import device_of, is_cupy
from ._device import device as _device
from .autograd import Tensor

__all__ = ["DEFAULT_MAX_BYTES", "CheckpointError", "load", "save"]

_FORMAT = "pydlk-checkpoint"
_VERSION = 1
_MAX_DEPTH = 200
#: ``load``'s default limit on the bytes a file may inflate to (all arrays together).
DEFAULT_MAX_BYTES = 16 << 30


class CheckpointError(ValueError):
    """A file ``pydlk.load`` cannot or will not read; the message names the file."""


def _is_torch_tensor(v):
    return type(v).__module__.startswith("torch") and hasattr(v, "detach")


# ----------------------------------------------------------------------------- writing


def _encode(obj, arrays):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return obj
    if getattr(obj, "is_sparse", False) is True:  # sparse COO: its indices and values
        sp = obj._data
        for a in (sp.indices, sp.values):
            arrays.append(a.get() if is_cupy(a) else np.asarray(a))
        return {
            "__sparse_coo__": [len(arrays) - 2, len(arrays) - 1],
            "size": list(sp.shape),
            "coalesced": sp.coalesced,
            "requires_grad": bool(obj.requires_grad),
            "device": str(obj.device),
        }
    if isinstance(obj, Tensor):  # a GPU tensor's values come to the host, its device is noted
        arrays.append(obj._data.get() if is_cupy(obj._data) else np.asarray(obj._data))
        return {
            "__tensor__": len(arrays) - 1,
            "requires_grad": bool(obj.requires_grad),
            "device": device_of(obj._data),
        }
    if _is_torch_tensor(obj):
        arrays.append(obj.detach().cpu().numpy())
        return {"__array__": len(arrays) - 1}
    if isinstance(obj, np.ndarray) and not obj.dtype.hasobject:
        arrays.append(obj)
        return {"__array__": len(arrays) - 1}
    if isinstance(obj, np.generic):
        arrays.append(np.asarray(obj))
        return {"__scalar__": len(arrays) - 1}
    meta = getattr(obj, "_metadata", None) if isinstance(obj, dict) else None
    if meta is not None and _json_safe(meta):  # a state_dict's per-module versions, as torch
        return {"__state_dict__": _encode(dict(obj), arrays), "metadata": meta}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, arrays) for k, v in obj.items()}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise TypeError(
                    f"save: dict keys must be str, int, float, bool or None, got {type(k).__name__}"
                )
            items.append([k, _encode(v, arrays)])
        return {"__dict__": items}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    return _pickled(obj, arrays)


def _json_safe(v, depth=0):
    """Whether v is plain JSON data (str keys; str, int, float, bool, None, lists, dicts)."""
    if depth > 8:
        return False
    if v is None or isinstance(v, (str, int, float, bool)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_json_safe(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _json_safe(x, depth + 1) for k, x in v.items())
    return False


def _pickled(obj, arrays):
    """Any other object, pickled into a member of its own (load needs weights_only=False)."""
    kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
    try:
        data = _object_pickle.dumps(obj)
    except Exception as e:  # noqa: BLE001  (whatever pickle raises: say what could not be saved)
        raise TypeError(
            f"save: cannot save an object of type {kind}: it is not a dict, list, tuple, "
            f"array, Tensor, number, str, bool or None, and pickling it failed: {e}"
        ) from None
    arrays.append(np.frombuffer(data, np.uint8))
    return {"__pickle__": len(arrays) - 1, "type": kind}


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
        raise TypeError(f"save: .safetensors holds a flat dict of arrays, got {type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        if not isinstance(k, str):
            raise TypeError(f"save: .safetensors keys must be str, got {type(k).__name__}")
        if isinstance(v, Tensor):
            v = v._data
        elif _is_torch_tensor(v):
            v = v.detach().cpu().numpy()
        if not isinstance(v, np.ndarray):
            raise TypeError(
                f"save: .safetensors values must be arrays; {k!r} is {type(v).__name__}"
            )
        out[k] = np.ascontiguousarray(v)
    return out


def _safetensors():
    try:
        import safetensors.numpy as st
    except ImportError:
        raise ImportError(
            "pydlk.save/load: .safetensors files need the optional 'safetensors' "
            "package: pip install safetensors (or pydlk[safetensors])"
        ) from None
    return st


def _write_safetensors(f, obj):
    st = _safetensors()
    f.write(st.save(_flat_arrays(obj)))


def _is_safetensors(path):
    return isinstance(path, str) and path.endswith(".safetensors")


def _is_file_object(f):
    return hasattr(f, "write") or hasattr(f, "read")


def save(obj: Any, f: str | os.PathLike[str] | IO[bytes]) -> None:
    """Save ``obj`` to ``f`` (torch.save): a path (``.npz``, or ``.safetensors`` for a flat dict
    of arrays), written atomically (a temporary file in the same directory, fsync, then
    os.replace), or a binary file object, which receives the ``.npz`` bytes."""
    if _is_file_object(f):
        _write_npz(f, obj)
        return
    path = os.fspath(cast("str | os.PathLike[str]", f))  # not a file object: a path
    if _is_safetensors(path):
        writer = _write_safetensors
        _safetensors()
    else:
        writer = _write_npz
    with atomic_write(path) as fh:
        writer(fh, obj)


# ----------------------------------------------------------------------------- reading


def _fmt_bytes(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


class _Reader:
    """One load: the file's name for messages, the size budget, the saved devices."""

    def __init__(self, name, max_bytes, allow_pickle=False):
        self.name = name
        self.max_bytes = max_bytes
        self.allow_pickle = allow_pickle  # load(weights_only=False)
        self.used = 0
        # id(Tensor) -> the device it was saved from, for the Tensors not saved from the CPU
        # (they live in the loaded object, so their ids hold until load places them)
        self.locations: dict[int, str] = {}
        # (host array, saved device) -> array, for the Tensors of pickled members (load's
        # map_location)
        self.place: Any = None
        # (pickled bytes, place) -> object, for pickled members (pydlk.jit.load's is restricted)
        self.unpickle: Any = _object_pickle.loads
        self.meta: dict | None = None  # the npz's __structure__ header, once read

    def fail(self, problem, kind="pydlk checkpoint"):
        return CheckpointError(f"{self.name} is not a valid {kind}: {problem}")

    def charge(self, n, what):
        self.used += n
        if self.used > self.max_bytes:
            raise CheckpointError(
                f"{self.name}: {what} would inflate to {_fmt_bytes(self.used)} in all, more than "
                f"max_bytes={self.max_bytes} ({_fmt_bytes(self.max_bytes)}); pass a larger "
                "max_bytes= to load it anyway"
            )


def _read_npy(r, zf, info):
    """One ``.npy`` member, its header checked against the zip's size before reading data."""
    with zf.open(info) as fp:
        try:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                raise ValueError(f"unknown .npy version {version}")
        except (
            ValueError,
            SyntaxError,
            TypeError,
            KeyError,
            OverflowError,
            tokenize.TokenError,  # an unbalanced bracket in the header
        ) as e:
            raise r.fail(f"member {info.filename!r} has a bad .npy header ({e})") from None
        if dtype.hasobject:
            raise r.fail(
                f"member {info.filename!r} holds Python objects (pickle), which pydlk does not load"
            )
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes + fp.tell() != info.file_size:
            raise r.fail(
                f"member {info.filename!r} claims {_fmt_bytes(nbytes)} of data "
                f"{tuple(shape)} {dtype} but holds {info.file_size - fp.tell()} bytes"
            )
        data = fp.read(nbytes)
    if len(data) != nbytes:
        raise r.fail(f"member {info.filename!r} is truncated")
    a = np.frombuffer(data, dtype=dtype)
    a = a.reshape(shape[::-1]).T if fortran else a.reshape(shape)
    return a.copy()  # writable and owning its memory, as np.load gives


def _index(r, obj, key, n, used):
    i = obj[key]
    if type(i) is not int or not 0 <= i < n:
        raise r.fail(f"{key} refers to array {i!r}, but the file holds {n} arrays (a0..a{n - 1})")
    if i in used:
        raise r.fail(f"array a{i} is referenced twice")
    used.add(i)
    return i


_MARKERS = {
    "__tensor__": {"__tensor__", "requires_grad", "device"},
    "__sparse_coo__": {"__sparse_coo__", "size", "coalesced", "requires_grad", "device"},
    "__array__": {"__array__"},
    "__scalar__": {"__scalar__"},
    "__tuple__": {"__tuple__"},
    "__dict__": {"__dict__"},
    "__pickle__": {"__pickle__", "type"},
    "__state_dict__": {"__state_dict__", "metadata"},
}


def _location(r, saved):
    """A saved device as 'cpu' or 'cuda:N' (a file's 'cuda' means device 0)."""
    try:
        d = _device(saved) if isinstance(saved, str) else None
    except RuntimeError:
        d = None
    if d is None:
        raise r.fail(f"a tensor's device is {saved!r}, expected 'cpu' or 'cuda:N'")
    return "cpu" if d.type == "cpu" else f"cuda:{d.index or 0}"


def _decode(r, obj, arrays, used, depth=0):
    if depth > _MAX_DEPTH:
        raise r.fail(f"structure nested deeper than {_MAX_DEPTH} levels")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [_decode(r, v, arrays, used, depth + 1) for v in obj]
    if not isinstance(obj, dict):
        raise r.fail(f"unexpected {type(obj).__name__} in the structure")
    marker = next((m for m in _MARKERS if m in obj), None)
    if marker is None:
        return {k: _decode(r, v, arrays, used, depth + 1) for k, v in obj.items()}
    extra = set(obj) - _MARKERS[marker]
    if extra:
        raise r.fail(f"unexpected keys {sorted(extra)} beside {marker}")
    n = len(arrays)
    if marker == "__tensor__":
        a = arrays[_index(r, obj, marker, n, used)]
        rg = obj.get("requires_grad", False)
        if not isinstance(rg, bool):
            raise r.fail(f"requires_grad is {rg!r}, expected true or false")
        t = Tensor(a, requires_grad=rg and a.dtype.kind in "fc")
        location = _location(r, obj.get("device", "cpu"))
        if location != "cpu":
            r.locations[id(t)] = location
        return t
    if marker == "__sparse_coo__":
        return _decode_sparse(r, obj, arrays, used)
    if marker == "__state_dict__":  # an OrderedDict with torch's _metadata attribute
        inner = _decode(r, obj[marker], arrays, used, depth + 1)
        if not isinstance(inner, dict) or not isinstance(obj.get("metadata"), dict):
            raise r.fail("__state_dict__ must hold a dict and its metadata dict")
        sd = collections.OrderedDict(inner)
        sd._metadata = obj["metadata"]
        return sd
    if marker == "__array__":
        return arrays[_index(r, obj, marker, n, used)]
    if marker == "__pickle__":
        a = arrays[_index(r, obj, marker, n, used)]
        kind = obj.get("type", "object")
        if not r.allow_pickle:
            raise r.fail(
                f"it holds a pickled {kind} (saved so because it is not a tensor, array, number, "
                f"string or container of them); unpickling can run code, so load it with "
                f"weights_only=False only if you trust the file",
                "weights-only checkpoint",
            )
        if a.dtype != np.uint8 or a.ndim != 1:
            raise r.fail(f"pickled member a{obj[marker]} is not a byte array")
        return r.unpickle(a.tobytes(), r.place)
    if marker == "__scalar__":
        a = arrays[_index(r, obj, marker, n, used)]
        if a.ndim != 0:
            raise r.fail(f"scalar a{obj[marker]} has shape {a.shape}")
        return a[()]
    items = obj[marker]
    if not isinstance(items, list):
        raise r.fail(f"{marker} holds {type(items).__name__}, expected a list")
    if marker == "__tuple__":
        return tuple(_decode(r, v, arrays, used, depth + 1) for v in items)
    out = {}
    for item in items:
        if not (isinstance(item, list) and len(item) == 2):
            raise r.fail("__dict__ items must be [key, value] pairs")
        k = item[0]
        if k is not None and not isinstance(k, (str, int, float, bool)):
            raise r.fail(f"dict key {k!r} is not a str, number, bool or null")
        out[k] = _decode(r, item[1], arrays, used, depth + 1)
    return out


def _decode_sparse(r, obj, arrays, used):
    """A sparse COO tensor: its indices and values arrays, size, coalesced flag, device."""
    from .sparse import sparse_coo_tensor

    pair, size = obj["__sparse_coo__"], obj.get("size")
    if not (isinstance(pair, list) and len(pair) == 2):
        raise r.fail("__sparse_coo__ must name two arrays (indices, values)")
    if not (isinstance(size, list) and all(type(n) is int and n >= 0 for n in size)):
        raise r.fail(f"sparse size {size!r} is not a list of sizes")
    idx, vals = (arrays[_index(r, {"k": k}, "k", len(arrays), used)] for k in pair)
    rg, coalesced = obj.get("requires_grad", False), obj.get("coalesced", False)
    if not isinstance(rg, bool) or not isinstance(coalesced, bool):
        raise r.fail("a sparse tensor's requires_grad and coalesced must be true or false")
    try:
        t = sparse_coo_tensor(idx, vals, tuple(size), is_coalesced=coalesced)
    except (RuntimeError, TypeError, ValueError) as e:
        raise r.fail(f"bad sparse tensor: {e}") from None
    t.requires_grad_(rg and vals.dtype.kind in "fc")
    location = _location(r, obj.get("device", "cpu"))
    if location != "cpu":
        r.locations[id(t)] = location
    return t


def _load_npz(r, zf):
    infos = zf.infolist()
    for info in infos:
        if not info.filename.endswith(".npy") or "/" in info.filename:
            raise r.fail(
                f"unexpected member {info.filename!r} (a pydlk checkpoint holds only "
                "top-level .npy members)"
            )
    # the sizes the zip directory promises, checked before anything is inflated
    r.charge(sum(i.file_size for i in infos), "its arrays")
    names = {i.filename[:-4]: i for i in infos}
    if "__structure__" not in names:
        # a plain npz of arrays (np.savez): a flat dict
        return {k: _read_npy(r, zf, i) for k, i in names.items()}
    raw = _read_npy(r, zf, names.pop("__structure__"))
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise r.fail(f"__structure__ is {raw.dtype} {raw.shape}, expected 1-D uint8 JSON")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise r.fail(f"__structure__ is not UTF-8 ({e.reason} at byte {e.start})") from None
    except RecursionError:
        raise r.fail("__structure__ is nested too deeply") from None
    except ValueError as e:
        raise r.fail(f"__structure__ is not JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise r.fail(f"__structure__ does not say format {_FORMAT!r}")
    version = meta.get("version")
    if version != _VERSION:
        raise r.fail(
            f"format version {version!r} is not one this pydlk reads (it reads "
            f"version {_VERSION}; a newer pydlk may have written it)"
        )
    if "object" not in meta:
        raise r.fail("__structure__ has no 'object'")
    r.meta = meta
    n = len(names)
    expected = {f"a{i}" for i in range(n)}
    if set(names) != expected:
        odd = sorted(set(names) - expected)
        raise r.fail(f"array members must be a0..a{n - 1}, found {odd}")
    arrays = [_read_npy(r, zf, names[f"a{i}"]) for i in range(n)]
    try:
        return _decode(r, meta["object"], arrays, set())
    except RecursionError:
        raise r.fail("structure nested too deeply") from None


def _load_safetensors(r, f):
    st = _safetensors()
    data = f.read(r.max_bytes + 1)
    if len(data) > r.max_bytes:
        r.charge(len(data), "its tensors")
    if len(data) < 8 or int.from_bytes(data[:8], "little") > len(data) - 8:
        raise r.fail("the header length is larger than the file", "safetensors file")
    try:
        return st.load(data)
    except Exception as e:  # noqa: BLE001 (the library's own errors, re-raised with the file's name)
        raise r.fail(str(e), "safetensors file") from None


def _target(spec, map_location):
    """'cpu', 'cuda' (the current device) or 'cuda:N' from a str or device in map_location."""
    try:
        d = _device(str(spec))
    except RuntimeError:
        raise ValueError(
            f"load: map_location must be 'cpu', 'cuda', 'cuda:N', a device, a dict of them or "
            f"a callable, got {map_location!r}"
        ) from None
    return str(d)


def _placement(map_location):
    """location -> target device for the string, device and dict forms of ``map_location``:
    None keeps each value where it was saved; a dict maps saved locations (torch's
    ``{'cuda:1': 'cuda:0'}``), leaving those it does not name where they were."""
    if map_location is None:
        return lambda loc: loc
    if isinstance(map_location, dict):
        table = {
            _target(k, map_location): _target(v, map_location) for k, v in map_location.items()
        }
        return lambda loc: table.get(loc, loc)
    dev = _target(map_location, map_location)
    return lambda loc: dev


def _cuda_unavailable(loc, dest, map_location):
    if dest == loc:  # restoring where the file says: torch's message, and the way out
        return RuntimeError(
            f"load: Attempting to deserialize object on a CUDA device ({loc}, where it was "
            "saved) but CUDA is not available here (CuPy is not installed or no GPU was "
            "found). If you are running on a CPU-only machine, please use pydlk.load with "
            "map_location='cpu' to map your tensors to the CPU."
        )
    return RuntimeError(
        f"load: map_location={map_location!r} needs a CUDA GPU and CuPy; none is "
        "available here (use map_location='cpu')"
    )


def _array_mover(map_location):
    """``(host array, saved location) -> array`` on the device ``map_location`` (None, a
    str, device or dict) gives that location; raises where that is a GPU and none is there."""
    target = _placement(map_location)
    count = None

    def to_device(a, loc):
        nonlocal count
        dest = target(loc)
        if dest == "cpu":
            return a
        if count is None:
            from .cuda import device_count

            count = device_count()
        if count < 1:
            raise _cuda_unavailable(loc, dest, map_location)
        import cupy

        index = _device(dest).index
        if index is None:
            return cupy.asarray(a)
        if index >= count:
            raise RuntimeError(
                f"load: Attempting to deserialize object on CUDA device {index} but "
                f"pydlk.cuda.device_count() is {count}. Please use pydlk.load with "
                "map_location to map your tensors to an existing device."
            )
        with cupy.cuda.Device(index):
            return cupy.asarray(a)

    return to_device


def _mapper_mover(fn):
    """``(host array, saved location) -> array`` through torch's callable map_location."""

    def to_device(a, loc):
        out = fn(Tensor(a), loc)
        return out._data if isinstance(out, Tensor) else out

    return to_device


def _place(obj, r, map_location):
    """Each Tensor (and, when map_location names a GPU, each array) onto its target device:
    Tensors onto the device they were saved from (``r.locations``; the CPU where none is
    recorded) unless ``map_location`` maps them elsewhere."""
    if map_location is None and not r.locations:
        return obj  # all on the CPU, where they were read
    target, to_device = _placement(map_location), _array_mover(map_location)

    def move(v):
        if getattr(v, "is_sparse", False) is True:
            loc = r.locations.get(id(v), "cpu")
            dest = target(loc)
            if dest != "cpu":
                to_device(v._data.values[:0], loc)  # the same checks (CUDA present, index)
                v = v.detach().to(dest).requires_grad_(v.requires_grad)
            return v
        if isinstance(v, Tensor):
            a = to_device(v._data, r.locations.get(id(v), "cpu"))
            return v if a is v._data else Tensor(a, requires_grad=v.requires_grad)
        if isinstance(v, np.ndarray):
            return to_device(v, "cpu")
        if isinstance(v, dict):
            return type(v)((k, move(x)) for k, x in v.items())
        if isinstance(v, (list, tuple)):
            return type(v)(move(x) for x in v)
        return v

    return move(obj)


def _map_each(obj, r, fn):
    """torch's callable ``map_location(storage, location)``, called on each saved Tensor or
    array (as a Tensor, on the CPU) with the location it was saved from ('cpu', 'cuda:0'); its
    result (a Tensor, e.g. ``storage.cuda()``, or an array) takes the value's place."""

    def move(v):
        if isinstance(v, Tensor):
            out = fn(v, r.locations.get(id(v), "cpu"))
            return out if isinstance(out, Tensor) else Tensor(out, requires_grad=v.requires_grad)
        if isinstance(v, np.ndarray):
            out = fn(Tensor(v), "cpu")
            return out._data if isinstance(out, Tensor) else out
        if isinstance(v, dict):
            return type(v)((k, move(x)) for k, x in v.items())
        if isinstance(v, (list, tuple)):
            return type(v)(move(x) for x in v)
        return v

    return move(obj)


def load(
    f: str | os.PathLike[str] | IO[bytes],
    map_location: Any = None,
    weights_only: bool = True,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Any:
    """Load what ``save`` wrote (torch.load), from a path or a binary file object: arrays come
    back as NumPy arrays, saved Tensors as Tensors. ``.safetensors`` files give a flat dict of
    arrays; torch ``.pt`` files of plain tensors give their dicts with pydlk Tensors, read
    without executing any code. ``weights_only`` (True, torch's default): objects that ``save``
    had to pickle (a whole Module, a Namespace) are refused, naming their type; False unpickles
    them (only for files you trust; torch files stay read without running code).

    ``map_location``: ``None`` puts each Tensor back on the device it was saved from, as torch
    (a RuntimeError suggesting ``map_location='cpu'`` where that is a GPU and none is
    available; arrays, and Tensors of files that record no device, load on the CPU);
    ``'cpu'`` (NumPy) or ``'cuda'``/``'cuda:N'`` (CuPy arrays; an error where no GPU path is
    available) moves everything there; a dict maps saved locations to devices, as torch's
    ``{'cuda:1': 'cuda:0'}`` (locations it does not name stay); torch's callable
    ``(storage, location) -> storage`` is called on each value as a CPU Tensor with the
    location it was saved from (``lambda s, loc: s`` keeps it on the host,
    ``lambda s, loc: s.cuda()`` moves it). It applies to the Tensors inside pickled objects
    too (a whole Module loaded with ``weights_only=False``), as torch's does.
    ``max_bytes`` bounds what the file may inflate to, checked against the headers before
    anything is inflated (a small compressed file can claim gigabytes).
    Raises ``CheckpointError`` (a ``ValueError``) naming the file and the problem."""
    return _load(f, map_location, weights_only, max_bytes)[0]


def _load(f, map_location, weights_only, max_bytes, unpickle=None):
    """``load``'s work: (the object, its _Reader); ``unpickle`` replaces the unpickler of
    pickled members (pydlk.jit.load's restricted one)."""
    mapper = callable(map_location) and not isinstance(map_location, (str, dict))
    # a bad map_location fails before the file is read
    place = _mapper_mover(map_location) if mapper else _array_mover(map_location)
    if _is_file_object(f):
        name = os.path.basename(str(getattr(f, "name", "") or "")) or "<file object>"
        r = _Reader(name, max_bytes, allow_pickle=not weights_only)
        r.place, r.unpickle = place, unpickle or r.unpickle
        obj = _load_from(r, f, False)
    else:
        path = os.fspath(cast("str | os.PathLike[str]", f))  # not a file object: a path
        r = _Reader(os.path.basename(path), max_bytes, allow_pickle=not weights_only)
        r.place, r.unpickle = place, unpickle or r.unpickle
        with open(path, "rb") as fh:
            obj = _load_from(r, fh, _is_safetensors(path))
    if mapper:
        return _map_each(obj, r, map_location), r
    return _place(obj, r, map_location), r


def _load_from(r, f, safetensors):
    if safetensors:
        return _load_safetensors(r, f)
    start = f.tell()
    head = f.read(8)
    f.seek(start)
    if head[:1] == b"\x80":
        raise r.fail(
            "it is a pickle (a legacy torch.save file or a pickled object); pydlk "
            "never unpickles; re-save it with torch.save's default zip format or "
            "safetensors",
            "pydlk checkpoint or torch file",
        )
    if head[:4] != b"PK\x03\x04":
        if len(head) == 8 and int.from_bytes(head, "little") > 0:
            f.seek(start)
            if f.read(9)[8:9] == b"{":  # a safetensors header without the file extension
                f.seek(start)
                return _load_safetensors(r, f)
        raise r.fail("not a zip archive (.npz), a torch .pt file or a safetensors file")
    try:
        with zipfile.ZipFile(f) as zf:
            names = zf.namelist()
            if any(n.endswith("data.pkl") for n in names):
                from ._torch_pickle import load_torch_zip

                return load_torch_zip(r, zf)
            return _load_npz(r, zf)
    except zipfile.BadZipFile as e:
        raise r.fail(f"corrupt zip archive ({e})") from None
    except (EOFError, OSError) as e:
        raise r.fail(f"truncated or unreadable ({e})") from None
