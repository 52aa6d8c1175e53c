"""ctc_loss (torch.nn.functional's connectionist temporal classification loss): the forward
(alpha) and backward (beta) recursions over the blank-interleaved target in log space, on the
log-probabilities' own array module (NumPy, or CuPy on a GPU), the whole batch per time step;
the gradient is torch's.

For the extended target ``l'`` (blanks around and between the labels) and log-probabilities
``lp`` (T, C), ``alpha[t, s] = lp[t, l'(s)] + logsumexp(alpha[t-1, s], alpha[t-1, s-1],
alpha[t-1, s-2])`` (the last only between two different labels), the loss is
``-logsumexp(alpha[T-1, -1], alpha[T-1, -2])``, and beta runs the same way backwards. torch's
gradient with respect to ``log_probs`` is ``exp(lp) - exp(logsumexp over s with l'(s) = c of
(alpha + beta)[t, s] + loss - lp[t, c])`` -- the gradient of the loss with respect to logits
that went through log_softmax (the usual use; after log_softmax's backward both spellings
agree) -- zero past each input length. A batch is padded to its longest extended target:
the states past a sample's own and the frames past its input length hold log 0, so they
never feed its loss or gradient. The lengths are read on the host (torch copies them there
too); targets given on the host go to the log-probabilities' device.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from .._backend import get_array_module, host_array, is_cupy, on_device_of
from ..autograd import Function, Tensor
from ._util import check_float

__all__ = ["ctc_loss"]

_NEG = -np.inf


def _quiet(xp):
    """NumPy's warnings about inf - inf silenced (log 0 - log 0 where ``log_probs`` holds
    -inf; CuPy gives none)."""
    if xp is np:
        return np.errstate(divide="ignore", over="ignore", invalid="ignore")
    return contextlib.nullcontext()


def _lse(xp, *xs):
    m = functools.reduce(xp.maximum, xs)
    fin = xp.isfinite(m)
    safe = xp.where(fin, m, 0.0)
    s = sum(xp.exp(x - safe) for x in xs)  # at least 1 where m is finite
    return xp.where(fin, safe + xp.log(xp.where(fin, s, 1.0)), m)


def _shift(xp, a, k):
    """``a`` (N, L) moved k states right along L, log 0 shifted in."""
    return xp.concatenate([xp.full((a.shape[0], k), _NEG), a[:, :-k]], axis=1)


def _padded_targets(xp, targets, tl, S):
    """(N, S) labels, each row's own ``tl[n]`` first, from padded or concatenated targets."""
    N = len(tl)
    if targets.ndim == 2:
        if targets.shape[1] < S:
            raise RuntimeError(
                f"ctc_loss: targets of shape {tuple(targets.shape)} are shorter than the "
                f"longest target length {S}"
            )
        return targets[:, :S].astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(tl)[:-1]]).astype(np.int64)
    if int(tl.sum()) > targets.shape[0]:
        raise RuntimeError(
            f"ctc_loss: {targets.shape[0]} concatenated targets, target lengths sum to "
            f"{int(tl.sum())}"
        )
    idx = np.minimum(offsets[:, None] + np.arange(S), max(targets.shape[0] - 1, 0))
    if targets.shape[0] == 0:
        return xp.zeros((N, S), np.int64)
    return targets[xp.asarray(idx)].astype(np.int64)


def _ctc_batch(lp, targets, il, tl, blank):
    """(nll (N,), gradient (T, N, C)), float64 on ``lp``'s device: lp (T, N, C) float64,
    targets on that device, il and tl host int64 arrays."""
    xp = get_array_module(lp)
    T, N, C = lp.shape
    S = int(tl.max()) if N else 0
    L = 2 * S + 1
    ln = 2 * tl + 1  # each sample's extended length
    states = np.arange(L)
    valid = xp.asarray(states[None] < ln[:, None])  # (N, L)
    ext = xp.full((N, L), blank, np.int64)
    if S:
        labels = _padded_targets(xp, targets, tl, S)
        ext[:, 1::2] = xp.where(valid[:, 1::2], labels, blank)
    skip = xp.zeros((N, L), bool)  # s-2 into a label unlike the one two back
    if L > 3:
        skip[:, 3::2] = ext[:, 3::2] != ext[:, 1:-2:2]
    frames = xp.asarray(np.arange(T)[:, None, None] < il[None, :, None])  # (T, N, 1)
    rows = xp.arange(N)
    em = xp.where(valid[None] & frames, lp[:, rows[:, None], ext], _NEG)  # (T, N, L)
    alpha = xp.full((T, N, L), _NEG)
    if T:
        alpha[0, :, : min(L, 2)] = em[0, :, : min(L, 2)]
    for t in range(1, T):
        a = alpha[t - 1]
        a2 = xp.where(skip, _shift(xp, a, 2), _NEG) if L > 2 else xp.full_like(a, _NEG)
        alpha[t] = em[t] + _lse(xp, a, _shift(xp, a, 1), a2)
    last, ends = xp.asarray(np.maximum(il - 1, 0)), xp.asarray(ln - 1)
    e1 = alpha[last, rows, ends] if T else xp.full(N, _NEG)
    e2 = alpha[last, rows, xp.maximum(ends - 1, 0)] if T else xp.full(N, _NEG)
    e2 = xp.where(ends > 0, e2, _NEG)
    nll = -_lse(xp, e1, e2)
    nll = xp.where(xp.asarray(il == 0), xp.asarray(np.where(tl == 0, 0.0, np.inf)), nll)
    end_states = xp.asarray((states[None] == ln[:, None] - 1) | (states[None] == ln[:, None] - 2))
    first = xp.asarray(il[:, None] - 1)  # the frame each sample's beta starts from
    beta = xp.full((T, N, L), _NEG)
    b = xp.full((N, L), _NEG)
    for t in range(T - 1, -1, -1):
        b2 = xp.where(skip[:, 2:], b[:, 2:], _NEG)
        b2 = xp.concatenate([b2, xp.full((N, min(L, 2)), _NEG)], axis=1)
        b1 = xp.concatenate([b[:, 1:], xp.full((N, 1), _NEG)], axis=1)
        rec = em[t] + _lse(xp, b, b1, b2)
        b = xp.where(first == t, xp.where(end_states, em[t], _NEG), rec)
        beta[t] = b
    ab = alpha + beta  # (T, N, L)
    lcab = xp.full((T, N, C), _NEG)
    for s in range(L):  # logsumexp into each symbol's column
        col = ext[:, s]
        lcab[:, rows, col] = _lse(xp, lcab[:, rows, col], ab[:, :, s])
    possible = xp.isfinite(nll)[None, :, None]  # else torch's gradient is NaN
    with _quiet(xp):
        grad = xp.exp(lp) - xp.exp(lcab + xp.where(possible, nll[None, :, None], 0.0) - lp)
    return nll, xp.where(frames, xp.where(possible, grad, np.nan), 0.0)


class CTCLoss(Function):
    @staticmethod
    def forward(ctx, log_probs, targets, in_lens, tgt_lens, blank, zero_infinity):
        # the lengths come as tuples: host values, not operands on a device
        il, tl = np.array(in_lens, np.int64), np.array(tgt_lens, np.int64)
        nll, grads = _ctc_batch(log_probs.astype(np.float64), targets, il, tl, blank)
        if zero_infinity:
            xp = get_array_module(nll)
            fin = xp.isfinite(nll)
            nll, grads = xp.where(fin, nll, 0.0), xp.where(fin[None, :, None], grads, 0.0)
        ctx.grads, ctx.dtype = grads, log_probs.dtype
        return nll.astype(log_probs.dtype)

    @staticmethod
    def backward(ctx, dloss):
        g = ctx.grads * dloss.astype(np.float64)[None, :, None]
        return g.astype(ctx.dtype), None, None, None, None, None


def _ints(v, name):
    a = host_array(v._data if isinstance(v, Tensor) else v)
    if a.dtype.kind not in "iu":
        raise RuntimeError(f"ctc_loss: {name} must be integers, got {a.dtype}")
    return a.astype(np.int64).reshape(-1)


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths,
    target_lengths,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """The CTC loss of ``log_probs`` (T, N, C) (or unbatched (T, C)), log-softmax outputs over
    C classes with ``blank`` among them, against ``targets`` -- (N, S) padded, or the
    concatenation of all targets -- with per-sample ``input_lengths`` and ``target_lengths``
    (Tensors or sequences of ints). ``reduction='mean'`` divides each loss by its target length
    (at least 1) and averages over the batch, as torch's; ``zero_infinity`` makes impossible
    alignments (infinite loss) count 0 with a zero gradient. Runs on ``log_probs``' device;
    targets may be on the host (moved over) and the lengths on either (read on the host)."""
    from ._util import reduction_arg

    reduction = reduction_arg(reduction, None, None, "ctc_loss")
    check_float(log_probs, "ctc_loss", "log_probs")
    lp = log_probs if isinstance(log_probs, Tensor) else Tensor(log_probs)
    unbatched = lp.dim() == 2
    if unbatched:
        lp = lp.unsqueeze(1)
    if lp.dim() != 3:
        raise RuntimeError(f"ctc_loss: log_probs must be (T, N, C) or (T, C), got {lp.shape}")
    T, N, C = lp.shape
    tg = targets._data if isinstance(targets, Tensor) else targets
    if is_cupy(tg) and not is_cupy(lp._data):
        raise RuntimeError(
            "ctc_loss: Expected all tensors to be on the same device, but found targets on "
            "cuda and log_probs on cpu"
        )
    tg = on_device_of(tg, lp._data)
    if tg.dtype.kind not in "iu":
        raise RuntimeError(f"ctc_loss: targets must be integers, got {tg.dtype}")
    if unbatched and tg.ndim == 1:
        tg = tg[None]
    il, tl = _ints(input_lengths, "input_lengths"), _ints(target_lengths, "target_lengths")
    if len(il) != N or len(tl) != N:
        raise RuntimeError(
            f"ctc_loss: input_lengths must be of size batch_size ({N}), got {len(il)}; "
            f"target_lengths {len(tl)}"
        )
    if (il > T).any():
        raise RuntimeError(
            f"ctc_loss: Expected input_lengths to have value at most {T}, but got value "
            f"{int(il.max())}"
        )
    if not 0 <= blank < C:
        raise RuntimeError("ctc_loss: blank must be in label range")
    losses = CTCLoss.apply(
        lp, tg, tuple(il.tolist()), tuple(tl.tolist()), int(blank), bool(zero_infinity)
    )
    if reduction == "none":
        return losses.squeeze(0) if unbatched else losses
    if reduction == "sum":
        return losses.sum()
    div = Tensor(on_device_of(np.maximum(tl, 1).astype(losses.dtype), losses._data))
    return (losses / div).mean()
