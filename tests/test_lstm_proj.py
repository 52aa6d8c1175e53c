"""``nn.LSTM(..., proj_size=P)``: LSTM with projected hidden states (h_t = W_hr (o_t * tanh c_t)),
against torch 2.13 with the same weights (outputs, final states, every gradient, packed
batches, double backward), a NumPy step written out from the textbook formula, and a float64
gradcheck. The ``test_gpu_*`` test runs on a GPU and under the host emulation
(tools/run_cuda_tests_on_host.py), and skips without either."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip

import pydlk
from pydlk.nn.utils.rnn import pack_padded_sequence


def _torch():
    return pytest.importorskip("torch")


def _pair(torch, *args, **kw):
    tm = torch.nn.LSTM(*args, **kw).double()
    pm = pydlk.nn.LSTM(*args, **kw).double()
    pm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    return tm, pm


def _np(t):
    return t.detach().numpy()


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"num_layers": 2, "bidirectional": True},
        {"num_layers": 3, "batch_first": True},
        {"bias": False, "bidirectional": True},
    ],
)
def test_outputs_states_and_all_gradients_match_torch(rng, kw):
    torch = _torch()
    tm, pm = _pair(torch, 3, 6, proj_size=2, **kw)
    D, L = (2 if kw.get("bidirectional") else 1), kw.get("num_layers", 1)
    x = rng.standard_normal((5, 4, 3))
    h0, c0 = rng.standard_normal((L * D, 5 if kw.get("batch_first") else 4, 2)), None
    c0 = rng.standard_normal(h0.shape[:2] + (6,))
    tx, px = torch.tensor(x, requires_grad=True), pydlk.tensor(x, requires_grad=True)
    th0, ph0 = torch.tensor(h0, requires_grad=True), pydlk.tensor(h0, requires_grad=True)
    tc0, pc0 = torch.tensor(c0, requires_grad=True), pydlk.tensor(c0, requires_grad=True)
    ty, (th, tc) = tm(tx, (th0, tc0))
    py, (ph, pc) = pm(px, (ph0, pc0))
    assert tuple(py.shape) == tuple(ty.shape) and py.shape[-1] == 2 * D
    assert tuple(ph.shape) == (L * D, h0.shape[1], 2) and tuple(pc.shape) == c0.shape
    (ty.sin().sum() + th.pow(2).sum() + tc.sum()).backward()
    (py.sin().sum() + ph.pow(2).sum() + pc.sum()).backward()
    for a, b in [(py, ty), (ph, th), (pc, tc), (px.grad, tx.grad), (ph0.grad, th0.grad)]:
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(pc0.grad), _np(tc0.grad), rtol=1e-10, atol=1e-12)
    names = [n for n, _ in pm.named_parameters()]
    assert names == [n for n, _ in tm.named_parameters()] and "weight_hr_l0" in names
    for (n, p), (_, q) in zip(pm.named_parameters(), tm.named_parameters()):
        assert tuple(p.shape) == tuple(q.shape), n
        np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=1e-10, atol=1e-12, err_msg=n)


def test_one_step_is_the_textbook_formula(rng):
    pm = pydlk.nn.LSTM(3, 5, proj_size=2).double()
    w_ih, w_hh, b_ih, b_hh, w_hr = (p.detach().numpy() for p in pm.parameters())
    x, h, c = rng.standard_normal((1, 4, 3)), rng.standard_normal((1, 4, 2)), None
    c = rng.standard_normal((1, 4, 5))
    y, (hn, cn) = pm(pydlk.tensor(x), (pydlk.tensor(h), pydlk.tensor(c)))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    g = x[0] @ w_ih.T + b_ih + h[0] @ w_hh.T + b_hh
    i, f, gg, o = np.split(g, 4, axis=1)
    c1 = sig(f) * c[0] + sig(i) * np.tanh(gg)
    h1 = (sig(o) * np.tanh(c1)) @ w_hr.T
    np.testing.assert_allclose(_np(y)[0], h1, rtol=1e-12)
    np.testing.assert_allclose(_np(hn)[0], h1, rtol=1e-12)
    np.testing.assert_allclose(_np(cn)[0], c1, rtol=1e-12)


def test_packed_batch_matches_torch_with_gradients(rng):
    torch = _torch()
    from torch.nn.utils.rnn import pack_padded_sequence as tpack

    tm, pm = _pair(torch, 3, 6, proj_size=2, num_layers=2, bidirectional=True)
    x, lens = rng.standard_normal((5, 4, 3)), [3, 5, 1, 4]
    h0, c0 = rng.standard_normal((4, 4, 2)), rng.standard_normal((4, 4, 6))
    tx, px = torch.tensor(x, requires_grad=True), pydlk.tensor(x, requires_grad=True)
    ty, (th, tc) = tm(
        tpack(tx, torch.tensor(lens), enforce_sorted=False), (torch.tensor(h0), torch.tensor(c0))
    )
    py, (ph, pc) = pm(
        pack_padded_sequence(px, pydlk.tensor(lens), enforce_sorted=False),
        (pydlk.tensor(h0), pydlk.tensor(c0)),
    )
    np.testing.assert_allclose(_np(py.data), _np(ty.data), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(ph), _np(th), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(pc), _np(tc), rtol=1e-10, atol=1e-12)
    (ty.data.sum() + th.sum() * 2 + tc.pow(2).sum()).backward()
    (py.data.sum() + ph.sum() * 2 + pc.pow(2).sum()).backward()
    np.testing.assert_allclose(_np(px.grad), _np(tx.grad), rtol=1e-10, atol=1e-12)
    for p, q in zip(pm.parameters(), tm.parameters()):
        np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=1e-10, atol=1e-12)


def test_unbatched_input_and_zero_initial_states_match_torch(rng):
    torch = _torch()
    tm, pm = _pair(torch, 4, 7, proj_size=3, bidirectional=True)
    x = rng.standard_normal((6, 4))
    ty, (th, tc) = tm(torch.tensor(x))
    py, (ph, pc) = pm(pydlk.tensor(x))
    assert tuple(py.shape) == (6, 6) and tuple(ph.shape) == (2, 3) and tuple(pc.shape) == (2, 7)
    for a, b in [(py, ty), (ph, th), (pc, tc)]:
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-10, atol=1e-12)


def test_double_backward_matches_torch(rng):
    torch = _torch()
    tm, pm = _pair(torch, 2, 4, proj_size=1)
    x = rng.standard_normal((3, 2, 2))
    tx, px = torch.tensor(x, requires_grad=True), pydlk.tensor(x, requires_grad=True)
    (tg,) = torch.autograd.grad(tm(tx)[0].pow(2).sum(), tx, create_graph=True)
    (pg,) = pydlk.autograd.grad(pm(px)[0].pow(2).sum(), px, create_graph=True)
    np.testing.assert_allclose(_np(pg), _np(tg), rtol=1e-10, atol=1e-12)
    tg.pow(2).sum().backward()
    pg.pow(2).sum().backward()
    np.testing.assert_allclose(_np(px.grad), _np(tx.grad), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(_np(pm.weight_hr_l0.grad), _np(tm.weight_hr_l0.grad), rtol=1e-9)


def test_gradcheck_float64(rng):
    pm = pydlk.nn.LSTM(2, 3, proj_size=2, num_layers=2).double()
    x = pydlk.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = pydlk.tensor(rng.standard_normal((2, 2, 2)), requires_grad=True)
    c0 = pydlk.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)

    def f(x, h0, c0):
        y, (h, c) = pm(x, (h0, c0))
        return y.sum() + (h * h).sum() + c.sum()

    assert pydlk.autograd.gradcheck(f, (x, h0, c0), eps=1e-6, atol=1e-6)


def test_float32_default_and_dropout_between_layers(rng):
    pydlk.manual_seed(0)
    m = pydlk.nn.LSTM(3, 5, num_layers=2, proj_size=2, dropout=0.5)
    x = pydlk.tensor(rng.standard_normal((4, 2, 3)).astype(np.float32))
    assert m.weight_hr_l0.dtype == pydlk.float32 and m.weight_hh_l1.shape == (20, 2)
    y_train, _ = m(x)
    m.eval()
    y1, _ = m(x)
    y2, _ = m(x)
    assert y1.dtype == pydlk.float32
    np.testing.assert_array_equal(_np(y1), _np(y2))
    assert not np.allclose(_np(y_train), _np(y1))
    assert repr(m).endswith("dropout=0.5, proj_size=2)")


def test_bad_arguments_raise_as_torch():
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        pydlk.nn.LSTM(3, 5, proj_size=5)
    with pytest.raises(ValueError, match="positive integer or zero"):
        pydlk.nn.LSTM(3, 5, proj_size=-1)
    with pytest.raises(TypeError, match="proj_size should be of type int"):
        pydlk.nn.LSTM(3, 5, proj_size=2.0)
    with pytest.raises(ValueError, match="only supported for LSTM, not RNN or GRU"):
        pydlk.nn.RNNBase("GRU", 3, 5, proj_size=2)
    m = pydlk.nn.LSTM(3, 5, proj_size=2)
    with pytest.raises(ValueError, match=r"Expected hidden size \(1, 2, 2\), got \(1, 2, 5\)"):
        m(pydlk.zeros(4, 2, 3), (pydlk.zeros(1, 2, 5), pydlk.zeros(1, 2, 5)))
    with pytest.raises(ValueError, match=r"Expected hidden size \(1, 2, 5\), got \(1, 2, 2\)"):
        m(pydlk.zeros(4, 2, 3), (pydlk.zeros(1, 2, 2), pydlk.zeros(1, 2, 2)))
    with pytest.raises(RuntimeError, match="sequence length to be larger than 0"):
        m(pydlk.zeros(0, 2, 3))


def test_gpu_projected_lstm_matches_the_cpu(rng):
    cupy_or_skip()
    m = pydlk.nn.LSTM(3, 6, proj_size=2, bidirectional=True).double()
    x = rng.standard_normal((4, 3, 3))
    xc = pydlk.tensor(x, requires_grad=True)
    yc, (hc, cc) = m(xc)
    (yc.sum() + hc.sum() + cc.sum()).backward()
    gc = [p.grad.numpy().copy() for p in m.parameters()]
    m.zero_grad()
    m.cuda()
    xg = pydlk.tensor(x, device="cuda", requires_grad=True)
    yg, (hg, cg) = m(xg)
    assert yg.is_cuda and hg.is_cuda and cg.is_cuda
    (yg.sum() + hg.sum() + cg.sum()).backward()
    np.testing.assert_allclose(yg.detach().cpu().numpy(), _np(yc), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xg.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-10, atol=1e-12)
    for p, g in zip(m.parameters(), gc):
        np.testing.assert_allclose(p.grad.cpu().numpy(), g, rtol=1e-10, atol=1e-12)
