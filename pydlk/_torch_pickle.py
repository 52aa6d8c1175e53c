"""Reading torch's ``.pt`` files (``torch.save``'s zip format) without running their code.

A ``.pt`` file is a zip archive: ``<name>/data.pkl`` is a pickle whose tensors refer, through
pickle's persistent ids, to raw storages in ``<name>/data/<key>``. Unpickling an arbitrary
pickle runs arbitrary code, so this reader allows only what a state dict of plain tensors
needs: ``torch._utils._rebuild_tensor_v2`` and ``_rebuild_parameter`` (replaced by functions
that build NumPy-backed pydlk Tensors), torch's storage type names (replaced by dtypes) and
``collections.OrderedDict``. Any other global is refused before it is looked up, so nothing in
the file is imported or called. torch need not be installed.

bfloat16 tensors come back as float32 (NumPy has no bfloat16; the widening is exact).
"""

import collections
import pickle

import numpy as np

from .autograd import Tensor

_STORAGES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype("uint16" if name == "bfloat16" else name)


class _Storage:
    def __init__(self, array, kind):
        self.array, self.kind = array, kind


def _rebuild_tensor_v2(
    storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None
):
    if not isinstance(storage, _Storage):
        raise TypeError("a tensor's storage is not a storage reference")
    size, stride = tuple(size), tuple(stride)
    for v in (storage_offset, *size, *stride):
        if type(v) is not int or v < 0:
            raise ValueError(
                f"bad tensor geometry: offset {storage_offset}, size {size}, stride {stride}"
            )
    if len(size) != len(stride):
        raise ValueError(f"size {size} and stride {stride} differ in length")
    base = storage.array
    if 0 in size:
        a = np.zeros(size, base.dtype)
    else:
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= base.size:
            raise ValueError(
                f"tensor of size {size}, stride {stride} at offset "
                f"{storage_offset} reaches past its storage of {base.size} "
                "elements"
            )
        a = np.lib.stride_tricks.as_strided(
            base[storage_offset:], size, tuple(s * base.itemsize for s in stride), writeable=False
        ).copy()
    if storage.kind == "bfloat16":  # the high half of a float32: widen exactly
        a = (a.astype(np.uint32) << 16).view(np.float32)
    return Tensor(a, requires_grad=bool(requires_grad) and a.dtype.kind in "fc")


def _rebuild_parameter(data, requires_grad, backward_hooks):
    if not isinstance(data, Tensor):
        raise TypeError("a parameter's data is not a tensor")
    return Tensor(data._data, requires_grad=bool(requires_grad) and data._data.dtype.kind in "fc")


def _get_layout(name):
    if name != "torch.sparse_coo":
        raise ValueError(f"layout {name!r}: only torch.sparse_coo tensors are read")
    return name


def _rebuild_sparse_tensor(layout, data):
    """torch's sparse COO tensor: (indices, values, size[, is_coalesced])."""
    from .sparse import sparse_coo_tensor

    if layout != "torch.sparse_coo" or not isinstance(data, tuple) or len(data) not in (3, 4):
        raise ValueError("a sparse tensor's data is not (indices, values, size[, is_coalesced])")
    indices, values, size = data[:3]
    if not isinstance(indices, Tensor) or not isinstance(values, Tensor):
        raise TypeError("a sparse tensor's indices and values are not tensors")
    coalesced = data[3] if len(data) == 4 else None
    if coalesced is not None and not isinstance(coalesced, bool):
        raise TypeError("a sparse tensor's is_coalesced is not a bool")
    return sparse_coo_tensor(indices, values, tuple(size), is_coalesced=coalesced)


def _size(*args):
    if len(args) != 1 or not all(type(n) is int for n in args[0]):
        raise ValueError("torch.Size of something other than ints")
    return tuple(args[0])


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_sparse_tensor"): _rebuild_sparse_tensor,
    ("torch.serialization", "_get_layout"): _get_layout,
    ("torch", "Size"): _size,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, fp, reader, zf, prefix, byteorder):
        super().__init__(fp)
        self.reader, self.zf, self.prefix, self.byteorder = reader, zf, prefix, byteorder
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGES:
            return _StorageType(_STORAGES[name])
        from .serialization import CheckpointError

        raise CheckpointError(
            f"{self.reader.name}: refusing to unpickle '{module}.{name}': pydlk reads only "
            "torch files of plain tensors, numbers, strings and containers, and never runs "
            "code from a file"
        )

    def persistent_load(self, pid):
        if not (
            isinstance(pid, tuple)
            and len(pid) == 5
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
            and isinstance(pid[2], str)
            and type(pid[4]) is int
            and pid[4] >= 0
        ):
            raise ValueError(f"unexpected persistent id {pid!r}")
        _, stype, key, _location, numel = pid  # every storage is loaded onto the CPU
        if key in self.storages:
            return self.storages[key]
        member = f"{self.prefix}data/{key}"
        try:
            info = self.zf.getinfo(member)
        except KeyError:
            raise ValueError(f"storage member {member!r} is missing") from None
        nbytes = numel * stype.dtype.itemsize
        if info.file_size != nbytes:
            raise ValueError(
                f"storage {member!r} holds {info.file_size} bytes, its tensor "
                f"says {numel} x {stype.dtype.itemsize}"
            )
        self.reader.charge(nbytes, f"storage {member!r}")
        with self.zf.open(info) as fp:
            data = fp.read(nbytes)
        dtype = stype.dtype.newbyteorder("<" if self.byteorder == "little" else ">")
        arr = np.frombuffer(data, dtype).astype(stype.dtype.newbyteorder("="))
        st = _Storage(arr, stype.name)
        self.storages[key] = st
        return st


def _plain(r, obj, depth=0):
    """Check what the pickle built holds only data, and turn its OrderedDicts into dicts."""
    if depth > 200:
        raise ValueError("nested too deeply")
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, Tensor)):
        return obj
    if isinstance(obj, dict):
        return {k: _plain(r, v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(r, v, depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(r, v, depth + 1) for v in obj)
    raise ValueError(f"holds a {type(obj).__name__}, which is not a tensor or plain data")


def load_torch_zip(r, zf):
    """The object in torch's zip file ``zf``; ``r`` is serialization's reader (name, budget)."""
    from .serialization import CheckpointError

    pkl = [n for n in zf.namelist() if n.endswith("data.pkl")]
    if len(pkl) != 1:
        raise r.fail(f"{len(pkl)} data.pkl members", "torch file")
    prefix = pkl[0][: -len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in zf.namelist():
        byteorder = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise r.fail(f"byteorder {byteorder!r}", "torch file")
    info = zf.getinfo(pkl[0])
    r.charge(info.file_size, "data.pkl")
    try:
        with zf.open(info) as fp:
            obj = _Unpickler(fp, r, zf, prefix, byteorder).load()
        return _plain(r, obj)
    except CheckpointError:
        raise
    except RecursionError:
        raise r.fail("nested too deeply", "torch file") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        TypeError,
        ValueError,
        IndexError,
        KeyError,
        AttributeError,
        OverflowError,
        MemoryError,
    ) as e:
        raise r.fail(f"{type(e).__name__}: {e}", "torch file") from None
