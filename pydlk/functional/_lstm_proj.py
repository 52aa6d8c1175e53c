"""LSTM with projections (``nn.LSTM(..., proj_size=P)``, Sak et al. 2014, as torch's): each step's
hidden state is projected, ``h_t = W_hr (o_t * tanh(c_t))`` with ``W_hr`` (P, H), so the
recurrent weight is (4H, P), ``h`` and the output have P features and ``c`` keeps H.

The steps run as recorded Tensor ops (one fused product of the input with ``W_ih`` per layer
and direction, then per step a product with ``W_hh``, the gates and the projection), not on the
fused kernels of ``csrc/rnn.cpp``, which have no projection. So autograd differentiates it to
any order and it runs on any device the ops run on.

Packed batches (sequences sorted by length, ``batch_sizes[t]`` of them running at step t) take
the same loop: at step t only the first ``batch_sizes[t]`` rows advance. Forward, the rows past
it have ended and keep their last state (h_n); in reverse, they have not begun and keep h0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._backend import get_array_module
from ..autograd import Function
from ..ops.joining import cat, stack
from .dropout import dropout

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__: list[str] = []  # used by pydlk.nn.LSTM


def _sigmoid(xp, a):
    return 0.5 + 0.5 * xp.tanh(0.5 * a)  # 1 / (1 + exp(-a)) without exp's overflow


class CellStep(Function):
    """The cell's elementwise part in one recorded op: from the gate pre-activations (n, 4H),
    order i, f, g, o, and c (n, H), returns ``c' = f c + i g`` and ``m = o tanh(c')`` (the
    projection's input), where ``i, f, o`` are sigmoids and ``g`` a tanh. One node per step in
    place of the dozen of the gates written as separate ops (a 32-step layer's forward and
    backward ran 1.3x faster)."""

    @staticmethod
    def forward(ctx, gates, c):
        xp = get_array_module(gates)
        H = c.shape[1]
        i, f, o = (_sigmoid(xp, gates[:, k * H : (k + 1) * H]) for k in (0, 1, 3))
        g = xp.tanh(gates[:, 2 * H : 3 * H])
        c_new = f * c + i * g
        tc = xp.tanh(c_new)
        ctx.save_for_backward(i, f, g, o, tc, c)
        return c_new, o * tc

    @staticmethod
    def backward(ctx, dc_new, dm):
        i, f, g, o, tc, c = ctx.saved_tensors
        xp = get_array_module(i)
        dc = dc_new + dm * o * (1 - tc * tc)
        dgates = xp.concatenate(
            [
                dc * g * i * (1 - i),
                dc * c * f * (1 - f),
                dc * i * (1 - g * g),
                dm * tc * o * (1 - o),
            ],
            axis=1,
        )
        return dgates, dc * f

    @staticmethod
    def backward_graph(ctx, inputs, dc_new, dm):
        # create_graph=True: the same derivative as recorded ops of the inputs
        gates, c = inputs
        a_i, a_f, a_g, a_o = gates.chunk(4, 1)
        i, f, g, o = a_i.sigmoid(), a_f.sigmoid(), a_g.tanh(), a_o.sigmoid()
        tc = (f * c + i * g).tanh()
        dc = dc_new + dm * o * (1 - tc * tc)
        dgates = cat(
            [
                dc * g * i * (1 - i),
                dc * c * f * (1 - f),
                dc * i * (1 - g * g),
                dm * tc * o * (1 - o),
            ],
            1,
        )
        return dgates, dc * f


def _direction(xw, steps, h, c, w_hh, w_hr, reverse):
    """One layer, one direction. ``xw`` (rows, 4H): the input's products with W_ih plus the
    biases, step t's rows at ``steps[t] = (first row, rows running)``; h (B, P), c (B, H) the
    initial states of all B sequences. Returns the outputs per step and the last h, c."""
    outs = [None] * len(steps)
    order = range(len(steps) - 1, -1, -1) if reverse else range(len(steps))
    for t in order:
        r0, n = steps[t]
        hn, cn = (h, c) if n == h.shape[0] else (h[:n], c[:n])
        cn, m = CellStep.apply(xw[r0 : r0 + n] + hn @ w_hh.t(), cn)
        hn = m @ w_hr.t()
        outs[t] = hn
        if n == h.shape[0]:
            h, c = hn, cn
        else:
            h, c = cat([hn, h[n:]], 0), cat([cn, c[n:]], 0)
    return outs, h, c


def lstm_proj(
    x: Tensor,
    batch_sizes: list[int] | None,
    h0: Tensor,
    c0: Tensor,
    weights: list[Tensor],
    num_layers: int,
    bias: bool,
    dropout_p: float,
    training: bool,
    bidirectional: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """The projected LSTM over ``x``: (S, N, I) time-major when ``batch_sizes`` is None, else
    packed rows (sum of batch_sizes, I). ``h0`` (L*D, N, P), ``c0`` (L*D, N, H) in the rows'
    order; ``weights`` per layer and direction [w_ih, w_hh, (b_ih, b_hh), w_hr]. Returns
    (output as x's layout with D*P features, h_n, c_n)."""
    packed = batch_sizes is not None
    steps: list[tuple[int, int]] = []
    if batch_sizes is not None:
        r0 = 0
        for n in batch_sizes:
            steps.append((r0, n))
            r0 += n
    else:
        S, N = x.shape[0], x.shape[1]
        steps = [(t * N, N) for t in range(S)]
    D = 2 if bidirectional else 1
    per = 5 if bias else 3
    inp = x if packed else x.reshape(x.shape[0] * x.shape[1], x.shape[2])
    hs, cs = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            w = weights[k * per : (k + 1) * per]
            xw = inp @ w[0].t()
            if bias:
                xw = xw + (w[2] + w[3])
            ys, h, c = _direction(xw, steps, h0[k], c0[k], w[1], w[-1], d == 1)
            outs.append(cat(ys, 0))
            hs.append(h)
            cs.append(c)
        inp = outs[0] if D == 1 else cat(outs, 1)
        if dropout_p > 0 and training and layer < num_layers - 1:
            inp = dropout(inp, dropout_p, True)
    y = inp if packed else inp.reshape(S, N, inp.shape[1])
    return y, stack(hs, 0), stack(cs, 0)
