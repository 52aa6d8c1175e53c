"""nonzero/argwhere, bincount, unique, cdist, F.normalize, F.kl_div/nn.KLDivLoss,
nn.AdaptiveMaxPool2d, inference_mode, Module.half/bfloat16, compile, the default device and
nn.utils.rnn.pad_sequence: values, dtypes and shapes against torch, gradients against torch's
(random upstream gradient) and float64 finite differences, edge cases and argument errors."""

import math
import warnings

import numpy as np
import pytest
from conftest import t64

import pydlk
from pydlk import functional as F
from pydlk import nn
from pydlk.nn.utils.rnn import pad_sequence

torch = pytest.importorskip("torch")


def same(p, t, **kw):
    """pydlk tensor p equals torch tensor t in values, shape and dtype."""
    t = t.detach()
    assert p.shape == tuple(t.shape)
    assert str(p.dtype) == str(t.dtype).removeprefix("torch.")
    np.testing.assert_allclose(p.detach().numpy(), t.numpy(), **kw)
    return True


def both(a, dtype=np.float64, requires_grad=True):
    a = np.asarray(a, dtype)
    return (
        pydlk.tensor(a.copy(), requires_grad=requires_grad),
        torch.tensor(a.copy(), requires_grad=requires_grad),
    )


def backward_both(yp, yt, seed=0):
    """Backward a random upstream gradient through the pydlk and the torch result."""
    g = np.random.default_rng(seed).standard_normal(yp.shape)
    yp.backward(pydlk.tensor(g))
    yt.backward(torch.tensor(g))


def grad_of(x):
    return np.asarray(x.grad.numpy())


# ----------------------------------------------------------------------------- nonzero


NONZERO_INPUTS = {
    "2d_int": np.array([[1, 0, 2], [0, 0, 3]]),
    "3d_float": np.where(np.arange(24).reshape(2, 3, 4) % 3 == 0, 0.0, 1.5),
    "bool": np.array([True, False, True, True]),
    "all_zero": np.zeros((3, 2)),
    "empty": np.zeros((2, 0)),
    "scalar_nonzero": np.array(5.0),
    "scalar_zero": np.array(0),
}


@pytest.mark.parametrize("name", NONZERO_INPUTS)
def test_nonzero_and_argwhere_match_torch(name):
    a = NONZERO_INPUTS[name]
    x, xt = pydlk.tensor(a), torch.tensor(a)
    same(pydlk.nonzero(x), torch.nonzero(xt))
    same(x.nonzero(), xt.nonzero())
    same(pydlk.argwhere(x), torch.argwhere(xt))
    same(x.argwhere(), xt.argwhere())
    got, want = pydlk.nonzero(x, as_tuple=True), torch.nonzero(xt, as_tuple=True)
    assert isinstance(got, tuple) and len(got) == len(want)
    for g, w in zip(got, want):
        same(g, w)


def test_nonzero_takes_arrays_and_gives_no_gradient():
    x = pydlk.tensor([0.0, 2.0, 0.0, 3.0], requires_grad=True)
    idx = pydlk.nonzero(x)
    assert not idx.requires_grad and idx.dtype == np.int64
    np.testing.assert_array_equal(pydlk.nonzero(np.array([0, 4, 4])).numpy(), [[1], [2]])
    with pytest.raises(TypeError):
        pydlk.nonzero(x, True)  # as_tuple is keyword-only, as torch


# ----------------------------------------------------------------------------- bincount


@pytest.mark.parametrize("minlength", [0, 3, 9])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_bincount_counts_match_torch(minlength, dtype):
    a = np.array([1, 1, 3, 0, 6, 3, 3], dtype)
    got = pydlk.bincount(pydlk.tensor(a), minlength=minlength)
    assert got.tolist() == np.bincount(a, minlength=minlength).tolist()  # NumPy's counts
    assert same(got, torch.bincount(torch.tensor(a), minlength=minlength))
    assert same(
        pydlk.tensor(a).bincount(minlength=minlength), torch.tensor(a).bincount(minlength=minlength)
    )


@pytest.mark.parametrize("wdtype", [np.float32, np.float64, np.int64, np.float16])
def test_bincount_weights_dtype_and_values_match_torch(wdtype):
    a = np.array([2, 0, 2, 5, 2])
    w = np.array([0.5, 1.0, 2.0, -1.0, 3.0]).astype(wdtype)
    got = pydlk.bincount(pydlk.tensor(a), pydlk.tensor(w), minlength=8)
    np.testing.assert_allclose(got.numpy(), np.bincount(a, w.astype(np.float64), minlength=8))
    assert same(got, torch.bincount(torch.tensor(a), torch.tensor(w), minlength=8))


def test_bincount_of_empty_input_is_int64_zeros_as_torch():
    e = np.zeros(0, np.int64)
    for kw in ({}, {"minlength": 4}):
        got = pydlk.bincount(pydlk.tensor(e), **kw)
        assert got.dtype == np.int64 and got.tolist() == [0] * kw.get("minlength", 0)
        assert same(got, torch.bincount(torch.tensor(e), **kw))
        assert same(
            pydlk.bincount(pydlk.tensor(e), pydlk.tensor(np.zeros(0)), **kw),
            torch.bincount(torch.tensor(e), torch.tensor(np.zeros(0)), **kw),
        )


def test_bincount_is_differentiable_in_the_weights():
    idx = np.array([3, 1, 3, 0, 3])
    w = t64(np.linspace(-1, 1, 5))
    assert pydlk.gradcheck(lambda v: pydlk.bincount(pydlk.tensor(idx), v, minlength=6), (w,))
    w32 = pydlk.tensor(np.ones(5, np.float32), requires_grad=True)
    out = pydlk.bincount(pydlk.tensor(idx), w32)
    out.backward(pydlk.tensor(np.arange(4, dtype=np.float32)))
    np.testing.assert_array_equal(grad_of(w32), [3, 1, 3, 0, 3])
    assert w32.grad.dtype == np.float32


@pytest.mark.parametrize(
    "args, kw, exc, match",
    [
        (([-1, 2],), {}, ValueError, "bincount: input must be non-negative"),
        (([1.0, 2.0],), {}, ValueError, "bincount: input must be a 1-d tensor"),
        (([[1, 2]],), {}, ValueError, "bincount: input must be a 1-d tensor"),
        ((3,), {}, ValueError, "bincount: input must be a 1-d tensor"),
        (([True, False],), {}, ValueError, "bincount: input must be a 1-d tensor"),
        (([1, 2],), {"minlength": -1}, ValueError, "bincount: minlength must be >= 0"),
        (([1, 2],), {"minlength": 2.0}, TypeError, "bincount: minlength must be an int"),
        (([1, 2],), {"weights": [1.0]}, ValueError, "bincount: weights must be 1-d"),
    ],
)
def test_bincount_refuses_bad_arguments(args, kw, exc, match):
    args = tuple(pydlk.tensor(a) for a in args)
    if "weights" in kw:
        kw = dict(kw, weights=pydlk.tensor(kw["weights"]))
    with pytest.raises(exc, match=match):
        pydlk.bincount(*args, **kw)


# ----------------------------------------------------------------------------- unique


UNIQUE_INPUTS = {
    "int_2d": np.array([[3, 1, 3], [2, 1, 7]]),
    "float_nan": np.array([3.0, 1.0, 3.0, np.nan, np.nan, 2.0, -0.5]),
    "bool": np.array([True, False, True]),
    "scalar": np.array(4),
    "empty": np.zeros((0,)),
    "empty_2d": np.zeros((0, 3)),
}


@pytest.mark.parametrize("flags", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("name", UNIQUE_INPUTS)
def test_unique_matches_torch(name, flags):
    inv, counts = flags
    a = UNIQUE_INPUTS[name]
    got = pydlk.unique(pydlk.tensor(a), return_inverse=inv, return_counts=counts)
    want = torch.unique(torch.tensor(a), return_inverse=inv, return_counts=counts)
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    assert isinstance(got, tuple) and len(got) == len(want)
    for g, w in zip(got, want):
        same(g, w)
    m = pydlk.tensor(a).unique(sorted=False, return_inverse=inv, return_counts=counts)
    same(m if isinstance(m, pydlk.Tensor) else m[0], want[0])


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_unique_along_a_dim_matches_torch(dim):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2, (4, 3, 5))
    a[2] = a[0]
    a[:, :, 4] = a[:, :, 1]
    got = pydlk.unique(pydlk.tensor(a), dim=dim, return_inverse=True, return_counts=True)
    want = torch.unique(torch.tensor(a), dim=dim, return_inverse=True, return_counts=True)
    vals, inv, counts = np.unique(a, axis=dim, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(got[0].numpy(), vals)  # NumPy's lexicographic order
    np.testing.assert_array_equal(got[1].numpy(), inv.reshape(-1))
    np.testing.assert_array_equal(got[2].numpy(), counts)
    assert all(same(g, w) for g, w in zip(got, want))
    f = np.where(a > 0, 2.5, -1.0)
    assert same(pydlk.unique(pydlk.tensor(f), dim=dim), torch.unique(torch.tensor(f), dim=dim))
    b = a.astype(bool)
    assert same(pydlk.unique(pydlk.tensor(b), dim=dim), torch.unique(torch.tensor(b), dim=dim))


def test_unique_along_a_dim_edge_cases():
    e = np.zeros((0, 3))
    for g, w in zip(
        pydlk.unique(pydlk.tensor(e), dim=0, return_inverse=True, return_counts=True),
        torch.unique(torch.tensor(e), dim=0, return_inverse=True, return_counts=True),
    ):
        same(g, w)
    with pytest.raises(ValueError, match="unique: input of shape .* 0-sized dimensions"):
        pydlk.unique(pydlk.zeros(3, 0), dim=0)
    with pytest.raises(IndexError, match="unique: dim 0 was given, but the input is 0-d"):
        pydlk.unique(pydlk.tensor(3), dim=0)
    with pytest.raises(IndexError, match="unique: dim 2 is out of range"):
        pydlk.unique(pydlk.zeros(2, 2), dim=2)
    x = pydlk.tensor([1.0, 1.0, 2.0], requires_grad=True)
    assert not pydlk.unique(x).requires_grad


# ----------------------------------------------------------------------------- cdist


P_VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, math.inf]
CDIST_SHAPES = {
    "plain": ((4, 3), (5, 3)),
    "batched": ((2, 4, 3), (2, 5, 3)),
    "broadcast": ((2, 1, 4, 3), (3, 5, 3)),
}


@pytest.mark.parametrize("shapes", CDIST_SHAPES)
@pytest.mark.parametrize("p", P_VALUES)
def test_cdist_values_and_gradients_match_torch(p, shapes):
    s1, s2 = CDIST_SHAPES[shapes]
    rng = np.random.default_rng(5)
    (a, at), (b, bt) = both(rng.standard_normal(s1)), both(rng.standard_normal(s2))
    yp, yt = pydlk.cdist(a, b, p=p), torch.cdist(at, bt, p=p)
    same(yp, yt, rtol=1e-12, atol=1e-12)
    backward_both(yp, yt)
    np.testing.assert_allclose(grad_of(a), at.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_of(b), bt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("p", P_VALUES)
def test_cdist_at_equal_points_and_ties_matches_torch(p):
    # equal rows (distance 0) and equal coordinates (diff 0, ties of the max)
    x = np.array([[0.0, 1.0], [2.0, 3.0], [1.0, 1.0]])
    y = np.array([[0.0, 1.0], [1.0, 1.0], [4.0, 5.0]])
    (a, at), (b, bt) = both(x), both(y)
    yp, yt = pydlk.cdist(a, b, p=p), torch.cdist(at, bt, p=p)
    same(yp, yt, rtol=1e-12, atol=1e-12)
    backward_both(yp, yt, seed=2)
    np.testing.assert_allclose(grad_of(a), at.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_of(b), bt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "mode",
    [
        "use_mm_for_euclid_dist_if_necessary",
        "use_mm_for_euclid_dist",
        "donot_use_mm_for_euclid_dist",
    ],
)
def test_cdist_euclidean_compute_modes_match_torch(mode):
    rng = np.random.default_rng(7)
    (a, at), (b, bt) = both(rng.standard_normal((30, 4))), both(rng.standard_normal((6, 4)))
    yp, yt = pydlk.cdist(a, b, compute_mode=mode), torch.cdist(at, bt, compute_mode=mode)
    same(yp, yt, rtol=1e-10, atol=1e-12)
    backward_both(yp, yt)
    np.testing.assert_allclose(grad_of(a), at.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grad_of(b), bt.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("p", [1.5, 2.0, 3.0])
def test_cdist_gradcheck(p):
    rng = np.random.default_rng(11)
    a, b = t64(rng.standard_normal((2, 3, 4))), t64(rng.standard_normal((1, 5, 4)))
    assert pydlk.gradcheck(lambda u, v: pydlk.cdist(u, v, p=p), (a, b))
    big = t64(rng.standard_normal((27, 3)))  # the matrix-product form
    assert pydlk.gradcheck(lambda u, v: pydlk.cdist(u, v), (big, t64(rng.standard_normal((4, 3)))))


def test_cdist_float32_and_empty_shapes():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((2, 4))
    got = pydlk.cdist(pydlk.tensor(a), pydlk.tensor(b.astype(np.float32)))
    want = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # the formula, in float64
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
    assert same(got, torch.cdist(torch.tensor(a), torch.tensor(b.astype(np.float32))), rtol=1e-5)
    for s1, s2 in (((3, 4), (0, 4)), ((0, 4), (2, 4)), ((3, 0), (2, 0))):
        for p in (2.0, math.inf, 1.0):
            got = pydlk.cdist(pydlk.zeros(*s1), pydlk.zeros(*s2), p=p)
            assert got.shape == (s1[0], s2[0]) and not got.numpy().any()
            assert same(got, torch.cdist(torch.zeros(*s1), torch.zeros(*s2), p=p))


@pytest.mark.parametrize(
    "s1, s2, kw, exc, match",
    [
        ((3,), (3, 3), {}, ValueError, "cdist: x1 must have at least 2 dimensions"),
        ((3, 4), (3, 5), {}, ValueError, "cdist: x1 and x2 must have the same number of columns"),
        ((3, 4), (3, 4), {"p": -1}, ValueError, "cdist: p must be non-negative"),
        ((3, 4), (3, 4), {"p": "fro"}, TypeError, "cdist: p must be a number"),
        ((2, 3, 4), (3, 3, 4), {}, ValueError, "cdist: the batch dimensions"),
        ((3, 4), (3, 4), {"compute_mode": "x"}, ValueError, "cdist: compute_mode must be one of"),
    ],
)
def test_cdist_refuses_bad_arguments(s1, s2, kw, exc, match):
    with pytest.raises(exc, match=match):
        pydlk.cdist(pydlk.zeros(*s1), pydlk.zeros(*s2), **kw)


def test_cdist_refuses_mixed_and_integer_dtypes():
    with pytest.raises(TypeError, match=r"cdist: x1 \(float32\) and x2 \(float64\)"):
        pydlk.cdist(pydlk.zeros(2, 3), pydlk.zeros(2, 3, dtype=pydlk.float64))
    with pytest.raises(TypeError, match="cdist: x1 must be a floating point tensor"):
        pydlk.cdist(pydlk.zeros(2, 3, dtype=pydlk.int64), pydlk.zeros(2, 3))


# ----------------------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    "p, dim", [(2.0, 1), (1.0, 1), (3.0, -1), (math.inf, 0), (2.0, (1, 2)), (2.0, -2)]
)
def test_normalize_matches_torch(p, dim):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 4, 5))
    a[1, :, 2] = 0  # a zero vector along dim 1: the clamped branch
    xp, xt = both(a)
    yp = F.normalize(xp, p=p, dim=dim)
    yt = torch.nn.functional.normalize(xt, p=p, dim=dim)
    same(yp, yt, rtol=1e-12, atol=1e-14)
    backward_both(yp, yt)
    np.testing.assert_allclose(grad_of(xp), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_normalize_defaults_gradcheck_and_edges():
    rng = np.random.default_rng(4)
    x = t64(rng.standard_normal((4, 3)))
    assert pydlk.gradcheck(lambda v: F.normalize(v), (x,))
    assert pydlk.gradcheck(lambda v: F.normalize(v, p=3.0, dim=0, eps=0.5), (x,))
    same(
        F.normalize(pydlk.tensor(-3.0), dim=0),
        torch.nn.functional.normalize(torch.tensor(-3.0), dim=0),
    )
    a = rng.standard_normal((2, 3)).astype(np.float32)
    same(F.normalize(pydlk.tensor(a)), torch.nn.functional.normalize(torch.tensor(a)), rtol=1e-6)
    with pytest.raises(IndexError, match="normalize: dim 1 is out of range"):
        F.normalize(pydlk.tensor([3.0, 4.0]))
    with pytest.raises(TypeError, match="normalize: input must be float32 or float64"):
        F.normalize(pydlk.tensor([3, 4]), dim=0)
    with pytest.raises(TypeError, match="normalize: out= is not supported"):
        F.normalize(pydlk.tensor([3.0, 4.0]), dim=0, out=pydlk.zeros(2))


# ----------------------------------------------------------------------------- kl_div


def _kl_pair(shape_x=(3, 4), shape_t=(3, 4), seed=0, zero_target=False):
    rng = np.random.default_rng(seed)
    x = np.log(rng.dirichlet(np.ones(shape_x[-1]), shape_x[:-1]))
    t = (
        rng.dirichlet(np.ones(shape_t[-1]), shape_t[:-1])
        if len(shape_t) > 1
        else rng.dirichlet(np.ones(shape_t[0]))
    )
    if zero_target:
        t[..., 0] = 0.0
    return x, t


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["none", "sum", "batchmean", "mean"])
def test_kl_div_matches_torch(reduction, log_target):
    x, t = _kl_pair()
    if log_target:
        t = np.log(t)
    (xp, xt), (tp, tt) = both(x), both(t)
    kw = {"reduction": reduction, "log_target": log_target}
    if reduction == "mean":  # torch warns that 'mean' is not the KL divergence; so does pydlk
        with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
            yt = torch.nn.functional.kl_div(xt, tt, **kw)
        with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
            yp = F.kl_div(xp, tp, **kw)
    else:
        yp, yt = F.kl_div(xp, tp, **kw), torch.nn.functional.kl_div(xt, tt, **kw)
    same(yp, yt, rtol=1e-12, atol=1e-14)
    backward_both(yp, yt)
    np.testing.assert_allclose(grad_of(xp), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(grad_of(tp), tt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_kl_div_zero_targets_broadcasting_and_float32_match_torch():
    x, t = _kl_pair(shape_x=(3, 4), shape_t=(4,), zero_target=True)
    (xp, xt), (tp, tt) = both(x), both(t)
    yp = F.kl_div(xp, tp, reduction="sum")
    yt = torch.nn.functional.kl_div(xt, tt, reduction="sum")
    same(yp, yt, rtol=1e-12)
    yp.backward()
    yt.backward()
    np.testing.assert_allclose(grad_of(xp), xt.grad.numpy(), rtol=1e-12)
    # d/dt of t log t at t = 0 is NaN in torch (xlogy's t / t); the same here
    np.testing.assert_allclose(grad_of(tp), tt.grad.numpy(), rtol=1e-10, equal_nan=True)
    assert np.isnan(grad_of(tp)[0])
    a, b = (v.astype(np.float32) for v in _kl_pair(seed=3))
    same(
        F.kl_div(pydlk.tensor(a), pydlk.tensor(b), reduction="batchmean"),
        torch.nn.functional.kl_div(torch.tensor(a), torch.tensor(b), reduction="batchmean"),
        rtol=1e-6,
    )


def test_kl_div_gradcheck_module_and_errors():
    x, t = _kl_pair(seed=1)
    xv, tv = t64(x), t64(t)
    assert pydlk.gradcheck(lambda u, v: F.kl_div(u, v, reduction="batchmean"), (xv, tv))
    assert pydlk.gradcheck(
        lambda u, v: F.kl_div(u, v, reduction="none", log_target=True), (xv, t64(np.log(t)))
    )
    for kw in (
        {"reduction": "batchmean"},
        {"reduction": "sum", "log_target": True},
        {"size_average": False},
    ):
        with warnings.catch_warnings():  # torch deprecates size_average (pydlk is quiet)
            warnings.simplefilter("ignore")
            want = torch.nn.KLDivLoss(**kw)(torch.tensor(x), torch.tensor(t))
        same(nn.KLDivLoss(**kw)(pydlk.tensor(x), pydlk.tensor(t)), want, rtol=1e-12)
    with pytest.warns(UserWarning, match="'mean' divides the total loss"):
        nn.KLDivLoss()(pydlk.tensor(x), pydlk.tensor(t))
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"
    with pytest.raises(ValueError, match="kl_div: reduction must be one of"):
        F.kl_div(pydlk.tensor(x), pydlk.tensor(t), reduction="avg")
    with pytest.raises(ValueError, match="KLDivLoss: reduction must be"):
        nn.KLDivLoss(reduction="avg")
    with pytest.raises(TypeError, match="kl_div: target dtype float32 differs"):
        F.kl_div(pydlk.tensor(x), pydlk.tensor(t.astype(np.float32)), reduction="sum")
    with pytest.raises(ValueError, match="kl_div: target shape"):
        F.kl_div(pydlk.tensor(x), pydlk.tensor(t[:, :3]), reduction="sum")


# ----------------------------------------------------------------------------- AdaptiveMaxPool2d


@pytest.mark.parametrize("output_size", [2, (3, 2), (None, 3), (1, 1)])
@pytest.mark.parametrize("shape", [(2, 3, 7, 6), (3, 5, 5)])
def test_adaptive_max_pool2d_module_matches_torch(output_size, shape):
    a = np.random.default_rng(6).permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)
    xp, xt = both(a)
    mp = nn.AdaptiveMaxPool2d(output_size, return_indices=True)
    mt = torch.nn.AdaptiveMaxPool2d(output_size, return_indices=True)
    (yp, ip), (yt, it) = mp(xp), mt(xt)
    same(yp, yt)
    same(ip, it)
    backward_both(yp, yt)
    np.testing.assert_allclose(grad_of(xp), xt.grad.numpy(), rtol=1e-12)
    same(
        nn.AdaptiveMaxPool2d(output_size)(pydlk.tensor(a)),
        torch.nn.AdaptiveMaxPool2d(output_size)(torch.tensor(a)),
    )
    same(
        F.adaptive_max_pool2d(pydlk.tensor(a), output_size),
        torch.nn.functional.adaptive_max_pool2d(torch.tensor(a), output_size),
    )
    assert repr(nn.AdaptiveMaxPool2d(output_size)) == repr(torch.nn.AdaptiveMaxPool2d(output_size))


def test_adaptive_max_pool2d_gradcheck_and_errors():
    x = t64(np.random.default_rng(8).permutation(60).reshape(1, 3, 4, 5) / 7.0)
    assert pydlk.gradcheck(lambda v: nn.AdaptiveMaxPool2d((3, 2))(v), (x,))
    with pytest.raises(ValueError, match="adaptive_max_pool2d: input must be 3-D"):
        nn.AdaptiveMaxPool2d(2)(pydlk.zeros(4, 4))
    with pytest.raises(ValueError, match="adaptive_max_pool2d: output_size"):
        nn.AdaptiveMaxPool2d(0)(pydlk.zeros(1, 4, 4))


# ----------------------------------------------------------------------------- inference_mode


def test_inference_mode_as_torch():
    x = pydlk.ones(2, requires_grad=True)
    with pydlk.inference_mode():
        assert not pydlk.is_grad_enabled() and pydlk.is_inference_mode_enabled()
        assert not (x * 2).requires_grad
        with pydlk.inference_mode(False):
            assert pydlk.is_grad_enabled() and not pydlk.is_inference_mode_enabled()
            assert (x * 2).requires_grad
        assert not pydlk.is_grad_enabled() and pydlk.is_inference_mode_enabled()
    assert pydlk.is_grad_enabled() and not pydlk.is_inference_mode_enabled()
    with pydlk.no_grad(), pydlk.inference_mode(mode=False):  # torch: grad on again
        assert pydlk.is_grad_enabled()
    with pytest.raises(KeyError), pydlk.inference_mode():
        raise KeyError
    assert pydlk.is_grad_enabled() and not pydlk.is_inference_mode_enabled()


def test_inference_mode_decorates_bare_called_and_off():
    def probe():
        return pydlk.is_grad_enabled(), pydlk.is_inference_mode_enabled()

    assert pydlk.inference_mode(probe)() == (False, True)
    assert pydlk.inference_mode()(probe)() == (False, True)
    with pydlk.no_grad():
        assert pydlk.inference_mode(False)(probe)() == (True, False)
    assert pydlk.inference_mode(probe).__name__ == "probe"
    assert probe() == (True, False)
    assert pydlk.autograd.inference_mode is pydlk.inference_mode
    assert pydlk.inference_mode(False).clone().mode is False


# ----------------------------------------------------------------------------- Module casts


def test_module_half_and_bfloat16_cast_float_parameters_and_buffers():
    for cast, want in (("half", np.float16), ("bfloat16", pydlk.bfloat16)):
        m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
        assert getattr(m, cast)() is m
        assert all(p.dtype == want for p in m.parameters())
        bn = m[1]
        assert bn.running_mean.dtype == want and bn.running_var.dtype == want
        assert bn.num_batches_tracked.dtype == np.int64  # integer buffers stay as they are
        tm = getattr(torch.nn.Linear(3, 4), cast)()
        assert str(m[0].weight.dtype) == str(tm.weight.dtype).removeprefix("torch.")
    assert nn.Linear(2, 2).half().float().weight.dtype == np.float32


# ----------------------------------------------------------------------------- compile, device


def test_compile_returns_the_model_itself():
    m = nn.Linear(2, 3)
    assert pydlk.compile(m) is m
    assert pydlk.compile(m, mode="max-autotune", fullgraph=True, dynamic=False) is m

    def f(x):
        return x * 2

    assert pydlk.compile(f) is f
    assert pydlk.compile(backend="inductor")(f) is f
    assert pydlk.compiler.disable(f) is f and pydlk.compiler.disable()(f) is f
    assert pydlk.compiler.is_compiling() is False and pydlk.compiler.reset() is None
    with pytest.raises(TypeError, match="compile: model must be a Module or a callable"):
        pydlk.compile(3)


def test_default_device_cpu_and_errors():
    assert pydlk.get_default_device() == pydlk.device("cpu")
    try:
        pydlk.set_default_device("cpu")
        assert pydlk.get_default_device() == "cpu"
        assert pydlk.zeros(2).device == "cpu" and pydlk.tensor([1, 2]).device == "cpu"
        with pytest.raises(ValueError, match="set_default_device: invalid device 'tpu'"):
            pydlk.set_default_device("tpu")
        if not pydlk.cuda.is_available():
            with pytest.raises(RuntimeError, match="set_default_device: device 'cuda' needs"):
                pydlk.set_default_device("cuda")
    finally:
        pydlk.set_default_device(None)
    assert pydlk.get_default_device() == torch.get_default_device().type


# ----------------------------------------------------------------------------- pad_sequence


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_sequence_matches_torch(batch_first, side):
    rng = np.random.default_rng(9)
    pairs = [both(rng.standard_normal((n, 3))) for n in (2, 5, 1)]
    kw = {"batch_first": batch_first, "padding_value": -1.5, "padding_side": side}
    yp = pad_sequence([p for p, _ in pairs], **kw)
    yt = torch.nn.utils.rnn.pad_sequence([t for _, t in pairs], **kw)
    same(yp, yt)
    assert yp._data.flags.c_contiguous
    backward_both(yp, yt)
    for p, t in pairs:
        np.testing.assert_array_equal(grad_of(p), t.grad.numpy())


def test_pad_sequence_gradcheck_dtypes_and_tensor_input():
    rng = np.random.default_rng(10)
    seqs = [t64(rng.standard_normal((n, 2))) for n in (3, 1)]
    assert pydlk.gradcheck(lambda a, b: pad_sequence([a, b], padding_side="left"), tuple(seqs))
    ints = [np.array([1, 1]), np.array([2, 2, 2])]
    same(
        pad_sequence([pydlk.tensor(i) for i in ints], padding_value=-1.5),
        torch.nn.utils.rnn.pad_sequence([torch.tensor(i) for i in ints], padding_value=-1.5),
    )
    mixed = [np.ones((2, 3), np.float32), np.ones((1, 3))]
    same(
        pad_sequence([pydlk.tensor(m) for m in mixed]),
        torch.nn.utils.rnn.pad_sequence([torch.tensor(m) for m in mixed]),
    )
    a = np.arange(6.0).reshape(2, 3)
    same(pad_sequence(pydlk.tensor(a)), torch.nn.utils.rnn.pad_sequence(torch.tensor(a)))
    e = [np.zeros((0, 2)), np.zeros((0, 2))]
    same(
        pad_sequence([pydlk.tensor(v) for v in e]),
        torch.nn.utils.rnn.pad_sequence([torch.tensor(v) for v in e]),
    )
    assert pydlk.nn.utils.rnn.pad_sequence is pad_sequence


def test_pad_sequence_refuses_bad_arguments():
    with pytest.raises(ValueError, match="pad_sequence: received an empty list"):
        pad_sequence([])
    with pytest.raises(
        ValueError, match=r"pad_sequence: sequence 1 has trailing dimensions \(4,\)"
    ):
        pad_sequence([pydlk.ones(2, 3), pydlk.ones(2, 4)])
    with pytest.raises(ValueError, match="pad_sequence: padding_side must be 'left' or 'right'"):
        pad_sequence([pydlk.ones(2)], padding_side="middle")
    with pytest.raises(ValueError, match="pad_sequence: sequence 0 is 0-d"):
        pad_sequence([pydlk.tensor(1.0), pydlk.tensor(2.0)])


# --------------------------------------------------------------------------- draws


def test_multinomial_frequencies_shapes_and_errors():
    pydlk.manual_seed(0)
    w = np.array([[1.0, 0.0, 3.0], [2.0, 2.0, 0.0]])
    s = pydlk.multinomial(pydlk.tensor(w), 4000, replacement=True)
    ts = torch.multinomial(torch.tensor(w), 4000, replacement=True)
    assert s.dtype == np.int64 and s.shape == tuple(ts.shape) == (2, 4000)
    for row, want in zip(s.numpy(), w / w.sum(1, keepdims=True)):
        np.testing.assert_allclose(np.bincount(row, minlength=3) / 4000, want, atol=0.03)
    wr = pydlk.tensor(np.array([0.0, 1.0, 1.0, 5.0]))
    draws = [sorted(pydlk.multinomial(wr, 3).tolist()) for _ in range(20)]
    assert all(d == [1, 2, 3] for d in draws)  # without replacement: each nonzero once
    assert pydlk.tensor(w).multinomial(1).shape == (2, 1)
    with pytest.raises(RuntimeError, match="not enough non-negative category"):
        pydlk.multinomial(wr, 4)
    with pytest.raises(RuntimeError, match="sum of probabilities <= 0"):
        pydlk.multinomial(pydlk.zeros(3), 1)
    with pytest.raises(RuntimeError, match="finite, non-negative"):
        pydlk.multinomial(pydlk.tensor([1.0, -1.0]), 1)
    with pytest.raises(RuntimeError, match="prob_dist must be 1 or 2 dim"):
        pydlk.multinomial(pydlk.ones(2, 2, 2), 1)


def test_bernoulli_poisson_and_random_fills():
    pydlk.manual_seed(0)
    p = np.full((200, 50), 0.3, np.float32)
    b = pydlk.bernoulli(pydlk.tensor(p))
    assert b.dtype == np.float32 and set(np.unique(b.numpy())) <= {0.0, 1.0}
    assert abs(b.numpy().mean() - 0.3) < 0.02
    assert abs(pydlk.tensor(p).bernoulli(0.8).numpy().mean() - 0.8) < 0.02
    t = pydlk.zeros(10000).bernoulli_(pydlk.full((10000,), 0.25))
    assert abs(t.numpy().mean() - 0.25) < 0.02
    r = pydlk.zeros(5000, dtype=np.int64).random_(3, 7)
    assert set(np.unique(r.numpy())) == {3, 4, 5, 6}
    assert set(np.unique(pydlk.zeros(2000).random_(4).numpy())) == {0.0, 1.0, 2.0, 3.0}
    lam = np.array([0.5, 4.0, 20.0])
    po = pydlk.poisson(pydlk.tensor(np.tile(lam, (4000, 1))))
    np.testing.assert_allclose(po.numpy().mean(0), lam, rtol=0.06)
    with pytest.raises(RuntimeError, match="probabilities must be in"):
        pydlk.bernoulli(pydlk.tensor([1.5]))
    with pytest.raises(RuntimeError, match="less than 'to'"):
        pydlk.zeros(2).random_(5, 5)
    with pytest.raises(RuntimeError, match="bernoulli_"):
        pydlk.zeros(2, requires_grad=True).bernoulli_()
    pydlk.manual_seed(1)
    a = pydlk.multinomial(pydlk.ones(5), 3).tolist()
    pydlk.manual_seed(1)
    assert pydlk.multinomial(pydlk.ones(5), 3).tolist() == a  # the seed decides
