"""``pydlk.jit.save`` / ``pydlk.jit.load``: a whole Module in a pydlk checkpoint.

The file is a ``pydlk.save`` checkpoint (``.npz``) whose object is the module, pickled as
``pydlk.save(model)`` pickles it (each Tensor's values as a host array with its device), plus
a ``jit`` entry in the header that marks it and lists ``_extra_files``. It is written as
``pydlk.save`` writes: atomically (a temporary file, fsync, rename), with the umask's
permissions for a new file. ``pydlk.load(f, weights_only=False)`` of it gives the module too,
as ``torch.load`` of a TorchScript archive gives the scripted module.

``load`` unpickles with a restricted unpickler, so a crafted file runs no code (SAFETY.md):
it builds only Modules and Tensors (the classes of modules that are already imported, and
pydlk's own), NumPy arrays and dtypes, containers, pydlk's devices and sizes, and refers to
pydlk's functional ops; it calls no constructor other than those data types (no ``__init__``
of a module runs; a module class's own ``__setstate__`` does, as pickle's). Anything else a
module holds (a user function as a hook, a config object) is refused with an error naming
it; ``pydlk.load(f, weights_only=False)`` loads such a file when you trust it.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import pickle
import sys
import types
import zipfile
from typing import IO, Any, cast

import numpy as np

from .. import _object_pickle, serialization
from .._atomic import atomic_write
from .._device import device as _device
from .._size import Size
from ..autograd import Tensor
from ..nn.module import Module
from ..nn.utils import parametrize as _parametrize
from ._frontend import _deprecated

__all__ = ["load", "save"]

_JIT_VERSION = 1

# what REDUCE may call: constructors of plain data (never a module's __init__)
_CALLABLE: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
    ("pydlk._object_pickle", "_new_tensor"): _object_pickle._new_tensor,
    ("pydlk._object_pickle", "_set_tensor_state"): _object_pickle._set_tensor_state,
    ("pydlk._device", "device"): _device,
    ("pydlk._size", "Size"): Size,
    ("pydlk.nn.utils.parametrize", "_rebuild_parametrized"): _parametrize._rebuild_parametrized,
}
for _n in ("set", "frozenset", "slice", "range", "complex", "bytearray", "bytes"):
    _CALLABLE[("builtins", _n)] = getattr(__import__("builtins"), _n)
for _m in ("numpy._core", "numpy.core"):
    for _sub, _n in (("numeric", "_frombuffer"), ("multiarray", "_reconstruct")):
        _CALLABLE[(f"{_m}.{_sub}", _n)] = (f"{_m}.{_sub}", _n)  # resolved on use
    _CALLABLE[(f"{_m}.multiarray", "scalar")] = (f"{_m}.multiarray", "scalar")
_CALLABLE[("numpy", "dtype")] = np.dtype
_CALLABLE[("numpy", "ndarray")] = np.ndarray

# the packages of pydlk whose functions a module may hold as attributes (F.relu as an
# activation); they are referred to, never called, while loading
_FUNCTION_PACKAGES = (
    "pydlk.functional",
    "pydlk.ops",
    "pydlk.special",
    "pydlk.fft",
    "pydlk.linalg",
    "pydlk._torch_namespace",
)


class _Refused(pickle.UnpicklingError):
    pass


# ids of what REDUCE may call: _CALLABLE's objects (NumPy's are added as find_class resolves
# them, so that numpy.core, deprecated, is imported only for a file that names it)
_REDUCIBLE = {id(v) for v in _CALLABLE.values() if not isinstance(v, tuple)}


def _resolve(module: str, name: str) -> Any:
    mod: Any
    if module == "pydlk" or module.startswith("pydlk."):
        mod = importlib.import_module(module)  # pydlk's own modules: safe to import
    elif module.split(".")[0] in ("numpy", "ml_dtypes", "collections", "builtins"):
        mod = importlib.import_module(module)
    else:
        mod = sys.modules.get(module)
        if mod is None:
            raise _Refused(
                f"the module needs '{module}.{name}', but '{module}' is not imported; import it "
                "first (a pydlk.jit file names the Python class of each module, as pickle does, "
                "and jit.load imports no module on a file's say)"
            )
    obj: Any = mod
    for part in name.split("."):
        obj = getattr(obj, part, _Refused)
        if obj is _Refused:
            raise _Refused(f"'{module}' has no attribute '{name}' (the saved class is gone)")
    return obj


def _data_class(obj: Any) -> bool:
    """Classes a module's state may hold instances of: Modules, Tensors, pydlk's own classes
    (built without their __init__: NEWOBJ calls __new__), NumPy scalar and dtype types."""
    if not isinstance(obj, type):
        return False
    if issubclass(obj, (Module, Tensor, np.generic, np.dtype)):
        return True
    return (obj.__module__ or "").startswith("pydlk.")


# pickle's Python unpickler (the C one's opcodes cannot be replaced)
_PyUnpickler: Any = pickle._Unpickler


class _Unpickler(_PyUnpickler):
    """pickle's Python unpickler with globals and calls restricted (see the module docstring):
    ``find_class`` resolves only the allowed names, REDUCE calls only ``_CALLABLE`` (and NumPy
    scalar types), and protocol 0/1's INST/OBJ, which call ``__init__``, are refused."""

    dispatch = dict(_PyUnpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _CALLABLE:
            v = _CALLABLE[(module, name)]
            if isinstance(v, tuple):
                v = _resolve(*v)
                _REDUCIBLE.add(id(v))
            return v
        obj = _resolve(module, name)
        if _data_class(obj):
            return obj
        if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
            where = getattr(obj, "__module__", "") or ""
            if where.startswith(_FUNCTION_PACKAGES):
                return obj
        if not callable(obj) and (module == "pydlk" or module.startswith("pydlk.")):
            return obj  # pydlk's constants (pydlk.strided, pydlk.channels_last)
        raise _Refused(
            f"refusing '{module}.{name}': pydlk.jit.load builds only modules, tensors, arrays "
            "and containers, and never runs code from a file"
        )

    def load_reduce(self) -> None:
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        if func is _parametrize._rebuild_parametrized:
            ok = bool(args) and isinstance(args[0], type) and issubclass(args[0], Module)
        elif func is _object_pickle._set_tensor_state:
            ok = bool(args) and isinstance(args[0], Tensor)
        else:
            ok = id(func) in _REDUCIBLE or (
                isinstance(func, type) and issubclass(func, (np.generic, np.dtype))
            )
        if not ok:
            raise _Refused(
                f"refusing to call {getattr(func, '__qualname__', type(func).__name__)}: "
                "pydlk.jit.load calls only the constructors of plain data"
            )
        stack[-1] = func(*args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def _refuse_instantiation(self) -> None:
        raise _Refused("protocol 0/1 instance records (INST/OBJ) call __init__; refused")

    dispatch[pickle.INST[0]] = _refuse_instantiation
    dispatch[pickle.OBJ[0]] = _refuse_instantiation


def _restricted_loads(name: str) -> Any:
    def loads(data: bytes, place: Any) -> Any:
        previous = getattr(_object_pickle._placing, "place", None)
        _object_pickle._placing.place = place
        try:
            return _Unpickler(io.BytesIO(data)).load()
        except _Refused as e:
            raise serialization.CheckpointError(
                f"{name}: {e}. If you trust the file, pydlk.load(f, weights_only=False) "
                "unpickles it without these limits"
            ) from None
        finally:
            _object_pickle._placing.place = previous

    return loads


def _extra_text(name: Any, content: Any) -> str:
    """An extra file's bytes as base64 text, for the header."""
    if not isinstance(name, str):
        raise TypeError(f"jit.save: _extra_files keys must be str, got {type(name).__name__}")
    if isinstance(content, str):
        content = content.encode("utf-8")
    if not isinstance(content, (bytes, bytearray)):
        raise TypeError(
            f"jit.save: _extra_files[{name!r}] must be str or bytes, got {type(content).__name__}"
        )
    return base64.b64encode(bytes(content)).decode("ascii")


def _write(fh: IO[bytes], m: Module, extra: dict[str, str]) -> None:
    arrays: list[np.ndarray] = []
    structure = serialization._pickled(m, arrays)
    meta = {
        "format": serialization._FORMAT,
        "version": serialization._VERSION,
        "object": structure,
        "jit": {"version": _JIT_VERSION, "extra_files": extra},
    }
    members = {f"a{i}": a for i, a in enumerate(arrays)}
    members["__structure__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    np.savez(fh, **members)  # type: ignore[arg-type]


def save(m: Any, f: str | os.PathLike[str] | IO[bytes], _extra_files: Any = None) -> None:
    """torch.jit.save: write module ``m`` (what ``pydlk.jit.script``/``trace`` returned, or any
    Module) to ``f``, a path (written atomically, a new file with the umask's permissions, as
    ``pydlk.save``) or a binary file object. ``_extra_files`` (``{name: str or bytes}``) are
    stored beside it, as torch's. Differs from torch: a function cannot be saved (only
    Modules), and the file names each module's Python class, which must be importable where it
    is loaded (torch stores TorchScript code instead)."""
    _deprecated("save")
    if not isinstance(m, Module):
        raise TypeError(
            f"jit.save: expected a Module (what pydlk.jit.script/trace return for one), got "
            f"{type(m).__name__}; pydlk saves modules only"
        )
    # encoded first, so that a bad entry fails before anything is written
    extra = {name: _extra_text(name, c) for name, c in dict(_extra_files or {}).items()}
    if serialization._is_file_object(f):
        _write(cast(IO[bytes], f), m, extra)
        return
    with atomic_write(os.fspath(cast("str | os.PathLike[str]", f))) as fh:
        _write(fh, m, extra)


def _torchscript_archive(f: Any) -> bool:
    """Whether ``f`` is a zip with TorchScript code in it (torch.jit.save's format)."""
    try:
        if serialization._is_file_object(f):
            start = f.tell()
            try:
                names = zipfile.ZipFile(f).namelist() if zipfile.is_zipfile(f) else []
            finally:
                f.seek(start)
        else:
            names = zipfile.ZipFile(f).namelist() if zipfile.is_zipfile(f) else []
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.endswith("constants.pkl") or "/code/" in n for n in names)


def load(
    f: str | os.PathLike[str] | IO[bytes],
    map_location: Any = None,
    _extra_files: dict[str, Any] | None = None,
    _restore_shapes: bool = False,
) -> Any:
    """torch.jit.load: the module :func:`save` wrote, its tensors on the devices they were
    saved from, or on ``map_location`` (None, ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or a
    ``pydlk.device``; another type raises ValueError, as torch's). Keys of ``_extra_files``
    get the stored files' contents as bytes (``b''`` for a name not stored), as torch's. A
    missing path raises ValueError, as torch's; a TorchScript archive from ``torch.jit.save``,
    or a file ``save`` did not write, raises ``CheckpointError``. Loading runs no code from
    the file (see the module docstring)."""
    _deprecated("load")
    if map_location is not None and not isinstance(map_location, (str, _device)):
        raise ValueError(
            "map_location should be either None, string or pydlk.device, but got type: "
            f"{type(map_location)}"
        )
    if not serialization._is_file_object(f):
        path = os.fspath(cast("str | os.PathLike[str]", f))
        if not os.path.exists(path):
            raise ValueError(f"jit.load: the provided filename {path} does not exist")
        if os.path.isdir(path):
            raise ValueError(f"jit.load: the provided filename {path} is a directory")
        name = os.path.basename(path)
    else:
        name = os.path.basename(str(getattr(f, "name", "") or "")) or "<file object>"
    if _torchscript_archive(f):
        raise serialization.CheckpointError(
            f"{name} is a TorchScript archive (torch.jit.save): pydlk cannot run TorchScript "
            "code; save the model's state_dict with torch.save and load it into the pydlk model"
        )
    where = None if map_location is None else str(map_location)
    obj, r = serialization._load(
        f, where, False, serialization.DEFAULT_MAX_BYTES, _restricted_loads(name)
    )
    jit = (r.meta or {}).get("jit")
    if not isinstance(jit, dict) or not isinstance(obj, Module):
        raise serialization.CheckpointError(
            f"{name} is not a file pydlk.jit.save wrote (no module with a jit header); load "
            "pydlk.save checkpoints with pydlk.load"
        )
    if _extra_files is not None:
        stored = jit.get("extra_files")
        if not isinstance(stored, dict):
            raise r.fail("the jit header's extra_files is not a dict")
        for key in list(_extra_files):
            text = stored.get(key, "")
            try:
                _extra_files[key] = base64.b64decode(text, validate=True)
            except (TypeError, ValueError):
                raise r.fail(f"extra file {key!r} is not base64 text") from None
    return obj
