"""Recurrent layers on the GPU, one layer and one direction over a sequence, as csrc/rnn.cpp:
the input projection of every step in one cuBLAS GEMM, then per step one GEMM for the recurrent
product and one fused kernel for the gate nonlinearities and the state update; the backward runs
the steps in reverse with the same fused kernels and does the weight gradients of all steps in
one GEMM each. mode: 0 RNN_TANH, 1 RNN_RELU, 2 LSTM, 3 GRU. Saved layouts are the CPU's:
gates (S, N, 4H) holds LSTM's i, f, g, o after their nonlinearities, GRU's r, z, n and
W_hn h + b_hn; RNN modes save no gates."""

import numpy as np

from ._common import Source, check_float, check_like, i64, launch

_CODE = r"""
// One step of LSTM: g (N, 4H) pre-activations in, activations out; c, h (N, H) written.
extern "C" __global__ void lstm_step(T* g, T* c, T* h, const T* cp, i64 H, i64 n) {
  GRID_STRIDE(k, n) {
    const i64 b = k / H, j = k % H;
    T* gn = g + b * 4 * H;
    const T i = sigmoid_(gn[j]), f = sigmoid_(gn[H + j]), gv = tanh(gn[2 * H + j]),
            o = sigmoid_(gn[3 * H + j]);
    const T cv = f * cp[k] + i * gv;
    gn[j] = i; gn[H + j] = f; gn[2 * H + j] = gv; gn[3 * H + j] = o;
    c[k] = cv;
    h[k] = o * tanh(cv);
  }
}

// One step of GRU: g (N, 4H) holds x W_ih^T + b_ih in its first 3H; hh (N, 3H) = h' W_hh^T + b_hh.
extern "C" __global__ void gru_step(T* g, T* h, const T* hh, const T* hp, i64 H, i64 n) {
  GRID_STRIDE(k, n) {
    const i64 b = k / H, j = k % H;
    T* gn = g + b * 4 * H;
    const T* q = hh + b * 3 * H;
    const T r = sigmoid_(gn[j] + q[j]);
    const T z = sigmoid_(gn[H + j] + q[H + j]);
    const T bn = q[2 * H + j];
    const T nv = tanh(gn[2 * H + j] + r * bn);
    gn[j] = r; gn[H + j] = z; gn[2 * H + j] = nv; gn[3 * H + j] = bn;
    h[k] = ((T)1 - z) * nv + z * hp[k];
  }
}

extern "C" __global__ void rnn_act(T* h, i64 n, int relu) {
  GRID_STRIDE(k, n) h[k] = relu ? (h[k] > (T)0 ? h[k] : (T)0) : tanh(h[k]);
}

// LSTM backward step: dg (N, 4H) written; dc (N, H) carried in and out; dh read.
extern "C" __global__ void lstm_back(T* dg, T* dc, const T* dh, const T* dy, const T* g,
                                     const T* c, const T* cp, i64 H, i64 n) {
  GRID_STRIDE(k, n) {
    const i64 b = k / H, j = k % H;
    const T* gn = g + b * 4 * H;
    T* d = dg + b * 4 * H;
    const T i = gn[j], f = gn[H + j], gv = gn[2 * H + j], o = gn[3 * H + j];
    const T dhv = dh[k] + dy[k];
    const T tc = tanh(c[k]);
    const T dcv = dc[k] + dhv * o * ((T)1 - tc * tc);
    d[j] = dcv * gv * i * ((T)1 - i);
    d[H + j] = dcv * cp[k] * f * ((T)1 - f);
    d[2 * H + j] = dcv * i * ((T)1 - gv * gv);
    d[3 * H + j] = dhv * tc * o * ((T)1 - o);
    dc[k] = dcv * f;
  }
}

// GRU backward step: dg, dq (N, 3H) written; dh read and overwritten with its direct part dh z.
extern "C" __global__ void gru_back(T* dg, T* dq, T* dh, const T* dy, const T* g, const T* hp,
                                    i64 H, i64 n) {
  GRID_STRIDE(k, n) {
    const i64 b = k / H, j = k % H;
    const T* gn = g + b * 4 * H;
    T* d = dg + b * 3 * H;
    T* q = dq + b * 3 * H;
    const T r = gn[j], z = gn[H + j], nv = gn[2 * H + j], bn = gn[3 * H + j];
    const T dhv = dh[k] + dy[k];
    const T dan = dhv * ((T)1 - z) * ((T)1 - nv * nv);
    const T dpr = dan * bn * r * ((T)1 - r);
    const T dpz = dhv * (hp[k] - nv) * z * ((T)1 - z);
    d[j] = dpr; d[H + j] = dpz; d[2 * H + j] = dan;
    q[j] = dpr; q[H + j] = dpz; q[2 * H + j] = dan * r;
    dh[k] = dhv * z;
  }
}

extern "C" __global__ void rnn_back(T* dg, const T* dh, const T* dy, const T* h, i64 n, int relu) {
  GRID_STRIDE(k, n) {
    const T d = dh[k] + dy[k];
    dg[k] = relu ? (h[k] > (T)0 ? d : (T)0) : d * ((T)1 - h[k] * h[k]);
  }
}
"""

_SRC = Source(
    "rnn", _CODE, ("lstm_step", "gru_step", "rnn_act", "lstm_back", "gru_back", "rnn_back")
)

_MODES = "mode must be 0 (RNN_TANH), 1 (RNN_RELU), 2 (LSTM) or 3 (GRU)"


def _gates(mode):
    return 4 if mode == 2 else 3 if mode == 3 else 1


def _saved_gates(mode):
    return 4 if mode in (2, 3) else 0


def _check(op, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode):
    if mode not in (0, 1, 2, 3):
        raise ValueError(f"{op}: {_MODES}")
    x = check_float(x, op, "input")
    if x.ndim != 3:
        raise ValueError(f"{op}: input must be 3-D (S, N, I), got shape {tuple(x.shape)}")
    dt = x.dtype
    w_ih = check_like(w_ih, dt, op, "weight_ih")
    w_hh = check_like(w_hh, dt, op, "weight_hh")
    if w_ih.ndim != 2 or w_hh.ndim != 2:
        raise ValueError(f"{op}: weight_ih and weight_hh must be 2-D")
    S, N, I = x.shape
    H, G = w_hh.shape[1], _gates(mode)
    if w_ih.shape[1] != I:
        raise ValueError(f"{op}: input has {I} features, weight_ih expects {w_ih.shape[1]}")
    check_like(w_hh, dt, op, "weight_hh", (G * H, H))
    check_like(w_ih, dt, op, "weight_ih", (G * H, I))
    h0 = check_like(h0, dt, op, "h0", (N, H))
    if mode == 2:
        if c0 is None:
            raise ValueError(f"{op}: c0 is required for LSTM")
        c0 = check_like(c0, dt, op, "c0", (N, H))
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{op}: bias_ih and bias_hh must both be given or both None")
    if b_ih is not None:
        b_ih = check_like(b_ih, dt, op, "bias_ih", (G * H,))
        b_hh = check_like(b_hh, dt, op, "bias_hh", (G * H,))
    return x, h0, c0, w_ih, w_hh, b_ih, b_hh, S, N, I, H, G


def rnn_forward(input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, mode):
    """(h_all (S, N, H), c_all (S, N, H) for LSTM else (0, N, H), saved gates)."""
    cp = __import__("cupy")
    op = "rnn_forward"
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, S, N, I, H, G = _check(
        op, input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, mode
    )
    dt = x.dtype
    h_all = cp.empty((S, N, H), dt)
    c_all = cp.empty((S if mode == 2 else 0, N, H), dt)
    gates = cp.empty((S, N, _saved_gates(mode) * H), dt)
    if S == 0 or N == 0 or H == 0:
        return h_all, c_all, gates
    GH = G * H
    proj = x.reshape(S * N, I) @ w_ih.T  # (S*N, GH)
    if b_ih is not None:
        proj += b_ih if mode == 3 else b_ih + b_hh
    n = N * H
    if mode == 2:
        gates[...] = proj.reshape(S, N, GH)
        for t in range(S):
            gates[t] += (h0 if t == 0 else h_all[t - 1]) @ w_hh.T
            launch(
                _SRC("lstm_step", dt),
                n,
                (gates[t], c_all[t], h_all[t], c0 if t == 0 else c_all[t - 1], i64(H), i64(n)),
            )
    elif mode == 3:
        gates[:, :, :GH] = proj.reshape(S, N, GH)
        for t in range(S):
            hp = h0 if t == 0 else h_all[t - 1]
            hh = hp @ w_hh.T
            if b_hh is not None:
                hh += b_hh
            launch(
                _SRC("gru_step", dt),
                n,
                (gates[t], h_all[t], cp.ascontiguousarray(hh), hp, i64(H), i64(n)),
            )
    else:
        h_all[...] = proj.reshape(S, N, H)
        for t in range(S):
            h_all[t] += (h0 if t == 0 else h_all[t - 1]) @ w_hh.T
            launch(_SRC("rnn_act", dt), n, (h_all[t], i64(n), np.int32(mode == 1)))
    return h_all, c_all, gates


def rnn_backward(
    grad_output,
    grad_h_n,
    grad_c_n,
    input,
    h0,
    c0,
    weight_ih,
    weight_hh,
    has_bias,
    h_all,
    c_all,
    gates,
    mode,
    need_input=True,
    need_h0=True,
    need_weights=True,
):
    """(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh); None where not asked for."""
    cp = __import__("cupy")
    op = "rnn_backward"
    x, h0, c0, w_ih, w_hh, _, _, S, N, I, H, G = _check(
        op, input, h0, c0, weight_ih, weight_hh, None, None, mode
    )
    dt = x.dtype
    dy = check_like(grad_output, dt, op, "grad_output", (S, N, H))
    h_all = check_like(h_all, dt, op, "h_all", (S, N, H))
    c_all = check_like(c_all, dt, op, "c_all", (S if mode == 2 else 0, N, H))
    gates = check_like(gates, dt, op, "gates", (S, N, _saved_gates(mode) * H))
    dh_last = None if grad_h_n is None else check_like(grad_h_n, dt, op, "grad_h_n", (N, H))
    dc_last = None if grad_c_n is None else check_like(grad_c_n, dt, op, "grad_c_n", (N, H))
    GH = G * H
    n = N * H
    dh = cp.zeros((N, H), dt) if dh_last is None else dh_last.copy()
    dc = (cp.zeros((N, H), dt) if dc_last is None else dc_last.copy()) if mode == 2 else None
    dgates = cp.empty((S, N, GH), dt)
    dq = cp.empty((S, N, GH), dt) if mode == 3 else None
    for t in range(S - 1, -1, -1):
        if n == 0:
            dgates[t].fill(0)
            if dq is not None:
                dq[t].fill(0)
            continue
        if mode == 2:
            launch(
                _SRC("lstm_back", dt),
                n,
                (
                    dgates[t],
                    dc,
                    dh,
                    dy[t],
                    gates[t],
                    c_all[t],
                    c0 if t == 0 else c_all[t - 1],
                    i64(H),
                    i64(n),
                ),
            )
            dh = dgates[t] @ w_hh
        elif mode == 3:
            hp = h0 if t == 0 else h_all[t - 1]
            launch(
                _SRC("gru_back", dt), n, (dgates[t], dq[t], dh, dy[t], gates[t], hp, i64(H), i64(n))
            )
            dh += dq[t] @ w_hh
        else:
            launch(
                _SRC("rnn_back", dt),
                n,
                (dgates[t], dh, dy[t], h_all[t], i64(n), np.int32(mode == 1)),
            )
            dh = dgates[t] @ w_hh
        dh = cp.ascontiguousarray(dh)
    drec = dq if mode == 3 else dgates
    dx = dh0 = dc0 = dwi = dwh = dbi = dbh = None
    if need_h0:
        dh0 = dh
        if mode == 2:
            dc0 = dc
    SN = S * N
    if need_input:
        dx = (dgates.reshape(SN, GH) @ w_ih).reshape(S, N, I)
    if need_weights:
        dwi = dgates.reshape(SN, GH).T @ x.reshape(SN, I)
        if S == 0 or N == 0:
            dwh = cp.zeros((GH, H), dt)
        else:
            dwh = drec[0].T @ h0
            if S > 1:
                dwh += drec[1:].reshape((S - 1) * N, GH).T @ h_all[:-1].reshape((S - 1) * N, H)
        if has_bias:
            dbi = dgates.reshape(SN, GH).astype(cp.float64).sum(axis=0).astype(dt)
            dbh = drec.reshape(SN, GH).astype(cp.float64).sum(axis=0).astype(dt)
    return dx, dh0, dc0, dwi, dwh, dbi, dbh
