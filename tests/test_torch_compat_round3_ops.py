"""Third round of torch scripts, the tensor ops with torch 2.x as the oracle: Tensor.unfold,
roll, rot90; index_add(_), scatter_add_/scatter_ recorded on graph tensors, scatter_reduce,
masked_select; quantile, nanquantile, median, nanmedian, kthvalue, cummax, cummin, aminmax,
var_mean, std_mean, nansum, nanmean, nan_to_num, histc, searchsorted, bucketize. Values,
dtypes, gradients for a random upstream gradient, float64 gradchecks and errors."""

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return np.asarray(t.detach())
    return t.detach().numpy()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _vs_torch(fn_p, fn_t, arrays, rng, grad=True, rtol=1e-10, atol=1e-12):
    """Same float64 inputs to both; every output (values, dtype) and the gradients of
    sum(first output * dy) agree."""
    ps = [pydlk.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    yp, yt = fn_p(*ps), fn_t(*ts)
    yps = yp if isinstance(yp, tuple) else (yp,)
    yts = yt if isinstance(yt, tuple) else (yt,)
    for a, b in zip(yps, yts):
        assert tuple(a.shape) == tuple(b.shape)
        assert str(a.dtype) == str(b.dtype).replace("torch.", "")
        np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol)
    if grad:
        dy = rng.standard_normal(tuple(yts[0].shape))
        yts[0].backward(torch.tensor(dy))
        yps[0].backward(pydlk.tensor(dy))
        for p, t in zip(ps, ts):
            if t.grad is not None:
                np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=rtol, atol=atol)
    return yp


# ------------------------------------------------------------------------ windows, rotations


@pytest.mark.parametrize(
    "args", [(2, 2, 2), (3, 3, 1), (3, 4, 2), (0, 2, 1), (-1, 6, 1), (1, 1, 3)]
)
def test_unfold_matches_torch(rng, args):
    a = rng.standard_normal((4, 3, 5, 6))
    _vs_torch(lambda x: x.unfold(*args), lambda x: x.unfold(*args), [a], rng)


def test_unfold_patchify_gradcheck_and_errors(rng):
    x = pydlk.tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    assert pydlk.gradcheck(lambda t: t.unfold(2, 3, 1).unfold(3, 2, 2), (x,))
    assert pydlk.gradgradcheck(lambda t: t.unfold(2, 3, 1) ** 2, (x,))
    with pytest.raises(RuntimeError, match="unfold: maximum size for tensor at dimension 2 is 4"):
        x.unfold(2, 5, 1)
    with pytest.raises(RuntimeError, match="unfold: step is 0 but must be > 0"):
        x.unfold(2, 2, 0)


@pytest.mark.parametrize("shifts, dims", [(2, None), ((1, -2), (2, 3)), (5, 1), (-7, 0), (0, 1)])
def test_roll_matches_torch(rng, shifts, dims):
    a = rng.standard_normal((4, 3, 5, 6))
    _vs_torch(
        lambda x: pydlk.roll(x, shifts, dims), lambda x: torch.roll(x, shifts, dims), [a], rng
    )


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 2, 3, 5])
def test_rot90_matches_torch(rng, k):
    a = rng.standard_normal((2, 3, 4))
    _vs_torch(lambda x: x.rot90(k, (2, 0)), lambda x: x.rot90(k, (2, 0)), [a], rng)


def test_roll_rot90_errors():
    x = pydlk.zeros(3, 4)
    with pytest.raises(RuntimeError, match="roll: shifts and dimensions must align"):
        pydlk.roll(x, (1, 2), 0)
    with pytest.raises(RuntimeError, match="rot90: expected rotation dims to be different"):
        pydlk.rot90(x, 1, (1, 1))
    with pytest.raises(RuntimeError, match="rot90: expected total dims >= 2"):
        pydlk.rot90(pydlk.zeros(3))


# ------------------------------------------------------------------- scatter family, recorded


def _gnn(lib, feat, w, in_place):
    src = lib.tensor([0, 1, 1, 2, 3, 4, 4])
    dst = lib.tensor([1, 0, 2, 1, 4, 3, 0])
    msg = (feat @ w).index_select(0, src)
    if in_place:
        agg = lib.zeros(5, 3, dtype=feat.dtype).index_add_(0, dst, msg, alpha=0.5)
        agg2 = lib.zeros(5, 3, dtype=feat.dtype)
        agg2.scatter_add_(0, dst.unsqueeze(-1).expand(-1, 3), msg)
        agg3 = lib.ones(5, 3, dtype=feat.dtype) * 2
        agg3.scatter_(0, lib.tensor([[0, 1, 2], [3, 4, 0]]), msg[:2])
    else:
        agg = lib.index_add(lib.zeros(5, 3, dtype=feat.dtype), 0, dst, msg, alpha=0.5)
        agg2 = lib.zeros(5, 3, dtype=feat.dtype).scatter_add(
            0, dst.unsqueeze(-1).expand(-1, 3), msg
        )
        agg3 = (lib.ones(5, 3, dtype=feat.dtype) * 2).scatter(
            0, lib.tensor([[0, 1, 2], [3, 4, 0]]), msg[:2]
        )
    return agg * 1.5 + agg2 * agg3


@pytest.mark.parametrize("in_place", [True, False])
def test_message_passing_in_place_matches_torch(rng, in_place):
    _vs_torch(
        lambda f, w: _gnn(pydlk, f, w, in_place),
        lambda f, w: _gnn(torch, f, w, in_place),
        [rng.standard_normal((5, 4)), rng.standard_normal((4, 3))],
        rng,
    )


def test_index_add_gradcheck_and_errors(rng):
    a, s = (pydlk.tensor(rng.standard_normal(sh), requires_grad=True) for sh in ((4, 3), (5, 3)))
    idx = pydlk.tensor([0, 2, 0, 3, 3])
    assert pydlk.gradcheck(lambda a, s: pydlk.index_add(a, 0, idx, s, alpha=2.0), (a, s))
    assert pydlk.gradgradcheck(lambda a, s: pydlk.index_add(a * a, 0, idx, s * s), (a, s))
    with pytest.raises(RuntimeError, match="index_add_: source has shape"):
        pydlk.zeros(4, 3).index_add_(0, idx, pydlk.zeros(4, 3))
    with pytest.raises(RuntimeError, match="index_add_: a leaf tensor that requires grad"):
        a.index_add_(0, idx, s)


@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "amin", "prod"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_matches_torch(rng, reduce, include_self):
    a = rng.integers(-3, 3, (3, 5)).astype(np.float64)  # ties for amax/amin
    src = rng.integers(-3, 3, (3, 4)).astype(np.float64)
    index = np.array([[0, 1, 1, 4], [2, 2, 2, 0], [3, 0, 4, 4]])

    def f(lib):
        return lambda x, s: x.scatter_reduce(
            1, lib.tensor(index), s, reduce, include_self=include_self
        )

    _vs_torch(f(pydlk), f(torch), [a, src], rng, grad=reduce != "prod")


def test_scatter_reduce_errors_and_integers():
    x = pydlk.zeros(2, 3)
    with pytest.raises(RuntimeError, match="scatter_reduce: reduce argument must be one of"):
        x.scatter_reduce(1, pydlk.tensor([[0], [1]]), pydlk.ones(2, 1), "max")
    xi = pydlk.tensor([[5, 1, 2]])
    ti = torch.tensor([[5, 1, 2]])
    args = (1, [[0, 0, 2]], [[7, 9, 1]])
    p = xi.scatter_reduce(args[0], pydlk.tensor(args[1]), pydlk.tensor(args[2]), "amax")
    t = ti.scatter_reduce(args[0], torch.tensor(args[1]), torch.tensor(args[2]), "amax")
    np.testing.assert_array_equal(_np(p), _np(t))


def test_masked_select_matches_torch(rng):
    a = rng.standard_normal((3, 4))
    m = rng.random((1, 4)) < 0.5
    _vs_torch(
        lambda x: pydlk.masked_select(x, pydlk.tensor(m)),
        lambda x: torch.masked_select(x, torch.tensor(m)),
        [a],
        rng,
    )
    with pytest.raises(TypeError, match="masked_select: mask must be a bool tensor"):
        pydlk.masked_select(pydlk.zeros(3), pydlk.zeros(3))


# ----------------------------------------------------------------------------------- statistics


def _with_nans(rng, shape, frac=0.2):
    a = rng.standard_normal(shape)
    a[rng.random(shape) < frac] = np.nan
    return a


@pytest.mark.parametrize("interp", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (None, True), (1, False), (0, True)])
def test_quantile_matches_torch(rng, interp, dim, keepdim):
    a = rng.standard_normal((5, 7))
    for q in (0.3, 0.5, [0.0, 0.25, 0.9, 1.0]):

        def f(lib, q=q):
            qq = lib.tensor(q, dtype=lib.float64) if isinstance(q, list) else q
            return lambda x: lib.quantile(x, qq, dim, keepdim, interpolation=interp)

        _vs_torch(f(pydlk), f(torch), [a], rng)


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_nanquantile_and_nan_slices_match_torch(rng, dim):
    a = _with_nans(rng, (6, 5))
    a[2] = np.nan  # an all-NaN row
    for fn in ("quantile", "nanquantile"):
        q = [0.2, 0.5]
        p = getattr(pydlk, fn)(pydlk.tensor(a), pydlk.tensor(q, dtype=pydlk.float64), dim)
        t = getattr(torch, fn)(torch.tensor(a), torch.tensor(q, dtype=torch.float64), dim)
        np.testing.assert_allclose(_np(p), _np(t), rtol=1e-12, equal_nan=True)


def test_quantile_gradcheck_and_errors(rng):
    x = pydlk.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    assert pydlk.gradcheck(
        lambda t: pydlk.quantile(t, pydlk.tensor([0.3, 0.8], dtype=pydlk.float64), 1), (x,)
    )
    with pytest.raises(RuntimeError, match="q values must be in the range"):
        pydlk.quantile(x, 1.5)
    with pytest.raises(RuntimeError, match="input tensor must be either float or double"):
        pydlk.quantile(pydlk.tensor([1, 2]), 0.5)
    with pytest.raises(RuntimeError, match="q tensor must be same dtype"):
        pydlk.quantile(x, pydlk.tensor([0.5]))
    with pytest.raises(ValueError, match="interpolation must be one of"):
        pydlk.quantile(x, 0.5, interpolation="cubic")


@pytest.mark.parametrize("fn", ["median", "nanmedian"])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (0, False), (1, True), (-1, False)])
def test_median_matches_torch(rng, fn, dim, keepdim):
    a = rng.permutation(40).reshape(5, 8).astype(np.float64)  # distinct: indices agree
    args = () if dim is None else (dim, keepdim)
    _vs_torch(
        lambda x: getattr(pydlk, fn)(x, *args), lambda x: getattr(torch, fn)(x, *args), [a], rng
    )
    b = a.copy()
    b[1, 3] = b[4, 0] = np.nan
    b[2] = np.nan
    p = getattr(pydlk, fn)(pydlk.tensor(b), *args)
    t = getattr(torch, fn)(torch.tensor(b), *args)
    pv, tv = (p, t) if dim is None else (p.values, t.values)
    np.testing.assert_array_equal(_np(pv), _np(tv))


def test_kthvalue_cummax_cummin_aminmax_match_torch(rng):
    a = rng.permutation(30).reshape(5, 6).astype(np.float64)
    for k, d in ((1, 0), (3, 1), (6, -1)):
        _vs_torch(lambda x: pydlk.kthvalue(x, k, d), lambda x: torch.kthvalue(x, k, d), [a], rng)
    ties = rng.integers(0, 3, (4, 6)).astype(np.float64)
    ties[1, 2] = np.nan
    for fn in ("cummax", "cummin"):
        for d in (0, 1):
            _vs_torch(
                lambda x: getattr(pydlk, fn)(x, d),
                lambda x: getattr(torch, fn)(x, d),
                [ties],
                rng,
                grad=False,
            )
            _vs_torch(
                lambda x: getattr(pydlk, fn)(x, d), lambda x: getattr(torch, fn)(x, d), [a], rng
            )
    _vs_torch(lambda x: tuple(pydlk.aminmax(x)), lambda x: tuple(torch.aminmax(x)), [a], rng)
    p = pydlk.aminmax(pydlk.tensor(a), dim=1, keepdim=True)
    t = torch.aminmax(torch.tensor(a), dim=1, keepdim=True)
    np.testing.assert_array_equal(_np(p.min), _np(t.min))
    np.testing.assert_array_equal(_np(p.max), _np(t.max))
    with pytest.raises(IndexError, match="kthvalue: selected number k out of range"):
        pydlk.kthvalue(pydlk.tensor(a), 7, 1)


def test_var_mean_std_mean_nansum_nanmean_match_torch(rng):
    a = rng.standard_normal((4, 5))
    for fn in ("var_mean", "std_mean"):
        for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True, "correction": 0}):
            _vs_torch(
                lambda x: getattr(pydlk, fn)(x, **kw),
                lambda x: getattr(torch, fn)(x, **kw),
                [a],
                rng,
            )
        p = getattr(pydlk, fn)(pydlk.tensor(a), unbiased=False)
        t = getattr(torch, fn)(torch.tensor(a), unbiased=False)
        np.testing.assert_allclose(_np(p[0]), _np(t[0]))
    b = _with_nans(rng, (4, 5))
    for fn in ("nansum", "nanmean"):
        for args in ((), (1,), (0, True)):
            _vs_torch(
                lambda x: getattr(pydlk, fn)(x, *args),
                lambda x: getattr(torch, fn)(x, *args),
                [b],
                rng,
            )
    with pytest.raises(RuntimeError, match="nanmean: input tensor must be either float"):
        pydlk.nanmean(pydlk.tensor([1, 2]))


def test_nan_to_num_matches_torch(rng):
    a = np.array([np.nan, np.inf, -np.inf, 1.5, -2.0], dtype=np.float32)
    for kw in ({}, {"nan": 1.0}, {"nan": 0.5, "posinf": 9.0, "neginf": -9.0}):
        _vs_torch(
            lambda x: pydlk.nan_to_num(x, **kw),
            lambda x: torch.nan_to_num(x, **kw),
            [a],
            rng,
            rtol=0,
            atol=0,
        )
    x = pydlk.tensor(np.array([0.5, np.nan, 2.0]), requires_grad=True)
    assert pydlk.gradcheck(
        lambda t: pydlk.nan_to_num(t * t),
        (pydlk.tensor([0.5, 1.5], dtype=pydlk.float64, requires_grad=True),),
    )
    assert x.nan_to_num().requires_grad
    np.testing.assert_array_equal(_np(pydlk.nan_to_num(pydlk.tensor([1, 2]))), [1, 2])


def test_histc_searchsorted_bucketize_match_torch(rng):
    a = rng.standard_normal(50).astype(np.float32)
    for args in ((5, -2, 2), (10, 0, 0), (3, 0.5, 0.5)):
        np.testing.assert_array_equal(
            _np(pydlk.histc(pydlk.tensor(a), *args)), _np(torch.histc(torch.tensor(a), *args))
        )
    assert str(pydlk.histc(pydlk.tensor(a)).dtype) == "float32"
    seq = np.array([0.0, 1.0, 2.0, 2.0, 3.0])
    vals = np.array([[0.5, 2.0, 9.0], [-1.0, 3.0, 1.0]])
    for kw in ({}, {"right": True}, {"side": "right"}, {"out_int32": True}):
        p = pydlk.searchsorted(pydlk.tensor(seq), pydlk.tensor(vals), **kw)
        t = torch.searchsorted(torch.tensor(seq), torch.tensor(vals), **kw)
        np.testing.assert_array_equal(_np(p), _np(t))
        assert str(p.dtype) == str(t.dtype).replace("torch.", "")
    seq2 = np.sort(rng.standard_normal((2, 4)), axis=1)
    np.testing.assert_array_equal(
        _np(pydlk.searchsorted(pydlk.tensor(seq2), pydlk.tensor(vals))),
        _np(torch.searchsorted(torch.tensor(seq2), torch.tensor(vals))),
    )
    for right in (False, True):
        p = pydlk.bucketize(pydlk.tensor(vals), pydlk.tensor(seq), right=right)
        t = torch.bucketize(torch.tensor(vals), torch.tensor(seq), right=right)
        np.testing.assert_array_equal(_np(p), _np(t))
    with pytest.raises(RuntimeError, match="bucketize: boundaries tensor must be 1 dimension"):
        pydlk.bucketize(pydlk.tensor(vals), pydlk.tensor(seq2))
    with pytest.raises(RuntimeError, match="histc: bins must be > 0"):
        pydlk.histc(pydlk.tensor(a), 0)
