"""Recurrent layers over a sequence (RNN tanh/relu, LSTM, GRU) on the fused kernels of
``csrc/rnn.cpp``: stacked layers, both directions, dropout between layers, initial states, and
backpropagation through time. Weights in torch's layout and gate order (LSTM i, f, g, o; GRU r,
z, n), so torch's weights load unchanged.

Not a torch.nn.functional name (torch has no functional RNN); ``pydlk.nn.RNN``/``LSTM``/``GRU``
are the public front ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._backend import kernels_for
from ..autograd import Function
from ._util import check_float, contiguous
from .dropout import dropout_mask

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
