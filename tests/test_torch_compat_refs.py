"""The references the other torch-compatibility tests leave out, so that each op of that family
meets all three: a NumPy formula written here, a float64 gradient check, torch as the oracle.

sort (values and descending order), scatter (NumPy put_along_axis), narrow, meshgrid's
gradient, conv_transpose1d by its definition, linear/bilinear and nearest interpolation by
their index formulas, Upsample's gradient, the LSTM and RNN cells' gradients, the Transformer
encoder and decoder layers as the textbook equations, Adadelta over several steps with weight
decay and maximize, and LazyLinear once materialised."""

import numpy as np
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F
from pydlk import nn

torch = pytest.importorskip("torch")


def _distinct(shape, seed=0):
    """Distinct values (no ties), so sort orders are unique."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape).astype(np.float64) / n


# ----------------------------------------------------------------------------- sort, scatter


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_values_and_indices_are_numpy_sort(dim, descending):
    a = _distinct((4, 6), seed=3)
    v, i = pydlk.sort(pydlk.tensor(a), dim=dim, descending=descending)
    order = np.argsort(-a if descending else a, axis=dim)
    np.testing.assert_array_equal(np.asarray(i), order)
    np.testing.assert_array_equal(np.asarray(v), np.take_along_axis(a, order, dim))
    np.testing.assert_array_equal(
        np.asarray(pydlk.argsort(pydlk.tensor(a), dim=dim, descending=descending)), order
    )
    vt, it = torch.sort(torch.tensor(a), dim=dim, descending=descending)
    np.testing.assert_array_equal(np.asarray(i), it.numpy())
    np.testing.assert_array_equal(np.asarray(v), vt.numpy())


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_is_numpy_put_along_axis(dim):
    a = _distinct((4, 5))
    src = _distinct((4, 5), seed=1) + 10
    rng = np.random.default_rng(dim)
    # a permutation along dim: every target written once, so the result is defined
    perm = np.argsort(rng.random((4, 5)), axis=dim)
    idx = perm[:3] if dim == 0 else perm[:, :3]
    ref = a.copy()
    np.put_along_axis(ref, idx, np.take(src, range(idx.shape[dim]), axis=dim), axis=dim)
    got = pydlk.scatter(pydlk.tensor(a), dim, pydlk.tensor(idx), pydlk.tensor(src))
    np.testing.assert_array_equal(np.asarray(got), ref)
    tgot = torch.scatter(torch.tensor(a), dim, torch.tensor(idx), torch.tensor(src))
    np.testing.assert_array_equal(np.asarray(got), tgot.numpy())
    ref_v = a.copy()
    np.put_along_axis(ref_v, idx, -3.0, axis=dim)
    np.testing.assert_array_equal(
        np.asarray(pydlk.scatter(pydlk.tensor(a), dim, pydlk.tensor(idx), value=-3.0)), ref_v
    )
    # the gradient: src's read positions get dy at their targets, input's overwritten ones 0
    assert pydlk.gradcheck(
        lambda x, s: pydlk.scatter(x, dim, pydlk.tensor(idx), s), (t64(a), t64(src))
    )


# ----------------------------------------------------------------------------- narrow, meshgrid


@pytest.mark.parametrize("dim, start, length", [(0, 1, 2), (1, -3, 3), (1, 0, 0), (-1, 2, 1)])
def test_narrow_is_a_slice(dim, start, length):
    a = _distinct((3, 5))
    got = pydlk.narrow(pydlk.tensor(a), dim, start, length)
    s = start % a.shape[dim]
    ref = a[s : s + length] if dim == 0 else a[:, s : s + length]
    np.testing.assert_array_equal(np.asarray(got), ref)
    np.testing.assert_array_equal(
        np.asarray(got), torch.narrow(torch.tensor(a), dim, start, length).numpy()
    )
    if length:
        assert pydlk.gradcheck(lambda x: pydlk.narrow(x, dim, start, length) ** 2, (t64(a),))


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_gradcheck(indexing):
    xs = [_distinct((n,), seed=n) for n in (2, 3, 4)]

    def f(a, b, c):
        g = pydlk.meshgrid(a, b, c, indexing=indexing)
        return g[0] * g[1] + g[2] ** 2

    assert pydlk.gradcheck(f, tuple(t64(x) for x in xs))


# ----------------------------------------------------------------------------- conv_transpose1d


def _conv_t1d_ref(x, w, b, stride, padding, output_padding, groups, dilation):
    """conv_transpose1d by its definition: each input sample scatters w into the output."""
    N, C, L = x.shape
    _, og, k = w.shape
    Lo = (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
    full = np.zeros((N, og * groups, Lo + 2 * padding + k * dilation))
    cg = C // groups
    for c in range(C):
        g = c // cg
        for i in range(L):
            for a in range(k):
                full[:, g * og : (g + 1) * og, i * stride + a * dilation] += (
                    x[:, c, i, None] * w[c, :, a]
                )
    y = full[:, :, padding : padding + Lo]
    return y if b is None else y + b[None, :, None]


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"stride": 2, "padding": 1, "output_padding": 1},
        {"groups": 2, "dilation": 2},
        {"stride": 3, "padding": 2, "dilation": 2, "output_padding": 1},
    ],
)
def test_conv_transpose1d_definition(rng, kw):
    groups = kw.get("groups", 1)
    x = rng.standard_normal((2, 4, 7))
    w = rng.standard_normal((4, 3, 3))
    b = rng.standard_normal(3 * groups)
    full = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "dilation": 1, **kw}
    ref = _conv_t1d_ref(
        x, w, b, full["stride"], full["padding"], full["output_padding"], groups, full["dilation"]
    )
    got = np.asarray(F.conv_transpose1d(x, w, b, **kw))
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)
    tref = torch.nn.functional.conv_transpose1d(
        torch.tensor(x), torch.tensor(w), torch.tensor(b), **kw
    )
    np.testing.assert_allclose(got, tref.numpy(), rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- interpolate


def _linear_1d(a, out, axis, align_corners):
    """Linear resampling along one axis by the index formula: align_corners maps the end
    samples onto each other, else sample centres (half-pixel, clamped at 0)."""
    n = a.shape[axis]
    d = np.arange(out, dtype=np.float64)
    if align_corners:
        src = d * ((n - 1) / (out - 1) if out > 1 else 0.0)
    else:
        src = np.maximum((d + 0.5) * n / out - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = src - i0
    shape = [1] * a.ndim
    shape[axis] = out
    lam = lam.reshape(shape)
    return np.take(a, i0, axis=axis) * (1 - lam) + np.take(a, i1, axis=axis) * lam


def _nearest_1d(a, out, axis, exact):
    n = a.shape[axis]
    d = np.arange(out, dtype=np.float64)
    src = np.floor((d + 0.5) * n / out) if exact else np.floor(d * n / out)
    return np.take(a, np.minimum(src.astype(int), n - 1), axis=axis)


@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("size", [(7, 3), (4, 11), (1, 5)])
def test_bilinear_is_two_linear_passes(rng, align, size):
    x = rng.standard_normal((2, 3, 5, 6))
    ref = _linear_1d(_linear_1d(x, size[0], 2, align), size[1], 3, align)
    got = np.asarray(F.interpolate(x, size=size, mode="bilinear", align_corners=align))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    tgot = torch.nn.functional.interpolate(
        torch.tensor(x), size=size, mode="bilinear", align_corners=align
    )
    np.testing.assert_allclose(got, tgot.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "linear"])
@pytest.mark.parametrize("out", [3, 7, 12])
def test_1d_resampling_index_formulas(rng, mode, out):
    x = rng.standard_normal((2, 3, 5))
    if mode == "linear":
        ref = _linear_1d(x, out, 2, False)
    else:
        ref = _nearest_1d(x, out, 2, mode == "nearest-exact")
    got = np.asarray(F.interpolate(x, size=out, mode=mode))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    tgot = torch.nn.functional.interpolate(torch.tensor(x), size=out, mode=mode)
    np.testing.assert_allclose(got, tgot.numpy(), rtol=1e-12, atol=1e-12)
    assert pydlk.gradcheck(lambda t: F.interpolate(t, size=out, mode=mode), (t64(x[:1]),))


@pytest.mark.parametrize(
    "kw",
    [
        {"scale_factor": 2},
        {"size": (3, 7), "mode": "bilinear"},
        {"scale_factor": 1.5, "mode": "bilinear", "align_corners": True},
    ],
)
def test_upsample_module_gradcheck(rng, kw):
    x = t64(rng.standard_normal((1, 2, 3, 4)))
    assert pydlk.gradcheck(nn.Upsample(**kw), (x,))


# ----------------------------------------------------------------------------- recurrent cells


def test_lstm_and_rnn_cell_gradchecks(rng):
    x, h, c = (t64(rng.standard_normal((2, 3))),) + tuple(
        t64(rng.standard_normal((2, 4))) for _ in range(2)
    )
    lstm = nn.LSTMCell(3, 4, dtype=np.float64)
    assert pydlk.gradcheck(lambda a, b, d: lstm(a, (b, d))[0] * 2 + lstm(a, (b, d))[1], (x, h, c))
    rnn = nn.RNNCell(3, 4, dtype=np.float64)
    assert pydlk.gradcheck(lambda a, b: rnn(a, b), (x, h))


# ----------------------------------------------------------------------------- transformer


def _ln(x, w, b, eps=1e-5):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def _mha(q, k, v, sd, p, nhead, attn_mask=None, key_padding_mask=None):
    """Multi-head attention on (L, N, E) inputs as torch documents it: packed in-projection,
    scaled dot products per head, additive float mask, True in the padding mask = ignored."""
    E = q.shape[-1]
    W, bias = sd[p + "in_proj_weight"], sd[p + "in_proj_bias"]
    qs, ks, vs = (
        t @ W[i * E : (i + 1) * E].T + bias[i * E : (i + 1) * E] for i, t in enumerate((q, k, v))
    )
    d = E // nhead

    def heads(t):  # (L, N, E) -> (N, h, L, d)
        return t.reshape(t.shape[0], t.shape[1], nhead, d).transpose(1, 2, 0, 3)

    s = heads(qs) @ heads(ks).transpose(0, 1, 3, 2) / np.sqrt(d)
    if attn_mask is not None:
        s = s + attn_mask
    if key_padding_mask is not None:
        s = np.where(key_padding_mask[:, None, None, :], -np.inf, s)
    s = np.exp(s - s.max(-1, keepdims=True))
    o = (s / s.sum(-1, keepdims=True)) @ heads(vs)  # (N, h, L, d)
    o = o.transpose(2, 0, 1, 3).reshape(q.shape[0], q.shape[1], E)
    return o @ sd[p + "out_proj.weight"].T + sd[p + "out_proj.bias"]


def _ff(x, sd):
    h = np.maximum(x @ sd["linear1.weight"].T + sd["linear1.bias"], 0)
    return h @ sd["linear2.weight"].T + sd["linear2.bias"]


def _encoder_ref(x, sd, nhead, norm_first, mask, kpm):
    def norm(i, t):
        return _ln(t, sd[f"norm{i}.weight"], sd[f"norm{i}.bias"])

    def sa(t):
        return _mha(t, t, t, sd, "self_attn.", nhead, mask, kpm)

    if norm_first:
        x = x + sa(norm(1, x))
        return x + _ff(norm(2, x), sd)
    x = norm(1, x + sa(x))
    return norm(2, x + _ff(x, sd))


def _decoder_ref(x, mem, sd, nhead, norm_first, tgt_mask, mem_kpm):
    def norm(i, t):
        return _ln(t, sd[f"norm{i}.weight"], sd[f"norm{i}.bias"])

    def sa(t):
        return _mha(t, t, t, sd, "self_attn.", nhead, tgt_mask)

    def ca(t):
        return _mha(t, mem, mem, sd, "multihead_attn.", nhead, None, mem_kpm)

    if norm_first:
        x = x + sa(norm(1, x))
        x = x + ca(norm(2, x))
        return x + _ff(norm(3, x), sd)
    x = norm(1, x + sa(x))
    x = norm(2, x + ca(x))
    return norm(3, x + _ff(x, sd))


_TKW = {"d_model": 8, "nhead": 2, "dim_feedforward": 12, "dropout": 0.0}


def _pair(cls, tcls, norm_first):
    """A float64 pydlk layer holding a torch layer's (randomised) weights, and those weights."""
    tm = tcls(**_TKW, norm_first=norm_first).double()
    with torch.no_grad():
        for p in tm.parameters():
            p.normal_(0, 0.5)
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    m = cls(**_TKW, norm_first=norm_first, dtype=np.float64)
    m.load_state_dict(sd)
    return m, tm, sd


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_textbook_equations_and_gradcheck(rng, norm_first):
    m, tm, sd = _pair(nn.TransformerEncoderLayer, torch.nn.TransformerEncoderLayer, norm_first)
    x = rng.standard_normal((5, 3, 8))
    mask = np.asarray(nn.Transformer.generate_square_subsequent_mask(5), np.float64)
    kpm = np.zeros((3, 5), bool)
    kpm[1, -2:] = True
    ref = _encoder_ref(x, sd, 2, norm_first, mask, kpm)
    got = np.asarray(m(t64(x, False), src_mask=mask, src_key_padding_mask=kpm))
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)
    with torch.no_grad():
        # torch warns on a bool padding mask beside a float attention mask: give it floats
        fkpm = torch.tensor(np.where(kpm, -np.inf, 0.0))
        tgot = tm(torch.tensor(x), src_mask=torch.tensor(mask), src_key_padding_mask=fkpm)
    np.testing.assert_allclose(got, tgot.numpy(), rtol=1e-10, atol=1e-10)
    small = t64(rng.standard_normal((3, 2, 8)))
    assert pydlk.gradcheck(lambda t: m(t, src_mask=mask[:3, :3]), (small,))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_textbook_equations_and_gradcheck(rng, norm_first):
    m, tm, sd = _pair(nn.TransformerDecoderLayer, torch.nn.TransformerDecoderLayer, norm_first)
    tgt, mem = rng.standard_normal((4, 2, 8)), rng.standard_normal((6, 2, 8))
    tmask = np.asarray(nn.Transformer.generate_square_subsequent_mask(4), np.float64)
    mk = np.zeros((2, 6), bool)
    mk[0, :3] = True
    ref = _decoder_ref(tgt, mem, sd, 2, norm_first, tmask, mk)
    got = np.asarray(
        m(t64(tgt, False), t64(mem, False), tgt_mask=tmask, memory_key_padding_mask=mk)
    )
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)
    with torch.no_grad():
        tgot = tm(
            torch.tensor(tgt),
            torch.tensor(mem),
            tgt_mask=torch.tensor(tmask),
            memory_key_padding_mask=torch.tensor(np.where(mk, -np.inf, 0.0)),
        )
    np.testing.assert_allclose(got, tgot.numpy(), rtol=1e-10, atol=1e-10)
    a, b = t64(rng.standard_normal((3, 1, 8))), t64(rng.standard_normal((4, 1, 8)))
    assert pydlk.gradcheck(lambda t, s: m(t, s, tgt_mask=tmask[:3, :3]), (a, b))


# ----------------------------------------------------------------------------- Adadelta


@pytest.mark.parametrize(
    "kw", [{"lr": 0.8, "rho": 0.7, "eps": 1e-3, "weight_decay": 0.2}, {"maximize": True}]
)
def test_adadelta_several_steps_by_the_formula(rng, kw):
    """torch's algorithm: g (negated if maximize) + wd p; v = rho v + (1-rho) g^2;
    delta = sqrt(u + eps) / sqrt(v + eps) g; u = rho u + (1-rho) delta^2; p -= lr delta."""
    lr, rho, eps = kw.get("lr", 1.0), kw.get("rho", 0.9), kw.get("eps", 1e-6)
    wd, maximize = kw.get("weight_decay", 0.0), kw.get("maximize", False)
    p_ref = rng.standard_normal(6)
    p = nn.Parameter(p_ref.copy())
    tp = torch.tensor(p_ref.copy(), requires_grad=True)
    opt, topt = pydlk.optim.Adadelta([p], **kw), torch.optim.Adadelta([tp], **kw)
    v, u = np.zeros(6), np.zeros(6)
    for _ in range(5):
        g0 = rng.standard_normal(6)
        g = (-g0 if maximize else g0) + wd * p_ref
        v = rho * v + (1 - rho) * g * g
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        p_ref = p_ref - lr * delta
        p.grad, tp.grad = pydlk.tensor(g0), torch.tensor(g0)
        opt.step()
        topt.step()
    np.testing.assert_allclose(np.asarray(p), p_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(p), tp.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(opt.state[p]["square_avg"]), v, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(opt.state[p]["acc_delta"]), u, rtol=1e-12)


# ----------------------------------------------------------------------------- lazy modules


def test_lazy_linear_materialised_is_affine_and_gradchecks(rng):
    m = nn.LazyLinear(3, dtype=np.float64)
    x = rng.standard_normal((4, 5))
    y = np.asarray(m(x))
    w, b = np.asarray(m.weight), np.asarray(m.bias)
    assert w.shape == (3, 5) and w.dtype == np.float64
    np.testing.assert_allclose(y, x @ w.T + b, rtol=1e-12)
    tm = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(w))
        tm.bias.copy_(torch.tensor(b))
    np.testing.assert_allclose(y, tm(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    assert pydlk.gradcheck(m, (t64(x),))
