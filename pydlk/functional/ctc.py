"""ctc_loss (torch.nn.functional's connectionist temporal classification loss): the forward
(alpha) and backward (beta) recursions over the blank-interleaved target in log space, in
NumPy, one sample at a time; the gradient is torch's.

For the extended target ``l'`` (blanks around and between the labels) and log-probabilities
``lp`` (T, C), ``alpha[t, s] = lp[t, l'(s)] + logsumexp(alpha[t-1, s], alpha[t-1, s-1],
alpha[t-1, s-2])`` (the last only between two different labels), the loss is
``-logsumexp(alpha[T-1, -1], alpha[T-1, -2])``, and beta runs the same way backwards. torch's
gradient with respect to ``log_probs`` is ``exp(lp) - exp(logsumexp over s with l'(s) = c of
(alpha + beta)[t, s] + loss - lp[t, c])`` -- the gradient of the loss with respect to logits
that went through log_softmax (the usual use; after log_softmax's backward both spellings
agree) -- zero past each input length.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ._util import check_float

__all__ = ["ctc_loss"]

_NEG = -np.inf


def _lse(*xs):
    m = np.maximum.reduce(xs)
    safe = np.where(np.isfinite(m), m, 0.0)
    s = sum(np.exp(x - safe) for x in xs)
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(m), safe + np.log(s), m)


def _ctc_one(lp, target, blank):
    """(nll, gradient (T, C)) of one sample: lp (T, C) float64, target (S,) int."""
    T, C = lp.shape
    S = len(target)
    ext = np.full(2 * S + 1, blank, np.int64)
    ext[1::2] = target
    L = len(ext)
    # s-2 transitions allowed into a label that differs from the label two back
    skip = np.zeros(L, bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    em = lp[:, ext]  # (T, L): emission of each extended symbol
    alpha = np.full((T, L), _NEG)
    alpha[0, 0] = em[0, 0]
    if L > 1:
        alpha[0, 1] = em[0, 1]
    for t in range(1, T):
        a = alpha[t - 1]
        a1 = np.concatenate([[_NEG], a[:-1]])
        a2 = np.where(skip, np.concatenate([[_NEG, _NEG], a[:-2]]), _NEG)
        alpha[t] = em[t] + _lse(a, a1, a2)
    ends = [alpha[T - 1, L - 1]] + ([alpha[T - 1, L - 2]] if L > 1 else [])
    nll = -float(_lse(*[np.asarray(e) for e in ends]))
    beta = np.full((T, L), _NEG)
    beta[T - 1, L - 1] = em[T - 1, L - 1]
    if L > 1:
        beta[T - 1, L - 2] = em[T - 1, L - 2]
    skip_back = np.concatenate([skip[2:], [False, False]])  # s -> s+2 allowed
    for t in range(T - 2, -1, -1):
        b = beta[t + 1]
        b1 = np.concatenate([b[1:], [_NEG]])
        b2 = np.where(skip_back, np.concatenate([b[2:], [_NEG, _NEG]]), _NEG)
        beta[t] = em[t] + _lse(b, b1, b2)
    ab = alpha + beta  # (T, L)
    lcab = np.full((T, C), _NEG)
    for s in range(L):  # logsumexp into each symbol's column
        lcab[:, ext[s]] = _lse(lcab[:, ext[s]], ab[:, s])
    with np.errstate(over="ignore", invalid="ignore"):
        grad = np.exp(lp) - np.exp(lcab + nll - lp)
    return nll, grad


class CTCLoss(Function):
    @staticmethod
    def forward(ctx, log_probs, targets, in_lens, tgt_lens, blank, zero_infinity):
        T, N, C = log_probs.shape
        lp64 = log_probs.astype(np.float64)
        losses = np.zeros(N)
        grads = np.zeros((T, N, C))
        offsets = np.concatenate([[0], np.cumsum(tgt_lens)])
        for n in range(N):
            tl, il = int(tgt_lens[n]), int(in_lens[n])
            if targets.ndim == 2:
                tgt = targets[n, :tl]
            else:
                tgt = targets[offsets[n] : offsets[n] + tl]
            if il == 0:
                nll, g = (0.0 if tl == 0 else np.inf), np.zeros((0, C))
            else:
                nll, g = _ctc_one(lp64[:il, n], tgt.astype(np.int64), blank)
            if zero_infinity and not np.isfinite(nll):
                nll, g = 0.0, np.zeros_like(g)
            losses[n] = nll
            grads[:il, n] = g
        ctx.grads, ctx.dtype = grads, log_probs.dtype
        return losses.astype(log_probs.dtype)

    @staticmethod
    def backward(ctx, dloss):
        g = ctx.grads * np.asarray(dloss, np.float64)[None, :, None]
        return g.astype(ctx.dtype), None, None, None, None, None


def _ints(v, name):
    a = v._data if isinstance(v, Tensor) else np.asarray(v)
    a = np.asarray(a)
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
    alignments (infinite loss) count 0 with a zero gradient. Runs on the CPU in NumPy."""
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
    tg = targets._data if isinstance(targets, Tensor) else np.asarray(targets)
    tg = np.asarray(tg)
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
    losses = CTCLoss.apply(lp, tg, il, tl, int(blank), bool(zero_infinity))
    if reduction == "none":
        return losses.squeeze(0) if unbatched else losses
    if reduction == "sum":
        return losses.sum()
    div = Tensor(np.maximum(tl, 1).astype(losses.dtype))
    return (losses / div).mean()
