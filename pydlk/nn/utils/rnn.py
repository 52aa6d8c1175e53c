"""Variable-length sequences (torch.nn.utils.rnn): ``pad_sequence``.

torch's PackedSequence (``pack_padded_sequence``, ``pad_packed_sequence``, ...) is not
provided: pydlk's recurrent layers take padded batches.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..._backend import get_array_module
from ...autograd import Function, Tensor

__all__ = ["pad_sequence"]


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
