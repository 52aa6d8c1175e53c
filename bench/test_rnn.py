"""LSTM forward+backward over a sequence (seq 32, batch 64, input 128, hidden 256): the fused
pydlk kernels (pydlk._C.rnn_forward/rnn_backward), a plain NumPy LSTM with BPTT, torch.nn.LSTM."""

import numpy as np
import pydlk._C as C
import pytest

SHAPES = {"S32_N64_I128_H256": (32, 64, 128, 256)}


def _data(rng, S, N, I, H):
    f = np.float32
    s = 1 / np.sqrt(H)
    return (
        rng.standard_normal((S, N, I)).astype(f),
        np.zeros((N, H), f),
        np.zeros((N, H), f),
        rng.uniform(-s, s, (4 * H, I)).astype(f),
        rng.uniform(-s, s, (4 * H, H)).astype(f),
        rng.uniform(-s, s, 4 * H).astype(f),
        rng.uniform(-s, s, 4 * H).astype(f),
        rng.standard_normal((S, N, H)).astype(f),
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_pydlk(benchmark, rng, shape):
    benchmark.group = f"lstm fwd+bwd {shape}"
    x, h0, c0, wih, whh, bih, bhh, dy = _data(rng, *SHAPES[shape])

    def step():
        h_all, c_all, gates = C.rnn_forward(x, h0, c0, wih, whh, bih, bhh, 2)
        C.rnn_backward(dy, None, None, x, h0, c0, wih, whh, True, h_all, c_all, gates, 2)

    step()
    benchmark(step)


def _sig(v):
    return 1 / (1 + np.exp(-v))


def numpy_lstm(x, h0, c0, wih, whh, bih, bhh, dy):
    """How most people write an LSTM in NumPy: a loop over time, caches, then BPTT."""
    S, N, _ = x.shape
    H = h0.shape[1]
    h, c = h0, c0
    cache = []
    xw = x @ wih.T + (bih + bhh)
    for t in range(S):
        g = xw[t] + h @ whh.T
        i, f, gg, o = (
            _sig(g[:, :H]),
            _sig(g[:, H : 2 * H]),
            np.tanh(g[:, 2 * H : 3 * H]),
            _sig(g[:, 3 * H :]),
        )
        cn = f * c + i * gg
        tc = np.tanh(cn)
        cache.append((h, c, i, f, gg, o, tc))
        h, c = o * tc, cn
    dwih, dwhh, db = np.zeros_like(wih), np.zeros_like(whh), np.zeros_like(bih)
    dx = np.empty_like(x)
    dh, dc = np.zeros_like(h0), np.zeros_like(c0)
    for t in reversed(range(S)):
        hp, cp, i, f, gg, o, tc = cache[t]
        dh = dh + dy[t]
        do = dh * tc
        dc = dc + dh * o * (1 - tc**2)
        dg = np.concatenate(
            [dc * gg * i * (1 - i), dc * cp * f * (1 - f), dc * i * (1 - gg**2), do * o * (1 - o)],
            axis=1,
        )
        dc = dc * f
        dwih += dg.T @ x[t]
        dwhh += dg.T @ hp
        db += dg.sum(0)
        dx[t] = dg @ wih
        dh = dg @ whh
    return dx, dwih, dwhh, db


@pytest.mark.parametrize("shape", SHAPES)
def test_numpy(benchmark, rng, shape):
    benchmark.group = f"lstm fwd+bwd {shape}"
    data = _data(rng, *SHAPES[shape])
    benchmark(numpy_lstm, *data)


@pytest.mark.parametrize("shape", SHAPES)
def test_torch(benchmark, rng, torch, shape):
    benchmark.group = f"lstm fwd+bwd {shape}"
    S, N, I, H = SHAPES[shape]
    x, h0, c0, wih, whh, bih, bhh, dy = _data(rng, S, N, I, H)
    m = torch.nn.LSTM(I, H)
    with torch.no_grad():
        for p, a in zip(
            (m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0), (wih, whh, bih, bhh)
        ):
            p.copy_(torch.from_numpy(a))
    tx = torch.from_numpy(x).requires_grad_()
    tdy = torch.from_numpy(dy)

    def step():
        tx.grad = None
        m.zero_grad()
        y, _ = m(tx)
        y.backward(tdy)

    step()
    benchmark(step)


def test_numpy_reference_matches_kernel(rng):
    """The NumPy version computes the same gradients as the kernels (so the race is fair)."""
    data = _data(rng, 4, 3, 5, 6)
    x, h0, c0, wih, whh, bih, bhh, dy = data
    h_all, c_all, gates = C.rnn_forward(x, h0, c0, wih, whh, bih, bhh, 2)
    dx, _, _, dwi, dwh, dbi, _ = C.rnn_backward(
        dy, None, None, x, h0, c0, wih, whh, True, h_all, c_all, gates, 2
    )
    rdx, rdwi, rdwh, rdb = numpy_lstm(*data)
    np.testing.assert_allclose(dx, rdx, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dwh, rdwh, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dbi, rdb, rtol=1e-4, atol=1e-5)


# nn.LSTM with proj_size (seq 32, batch 64, 128 -> hidden 256 projected to 64), as users call
# it: pydlk's recorded steps (functional/_lstm_proj.py) against torch's layer.
PROJ = (32, 64, 128, 256, 64)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("lib", ["pydlk", "torch"])
def test_lstm_proj(benchmark, rng, lib, request):
    benchmark.group = "lstm proj_size fwd+bwd S32 N64 I128 H256 P64"
    S, N, I, H, P = PROJ
    x = rng.standard_normal((S, N, I)).astype(np.float32)
    dy = rng.standard_normal((S, N, P)).astype(np.float32)
    if lib == "torch":
        torch = request.getfixturevalue("torch")
        m, tx, tdy = torch.nn.LSTM(I, H, proj_size=P), torch.from_numpy(x), torch.from_numpy(dy)
    else:
        import pydlk

        m, tx, tdy = pydlk.nn.LSTM(I, H, proj_size=P), pydlk.tensor(x), pydlk.tensor(dy)
    tx.requires_grad_()

    def step():
        tx.grad = None
        m.zero_grad()
        y, _ = m(tx)
        y.backward(tdy)

    step()
    benchmark(step)
