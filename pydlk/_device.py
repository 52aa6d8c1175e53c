"""``pydlk.device``: where a tensor's array lives (torch.device's names and semantics).

A CPU tensor holds a NumPy array, a CUDA tensor a CuPy array. Parsing and comparison follow
torch: ``device('cuda')`` has no index and differs from ``device('cuda:0')``; ``str`` gives
``'cuda:0'``, ``repr`` gives ``device(type='cuda', index=0)``.

Differs from torch: ``device('cpu') == 'cpu'`` is True here (torch answers False for any
string). A string is parsed as a device and then compared, so ``t.device == 'cuda:0'`` keeps
working and ``device('cuda') == 'cuda:0'`` is False, as between two torch devices.
"""

from __future__ import annotations

_TYPES = ("cpu", "cuda")


def _parse(spec: str) -> tuple[str, int | None]:
    kind, sep, idx = spec.partition(":")
    if kind not in _TYPES:
        raise RuntimeError(
            f"device: expected 'cpu', 'cuda' or 'cuda:N' at the start of the "
            f"device string, got {spec!r}"
        )
    if not sep:
        return kind, None
    if not idx.isdigit() or (len(idx) > 1 and idx[0] == "0"):
        raise RuntimeError(f"device: invalid device string {spec!r}")
    return kind, int(idx)


class device:
    """``device('cpu')``, ``device('cuda:1')``, ``device('cuda', 1)``, ``device(1)`` (CUDA 1).

    ``type`` is ``'cpu'`` or ``'cuda'``; ``index`` is the device number or None when not given.
    """

    __slots__ = ("_index", "_type")
    _type: str
    _index: int | None

    def __init__(self, type: str | int | device, index: int | None = None):
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device: no index may be given with a device object")
            kind, idx = type._type, type._index
        elif isinstance(type, int) and not isinstance(type, bool):
            if index is not None:
                raise TypeError("device: an integer device takes no separate index")
            kind, idx = "cuda", type  # torch: an int is an accelerator index
        elif isinstance(type, str):
            kind, idx = _parse(type)
            if index is not None:
                if idx is not None:
                    raise RuntimeError(
                        f"device: type (string) must not include an index "
                        f"because index was passed explicitly: {type}"
                    )
                idx = index
        else:
            raise TypeError(f"device: expected a str, int or device, got {type.__class__.__name__}")
        if idx is not None and (not isinstance(idx, int) or isinstance(idx, bool) or idx < 0):
            raise RuntimeError(f"device: index must be a non-negative int, got {idx!r}")
        object.__setattr__(self, "_type", kind)
        object.__setattr__(self, "_index", idx)

    def __setattr__(self, name, value):
        raise AttributeError("device objects are immutable")

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self) -> int | None:
        return self._index

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self) -> str:
        if self._index is None:
            return f"device(type='{self._type}')"
        return f"device(type='{self._type}', index={self._index})"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        return self._type == other._type and self._index == other._index

    def __hash__(self) -> int:
        # Equal to the hash of the string it equals, so a dict keyed by 'cpu' finds device('cpu').
        return hash(str(self))

    def __reduce__(self):
        return device, (self._type, self._index)


DeviceLike = str | int | device


def device_str(spec: DeviceLike | None) -> str | None:
    """The canonical ``'cpu'`` / ``'cuda:N'`` string for a device spec (None stays None).

    ``'cuda'`` without an index means the current CUDA device, taken as 0 here.
    """
    if spec is None:
        return None
    try:
        d = device(spec)
    except (RuntimeError, TypeError):
        raise ValueError(f"invalid device {spec!r}; expected 'cpu', 'cuda' or 'cuda:N'") from None
    if d.type == "cpu":
        return "cpu"
    return f"cuda:{0 if d.index is None else d.index}"


# Where the factories (pydlk.zeros, ..., pydlk.tensor) put a tensor when no device is given:
# None until pydlk.set_default_device sets it (then 'cpu' or 'cuda:N').
_default_device: str | None = None


def default_device_str() -> str | None:
    """The device ``pydlk.set_default_device`` set (``'cpu'``/``'cuda:N'``), None if unset."""
    return _default_device


def set_default_device_str(spec: str | None) -> None:
    """Set (or, with None, clear) the factories' default device; ``spec`` is canonical."""
    global _default_device
    _default_device = spec


def cuda_unavailable_error() -> RuntimeError:
    return RuntimeError("pydlk: CUDA is not available (CuPy is not installed or no GPU was found)")
