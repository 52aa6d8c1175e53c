"""Fifth round of torch scripts run unchanged (REINFORCE/PPO, GNNs, forecasters, distillation,
HuggingFace-style loops, PINNs, recommenders, autoencoders, GANs), with torch 2.x as the
oracle: each test pins one thing such a script needed and pydlk lacked or did differently."""

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return np.asarray(t.detach())
    return t.detach().numpy()


# ------------------------------------------------------------ autograd.grad's full signature


def _gp(lib, only_inputs=True):
    """WGAN-GP's gradient penalty, spelled as the papers' code spells it."""
    r = np.random.default_rng(0)
    w = lib.tensor(r.standard_normal((3, 1)), requires_grad=True)
    x = lib.tensor(r.standard_normal((4, 3)), requires_grad=True)
    d = (x @ w).tanh().view(-1)
    g = lib.autograd.grad(
        outputs=d,
        inputs=x,
        grad_outputs=lib.ones_like(d),
        create_graph=True,
        retain_graph=True,
        only_inputs=only_inputs,
    )[0]
    pen = ((g.norm(2, dim=1) - 1) ** 2).mean()
    pen.backward()
    return pen, w.grad


def test_grad_only_inputs_gradient_penalty():
    (pt, gt), (pp, gp) = _gp(torch), _gp(pydlk)
    np.testing.assert_allclose(_np(pp), _np(pt), rtol=1e-10)
    np.testing.assert_allclose(_np(gp), _np(gt), rtol=1e-10)
    with pytest.warns(FutureWarning, match="only_inputs argument is deprecated"):
        _gp(pydlk, only_inputs=False)


def test_grad_materialize_grads_and_allow_unused_default():
    for lib in (torch, pydlk):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0], requires_grad=True)
        (ga, gb) = lib.autograd.grad((a * a).sum(), (a, b), materialize_grads=True)
        np.testing.assert_array_equal(_np(ga), [2.0, 4.0])
        np.testing.assert_array_equal(_np(gb), [0.0])
        with pytest.raises(ValueError, match="allow_unused"):
            lib.autograd.grad((a * a).sum(), (a, b), materialize_grads=True, allow_unused=False)
        with pytest.raises(RuntimeError, match="not have been used"):
            lib.autograd.grad((a * a).sum(), (a, b))
        with pytest.raises(RuntimeError, match="cannot be empty"):
            lib.autograd.grad((a * a).sum(), [])


def test_grad_dict_inputs_and_batched_grads():
    res = {}
    for lib in (torch, pydlk):
        x = lib.tensor([[1.0, 2.0, 3.0]], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]], dtype=lib.float64, requires_grad=True)
        y = (x @ w).sin()
        d = lib.autograd.grad(y.sum(), {"x": x, "w": w}, retain_graph=True)
        assert list(d) == ["x", "w"]
        eye = lib.eye(2, dtype=lib.float64).unsqueeze(1)  # (2, 1, 2): one row of the Jacobian each
        (jx,) = lib.autograd.grad(y, x, eye, retain_graph=True, is_grads_batched=True)
        res[lib.__name__] = (_np(d["x"]), _np(d["w"]), _np(jx))
    for a, b in zip(res["pydlk"], res["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert res["pydlk"][2].shape == (2, 1, 3)


# ------------------------------------------------------------ torch.utils.data's import paths


def test_utils_data_submodules_are_pydlks():
    import importlib

    for sub, names in {
        "dataloader": ["DataLoader", "default_collate", "default_convert", "get_worker_info"],
        "dataset": ["Dataset", "IterableDataset", "TensorDataset", "ChainDataset"],
        "sampler": ["Sampler", "RandomSampler", "WeightedRandomSampler", "BatchSampler"],
        "distributed": ["DistributedSampler"],
    }.items():
        mod = importlib.import_module("pydlk.utils.data." + sub)
        ref = importlib.import_module("torch.utils.data." + sub)
        for n in names:
            assert hasattr(ref, n)
            assert getattr(mod, n) is getattr(pydlk.data, n), (sub, n)


def _shape_of(b):
    """A batch with each Tensor replaced by its values, containers and their types kept."""
    if hasattr(b, "shape"):
        return ("T", np.asarray(b).tolist())
    if isinstance(b, dict):
        return {k: _shape_of(v) for k, v in b.items()}
    if isinstance(b, (list, tuple)):
        return (type(b).__name__, [_shape_of(v) for v in b])
    return b


def test_default_collate_string_fields_are_tuples():
    import torch.utils.data as td

    for batch in ([("a", 1), ("b", 2)], [{"s": "x", "n": [1, "y"]}] * 2, ["p", "q"]):
        got, ref = pydlk.data.default_collate(batch), td.default_collate(batch)
        assert _shape_of(got) == _shape_of(ref)


def test_stack_and_chain_datasets():
    import torch.utils.data as td

    class Stream:
        def __init__(self, lib, lo, hi):
            self.cls = type(
                "S",
                (lib.utils.data.IterableDataset,),
                {"__iter__": lambda s: iter(range(lo, hi)), "__len__": lambda s: hi - lo},
            )

    out = {}
    for lib in (torch, pydlk):
        D = lib.utils.data
        a = D.TensorDataset(lib.arange(4))
        b = D.TensorDataset(lib.arange(4) * 10)
        st = D.StackDataset(a, b)
        sd = D.StackDataset(x=a, y=b)
        chain = Stream(lib, 0, 3).cls() + Stream(lib, 7, 9).cls()
        assert type(chain).__name__ == "ChainDataset"
        batches = [
            [int(v) for v in t[0].reshape(-1)]
            for t in next(iter(D.DataLoader(sd, batch_size=4))).values()
        ]
        out[lib.__name__] = (
            len(st),
            [int(t[0]) for t in st[2]],
            sorted(sd[1]),
            list(chain),
            len(chain),
            batches,
        )
        with pytest.raises(ValueError, match="Size mismatch"):
            D.StackDataset(a, D.TensorDataset(lib.arange(3)))
        with pytest.raises(ValueError, match="both types"):
            D.StackDataset(a, y=b)
    assert out["pydlk"] == out["torch"]
    assert td.ChainDataset is not None


# ------------------------------------------------------------ 1-D pooling, unpooling, LP pooling


def _both_grad(fn, arr, rtol=1e-10):
    """``fn(lib, F, x)`` under torch and pydlk on a float64 leaf: values (and indices when a
    pair comes back) and the leaf's gradient for a random upstream gradient."""
    outs = []
    for lib in (torch, pydlk):
        x = lib.tensor(arr, requires_grad=True)
        y = fn(lib, lib.nn.functional, x)
        yy = y[0] if isinstance(y, tuple) else y
        yy.backward(lib.tensor(np.random.default_rng(1).standard_normal(tuple(yy.shape))))
        outs.append((y if isinstance(y, tuple) else (y,), x.grad))
    (yt, gt), (yp, gp) = outs
    for a, b in zip(yp, yt):
        assert str(a.dtype) == str(b.dtype).split(".")[-1]
        np.testing.assert_allclose(_np(a), _np(b), rtol=rtol)
    np.testing.assert_allclose(_np(gp), _np(gt), rtol=rtol)


_A1 = np.random.default_rng(0).standard_normal((2, 3, 11))
_A2 = np.random.default_rng(0).standard_normal((2, 3, 7, 9))


@pytest.mark.parametrize(
    "fn,arr",
    [
        (lambda lib, F, x: F.max_pool1d(x, 3), _A1),
        (lambda lib, F, x: F.max_pool1d(x, 3, 2, 1, 2, ceil_mode=True, return_indices=True), _A1),
        (lambda lib, F, x: F.avg_pool1d(x, 4, 3, 2, ceil_mode=True, count_include_pad=False), _A1),
        (lambda lib, F, x: F.avg_pool1d(x[0], (3,)), _A1),
        (lambda lib, F, x: F.adaptive_avg_pool1d(x, 4), _A1),
        (lambda lib, F, x: F.adaptive_max_pool1d(x, 5, return_indices=True), _A1),
        (lambda lib, F, x: F.max_pool1d_with_indices(x, 2), _A1),
        (lambda lib, F, x: F.max_unpool1d(*F.max_pool1d(x, 2, return_indices=True), 2), _A1),
        (
            lambda lib, F, x: F.max_unpool1d(
                *F.max_pool1d(x, 2, return_indices=True), 2, output_size=[11]
            ),
            _A1,
        ),
        (
            lambda lib, F, x: F.max_unpool2d(
                *F.max_pool2d(x, 2, return_indices=True), 2, output_size=x.shape
            ),
            _A2,
        ),
        (
            lambda lib, F, x: F.max_unpool2d(*F.max_pool2d_with_indices(x, (2, 3), 2), (2, 3), 2),
            _A2,
        ),
        (lambda lib, F, x: F.lp_pool1d(x.abs() + 0.1, 2, 3), _A1),
        (lambda lib, F, x: F.lp_pool2d(x.abs() + 0.1, 3.0, (2, 3), stride=2), _A2),
        (lambda lib, F, x: lib.nn.AdaptiveMaxPool1d(3)(x), _A1),
        (lambda lib, F, x: lib.nn.AvgPool1d(3, 2, 1)(x), _A1),
    ],
)
def test_pool1d_unpool_lppool_match_torch(fn, arr):
    _both_grad(fn, arr)


def test_pool1d_modules_repr_and_segnet_roundtrip():
    for cls, args in [
        ("MaxPool1d", (3,)),
        ("AvgPool1d", (3, 2)),
        ("AdaptiveAvgPool1d", (4,)),
        ("MaxUnpool1d", (2,)),
        ("MaxUnpool2d", (2,)),
        ("LPPool2d", (2, (2, 3), 1)),
    ]:
        assert repr(getattr(pydlk.nn, cls)(*args)) == repr(getattr(torch.nn, cls)(*args))
    # SegNet's encoder/decoder pair: pool with indices, unpool to the pre-pool size
    x = pydlk.tensor(_A2[:, :, :6, :8])
    pool, unpool = pydlk.nn.MaxPool2d(2, return_indices=True), pydlk.nn.MaxUnpool2d(2)
    y, idx = pool(x)
    up = unpool(y, idx, output_size=x.size())
    assert up.shape == x.shape and np.count_nonzero(_np(up)) == y.numel()
    with pytest.raises(ValueError, match="indices"):
        unpool(y, idx[..., :1])


# ------------------------------------------------------------ activations pydlk lacked


def test_softmin_hardtanh_softmax2d_match_torch():
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    _both_grad(lambda lib, F, x: F.softmin(x, dim=1), a)
    _both_grad(lambda lib, F, x: lib.nn.Softmin(dim=-1)(x), a)
    _both_grad(lambda lib, F, x: lib.nn.Softmax2d()(x), a)
    _both_grad(lambda lib, F, x: lib.nn.Hardtanh(-0.3, 0.4)(x), a)
    _both_grad(lambda lib, F, x: lib.nn.RReLU(0.1, 0.3).eval()(x), a)
    for cls, args in [("Hardtanh", (-2.0, 2.0, True)), ("Softmin", (1,)), ("RReLU", (0.1, 0.3))]:
        assert repr(getattr(pydlk.nn, cls)(*args)) == repr(getattr(torch.nn, cls)(*args))


def test_inplace_activation_spellings_match_torch():
    a = np.random.default_rng(0).standard_normal((3, 5))
    out = {}
    for lib in (torch, pydlk):
        F = lib.nn.functional
        z = lib.tensor(a.copy())
        assert F.elu_(z) is z
        F.leaky_relu_(z, 0.2)
        F.hardtanh_(z, -0.5, 0.5)
        F.threshold_(z, 0.1, 9.0)
        F.selu_(z)
        F.celu_(z, 2.0)
        F.rrelu_(z)  # eval: the mean slope
        out[lib.__name__] = _np(z)
    np.testing.assert_allclose(out["pydlk"], out["torch"], rtol=1e-12)


def test_rrelu_training_slopes_and_gumbel_softmax():
    a = np.random.default_rng(0).standard_normal((64, 5))
    x = pydlk.tensor(a, requires_grad=True)
    y = pydlk.nn.RReLU()(x)  # a new module trains: random slopes in [1/8, 1/3]
    neg = a < 0
    slope = _np(y)[neg] / a[neg]
    assert ((slope >= 1 / 8) & (slope <= 1 / 3)).all() and slope.std() > 0.01
    np.testing.assert_array_equal(_np(y)[~neg], a[~neg])
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad)[neg], slope)
    # gumbel_softmax: rows sum to 1; hard gives one-hot with the soft sample's gradient
    x = pydlk.tensor(a, requires_grad=True)
    soft = pydlk.nn.functional.gumbel_softmax(x, tau=0.5)
    np.testing.assert_allclose(_np(soft).sum(-1), 1.0)
    hard = pydlk.nn.functional.gumbel_softmax(x, hard=True)
    h = _np(hard)
    assert set(np.unique(h)) <= {0.0, 1.0} and (h.sum(-1) == 1).all()
    (hard * pydlk.arange(5.0, dtype=pydlk.float64)).sum().backward()
    assert np.abs(_np(x.grad)).sum() > 0
    np.testing.assert_allclose(_np(x.grad).sum(-1), 0.0, atol=1e-12)
    # the argmax of the logits wins most often at a low temperature
    pydlk.manual_seed(0)
    wins = pydlk.nn.functional.gumbel_softmax(pydlk.tensor([[0.0, 3.0, 0.0]]).repeat(400, 1), 0.1)
    assert _np(wins).argmax(-1).tolist().count(1) > 300


# ------------------------------------------------------------ losses pydlk lacked

_R = np.random.default_rng(0)
_X = _R.standard_normal((4, 5))
_TGT = _R.standard_normal((4, 5))
_VAR = np.abs(_R.standard_normal((4, 5))) + 1e-7
_VAR[0, 0] = 1e-9  # clamped to eps in the value, not in the gradient
_SIGN = np.sign(_R.standard_normal((4, 5)))
_CNT = _R.poisson(2.0, (4, 5)).astype(float)
_BIN = (_R.random((4, 5)) > 0.5).astype(float)
_ML = np.array([[3, 0, -1, 1, 2], [1, 1, 2, -1, 0], [-1, 0, 0, 0, 0], [0, 1, 2, 3, 4]])


@pytest.mark.parametrize(
    "fn",
    [
        lambda L, F, x: F.gaussian_nll_loss(x, L.tensor(_TGT), L.tensor(_VAR)),
        lambda L, F, x: F.gaussian_nll_loss(
            x, L.tensor(_TGT), L.tensor(_VAR[:, 0]), full=True, reduction="sum"
        ),
        lambda L, F, x: F.gaussian_nll_loss(
            L.tensor(_TGT), L.tensor(_TGT) * 0.5, x.abs(), reduction="none"
        ),
        lambda L, F, x: L.nn.GaussianNLLLoss(full=True)(x, L.tensor(_TGT), 0.5),
        lambda L, F, x: F.poisson_nll_loss(x, L.tensor(_CNT)),
        lambda L, F, x: L.nn.PoissonNLLLoss(log_input=False, full=True, reduction="none")(
            x.abs() + 0.1, L.tensor(_CNT)
        ),
        lambda L, F, x: F.hinge_embedding_loss(x, L.tensor(_SIGN), margin=0.5),
        lambda L, F, x: L.nn.HingeEmbeddingLoss(reduction="none")(x, L.tensor(_SIGN)),
        lambda L, F, x: L.nn.SoftMarginLoss()(x, L.tensor(_SIGN)),
        lambda L, F, x: F.multilabel_soft_margin_loss(
            x, L.tensor(_BIN), weight=L.tensor(np.arange(1.0, 6.0))
        ),
        lambda L, F, x: L.nn.MultiLabelSoftMarginLoss(reduction="none")(x, L.tensor(_BIN)),
        lambda L, F, x: F.multilabel_margin_loss(x, L.tensor(_ML)),
        lambda L, F, x: L.nn.MultiLabelMarginLoss(reduction="none")(x, L.tensor(_ML)),
        lambda L, F, x: F.multilabel_margin_loss(x[0], L.tensor(_ML[0]), reduction="sum"),
    ],
)
def test_more_losses_match_torch(fn):
    _both_grad(fn, _X)


def test_gaussian_nll_loss_errors_match_torch():
    for lib in (torch, pydlk):
        F = lib.nn.functional
        with pytest.raises(ValueError, match="var has negative"):
            F.gaussian_nll_loss(lib.zeros(3), lib.zeros(3), -lib.ones(3))
        with pytest.raises(ValueError, match="var is of incorrect size"):
            F.gaussian_nll_loss(lib.zeros(3, 2), lib.zeros(3, 2), lib.ones(2))
        assert "weight" in dict(lib.nn.MultiLabelSoftMarginLoss(weight=lib.ones(3)).named_buffers())


# ---------------------------------------- norm layers: 1-D/3-D, unbatched, bias=False


@pytest.mark.parametrize(
    "cls,kw,shape",
    [
        ("InstanceNorm1d", {}, (2, 3, 7)),
        ("InstanceNorm1d", dict(affine=True), (3, 7)),
        ("InstanceNorm2d", dict(track_running_stats=True), (3, 4, 5)),
        ("InstanceNorm3d", dict(affine=True, track_running_stats=True), (2, 3, 2, 3, 4)),
        ("BatchNorm3d", {}, (2, 3, 2, 3, 4)),
        ("BatchNorm2d", dict(bias=False), (2, 3, 4, 4)),
        ("BatchNorm1d", dict(bias=False), (4, 3)),
        ("InstanceNorm1d", dict(affine=True, bias=False), (2, 3, 5)),
    ],
)
def test_norm_layers_match_torch(cls, kw, shape):
    a = np.random.default_rng(0).standard_normal(shape)
    res = []
    for lib in (torch, pydlk):
        m = getattr(lib.nn, cls)(3, **kw).double()
        x = lib.tensor(a, requires_grad=True)
        y = lib.nn.Sequential(m, lib.nn.ReLU())(x)  # a BatchNorm + ReLU pair may be fused
        y.backward(lib.tensor(np.cos(a)))
        m.eval()
        y2 = m(lib.tensor(a))
        res.append((_np(y), _np(x.grad), _np(y2), repr(m), sorted(m.state_dict())))
    for a_, b_ in zip(res[1][:3], res[0][:3]):
        np.testing.assert_allclose(a_, b_, rtol=1e-10, atol=1e-12)
    assert res[1][3:] == res[0][3:]


def test_group_norm_bias_false_and_instance_norm_checks():
    for lib in (torch, pydlk):
        g = lib.nn.GroupNorm(1, 3, bias=False)
        assert g.bias is None and "bias=False" in repr(g)
        with pytest.raises(ValueError, match="to match num_features"):
            lib.nn.InstanceNorm1d(4, affine=True)(lib.zeros(2, 3, 5))
        with pytest.raises(ValueError):
            lib.nn.BatchNorm3d(3)(lib.zeros(2, 3, 4, 4))


# ------------------------------------------------------------ channel and alpha dropout


def test_dropout1d_3d_drop_whole_channels():
    F = pydlk.nn.functional
    pydlk.manual_seed(0)
    y = _np(F.dropout1d(pydlk.ones(400, 6, 5), 0.3))
    assert (y == y[:, :, :1]).all()
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((y[:, :, 0] == 0).mean() - 0.3) < 0.03
    assert tuple(F.dropout1d(pydlk.ones(6, 5), 0.5).shape) == (6, 5)
    y = _np(pydlk.nn.Dropout3d(0.5)(pydlk.ones(50, 4, 2, 3, 2))).reshape(50, 4, -1)
    assert (y == y[:, :, :1]).all() and 0 < (y == 0).mean() < 1
    x = pydlk.ones(4, 3, 5, requires_grad=True)
    out = F.dropout1d(x, 0.5)
    out.sum().backward()
    np.testing.assert_array_equal(_np(x.grad), _np(out))
    for lib in (torch, pydlk):
        with pytest.raises(RuntimeError, match="Expected 2D or 3D input"):
            lib.nn.functional.dropout1d(lib.ones(2, 3, 4, 5))
        assert repr(lib.nn.Dropout1d(0.2)) == "Dropout1d(p=0.2, inplace=False)"


def test_alpha_dropout_keeps_selu_statistics():
    F = pydlk.nn.functional
    pydlk.manual_seed(0)
    s = F.selu(pydlk.randn(200000))
    ad = _np(pydlk.nn.AlphaDropout(0.2)(s))
    assert abs(ad.mean()) < 0.01 and abs(ad.std() - 1) < 0.01
    assert abs((ad == ad.min()).mean() - 0.2) < 0.01
    # the functional form defaults to training=False, as torch's
    assert (_np(F.alpha_dropout(s, 0.2)) == _np(s)).all()
    fa = _np(F.feature_alpha_dropout(pydlk.ones(100, 8, 3), 0.5, training=True))
    assert (fa == fa[:, :, :1]).all()
    ref = torch.nn.functional.feature_alpha_dropout(torch.ones(100, 8, 3), 0.5, training=True)
    np.testing.assert_allclose(sorted(np.unique(fa)), sorted(np.unique(ref.numpy())), rtol=1e-6)


# ----------------------------------------------------- bilinear, pdist, channel shuffle, LRN

_PD = np.random.default_rng(3).standard_normal((5, 3))
_PD[3] = _PD[1]  # a zero distance: zero gradient, as torch's


@pytest.mark.parametrize(
    "fn,arrs",
    [
        (
            lambda L, F, a, b, w, c: F.bilinear(a, b, w, c),
            [(2, 3, 4), (2, 3, 5), (6, 4, 5), (6,)],
        ),
        *[(lambda L, F, a, p=p: F.pdist(a, p), [_PD]) for p in (2, 1, 3.5, 0, float("inf"))],
        (lambda L, F, a: F.channel_shuffle(a, 3), [(2, 6, 2, 2)]),
        (lambda L, F, a: L.nn.ChannelShuffle(2)(a), [(2, 6, 3)]),
        (lambda L, F, a: F.local_response_norm(a, 3), [(2, 6, 5)]),
        (
            lambda L, F, a: L.nn.LocalResponseNorm(4, alpha=0.1, beta=0.6, k=2.0)(a),
            [(2, 7, 3, 4)],
        ),
        (lambda L, F, a: F.local_response_norm(a, 2, alpha=0.5), [(2, 5, 2, 3, 2)]),
    ],
)
def test_bilinear_pdist_shuffle_lrn_match_torch(fn, arrs):
    r = np.random.default_rng(0)
    arrs = [a if isinstance(a, np.ndarray) else r.standard_normal(a) for a in arrs]
    outs = []
    for lib in (torch, pydlk):
        xs = [lib.tensor(a, requires_grad=True) for a in arrs]
        y = fn(lib, lib.nn.functional, *xs)
        y.backward(lib.tensor(np.random.default_rng(1).standard_normal(tuple(y.shape))))
        outs.append((_np(y), [_np(x.grad) for x in xs]))
    np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=1e-10, atol=1e-12)
    for a, b in zip(outs[1][1], outs[0][1]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_shuffle_lrn_bilinear_layers_repr_and_errors():
    for lib in (torch, pydlk):
        assert repr(lib.nn.ChannelShuffle(2)) == "ChannelShuffle(groups=2)"
        assert repr(lib.nn.LocalResponseNorm(3)) == (
            "LocalResponseNorm(3, alpha=0.0001, beta=0.75, k=1.0)"
        )
        with pytest.raises(RuntimeError, match="divisible by groups"):
            lib.nn.functional.channel_shuffle(lib.zeros(1, 5, 2), 2)
        with pytest.raises(RuntimeError, match="pdist only supports 2D"):
            lib.nn.functional.pdist(lib.zeros(2, 3, 4))


# ------------------------------------------------------------ Embedding options, SparseAdam, Rprop

_W = np.random.default_rng(0).standard_normal((10, 4))
_IDX = np.array([[1, 2, 2, 5], [5, 5, 0, 9]])


@pytest.mark.parametrize(
    "kw",
    [
        dict(max_norm=1.0),
        dict(max_norm=0.5, norm_type=1.0),
        dict(scale_grad_by_freq=True),
        dict(scale_grad_by_freq=True, padding_idx=5),
        dict(sparse=True),
        dict(max_norm=1.5, scale_grad_by_freq=True, padding_idx=2),
    ],
)
def test_embedding_max_norm_freq_sparse_match_torch(kw):
    outs = []
    for lib in (torch, pydlk):
        e = lib.nn.Embedding.from_pretrained(lib.tensor(_W.copy()), freeze=False, **kw)
        y = e(lib.tensor(_IDX))
        (y * lib.tensor(np.arange(y.numel()).reshape(tuple(y.shape)) / 10.0)).sum().backward()
        g = e.weight.grad
        if lib is torch and g.is_sparse:
            g = g.to_dense()
        outs.append((_np(y), _np(g), _np(e.weight), repr(e)))
    for a, b in zip(outs[1][:3], outs[0][:3]):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    assert outs[1][3] == outs[0][3]


@pytest.mark.parametrize(
    "name,kw",
    [
        ("SparseAdam", dict(lr=0.05)),
        ("SparseAdam", dict(lr=0.01, betas=(0.8, 0.99), maximize=True)),
        ("Rprop", {}),
        ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2))),
    ],
)
def test_sparse_adam_and_rprop_match_torch(name, kw):
    r = np.random.default_rng(1)
    idxs = [r.integers(0, 10, (3, 5)) for _ in range(6)]
    res = []
    for lib in (torch, pydlk):
        e = lib.nn.Embedding.from_pretrained(
            lib.tensor(_W.copy()), freeze=False, sparse=name == "SparseAdam"
        )
        opt = getattr(lib.optim, name)(e.parameters(), **kw)
        losses = []
        for idx in idxs:
            opt.zero_grad()
            loss = ((e(lib.tensor(idx)) - 0.3) ** 3).sum()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        res.append((_np(e.weight), losses, sorted(opt.state_dict()["state"][0])))
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-10)
    assert res[1][2] == res[0][2]
    with pytest.raises(ValueError, match="Invalid"):
        getattr(pydlk.optim, name)([pydlk.nn.Parameter(pydlk.zeros(2))], lr=-1.0)


# ------------------------------------------------------ torch.func, functional_call, fusion


def _mlp(lib):
    r = np.random.default_rng(0)
    m = lib.nn.Sequential(lib.nn.Linear(3, 8), lib.nn.Tanh(), lib.nn.Linear(8, 2)).double()
    m.load_state_dict(
        {k: lib.tensor(r.standard_normal(tuple(v.shape)) * 0.5) for k, v in m.state_dict().items()}
    )
    x = lib.tensor(r.standard_normal((5, 3)))
    y = lib.tensor(r.integers(0, 2, 5))
    return m, x, y


def _import_func(lib):
    """``torch.func`` / ``pydlk.func`` (torch's import warns of torch.jit inside torch)."""
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(lib.__name__ + ".func")


def _func_results(lib):
    fn = _import_func(lib)
    F = lib.nn.functional
    m, x, y = _mlp(lib)
    params = {k: v.detach() for k, v in m.named_parameters()}

    def loss_fn(p, xi, yi):
        return F.cross_entropy(fn.functional_call(m, p, (xi.unsqueeze(0),)), yi.unsqueeze(0))

    per = fn.vmap(fn.grad(loss_fn), in_dims=(None, 0, 0))(params, x, y)
    z = lib.tensor([0.3, -1.2, 2.0], dtype=lib.float64)
    one = lib.ones(3, dtype=lib.float64)
    return [
        _np(per["0.weight"]),
        _np(per["2.bias"]),
        _np(fn.grad_and_value(lambda p: loss_fn(p, x[0], y[0]))(params)[1]),
        _np(fn.grad(lambda t: fn.grad(lambda s: s.sin() * s**3)(t))(lib.tensor(0.7).double())),
        _np(fn.hessian(lambda t: (t.sin() * t.pow(2)).sum())(z)),
        _np(fn.jacrev(lambda t: lib.stack([t[0] * t[1], t[2].exp(), t.sum()]))(z)),
        _np(fn.jacfwd(lambda a, b: a * b.sum(), argnums=(0, 1))(z, z * 2)[1]),
        _np(fn.vjp(lambda a: a.sin() * 2, z)[1](one)[0]),
        _np(fn.jvp(lambda a: a.sin() * a, (z,), (one,))[1]),
        _np(fn.vmap(lib.dot)(lib.arange(6.0).view(2, 3), lib.ones(2, 3))),
        _np(
            fn.vmap(lambda a: (a * 2, a.sum()), in_dims=1, out_dims=(1, 0))(
                lib.arange(6.0).view(2, 3)
            )[0]
        ),
    ]


def test_func_transforms_match_torch():
    import warnings

    with warnings.catch_warnings():  # torch's forward AD loads torch.jit code, which warns
        warnings.simplefilter("ignore", DeprecationWarning)
        ref = _func_results(torch)
    for a, b in zip(_func_results(pydlk), ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_functional_call_maml_and_module_untouched():
    res = []
    for lib in (torch, pydlk):
        _import_func(lib)
        m, x, y = _mlp(lib)
        before = {k: _np(v).copy() for k, v in m.state_dict().items()}
        meta = {k: v.detach().clone().requires_grad_() for k, v in m.named_parameters()}
        opt = lib.optim.SGD(meta.values(), lr=0.1)
        losses = []
        for _ in range(3):
            inner = dict(meta)
            for _ in range(2):
                loss = lib.nn.functional.cross_entropy(lib.func.functional_call(m, inner, x), y)
                gs = lib.autograd.grad(loss, list(inner.values()), create_graph=True)
                inner = {k: p - 0.5 * g for (k, p), g in zip(inner.items(), gs)}
            outer = lib.nn.functional.cross_entropy(lib.func.functional_call(m, inner, (x,)), y)
            opt.zero_grad()
            outer.backward()
            opt.step()
            losses.append(outer.item())
        assert all(np.array_equal(before[k], _np(v)) for k, v in m.state_dict().items())
        assert m[0].weight.grad is None
        res.append(losses)
        with pytest.raises(RuntimeError, match="Missing key"):
            lib.func.functional_call(m, {"0.weight": meta["0.weight"]}, (x,), strict=True)
    np.testing.assert_allclose(res[1], res[0], rtol=1e-10)


def test_fuse_conv_bn_and_linear_bn_eval():
    for lib in (torch, pydlk):
        conv, bn = lib.nn.Conv2d(2, 3, 3).double().eval(), lib.nn.BatchNorm2d(3).double().eval()
        bn.running_mean.copy_(lib.tensor([0.1, -0.2, 0.3]))
        bn.running_var.copy_(lib.tensor([1.5, 0.5, 2.0]))
        with lib.no_grad():
            bn.weight.copy_(lib.tensor([1.0, 2.0, 0.5]))
            bn.bias.copy_(lib.tensor([0.0, 0.1, -0.1]))
        x = lib.tensor(np.random.default_rng(3).standard_normal((1, 2, 5, 5)))
        fused = lib.nn.utils.fuse_conv_bn_eval(conv, bn)
        assert isinstance(fused, lib.nn.Conv2d) and fused is not conv
        np.testing.assert_allclose(_np(fused(x)), _np(bn(conv(x))), rtol=1e-10, atol=1e-12)
        lin, bn1 = lib.nn.Linear(3, 3).double().eval(), lib.nn.BatchNorm1d(3).double().eval()
        bn1.running_var.fill_(2.0)
        xl = lib.tensor(np.random.default_rng(4).standard_normal((4, 3)))
        fl = lib.nn.utils.fuse_linear_bn_eval(lin, bn1)
        np.testing.assert_allclose(_np(fl(xl)), _np(bn1(lin(xl))), rtol=1e-10, atol=1e-12)
        with pytest.raises(AssertionError, match="Fusion only for eval"):
            lib.nn.utils.fuse_conv_bn_eval(conv.train(), bn)


def test_init_dirac_sparse_and_deprecated_spellings():
    for lib in (torch, pydlk):
        w = lib.empty(6, 4, 3, 3)
        lib.nn.init.dirac_(w, 2)
        assert float(w.sum()) == 6.0 and float(w[4, 1, 1, 1]) == 1.0
        w2 = lib.empty(8, 5)
        lib.nn.init.sparse_(w2, 0.5)
        assert (_np(w2) == 0).sum(0).tolist() == [4] * 5
        with pytest.warns(FutureWarning, match="nn.init.xavier_uniform_"):
            lib.nn.init.xavier_uniform(lib.empty(3, 3))
        with pytest.warns(FutureWarning, match="clip_grad_norm_"):
            lib.nn.utils.clip_grad_norm([lib.nn.Parameter(lib.ones(2))], 1.0)


# ------------------------------------------------------------ convolution padding modes


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("mode", ["reflect", "circular", "replicate", "zeros"])
@pytest.mark.parametrize("pad", [1, 2, "same"])
def test_conv_padding_modes_match_torch(mode, pad):
    x1 = np.random.default_rng(0).standard_normal((2, 2, 7))
    x2 = np.tile(x1[..., None], (1, 1, 1, 5)) * np.arange(1, 6)
    for build, x in (
        (
            lambda L: L.nn.Conv1d(
                2,
                3,
                4 if pad == "same" else 3,
                padding=pad,
                padding_mode=mode,
                dilation=2 if pad == "same" else 1,
            ),
            x1,
        ),
        (
            lambda L: L.nn.Conv2d(
                2, 3, (3, 2) if pad == "same" else 3, padding=pad, padding_mode=mode
            ),
            x2,
        ),
    ):
        out = []
        for lib in (torch, pydlk):
            m = build(lib).double()
            with lib.no_grad():
                w = np.random.default_rng(1).standard_normal(tuple(m.weight.shape))
                m.weight.copy_(lib.tensor(w))
                m.bias.fill_(0.25)
            xx = lib.tensor(x, requires_grad=True)
            y = m(xx)
            y.sum().backward()
            out.append((_np(y), _np(xx.grad), _np(m.weight.grad), repr(m)))
        for a, b in zip(out[1][:3], out[0][:3]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        assert out[1][3] == out[0][3]


def test_conv_padding_mode_errors():
    for lib in (torch, pydlk):
        with pytest.raises(ValueError, match='Only "zeros" padding mode'):
            lib.nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")
        with pytest.raises(ValueError, match="padding_mode must be one of"):
            lib.nn.Conv2d(2, 2, 3, padding_mode="bogus")


# ------------------------------------------------------------ 3-D convolution and pooling

_V = np.random.default_rng(0).standard_normal((2, 4, 5, 6, 7))
_VT = np.random.default_rng(0).integers(0, 3, (2, 4, 5, 6, 7)).astype(float)  # ties


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(
    "fn,arrs",
    [
        (
            lambda L, F, x, w, b: F.conv3d(
                x, w, b, stride=(2, 1, 2), padding=(1, 0, 1), dilation=(1, 2, 1), groups=2
            ),
            [_V, (6, 2, 3, 2, 3), (6,)],
        ),
        (lambda L, F, x, w: F.conv3d(x, w, padding="same", groups=2), [_V, (4, 2, 2, 3, 2)]),
        (lambda L, F, x, w: F.conv3d(x[0], w, stride=2), [_V, (3, 4, 3, 3, 3)]),
        (lambda L, F, x: F.max_pool3d(x, 2), [_V]),
        (
            lambda L, F, x: F.max_pool3d(
                x, (3, 2, 3), (2, 2, 1), (1, 1, 1), (1, 2, 1), ceil_mode=True, return_indices=True
            ),
            [_V],
        ),
        (lambda L, F, x: F.max_pool3d(x, 3, 2, 1, return_indices=True), [_VT]),
        (lambda L, F, x: F.avg_pool3d(x, (3, 2, 3), (2, 2, 1), (1, 1, 1), ceil_mode=True), [_V]),
        (
            lambda L, F, x: F.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
            [_V],
        ),
        (lambda L, F, x: F.avg_pool3d(x, 2, divisor_override=3), [_V]),
        (lambda L, F, x: F.adaptive_avg_pool3d(x, (3, None, 4)), [_V]),
        (lambda L, F, x: L.nn.AdaptiveAvgPool3d(1)(x), [_V]),
        (lambda L, F, x: F.adaptive_max_pool3d(x, (2, 4, 3), return_indices=True), [_V]),
        (lambda L, F, x: L.nn.AdaptiveMaxPool3d(2, return_indices=True)(x), [_VT]),
        (lambda L, F, x: L.nn.MaxPool3d(2, return_indices=True)(x[0]), [_V]),
    ],
)
def test_volumetric_ops_match_torch(fn, arrs):
    r = np.random.default_rng(5)
    arrs = [a if isinstance(a, np.ndarray) else r.standard_normal(a) for a in arrs]
    outs = []
    for lib in (torch, pydlk):
        xs = [lib.tensor(a, requires_grad=True) for a in arrs]
        y = fn(lib, lib.nn.functional, *xs)
        ys = y if isinstance(y, tuple) else (y,)
        ys[0].backward(lib.tensor(np.random.default_rng(1).standard_normal(tuple(ys[0].shape))))
        outs.append(([_np(t) for t in ys], [_np(x.grad) for x in xs]))
    for a, b in zip(outs[1][0] + outs[1][1], outs[0][0] + outs[0][1]):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
def test_conv3d_layer_matches_torch(mode):
    x = _V[:1, :2, :4]
    out = []
    for lib in (torch, pydlk):
        m = lib.nn.Conv3d(2, 3, 3, padding=1, padding_mode=mode).double()
        with lib.no_grad():
            m.weight.copy_(lib.tensor(np.random.default_rng(1).standard_normal((3, 2, 3, 3, 3))))
            m.bias.fill_(0.5)
        out.append((_np(m(lib.tensor(x))), repr(m)))
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=1e-10)
    assert out[1][1] == out[0][1]
    for lib in (torch, pydlk):
        assert repr(lib.nn.MaxPool3d(2)) == (
            "MaxPool3d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
        )


# ------------------------------------------------------------ CTC loss

_CT = np.random.default_rng(0).standard_normal((12, 4, 6))
_CTG = np.array([[1, 2, 2, 3], [4, 4, 0, 0], [5, 1, 3, 0], [2, 0, 0, 0]])
_CTL, _CIL = [4, 2, 3, 1], [12, 10, 4, 7]
_CCAT = np.concatenate([_CTG[i, : _CTL[i]] for i in range(4)])


@pytest.mark.parametrize(
    "fn",
    [
        lambda L, x: L.nn.functional.ctc_loss(
            x.log_softmax(2), L.tensor(_CTG), L.tensor(_CIL), L.tensor(_CTL)
        ),
        lambda L, x: L.nn.functional.ctc_loss(
            x.log_softmax(2), L.tensor(_CCAT), tuple(_CIL), tuple(_CTL), reduction="sum"
        ),
        lambda L, x: L.nn.CTCLoss(blank=5, reduction="none")(
            x.log_softmax(2), L.tensor(np.where(_CTG == 5, 0, _CTG)), L.tensor(_CIL), L.tensor(_CTL)
        ),
        lambda L, x: L.nn.CTCLoss(zero_infinity=True)(
            x.log_softmax(2), L.tensor(_CTG), L.tensor([12, 10, 2, 7]), L.tensor(_CTL)
        ),
        lambda L, x: L.nn.functional.ctc_loss(x, L.tensor(_CTG), L.tensor(_CIL), L.tensor(_CTL)),
        lambda L, x: L.nn.functional.ctc_loss(
            x[:, 0].log_softmax(1), L.tensor(_CTG[0]), L.tensor([12]), L.tensor([4])
        ),
        lambda L, x: L.nn.functional.ctc_loss(
            x.float().log_softmax(2), L.tensor(_CTG), L.tensor(_CIL), L.tensor(_CTL)
        ),
    ],
)
def test_ctc_loss_matches_torch(fn):
    outs = []
    for lib in (torch, pydlk):
        x = lib.tensor(_CT, requires_grad=True)
        y = fn(lib, x)
        (y.sum() if y.dim() else y).backward()
        outs.append((_np(y), _np(x.grad), str(y.dtype).split(".")[-1]))
    rtol = 1e-9 if outs[0][2] == "float64" else 1e-5
    np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=rtol)
    np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=rtol * 100, atol=1e-6)
    assert outs[1][2] == outs[0][2]


def test_ctc_loss_impossible_alignment_is_inf():
    for lib in (torch, pydlk):
        y = lib.nn.functional.ctc_loss(
            lib.tensor(_CT).log_softmax(2),
            lib.tensor(_CTG),
            lib.tensor([12, 10, 2, 7]),
            lib.tensor(_CTL),
            reduction="none",
        )
        assert np.isinf(_np(y)[2]) and np.isfinite(_np(y)[[0, 1, 3]]).all()


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(stride=2),
        dict(stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 1), groups=2,
             dilation=(1, 2, 1)),
    ],
)  # fmt: skip
def test_conv_transpose3d_matches_torch(kw):
    r = np.random.default_rng(0)
    x = r.standard_normal((2, 4, 3, 4, 5))
    w = r.standard_normal((4, 3, 3, 2, 3))
    b = np.arange(6.0 if "groups" in kw else 3.0)
    outs = []
    for lib in (torch, pydlk):
        xs = [lib.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = lib.nn.functional.conv_transpose3d(*xs, **kw)
        y.backward(lib.tensor(np.random.default_rng(1).standard_normal(tuple(y.shape))))
        outs.append([_np(y)] + [_np(t.grad) for t in xs])
    for a, c in zip(outs[1], outs[0]):
        assert a.shape == c.shape
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-11)
    for lib in (torch, pydlk):
        m = lib.nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1).double()
        assert tuple(m(lib.tensor(x), output_size=(6, 8, 10)).shape) == (2, 2, 6, 8, 10)
        with lib.no_grad():
            assert not m(lib.tensor(x)).requires_grad


# ------------------------------------------------------ nn.Buffer, DataParallel, NLLLoss2d


def test_buffer_dataparallel_nllloss2d():
    import warnings

    out = []
    for lib in (torch, pydlk):

        class M(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = lib.nn.Linear(2, 2)
                self.scale = lib.nn.Buffer(lib.ones(2) * 3)
                self.tmp = lib.nn.Buffer(lib.zeros(1), persistent=False)

            def forward(self, x):
                return self.lin(x) * self.scale

        m = lib.nn.DataParallel(M())
        y = m(lib.ones(1, 2))
        assert isinstance(m.module, M) and tuple(y.shape) == (1, 2)
        with pytest.warns(FutureWarning, match="NLLLoss2d"):
            lib.nn.NLLLoss2d()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            loss = lib.nn.NLLLoss2d()(lib.zeros(1, 3, 2, 2), lib.zeros(1, 2, 2).long())
        out.append((sorted(m.state_dict()), [n for n, _ in m.named_buffers()], float(loss)))
    assert out[1] == out[0]


def test_lazy_3d_and_instance_norm_layers_match_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5, 6))
    res = []
    for lib in (torch, pydlk):
        out = []
        for m, a in zip(
            [
                lib.nn.LazyInstanceNorm3d(),
                lib.nn.LazyInstanceNorm1d(),
                lib.nn.LazyInstanceNorm2d(eps=1e-3),
                lib.nn.LazyBatchNorm3d(),
            ],
            [x, x[:, :, 0, 0], x[:, :, 0], x],
        ):
            y = m.double()(lib.tensor(a))
            out.append(
                (type(m).__name__, repr(m), _np(y).round(8).tolist(), sorted(m.state_dict()))
            )
        c = lib.nn.LazyConv3d(4, 3)
        y = c(lib.tensor(x, dtype=lib.float32))
        out.append((type(c).__name__, repr(c), tuple(y.shape), tuple(c.weight.shape)))
        res.append(out)
    assert res[1] == res[0]


# ------------------------------------------------ MultiheadAttention kdim/vdim, bias_kv

_Q = np.random.default_rng(0).standard_normal((2, 4, 8))
_K = np.random.default_rng(1).standard_normal((2, 3, 6))
_VV = np.random.default_rng(2).standard_normal((2, 3, 5))


@pytest.mark.parametrize(
    "kw,fkw",
    [
        (dict(kdim=6, vdim=5), {}),
        (
            dict(kdim=6, vdim=5, add_bias_kv=True),
            dict(key_padding_mask=np.array([[0, 0, 1], [0, 0, 0]], bool)),
        ),
        (
            dict(kdim=6, vdim=5, add_zero_attn=True, bias=False),
            dict(attn_mask=np.triu(np.ones((4, 3), bool), 1)),
        ),
        (
            dict(add_bias_kv=True, add_zero_attn=True),
            dict(
                key_padding_mask=np.array([[0, 1, 1], [0, 0, 0]], bool),
                attn_mask=np.triu(np.ones((4, 3), bool), 1),
            ),
        ),
    ],
)
def test_multihead_attention_kdim_vdim_bias_kv_zero_attn(kw, fkw):
    same = "kdim" not in kw
    k, v = (_Q[:, :3], _Q[:, 1:]) if same else (_K, _VV)
    outs = []
    for lib in (torch, pydlk):
        m = lib.nn.MultiheadAttention(8, 2, batch_first=True, **kw).double()
        r = np.random.default_rng(1)
        m.load_state_dict(
            {
                n: lib.tensor(r.standard_normal(tuple(t.shape)) * 0.3)
                for n, t in m.state_dict().items()
            }
        )
        xs = [lib.tensor(a, requires_grad=True) for a in (_Q, k, v)]
        o, w = m(*xs, average_attn_weights=False, **{a: lib.tensor(b) for a, b in fkw.items()})
        (o.sum() + (w * 3).sum()).backward()
        outs.append(([_np(o), _np(w)] + [_np(x.grad) for x in xs], sorted(m.state_dict())))
    for a, b in zip(outs[1][0], outs[0][0]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert outs[1][1] == outs[0][1]


# ------------------------------------------------------------ a user's Optimizer subclass


def _lion(lib):
    class Lion(lib.optim.Optimizer):
        def __init__(self, params, lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1):
            super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

        @lib.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    p.data.mul_(1 - group["lr"] * group["weight_decay"])
                    state = self.state[p]
                    if len(state) == 0:
                        state["exp_avg"] = lib.zeros_like(p)
                        state["step"] = 0
                    state["step"] += 1
                    b1, b2 = group["betas"]
                    update = state["exp_avg"] * b1 + p.grad * (1 - b1)
                    p.add_(lib.sign(update), alpha=-group["lr"])
                    state["exp_avg"].mul_(b2).add_(p.grad, alpha=1 - b2)

    return Lion


def test_user_optimizer_subclass_keeps_its_state_like_torch():
    r = np.random.default_rng(0)
    X, Y = r.standard_normal((32, 5)), r.standard_normal((32, 1))
    res = []
    for lib in (torch, pydlk):
        model = lib.nn.Linear(5, 1).double()
        model.load_state_dict(
            {k: lib.tensor(np.full(tuple(v.shape), 0.1)) for k, v in model.state_dict().items()}
        )
        opt = _lion(lib)(model.parameters())
        losses = []
        for it in range(6):
            loss = lib.nn.functional.mse_loss(model(lib.tensor(X)), lib.tensor(Y))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if it == 2:  # a checkpoint round trip into a fresh optimizer continues the same way
                sd = opt.state_dict()
                assert sorted(sd["state"][0]) == ["exp_avg", "step"] and sd["state"][0]["step"] == 3
                opt = _lion(lib)(model.parameters())
                opt.load_state_dict(sd)
        res.append((losses, _np(opt.state[model.weight]["exp_avg"]), opt.state[model.bias]["step"]))
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-12)
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-12)
    assert res[1][2] == res[0][2] == 6


# ------------------------------------------------------------ custom schedulers, container reprs


def test_old_lr_scheduler_base_and_container_reprs():
    for lib in (torch, pydlk):

        class Poly(lib.optim.lr_scheduler._LRScheduler):
            def __init__(self, optimizer, max_iter, power=0.9, last_epoch=-1):
                self.max_iter, self.power = max_iter, power
                super().__init__(optimizer, last_epoch)

            def get_lr(self):
                return [
                    b * (1 - self.last_epoch / self.max_iter) ** self.power for b in self.base_lrs
                ]

        opt = lib.optim.SGD([lib.nn.Parameter(lib.zeros(1))], lr=0.1)
        sched = Poly(opt, 10)
        for _ in range(3):
            opt.step()
            sched.step()
        assert isinstance(sched, lib.optim.lr_scheduler.LRScheduler)
        np.testing.assert_allclose(sched.get_last_lr()[0], 0.1 * 0.7**0.9)
    reprs = []
    for lib in (torch, pydlk):
        nn = lib.nn
        m = nn.Sequential(
            nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU(), nn.ReLU(), nn.Tanh()]),
            nn.ModuleList(),
            nn.ParameterList([nn.Parameter(lib.ones(2)), nn.Parameter(lib.ones(3))]),
        )
        reprs.append(repr(m).replace("torch.", ""))
    assert reprs[1] == reprs[0]


def test_module_get_parameter_and_get_buffer():
    for lib in (torch, pydlk):
        m = lib.nn.Sequential(lib.nn.Conv2d(1, 2, 3), lib.nn.BatchNorm2d(2))
        assert m.get_parameter("0.weight") is m[0].weight
        assert m.get_buffer("1.running_mean") is m[1].running_mean
        assert m.get_submodule("1") is m[1]
        with pytest.raises(AttributeError, match="is not an nn.Parameter"):
            m.get_parameter("1.running_mean")
        with pytest.raises(AttributeError, match="is not a buffer"):
            m.get_buffer("0.weight")
        with pytest.raises(AttributeError, match="has no attribute `nope`"):
            m.get_parameter("0.nope")
