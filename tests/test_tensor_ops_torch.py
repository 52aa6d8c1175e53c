"""Selection, scatter/gather, einsum, hyperbolics, sampling and the small Tensor helpers:
forward against NumPy formulas written here, backward by float64 gradcheck, and torch as an
oracle for values, indices, dtypes, shapes and gradients (random upstream gradient)."""

import numpy as np
import pytest
from conftest import t64

import pydlk

torch = pytest.importorskip("torch")


def distinct(shape, seed=0):
    """Distinct float values (no ties), shuffled."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape).astype(np.float64) / n


def both(a, dtype=np.float64):
    """A pydlk and a torch leaf holding the same values, both requiring grad."""
    a = np.asarray(a, dtype)
    return (pydlk.tensor(a.copy(), requires_grad=True), torch.tensor(a.copy(), requires_grad=True))


def gnp(x):
    """A pydlk leaf's gradient as a NumPy array (whether .grad holds an array or a Tensor)."""
    g = x.grad
    return np.asarray(g.numpy() if hasattr(g, "numpy") else g)


def same(p, t, **kw):
    """pydlk tensor p equals torch tensor t in values, shape and dtype."""
    t = t.detach()
    assert p.shape == tuple(t.shape)
    assert str(p.dtype) == str(t.dtype).removeprefix("torch.")
    np.testing.assert_allclose(p.detach().numpy(), t.numpy(), **kw)


def grads_match(fp, ft, a, seed=1):
    """fp(pydlk leaf) and ft(torch leaf) agree in value and in the gradient of a random
    upstream gradient."""
    xp, xt = both(a)
    yp, yt = fp(xp), ft(xt)
    same(yp, yt, rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(seed).standard_normal(yp.shape)
    yp.backward(pydlk.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(gnp(xp), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- topk / sort


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_matches_torch_and_numpy(dim, largest):
    a = distinct((4, 5))
    k = 3
    grads_match(
        lambda x: pydlk.topk(x, k, dim=dim, largest=largest).values,
        lambda x: torch.topk(x, k, dim=dim, largest=largest).values,
        a,
    )
    r = pydlk.topk(pydlk.tensor(a), k, dim, largest)
    rt = torch.topk(torch.tensor(a), k, dim, largest)
    same(r.indices, rt.indices)
    assert type(r).__name__ == "topk" and r._fields == ("values", "indices")
    # NumPy: the k largest/smallest along dim, in order
    ref = np.sort(a, axis=dim)
    ref = np.flip(ref, dim) if largest else ref
    np.testing.assert_array_equal(r.values.numpy(), np.take(ref, range(k), axis=dim))


@pytest.mark.parametrize("descending", [False, True])
def test_sort_argsort_match_torch(descending):
    a = distinct((3, 6), seed=2)
    grads_match(
        lambda x: pydlk.sort(x, dim=1, descending=descending).values,
        lambda x: torch.sort(x, dim=1, descending=descending).values,
        a,
    )
    v, i = pydlk.tensor(a).sort(0, descending)
    vt, it = torch.tensor(a).sort(0, descending)
    same(v, vt)
    same(i, it)
    same(
        pydlk.argsort(pydlk.tensor(a), dim=1, descending=descending),
        torch.argsort(torch.tensor(a), dim=1, descending=descending),
    )
    np.testing.assert_array_equal(pydlk.tensor(a).argsort().numpy(), np.argsort(a, axis=-1))


@pytest.mark.parametrize("descending", [False, True])
def test_stable_sort_with_ties_matches_torch(descending):
    a = np.array([[3, 1, 2, 1, 3, 2, 1], [0, 0, 1, 1, 0, 1, 0]], np.float32)
    v, i = pydlk.sort(pydlk.tensor(a), descending=descending, stable=True)
    vt, it = torch.sort(torch.tensor(a), descending=descending, stable=True)
    same(v, vt)
    same(i, it)


def test_nan_sorts_as_largest_and_edge_shapes_as_torch():
    a = np.array([[1.0, np.nan, 0.0, -2.0]], np.float32)
    for kw in ({}, {"descending": True}):
        for p, t in zip(pydlk.sort(pydlk.tensor(a), **kw), torch.sort(torch.tensor(a), **kw)):
            same(p, t)
    for p, t in zip(pydlk.topk(pydlk.tensor(a), 2), torch.topk(torch.tensor(a), 2)):
        same(p, t)
    for p, t in zip(pydlk.topk(pydlk.tensor(a), 0), torch.topk(torch.tensor(a), 0)):
        same(p, t)
    for p, t in zip(pydlk.sort(pydlk.tensor(3.0)), torch.sort(torch.tensor(3.0))):
        same(p, t)
    same(
        pydlk.index_select(pydlk.tensor(5.0), 0, pydlk.tensor([0])),
        torch.index_select(torch.tensor(5.0), 0, torch.tensor([0])),
    )
    same(
        pydlk.gather(pydlk.ones(2, 3), 1, pydlk.zeros(2, 0, dtype=pydlk.int64)),
        torch.gather(torch.ones(2, 3), 1, torch.zeros(2, 0, dtype=torch.int64)),
    )


@pytest.mark.parametrize("largest", [True, False])
def test_topk_long_rows_with_ties_pick_the_stable_sorts_first_k(largest):
    """Rows longer than k take the partition path; a tie across the cut falls back to the full
    stable sort, so indices are always the stable sort's first k (ties in input order)."""
    rng = np.random.default_rng(5)
    a = rng.integers(0, 6, size=(40, 50)).astype(np.float32)  # many ties at every cut
    a[:20] = rng.permutation(20 * 50).reshape(20, 50)  # and rows without any
    for rows in (slice(0, 20), slice(None)):
        for dim in (0, 1):
            x = a[rows]
            r = pydlk.topk(pydlk.tensor(x), 7, dim=dim, largest=largest)
            rt = torch.topk(torch.tensor(x), 7, dim=dim, largest=largest)
            same(r.values, rt.values)
            key = -x if largest else x
            ref = np.take(np.argsort(key, axis=dim, kind="stable"), range(7), axis=dim)
            np.testing.assert_array_equal(r.indices.numpy(), ref)
    i = pydlk.topk(pydlk.tensor(np.arange(30, dtype=np.int64) % 4), 3, largest=largest).indices
    np.testing.assert_array_equal(i.numpy(), [3, 7, 11] if largest else [0, 4, 8])


def test_sort_gradcheck_float64():
    assert pydlk.gradcheck(
        lambda x: pydlk.sort(x, 0).values * pydlk.arange(3.0).double().reshape(3, 1),
        (t64(distinct((3, 4))),),
    )
    assert pydlk.gradcheck(lambda x: pydlk.topk(x, 2).values ** 2, (t64(distinct((3, 4))),))


def test_topk_sort_bad_arguments():
    x = pydlk.tensor(distinct((2, 3)))
    with pytest.raises(ValueError, match="topk: k"):
        pydlk.topk(x, 4)
    with pytest.raises(TypeError, match="topk: k must be an int"):
        pydlk.topk(x, 1.5)
    with pytest.raises(IndexError, match="sort: dim"):
        pydlk.sort(x, dim=2)


# ----------------------------------------------------------------------------- gather/scatter


def test_gather_matches_torch_with_repeats():
    a = distinct((3, 4))
    idx = np.array([[0, 0, 3], [2, 1, 1], [3, 3, 3]])
    grads_match(
        lambda x: pydlk.gather(x, 1, pydlk.tensor(idx)),
        lambda x: torch.gather(x, 1, torch.tensor(idx)),
        a,
    )
    idx0 = np.array([[2, 0, 1, 1], [0, 0, 0, 2]])
    grads_match(
        lambda x: x.gather(0, pydlk.tensor(idx0)), lambda x: x.gather(0, torch.tensor(idx0)), a
    )
    # NumPy: take_along_axis is the same addressing when index spans input's other dims
    np.testing.assert_array_equal(
        pydlk.gather(pydlk.tensor(a), 0, pydlk.tensor(idx0)).numpy(),
        np.take_along_axis(a[:, :4], idx0, 0),
    )
    assert pydlk.gradcheck(
        lambda x: pydlk.gather(x, 1, pydlk.tensor(idx)), (t64(distinct((3, 4))),)
    )


def test_scatter_and_scatter_add_match_torch():
    a = distinct((3, 5))
    src = distinct((2, 5), seed=3) + 10
    idx = np.array([[0, 1, 2, 0, 1], [2, 0, 1, 1, 0]])  # no repeats per column: well defined
    for fp, ft in [(pydlk.scatter, torch.scatter), (pydlk.scatter_add, torch.scatter_add)]:
        xp, xt = both(a)
        sp, st = both(src)
        yp = fp(xp, 0, pydlk.tensor(idx), sp)
        yt = ft(xt, 0, torch.tensor(idx), st)
        same(yp, yt)
        g = np.random.default_rng(0).standard_normal(a.shape)
        yp.backward(pydlk.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(gnp(xp), xt.grad.numpy())
        np.testing.assert_allclose(gnp(sp), st.grad.numpy())
    # repeated indices accumulate in scatter_add (NumPy add.at)
    rep = np.array([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]])
    ref = a.copy()
    np.add.at(ref, (rep, np.arange(5)[None, :].repeat(2, 0)), src)
    np.testing.assert_allclose(
        pydlk.scatter_add(pydlk.tensor(a), 0, pydlk.tensor(rep), pydlk.tensor(src)).numpy(), ref
    )
    # src larger than index: only index's shape is read; value form; reduce
    big = distinct((3, 6), seed=4)
    same(
        pydlk.scatter(pydlk.tensor(a), 1, pydlk.tensor(idx[:, :2]), pydlk.tensor(big)),
        torch.scatter(torch.tensor(a), 1, torch.tensor(idx[:, :2]), torch.tensor(big)),
    )
    same(
        pydlk.scatter(pydlk.tensor(a), 1, pydlk.tensor(idx[:, :2]), value=-1.5),
        torch.scatter(torch.tensor(a), 1, torch.tensor(idx[:, :2]), value=-1.5),
    )
    with pytest.warns(UserWarning, match="reduce argument"):
        rp = pydlk.tensor(a).scatter(0, pydlk.tensor(rep), pydlk.tensor(src), reduce="add")
    with pytest.warns(UserWarning, match="reduce argument"):
        rt = torch.tensor(a).scatter(0, torch.tensor(rep), torch.tensor(src), reduce="add")
    same(rp, rt)
    same(
        pydlk.tensor(a).scatter(0, pydlk.tensor(rep), 2.0, reduce="multiply"),
        torch.tensor(a).scatter(0, torch.tensor(rep), 2.0, reduce="multiply"),
    )
    assert pydlk.gradcheck(
        lambda x, s: pydlk.scatter(x, 0, pydlk.tensor(idx), s), (t64(a), t64(src))
    )
    assert pydlk.gradcheck(
        lambda x, s: pydlk.scatter_add(x, 0, pydlk.tensor(rep), s), (t64(a), t64(src))
    )


def test_inplace_scatter_and_masked_fill():
    a = distinct((3, 5))
    idx = np.array([[0, 1, 2, 0, 1]])
    src = np.full((1, 5), 7.0)
    xp, xt = pydlk.tensor(a.copy()), torch.tensor(a.copy())
    assert xp.scatter_(0, pydlk.tensor(idx), pydlk.tensor(src)) is xp
    xt.scatter_(0, torch.tensor(idx), torch.tensor(src))
    same(xp, xt)
    xp.scatter_add_(0, pydlk.tensor(idx), pydlk.tensor(src))
    xt.scatter_add_(0, torch.tensor(idx), torch.tensor(src))
    same(xp, xt)
    m = a > 0.5
    xp.masked_fill_(pydlk.tensor(m), -2.0)
    xt.masked_fill_(torch.tensor(m), -2.0)
    same(xp, xt)
    leaf = pydlk.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError, match="masked_fill_"):
        leaf.masked_fill_(pydlk.tensor(m), 0.0)
    with pytest.raises(RuntimeError, match="scatter_"):
        leaf.scatter_(0, pydlk.tensor(idx), pydlk.tensor(src))
    node = leaf * 2
    node.scatter_add_(0, pydlk.tensor(idx), pydlk.tensor(src))  # recorded, as torch
    node.masked_fill_(pydlk.tensor(m), 0.0)  # recorded: the filled places get no gradient
    node.sum().backward()
    np.testing.assert_array_equal(np.asarray(leaf.grad), np.where(m, 0.0, 2.0))


def test_gather_scatter_bad_arguments():
    x = pydlk.tensor(distinct((3, 4)))
    with pytest.raises(TypeError, match="gather: index"):
        pydlk.gather(x, 0, pydlk.tensor([[0.0]]))
    with pytest.raises(IndexError, match="gather: index out of range"):
        pydlk.gather(x, 0, pydlk.tensor([[3]]))
    with pytest.raises(ValueError, match="gather: index must have the same number"):
        pydlk.gather(x, 0, pydlk.tensor([0]))
    with pytest.raises(ValueError, match="scatter: reduce"):
        pydlk.scatter(x, 0, pydlk.tensor([[0]]), value=1.0, reduce="max")
    with pytest.raises(TypeError, match="scatter_add: src"):
        pydlk.scatter_add(x, 0, pydlk.tensor([[0]]), 1.0)


# ----------------------------------------------------------------------------- index_select etc.


def test_index_select_and_narrow_match_torch():
    a = distinct((4, 3))
    idx = np.array([3, 0, 3, 1])
    grads_match(
        lambda x: pydlk.index_select(x, 0, pydlk.tensor(idx)),
        lambda x: torch.index_select(x, 0, torch.tensor(idx)),
        a,
    )
    grads_match(
        lambda x: x.index_select(1, pydlk.tensor([2, 2])),
        lambda x: x.index_select(1, torch.tensor([2, 2])),
        a,
    )
    np.testing.assert_array_equal(
        pydlk.index_select(pydlk.tensor(a), 0, pydlk.tensor(idx)).numpy(), a[idx]
    )
    grads_match(lambda x: pydlk.narrow(x, 0, 1, 2), lambda x: torch.narrow(x, 0, 1, 2), a)
    grads_match(lambda x: x.narrow(1, -2, 2), lambda x: x.narrow(1, -2, 2), a)
    assert pydlk.gradcheck(lambda x: pydlk.index_select(x, 0, pydlk.tensor(idx)), (t64(a),))
    with pytest.raises(IndexError, match="index_select: index out of range"):
        pydlk.index_select(pydlk.tensor(a), 0, pydlk.tensor([4]))
    with pytest.raises(IndexError, match="narrow: start"):
        pydlk.narrow(pydlk.tensor(a), 0, 3, 2)


def test_masked_fill_and_where_match_torch():
    a = distinct((3, 4))
    m = a > 0.4
    grads_match(
        lambda x: pydlk.masked_fill(x, pydlk.tensor(m), 0.25),
        lambda x: torch.masked_fill(x, torch.tensor(m), 0.25),
        a,
    )
    b = distinct((3, 4), seed=5)
    grads_match(
        lambda x: pydlk.where(pydlk.tensor(m), x, pydlk.tensor(b)),
        lambda x: torch.where(torch.tensor(m), x, torch.tensor(b)),
        a,
    )
    for p, t in zip(pydlk.where(pydlk.tensor(m)), torch.where(torch.tensor(m))):
        same(p, t)


# ----------------------------------------------------------------------------- einsum

EQUATIONS = [
    ("ij,jk->ik", [(3, 4), (4, 2)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->ji", [(3, 4)]),
    ("ij", [(3, 4)]),
    ("ij,ij->i", [(3, 4), (3, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("ij->", [(3, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
]


@pytest.mark.parametrize("eq,shapes", EQUATIONS)
def test_einsum_matches_torch_numpy_and_gradcheck(eq, shapes):
    arrays = [distinct(s, seed=i) for i, s in enumerate(shapes)]
    ps = [pydlk.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    yp, yt = pydlk.einsum(eq, *ps), torch.einsum(eq, *ts)
    same(yp, yt, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(yp.detach().numpy(), np.einsum(eq, *arrays), rtol=1e-12)
    g = np.random.default_rng(0).standard_normal(yp.shape)
    yp.backward(pydlk.tensor(g))
    yt.backward(torch.tensor(g))
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(gnp(p), t.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert pydlk.gradcheck(lambda *xs: pydlk.einsum(eq, *xs), tuple(t64(a) for a in arrays))


def test_einsum_list_form_and_bad_arguments():
    a, b = distinct((2, 3)), distinct((3, 2))
    same(
        pydlk.einsum("ij,jk", [pydlk.tensor(a), pydlk.tensor(b)]),
        torch.einsum("ij,jk", [torch.tensor(a), torch.tensor(b)]),
    )
    with pytest.raises(ValueError, match="einsum: the equation names 2"):
        pydlk.einsum("ij,jk->ik", pydlk.tensor(a))
    with pytest.raises(ValueError, match="einsum: subscripts"):
        pydlk.einsum("ijk->i", pydlk.tensor(a))
    with pytest.raises(ValueError, match="einsum: subscript 'j' has size"):
        pydlk.einsum("ij,jk->ik", pydlk.tensor(a), pydlk.tensor(a))


# ----------------------------------------------------------------------------- hyperbolics


@pytest.mark.parametrize(
    "name,ref,lo,hi",
    [
        ("sinh", np.sinh, -2, 2),
        ("cosh", np.cosh, -2, 2),
        ("asinh", np.arcsinh, -2, 2),
        ("acosh", np.arccosh, 1.2, 3),
        ("atanh", np.arctanh, -0.8, 0.8),
    ],
)
def test_hyperbolic_functions(name, ref, lo, hi):
    a = np.random.default_rng(0).uniform(lo, hi, (3, 4))
    grads_match(getattr(pydlk, name), getattr(torch, name), a)
    np.testing.assert_allclose(getattr(pydlk.tensor(a), name)().numpy(), ref(a), rtol=1e-12)
    assert pydlk.gradcheck(getattr(pydlk, name), (t64(a),))
    same(
        getattr(pydlk, name)(pydlk.tensor([1, 2])),
        getattr(torch, name)(torch.tensor([1, 2])),
        rtol=1e-6,
    )


# ----------------------------------------------------------------------------- axis= alias


@pytest.mark.parametrize(
    "name",
    [
        "sum",
        "mean",
        "prod",
        "std",
        "var",
        "argmax",
        "argmin",
        "logsumexp",
        "cumsum",
        "amax",
        "amin",
        "softmax",
        "log_softmax",
        "count_nonzero",
    ],
)
def test_axis_alias_as_torch(name):
    a = distinct((3, 4))
    same(
        getattr(pydlk, name)(pydlk.tensor(a), axis=1),
        getattr(torch, name)(torch.tensor(a), axis=1),
        rtol=1e-6,
    )


def test_axis_alias_on_max_min_any_all_cat_stack():
    a = distinct((3, 4))
    for name in ("max", "min"):
        r, rt = (
            getattr(pydlk, name)(pydlk.tensor(a), axis=0),
            getattr(torch, name)(torch.tensor(a), axis=0),
        )
        same(r.values, rt.values)
        same(r.indices, rt.indices)
    m = a > 0.5
    for name in ("any", "all"):
        same(
            getattr(pydlk, name)(pydlk.tensor(m), axis=1),
            getattr(torch, name)(torch.tensor(m), axis=1),
        )
    same(pydlk.tensor(a).sum(axis=0), torch.tensor(a).sum(axis=0))
    for name in ("cat", "concat", "stack"):
        same(
            getattr(pydlk, name)([pydlk.tensor(a)] * 2, axis=1),
            getattr(torch, name)([torch.tensor(a)] * 2, axis=1),
        )
    with pytest.raises(TypeError, match="sum: give dim or its alias axis"):
        pydlk.sum(pydlk.tensor(a), dim=0, axis=0)


# ----------------------------------------------------------------------------- meshgrid


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_torch(indexing):
    xs = [distinct((n,), seed=n) for n in (2, 3, 4)]
    ps = pydlk.meshgrid(*[pydlk.tensor(x) for x in xs], indexing=indexing)
    ts = torch.meshgrid(*[torch.tensor(x) for x in xs], indexing=indexing)
    for p, t, ref in zip(ps, ts, np.meshgrid(*xs, indexing=indexing)):
        same(p, t)
        np.testing.assert_array_equal(p.numpy(), ref)
    xp, xt = both(xs[0])
    gp = pydlk.meshgrid(xp, pydlk.tensor(xs[1]), indexing=indexing)[0]
    gt = torch.meshgrid(xt, torch.tensor(xs[1]), indexing=indexing)[0]
    g = np.random.default_rng(0).standard_normal(gp.shape)
    gp.backward(pydlk.tensor(g))
    gt.backward(torch.tensor(g))
    np.testing.assert_allclose(gnp(xp), xt.grad.numpy())


def test_meshgrid_warns_without_indexing_as_torch():
    with pytest.warns(UserWarning, match="indexing"):
        pydlk.meshgrid(pydlk.tensor([1.0]), pydlk.tensor([2.0]))
    with pytest.raises(ValueError, match="meshgrid: indexing"):
        pydlk.meshgrid(pydlk.tensor([1.0]), indexing="ji")


# ----------------------------------------------------------------------------- sampling


def test_normal_overloads_shapes_dtypes_and_moments():
    pydlk.manual_seed(0)
    r = pydlk.normal(2.0, 3.0, size=(20000,))
    assert r.shape == (20000,) and r.dtype == pydlk.float32
    assert abs(float(r.mean()) - 2.0) < 0.1 and abs(float(r.std()) - 3.0) < 0.1
    mean = pydlk.tensor(np.array([0.0, 100.0], np.float64))
    r = pydlk.normal(mean, 0.001)
    assert r.shape == (2,) and r.dtype == pydlk.float64
    np.testing.assert_allclose(r.numpy(), [0.0, 100.0], atol=0.01)
    r = pydlk.normal(mean, pydlk.tensor(np.ones((3, 1))))
    assert r.shape == (3, 2) and tuple(
        torch.normal(
            torch.zeros(2, dtype=torch.float64), torch.ones(3, 1, dtype=torch.float64)
        ).shape
    ) == (3, 2)
    pydlk.manual_seed(5)
    a = pydlk.normal(0.0, 1.0, (4,))
    pydlk.manual_seed(5)
    np.testing.assert_array_equal(a.numpy(), pydlk.normal(0.0, 1.0, (4,)).numpy())
    with pytest.raises(ValueError, match="normal: std"):
        pydlk.normal(0.0, -1.0, (2,))
    with pytest.raises(TypeError, match="normal: with float mean and std, size"):
        pydlk.normal(0.0, 1.0)


def test_inplace_samplers():
    pydlk.manual_seed(0)
    x = pydlk.zeros(20000)
    assert x.normal_(1.0, 2.0) is x
    assert abs(float(x.mean()) - 1.0) < 0.1 and abs(float(x.std()) - 2.0) < 0.1
    x.uniform_(-3.0, -1.0)
    a = x.numpy()
    assert a.min() >= -3.0 and a.max() < -1.0 and abs(a.mean() + 2.0) < 0.05
    x.exponential_(4.0)
    assert x.numpy().min() >= 0 and abs(float(x.mean()) - 0.25) < 0.02
    assert x.dtype == pydlk.float32
    with pytest.raises(TypeError, match="uniform_: tensor dtype"):
        pydlk.zeros(2, dtype=pydlk.int64).uniform_()
    with pytest.raises(RuntimeError, match="normal_"):
        pydlk.zeros(2, requires_grad=True).normal_()


# ----------------------------------------------------------------------------- small helpers


def test_type_and_format_as_torch():
    for dt, tdt in [
        (pydlk.float32, torch.float32),
        (pydlk.float64, torch.float64),
        (pydlk.int64, torch.int64),
        (pydlk.bool, torch.bool),
    ]:
        assert pydlk.zeros(2, dtype=dt).type() == torch.zeros(2, dtype=tdt).type()
    assert pydlk.zeros(2).type(pydlk.float64).dtype == pydlk.float64
    assert pydlk.zeros(2).type("torch.LongTensor").dtype == pydlk.int64
    with pytest.raises(ValueError, match="type: invalid type"):
        pydlk.zeros(2).type("torch.NopeTensor")
    assert format(pydlk.tensor(1.2345), ".2f") == format(torch.tensor(1.2345), ".2f") == "1.23"
    assert f"{pydlk.tensor(7)}" == f"{torch.tensor(7)}"
    assert format(pydlk.ones(2), "") == str(pydlk.ones(2))
    with pytest.raises(TypeError, match="__format__"):
        format(pydlk.ones(2), ".2f")


def test_device_objects_accepted_by_factories():
    assert pydlk.zeros(2, device=pydlk.device("cpu", 0)).device.type == "cpu"
    assert pydlk.ones(2, device=pydlk.device("cpu")).shape == (2,)
    with pytest.raises(ValueError, match="invalid device"):
        pydlk.zeros(2, device="tpu")
