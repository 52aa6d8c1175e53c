"""The recurrent layers' backward as recorded Tensor ops, for create_graph=True (RNNFunction's
``backward_graph``).

The fused kernels' backward is not written as Tensor ops. Instead the forward recurrence is run
again, unrolled step by step with differentiable Tensor ops, from the same inputs, weights,
initial states and dropout masks, and the gradient of that recorded graph is taken with
create_graph=True. The result is an exact function of the inputs and the incoming gradients, so
it differentiates again to any order (gradient penalties and MAML through RNN/LSTM/GRU, as torch
allows). It is slower than the kernels and keeps every step's graph, and it runs only for a
double backward; the first-order backward stays on the kernels.

Per step, in torch's gate order (x_t W_ih^T + b_ih and h W_hh^T + b_hh):

    RNN   h = tanh(gi + gh) (or relu)
    LSTM  i, f, g, o = gi + gh;  c = sigmoid(f) c + sigmoid(i) tanh(g);  h = sigmoid(o) tanh(c)
    GRU   r, z, n: r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z),
          n = tanh(gi_n + r gh_n), h = (1 - z) n + z h
"""

from __future__ import annotations

from .._backend import get_array_module
from ..autograd import Tensor


def _cell(mode, gi, h, c, w_hh, b_hh):
    """One step from the input projection ``gi`` (N, G): the new (h, c)."""
    gh = h @ w_hh.transpose(0, 1)
    if b_hh is not None:
        gh = gh + b_hh
    if mode in (0, 1):
        a = gi + gh
        return (a.tanh() if mode == 0 else a.relu()), None
    if mode == 2:
        i, f, g, o = (gi + gh).chunk(4, 1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c
    ir, iz, in_ = gi.chunk(3, 1)
    hr, hz, hn = gh.chunk(3, 1)
    r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
    n = (in_ + r * hn).tanh()
    return (1 - z) * n + z * h, None


def _direction(mode, x, h, c, w):
    """One layer, one direction over x (S, N, I): the outputs (S, N, H) and the last (h, c)."""
    from ..ops.joining import stack

    w_ih, w_hh = w[0], w[1]
    b_ih, b_hh = (w[2], w[3]) if len(w) == 4 else (None, None)
    gi = x @ w_ih.transpose(0, 1)  # every step's input projection in one product
    if b_ih is not None:
        gi = gi + b_ih
    hs = []
    for t in range(x.shape[0]):
        h, c = _cell(mode, gi[t], h, c, w_hh, b_hh)
        hs.append(h)
    return (stack(hs, 0) if hs else x[:, :, :0] @ w_hh[:0]), h, c


def unrolled(ctx, x, h0, c0, weights):
    """RNNFunction's forward as recorded ops: (output, h_n, c_n or None)."""
    from ..ops.joining import cat, stack
    from ..ops.shape import flip

    mode, L, D, has_bias, p, training, batch_first = ctx.cfg
    per = 4 if has_bias else 2
    inp = x.transpose(0, 1) if batch_first else x
    hn, cn = [], []
    for layer in range(L):
        outs = []
        for d in range(D):
            k = layer * D + d
            xin = inp if d == 0 else flip(inp, [0])
            w = weights[k * per : (k + 1) * per]
            y, h, c = _direction(mode, xin, h0[k], c0[k] if mode == 2 else None, w)
            outs.append(y if d == 0 else flip(y, [0]))
            hn.append(h)
            cn.append(c)
        inp = outs[0] if D == 1 else cat(outs, 2)
        mask = ctx.masks[layer]
        if mask is not None:
            inp = inp * mask
    y = inp.transpose(0, 1) if batch_first else inp
    return y, stack(hn, 0), (stack(cn, 0) if mode == 2 else None)


def _constant(t, a):
    return t if t is not None else Tensor._wrap(a)


def backward_graph(ctx, inputs, dy, dh_n, dc_n=None):
    """The gradients of RNNFunction's inputs as recorded functions of the inputs and of
    (dy, dh_n, dc_n), through the unrolled recurrence."""
    from .._engine import grad

    mode, batch_first = ctx.cfg[0], ctx.cfg[6]
    xp = get_array_module(ctx.saved[0][0])
    x0 = ctx.saved[0][0]  # layer 0's input, sequence-first
    raw = [
        x0.transpose(1, 0, 2) if batch_first else x0,
        xp.stack([s[1] for s in ctx.saved]),
        xp.stack([s[2] for s in ctx.saved]) if mode == 2 else None,
        *ctx.weights,
    ]
    args = [None if a is None else _constant(t, a) for t, a in zip(inputs[1:], raw)]
    needs = ctx.needs_input_grad[1:]
    # each input that needs a gradient enters through an alias of its own, so that the gradient
    # taken at the alias is this op's partial derivative only (never one input's gradient
    # carried on to another input it was computed from)
    args = [a.clone() if a is not None and need else a for a, need in zip(args, needs)]
    targets = [i for i, (a, need) in enumerate(zip(args, needs)) if a is not None and need]
    outs = unrolled(ctx, args[0], args[1], args[2], args[3:])
    pairs = [(o, g) for o, g in zip(outs, (dy, dh_n, dc_n)) if o is not None and o.requires_grad]
    found = [None] * len(args)
    if pairs and targets:
        got = grad(
            [o for o, _ in pairs],
            [args[i] for i in targets],
            [g for _, g in pairs],
            create_graph=True,
            allow_unused=True,
        )
        for i, g in zip(targets, got):
            found[i] = g
    return (None, *found)
