"""Conv1d, ConvTranspose1d/2d, Upsample, PReLU, RNN cells, the Transformer family, lazy
modules, the nn.modules import path, RNN.flatten_parameters and Adadelta: torch's state_dict
keys and shapes, torch state_dicts loaded and outputs and gradients compared with torch's,
NumPy references for the cells, gradient checks, bad arguments."""

import copy

import numpy as np
import pytest
from conftest import t64

import pydlk
from pydlk import nn

torch = pytest.importorskip("torch")

# torch's own notes about its nested-tensor inference path (not about pydlk)
_TORCH_NESTED = [
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
    pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors"),
]


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return np.asarray(np.asarray(t))
    if hasattr(t, "detach"):
        return t.detach().numpy()
    return np.asarray(t)


def _load_from_torch(m, tm):
    sd = tm.state_dict()
    assert list(m.state_dict()) == list(sd)
    if not getattr(m, "has_uninitialized_params", lambda: False)():
        for k, v in m.state_dict().items():
            assert tuple(v.shape) == tuple(sd[k].shape), k
    m.load_state_dict({k: v.detach().numpy() for k, v in sd.items()})


def _compare_module(m, tm, inputs, rng, rtol=1e-5, atol=1e-5, out_index=None, **kw):
    """Same weights and inputs: outputs, input gradients and parameter gradients agree."""
    _load_from_torch(m, tm)
    ps = [pydlk.tensor(a, requires_grad=True) for a in inputs]
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    yp, yt = m(*ps, **kw), tm(*ts, **{k: _to_torch(v) for k, v in kw.items()})
    if out_index is not None:
        yp, yt = yp[out_index], yt[out_index]
    np.testing.assert_allclose(_np(yp), _np(yt), rtol=rtol, atol=atol)
    dy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(dy))
    yp.backward(pydlk.tensor(dy))
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=rtol, atol=atol)
    tgrads = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(
            _np(p.grad), _np(tgrads[name].grad), rtol=rtol, atol=atol, err_msg=name
        )
    return _np(yp)


def _to_torch(v):
    if isinstance(v, pydlk.Tensor):
        return torch.tensor(np.asarray(v))
    if isinstance(v, np.ndarray):
        return torch.tensor(v)
    return v


# ----------------------------------------------------------------------------- convolutions


@pytest.mark.parametrize(
    "kw",
    [
        {"in_channels": 4, "out_channels": 6, "kernel_size": 3},
        {
            "in_channels": 4,
            "out_channels": 6,
            "kernel_size": 4,
            "padding": "same",
            "dilation": 2,
            "groups": 2,
        },
        {
            "in_channels": 4,
            "out_channels": 2,
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "bias": False,
        },
    ],
)
def test_conv1d_module(rng, kw):
    x = rng.standard_normal((2, 4, 11)).astype(np.float32)
    m = nn.Conv1d(**kw)
    y = _compare_module(m, torch.nn.Conv1d(**kw), [x], rng)
    # textbook: y[n, o, l] = b[o] + sum over the group's channels c and taps j of
    # w[o, c, j] x[n, g * C_g + c, l * stride + j * dilation] (x padded)
    w = _np(m.weight).astype(np.float64)
    b = np.zeros(w.shape[0]) if m.bias is None else _np(m.bias).astype(np.float64)
    k, st, dil, groups = (
        w.shape[-1],
        kw.get("stride", 1),
        kw.get("dilation", 1),
        kw.get("groups", 1),
    )
    pad = kw.get("padding", 0)
    left = right = pad
    if pad == "same":
        left, right = dil * (k - 1) // 2, dil * (k - 1) - dil * (k - 1) // 2
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (left, right)))
    L = (xp.shape[-1] - dil * (k - 1) - 1) // st + 1
    cg, og = w.shape[1], w.shape[0] // groups
    ref = np.zeros((x.shape[0], w.shape[0], L)) + b[None, :, None]
    for o in range(w.shape[0]):
        g = o // og
        for j in range(k):
            taps = xp[:, g * cg : (g + 1) * cg, j * dil : j * dil + st * (L - 1) + 1 : st]
            ref[:, o] += np.einsum("c,ncl->nl", w[o, :, j], taps)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "cls, tcls, shape, kw",
    [
        (
            nn.ConvTranspose1d,
            torch.nn.ConvTranspose1d,
            (2, 4, 7),
            {
                "in_channels": 4,
                "out_channels": 6,
                "kernel_size": 3,
                "stride": 2,
                "output_padding": 1,
                "groups": 2,
            },
        ),
        (
            nn.ConvTranspose2d,
            torch.nn.ConvTranspose2d,
            (2, 4, 5, 5),
            {"in_channels": 4, "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1},
        ),
        (
            nn.ConvTranspose2d,
            torch.nn.ConvTranspose2d,
            (2, 4, 5, 4),
            {
                "in_channels": 4,
                "out_channels": 6,
                "kernel_size": (2, 3),
                "stride": (1, 2),
                "dilation": 2,
                "groups": 2,
                "bias": False,
            },
        ),
    ],
)
def test_conv_transpose_modules(rng, cls, tcls, shape, kw):
    m, tm = cls(**kw), tcls(**kw)
    # torch's layout: (in_channels, out_channels/groups, kernel...)
    assert m.weight.shape == tuple(tm.weight.shape)
    _compare_module(m, tm, [rng.standard_normal(shape).astype(np.float32)], rng)


def test_conv_transpose2d_output_size(rng):
    kw = {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1}
    m, tm = nn.ConvTranspose2d(**kw), torch.nn.ConvTranspose2d(**kw)
    _load_from_torch(m, tm)
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    y = m(pydlk.tensor(x), output_size=(8, 8))
    yt = tm(torch.tensor(x), output_size=(8, 8))
    assert y.shape == (1, 3, 8, 8)
    np.testing.assert_allclose(_np(y), _np(yt), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="ConvTranspose2d: requested an output size"):
        m(pydlk.tensor(x), output_size=(10, 10))


def test_conv_default_init_bounds_follow_torch():
    # fan_in of a transposed weight is (out_channels/groups) * k, as torch computes it
    m = nn.ConvTranspose2d(8, 300, 3)
    bound = 1 / np.sqrt(300 * 9)
    assert (
        np.abs(np.asarray(m.bias)).max() <= bound and np.abs(np.asarray(m.bias)).max() > bound / 2
    )
    assert (
        np.abs(np.asarray(m.weight)).max() <= bound
    )  # kaiming_uniform_(a=sqrt(5)): 1/sqrt(fan_in)
    assert np.abs(np.asarray(m.weight)).max() > bound * 0.9


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: nn.Conv1d(3, 4, 3, groups=2), "Conv1d: in_channels must be divisible"),
        (lambda: nn.ConvTranspose2d(4, 4, 3, padding="same"), "ConvTranspose2d: padding"),
        (lambda: nn.Conv1d(4, 4, 3, padding_mode="bogus"), "Conv1d: padding_mode"),
        (lambda: nn.Conv1d(4, 4, 0), "Conv1d: kernel_size"),
        (lambda: nn.Conv1d(4, 4, 3, stride=2, padding="same"), "Conv1d: padding='same'"),
    ],
)
def test_conv_module_bad_arguments(make, words):
    with pytest.raises(ValueError, match=words):
        make()


# ----------------------------------------------------------------------------- upsample, prelu


@pytest.mark.parametrize(
    "kw",
    [
        {"scale_factor": 2},
        {"size": (5, 7), "mode": "bilinear"},
        {"scale_factor": 1.5, "mode": "bilinear", "align_corners": True},
        {"scale_factor": 2, "mode": "nearest-exact"},
    ],
)
def test_upsample(rng, kw):
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    y = _compare_module(nn.Upsample(**kw), torch.nn.Upsample(**kw), [x], rng)
    mode = kw.get("mode", "nearest")
    if mode.startswith("nearest"):  # scale 2: every pixel becomes a 2 x 2 block
        np.testing.assert_array_equal(y, np.repeat(np.repeat(x, 2, -1), 2, -2))
    else:  # bilinear: convex combinations of the pixels
        assert x.min() - 1e-6 <= y.min() and y.max() <= x.max() + 1e-6
    if kw.get("align_corners"):
        np.testing.assert_allclose(y[..., 0, 0], x[..., 0, 0], rtol=1e-6)
        np.testing.assert_allclose(y[..., -1, -1], x[..., -1, -1], rtol=1e-6)


def test_upsampling_aliases(rng):
    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(
        _np(nn.UpsamplingBilinear2d(scale_factor=2)(x)),
        _np(torch.nn.UpsamplingBilinear2d(scale_factor=2)(torch.tensor(x))),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_array_equal(
        _np(nn.UpsamplingNearest2d(size=6)(x)), x.repeat(2, 2).repeat(2, 3)
    )


@pytest.mark.parametrize("n, shape", [(1, (2, 3, 4)), (3, (2, 3, 4, 4)), (3, (5, 3))])
def test_prelu_module(rng, n, shape):
    m, tm = nn.PReLU(n, init=0.1), torch.nn.PReLU(n, init=0.1)
    np.testing.assert_array_equal(np.asarray(m.weight), tm.weight.detach().numpy())
    tm.weight.data.uniform_(-0.5, 0.5)
    _compare_module(m, tm, [rng.standard_normal(shape).astype(np.float32)], rng)


# ----------------------------------------------------------------------------- RNN cells


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _cell_ref(kind, x, h, c, sd):
    """The textbook step in float64, gate order as torch documents it."""
    wi, wh = sd["weight_ih"].astype(np.float64), sd["weight_hh"].astype(np.float64)
    bi, bh = sd["bias_ih"].astype(np.float64), sd["bias_hh"].astype(np.float64)
    gi, gh = x @ wi.T + bi, h @ wh.T + bh
    if kind == "rnn":
        return np.tanh(gi + gh), None
    if kind == "lstm":
        i, f, g, o = np.split(gi + gh, 4, axis=1)
        c2 = _sig(f) * c + _sig(i) * np.tanh(g)
        return _sig(o) * np.tanh(c2), c2
    ir, iz, inn = np.split(gi, 3, axis=1)
    hr, hz, hn = np.split(gh, 3, axis=1)
    r, z = _sig(ir + hr), _sig(iz + hz)
    n = np.tanh(inn + r * hn)
    return (1 - z) * n + z * h, None


@pytest.mark.parametrize(
    "kind, cls, tcls",
    [
        ("rnn", nn.RNNCell, torch.nn.RNNCell),
        ("lstm", nn.LSTMCell, torch.nn.LSTMCell),
        ("gru", nn.GRUCell, torch.nn.GRUCell),
    ],
)
def test_cells_reference_and_torch(rng, kind, cls, tcls):
    m, tm = cls(5, 7), tcls(5, 7)
    _load_from_torch(m, tm)
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    x = rng.standard_normal((3, 5)).astype(np.float32)
    h = rng.standard_normal((3, 7)).astype(np.float32)
    c = rng.standard_normal((3, 7)).astype(np.float32)
    hx = (pydlk.tensor(h), pydlk.tensor(c)) if kind == "lstm" else pydlk.tensor(h)
    out = m(pydlk.tensor(x), hx)
    ref_h, ref_c = _cell_ref(kind, x.astype(np.float64), h, c, sd)
    got_h = out[0] if kind == "lstm" else out
    np.testing.assert_allclose(_np(got_h), ref_h, rtol=1e-5, atol=1e-6)
    if kind == "lstm":
        np.testing.assert_allclose(_np(out[1]), ref_c, rtol=1e-5, atol=1e-6)
    # gradients of x, h (and c) and every weight against torch
    xs = [x, h, c] if kind == "lstm" else [x, h]
    ps = [pydlk.tensor(a, requires_grad=True) for a in xs]
    ts = [torch.tensor(a, requires_grad=True) for a in xs]
    if kind == "lstm":
        yp, ytt = m(ps[0], (ps[1], ps[2])), tm(ts[0], (ts[1], ts[2]))
        lp, lt = (yp[0] * 2 + yp[1]).sum(), (ytt[0] * 2 + ytt[1]).sum()
    else:
        lp, lt = (m(ps[0], ps[1]) ** 2).sum(), (tm(ts[0], ts[1]) ** 2).sum()
    lp.backward()
    lt.backward()
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=1e-5, atol=1e-5)
    tg = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(_np(p.grad), _np(tg[name].grad), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "cls, tcls",
    [
        (nn.RNNCell, torch.nn.RNNCell),
        (nn.LSTMCell, torch.nn.LSTMCell),
        (nn.GRUCell, torch.nn.GRUCell),
    ],
)
def test_cells_default_state_unbatched_no_bias(rng, cls, tcls):
    m, tm = cls(4, 3, bias=False), tcls(4, 3, bias=False)
    _load_from_torch(m, tm)
    x = rng.standard_normal(4).astype(np.float32)
    a, b = m(pydlk.tensor(x)), tm(torch.tensor(x))
    if isinstance(b, tuple):
        assert a[1].shape == (3,)
        a, b = a[0], b[0]
    assert a.shape == (3,)
    np.testing.assert_allclose(_np(a), _np(b), rtol=1e-5, atol=1e-6)


def test_rnncell_relu_and_gradcheck(rng):
    m = nn.RNNCell(3, 4, nonlinearity="relu", dtype=np.float64)
    tm = torch.nn.RNNCell(3, 4, nonlinearity="relu").double()
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((2, 3))
    np.testing.assert_allclose(_np(m(x)), tm(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    g = nn.GRUCell(3, 4, dtype=np.float64)
    assert pydlk.gradcheck(lambda a, h: g(a, h), (t64(x), t64(rng.standard_normal((2, 4)))))


def test_cells_bad_arguments():
    with pytest.raises(ValueError, match="RNNCell: Unknown nonlinearity"):
        nn.RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="LSTMCell: hidden_size must be greater than zero"):
        nn.LSTMCell(3, 0)
    with pytest.raises(ValueError, match="GRUCell: input has 5 features"):
        nn.GRUCell(3, 4)(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="LSTMCell: hx must be a tuple of 2"):
        nn.LSTMCell(3, 4)(np.zeros((2, 3), np.float32), (np.zeros((2, 4), np.float32),))
    with pytest.raises(ValueError, match="RNNCell: Expected input to be 1D or 2D"):
        nn.RNNCell(3, 4)(np.zeros((2, 2, 3), np.float32))


# ----------------------------------------------------------------------------- transformer

_TKW = {"d_model": 8, "nhead": 2, "dim_feedforward": 16}


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_eval_and_grads(rng, norm_first, batch_first, activation):
    kw = dict(
        _TKW, norm_first=norm_first, batch_first=batch_first, activation=activation, dropout=0.0
    )
    m, tm = nn.TransformerEncoderLayer(**kw), torch.nn.TransformerEncoderLayer(**kw)
    x = rng.standard_normal((5, 3, 8)).astype(np.float32)
    L = 3 if batch_first else 5
    mask = nn.Transformer.generate_square_subsequent_mask(L)
    _compare_module(m, tm, [x], rng, src_mask=mask)
    m.eval()
    tm.eval()
    kp = np.zeros((3, 5) if not batch_first else (5, 3), bool)
    kp[0, -1] = True
    with torch.no_grad():
        yt = tm(torch.tensor(x), src_key_padding_mask=torch.tensor(kp))
    np.testing.assert_allclose(_np(m(x, src_key_padding_mask=kp)), yt.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_vs_torch(rng, norm_first):
    kw = dict(_TKW, norm_first=norm_first, dropout=0.0)
    m, tm = nn.TransformerDecoderLayer(**kw), torch.nn.TransformerDecoderLayer(**kw)
    tgt = rng.standard_normal((4, 2, 8)).astype(np.float32)
    mem = rng.standard_normal((6, 2, 8)).astype(np.float32)
    mk = np.zeros((2, 6), bool)
    mk[1, :2] = True
    tmask = nn.Transformer.generate_square_subsequent_mask(4)
    y = _compare_module(m, tm, [tgt, mem], rng, tgt_mask=tmask, memory_key_padding_mask=mk)
    # causal: the first target position does not see the later ones
    later = tgt.copy()
    later[1:] += 1.0
    with pydlk.no_grad():
        y2 = _np(m(pydlk.tensor(later), pydlk.tensor(mem), tgt_mask=tmask,
                   memory_key_padding_mask=mk))  # fmt: skip
    np.testing.assert_allclose(y2[0], y[0], rtol=1e-5, atol=1e-6)
    assert np.abs(y2[1:] - y[1:]).max() > 1e-3


@pytest.mark.parametrize("batch_first", [False, True])
@_TORCH_NESTED[0]
@_TORCH_NESTED[1]
def test_transformer_state_dict_loads_and_matches_in_eval(rng, batch_first):
    kw = dict(_TKW, num_encoder_layers=2, num_decoder_layers=2, batch_first=batch_first)
    m, tm = nn.Transformer(**kw), torch.nn.Transformer(**kw)
    _load_from_torch(m, tm)
    m.eval()
    tm.eval()
    src = rng.standard_normal((5, 3, 8)).astype(np.float32)
    tgt = rng.standard_normal((4, 3, 8) if not batch_first else (5, 4, 8)).astype(np.float32)
    # (S, N) = (5, 3), or (N, S) = (5, 3) with batch_first; key padding masks are (N, S)
    skp = np.zeros((5, 3) if batch_first else (3, 5), bool)
    skp[0, -1] = True
    T = tgt.shape[1] if batch_first else tgt.shape[0]
    tmask = nn.Transformer.generate_square_subsequent_mask(T)
    y = m(src, tgt, tgt_mask=tmask, src_key_padding_mask=skp, memory_key_padding_mask=skp)
    with torch.no_grad():
        yt = tm(
            torch.tensor(src),
            torch.tensor(tgt),
            tgt_mask=_to_torch(tmask),
            src_key_padding_mask=torch.tensor(skp),
            memory_key_padding_mask=torch.tensor(skp),
        )
    np.testing.assert_allclose(_np(y), yt.numpy(), rtol=1e-5, atol=1e-5)


@_TORCH_NESTED[0]
def test_transformer_train_mode_gradients_without_dropout(rng):
    kw = dict(_TKW, num_encoder_layers=1, num_decoder_layers=1, dropout=0.0)
    m, tm = nn.Transformer(**kw), torch.nn.Transformer(**kw)
    src = rng.standard_normal((5, 2, 8)).astype(np.float32)
    tgt = rng.standard_normal((3, 2, 8)).astype(np.float32)
    tmask = nn.Transformer.generate_square_subsequent_mask(3)
    y = _compare_module(m, tm, [src, tgt], rng, rtol=1e-4, atol=1e-5, tgt_mask=tmask)
    # causal: the first target position does not see the later ones
    later = tgt.copy()
    later[1:] += 1.0
    with pydlk.no_grad():
        y2 = _np(m(pydlk.tensor(src), pydlk.tensor(later), tgt_mask=tmask))
    np.testing.assert_allclose(y2[0], y[0], rtol=1e-5, atol=1e-6)
    assert np.abs(y2[1:] - y[1:]).max() > 1e-3


def test_transformer_encoder_with_norm_and_is_causal(rng):
    layer, tlayer = (
        nn.TransformerEncoderLayer(**_TKW, dropout=0.0),
        torch.nn.TransformerEncoderLayer(**_TKW, dropout=0.0),
    )
    m = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(8))
    tm = torch.nn.TransformerEncoder(
        tlayer, 3, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False
    )
    for p in tm.parameters():
        p.data.normal_()
    x = rng.standard_normal((6, 2, 8)).astype(np.float32)
    mask = nn.Transformer.generate_square_subsequent_mask(6)
    y = _compare_module(m, tm, [x], rng, rtol=1e-4, atol=1e-4, mask=mask, is_causal=True)
    # causal: the first two positions do not see the later ones
    later = x.copy()
    later[2:] += 1.0
    with pydlk.no_grad():
        y2 = _np(m(pydlk.tensor(later), mask=mask, is_causal=True))
    np.testing.assert_allclose(y2[:2], y[:2], rtol=1e-4, atol=1e-5)
    assert np.abs(y2[2:] - y[2:]).max() > 1e-3


def test_generate_square_subsequent_mask():
    m = nn.Transformer.generate_square_subsequent_mask(4)
    ref = np.where(np.arange(4)[None, :] > np.arange(4)[:, None], -np.inf, 0.0)
    np.testing.assert_array_equal(_np(m), ref)
    np.testing.assert_array_equal(
        _np(m), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy()
    )
    assert m.dtype == np.float32


def test_transformer_layers_are_independent_copies():
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(**_TKW), 2)
    enc.layers[0].linear1.weight.data[...] = 0
    assert np.abs(np.asarray(enc.layers[1].linear1.weight)).sum() > 0


def test_transformer_bad_arguments():
    with pytest.raises(ValueError, match="TransformerEncoderLayer: activation should be"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(ValueError, match="MultiheadAttention: embed_dim must be divisible"):
        nn.TransformerDecoderLayer(8, 3)
    with pytest.raises(ValueError, match="TransformerEncoderLayer: dim_feedforward"):
        nn.TransformerEncoderLayer(8, 2, dim_feedforward=0)
    t = nn.Transformer(**_TKW, num_encoder_layers=1, num_decoder_layers=1)
    with pytest.raises(ValueError, match="Transformer: the batch number"):
        t(np.zeros((3, 2, 8), np.float32), np.zeros((3, 4, 8), np.float32))
    with pytest.raises(ValueError, match="Transformer: the feature number"):
        t(np.zeros((3, 2, 6), np.float32), np.zeros((3, 2, 6), np.float32))


# ----------------------------------------------------------------------------- lazy modules


def test_lazy_linear_infers_and_becomes_linear(rng):
    m = nn.LazyLinear(4)
    assert isinstance(m.weight, nn.UninitializedParameter)
    x = rng.standard_normal((2, 6)).astype(np.float32)
    y = m(x)
    assert type(m) is nn.Linear and m.in_features == 6 and m.weight.shape == (4, 6)
    assert y.shape == (2, 4)
    assert 0 < np.abs(np.asarray(m.weight)).max() <= 1 / np.sqrt(6)  # torch's init bound
    tm = torch.nn.Linear(6, 4)
    _compare_module(m, tm, [x], rng)


def test_lazy_conv_and_batchnorm(rng):
    seq = nn.Sequential(nn.LazyConv2d(4, 3, padding=1, groups=2), nn.LazyBatchNorm2d(), nn.ReLU())
    x = rng.standard_normal((2, 6, 5, 5)).astype(np.float32)
    seq(x)
    assert type(seq[0]) is nn.Conv2d and seq[0].weight.shape == (4, 3, 3, 3)
    assert type(seq[1]) is nn.BatchNorm2d and seq[1].running_mean.shape == (4,)
    assert int(np.asarray(seq[1].num_batches_tracked)) == 1
    c1 = nn.LazyConv1d(3, 2)
    assert c1(rng.standard_normal((2, 5, 7)).astype(np.float32)).shape == (2, 3, 6)
    assert type(c1) is nn.Conv1d and c1.in_channels == 5
    bn = nn.LazyBatchNorm1d(affine=False)
    bn(rng.standard_normal((4, 3)).astype(np.float32))
    assert type(bn) is nn.BatchNorm1d and bn.running_var.shape == (3,) and bn.weight is None
    tbn = torch.nn.BatchNorm1d(3, affine=False)
    x1 = rng.standard_normal((8, 3)).astype(np.float32)
    _compare_module(nn.LazyBatchNorm1d(affine=False), tbn, [x1], rng)


def test_lazy_optimizer_made_before_first_forward_works(rng):
    """torch lets an optimiser hold lazy parameters; pydlk re-packs its arena on materialising."""
    m = nn.Sequential(nn.Linear(3, 5), nn.LazyLinear(2))
    opt = pydlk.optim.SGD(m.parameters(), lr=0.1)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    loss = (m(x) ** 2).sum()
    opt.zero_grad()
    loss.backward()
    w = m[1].weight
    before, g = np.asarray(w).copy(), np.asarray(w.grad).copy()
    opt.step()
    np.testing.assert_allclose(np.asarray(w), before - 0.1 * g, rtol=1e-6)
    assert any(p is w for p in opt.param_groups[0]["params"])


def test_lazy_load_state_dict_materialises(rng):
    tm = torch.nn.Conv2d(3, 4, 3)
    m = nn.LazyConv2d(4, 3)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    assert type(m) is nn.Conv2d and m.in_channels == 3
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(
        _np(m(x)), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5
    )


def test_lazy_bad_input():
    with pytest.raises(ValueError, match="LazyConv2d: the input has 3 channels, not divisible"):
        nn.LazyConv2d(4, 3, groups=2)(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="LazyBatchNorm1d: expected an input with at least 2"):
        nn.LazyBatchNorm1d()(np.zeros(3, np.float32))


# ----------------------------------------------------------------------------- import paths etc


def test_nn_modules_import_path():
    from pydlk.nn.modules.batchnorm import _BatchNorm
    from pydlk.nn.modules.conv import Conv2d
    from pydlk.nn.modules.linear import Linear
    from pydlk.nn.modules.module import Module
    from pydlk.nn.modules.transformer import TransformerEncoderLayer

    from pydlk.nn import modules

    assert Linear is nn.Linear and Conv2d is nn.Conv2d and Module is nn.Module
    assert TransformerEncoderLayer is nn.TransformerEncoderLayer
    assert issubclass(nn.BatchNorm2d, _BatchNorm)
    assert modules.LSTMCell is nn.LSTMCell and "Conv1d" in modules.__all__


def test_flatten_parameters_is_a_noop(rng):
    lstm = nn.LSTM(3, 4)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    before = _np(lstm(x)[0])
    assert lstm.flatten_parameters() is None
    np.testing.assert_array_equal(_np(lstm(x)[0]), before)


def test_deepcopy_of_new_modules(rng):
    m = nn.TransformerDecoderLayer(**_TKW)
    c = copy.deepcopy(m)
    c.linear1.weight.data[...] = 0
    assert np.abs(np.asarray(m.linear1.weight)).sum() > 0


# ----------------------------------------------------------------------------- Adadelta


@pytest.mark.parametrize(
    "kw", [{}, {"lr": 0.5, "rho": 0.8, "eps": 1e-4, "weight_decay": 0.1}, {"maximize": True}]
)
def test_adadelta_vs_torch(rng, kw):
    w0 = rng.standard_normal((3, 4)).astype(np.float32)
    b0 = rng.standard_normal(4).astype(np.float32)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    pw, pb = nn.Parameter(w0.copy()), nn.Parameter(b0.copy())
    to, po = torch.optim.Adadelta([tw, tb], **kw), pydlk.optim.Adadelta([pw, pb], **kw)
    for _ in range(6):
        g1 = rng.standard_normal(w0.shape).astype(np.float32)
        g2 = rng.standard_normal(b0.shape).astype(np.float32)
        tw.grad, tb.grad = torch.tensor(g1), torch.tensor(g2)
        pw.grad, pb.grad = pydlk.tensor(g1), pydlk.tensor(g2)
        to.step()
        po.step()
    np.testing.assert_allclose(np.asarray(pw), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(pb), tb.detach().numpy(), rtol=1e-5, atol=1e-6)
    ts, ps = to.state_dict(), po.state_dict()
    for i in (0, 1):
        assert set(ps["state"][i]) == set(ts["state"][i]) == {"step", "square_avg", "acc_delta"}
        for k in ("square_avg", "acc_delta"):
            np.testing.assert_allclose(
                np.asarray(ps["state"][i][k]), ts["state"][i][k].numpy(), rtol=1e-5, atol=1e-9
            )
    assert po.param_groups[0]["rho"] == ts["param_groups"][0]["rho"]


def test_adadelta_reference_step():
    """One step by the formula in float64: square_avg = (1-rho) g^2, delta = sqrt(eps) /
    sqrt(square_avg + eps) * g."""
    p0, g = np.array([1.0, -2.0, 0.5]), np.array([0.3, -1.0, 2.0])
    p = nn.Parameter(p0.copy())
    opt = pydlk.optim.Adadelta([p], lr=0.7, rho=0.6, eps=1e-3)
    p.grad = pydlk.tensor(g)
    opt.step()
    sq = 0.4 * g * g
    delta = np.sqrt(1e-3) / np.sqrt(sq + 1e-3) * g
    np.testing.assert_allclose(np.asarray(p), p0 - 0.7 * delta, rtol=1e-12)
    np.testing.assert_allclose(opt.state[p]["acc_delta"], 0.4 * delta**2, rtol=1e-12)


def test_adadelta_state_dict_round_trip(rng):
    p = nn.Parameter(rng.standard_normal(5).astype(np.float32))
    opt = pydlk.optim.Adadelta([p])
    p.grad = pydlk.tensor(rng.standard_normal(5).astype(np.float32))
    opt.step()
    q = nn.Parameter(np.asarray(p).copy())
    opt2 = pydlk.optim.Adadelta([q])
    opt2.load_state_dict(opt.state_dict())
    g = rng.standard_normal(5).astype(np.float32)
    p.grad, q.grad = pydlk.tensor(g), pydlk.tensor(g)
    opt.step()
    opt2.step()
    np.testing.assert_array_equal(np.asarray(p), np.asarray(q))


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"lr": -1}, "learning rate"),
        ({"rho": 1.5}, "rho"),
        ({"eps": -1}, "epsilon"),
        ({"weight_decay": -0.1}, "weight_decay"),
    ],
)
def test_adadelta_bad_arguments(kw, words):
    with pytest.raises(ValueError, match=f"Adadelta: invalid {words}"):
        pydlk.optim.Adadelta([nn.Parameter(np.zeros(2, np.float32))], **kw)
