"""torch's top-level spellings against torch 2.13: the in-place function forms (torch.abs_,
torch.clamp_, torch.selu_, torch.dropout_, torch.embedding_renorm_, ...), torch.conv3d,
conv_transpose3d, max_pool3d, max_pool1d_with_indices, ctc_loss, convolution, the native_*_norm
tuples, binomial (the mean and variance of many draws within a bound), histogramdd (with a NumPy
reference), get_device, set_flush_denormal and the ``*_copy`` view variants."""

import numpy as np
import pytest

import pydlk
from pydlk import _torch_namespace_more

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


# (name, input values, extra args, kwargs): each torch.<name>_(x, ...) against torch's
UNARY = [0.2, 0.4, 0.7]
INPLACE_CASES = [
    ("abs_", [-1.5, 2.0], (), {}),
    ("acos_", UNARY, (), {}),
    ("acosh_", [1.5, 2.0], (), {}),
    ("asin_", UNARY, (), {}),
    ("asinh_", UNARY, (), {}),
    ("atan_", UNARY, (), {}),
    ("atanh_", UNARY, (), {}),
    ("arccos_", UNARY, (), {}),
    ("arccosh_", [1.5, 2.0], (), {}),
    ("arcsin_", UNARY, (), {}),
    ("arcsinh_", UNARY, (), {}),
    ("arctan_", UNARY, (), {}),
    ("arctanh_", UNARY, (), {}),
    ("ceil_", [-1.5, 2.2], (), {}),
    ("clamp_", [-2.0, 0.5, 2.0], (), {"min": -1, "max": 1}),
    ("clamp_max_", [-2.0, 0.5, 2.0], (0.0,), {}),
    ("clamp_min_", [-2.0, 0.5, 2.0], (0.0,), {}),
    ("clip_", [-2.0, 0.5, 2.0], (-1.0, 1.0), {}),
    ("cos_", UNARY, (), {}),
    ("cosh_", UNARY, (), {}),
    ("deg2rad_", [90.0, 180.0], (), {}),
    ("erf_", UNARY, (), {}),
    ("erfc_", UNARY, (), {}),
    ("exp2_", UNARY, (), {}),
    ("exp_", UNARY, (), {}),
    ("expm1_", UNARY, (), {}),
    ("fill_", UNARY, (3.0,), {}),
    ("fix_", [-1.5, 2.7], (), {}),
    ("floor_", [-1.5, 2.7], (), {}),
    ("frac_", [-1.5, 2.7], (), {}),
    ("i0_", UNARY, (), {}),
    ("ldexp_", [2.0, 3.0], ("i[3, 1]",), {}),
    ("log10_", UNARY, (), {}),
    ("log1p_", UNARY, (), {}),
    ("log2_", UNARY, (), {}),
    ("log_", UNARY, (), {}),
    ("logit_", UNARY, (), {"eps": 0.1}),
    ("nan_to_num_", [float("nan"), float("inf"), 1.0], (), {"nan": 2.0, "posinf": 9.0}),
    ("neg_", UNARY, (), {}),
    ("negative_", UNARY, (), {}),
    ("rad2deg_", UNARY, (), {}),
    ("reciprocal_", UNARY, (), {}),
    ("relu_", [-1.0, 2.0], (), {}),
    ("round_", [2.567, -1.25], (), {"decimals": 1}),
    ("rsqrt_", UNARY, (), {}),
    ("sigmoid_", UNARY, (), {}),
    ("sin_", UNARY, (), {}),
    ("sinc_", UNARY, (), {}),
    ("sinh_", UNARY, (), {}),
    ("sqrt_", UNARY, (), {}),
    ("square_", [-1.5, 2.0], (), {}),
    ("tan_", UNARY, (), {}),
    ("tanh_", UNARY, (), {}),
    ("trunc_", [-1.5, 2.7], (), {}),
    ("xlogy_", [2.0, 0.0], ("f[3.0, 4.0]",), {}),
    ("zero_", UNARY, (), {}),
    ("detach_", UNARY, (), {}),
    ("resize_as_", UNARY, ("f[1.0, 2.0]",), {}),
    ("selu_", [-1.0, 1.0], (), {}),
    ("celu_", [-1.0, 1.0], (2.0,), {}),
    ("threshold_", [-1.0, 1.0], (0.0, 5.0), {}),
    ("rrelu_", [-1.0, 1.0], (), {}),
]


def _arg(L, a):
    if isinstance(a, str):
        vals = eval(a[1:])  # "i[...]" an int64 tensor, "f[...]" a float32 one
        return L.tensor(vals, dtype=L.int64 if a[0] == "i" else L.float32)
    return a


@pytest.mark.parametrize(
    "name,values,args,kwargs", INPLACE_CASES, ids=[c[0] for c in INPLACE_CASES]
)
def test_inplace_function_forms_match_torch(name, values, args, kwargs):
    x, tx = pydlk.tensor(values), torch.tensor(values)
    r = getattr(pydlk, name)(x, *(_arg(pydlk, a) for a in args), **kwargs)
    tr = getattr(torch, name)(tx, *(_arg(torch, a) for a in args), **kwargs)
    assert r is x and tr is tx
    assert tuple(x.shape) == tuple(tx.shape)
    np.testing.assert_allclose(x.numpy(), tx.numpy(), rtol=1e-6, atol=1e-7)


def test_inplace_function_forms_cover_the_list_and_the_integer_and_complex_ones():
    assert set(_torch_namespace_more._METHOD_FORMS) <= set(dir(pydlk))
    for name in ("gcd_", "lcm_"):
        x, tx = pydlk.tensor([4, 6]), torch.tensor([4, 6])
        getattr(pydlk, name)(x, pydlk.tensor([6, 4]))
        getattr(torch, name)(tx, torch.tensor([6, 4]))
        assert x.numpy().tolist() == tx.tolist()
    z, tz = pydlk.tensor([1 + 1j, 2 - 3j]), torch.tensor([1 + 1j, 2 - 3j])
    assert pydlk.conj_physical_(z) is z
    np.testing.assert_array_equal(z.numpy(), torch.conj_physical_(tz).numpy())
    x, tx = pydlk.zeros(3), torch.zeros(3)
    pydlk.index_put_(x, (pydlk.tensor([0, 2]),), pydlk.tensor([1.0, 2.0]))
    torch.index_put_(tx, (torch.tensor([0, 2]),), torch.tensor([1.0, 2.0]))
    assert x.numpy().tolist() == tx.tolist() == [1.0, 0.0, 2.0]


def test_inplace_function_forms_write_arrays_and_refuse_other_inputs():
    a = np.array([-1.0, 2.0])
    r = pydlk.abs_(a)
    assert a.tolist() == [1.0, 2.0] and np.shares_memory(r.numpy(), a)
    for L in (pydlk, torch):
        with pytest.raises(
            TypeError, match="abs_\\(\\): argument 'input' \\(position 1\\) must be Tensor"
        ):
            L.abs_([1, -2])


def test_inplace_function_forms_are_recorded_on_the_graph():
    x = pydlk.tensor([0.2, 0.5], dtype=pydlk.float64, requires_grad=True)
    tx = torch.tensor([0.2, 0.5], dtype=torch.float64, requires_grad=True)
    y, ty = x * 2, tx * 2
    pydlk.sin_(y)
    torch.sin_(ty)
    pydlk.clamp_(y, max=0.9)
    torch.clamp_(ty, max=0.9)
    (g,) = pydlk.autograd.grad(y.sum(), x)
    (tg,) = torch.autograd.grad(ty.sum(), tx)
    np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="leaf"):
        pydlk.exp_(x)
    z = x * 1
    pydlk.selu_(z)
    (g,) = pydlk.autograd.grad(z.sum(), x)
    np.testing.assert_allclose(g.numpy(), [1.0507009873554805] * 2, rtol=1e-12)


def test_dropout_function_forms():
    pydlk.manual_seed(0)
    for L in (pydlk, torch):
        x = L.ones(200, 8)
        assert L.dropout_(x, 0.5, True) is x
        vals = set(np.unique(x.numpy()).tolist())
        assert vals <= {0.0, 2.0} and len(vals) == 2
        x = L.ones(4, 8, 5)
        y = L.feature_dropout(x, 0.5, True)
        per_channel = y.numpy().reshape(32, 5)
        assert all(len(set(r.tolist())) == 1 for r in per_channel)
        assert set(np.unique(per_channel).tolist()) <= {0.0, 2.0}
        assert x.numpy().min() == 1.0  # out of place
        assert L.feature_dropout_(x, 0.5, True) is x and set(np.unique(x.numpy())) <= {0.0, 2.0}
        e = L.ones(2, 3)
        assert L.feature_dropout(e, 0.5, False).numpy().tolist() == [[1.0] * 3] * 2
        with pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions"):
            L.feature_dropout(L.ones(4), 0.5, True)
        a = L.ones(3)
        assert L.alpha_dropout_(a, 0.5, False) is a and a.numpy().tolist() == [1.0] * 3
        f = L.ones(50, 6)
        assert L.feature_alpha_dropout_(f, 0.5, True) is f
        assert len(np.unique(f.numpy())) == 2  # kept and dropped channels, whole rows each
    with pytest.raises(ValueError, match="between 0 and 1"):  # torch: RuntimeError
        pydlk.feature_dropout(pydlk.ones(2, 3), 1.5, True)


def test_embedding_renorm_matches_torch():
    w = np.arange(15.0, dtype=np.float32).reshape(5, 3)
    pw, tw = pydlk.tensor(w), torch.tensor(w)
    for norm in (2.0, 1.0):
        assert pydlk.embedding_renorm_(pw, pydlk.tensor([0, 1, 1, 3]), 5.0, norm) is pw
        torch.embedding_renorm_(tw, torch.tensor([0, 1, 1, 3]), 5.0, norm)
        np.testing.assert_allclose(pw.numpy(), tw.numpy(), rtol=1e-6)
    ref = w.copy()
    n = np.linalg.norm(ref[[0, 1, 3]], axis=1)
    ref[[0, 1, 3]] *= np.where(n > 5.0, 5.0 / (n + 1e-7), 1.0)[:, None]
    np.testing.assert_allclose(
        pydlk.embedding_renorm_(pydlk.tensor(w), pydlk.tensor([0, 1, 3]), 5.0, 2.0).numpy(),
        ref,
        rtol=1e-6,
    )
    with pytest.raises(RuntimeError, match="leaf"):
        pydlk.embedding_renorm_(pydlk.ones(3, 2, requires_grad=True), pydlk.tensor([0]), 1.0, 2.0)


# ----------------------------------------------------------------------------- functional


def _pair(rng, *shapes):
    arrs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return [pydlk.tensor(a) for a in arrs], [torch.tensor(a) for a in arrs]


def test_conv3d_conv_transpose3d_and_convolution():
    rng = np.random.default_rng(0)
    (x, w, wt), (tx, tw, twt) = _pair(rng, (1, 2, 5, 4, 4), (3, 2, 3, 3, 3), (2, 3, 2, 2, 2))
    for args in ((None, 1, 1), (None, 2, 1, 1)):
        np.testing.assert_allclose(
            _np(pydlk.conv3d(x, w, *args)), _np(torch.conv3d(tx, tw, *args)), rtol=1e-4, atol=1e-5
        )
    np.testing.assert_allclose(
        _np(pydlk.conv3d(x, w, padding="same")),
        _np(torch.conv3d(tx, tw, padding="same")),
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        _np(pydlk.conv_transpose3d(x, wt, None, 2, 0, 1)),
        _np(torch.conv_transpose3d(tx, twt, None, 2, 0, 1)),
        rtol=1e-4,
        atol=1e-5,
    )
    (x2, w2, b2, x1, w1), (tx2, tw2, tb2, tx1, tw1) = _pair(
        rng, (2, 3, 6, 5), (4, 3, 3, 3), (4,), (2, 3, 7), (3, 2, 3)
    )
    cases = [
        (
            (x2, w2, b2, [1, 1], [1, 1], [1, 1], False, [0, 0], 1),
            (tx2, tw2, tb2, [1, 1], [1, 1], [1, 1], False, [0, 0], 1),
        ),
        (
            (x2, w2, None, [2], [1], [2], False, [0], 1),
            (tx2, tw2, None, [2], [1], [2], False, [0], 1),
        ),
        (
            (x1, w1, None, [2], [1], [1], True, [1], 1),
            (tx1, tw1, None, [2], [1], [1], True, [1], 1),
        ),
        (
            (x, w, None, [1, 1, 1], [0, 1, 1], [1, 1, 1], False, [0, 0, 0], 1),
            (tx, tw, None, [1, 1, 1], [0, 1, 1], [1, 1, 1], False, [0, 0, 0], 1),
        ),
    ]
    for pa, ta in cases:
        np.testing.assert_allclose(
            _np(pydlk.convolution(*pa)), _np(torch.convolution(*ta)), rtol=1e-4, atol=1e-5
        )
    with pytest.raises(RuntimeError, match="expected stride to be a single integer value"):
        pydlk.convolution(x2, w2, None, [1, 1, 1], [0], [1], False, [0], 1)
    xg = pydlk.tensor(rng.standard_normal((1, 2, 5)), requires_grad=True)
    wg = pydlk.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    assert pydlk.autograd.gradcheck(
        lambda a, b: pydlk.convolution(a, b, None, [1], [1], [1], False, [0], 1), (xg, wg)
    )


def test_max_pool3d_and_max_pool1d_with_indices():
    rng = np.random.default_rng(1)
    (x3, x1), (tx3, tx1) = _pair(rng, (1, 2, 5, 6, 6), (2, 3, 9))
    for args in ((2,), (2, ()), (3, 2, 1, 1, True)):
        np.testing.assert_array_equal(
            _np(pydlk.max_pool3d(x3, *args)), _np(torch.max_pool3d(tx3, *args))
        )
    for kw in (
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1, "ceil_mode": True},
    ):
        (v, i), (tv, ti) = (
            pydlk.max_pool1d_with_indices(x1, **kw),
            torch.max_pool1d_with_indices(tx1, **kw),
        )
        np.testing.assert_array_equal(_np(v), _np(tv))
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        assert i.dtype == pydlk.int64
    v, i = pydlk.max_pool1d_with_indices(x1, 3)
    np.testing.assert_array_equal(_np(v), x1.numpy().reshape(2, 3, 3, 3).max(-1))


def test_ctc_loss_takes_torchs_enum_and_default():
    rng = np.random.default_rng(2)
    lp = np.log(rng.dirichlet(np.ones(5), size=(10, 2))).astype(np.float32)
    targets = [[1, 2], [3, 4]]
    for args in ((), (0,), (0, 0), (0, 1), (0, 2, True)):
        got = pydlk.ctc_loss(pydlk.tensor(lp), pydlk.tensor(targets), [10, 10], [2, 2], *args)
        want = torch.ctc_loss(torch.tensor(lp), torch.tensor(targets), [10, 10], [2, 2], *args)
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_allclose(_np(got), _np(want), rtol=1e-5)
    by_name = pydlk.ctc_loss(pydlk.tensor(lp), pydlk.tensor(targets), [10, 10], [2, 2], 0, "sum")
    by_int = pydlk.ctc_loss(pydlk.tensor(lp), pydlk.tensor(targets), [10, 10], [2, 2], 0, 2)
    assert by_name.item() == by_int.item()
    with pytest.raises(ValueError, match="reduction must be 0"):
        pydlk.ctc_loss(pydlk.tensor(lp), pydlk.tensor(targets), [10, 10], [2, 2], 0, 5)


def test_native_norms_return_torchs_tuples():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    w, b = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    P, T = pydlk.tensor, torch.tensor
    pairs = [
        (
            pydlk.native_layer_norm(P(a), [4, 5], None, None, 1e-5),
            torch.native_layer_norm(T(a), [4, 5], None, None, 1e-5),
        ),
        (
            pydlk.native_layer_norm(P(a), [5], P(w), P(b), 1e-5),
            torch.native_layer_norm(T(a), [5], T(w), T(b), 1e-5),
        ),
        (
            pydlk.native_batch_norm(P(a), None, None, None, None, True, 0.1, 1e-5),
            torch.native_batch_norm(T(a), None, None, None, None, True, 0.1, 1e-5),
        ),
        (
            pydlk.native_batch_norm(
                P(a), P(w[:3]), P(b[:3]), pydlk.zeros(3), pydlk.ones(3) * 2, False, 0.1, 1e-5
            ),
            torch.native_batch_norm(
                T(a), T(w[:3]), T(b[:3]), torch.zeros(3), torch.ones(3) * 2, False, 0.1, 1e-5
            ),
        ),
        (
            pydlk.native_group_norm(P(a), None, None, 2, 3, 20, 3, 1e-5),
            torch.native_group_norm(T(a), None, None, 2, 3, 20, 3, 1e-5),
        ),
        (
            pydlk.native_group_norm(P(a), P(w[:3]), P(b[:3]), 2, 3, 20, 1, 1e-5),
            torch.native_group_norm(T(a), T(w[:3]), T(b[:3]), 2, 3, 20, 1, 1e-5),
        ),
    ]
    for got, want in pairs:
        assert len(got) == len(want) == 3
        for g, t in zip(got, want):
            assert tuple(g.shape) == tuple(t.shape) and g.dtype == pydlk.float32
            np.testing.assert_allclose(_np(g), _np(t), rtol=1e-4, atol=1e-5)
    mean, rstd = pairs[0][0][1], pairs[0][0][2]
    np.testing.assert_allclose(mean.numpy(), a.mean((2, 3), keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(
        rstd.numpy(), 1 / np.sqrt(a.var((2, 3), keepdims=True) + 1e-5), rtol=1e-4
    )
    rm, rv, trm, trv = pydlk.zeros(3), pydlk.ones(3), torch.zeros(3), torch.ones(3)
    pydlk.native_batch_norm(P(a), None, None, rm, rv, True, 0.1, 1e-5)
    torch.native_batch_norm(T(a), None, None, trm, trv, True, 0.1, 1e-5)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-5)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-5)
    x = pydlk.tensor(a.astype(np.float64)[:, :, :2, :3], requires_grad=True)
    assert pydlk.autograd.gradcheck(
        lambda t: pydlk.native_layer_norm(t, [3], None, None, 1e-5)[0], (x,)
    )


# ----------------------------------------------------------------------------- sampling, stats


def test_binomial_moments_and_edge_rules():
    pydlk.manual_seed(7)
    n, p, draws = 12.0, 0.3, 40000
    b = pydlk.binomial(pydlk.full((draws,), n), pydlk.full((draws,), p))
    assert b.dtype == pydlk.float32 and tuple(b.shape) == (draws,)
    v = b.numpy().astype(np.float64)
    assert np.all(v == np.round(v)) and v.min() >= 0 and v.max() <= n
    mean, var = n * p, n * p * (1 - p)
    # standard error of the mean sqrt(var/draws) ~ 0.008; of the variance ~ var*sqrt(2/draws)
    assert abs(v.mean() - mean) < 5 * np.sqrt(var / draws)
    assert abs(v.var() - var) < 5 * var * np.sqrt(2 / draws)
    pydlk.manual_seed(7)
    again = pydlk.binomial(pydlk.full((draws,), n), pydlk.full((draws,), p))
    np.testing.assert_array_equal(again.numpy(), b.numpy())  # manual_seed reproduces the draws
    edge = [-1.0, 5.0, 2.5, 4.0], [0.5, 1.5, 1.0, 0.0]
    got = pydlk.binomial(pydlk.tensor(edge[0]), pydlk.tensor(edge[1]))
    want = torch.binomial(torch.tensor(edge[0]), torch.tensor(edge[1]))
    assert got.numpy().tolist() == want.tolist() == [0.0, 5.0, 2.5, 0.0]
    bc = pydlk.binomial(pydlk.tensor([10.0, 5.0]), pydlk.tensor([0.5]))
    assert tuple(bc.shape) == (2,)
    assert (
        pydlk.binomial(
            pydlk.ones(2, dtype=pydlk.float64), pydlk.ones(2, dtype=pydlk.float64) / 2
        ).dtype
        == pydlk.float64
    )


def test_binomial_errors_and_no_derivative():
    for L in (pydlk, torch):
        with pytest.raises(
            ValueError, match="binomial only supports floating-point dtypes for count, got: Long"
        ):
            L.binomial(L.tensor([1, 2]), L.tensor([0.5, 0.5]))
        with pytest.raises(RuntimeError, match="Found dtype Float but expected Double"):
            L.binomial(L.tensor([1.0, 2.0], dtype=L.float64), L.tensor([0.5, 0.5]))
        c = L.tensor([10.0, 5.0], requires_grad=True)
        out = L.binomial(c, L.tensor([0.5, 0.2]))
        assert out.requires_grad
        with pytest.raises(RuntimeError, match="derivative for aten::binomial is not implemented"):
            out.sum().backward()


def _ref_histogramdd(pts, edges, weight=None):
    """NumPy reference: each point in the bin whose edges bracket it in every dim (the last
    bin of a dim includes its right edge); points outside are dropped."""
    hist = np.zeros([len(e) - 1 for e in edges])
    for k, pt in enumerate(pts):
        idx = []
        for d, e in enumerate(edges):
            if pt[d] < e[0] or pt[d] > e[-1]:
                break
            idx.append(min(int(np.searchsorted(e, pt[d], side="right")) - 1, len(e) - 2))
        else:
            hist[tuple(idx)] += 1.0 if weight is None else weight[k]
    return hist


@pytest.mark.parametrize(
    "kw",
    [
        {"bins": [3, 3]},
        {"bins": 4},
        {"bins": (2, 3), "range": [0.0, 1.0, 0.0, 2.0]},
        {"bins": [4, 2], "weight": True},
        {"bins": 3, "density": True},
        {"bins": "edges"},
    ],
)
def test_histogramdd_matches_torch_and_the_reference(kw):
    rng = np.random.default_rng(4)
    pts = rng.random((60, 2)).astype(np.float32)
    wv = rng.random(60).astype(np.float32)
    edges = [np.array([0.0, 0.3, 0.5, 1.0], np.float32), np.array([0.0, 0.6, 1.0], np.float32)]

    def args(L):
        k = dict(kw)
        if k.get("weight"):
            k["weight"] = L.tensor(wv)
        if k["bins"] == "edges":
            k["bins"] = [L.tensor(e) for e in edges]
        return k

    got = pydlk.histogramdd(pydlk.tensor(pts), **args(pydlk))
    want = torch.histogramdd(torch.tensor(pts), **args(torch))
    assert type(got).__name__ == "histogramdd" and got.hist.dtype == pydlk.float32
    np.testing.assert_allclose(got.hist.numpy(), want.hist.numpy(), rtol=1e-5)
    assert len(got.bin_edges) == len(want.bin_edges) == 2
    for e, te in zip(got.bin_edges, want.bin_edges):
        np.testing.assert_allclose(e.numpy(), te.numpy(), rtol=1e-6)  # torch's linspace bits
    ref = _ref_histogramdd(
        pts, [e.numpy() for e in got.bin_edges], wv if kw.get("weight") else None
    )
    if kw.get("density"):
        widths = np.multiply.outer(*[np.diff(e.numpy()) for e in got.bin_edges])
        ref = ref / ref.sum() / widths
    np.testing.assert_allclose(got.hist.numpy(), ref, rtol=1e-5)


def test_histogramdd_shapes_and_errors():
    h = pydlk.histogramdd(
        pydlk.tensor([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0], [2.0, 2.0]]),
        bins=[3, 3],
        weight=pydlk.tensor([1.0, 2.0, 4.0, 8.0]),
    )
    assert h.hist.numpy().tolist() == [[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [4.0, 0.0, 8.0]]
    same = pydlk.histogramdd(pydlk.ones(5, 2), bins=2)
    assert same.bin_edges[0].numpy().tolist() == [0.5, 1.0, 1.5] and same.hist.numpy()[1, 1] == 5
    assert tuple(pydlk.histogramdd(pydlk.rand(2, 5, 3), bins=2).hist.shape) == (2, 2, 2)
    cases = [
        (lambda L: L.histogramdd(L.rand(5), bins=2), RuntimeError, "at least 2 dimensions"),
        (
            lambda L: L.histogramdd(L.ones(5, 2, dtype=L.int64), bins=2),
            NotImplementedError,
            "not implemented for 'Long'",
        ),
        (
            lambda L: L.histogramdd(L.rand(5, 2), bins=[2]),
            RuntimeError,
            "size of bins must be equal",
        ),
        (
            lambda L: L.histogramdd(L.rand(5, 2), bins=2, range=[0.0, 1.0]),
            RuntimeError,
            "range should have 4 elements, but got 2",
        ),
        (
            lambda L: L.histogramdd(L.rand(5, 2), bins=2, range=[1.0, 0.0, 0, 1]),
            RuntimeError,
            "min should not exceed max, but got min 1 max 0",
        ),
        (
            lambda L: L.histogramdd(L.rand(5, 2), bins=2, weight=L.ones(4)),
            RuntimeError,
            "weight tensor is provided it should have the same shape",
        ),
    ]
    for f, exc, text in cases:
        for L in (pydlk, torch):
            with pytest.raises(exc, match=text):
                f(L)
    w = pydlk.ones(5, requires_grad=True)
    out = pydlk.histogramdd(pydlk.rand(5, 2), bins=2, weight=w).hist
    with pytest.raises(
        RuntimeError, match="derivative for aten::_histogramdd_from_bin_cts is not implemented"
    ):
        out.sum().backward()


def test_get_device_and_set_flush_denormal():
    assert pydlk.get_device(pydlk.ones(2)) == torch.get_device(torch.ones(2)) == -1
    assert pydlk.ones(2).get_device() == -1
    assert pydlk.set_flush_denormal(True) is False  # pydlk cannot switch FTZ (documented)
    assert pydlk.set_flush_denormal(False) is False
    tiny = np.float32(1e-40)
    assert (pydlk.tensor([tiny]) * 1).numpy()[0] == tiny  # denormals are kept
    with pytest.raises(TypeError):
        pydlk.set_flush_denormal("yes")


# ----------------------------------------------------------------------------- *_copy


COPIES = [
    ("view_copy", ((4, 3),)),
    ("view_copy", ("int32",)),
    ("permute_copy", ((1, 0),)),
    ("transpose_copy", (0, 1)),
    ("t_copy", ()),
    ("unsqueeze_copy", (-1,)),
    ("squeeze_copy", ()),
    ("expand_copy", "expand"),
    ("diagonal_copy", (1,)),
    ("select_copy", (1, 2)),
    ("slice_copy", (1, 1, 3)),
    ("slice_copy", (0, 0, None, 2)),
    ("slice_copy", ()),
    ("split_copy", (2, 1)),
    ("split_with_sizes_copy", ([1, 3], 1)),
    ("unbind_copy", (1,)),
    ("unfold_copy", (1, 2, 1)),
    ("alias_copy", ()),
    ("detach_copy", ()),
    ("as_strided_copy", ((2, 2), (1, 2))),
]


@pytest.mark.parametrize("name,args", COPIES, ids=[f"{c[0]}{i}" for i, c in enumerate(COPIES)])
def test_copy_variants_match_torch_and_own_their_memory(name, args):
    def run(L):
        x = L.arange(12.0).reshape(3, 4)
        if args == "expand":
            return x, getattr(L, name)(x[:1], (2, 4))
        a = tuple(getattr(L, v) if v == "int32" else v for v in args)
        return x, getattr(L, name)(x, *a)

    (x, got), (_, want) = run(pydlk), run(torch)
    gots = got if isinstance(got, tuple) else (got,)
    wants = want if isinstance(want, tuple) else (want,)
    assert len(gots) == len(wants)
    for g, w in zip(gots, wants):
        assert tuple(g.shape) == tuple(w.shape) and g.stride() == w.stride()
        np.testing.assert_array_equal(g.numpy(), w.numpy())
        assert not np.shares_memory(g.numpy(), x.numpy())


def test_copy_variants_of_complex_sparse_and_squeeze():
    z = pydlk.view_as_real_copy(pydlk.tensor([1 + 2j, 3 - 1j]))
    assert z.numpy().tolist() == torch.view_as_real_copy(torch.tensor([1 + 2j, 3 - 1j])).tolist()
    c = pydlk.view_as_complex_copy(pydlk.ones(2, 2))
    assert c.numpy().tolist() == torch.view_as_complex_copy(torch.ones(2, 2)).tolist()
    assert tuple(pydlk.squeeze_copy(pydlk.ones(1, 2, 1), (0, 2)).shape) == (2,)
    s = pydlk.ones(2, 2).to_sparse()
    np.testing.assert_array_equal(pydlk.indices_copy(s).numpy(), s.indices().numpy())
    np.testing.assert_array_equal(pydlk.values_copy(s).numpy(), [1.0] * 4)
    for L in (pydlk, torch):
        with pytest.raises(RuntimeError, match="indices expected sparse coordinate tensor layout"):
            L.indices_copy(L.ones(2))
        with pytest.raises(RuntimeError, match="values expected sparse tensor layout"):
            L.values_copy(L.ones(2))
        with pytest.raises(RuntimeError, match="slice step must be positive"):
            L.slice_copy(L.ones(4), 0, 0, 4, -1)
    with pytest.raises(TypeError, match="out= is not supported"):
        pydlk.t_copy(pydlk.ones(2, 2), out=pydlk.empty(2, 2))


def test_copy_variants_gradients():
    xv = np.random.default_rng(5).standard_normal(12)
    x, tx = pydlk.tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
    w = np.arange(12.0).reshape(4, 3)
    (g,) = pydlk.autograd.grad(
        (pydlk.permute_copy(x.reshape(3, 4), (1, 0)) * pydlk.tensor(w)).sum(), x
    )
    (tg,) = torch.autograd.grad(
        (torch.permute_copy(tx.reshape(3, 4), (1, 0)) * torch.tensor(w)).sum(), tx
    )
    np.testing.assert_array_equal(g.numpy(), tg.numpy())
    assert pydlk.autograd.gradcheck(lambda t: pydlk.as_strided_copy(t, (3, 3), (1, 2)), (x,))
    assert pydlk.autograd.gradcheck(lambda t: pydlk.split_copy(t, 5), (x,))
    assert pydlk.autograd.gradcheck(lambda t: pydlk.alias_copy(t) * 2, (x,))
    for L, t in ((pydlk, x), (torch, tx)):
        d = L.detach_copy(t)
        assert d.requires_grad
        with pytest.raises(
            RuntimeError, match="derivative for aten::detach_copy is not implemented"
        ):
            d.sum().backward()
