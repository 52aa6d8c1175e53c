"""PackedSequence and its functions (pydlk.nn.utils.rnn) and the recurrent layers over packed
input, against torch 2.13: the packed layout (data, batch_sizes, sorted/unsorted indices),
padding back, gradients through both, and RNN/LSTM/GRU outputs, final states and every
gradient for stacked, bidirectional, batch-first and unsorted batches; float64 gradcheck; the
argument checks; a text classifier trained a few steps with packing."""

import numpy as np
import pytest

import pydlk
from pydlk import nn
from pydlk.nn.utils.rnn import (
    PackedSequence,
    invert_permutation,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    unpack_sequence,
    unpad_sequence,
)

torch = pytest.importorskip("torch")
R = torch.nn.utils.rnn


def _np(t):
    return t.detach().numpy()


def _pair(rng, shape, dtype=np.float64):
    v = rng.standard_normal(shape).astype(dtype)
    return pydlk.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)


def _assert_packed_equal(p, q):
    """Same layout as torch's PackedSequence, field by field (None where torch has None)."""
    assert isinstance(p, PackedSequence) and isinstance(p, tuple) and len(p) == 4
    np.testing.assert_array_equal(_np(p.data), _np(q.data))
    assert p.batch_sizes.dtype == np.int64 and str(p.batch_sizes.device) == "cpu"
    np.testing.assert_array_equal(p.batch_sizes.numpy(), q.batch_sizes.numpy())
    for a, b in ((p.sorted_indices, q.sorted_indices), (p.unsorted_indices, q.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())


# ----------------------------------------------------------------------------- layout


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize(
    "lengths,enforce_sorted",
    [([5, 5, 3, 1], True), ([2, 5, 1, 4], False), ([3, 3, 1, 3], False), ([1, 1, 1, 1], True)],
)
@pytest.mark.parametrize("trail", [(), (3,), (2, 3)])
def test_pack_and_pad_lay_out_as_torch(rng, batch_first, lengths, enforce_sorted, trail):
    shape = ((4, 6) if batch_first else (6, 4)) + trail
    x, xt = _pair(rng, shape)
    p = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    q = R.pack_padded_sequence(xt, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    _assert_packed_equal(p, q)
    for total in (None, 8):
        y, n = pad_packed_sequence(p, batch_first, padding_value=-7.0, total_length=total)
        yt, nt = R.pad_packed_sequence(q, batch_first, padding_value=-7.0, total_length=total)
        np.testing.assert_array_equal(_np(y), _np(yt))
        assert n.dtype == np.int64 and n.tolist() == nt.tolist() == lengths
    # the round trip keeps each sequence's steps and pads the rest
    y, _ = pad_packed_sequence(p, batch_first)
    for b, n in enumerate(lengths):
        seq = _np(y)[b, :n] if batch_first else _np(y)[:n, b]
        src = x.detach().numpy()[b, :n] if batch_first else x.detach().numpy()[:n, b]
        np.testing.assert_array_equal(seq, src)


@pytest.mark.parametrize(
    "lengths",
    [[4, 2, 1], (4, 2, 1), np.array([4, 2, 1]), "tensor", "float_tensor"],
    ids=["list", "tuple", "ndarray", "int64_tensor", "float_tensor"],
)
def test_lengths_are_accepted_in_torchs_forms(rng, lengths):
    x, xt = _pair(rng, (4, 3, 2))
    if isinstance(lengths, str):  # torch converts a float tensor with .to(int64)
        lengths = pydlk.tensor([4, 2, 1] if lengths == "tensor" else [4.0, 2.0, 1.0])
    _assert_packed_equal(pack_padded_sequence(x, lengths), R.pack_padded_sequence(xt, [4, 2, 1]))


def test_pack_sequence_unpack_and_unpad_as_torch(rng):
    seqs = [rng.standard_normal((n, 3)) for n in (2, 5, 1, 4)]
    for enforce in (False, True):
        src = sorted(seqs, key=len, reverse=True) if enforce else seqs
        p = pack_sequence([pydlk.tensor(s) for s in src], enforce_sorted=enforce)
        q = R.pack_sequence([torch.tensor(s) for s in src], enforce_sorted=enforce)
        _assert_packed_equal(p, q)
        for a, b in zip(unpack_sequence(p), src):
            np.testing.assert_array_equal(a.numpy(), b)
    padded = pydlk.nn.utils.rnn.pad_sequence([pydlk.tensor(s) for s in seqs])
    before = padded.numpy().copy()
    out = unpad_sequence(padded, pydlk.tensor([2, 5, 1, 4]))
    assert [a.shape for a in out] == [s.shape for s in seqs]
    for a, b in zip(out, seqs):
        np.testing.assert_array_equal(a.numpy(), b)
    np.testing.assert_array_equal(padded.numpy(), before)  # not transposed in place
    bf = unpad_sequence(padded.transpose(0, 1), [2, 5, 1, 4], batch_first=True)
    np.testing.assert_array_equal(bf[1].numpy(), seqs[1])


def test_packed_sequence_is_torchs_named_tuple(rng):
    p = pack_padded_sequence(
        pydlk.tensor(rng.standard_normal((3, 2))), [1, 3], enforce_sorted=False
    )
    data, batch_sizes, sorted_indices, unsorted_indices = p
    assert p._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    assert p.data is data and batch_sizes.tolist() == [2, 1, 1]
    assert sorted_indices.tolist() == [1, 0] and unsorted_indices.tolist() == [1, 0]
    assert not p.is_cuda and p.to("cpu") is p and p.cpu() is p
    f = p.float()
    assert f.data.dtype == np.float32 and f.sorted_indices.tolist() == [1, 0]
    assert f.double().data.dtype == np.float64 and p.to(pydlk.float32).data.dtype == np.float32
    # unsorted_indices from sorted_indices; torch's legacy (data, batch_sizes) form
    q = PackedSequence(data, batch_sizes, pydlk.tensor([1, 0]))
    assert q.unsorted_indices.tolist() == [1, 0]
    legacy = PackedSequence((data, batch_sizes))
    assert legacy.sorted_indices is None and legacy.batch_sizes.tolist() == [2, 1, 1]
    perm = pydlk.tensor([2, 0, 3, 1])
    np.testing.assert_array_equal(
        invert_permutation(perm).numpy(), R.invert_permutation(torch.tensor([2, 0, 3, 1])).numpy()
    )
    assert invert_permutation(None) is None


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_then_pad_backward_equals_torchs(rng, batch_first):
    x, xt = _pair(rng, (4, 5, 2) if batch_first else (5, 4, 2))
    lengths = [3, 5, 1, 4]
    p = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    q = R.pack_padded_sequence(xt, lengths, batch_first=batch_first, enforce_sorted=False)
    g = rng.standard_normal(tuple(q.data.shape))
    (p.data * pydlk.tensor(g)).sum().backward()
    (q.data * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
    # padding back: the gradient reaches the packed rows and not the padding
    d, dt = _pair(rng, tuple(q.data.shape))
    pp = PackedSequence(d, p.batch_sizes, p.sorted_indices, p.unsorted_indices)
    qq = R.PackedSequence(dt, q.batch_sizes, q.sorted_indices, q.unsorted_indices)
    y, _ = pad_packed_sequence(pp, batch_first, padding_value=2.0, total_length=6)
    yt, _ = R.pad_packed_sequence(qq, batch_first, padding_value=2.0, total_length=6)
    w = rng.standard_normal(tuple(yt.shape))
    (y * pydlk.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(d.grad.numpy(), dt.grad.numpy())


def test_pack_and_pad_pass_gradcheck(rng):
    x = pydlk.tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)

    def f(x):
        p = pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
        y, _ = pad_packed_sequence(PackedSequence(p.data * p.data, *p[1:]), total_length=5)
        return y

    assert pydlk.gradcheck(f, (x,))


# ----------------------------------------------------------------------------- recurrent layers


def _twins(mode, dtype, **kw):
    tm = getattr(torch.nn, mode)(3, 4, **kw).to(getattr(torch, np.dtype(dtype).name))
    pm = getattr(nn, mode)(3, 4, dtype=dtype, **kw)
    pm.load_state_dict({k: pydlk.tensor(_np(v)) for k, v in tm.state_dict().items()})
    return pm, tm


def _states(s):
    return s if isinstance(s, tuple) else (s,)


CASES = [
    dict(num_layers=1),
    dict(num_layers=2),
    dict(num_layers=1, bidirectional=True),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(num_layers=2, batch_first=True, bias=False),
]


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("lengths", [[6, 4, 4, 1, 1], [3, 6, 1, 6, 2]], ids=["sorted", "unsorted"])
@pytest.mark.parametrize("with_hx", [False, True])
def test_recurrent_layers_over_packed_input_equal_torch(rng, mode, kw, lengths, with_hx):
    """Output, h_n (c_n) and the gradients of the input, hx and every parameter equal torch's
    (float64) for a packed batch."""
    pm, tm = _twins(mode, np.float64, **kw)
    bf, sorted_ = kw.get("batch_first", False), lengths == sorted(lengths, reverse=True)
    x, xt = _pair(rng, (5, 6, 3) if bf else (6, 5, 3))
    D = 2 if kw.get("bidirectional") else 1
    hx = hxt = None
    if with_hx:
        hs = [_pair(rng, (kw["num_layers"] * D, 5, 4)) for _ in range(2 if mode == "LSTM" else 1)]
        hx, hxt = tuple(h for h, _ in hs), tuple(h for _, h in hs)
        if mode != "LSTM":
            hx, hxt = hx[0], hxt[0]
    p = pack_padded_sequence(x, lengths, batch_first=bf, enforce_sorted=sorted_)
    q = R.pack_padded_sequence(xt, lengths, batch_first=bf, enforce_sorted=sorted_)
    out, s = pm(p, hx)
    outt, st = tm(q, hxt)
    assert isinstance(out, PackedSequence)
    np.testing.assert_allclose(_np(out.data), _np(outt.data), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(out.batch_sizes.numpy(), outt.batch_sizes.numpy())
    for a, b in ((out.sorted_indices, outt.sorted_indices), (out[3], outt[3])):
        assert (a is None) == (b is None) and (a is None or a.tolist() == b.tolist())
    assert len(_states(s)) == len(_states(st))
    for a, b in zip(_states(s), _states(st)):
        assert a.shape == b.shape
        np.testing.assert_allclose(_np(a), _np(b), rtol=0, atol=1e-10)
    y, _ = pad_packed_sequence(out, bf)
    yt, _ = R.pad_packed_sequence(outt, bf)
    np.testing.assert_allclose(_np(y), _np(yt), rtol=0, atol=1e-10)  # zeros past each end
    g = rng.standard_normal(tuple(yt.shape))
    hw = [rng.standard_normal(tuple(b.shape)) for b in _states(st)]
    loss = (y * pydlk.tensor(g)).sum()
    for a, w in zip(_states(s), hw):
        loss = loss + (a * pydlk.tensor(w)).sum()
    loss.backward()
    losst = (yt * torch.tensor(g)).sum() + sum(
        (b * torch.tensor(w)).sum() for b, w in zip(_states(st), hw)
    )
    losst.backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=0, atol=1e-10)
    if with_hx:
        for a, b in zip(_states(hx), _states(hxt)):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=0, atol=1e-10)
    tp = dict(tm.named_parameters())
    assert set(tp) == {n for n, _ in pm.named_parameters()}
    for n, w in pm.named_parameters():
        np.testing.assert_allclose(
            w.grad.numpy(), tp[n].grad.numpy(), rtol=0, atol=1e-10, err_msg=n
        )


def test_float32_bilstm_over_packed_input_equals_torch(rng):
    pm, tm = _twins("LSTM", np.float32, num_layers=2, bidirectional=True)
    x, xt = _pair(rng, (7, 4, 3), np.float32)
    lengths = [5, 7, 2, 7]
    out, (h, c) = pm(pack_padded_sequence(x, lengths, enforce_sorted=False))
    outt, (ht, ct) = tm(R.pack_padded_sequence(xt, lengths, enforce_sorted=False))
    for a, b in ((out.data, outt.data), (h, ht), (c, ct)):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-5, atol=1e-5)
    (out.data.sum() + h.square().sum()).backward()
    (outt.data.sum() + ht.square().sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        pm.weight_hh_l1_reverse.grad.numpy(), tm.weight_hh_l1_reverse.grad.numpy(), atol=1e-5
    )


def test_dropout_between_layers_over_packed_input(rng):
    """dropout=1 zeroes the second layer's input in training (deterministic, as torch); eval
    leaves it out; either way nothing is written past a sequence's end."""
    pm, tm = _twins("GRU", np.float64, num_layers=2, dropout=1.0)
    x, xt = _pair(rng, (5, 3, 3))
    for training in (True, False):
        pm.train(training), tm.train(training)
        out, h = pm(pack_padded_sequence(x, [2, 5, 3], enforce_sorted=False))
        outt, ht = tm(R.pack_padded_sequence(xt, [2, 5, 3], enforce_sorted=False))
        np.testing.assert_allclose(_np(out.data), _np(outt.data), atol=1e-10)
        np.testing.assert_allclose(_np(h), _np(ht), atol=1e-10)
    pm2 = nn.LSTM(3, 4, num_layers=2, dropout=0.5, dtype=np.float64)
    y, _ = pad_packed_sequence(pm2(pack_padded_sequence(x, [2, 5, 3], enforce_sorted=False))[0])
    assert not _np(y)[2:, 0].any() and not _np(y)[3:, 2].any()


def test_packed_lstm_passes_gradcheck(rng):
    m = nn.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=np.float64)
    x = pydlk.tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)
    h0 = pydlk.tensor(rng.standard_normal((4, 3, 3)), requires_grad=True)

    def f(x, h0):
        out, (h, c) = m(pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False), (h0, h0))
        return pad_packed_sequence(out)[0].sum() + (h * c).sum()

    assert pydlk.gradcheck(f, (x, h0))


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "shape,lengths,kw,match",
    [
        ((4, 3, 2), [2, 4, 1], {}, "sorted in decreasing order"),
        ((4, 3, 2), [4, 2, 0], {}, "greater than 0"),
        ((4, 3, 2), [0, 4, 2], {"enforce_sorted": False}, "greater than 0"),
        ((4, 3, 2), [4, 2], {}, r"len\(lengths\)"),
        ((4, 3, 2), [5, 2, 1], {}, "only 4 time steps"),
        ((3, 4, 2), [5, 2, 1], {"batch_first": True}, "only 4 time steps"),
        ((0, 3, 2), [1, 1, 1], {}, "Cannot pack empty"),
        ((4,), [4], {}, "at least 2-D"),
        ((4, 3, 2), [[4, 2, 1]], {}, "1-D"),
    ],
)
def test_pack_padded_sequence_refuses_bad_arguments(shape, lengths, kw, match):
    with pytest.raises(ValueError, match=match):
        pack_padded_sequence(pydlk.zeros(*shape), lengths, **kw)


def test_other_bad_arguments_raise_clearly(rng):
    p = pack_sequence([pydlk.ones(3, 3), pydlk.ones(2, 3)])
    with pytest.raises(ValueError, match="total_length=2 and max sequence length being 3"):
        pad_packed_sequence(p, total_length=2)
    with pytest.raises(TypeError, match="PackedSequence"):
        pad_packed_sequence((p.data, p.batch_sizes))
    with pytest.raises(ValueError, match="empty list"):
        pack_sequence([])
    with pytest.raises(TypeError, match="integers"):
        pack_padded_sequence(pydlk.ones(3, 2), pydlk.tensor([True, False]))
    lstm = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"Expected hidden size \(1, 2, 4\), got \(1, 3, 4\)"):
        lstm(p, (pydlk.zeros(1, 3, 4), pydlk.zeros(1, 3, 4)))
    with pytest.raises(ValueError, match="input_size. Expected 5, got 3"):
        nn.GRU(5, 4)(p)
    with pytest.raises(ValueError, match="must be 2-D"):
        nn.RNN(3, 4)(PackedSequence(pydlk.ones(5, 1, 3), p.batch_sizes))


# ----------------------------------------------------------------------------- a training loop


def test_text_classifier_with_packing_trains_as_torch(rng):
    """Embedding -> pack (unsorted lengths) -> bidirectional LSTM -> h_n -> Linear -> cross
    entropy, five Adam steps: the losses and the final weights equal torch's."""
    vocab, B, T = 20, 6, 7

    def build(lib):
        class Net(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = lib.nn.Embedding(vocab, 5, padding_idx=0)
                self.rnn = lib.nn.LSTM(5, 8, batch_first=True, bidirectional=True)
                self.fc = lib.nn.Linear(16, 3)

            def forward(self, tokens, lengths):
                packed = lib.nn.utils.rnn.pack_padded_sequence(
                    self.emb(tokens), lengths, batch_first=True, enforce_sorted=False
                )
                _, (h, _) = self.rnn(packed)
                return self.fc(lib.cat([h[0], h[1]], 1))

        return Net().double()

    tnet, pnet = build(torch), build(pydlk)
    pnet.load_state_dict({k: pydlk.tensor(_np(v)) for k, v in tnet.state_dict().items()})
    topt = torch.optim.Adam(tnet.parameters(), lr=0.05)
    popt = pydlk.optim.Adam(pnet.parameters(), lr=0.05)
    for _ in range(5):
        lengths = rng.permutation(np.arange(2, T + 1))[:B]
        tokens = rng.integers(1, vocab, (B, T)) * (np.arange(T) < lengths[:, None])
        labels = rng.integers(0, 3, B)
        losses = []
        for lib, net, opt in ((torch, tnet, topt), (pydlk, pnet, popt)):
            opt.zero_grad()
            logits = net(lib.tensor(tokens), lengths.tolist())
            loss = lib.nn.functional.cross_entropy(logits, lib.tensor(labels))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=1e-10)
    tp = dict(tnet.named_parameters())
    for n, w in pnet.named_parameters():
        np.testing.assert_allclose(w.detach().numpy(), _np(tp[n]), atol=1e-9, err_msg=n)
