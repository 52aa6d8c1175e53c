"""RNN/LSTM/GRU: forward against NumPy formulas, gradcheck in float64, torch with copied
weights (h0/c0 included), kernel argument checks, threads."""

import numpy as np
import pytest
from conftest import t64
from pydlk._C import rnn_backward, rnn_forward

import pydlk
from pydlk import nn


def sig(x):
    return 1 / (1 + np.exp(-x))


def ref_layer(mode, x, h0, c0, wih, whh, bih, bhh):
    """Textbook recurrences, float64, one direction. x (S, N, I)."""
    h, c = h0.astype(np.float64), None if c0 is None else c0.astype(np.float64)
    H = whh.shape[1]
    bih = np.zeros(whh.shape[0]) if bih is None else bih
    bhh = np.zeros(whh.shape[0]) if bhh is None else bhh
    ys = []
    for t in range(x.shape[0]):
        gi = x[t] @ wih.T + bih
        gh = h @ whh.T + bhh
        if mode == "LSTM":
            g = gi + gh
            i, f, gg, o = (
                sig(g[:, :H]),
                sig(g[:, H : 2 * H]),
                np.tanh(g[:, 2 * H : 3 * H]),
                sig(g[:, 3 * H :]),
            )
            c = f * c + i * gg
            h = o * np.tanh(c)
        elif mode == "GRU":
            r = sig(gi[:, :H] + gh[:, :H])
            z = sig(gi[:, H : 2 * H] + gh[:, H : 2 * H])
            n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
            h = (1 - z) * n + z * h
        elif mode == "RNN_TANH":
            h = np.tanh(gi + gh)
        else:
            h = np.maximum(gi + gh, 0)
        ys.append(h)
    return np.stack(ys), h, c


def ref_module(m, x, h0, c0=None):
    """Stacked, bidirectional reference for a pydlk module (dropout 0). x (S, N, I)."""
    D = 2 if m.bidirectional else 1
    inp = x.astype(np.float64)
    hn, cn = [], []
    for layer in range(m.num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w = [
                np.asarray(getattr(m, n + sfx)).astype(np.float64)
                if m.bias or "weight" in n
                else None
                for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            ]
            k = layer * D + d
            xin = inp if d == 0 else inp[::-1]
            y, h, c = ref_layer(m.mode, xin, h0[k], None if c0 is None else c0[k], *w)
            outs.append(y if d == 0 else y[::-1])
            hn.append(h)
            cn.append(c)
        inp = np.concatenate(outs, axis=2)
    return inp, np.stack(hn), (np.stack(cn) if c0 is not None else None)


def make(cls, *args, **kw):
    pydlk.manual_seed(0)
    return cls(*args, **kw)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
@pytest.mark.parametrize(
    "layers,bidir,bias", [(1, False, True), (2, True, True), (2, False, False)]
)
def test_forward_matches_numpy(mode, layers, bidir, bias, rng):
    if mode == "LSTM":
        m = make(nn.LSTM, 5, 7, layers, bias=bias, bidirectional=bidir)
    elif mode == "GRU":
        m = make(nn.GRU, 5, 7, layers, bias=bias, bidirectional=bidir)
    else:
        m = make(
            nn.RNN,
            5,
            7,
            layers,
            nonlinearity="tanh" if mode == "RNN_TANH" else "relu",
            bias=bias,
            bidirectional=bidir,
        )
    D = 2 if bidir else 1
    x = rng.standard_normal((6, 3, 5)).astype(np.float32)
    h0 = rng.standard_normal((layers * D, 3, 7)).astype(np.float32)
    c0 = rng.standard_normal((layers * D, 3, 7)).astype(np.float32)
    if mode == "LSTM":
        y, (hn, cn) = m(pydlk.tensor(x), (pydlk.tensor(h0), pydlk.tensor(c0)))
        ry, rh, rc = ref_module(m, x, h0, c0)
        np.testing.assert_allclose(np.asarray(cn), rc, rtol=1e-4, atol=1e-5)
    else:
        y, hn = m(pydlk.tensor(x), pydlk.tensor(h0))
        ry, rh, _ = ref_module(m, x, h0)
    np.testing.assert_allclose(np.asarray(y), ry, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(hn), rh, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_gradcheck(cls, rng):
    m = make(cls, 3, 4, 2, bidirectional=True).double()
    x = t64(rng.standard_normal((3, 2, 3)))
    h0 = t64(rng.standard_normal((4, 2, 4)))
    c0 = t64(rng.standard_normal((4, 2, 4)))
    params = list(m.parameters())

    def f(x, h0, c0, *ps):
        if cls is nn.LSTM:
            y, (h, c) = m(x, (h0, c0))
            return y, h, c
        y, h = m(x, h0)
        return y, h

    pydlk.gradcheck(f, (x, h0, c0, *params))


def test_gradcheck_batch_first_no_bias(rng):
    m = make(nn.GRU, 3, 2, batch_first=True, bias=False).double()
    x = t64(rng.standard_normal((2, 4, 3)))
    pydlk.gradcheck(lambda x, *ps: m(x)[0], (x, *m.parameters()))


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_against_torch(name, rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    kw = dict(num_layers=2, bidirectional=True, batch_first=True)
    tm = getattr(torch.nn, name)(5, 6, **kw).double()
    m = getattr(nn, name)(5, 6, **kw).double()
    res = m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    assert res.missing_keys == [] and res.unexpected_keys == []
    x = rng.standard_normal((3, 7, 5))
    h0 = rng.standard_normal((4, 3, 6))
    c0 = rng.standard_normal((4, 3, 6))
    tx = torch.tensor(x, requires_grad=True)
    th0 = torch.tensor(h0, requires_grad=True)
    tc0 = torch.tensor(c0, requires_grad=True)
    px, ph0, pc0 = t64(x), t64(h0), t64(c0)
    if name == "LSTM":
        ty, (th, tc) = tm(tx, (th0, tc0))
        py, (ph, pc) = m(px, (ph0, pc0))
        tl = ty.sum() + (th * 2).sum() + (tc * 3).sum()
        pl = py.sum() + (ph * 2).sum() + (pc * 3).sum()
    else:
        ty, th = tm(tx, th0)
        py, ph = m(px, ph0)
        tl = ty.sum() + (th * 2).sum()
        pl = py.sum() + (ph * 2).sum()
    np.testing.assert_allclose(np.asarray(py), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    tl.backward()
    pl.backward()
    np.testing.assert_allclose(px.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(ph0.grad, th0.grad.numpy(), rtol=1e-9, atol=1e-11)
    if name == "LSTM":
        np.testing.assert_allclose(pc0.grad, tc0.grad.numpy(), rtol=1e-9, atol=1e-11)
    for (k, p), (tk, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert k == tk
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=k)


def test_torch_float32_lstm(rng):
    torch = pytest.importorskip("torch")
    tm = torch.nn.LSTM(8, 12)
    m = nn.LSTM(8, 12)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((9, 5, 8)).astype(np.float32)
    y, (h, c) = m(pydlk.tensor(x))
    ty, (th, tc) = tm(torch.tensor(x))
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(c), tc.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_unbatched_and_zero_states(rng):
    m = make(nn.GRU, 3, 4)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    y, h = m(pydlk.tensor(x))
    yb, hb = m(pydlk.tensor(x[:, None]))
    assert y.shape == (5, 4) and h.shape == (1, 4)
    np.testing.assert_allclose(np.asarray(y), np.asarray(yb)[:, 0], rtol=1e-6)
    ry, rh, _ = ref_module(m, x[:, None], np.zeros((1, 1, 4)))
    np.testing.assert_allclose(np.asarray(y), ry[:, 0], rtol=1e-4, atol=1e-5)


def test_zero_length_sequence_and_empty_batch():
    m = make(nn.LSTM, 3, 4)
    y, (h, c) = m(pydlk.tensor(np.zeros((0, 2, 3), np.float32)))
    assert y.shape == (0, 2, 4) and h.shape == (1, 2, 4)
    np.testing.assert_array_equal(np.asarray(h), 0)
    y, (h, c) = m(pydlk.tensor(np.zeros((4, 0, 3), np.float32)))
    assert y.shape == (4, 0, 4)


def test_dropout_between_layers_training_only(rng):
    m = make(nn.LSTM, 3, 4, 2, dropout=0.5)
    x = pydlk.tensor(rng.standard_normal((5, 2, 3)).astype(np.float32))
    m.eval()
    ye = np.asarray(m(x)[0])
    ry, _, _ = ref_module(m, np.asarray(x), np.zeros((2, 2, 4)), np.zeros((2, 2, 4)))
    np.testing.assert_allclose(ye, ry, rtol=1e-4, atol=1e-5)
    m.train()
    pydlk.manual_seed(3)
    y1 = np.asarray(m(x)[0])
    pydlk.manual_seed(3)
    y2 = np.asarray(m(x)[0])
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(y1, ye)


def test_noncontiguous_input(rng):
    m = make(nn.RNN, 3, 4)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    xt = x.transpose(1, 0, 2)  # (S, N, I), not contiguous
    y = m(pydlk.tensor(xt))[0]
    ry, _, _ = ref_module(m, xt, np.zeros((1, 2, 4)))
    np.testing.assert_allclose(np.asarray(y), ry, rtol=1e-4, atol=1e-5)


def test_bad_arguments(rng):
    with pytest.raises(ValueError, match="hidden_size"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(TypeError, match="input_size"):
        nn.LSTM(3.5, 4)
    m = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match="input_size"):
        m(pydlk.tensor(np.zeros((2, 2, 5), np.float32)))
    with pytest.raises(ValueError, match="hidden size"):
        m(
            pydlk.tensor(np.zeros((2, 2, 3), np.float32)),
            (
                pydlk.tensor(np.zeros((1, 3, 4), np.float32)),
                pydlk.tensor(np.zeros((1, 2, 4), np.float32)),
            ),
        )
    x = np.zeros((2, 2, 3), np.float32)
    w = np.zeros((16, 3), np.float32)
    h0 = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match="weight_hh"):
        rnn_forward(x, h0, h0, w, np.zeros((16, 5), np.float32), None, None, 2)
    with pytest.raises(ValueError, match="mode"):
        rnn_forward(x, h0, h0, w, np.zeros((16, 4), np.float32), None, None, 7)
    with pytest.raises(ValueError, match="c0"):
        rnn_forward(x, h0, None, w, np.zeros((16, 4), np.float32), None, None, 2)
    with pytest.raises(TypeError, match="input"):
        rnn_forward(x.astype(np.int32), h0, h0, w, np.zeros((16, 4), np.float32), None, None, 2)
    with pytest.raises(ValueError, match="grad_output"):
        rnn_backward(
            np.zeros((2, 2, 5), np.float32),
            None,
            None,
            x,
            h0,
            h0,
            w,
            np.zeros((16, 4), np.float32),
            False,
            np.zeros((2, 2, 4), np.float32),
            np.zeros((2, 2, 4), np.float32),
            np.zeros((2, 2, 16), np.float32),
            2,
        )


def test_threads_agree(threads, rng):
    m = make(nn.LSTM, 32, 64)
    x = pydlk.tensor(rng.standard_normal((4, 64, 32)).astype(np.float32), requires_grad=True)
    out = []
    for n in (1, 2):
        threads(n)
        x.grad = None
        m.zero_grad()
        y, _ = m(x)
        y.sum().backward()
        out.append((np.array(y), np.array(x.grad), np.array(m.weight_hh_l0.grad)))
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # and right: torch's LSTM with the same weights, in float64
    torch = pytest.importorskip("torch")
    tm = torch.nn.LSTM(32, 64).double()
    tm.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in m.state_dict().items()})
    tx = torch.tensor(np.asarray(x.detach()), dtype=torch.float64, requires_grad=True)
    ty, _ = tm(tx)
    ty.sum().backward()
    for a, r in zip(out[0], (ty.detach(), tx.grad, tm.weight_hh_l0.grad), strict=True):
        np.testing.assert_allclose(a, r.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_float32_recurrent_product_blocks_against_torch_float64(name, rng):
    # float32 runs the recurrent product against W_hh packed once (AVX-512 CPUs): hidden 80
    # gives 32-column panels with a remainder (4H = 320, 3H = 240, 80) and K chunks of 256
    # with a remainder (backward, K = 4H or 3H); batch 13 gives a 12-row block and one row
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(7, 80).double()
    m = getattr(nn, name)(7, 80)
    m.load_state_dict(
        {k: v.detach().numpy().astype(np.float32) for k, v in tm.state_dict().items()}
    )
    tm.load_state_dict(
        {k: torch.tensor(np.asarray(v), dtype=torch.float64) for k, v in m.state_dict().items()}
    )
    x = rng.standard_normal((6, 13, 7)).astype(np.float32)
    h0 = rng.standard_normal((1, 13, 80)).astype(np.float32)
    px, ph0 = pydlk.tensor(x, requires_grad=True), pydlk.tensor(h0, requires_grad=True)
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    th0 = torch.tensor(h0, dtype=torch.float64, requires_grad=True)
    if name == "LSTM":
        c0 = rng.standard_normal((1, 13, 80)).astype(np.float32)
        py, _ = m(px, (ph0, pydlk.tensor(c0)))
        ty, _ = tm(tx, (th0, torch.tensor(c0, dtype=torch.float64)))
    else:
        py, _ = m(px, ph0)
        ty, _ = tm(tx, th0)
    w = np.cos(np.arange(ty.numel())).reshape(ty.shape)
    (py * pydlk.tensor(w.astype(np.float32))).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(np.asarray(py), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    for got, want in (
        (px.grad, tx.grad),
        (ph0.grad, th0.grad),
        (m.weight_hh_l0.grad, tm.weight_hh_l0.grad),
    ):
        want = want.numpy()
        assert np.abs(np.asarray(got) - want).max() <= 1e-5 * np.abs(want).max() + 1e-6
