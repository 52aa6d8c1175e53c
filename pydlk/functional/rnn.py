"""Recurrent layers over a sequence (RNN tanh/relu, LSTM, GRU) on the fused kernels of
``csrc/rnn.cpp``: stacked layers, both directions, dropout between layers, initial states, and
backpropagation through time. Weights in torch's layout and gate order (LSTM i, f, g, o; GRU r,
z, n), so torch's weights load unchanged.

With create_graph=True the backward is the recurrence unrolled as recorded Tensor ops
(``_rnn_graph.py``), so gradients differentiate again (torch allows that too).

Not a torch.nn.functional name (torch has no functional RNN); ``pydlk.nn.RNN``/``LSTM``/``GRU``
are the public front ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._backend import kernels_for
from ..autograd import Function
from ..ops.joining import cat, split, stack
from ..ops.shape import flip
from ._util import check_float, contiguous
from .dropout import dropout, dropout_mask

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = []  # no torch.nn.functional name; used by pydlk.nn.RNN/LSTM/GRU

MODES = {"RNN_TANH": 0, "RNN_RELU": 1, "LSTM": 2, "GRU": 3}


class RNNFunction(Function):
    """forward(ctx, cfg, x, h0, c0, *weights) -> (output, h_n, c_n or None).

    cfg = (mode, num_layers, num_directions, has_bias, dropout, training, batch_first);
    weights: per layer, per direction, [w_ih, w_hh, (b_ih, b_hh)]."""

    @staticmethod
    def forward(ctx, cfg, x, h0, c0, *weights):
        mode, L, D, has_bias, p, training, batch_first = cfg
        K = kernels_for(x)
        per = 4 if has_bias else 2
        if batch_first:
            x = x.transpose(1, 0, 2)
        inp = contiguous(x)
        H = h0.shape[2]
        S = inp.shape[0]
        h_n = np.empty_like(h0)
        c_n = np.empty_like(c0) if mode == 2 else None
        saved, masks = [], []
        for layer in range(L):
            outs = []
            for d in range(D):
                k = layer * D + d
                w = weights[k * per : (k + 1) * per]
                b_ih, b_hh = (w[2], w[3]) if has_bias else (None, None)
                xin = inp if d == 0 else contiguous(inp[::-1])
                hk = contiguous(h0[k])
                ck = contiguous(c0[k]) if mode == 2 else None
                h_all, c_all, gates = K.rnn_forward(
                    xin, hk, ck, contiguous(w[0]), contiguous(w[1]), b_ih, b_hh, mode
                )
                saved.append((xin, hk, ck, h_all, c_all, gates))
                if S:
                    h_n[k] = h_all[-1]
                    if mode == 2:
                        c_n[k] = c_all[-1]
                else:
                    h_n[k] = hk
                    if mode == 2:
                        c_n[k] = ck
                outs.append(h_all if d == 0 else h_all[::-1])
            out = outs[0] if D == 1 else np.concatenate(outs, axis=2)
            if p > 0 and training and layer < L - 1:
                mask = dropout_mask(out.shape, p, out.dtype, out)
                out = out * mask
                masks.append(mask)
            else:
                masks.append(None)
            inp = contiguous(out)
        ctx.cfg, ctx.saved, ctx.masks, ctx.weights = cfg, saved, masks, weights
        ctx.H = H
        y = inp.transpose(1, 0, 2) if batch_first else inp
        return (contiguous(y), h_n, c_n) if mode == 2 else (contiguous(y), h_n)

    @staticmethod
    def backward(ctx, dy, dh_n, dc_n=None):
        mode, L, D, has_bias, p, training, batch_first = ctx.cfg
        K = kernels_for(dy)
        per = 4 if has_bias else 2
        H = ctx.H
        needs = ctx.needs_input_grad
        need_w = any(needs[4:])
        need_h0 = needs[2] or (mode == 2 and needs[3])
        if batch_first:
            dy = dy.transpose(1, 0, 2)
        dout = contiguous(dy)
        dweights = [None] * len(ctx.weights)
        dh0 = np.zeros_like(dh_n) if need_h0 else None
        dc0 = np.zeros_like(dh_n) if need_h0 and mode == 2 else None
        for layer in reversed(range(L)):
            mask = ctx.masks[layer]
            if mask is not None:
                dout = dout * mask
            dinp = None
            for d in range(D):
                k = layer * D + d
                xin, hk, ck, h_all, c_all, gates = ctx.saved[k]
                w = ctx.weights[k * per : (k + 1) * per]
                dyd = dout[:, :, d * H : (d + 1) * H] if D == 2 else dout
                if d == 1:
                    dyd = dyd[::-1]
                need_x = layer > 0 or needs[1]
                dx, dh0k, dc0k, dwi, dwh, dbi, dbh = K.rnn_backward(
                    contiguous(dyd),
                    contiguous(dh_n[k]),
                    contiguous(dc_n[k]) if mode == 2 else None,
                    xin,
                    hk,
                    ck,
                    contiguous(w[0]),
                    contiguous(w[1]),
                    has_bias,
                    h_all,
                    c_all,
                    gates,
                    mode,
                    need_x,
                    need_h0,
                    need_w,
                )
                if need_w:
                    dweights[k * per : k * per + 2] = [dwi, dwh]
                    if has_bias:
                        dweights[k * per + 2 : k * per + 4] = [dbi, dbh]
                if need_h0:
                    dh0[k] = dh0k
                    if mode == 2:
                        dc0[k] = dc0k
                if dx is not None:
                    if d == 1:
                        dx = dx[::-1]
                    dinp = dx if dinp is None else dinp + dx
            dout = dinp
        dx = None
        if needs[1] and dout is not None:
            dx = contiguous(dout.transpose(1, 0, 2)) if batch_first else contiguous(dout)
        dweights = [g if n else None for g, n in zip(dweights, needs[4:])]
        return (
            None,
            dx,
            dh0 if needs[2] else None,
            dc0 if mode == 2 and needs[3] else None,
            *dweights,
        )

    @staticmethod
    def backward_graph(ctx, inputs, *grads):
        # through the recurrence unrolled as recorded ops (slower; only for create_graph=True)
        from ._rnn_graph import backward_graph

        return backward_graph(ctx, inputs, *grads)


def rnn(
    mode: str,
    input: Tensor,
    hx,
    weights,
    num_layers: int = 1,
    bias: bool = True,
    dropout: float = 0.0,
    training: bool = True,
    bidirectional: bool = False,
    batch_first: bool = False,
) -> tuple[Tensor, ...]:
    """Run a stacked (bi)directional RNN/LSTM/GRU. ``input`` (S, N, I), or (N, S, I) with
    batch_first; ``hx`` h0 (L*D, N, H), or (h0, c0) for LSTM; ``weights`` the flat list of
    per-layer, per-direction [w_ih, w_hh, b_ih, b_hh]. Returns (output, h_n) or
    (output, h_n, c_n)."""
    if mode not in MODES:
        raise ValueError(f"rnn: mode must be one of {sorted(MODES)}, got {mode!r}")
    m = MODES[mode]
    check_float(input, "rnn", "input")
    if m == 2:
        h0, c0 = hx
        check_float(c0, "rnn", "c0")
    else:
        h0, c0 = hx, None
    check_float(h0, "rnn", "h0")
    cfg = (
        m,
        int(num_layers),
        2 if bidirectional else 1,
        bool(bias),
        float(dropout),
        bool(training),
        bool(batch_first),
    )
    return RNNFunction.apply(cfg, input, h0, c0, *weights)


def _segments(batch_sizes):
    """Runs of steps with the same batch size, as (first packed row, steps, batch): within one
    the packed rows are a plain (steps, batch) time-major block."""
    segs, row, t0 = [], 0, 0
    for t in range(1, len(batch_sizes) + 1):
        if t == len(batch_sizes) or batch_sizes[t] != batch_sizes[t0]:
            n = batch_sizes[t0]
            segs.append((row, t - t0, n))
            row += (t - t0) * n
            t0 = t
    return segs


def _packed_direction(mode, x, segs, h0, c0, w, bias, reverse):
    """One layer, one direction over packed rows ``x`` (N, I): the sorted sequences run as one
    batch that shrinks as sequences end (the reverse direction: grows as they begin), one
    kernel call per run of equal batch size, each starting from the state the last left.
    Returns the packed output (N, H) and the last states (B, H) of every sequence."""
    lstm = mode == 2
    cfg = (mode, 1, 1, bias, 0.0, False, False)
    I, H = x.shape[1], h0.shape[1]
    blocks = split(x, [steps * n for _, steps, n in segs], 0)
    ys = [None] * len(segs)
    order = range(len(segs) - 1, -1, -1) if reverse else range(len(segs))
    h = c = None
    done_h, done_c = [], []  # forward: states of the sequences that ended, shortest last
    for j in order:
        _, steps, n = segs[j]
        if h is None:
            h, c = h0[:n], c0[:n] if lstm else None
        elif h.shape[0] > n:  # forward: the sequences past n ended with the last run
            h, h_end = split(h, [n, h.shape[0] - n], 0)
            done_h.append(h_end)
            if lstm:
                c, c_end = split(c, [n, c.shape[0] - n], 0)
                done_c.append(c_end)
        elif h.shape[0] < n:  # reverse: sequences m..n-1 begin here, from their h0
            m = h.shape[0]
            h = cat([h, h0[m:n]], 0)
            if lstm:
                c = cat([c, c0[m:n]], 0)
        xs = blocks[j].reshape(steps, n, I)
        if reverse:
            xs = flip(xs, [0])
        out = RNNFunction.apply(
            cfg, xs, h.reshape(1, n, H), c.reshape(1, n, H) if lstm else None, *w
        )
        y = flip(out[0], [0]) if reverse else out[0]
        ys[j] = y.reshape(steps * n, H)
        h = out[1].reshape(n, H)
        c = out[2].reshape(n, H) if lstm else None
    h_n = cat([h, *done_h[::-1]], 0) if done_h else h
    c_n = (cat([c, *done_c[::-1]], 0) if done_c else c) if lstm else None
    return (ys[0] if len(ys) == 1 else cat(ys, 0)), h_n, c_n


def rnn_packed(
    mode: str,
    data: Tensor,
    batch_sizes,
    hx,
    weights,
    num_layers: int = 1,
    bias: bool = True,
    dropout_p: float = 0.0,
    training: bool = True,
    bidirectional: bool = False,
) -> tuple[Tensor, ...]:
    """``rnn`` over a packed batch (torch.nn.utils.rnn.PackedSequence's layout): ``data``
    (N, I) the packed rows, ``batch_sizes`` the host list of sequences running at each step,
    ``hx`` as ``rnn``'s in the sorted order. Returns (packed output (N, D*H), h_n[, c_n]) with
    each sequence's state at its own last step (its first, for the reverse direction).

    Each layer and direction makes one kernel call per distinct length, on the sequences still
    running; autograd chains the calls, so the backward is that of the fused kernels."""
    if mode not in MODES:
        raise ValueError(f"rnn: mode must be one of {sorted(MODES)}, got {mode!r}")
    m = MODES[mode]
    check_float(data, "rnn", "input")
    lstm = m == 2
    h0, c0 = hx if lstm else (hx, None)
    D = 2 if bidirectional else 1
    per = 4 if bias else 2
    segs = _segments([int(b) for b in batch_sizes])
    h0s = h0.unbind(0)
    c0s = c0.unbind(0) if c0 is not None else [None] * len(h0s)
    x, hs, cs = data, [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            w = weights[k * per : (k + 1) * per]
            y, h, c = _packed_direction(m, x, segs, h0s[k], c0s[k], w, bool(bias), d == 1)
            outs.append(y)
            hs.append(h)
            cs.append(c)
        x = outs[0] if D == 1 else cat(outs, 1)
        if dropout_p > 0 and training and layer < num_layers - 1:
            x = dropout(x, dropout_p, True)
    return (x, stack(hs, 0), stack(cs, 0)) if lstm else (x, stack(hs, 0))
