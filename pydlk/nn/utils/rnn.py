"""Variable-length sequences (torch.nn.utils.rnn): ``pad_sequence``, ``PackedSequence`` and
``pack_padded_sequence`` / ``pad_packed_sequence`` / ``pack_sequence`` / ``unpack_sequence`` /
``unpad_sequence``.

A PackedSequence lays its sequences out as torch does: sorted by decreasing length and
interleaved time-major, so ``data`` holds step 0 of every sequence, then step 1 of those at
least 2 long, and so on; ``batch_sizes[t]`` (an int64 CPU tensor) counts the sequences still
running at step t. ``sorted_indices[i]`` is the batch position of the i-th longest sequence and
``unsorted_indices`` its inverse (both None when the batch came sorted). pydlk's ``nn.RNN``,
``nn.LSTM`` and ``nn.GRU`` take a PackedSequence as torch's do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ..._backend import get_array_module, host_array, is_cupy
from ...autograd import Function, Tensor

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]


class PadSequence(Function):
    """sequences (L_i, *) -> (max L, B, *) or (B, max L, *), each sequence at the start
    (``left=False``) or the end of its column, the rest ``padding_value``. The backward cuts
    each sequence's gradient back out."""

    @staticmethod
    def forward(ctx, batch_first, padding_value, left, *seqs):
        xp = get_array_module(seqs[0])
        n = max(s.shape[0] for s in seqs)
        shape = (len(seqs), n) if batch_first else (n, len(seqs))
        out = xp.full(shape + seqs[0].shape[1:], padding_value, dtype=seqs[0].dtype)
        ctx.keys, ctx.dtypes = [], [s.dtype for s in seqs]
        for i, s in enumerate(seqs):
            rows = slice(n - s.shape[0], n) if left else slice(0, s.shape[0])
            key = (i, rows) if batch_first else (rows, i)
            out[key] = s
            ctx.keys.append(key)
        return out

    @staticmethod
    def backward(ctx, g):
        grads = [g[key].astype(dt, copy=False) for key, dt in zip(ctx.keys, ctx.dtypes)]
        return (None, None, None, *grads)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        grads = [g[key] for key in ctx.keys]  # recorded indexing: differentiable again
        return (
            None,
            None,
            None,
            *(t if t.dtype == dt else t.to(dt) for t, dt in zip(grads, ctx.dtypes)),
        )


def pad_sequence(
    sequences: Tensor | Sequence[Tensor],
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack tensors of shapes (L_i, *) into one padded tensor: (max L, B, *), or (B, max L, *)
    with ``batch_first``; each sequence starts at position 0 (``padding_side='right'``) or ends
    at the last position (``'left'``), the rest holds ``padding_value``.

    The trailing dimensions ``*`` must agree; the result has the first sequence's dtype (the
    others are cast to it, as torch copies them). A tensor as ``sequences`` counts as the list
    of its slices along dim 0. Differentiable in every sequence.
    """
    op = "pad_sequence"
    if isinstance(sequences, Tensor):
        sequences = sequences.unbind(0)
    seqs = [s if isinstance(s, Tensor) else Tensor(s) for s in sequences]
    if not seqs:
        raise ValueError(f"{op}: received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise ValueError(f"{op}: padding_side must be 'left' or 'right', got {padding_side!r}")
    trail = seqs[0].shape[1:]
    for i, s in enumerate(seqs):
        if s.ndim == 0:
            raise ValueError(f"{op}: sequence {i} is 0-d; each sequence needs a length (dim 0)")
        if s.shape[1:] != trail:
            raise ValueError(
                f"{op}: sequence {i} has trailing dimensions {s.shape[1:]}, sequence 0 has "
                f"{trail}; they must agree"
            )
    return PadSequence.apply(bool(batch_first), padding_value, padding_side == "left", *seqs)


# ----------------------------------------------------------------------------- PackedSequence


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation of ``0..n-1`` (``out[permutation[i]] = i``), on its device;
    None stays None (torch.nn.utils.rnn.invert_permutation)."""
    if permutation is None:
        return None
    p = permutation._data if isinstance(permutation, Tensor) else np.asarray(permutation)
    xp = get_array_module(p)
    out = xp.empty_like(p)
    out[p] = xp.arange(p.shape[0], dtype=p.dtype)
    return Tensor(out)


class _PackedFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedFields):
    """Sequences of different lengths packed for a recurrent layer (torch's PackedSequence): a
    named tuple ``(data, batch_sizes, sorted_indices, unsorted_indices)``, laid out as the
    module docstring says. Build one with ``pack_padded_sequence`` or ``pack_sequence``, not by
    hand. ``unsorted_indices`` is computed from ``sorted_indices`` when left out;
    ``batch_sizes`` must be on the CPU. ``PackedSequence((data, batch_sizes))`` is accepted as
    torch accepts it."""

    def __new__(
        cls,
        data: Any,
        batch_sizes: Tensor | None = None,
        sorted_indices: Tensor | None = None,
        unsorted_indices: Tensor | None = None,
    ) -> PackedSequence:
        if batch_sizes is None:  # torch's legacy form PackedSequence((data, batch_sizes))
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise ValueError(
                    "PackedSequence: without batch_sizes, data must be a (data, batch_sizes) pair"
                )
            data, batch_sizes = data
        if isinstance(batch_sizes, Tensor) and is_cupy(batch_sizes._data):
            raise ValueError(
                "PackedSequence: batch_sizes should always be on CPU; build PackedSequences with "
                "pack_padded_sequence or pack_sequence instead of by hand"
            )
        if not isinstance(batch_sizes, Tensor):
            batch_sizes = Tensor(np.asarray(batch_sizes, dtype=np.int64))
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with_data(self, data: Tensor) -> PackedSequence:
        # torch's PackedSequence.to: the indices follow data's device, batch_sizes stays on the CPU
        if data is self.data:
            return self

        def move(t):
            return None if t is None else t.to(data.device)

        return type(self)(
            data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices)
        )

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data.to(*args, **kwargs)`` with the indices moved to its device; ``self`` when
        nothing changes."""
        return self._with_data(self.data.to(*args, **kwargs))

    def cuda(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """A copy with ``data`` (and the indices) on a CUDA device."""
        return self._with_data(self.data.cuda(*args, **kwargs))

    def cpu(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """A copy with ``data`` (and the indices) on the CPU."""
        return self._with_data(self.data.cpu(*args, **kwargs))

    def double(self) -> PackedSequence:
        """``data`` as float64."""
        return self._with_data(self.data.double())

    def float(self) -> PackedSequence:
        """``data`` as float32."""
        return self._with_data(self.data.float())

    def half(self) -> PackedSequence:
        """``data`` as float16."""
        return self._with_data(self.data.half())

    @property
    def is_cuda(self) -> bool:
        """Whether ``data`` is on a CUDA device."""
        return bool(self.data.is_cuda)


def _host_lengths(lengths: Any, op: str) -> np.ndarray:
    """``lengths`` (list, tuple, array or CPU tensor) as a 1-D int64 NumPy array."""
    if isinstance(lengths, Tensor):
        if is_cupy(lengths._data):
            raise ValueError(
                f"{op}: 'lengths' argument should be a 1D CPU int64 tensor, but got a tensor "
                f"on {lengths.device}; pass lengths.cpu() or a list"
            )
        a = lengths._data
    else:
        if isinstance(lengths, (list, tuple)):  # a list of 0-d tensors counts too
            lengths = [int(v) if isinstance(v, Tensor) else v for v in lengths]
        a = np.asarray(lengths)
    if a.ndim != 1:
        raise ValueError(f"{op}: lengths must be 1-D (one per sequence), got shape {a.shape}")
    if a.size and a.dtype.kind not in "iuf":
        raise TypeError(f"{op}: lengths must be integers, got dtype {a.dtype}")
    return a.astype(np.int64)  # torch converts with .to(int64): floats truncate


def _rows(lens_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t, i) of each packed row, in packed order: time-major, then the sorted sequences still
    running at step t."""
    steps = np.arange(int(lens_sorted[0]))
    t, i = np.nonzero(lens_sorted[None, :] > steps[:, None])
    return t, i


class _PackRows(Function):
    """``out[r] = x2[idx[r]]`` with ``x2`` the padded (T, B, *) or (B, T, *) input with its first
    two dims flattened; the backward puts each row's gradient back (zero on the padding)."""

    @staticmethod
    def forward(ctx, x, idx):
        ctx.shape, ctx.idx = x.shape, idx
        return x.reshape((-1,) + x.shape[2:])[idx]

    @staticmethod
    def backward(ctx, g):
        shape = ctx.shape
        full = get_array_module(g).zeros((shape[0] * shape[1],) + shape[2:], g.dtype)
        full[ctx.idx] = g  # idx has no repeats: a plain store, no add.at
        return full.reshape(shape), None

    @staticmethod
    def backward_graph(ctx, inputs, g):  # the backward is _PadRows with zero padding
        return _PadRows.apply(g, ctx.idx, ctx.shape[:2], 0.0), None


class _PadRows(Function):
    """The inverse of ``_PackRows``: packed rows into a padded ``shape`` tensor filled with
    ``padding_value``; the backward reads each row's gradient back out."""

    @staticmethod
    def forward(ctx, data, idx, shape, padding_value):
        out = get_array_module(data).full(
            (shape[0] * shape[1],) + data.shape[1:], padding_value, data.dtype
        )
        out[idx] = data
        ctx.idx = idx
        return out.reshape(tuple(shape) + data.shape[1:])

    @staticmethod
    def backward(ctx, g):
        return g.reshape((-1,) + g.shape[2:])[ctx.idx], None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):  # the backward is _PackRows
        return _PackRows.apply(g, ctx.idx), None, None, None


def pack_padded_sequence(
    input: Tensor,
    lengths: Tensor | Sequence[int],
    batch_first: bool = False,
    enforce_sorted: bool = True,
) -> PackedSequence:
    """Pack a padded batch ``input`` (T, B, *), or (B, T, *) with ``batch_first``, whose
    sequence b is ``lengths[b]`` steps long (a list, tuple or int64 CPU tensor), into a
    PackedSequence; the padding is dropped. ``enforce_sorted=True`` requires decreasing
    lengths (as ONNX export needs); False sorts them (a stable sort: where lengths tie, torch's
    unsorted sort may order the sequences differently) and records ``sorted_indices``.
    Differentiable in ``input``. Raises ValueError for a length of 0, a length longer than
    the input, unsorted lengths with ``enforce_sorted``, or a lengths count that is not B."""
    op = "pack_padded_sequence"
    x = input if isinstance(input, Tensor) else Tensor(input)
    lens = _host_lengths(lengths, op)
    if x.ndim < 2:
        raise ValueError(
            f"{op}: input must be at least 2-D, (T, B, *) or (B, T, *) with batch_first; "
            f"got shape {tuple(x.shape)}"
        )
    if x.numel() == 0:
        raise ValueError(f"{op}: Cannot pack empty tensors (input shape {tuple(x.shape)})")
    T, B = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    if lens.shape[0] != B:
        raise ValueError(
            f"{op}: Expected `len(lengths)` to be equal to batch_size, but got "
            f"{lens.shape[0]} (batch_size={B})"
        )
    if enforce_sorted and np.any(lens[1:] > lens[:-1]):
        raise ValueError(
            f"{op}: `lengths` array must be sorted in decreasing order when `enforce_sorted` "
            f"is True (got {lens.tolist()}). You can pass `enforce_sorted=False` to "
            "pack_padded_sequence and/or pack_sequence to sidestep this requirement if you "
            "do not need ONNX exportability."
        )
    if lens.min() <= 0:
        raise ValueError(
            f"{op}: Length of all samples has to be greater than 0, but found an element in "
            f"'lengths' that is <= 0 (lengths {lens.tolist()})"
        )
    if lens.max() > T:
        raise ValueError(
            f"{op}: a sequence length is {int(lens.max())}, but the input has only {T} time "
            f"steps (dim {1 if batch_first else 0})"
        )
    order = None if enforce_sorted else np.argsort(-lens, kind="stable")
    lens_sorted = lens if order is None else lens[order]
    t, i = _rows(lens_sorted)
    b = i if order is None else order[i]
    idx = b * T + t if batch_first else t * B + b
    xp = get_array_module(x._data)
    data = _PackRows.apply(x, xp.asarray(idx))
    batch_sizes = np.bincount(t, minlength=int(lens_sorted[0])).astype(np.int64)
    sorted_indices = None if order is None else Tensor(xp.asarray(order))
    return PackedSequence(data, Tensor(batch_sizes), sorted_indices, None)


def _sorted_lengths(batch_sizes: np.ndarray) -> np.ndarray:
    """Each sorted sequence's length: the number of steps whose batch still includes it."""
    return (batch_sizes[None, :] > np.arange(int(batch_sizes[0]))[:, None]).sum(1)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Undo ``pack_padded_sequence``: returns ``(padded, lengths)``, ``padded`` (T, B, *) or
    (B, T, *) with ``batch_first`` in the batch's original order, ``padding_value`` past each
    sequence's end, T the longest length or ``total_length`` (for DataParallel-style fixed
    sizes; ValueError if shorter than the longest sequence); ``lengths`` an int64 CPU tensor.
    Differentiable in ``sequence.data``."""
    op = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{op}: sequence must be a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data if isinstance(sequence.data, Tensor) else Tensor(sequence.data)
    bs = host_array(sequence.batch_sizes._data).astype(np.int64)
    T = bs.shape[0]
    if total_length is not None:
        if total_length < T:
            raise ValueError(
                f"{op}: Expected total_length to be at least the length of the longest "
                f"sequence in input, but got total_length={total_length} and max sequence "
                f"length being {T}"
            )
        T = int(total_length)
    B = int(bs[0])
    lens_sorted = _sorted_lengths(bs)
    if int(bs.sum()) != data.shape[0]:
        raise ValueError(
            f"{op}: data has {data.shape[0]} rows, but batch_sizes sum to {int(bs.sum())}"
        )
    t, i = _rows(lens_sorted)
    unsorted = sequence.unsorted_indices
    if unsorted is None:
        b, lengths = i, lens_sorted
    else:
        pos = np.argsort(host_array(unsorted._data))  # sorted i sits at batch position pos[i]
        b, lengths = pos[i], lens_sorted[host_array(unsorted._data)]
    idx = b * T + t if batch_first else t * B + b
    shape = (B, T) if batch_first else (T, B)
    xp = get_array_module(data._data)
    padded = _PadRows.apply(data, xp.asarray(idx), shape, padding_value)
    return padded, Tensor(np.ascontiguousarray(lengths, dtype=np.int64))


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors (L_i, *) into a PackedSequence: ``pack_padded_sequence`` of their
    ``pad_sequence``. ``enforce_sorted=True`` requires them longest first."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(
    padded_sequences: Tensor, lengths: Tensor | Sequence[int], batch_first: bool = False
) -> list[Tensor]:
    """The list of sequences (L_i, *) in a padded batch (T, B, *), or (B, T, *) with
    ``batch_first``: the inverse of ``pad_sequence``. Unlike torch's, leaves the input
    untransposed (torch transposes a time-major input in place)."""
    op = "unpad_sequence"
    x = padded_sequences if isinstance(padded_sequences, Tensor) else Tensor(padded_sequences)
    lens = _host_lengths(lengths, op)
    if x.ndim < 2 or x.shape[0 if batch_first else 1] != lens.shape[0]:
        raise ValueError(
            f"{op}: padded_sequences of shape {tuple(x.shape)} does not hold "
            f"{lens.shape[0]} sequences along dim {0 if batch_first else 1}"
        )
    return [s[: int(n)] for s, n in zip(x.unbind(0 if batch_first else 1), lens)]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences (L_i, *) in a PackedSequence, in their original order: the inverse
    of ``pack_sequence``."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
