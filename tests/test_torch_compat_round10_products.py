"""addr (torch.addr, Tensor.addr, addr_) and the in-place scaled products addmm_, addmv_,
addbmm_, baddbmm_ against torch 2.13 and a NumPy reference: values, dtype promotion, torch's
integer and bool rules for beta/alpha, shape errors, gradients (float64 gradchecks), and the
in-place forms recorded on the graph as the other in-place ops are (a leaf that requires grad
refused)."""

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _both(fn):
    return fn(pydlk), fn(torch)


@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2), (0, -1.5), (2, 0)])
def test_addr_matches_torch_and_the_outer_product(beta, alpha):
    rng = np.random.default_rng(0)
    m, v1, v2 = rng.standard_normal((3, 2)), rng.standard_normal(3), rng.standard_normal(2)
    got, want = _both(
        lambda L: L.addr(L.tensor(m), L.tensor(v1), L.tensor(v2), beta=beta, alpha=alpha)
    )
    ref = beta * m + alpha * v1[:, None] * v2[None, :]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(got.numpy(), _np(want), rtol=1e-12)
    assert got.dtype == pydlk.float64
    meth = pydlk.tensor(m).addr(pydlk.tensor(v1), pydlk.tensor(v2), beta=beta, alpha=alpha)
    np.testing.assert_allclose(meth.numpy(), ref, rtol=1e-12)


def test_addr_broadcasts_input_promotes_dtypes_and_ignores_input_at_beta_zero():
    got, want = _both(lambda L: L.addr(L.ones(2), L.arange(3.0), L.arange(2.0)))
    np.testing.assert_array_equal(got.numpy(), _np(want))
    assert tuple(got.shape) == (3, 2)
    got, want = _both(lambda L: L.addr(L.ones(3, 2, dtype=L.int64), L.arange(3.0), L.arange(2)))
    assert got.dtype == pydlk.float32 and want.dtype == torch.float32
    np.testing.assert_array_equal(got.numpy(), _np(want))
    got, want = _both(
        lambda L: L.addr(L.full((3, 2), float("nan")), L.arange(3.0), L.arange(2.0), beta=0)
    )
    assert not np.isnan(got.numpy()).any()
    np.testing.assert_array_equal(got.numpy(), _np(want))


def test_addr_integer_and_bool_rules():
    got, want = _both(
        lambda L: L.addr(L.ones(3, 2, dtype=L.int64), L.arange(3), L.arange(2), beta=2, alpha=3)
    )
    assert got.dtype == pydlk.int64
    np.testing.assert_array_equal(got.numpy(), _np(want))
    np.testing.assert_array_equal(got.numpy(), 2 + 3 * np.outer(np.arange(3), np.arange(2)))
    for kw, name in (({"beta": 0.5}, "beta"), ({"alpha": 0.5}, "alpha")):
        for L in (pydlk, torch):
            with pytest.raises(RuntimeError, match=f"argument {name} must not be a floating"):
                L.addr(L.ones(3, 2, dtype=L.int64), L.arange(3), L.arange(2), **kw)
    for kw in ({}, {"beta": False}, {"alpha": 0}, {"beta": 2}):
        got, want = _both(
            lambda L: L.addr(
                L.tensor([[False, True], [True, False]]),
                L.tensor([True, False]),
                L.tensor([True, True]),
                **kw,
            )
        )
        assert got.dtype == pydlk.bool
        np.testing.assert_array_equal(got.numpy(), _np(want))


def test_addr_shape_errors():
    for L in (pydlk, torch):
        with pytest.raises(RuntimeError, match="Expected 1-D argument vec1, but got 2-D"):
            L.addr(L.ones(3, 2), L.ones(1, 3), L.ones(2))
    with pytest.raises(ValueError, match="does not broadcast"):  # torch: RuntimeError
        pydlk.addr(pydlk.ones(4, 2), pydlk.ones(3), pydlk.ones(2))


def test_addr_gradients_match_torch_and_gradcheck():
    rng = np.random.default_rng(1)
    m, v1, v2 = rng.standard_normal((3, 2)), rng.standard_normal(3), rng.standard_normal(2)
    g = rng.standard_normal((3, 2))
    ps = [pydlk.tensor(a, requires_grad=True) for a in (m, v1, v2)]
    ts = [torch.tensor(a, requires_grad=True) for a in (m, v1, v2)]
    pg = pydlk.autograd.grad(pydlk.addr(*ps, beta=0.3, alpha=-2), ps, pydlk.tensor(g))
    tg = torch.autograd.grad(torch.addr(*ts, beta=0.3, alpha=-2), ts, torch.tensor(g))
    for a, b in zip(pg, tg):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    np.testing.assert_allclose(pg[1].numpy(), -2 * g @ v2, rtol=1e-12)
    assert pydlk.autograd.gradcheck(lambda a, b, c: pydlk.addr(a, b, c, beta=0.3, alpha=-2), ps)
    assert pydlk.autograd.gradcheck(lambda a, b, c: pydlk.addr(a, b, c, beta=0), ps)


PRODUCTS = [
    ("addmm_", (3, 2), [(3, 4), (4, 2)], lambda s, a, b: a @ b),
    ("addmv_", (3,), [(3, 4), (4,)], lambda s, a, b: a @ b),
    ("addbmm_", (3, 2), [(5, 3, 4), (5, 4, 2)], lambda s, a, b: np.einsum("bij,bjk->ik", a, b)),
    ("baddbmm_", (5, 3, 2), [(5, 3, 4), (5, 4, 2)], lambda s, a, b: a @ b),
    ("addr_", (3, 2), [(3,), (2,)], lambda s, a, b: np.outer(a, b)),
]


@pytest.mark.parametrize("name,shape,operands,product", PRODUCTS)
def test_in_place_products_match_torch_and_the_reference(name, shape, operands, product):
    rng = np.random.default_rng(2)
    s = rng.standard_normal(shape)
    ops = [rng.standard_normal(o) for o in operands]
    x = pydlk.tensor(s)
    r = getattr(x, name)(*(pydlk.tensor(o) for o in ops), beta=0.5, alpha=2)
    tx = torch.tensor(s)
    getattr(tx, name)(*(torch.tensor(o) for o in ops), beta=0.5, alpha=2)
    assert r is x
    np.testing.assert_allclose(x.numpy(), 0.5 * s + 2 * product(s, *ops), rtol=1e-12)
    np.testing.assert_allclose(x.numpy(), _np(tx), rtol=1e-12)


@pytest.mark.parametrize("name,shape,operands,product", PRODUCTS)
def test_in_place_products_refuse_results_the_tensor_cannot_hold(name, shape, operands, product):
    small = pydlk.ones(shape[-1:] if len(shape) > 1 else (1,))
    with pytest.raises(RuntimeError, match=name):
        getattr(small, name)(*(pydlk.ones(o) for o in operands))
    ints = pydlk.ones(shape, dtype=pydlk.int64)
    with pytest.raises(RuntimeError, match="can't be cast"):
        getattr(ints, name)(*(pydlk.ones(o) for o in operands))
    tints = torch.ones(shape, dtype=torch.int64)
    with pytest.raises(RuntimeError):
        getattr(tints, name)(*(torch.ones(o) for o in operands))


@pytest.mark.parametrize("name,shape,operands,product", PRODUCTS)
def test_in_place_products_are_recorded_on_the_graph(name, shape, operands, product):
    rng = np.random.default_rng(3)
    s = rng.standard_normal(shape)
    ops = [rng.standard_normal(o) for o in operands]
    leaf = pydlk.tensor(s, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(leaf, name)(*(pydlk.tensor(o) for o in ops))
    ps = [pydlk.tensor(o, requires_grad=True) for o in ops]
    ts = [torch.tensor(o, requires_grad=True) for o in ops]
    tleaf = torch.tensor(s, requires_grad=True)
    y = leaf * 3
    ty = tleaf * 3
    getattr(y, name)(*ps, beta=0.25, alpha=-1.5)
    getattr(ty, name)(*ts, beta=0.25, alpha=-1.5)
    assert y.grad_fn is not None
    g = rng.standard_normal(y.shape)
    pg = pydlk.autograd.grad(y, [leaf, *ps], pydlk.tensor(g))
    tg = torch.autograd.grad(ty, [tleaf, *ts], torch.tensor(g))
    for a, b in zip(pg, tg):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    np.testing.assert_allclose(pg[0].numpy(), 3 * 0.25 * g, rtol=1e-12)

    def f(a, *o):
        t = a * 1.0
        return getattr(t, name)(*o, beta=0.25, alpha=-1.5)

    assert pydlk.autograd.gradcheck(f, [pydlk.tensor(s, requires_grad=True), *ps])


def test_in_place_product_of_a_plain_tensor_writes_its_own_array():
    a = np.ones((3, 2))
    x = pydlk.tensor(a)
    arr = x._data
    x.addmm_(pydlk.ones(3, 4, dtype=pydlk.float64), pydlk.ones(4, 2, dtype=pydlk.float64))
    assert x._data is arr
    np.testing.assert_array_equal(arr, np.full((3, 2), 5.0))
    with pydlk.no_grad():
        p = pydlk.ones(3, requires_grad=True)
        p.addmv_(pydlk.ones(3, 2), pydlk.ones(2), alpha=2)
    assert p.detach().numpy().tolist() == [5.0, 5.0, 5.0] and p.grad_fn is None
