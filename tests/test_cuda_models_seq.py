"""Sequence and NLP models trained on the GPU as torch code trains them (the model and the
batches moved with ``.to('cuda')``, the rest unchanged), each against the same steps on the
CPU: CTC loss. Real CuPy refuses ``np.asarray`` of its arrays and NumPy operands in its ops;
the host emulation (tools/run_cuda_tests_on_host.py) refuses them too, so these ``test_gpu_*``
tests run here as they would on a GPU, and skip without either."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
import pydlk.functional as F
from pydlk import nn


def _ctc_steps(dev, reduction, concat):
    """Three Adam steps of a small acoustic model under nn.CTCLoss on ``dev``: the losses, the
    last gradient of the log-probabilities and the trained weights."""
    T, N, C = 9, 3, 5
    pydlk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, C)).double().to(dev)
    opt = pydlk.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    x = pydlk.tensor(rng.standard_normal((T, N, 4))).to(dev)
    padded = np.array([[1, 2, 2, 3], [4, 4, 0, 0], [3, 0, 0, 0]])
    tl = np.array([4, 2, 1])
    if concat:  # the concatenated targets, left on the host as torch allows
        targets = pydlk.tensor(np.concatenate([padded[i, : tl[i]] for i in range(N)]))
    else:
        targets = pydlk.tensor(padded).to(dev)
    il, tl = pydlk.tensor([9, 7, 4]).to(dev), pydlk.tensor(tl).to(dev)
    crit = nn.CTCLoss(blank=0, reduction=reduction)
    losses = []
    for _ in range(3):
        lp = model(x).log_softmax(2)
        lp.retain_grad()
        loss = crit(lp, targets, il, tl)
        opt.zero_grad()
        (loss.sum() if reduction == "none" else loss).backward()
        opt.step()
        losses.append(host(loss))
    return np.array(losses), host(lp.grad), {k: host(v) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("reduction, concat", [("mean", False), ("sum", True), ("none", False)])
def test_gpu_ctc_loss_trains_like_the_cpu(reduction, concat):
    """nn.CTCLoss on GPU log-probabilities, with the lengths on the GPU and the targets on
    either device, trains as on the CPU; each frame's gradient (softmax minus the frame's
    alignment posterior) sums to 0 within the input length and is 0 past it."""
    cupy_or_skip()
    lc, gc, wc = _ctc_steps("cpu", reduction, concat)
    lg, gg, wg = _ctc_steps("cuda", reduction, concat)
    np.testing.assert_allclose(lg, lc, rtol=1e-10)
    np.testing.assert_allclose(gg, gc, rtol=1e-9, atol=1e-13)
    for k in wc:
        np.testing.assert_allclose(wg[k], wc[k], rtol=1e-9, atol=1e-13)
    assert np.isfinite(lg).all() and (lg > 0).all()
    np.testing.assert_allclose(gg[:4].sum(-1), 0.0, atol=1e-12)
    assert (gg[7:, 1] == 0).all() and (gg[4:, 2] == 0).all()


def test_gpu_ctc_loss_of_two_frames_is_the_sum_over_its_three_paths():
    """One label ``a`` over two frames: the alignments a a, a -, - a, so the loss is
    -log(pa1 pa2 + pa1 pb2 + pb1 pa2); an impossible alignment (three labels in two frames)
    is inf, counts 0 under zero_infinity, and its gradient is NaN without it, as torch's."""
    cp = cupy_or_skip()
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])  # (T, C), blank 0, label a = 1
    lp = pydlk.tensor(cp.asarray(np.log(p)), requires_grad=True)
    loss = F.ctc_loss(lp, pydlk.tensor([1]), [2], [1], reduction="sum")
    loss.backward()
    want = -np.log(p[0, 1] * p[1, 1] + p[0, 1] * p[1, 0] + p[0, 0] * p[1, 1])
    assert str(loss.device) == "cuda:0"
    np.testing.assert_allclose(host(loss), want, rtol=1e-12)
    lc = pydlk.tensor(np.log(p), requires_grad=True)
    F.ctc_loss(lc, pydlk.tensor([1]), [2], [1], reduction="sum").backward()
    np.testing.assert_allclose(host(lp.grad), host(lc.grad), rtol=1e-12)
    bad = pydlk.tensor(cp.asarray(np.log(p)[:, None]), requires_grad=True)
    three = pydlk.tensor(cp.asarray(np.array([[1, 2, 1]])))
    assert np.isinf(host(F.ctc_loss(bad, three, [2], [3], reduction="none"))).all()
    z = F.ctc_loss(bad, three, [2], [3], reduction="sum", zero_infinity=True)
    z.backward()
    assert float(host(z)) == 0.0 and (host(bad.grad) == 0).all()
    bad.grad = None
    F.ctc_loss(bad, three, [2], [3], reduction="sum").backward()
    assert np.isnan(host(bad.grad)).all()


def test_gpu_ctc_loss_refuses_gpu_targets_with_cpu_log_probs():
    cp = cupy_or_skip()
    lp = pydlk.tensor(np.log(np.full((3, 1, 3), 1 / 3)))
    with pytest.raises(RuntimeError, match="same device"):
        F.ctc_loss(lp, pydlk.tensor(cp.asarray(np.array([[1]]))), [3], [1])


def _mha_steps(dev, kw, mask):
    """Three SGD steps of nn.MultiheadAttention(**kw) over (3, 5, 8) batches with the last two
    keys of the second sample padded out: the losses, last weights and trained parameters."""
    pydlk.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, batch_first=True, **kw).double().to(dev)
    opt = pydlk.optim.SGD(m.parameters(), lr=0.1)
    x = pydlk.tensor(np.random.default_rng(4).standard_normal((3, 5, 8))).to(dev)
    kpm = pydlk.zeros(3, 5, dtype=pydlk.bool)
    kpm[1, 3:] = True
    kpm = kpm.to(dev)
    args = dict(key_padding_mask=kpm)
    if mask == "causal":
        args["attn_mask"] = nn.Transformer.generate_square_subsequent_mask(5, device=dev)
        args["attn_mask"] = args["attn_mask"].double()
    losses = []
    for _ in range(3):
        o, w = m(x, x, x, **args)
        loss = o.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses), host(w), {k: host(v) for k, v in m.state_dict().items()}


@pytest.mark.parametrize("mask", ["padding", "causal"])
@pytest.mark.parametrize(
    "kw",
    [dict(add_bias_kv=True), dict(add_zero_attn=True), dict(add_bias_kv=True, add_zero_attn=True)],
)
def test_gpu_multihead_attention_with_extra_keys_trains_like_the_cpu(kw, mask):
    """add_bias_kv and add_zero_attn append key positions (and zero mask columns) on the GPU
    as on the CPU; each weight row sums to 1 and padded keys get weight 0."""
    cupy_or_skip()
    lc, wc, pc = _mha_steps("cpu", kw, mask)
    lg, wg, pg = _mha_steps("cuda", kw, mask)
    np.testing.assert_allclose(lg, lc, rtol=1e-10)
    np.testing.assert_allclose(wg, wc, rtol=1e-9, atol=1e-14)
    for k in pc:
        np.testing.assert_allclose(pg[k], pc[k], rtol=1e-9, atol=1e-14)
    assert wg.shape == (3, 5, 5 + len(kw))
    np.testing.assert_allclose(wg.sum(-1), 1.0, rtol=1e-12)
    assert (wg[1, :, 3:5] == 0).all()


def test_gpu_multihead_attention_with_a_zero_query_attends_uniformly():
    """With the query projection zeroed every score is 0, so the weights are uniform over the
    keys allowed: 3 unpadded + the bias key + the zero key = 1/5 each; an unbatched call with
    a GPU padding mask gives the batched call's first row; is_causal without a mask gives the
    lower-triangular weights 1/(i+1) (+ the zero key)."""
    cp = cupy_or_skip()
    pydlk.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True).double().cuda()
    with pydlk.no_grad():
        m.in_proj_weight[:4] = 0.0
        m.in_proj_bias[:4] = 0.0
    x = pydlk.tensor(cp.asarray(np.random.default_rng(0).standard_normal((5, 1, 4))))
    kpm = pydlk.tensor(cp.asarray(np.array([[False, False, True, False, True]])))
    o, w = m(x, x, x, key_padding_mask=kpm)
    want = np.array([0.2, 0.2, 0.0, 0.2, 0.0, 0.2, 0.2])
    np.testing.assert_allclose(host(w)[0], np.tile(want, (5, 1)), rtol=1e-12)
    o1, w1 = m(x[:, 0], x[:, 0], x[:, 0], key_padding_mask=kpm[0])
    np.testing.assert_allclose(host(o1), host(o)[:, 0], rtol=1e-12)
    np.testing.assert_allclose(host(w1), host(w)[0], rtol=1e-12)
    m2 = nn.MultiheadAttention(4, 1, add_zero_attn=True).double().cuda()
    with pydlk.no_grad():
        m2.in_proj_weight[:4] = 0.0
        m2.in_proj_bias[:4] = 0.0
    _, wc = m2(x, x, x, is_causal=True)
    tri = np.tril(np.ones((5, 5))) / np.arange(2, 7)[:, None]
    np.testing.assert_allclose(host(wc)[0, :, :5], tri, rtol=1e-12)
    np.testing.assert_allclose(host(wc)[0, :, 5], 1 / np.arange(2, 7), rtol=1e-12)
