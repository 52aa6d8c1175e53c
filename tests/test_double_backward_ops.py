"""Higher-order gradients (create_graph=True) through the ops that gradient penalties, Hessian-
vector products, MAML and physics-informed losses meet beyond the conv/norm layers: reductions
(norm, var/std, prod, amax/amin, max/min along a dim, logsumexp, cumsum), mish and maxout,
interpolate/Upsample, embedding, attention, the losses, the recurrent layers (also over packed
sequences), SyncBatchNorm's synchronised Function (one rank, and two under mpiexec), module
backward hooks and tensor hooks, gather/scatter/index_select/repeat, einsum, cdist.

Second derivatives (in the inputs and in the incoming gradient) are compared with torch's
(torch.autograd.grad(create_graph=True)) on the same float64 data; where torch has no double
backward itself (multi_margin_loss, cdist) it is compared with torch on the op written out in
primitive ops. pydlk.gradgradcheck compares them with central differences. The ops that still
have none raise an error that names them.
"""

import math

import numpy as np
import pytest
from _second_order import check_second

import pydlk
import pydlk.functional as F
from pydlk.autograd import grad

torch = pytest.importorskip("torch")
TF = torch.nn.functional

rng = np.random.default_rng(11)


def _n(*shape):
    return rng.standard_normal(shape)


def _check(pfn, tfn, arrays, **tol):
    check_second(pydlk, torch, pfn, tfn, arrays, rng, **tol)


def _same(fn):
    """One function for both libraries (Tensor methods named alike)."""
    return fn, fn


# ----------------------------------------------------------------------------- reductions

_ZEROS = _n(3, 4)
_ZEROS[1, 2] = _ZEROS[2, 0] = _ZEROS[2, 3] = 0.0  # one zero factor in a row, two in another

REDUCTIONS = {
    "norm_fro": (_same(lambda a: a.norm()), [_n(3, 4)]),
    "norm_2_dim": (_same(lambda a: a.norm(2, dim=1)), [_n(3, 4)]),
    "norm_1_keepdim": (_same(lambda a: a.norm(1, dim=0, keepdim=True) ** 2), [_n(3, 4)]),
    "norm_inf": (_same(lambda a: a.norm(math.inf, dim=1) ** 2), [_n(3, 4)]),
    "norm_3_dims": (_same(lambda a: a.norm(3, dim=(0, 2))), [_n(3, 4, 2)]),
    "norm_1.5": (_same(lambda a: a.norm(1.5)), [_n(3, 4)]),
    "var": (_same(lambda a: a.var(1) ** 2), [_n(3, 4)]),
    "var_correction0_keepdim": (
        _same(lambda a: a.var(dim=0, correction=0, keepdim=True) ** 2),
        [_n(3, 4)],
    ),
    "var_all": (_same(lambda a: a.var() ** 2), [_n(3, 4)]),
    "std": (_same(lambda a: a.std(1)), [_n(3, 4)]),
    "std_correction2": (_same(lambda a: a.std(dim=(0, 1), correction=2)), [_n(3, 4, 2)]),
    "std_unbiased_false": (_same(lambda a: a.std(unbiased=False)), [_n(3, 4)]),
    "prod_dim": (_same(lambda a: a.prod(1)), [_n(3, 4)]),
    "prod_all": (_same(lambda a: a.prod()), [_n(2, 3)]),
    "prod_keepdim": (_same(lambda a: a.prod(0, keepdim=True).sin()), [_n(3, 4)]),
    "prod_with_zeros": (_same(lambda a: a.prod(1)), [_ZEROS]),
    "prod_all_with_zeros": (_same(lambda a: a.prod()), [_ZEROS]),
    "amax": (_same(lambda a: a.amax(1) ** 2), [_n(3, 4)]),
    "amin_dims_keepdim": (_same(lambda a: (a * a).amin((0, 2), keepdim=True) ** 2), [_n(3, 4, 2)]),
    "max_all": (_same(lambda a: a.max() ** 2), [_n(3, 4)]),
    "max_dim_values": (_same(lambda a: a.max(1)[0] ** 2), [_n(3, 4)]),
    "min_dim_keepdim": (_same(lambda a: (a * a).min(0, keepdim=True).values ** 2), [_n(3, 4)]),
    "logsumexp": (_same(lambda a: a.logsumexp(1) ** 2), [_n(3, 4)]),
    "logsumexp_dims_keepdim": (_same(lambda a: a.logsumexp((0, 1), keepdim=True) ** 2), [_n(3, 4)]),
    "cumsum": (_same(lambda a: a.cumsum(1) ** 2), [_n(3, 4)]),
    "cumsum_dim0": (_same(lambda a: (a * a).cumsum(0).sin()), [_n(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_second_derivatives_match_torch(name):
    (pfn, tfn), arrays = REDUCTIONS[name]
    _check(pfn, tfn, arrays)


def test_wgan_gp_penalty_through_norm_and_std_of_a_gradient():
    """A penalty on the gradient's norm and spread, differentiated in the weights: norm and std
    sit on the gradient path here, so their own double backward runs."""
    x0, w0 = _n(4, 5), _n(5, 3) * 0.5
    res = []
    for T in (pydlk, torch):
        x, w = T.tensor(x0, requires_grad=True), T.tensor(w0, requires_grad=True)
        y = (x @ w).tanh()
        (gx,) = T.autograd.grad(y.sum(), x, create_graph=True)
        n = gx.norm(2, dim=1)
        inner = n.std() + gx.var(0).sum() + gx.abs().amax(1).sum()
        (gw,) = T.autograd.grad(inner, w, create_graph=True)
        (gw.norm() ** 2).backward()
        res.append([np.asarray(gx.detach()), np.asarray(gw.detach()), np.asarray(w.grad)])
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- layers

_IDX = np.array([[0, 2, 2], [1, 3, 0]])
_SEQ = [(False, (2, 3, 4, 3)), (True, (2, 3, 4))]


def _interp(mode, shape, **kw):
    def fn(m):
        return lambda x: m.interpolate(x.tanh(), mode=mode, **kw) ** 2

    return (fn(F), fn(TF)), [_n(*shape)]


def _upsample(T):
    return lambda x: T.nn.Upsample(scale_factor=2, mode="bilinear")(x * x).sin()


def _embedding(T, mod, **kw):
    return lambda w: mod.embedding(T.tensor(_IDX), w * w, **kw).tanh()


LAYERS = {
    "mish": ((F.mish, TF.mish), [_n(3, 4) * 5]),
    "maxout": (
        (lambda a: F.maxout(a, 2, 1) ** 2, lambda a: a.reshape(3, 2, 2, 2).amax(2) ** 2),
        [_n(3, 4, 2)],
    ),
    "maxout_last_dim": (
        (lambda a: F.maxout(a, 3, -1) ** 2, lambda a: a.reshape(3, 4, 3).amax(-1) ** 2),
        [_n(3, 12)],
    ),
    "interpolate_nearest_scale": _interp("nearest", (2, 3, 4, 3), scale_factor=2),
    "interpolate_nearest_size": _interp("nearest", (2, 3, 4, 3), size=(5, 7)),
    "interpolate_nearest_1d": _interp("nearest", (2, 3, 4), scale_factor=3),
    "interpolate_nearest_exact": _interp("nearest-exact", (2, 3, 4, 3), size=(5, 2)),
    "interpolate_bilinear": _interp("bilinear", (2, 3, 4, 3), scale_factor=1.5),
    "interpolate_bilinear_align": _interp(
        "bilinear", (2, 3, 4, 3), size=(5, 7), align_corners=True
    ),
    "interpolate_linear_down": _interp("linear", (2, 3, 5), scale_factor=0.6),
    "interpolate_linear_size": _interp("linear", (2, 3, 4), size=7, align_corners=True),
    "upsample_module": ((_upsample(pydlk), _upsample(torch)), [_n(1, 2, 3, 3)]),
    "embedding": ((_embedding(pydlk, F), _embedding(torch, TF)), [_n(4, 3)]),
    "embedding_padding_idx": (
        (_embedding(pydlk, F, padding_idx=2), _embedding(torch, TF, padding_idx=2)),
        [_n(4, 3)],
    ),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_second_derivatives_match_torch(name):
    (pfn, tfn), arrays = LAYERS[name]
    _check(pfn, tfn, arrays)


_BOOL_MASK = rng.uniform(size=(3, 5)) > 0.4
_BOOL_MASK[:, 0] = True
_FLOAT_MASK = _n(3, 5)


def _sdpa(T, mod, **kw):
    for k, v in list(kw.items()):
        if isinstance(v, np.ndarray):
            kw[k] = T.tensor(v)
    return lambda q, k, v: mod.scaled_dot_product_attention(q, k, v, **kw).tanh()


SDPA = {
    "plain": ({}, [_n(2, 3, 4), _n(2, 5, 4), _n(2, 5, 3)]),
    "causal_scale": (dict(is_causal=True, scale=0.3), [_n(2, 4, 4), _n(2, 4, 4), _n(2, 4, 3)]),
    "bool_mask_broadcast": (
        dict(attn_mask=_BOOL_MASK),
        [_n(2, 2, 3, 4), _n(1, 2, 5, 4), _n(2, 1, 5, 3)],
    ),
    "float_mask": (dict(attn_mask=_FLOAT_MASK), [_n(2, 3, 4), _n(2, 5, 4), _n(2, 5, 3)]),
}


@pytest.mark.parametrize("name", sorted(SDPA))
def test_attention_second_derivatives_match_torch(name):
    kw, arrays = SDPA[name]
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):  # torch's fused CPU kernel has no double backward
        _check(_sdpa(pydlk, F, **kw), _sdpa(torch, TF, **kw), arrays)


def test_attention_row_masked_everywhere_and_dropout_gradgradcheck():
    """pydlk's zeros for a row that the mask leaves empty, and a fixed dropout mask: second
    derivatives against central differences."""
    mask = np.ones((3, 3), bool)
    mask[1] = False
    q, k, v = (pydlk.tensor(_n(2, 3, 4), requires_grad=True) for _ in range(3))

    def fn(q, k, v):
        pydlk.manual_seed(4)  # the same dropout mask at every evaluation
        return F.scaled_dot_product_attention(q, k, v, pydlk.tensor(mask), dropout_p=0.3)

    assert pydlk.gradgradcheck(fn, (q, k, v))


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("padding", [False, True])
def test_multihead_attention_gradient_penalty_matches_torch(need_weights, padding):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    x0 = _n(2, 5, 8)
    kpm = np.zeros((2, 5), bool)
    kpm[0, 3:] = padding
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
    pm = pydlk.nn.MultiheadAttention(8, 2, batch_first=True).double()
    pm.load_state_dict({k: pydlk.tensor(v.numpy().copy()) for k, v in tm.state_dict().items()})
    res = []
    for T, m in ((pydlk, pm), (torch, tm)):
        x = T.tensor(x0, requires_grad=True)
        with sdpa_kernel(SDPBackend.MATH):
            out, w = m(x, x, x, key_padding_mask=T.tensor(kpm), need_weights=need_weights)
            loss = out.tanh().sum() + (0 if w is None else (w * w).sum())
            (g,) = T.autograd.grad(loss, x, create_graph=True)
            (g * g).sum().backward()
        res.append([np.asarray(g.detach()), np.asarray(x.grad)])
        res[-1] += [np.asarray(p.grad) for p in m.parameters()]
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


# ----------------------------------------------------------------------------- losses

_T5 = np.array([1, 0, 3, 2, 1])
_CW = rng.uniform(0.5, 2, 4)
_P = rng.uniform(0.1, 0.9, (3, 4))
_TW = rng.uniform(0.5, 2, (3, 4))
_PW = rng.uniform(0.5, 2, 4)


def _multi_margin_ref(x, t, p, reduction, margin=1.0, weight=None):
    """torch's multi_margin_loss in primitive ops (torch has no double backward for it)."""
    z = (margin - x.gather(1, t[:, None]) + x).clamp(min=0) ** p
    z = z * (1 - TF.one_hot(t, x.shape[1]).double())
    if weight is not None:
        z = z * weight[t][:, None]
    loss = z.sum(1) / x.shape[1]
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def _loss_case(name, reduction, kw):
    """(pydlk fn, torch fn, inputs) for one loss, reduction and option set; tensors in ``kw``
    are given as arrays and made each library's tensor here."""

    def kwt(T):
        return {k: T.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}

    pk, tk = kwt(pydlk), kwt(torch)
    r = reduction
    if name == "cross_entropy":
        return (
            lambda a: F.cross_entropy(a * a, pydlk.tensor(_T5), reduction=r, **pk) ** 2,
            lambda a: TF.cross_entropy(a * a, torch.tensor(_T5), reduction=r, **tk) ** 2,
            [_n(5, 4)],
        )
    if name == "nll_loss":
        return (
            lambda a: F.nll_loss((a * a).log_softmax(1), pydlk.tensor(_T5), reduction=r, **pk) ** 2,
            lambda a: (
                TF.nll_loss((a * a).log_softmax(1), torch.tensor(_T5), reduction=r, **tk) ** 2
            ),
            [_n(5, 4)],
        )
    if name == "multi_margin_loss":
        return (
            lambda a: F.multi_margin_loss(a.tanh(), pydlk.tensor(_T5), reduction=r, **pk) ** 2,
            lambda a: _multi_margin_ref(a.tanh(), torch.tensor(_T5), reduction=r, **tk) ** 2,
            [_n(5, 4)],
        )
    if name in ("binary_cross_entropy_with_logits", "binary_cross_entropy"):
        pre = (lambda x: x * 2) if name.endswith("logits") else (lambda x: x.sigmoid())
        return (
            lambda x, t: getattr(F, name)(pre(x), t, reduction=r, **pk) ** 2,
            lambda x, t: getattr(TF, name)(pre(x), t, reduction=r, **tk) ** 2,
            [_n(3, 4), _P],
        )
    if name == "kl_div":
        tgt = (lambda t: t.log_softmax(1)) if kw.get("log_target") else (lambda t: t.softmax(1))
        return (
            lambda x, t: F.kl_div(x.log_softmax(1), tgt(t), reduction=r, **pk) ** 2,
            lambda x, t: TF.kl_div(x.log_softmax(1), tgt(t), reduction=r, **tk) ** 2,
            [_n(3, 4), _n(3, 4)],
        )
    return (  # l1, huber, smooth_l1, mse: regression losses of (x*x, t)
        lambda x, t: getattr(F, name)(x * x, t, reduction=r, **pk) ** 2,
        lambda x, t: getattr(TF, name)(x * x, t, reduction=r, **tk) ** 2,
        [_n(3, 4), _n(3, 4)],
    )


LOSSES = [
    ("cross_entropy", {}),
    ("cross_entropy", dict(weight=_CW, ignore_index=3, label_smoothing=0.1)),
    ("nll_loss", {}),
    ("nll_loss", dict(ignore_index=3)),
    ("nll_loss", dict(weight=_CW)),
    ("multi_margin_loss", dict(p=1)),
    ("multi_margin_loss", dict(p=2, margin=0.5)),
    ("multi_margin_loss", dict(p=2, weight=_CW)),
    ("binary_cross_entropy_with_logits", {}),
    ("binary_cross_entropy_with_logits", dict(weight=_TW, pos_weight=_PW)),
    ("binary_cross_entropy", {}),
    ("binary_cross_entropy", dict(weight=_TW)),
    ("l1_loss", {}),
    ("l1_loss", dict(weight=_TW)),
    ("huber_loss", dict(delta=0.7)),
    ("smooth_l1_loss", dict(beta=0.6)),
    ("mse_loss", {}),
    ("kl_div", {}),
    ("kl_div", dict(log_target=True)),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name, kw", LOSSES, ids=[f"{n}-{sorted(k)}" for n, k in LOSSES])
def test_loss_second_derivatives_match_torch(name, kw, reduction):
    if name == "kl_div" and reduction == "mean":
        reduction = "batchmean"  # 'mean' warns in both libraries
    pfn, tfn, arrays = _loss_case(name, reduction, kw)
    # torch's binary_cross_entropy double backward adds its 1e-12 elsewhere than in the
    # first derivative's max((1 - p) p, 1e-12), which pydlk differentiates exactly
    tol = dict(rtol=1e-8, atol=1e-9) if name == "binary_cross_entropy" else {}
    _check(pfn, tfn, arrays, **tol)


def test_losses_over_spatial_and_unbatched_inputs():
    t2 = np.array([[0, 1, 2], [2, 2, 0]])
    _check(
        lambda a: F.nll_loss(a.log_softmax(1), pydlk.tensor(t2), ignore_index=1) * 3,
        lambda a: TF.nll_loss(a.log_softmax(1), torch.tensor(t2), ignore_index=1) * 3,
        [_n(2, 3, 3)],
    )
    t0 = np.array(2)
    _check(
        lambda a: F.nll_loss(a.log_softmax(0), pydlk.tensor(t0)) ** 2,
        lambda a: TF.nll_loss(a.log_softmax(0), torch.tensor(t0)) ** 2,
        [_n(4)],
    )
    _check(
        lambda a: F.multi_margin_loss(a.tanh(), pydlk.tensor(t0), p=2) ** 2,
        lambda a: _multi_margin_ref(a.tanh()[None], torch.tensor(t0[None]), 2, "mean") ** 2,
        [_n(4)],
    )


# ----------------------------------------------------------------------------- recurrent layers


def _rnn_run(T, cls, kw, state, x0, h0, packed):
    """The output, h_n (and c_n) through a loss, its gradient in every input and parameter with
    create_graph=True, then the gradient of that gradient's squared norm."""
    m = getattr(T.nn, cls)(3, 4, **kw).double()
    if state is not None:
        m.load_state_dict(state)
    bf = kw.get("batch_first", False)
    x = T.tensor(x0, requires_grad=True)
    hs = [T.tensor(h, requires_grad=True) for h in h0]
    hx = None if not hs else (tuple(hs) if cls == "LSTM" else hs[0])
    inp = T.nn.utils.rnn.pack_padded_sequence(x, [5, 3], batch_first=bf) if packed else x
    out = m(inp, hx)
    y = T.nn.utils.rnn.pad_packed_sequence(out[0], batch_first=bf)[0] if packed else out[0]
    h = out[1][0] if cls == "LSTM" else out[1]
    loss = (y.tanh() * y).sum() + (h * h).sum()
    if cls == "LSTM":
        loss = loss + (out[1][1] ** 3).sum()
    ins = [x, *hs, *m.parameters()]
    gs = T.autograd.grad(loss, ins, create_graph=True)
    pen = (gs[0] ** 2).sum()
    for g in gs[1:]:
        pen = pen + (g * g).sum()
    return m, [np.asarray(g.detach()) for g in gs] + [
        np.asarray(g) for g in T.autograd.grad(pen, ins)
    ]


RNNS = [
    ("RNN", {}, False, False),
    ("RNN", dict(nonlinearity="relu", num_layers=2), True, False),
    ("LSTM", {}, True, False),
    ("LSTM", dict(num_layers=2, bidirectional=True, batch_first=True), True, False),
    ("GRU", {}, False, False),
    ("GRU", dict(bidirectional=True, bias=False), True, False),
    ("LSTM", dict(bidirectional=True), False, True),
    ("GRU", dict(batch_first=True), True, True),
]


@pytest.mark.parametrize(
    "cls, kw, initial_state, packed", RNNS, ids=[f"{c}-{sorted(k)}-{h}-{p}" for c, k, h, p in RNNS]
)
def test_recurrent_layer_second_derivatives_match_torch(cls, kw, initial_state, packed):
    """A gradient penalty on every input and parameter of RNN/LSTM/GRU (stacked,
    bidirectional, batch_first, without bias, over a PackedSequence)."""
    L = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    x0 = _n(*((2, 5, 3) if kw.get("batch_first") else (5, 2, 3)))
    h0 = [_n(L, 2, 4) for _ in range(2 if cls == "LSTM" else 1)] if initial_state else []
    torch.manual_seed(0)
    tm, want = _rnn_run(torch, cls, kw, None, x0, h0, packed)
    state = {k: pydlk.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
    _, got = _rnn_run(pydlk, cls, kw, state, x0, h0, packed)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_recurrent_dropout_between_layers_gradgradcheck():
    m = pydlk.nn.GRU(3, 4, num_layers=2, dropout=0.5).double()
    x = pydlk.tensor(_n(4, 2, 3), requires_grad=True)

    def fn(x):
        pydlk.manual_seed(3)  # the same masks at every evaluation
        return m(x)[0]

    assert pydlk.gradgradcheck(fn, (x,))


def test_recurrent_first_order_backward_stays_on_the_kernels():
    m = pydlk.nn.LSTM(3, 4).double()
    x = pydlk.tensor(_n(5, 2, 3), requires_grad=True)
    (gx,) = grad(m(x)[0].sum(), x)
    assert gx.grad_fn is None and not gx.requires_grad


# ----------------------------------------------------------------------------- SyncBatchNorm


class _OneRank:
    """A one-process group: the collectives leave their buffers as they are."""

    size = 1

    class comm:
        @staticmethod
        def Iallgather(a, b):
            b[0] = a

        @staticmethod
        def Iallreduce(_inplace, a, op=None):
            return None

    class MPI:
        IN_PLACE, SUM = None, None

    @staticmethod
    def next_seq():
        return 0

    @staticmethod
    def wait(reqs, name, seq):
        pass


def _sync_bn(x, w=None, b=None, eps=1e-5):
    from pydlk.nn.sync_batchnorm import _SyncBatchNormFn

    return _SyncBatchNormFn.apply(x, w, b, None, None, 0.1, eps, _OneRank)


def test_sync_batch_norm_function_second_derivatives_match_torch():
    _check(
        lambda x, w, b: _sync_bn(x, w, b).tanh(),
        lambda x, w, b: TF.batch_norm(x, None, None, w, b, True).tanh(),
        [_n(4, 3, 2, 2), _n(3), _n(3)],
    )
    _check(
        lambda x: _sync_bn(x, eps=1e-3) ** 3,
        lambda x: TF.batch_norm(x, None, None, training=True, eps=1e-3) ** 3,
        [_n(5, 3)],
    )


_SYNC_WORKER = """
import sys
import numpy as np
import pydlk
import pydlk.distributed as dist
from pydlk import nn

out = sys.argv[1]
dist.init_process_group("mpi", timeout=60.0)
r, w = dist.get_rank(), dist.get_world_size()
rng = np.random.default_rng(5)
x0, v0, u0 = (rng.standard_normal((w * 3, 4, 2, 2)) for _ in range(3))
bn = nn.SyncBatchNorm(4).double()
with pydlk.no_grad():
    bn.weight.copy_(pydlk.tensor(np.linspace(0.5, 1.5, 4)))
    bn.bias.copy_(pydlk.tensor(np.linspace(-0.2, 0.2, 4)))
rows = slice(r * 3, (r + 1) * 3)
x = pydlk.tensor(x0[rows], requires_grad=True)
(gx,) = pydlk.autograd.grad((bn(x).tanh() * pydlk.tensor(v0[rows])).sum(), x, create_graph=True)
(gx * pydlk.tensor(u0[rows])).sum().backward()
got = [gx.detach(), x.grad, bn.weight.grad, bn.bias.grad]
np.savez(f"{out}/rank{r}.npz", *[np.asarray(a) for a in got])
dist.destroy_process_group()
"""


def test_sync_batch_norm_gradient_penalty_on_two_ranks_equals_one_process(tmp_path):
    """Each rank's gradient and double backward (through the differentiable all-reduces of
    the statistics) equal BatchNorm's on the whole batch in one process; the parameters'
    gradients add up over the ranks (DistributedDataParallel averages them)."""
    from test_distributed import _mpirun

    script = tmp_path / "worker.py"
    script.write_text(_SYNC_WORKER)
    p, _ = _mpirun(2, tmp_path, [script, tmp_path])
    assert p.returncode == 0, p.stdout + p.stderr
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    g = np.random.default_rng(5)
    x0, v0, u0 = (g.standard_normal((6, 4, 2, 2)) for _ in range(3))
    bn = pydlk.nn.BatchNorm2d(4).double()
    with pydlk.no_grad():
        bn.weight.copy_(pydlk.tensor(np.linspace(0.5, 1.5, 4)))
        bn.bias.copy_(pydlk.tensor(np.linspace(-0.2, 0.2, 4)))
    x = pydlk.tensor(x0, requires_grad=True)
    (gx,) = grad((bn(x).tanh() * pydlk.tensor(v0)).sum(), x, create_graph=True)
    (gx * pydlk.tensor(u0)).sum().backward()
    for k, want in enumerate([gx.detach(), x.grad]):
        got = np.concatenate([r[f"arr_{k}"] for r in ranks])
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-10, atol=1e-12)
    for k, want in ((2, bn.weight.grad), (3, bn.bias.grad)):
        got = ranks[0][f"arr_{k}"] + ranks[1][f"arr_{k}"]
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- hooks


def _hooked_run(T, tensor_hook):
    """Module full backward hooks (one rescales grad_input, a pre-hook squares grad_output, one
    only looks) and a tensor hook under create_graph=True, then a penalty's backward."""
    w1, w2 = np.linspace(-1, 1, 20).reshape(5, 4), np.linspace(1, -0.5, 10).reshape(2, 5)
    lin, lin2 = T.nn.Linear(4, 5).double(), T.nn.Linear(5, 2).double()
    with T.no_grad():
        lin.weight.copy_(T.tensor(w1))
        lin2.weight.copy_(T.tensor(w2))
        lin.bias.fill_(0.1)
        lin2.bias.fill_(-0.2)
    seen = []
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))
    lin2.register_full_backward_pre_hook(lambda m, go: (go[0] * go[0],))
    lin2.register_full_backward_hook(lambda m, gi, go: seen.append(gi[0].requires_grad))
    x = T.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    z = lin(x)
    if tensor_hook:  # z is the input of tanh: its gradient in either pass reaches z itself
        z.register_hook(lambda g: g * 3)
    y = lin2(z.tanh())
    (g,) = T.autograd.grad(y.sin().sum(), x, create_graph=True)
    (g**2).sum().backward()
    got = [g.detach(), x.grad, lin.weight.grad, lin.bias.grad, lin2.weight.grad]
    return [np.asarray(a) for a in got], seen


@pytest.mark.parametrize("tensor_hook", [False, True])
def test_hooks_under_create_graph_match_torch(tensor_hook):
    got, seen_p = _hooked_run(pydlk, tensor_hook)
    want, seen_t = _hooked_run(torch, tensor_hook)
    assert seen_p == seen_t == [True, False]  # the hook saw gradients with a graph, then not
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- indexing, einsum


def _idx(T, a):
    return T.tensor(np.asarray(a))


_GI = np.array([[0, 2, 2], [1, 0, 1]])
_SI = np.array([[0, 2, 3], [1, 0, 3]])


def _scatter_reduce_case(reduce, include_self):
    def fn(T):
        return lambda a, b: (
            T.scatter_reduce(a.tanh(), 1, _idx(T, _GI), b.tanh(), reduce, include_self=include_self)
            ** 2
        )

    return fn(pydlk), fn(torch)


SELECTION = {
    "gather": (lambda T: lambda a: T.gather(a * a, 1, _idx(T, _GI)).sin(), [_n(2, 4)]),
    "gather_dim0": (lambda T: lambda a: T.gather(a * a, 0, _idx(T, _GI)).sin(), [_n(3, 3)]),
    "scatter": (
        lambda T: lambda a, b: T.scatter(a * a, 1, _idx(T, _SI), b * b).sin(),
        [_n(2, 4), _n(2, 3)],
    ),
    "scatter_add": (
        lambda T: lambda a, b: T.scatter_add(a * a, 1, _idx(T, _GI), b * b).sin(),
        [_n(2, 4), _n(2, 3)],
    ),
    "index_select": (
        lambda T: lambda a: T.index_select(a * a, 1, _idx(T, [2, 0, 2])).sin(),
        [_n(2, 4)],
    ),
    "repeat": (lambda T: lambda a: (a * a).repeat(2, 1, 3).sin(), [_n(2, 4)]),
    "einsum_matmul": (
        lambda T: lambda a, b: T.einsum("ij,jk->ik", a * a, b).sin(),
        [_n(3, 4), _n(4, 2)],
    ),
    "einsum_batched": (
        lambda T: lambda a, b: T.einsum("bij,bjk->bik", a, b * b).sin(),
        [_n(2, 3, 4), _n(2, 4, 2)],
    ),
    "einsum_diagonal": (lambda T: lambda a: T.einsum("ii->i", a * a).sin(), [_n(3, 3)]),
    "einsum_trace": (lambda T: lambda a: T.einsum("ii", a * a).sin(), [_n(3, 3)]),
    "einsum_ellipsis": (
        lambda T: lambda a, b: T.einsum("...ij,...jk", a * a, b).sin(),
        [_n(2, 3, 4), _n(4, 2)],
    ),
    "einsum_repeated_and_lone": (
        lambda T: lambda a, b: T.einsum("iij,jk->ik", a * a, b * b).sin(),
        [_n(3, 3, 2), _n(2, 4)],
    ),
    "einsum_outer": (
        lambda T: lambda a, b: T.einsum("ij,k->ijk", a * a, b).sin(),
        [_n(2, 3), _n(4)],
    ),
    "asinh_sinh_cosh": (
        lambda T: lambda a: T.asinh(a * a) + T.sinh(a) * a + T.cosh(a) * a,
        [_n(3, 4)],
    ),
    "acosh_atanh": (
        lambda T: lambda a: T.acosh(a * a + 1.5) + T.atanh(a.tanh() * 0.9),
        [_n(3, 4)],
    ),
}


@pytest.mark.parametrize("name", sorted(SELECTION))
def test_selection_einsum_second_derivatives_match_torch(name):
    make, arrays = SELECTION[name]
    _check(make(pydlk), make(torch), arrays)


@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_second_derivatives_match_torch(reduce, include_self):
    _check(*_scatter_reduce_case(reduce, include_self), [_n(2, 4), _n(2, 3)])


@pytest.mark.parametrize(
    "kw",
    [
        dict(p=2.0),
        dict(p=2.0, compute_mode="use_mm_for_euclid_dist"),
        dict(p=1.0),
        dict(p=3.0),
        dict(p=1.5),
        dict(p=0.5),
        dict(p=math.inf),
    ],
    ids=str,
)
def test_cdist_second_derivatives_match_torch(kw):
    """Against torch on the differences' norm (torch's _cdist_backward has no derivative)."""
    _check(
        lambda a, b: pydlk.cdist(a, b, **kw) ** 2,
        lambda a, b: (a.unsqueeze(-2) - b.unsqueeze(-3)).norm(kw["p"], dim=-1) ** 2,
        [_n(2, 3, 4), _n(1, 5, 4)],
    )


def test_bincount_and_fractional_max_pool_second_derivatives_match_torch():
    bi = np.array([0, 2, 2, 5, 1])
    _check(
        lambda w: pydlk.bincount(pydlk.tensor(bi), w * w, minlength=7).sin(),
        lambda w: torch.zeros(7, dtype=torch.float64).index_add(0, torch.tensor(bi), w * w).sin(),
        [_n(5)],
    )
    s = rng.uniform(size=(2, 3, 2))

    def pool(T, mod):
        kw = dict(output_size=(3, 4), _random_samples=T.tensor(s))
        return lambda x: mod.fractional_max_pool2d(x.tanh(), 2, **kw) ** 2

    _check(pool(pydlk, F), pool(torch, TF), [_n(2, 3, 6, 7)])


# ----------------------------------------------------------------------------- gradgradcheck


def _t(*shape, scale=1.0):
    return pydlk.tensor(_n(*shape) * scale, requires_grad=True)


_LSTM = pydlk.nn.LSTM(3, 2).double()
GRADGRAD = {
    "norm_var_prod": (lambda a: a.norm(2, 1) * a.var(0).sum() + a.prod(1), lambda: (_t(3, 4),)),
    "amax_cumsum_logsumexp": (
        lambda a: a.amax(0) * a.cumsum(1)[:, -1:] + a.logsumexp(1, keepdim=True),
        lambda: (_t(3, 4),),
    ),
    "mish_maxout": (lambda a: F.mish(a) + F.maxout(a, 2, 1).repeat(1, 2), lambda: (_t(3, 4),)),
    "interpolate_bilinear": (
        lambda a: F.interpolate(a * a, scale_factor=2, mode="bilinear"),
        lambda: (_t(1, 2, 3, 3),),
    ),
    "embedding": (
        lambda w: F.embedding(pydlk.tensor(_GI), w * w, padding_idx=1),
        lambda: (_t(4, 3),),
    ),
    "cross_entropy_nll": (
        lambda a: (
            F.cross_entropy(a, pydlk.tensor(_T5), label_smoothing=0.2)
            + F.nll_loss(a.log_softmax(1), pydlk.tensor(_T5))
        ),
        lambda: (_t(5, 4),),
    ),
    "bce_kl": (
        lambda a: (
            F.binary_cross_entropy_with_logits(a, pydlk.tensor(_P[:, :1].repeat(4, 1)))
            + F.kl_div(a.log_softmax(1), a.softmax(0), reduction="batchmean")
        ),
        lambda: (_t(3, 4),),
    ),
    "lstm": (lambda x: _LSTM(x)[0], lambda: (_t(3, 2, 3),)),
    "gather_scatter_src_part": (
        lambda a, b: pydlk.scatter(a * a, 1, pydlk.tensor(_SI), b * b).gather(1, pydlk.tensor(_GI)),
        lambda: (_t(2, 4), _t(3, 4)),
    ),
    "einsum_cdist": (
        lambda a, b: pydlk.einsum("ij,kj->ik", a, b) * pydlk.cdist(a, b, 3.0),
        lambda: (_t(3, 4), _t(2, 4)),
    ),
}


@pytest.mark.parametrize("name", sorted(GRADGRAD))
def test_gradgradcheck(name):
    fn, make = GRADGRAD[name]
    assert pydlk.gradgradcheck(fn, make(), atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------- what remains


def _t_pos(*shape):
    return pydlk.tensor(rng.uniform(0.5, 2.0, shape), requires_grad=True)


@pytest.mark.parametrize(
    "op, fn",
    [
        ("in-place elu", lambda x: F.elu(x * 1.0, inplace=True)),
        ("in-place mish", lambda x: F.mish(x * 1.0, inplace=True)),
        ("digamma", lambda x: pydlk.digamma(x)),
        ("triplet_margin_loss", lambda x: F.triplet_margin_loss(x, x * 2, x * x)),
        (
            "cosine_embedding_loss",
            lambda x: F.cosine_embedding_loss(x, x * x, pydlk.tensor(-np.ones(3))),
        ),
    ],
)
def test_ops_without_double_backward_say_so(op, fn):
    x = _t_pos(3, 4)
    with pytest.raises(RuntimeError, match=f"double backward is not implemented for {op}"):
        grad((fn(x) ** 2).sum(), x, create_graph=True)


def test_first_order_gradients_carry_no_graph():
    """create_graph=False stays on the first-order kernels: nothing recorded."""
    x = pydlk.tensor(_n(2, 3, 4, 4), requires_grad=True)
    w = pydlk.tensor(_n(5, 3), requires_grad=True)
    y = (
        F.interpolate(x, scale_factor=2).norm(2, dim=1).var()
        + F.embedding(pydlk.tensor(_GI), w).prod()
    )
    gx, gw = grad(y, [x, w])
    assert gx.grad_fn is None and gw.grad_fn is None
    assert not gx.requires_grad and not gw.requires_grad
