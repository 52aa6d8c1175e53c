"""scaled_dot_product_attention (in-place softmax kernel) and MultiheadAttention: NumPy formulas,
gradchecks, torch with copied weights and masks, kernel checks."""

import numpy as np
import pytest
from conftest import t64
from pydlk._C import attn_softmax_backward_, attn_softmax_forward_

import pydlk
import pydlk.functional as F
from pydlk import nn

needs_ops = pytest.mark.skipif(
    not (hasattr(pydlk.Tensor, "transpose") and hasattr(pydlk.Tensor, "__getitem__")),
    reason="needs Tensor.transpose/indexing from pydlk.ops",
)


def ref_sdpa(q, k, v, mask=None, scale=None):
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    e = np.exp(s - s.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    return p @ v, p


def test_softmax_kernel_in_place(rng):
    s = rng.standard_normal((7, 13)).astype(np.float32) * 5
    ref = np.exp(s - s.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    buf = s.copy()
    attn_softmax_forward_(buf)
    np.testing.assert_allclose(buf, ref, rtol=1e-5, atol=1e-7)
    g = rng.standard_normal((7, 13)).astype(np.float32)
    want = ref * (g - (g * ref).sum(1, keepdims=True))
    attn_softmax_backward_(g, buf)
    np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-6)
    row = np.full((1, 4), -np.inf, np.float32)
    attn_softmax_forward_(row)
    np.testing.assert_array_equal(row, 0)
    with pytest.raises(TypeError, match="scores"):
        attn_softmax_forward_(np.zeros((3, 3), np.int32))
    with pytest.raises(ValueError, match="shape"):
        attn_softmax_backward_(np.zeros((3, 2), np.float32), np.zeros((3, 3), np.float32))


@pytest.mark.parametrize("L,S,E", [(1, 1, 3), (5, 7, 4), (9, 3, 16)])
def test_sdpa_forward(L, S, E, rng):
    q = rng.standard_normal((2, 3, L, E)).astype(np.float32)
    k = rng.standard_normal((2, 3, S, E)).astype(np.float32)
    v = rng.standard_normal((2, 3, S, 5)).astype(np.float32)
    out = F.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(
        np.asarray(out), ref_sdpa(q.astype(np.float64), k, v)[0], rtol=1e-4, atol=1e-5
    )
    mask = rng.random((L, S)) > 0.3
    mask[:, 0] = True
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3)
    np.testing.assert_allclose(
        np.asarray(out), ref_sdpa(q.astype(np.float64), k, v, mask, 0.3)[0], rtol=1e-4, atol=1e-5
    )
    fmask = rng.standard_normal((2, 1, L, S)).astype(np.float32)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=fmask)
    np.testing.assert_allclose(
        np.asarray(out), ref_sdpa(q.astype(np.float64), k, v, fmask)[0], rtol=1e-4, atol=1e-5
    )


def test_sdpa_gradcheck(rng):
    q, k, v = (
        t64(rng.standard_normal((2, 3, 4))),
        t64(rng.standard_normal((2, 5, 4))),
        t64(rng.standard_normal((2, 5, 3))),
    )
    pydlk.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), (q, k, v))
    pydlk.gradcheck(
        lambda q, k, v: (
            F.scaled_dot_product_attention(q, k, v, is_causal=True)
            if q.shape[-2] == k.shape[-2]
            else None
        ),
        (
            t64(rng.standard_normal((1, 4, 2))),
            t64(rng.standard_normal((1, 4, 2))),
            t64(rng.standard_normal((1, 4, 3))),
        ),
    )
    mask = rng.standard_normal((3, 5))
    pydlk.gradcheck(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), (q, k, v)
    )


def test_sdpa_against_torch(rng):
    torch = pytest.importorskip("torch")
    q, k, v = (rng.standard_normal(s) for s in ((2, 2, 4, 8), (2, 2, 6, 8), (2, 2, 6, 3)))
    mask = rng.random((4, 6)) > 0.4
    mask[:, 1] = True
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    pq, pk, pv = t64(q), t64(k), t64(v)
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.tensor(mask))
    po = F.scaled_dot_product_attention(pq, pk, pv, attn_mask=mask)
    np.testing.assert_allclose(np.asarray(po), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    dy = rng.standard_normal(to.shape)
    to.backward(torch.tensor(dy))
    po.backward(dy)
    for a, b in ((pq, tq), (pk, tk), (pv, tv)):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_sdpa_bad_inputs():
    q = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="key"):
        F.scaled_dot_product_attention(q, np.zeros((2, 3, 5), np.float32), q)
    with pytest.raises(TypeError, match="value"):
        F.scaled_dot_product_attention(q, q, q.astype(np.float64))
    with pytest.raises(ValueError, match="attn_mask"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=2)


def test_mha_construction():
    m = nn.MultiheadAttention(8, 2)
    assert [n for n, _ in m.named_parameters()] == [
        "in_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    ]
    assert m.in_proj_weight.shape == (24, 8)
    np.testing.assert_array_equal(np.asarray(m.in_proj_bias), 0)
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="embed_dim"):
        nn.MultiheadAttention(0, 1)


@needs_ops
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_against_torch(batch_first, rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    E, h, N, L, S = 8, 2, 3, 4, 5
    tm = torch.nn.MultiheadAttention(E, h, batch_first=batch_first).double()
    m = nn.MultiheadAttention(E, h, batch_first=batch_first).double()
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    shp = (lambda T: (N, T, E)) if batch_first else (lambda T: (T, N, E))
    q, k, v = rng.standard_normal(shp(L)), rng.standard_normal(shp(S)), rng.standard_normal(shp(S))
    kpm = np.zeros((N, S), bool)
    kpm[0, -2:] = True
    am = rng.random((L, S)) > 0.8
    am[:, 0] = False
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    pq, pk, pv = t64(q), t64(k), t64(v)
    to, tw = tm(tq, tk, tv, key_padding_mask=torch.tensor(kpm), attn_mask=torch.tensor(am))
    po, pw = m(pq, pk, pv, key_padding_mask=kpm, attn_mask=am)
    np.testing.assert_allclose(np.asarray(po), to.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(pw), tw.detach().numpy(), rtol=1e-9, atol=1e-12)
    dy = rng.standard_normal(to.shape)
    to.backward(torch.tensor(dy))
    po.backward(dy)
    for a, b in ((pq, tq), (pk, tk), (pv, tv)):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-8, atol=1e-11)
    for (n, p), (tn, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert n == tn
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-8, atol=1e-11, err_msg=n)


@needs_ops
def test_mha_gradcheck_and_unbatched(rng):
    m = nn.MultiheadAttention(4, 2, batch_first=True).double()
    x = t64(rng.standard_normal((2, 3, 4)))
    pydlk.gradcheck(lambda x, *ps: m(x, x, x, need_weights=False)[0], (x, *m.parameters()))
    xu = rng.standard_normal((3, 4))
    out, w = m(t64(xu, False), t64(xu, False), t64(xu, False))
    ob, wb = m(t64(xu[None], False), t64(xu[None], False), t64(xu[None], False))
    np.testing.assert_allclose(np.asarray(out), np.asarray(ob)[0], rtol=1e-12)
    assert w.shape == (3, 3)


def test_threads_agree(threads, rng):
    q, k, v = (
        pydlk.tensor(rng.standard_normal((4, 64, 32)).astype(np.float32), requires_grad=True)
        for _ in range(3)
    )
    out = []
    for n in (1, 2):
        threads(n)
        for t in (q, k, v):
            t.grad = None
        y = F.scaled_dot_product_attention(q, k, v)
        y.sum().backward()
        out.append((np.array(y), np.array(q.grad), np.array(k.grad)))
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # and both right: torch in float64 on the same inputs
    torch = pytest.importorskip("torch")
    tq, tk, tv = (
        torch.tensor(np.asarray(t.detach()), dtype=torch.float64, requires_grad=True)
        for t in (q, k, v)
    )
    ty = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)
    ty.sum().backward()
    for a, r in zip(out[0], (ty.detach(), tq.grad, tk.grad), strict=True):
        np.testing.assert_allclose(a, r.numpy(), rtol=1e-4, atol=1e-5)


def test_sdpa_kernel_and_sdp_switches_follow_torch(rng):
    from pydlk.nn.attention import SDPBackend, sdpa_kernel

    b = pydlk.backends.cuda
    q, k, v = (pydlk.tensor(rng.standard_normal((2, 3, 8, 4)).astype(np.float32)) for _ in "qkv")
    want = np.asarray(F.scaled_dot_product_attention(q, k, v))
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]):
        assert (b.flash_sdp_enabled(), b.math_sdp_enabled()) == (True, True)
        assert (b.mem_efficient_sdp_enabled(), b.cudnn_sdp_enabled()) == (False, False)
        # one attention kernel in pydlk: the same result whatever the switches say
        np.testing.assert_array_equal(np.asarray(F.scaled_dot_product_attention(q, k, v)), want)
    assert all(f() for f in (b.flash_sdp_enabled, b.math_sdp_enabled,
                             b.mem_efficient_sdp_enabled, b.cudnn_sdp_enabled))  # fmt: skip
    with b.sdp_kernel(enable_flash=False):
        assert not b.flash_sdp_enabled() and b.math_sdp_enabled()
    b.enable_math_sdp(False)
    assert not b.math_sdp_enabled()
    b.enable_math_sdp(True)
    with pytest.raises(TypeError, match="sdpa_kernel: backends must be SDPBackend members"):
        with sdpa_kernel(["math"]):
            pass
    ta = pytest.importorskip("torch.nn.attention")

    assert {m: int(v) for m, v in SDPBackend.__members__.items()} == {
        m: int(v) for m, v in ta.SDPBackend.__members__.items()
    }
