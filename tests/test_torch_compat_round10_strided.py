"""Strided views and layouts against torch 2.13: as_strided (values, sharing, storage offsets of
views, bounds and argument errors, torch's gradient and a float64 gradcheck, double backward),
as_strided_ (in place, recorded), as_strided_scatter (torch's clone_preserve_strides geometry,
gradients), as_strided_copy, storage_offset, new_empty_strided, empty_permuted and dim_order.
Each as_strided case also has a NumPy reference written out in the test."""

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t.detach().numpy()


def _ref_as_strided(storage, size, stride, offset):
    """NumPy reference: out[i0, i1, ...] = storage[offset + sum_k i_k * stride_k]."""
    out = np.empty(size, storage.dtype)
    for idx in np.ndindex(*size):
        out[idx] = storage[offset + sum(i * s for i, s in zip(idx, stride))]
    return out


CASES = [
    ((2, 2), (1, 2), None),
    ((2, 2), (1, 2), 3),
    ((3, 3), (1, 1), None),
    ((2, 3, 2), (4, 1, 0), 1),
    ((), (), 5),
    ((0, 4), (1, 1), None),
]


@pytest.mark.parametrize("size,stride,offset", CASES)
def test_as_strided_matches_torch_and_the_reference(size, stride, offset):
    base = np.arange(12, dtype=np.float32)
    x, tx = pydlk.tensor(base).reshape(3, 4), torch.tensor(base).reshape(3, 4)
    got = x.as_strided(size, stride, offset)
    want = tx.as_strided(size, stride, offset)
    ref = _ref_as_strided(base, size, stride, 0 if offset is None else offset)
    assert tuple(got.shape) == tuple(want.shape) == ref.shape
    assert got.dtype == pydlk.float32
    np.testing.assert_array_equal(got.numpy(), _np(want))
    np.testing.assert_array_equal(got.numpy(), ref)
    assert got.stride() == want.stride()
    np.testing.assert_array_equal(pydlk.as_strided(x, size, stride, offset).numpy(), ref)


def test_as_strided_reads_the_storage_of_views():
    base = np.arange(12, dtype=np.int64)
    x, tx = pydlk.tensor(base).reshape(3, 4), torch.tensor(base).reshape(3, 4)
    for view in (lambda t: t[1:], lambda t: t.t(), lambda t: t[:, 1::2]):
        v, tv = view(x), view(tx)
        assert v.storage_offset() == tv.storage_offset()
        got = v.as_strided((2, 2), (1, 2))
        np.testing.assert_array_equal(got.numpy(), _np(tv.as_strided((2, 2), (1, 2))))
        ref = _ref_as_strided(base, (2, 2), (1, 2), tv.storage_offset())
        np.testing.assert_array_equal(got.numpy(), ref)
    assert x.as_strided((2,), (1,)).dtype == pydlk.int64


def test_as_strided_shares_memory_with_the_input():
    x = pydlk.arange(12.0).reshape(3, 4)
    v = x.as_strided((2, 2), (1, 2))
    v.fill_(-1.0)
    tx = torch.arange(12.0).reshape(3, 4)
    tx.as_strided((2, 2), (1, 2)).fill_(-1.0)
    np.testing.assert_array_equal(x.numpy(), _np(tx))
    assert x.numpy()[0, :4].tolist() == [-1.0, -1.0, -1.0, -1.0]


@pytest.mark.parametrize(
    "args,exc,text",
    [
        (((4, 4), (4, 1)), RuntimeError, "out of bounds for storage of size 48"),
        (((2, 2), (-1, 1)), RuntimeError, "Negative strides are not supported"),
        (((-2, 2), (1, 1)), RuntimeError, "Storage size calculation overflowed"),
        (((2, 2), (1,)), RuntimeError, "mismatch in length of strides and shape"),
        (((2, 2), (1, 1), -1), RuntimeError, "invalid storage offset -1"),
        (((2, 2), (1.0, 2)), TypeError, "must be tuple of ints"),
    ],
)
def test_as_strided_refuses_what_torch_refuses(args, exc, text):
    with pytest.raises(exc, match=text):
        pydlk.arange(12.0).reshape(3, 4).as_strided(*args)
    with pytest.raises(exc, match=text):
        torch.arange(12.0).reshape(3, 4).as_strided(*args)


def test_as_strided_gradient_is_torchs_scatter_add():
    xg = pydlk.arange(12.0, requires_grad=True)
    txg = torch.arange(12.0, requires_grad=True)
    for args in (((3, 3), (1, 1)), ((2, 2), (1, 2), 4), ((2, 3), (0, 2), 1)):
        (g,) = pydlk.autograd.grad((xg.reshape(3, 4).as_strided(*args) ** 2).sum(), xg)
        (tg,) = torch.autograd.grad((txg.reshape(3, 4).as_strided(*args) ** 2).sum(), txg)
        np.testing.assert_allclose(g.numpy(), tg.numpy())
    # the reference: the output's gradient scatter-added into the storage along its geometry
    size, stride = (3, 3), (1, 1)
    ref = np.zeros(12)
    for idx in np.ndindex(*size):
        ref[sum(i * s for i, s in zip(idx, stride))] += 1.0
    (g,) = pydlk.autograd.grad(xg.as_strided(size, stride).sum(), xg)
    np.testing.assert_array_equal(g.numpy(), ref)


def test_as_strided_gradient_divides_by_the_inputs_own_overlap():
    a, ta = pydlk.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
    (g,) = pydlk.autograd.grad(a.expand(4).as_strided((3,), (0,)).sum(), a)
    (tg,) = torch.autograd.grad(ta.expand(4).as_strided((3,), (0,)).sum(), ta)
    assert g.numpy().tolist() == tg.numpy().tolist() == [3.0]


def test_as_strided_gradcheck_and_double_backward():
    x = pydlk.tensor(np.random.default_rng(0).standard_normal(12), requires_grad=True)
    assert pydlk.autograd.gradcheck(lambda t: t.reshape(3, 4).as_strided((3, 3), (1, 1), 1), (x,))
    assert pydlk.autograd.gradcheck(lambda t: t[2:].as_strided((2, 2), (2, 3)), (x,))
    assert pydlk.autograd.gradgradcheck(lambda t: t.as_strided((4, 3), (2, 1)) ** 2, (x,))


def test_as_strided_in_place_takes_the_view_and_is_recorded():
    c, tc = pydlk.arange(12.0), torch.arange(12.0)
    assert c.as_strided_((3,), (2,), 1) is c
    tc.as_strided_((3,), (2,), 1)
    np.testing.assert_array_equal(c.numpy(), _np(tc))
    assert (tuple(c.shape), c.stride(), c.storage_offset()) == (
        tuple(tc.shape),
        tc.stride(),
        tc.storage_offset(),
    )
    x = pydlk.arange(6.0, requires_grad=True)
    y = x * 2
    y.as_strided_((2,), (3,))
    (g,) = pydlk.autograd.grad(y.sum(), x)
    assert g.numpy().tolist() == [2.0, 0.0, 0.0, 2.0, 0.0, 0.0]
    leaf = pydlk.ones(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.as_strided_((2,), (1,))


def test_views_of_a_placed_kernel_output_know_their_storage_offset_as_torch():
    # large kernel outputs sit inside a slightly longer block (csrc/bind_util.h places them
    # clear of 4K aliasing); their views still count offsets from the output's first element
    x = pydlk.randn(256, 1024)
    y = pydlk.functional.layer_norm(x, (1024,))
    assert y._data.base is not None and y._data.base.nbytes > y._data.nbytes  # placed
    t = torch.nn.functional.layer_norm(torch.tensor(x.numpy()), (1024,))
    views = [lambda v: v, lambda v: v[1:], lambda v: v[:, 3:], lambda v: v.t(),
             lambda v: v[2:, 5:][1:], lambda v: v[7]]  # fmt: skip
    for f in views:
        assert f(y).storage_offset() == f(t).storage_offset()
    ref = y.numpy().reshape(-1)
    np.testing.assert_array_equal(y.as_strided((3,), (1024,), 1).numpy(), ref[1:3073:1024])
    np.testing.assert_array_equal(y[1:].as_strided((2,), (1,)).numpy(), ref[1024:1026])
    # an explicit storage_offset counts from the output's start, whichever view is given
    np.testing.assert_array_equal(y[1:].as_strided((2,), (1,), 0).numpy(), ref[:2])
    np.testing.assert_array_equal(y[3:].as_strided((2,), (1,), 5).numpy(), ref[5:7])
    # a user's uint8 buffer viewed as float32 is not taken for a placed block (its tail has
    # no magic number): it is its own storage
    raw = np.zeros((256 << 10) + 4096 + 16, np.uint8)
    f32 = pydlk.from_numpy(raw.view(np.float32)[3:])
    assert f32.storage_offset() == 3


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.arange(12.0).reshape(3, 4),
        lambda L: L.arange(12.0).reshape(4, 3).t(),
        lambda L: L.arange(12.0).reshape(3, 4)[:, ::2],
        lambda L: L.arange(12.0).reshape(3, 4)[1:],
    ],
)
def test_as_strided_scatter_matches_torch(make):
    src = np.array([[-1.0, -2.0], [-3.0, -4.0]], np.float32)
    got = pydlk.as_strided_scatter(make(pydlk), pydlk.tensor(src), (2, 2), (1, 2))
    want = torch.as_strided_scatter(make(torch), torch.tensor(src), (2, 2), (1, 2))
    np.testing.assert_array_equal(got.numpy(), _np(want))
    assert got.stride() == want.stride()
    # the reference: the input's whole storage copied, src written along the geometry, read
    # back with the input's own sizes, strides and offset
    x = make(torch)
    store = np.arange(12.0, dtype=np.float32)
    off = x.storage_offset()
    for idx in np.ndindex(2, 2):
        store[off + idx[0] + 2 * idx[1]] = src[idx]
    ref = _ref_as_strided(store, tuple(x.shape), x.stride(), off)
    np.testing.assert_array_equal(got.numpy(), ref)
    m = make(pydlk).as_strided_scatter(pydlk.tensor(src), (2, 2), (1, 2), 0)
    np.testing.assert_array_equal(
        m.numpy(), _np(make(torch).as_strided_scatter(torch.tensor(src), (2, 2), (1, 2), 0))
    )


def test_as_strided_scatter_checks_and_casts():
    x = pydlk.arange(12.0).reshape(3, 4)
    with pytest.raises(RuntimeError, match="expected src to have a size equal to the slice"):
        pydlk.as_strided_scatter(x, pydlk.ones(3, 2), (2, 2), (1, 2))
    with pytest.raises(RuntimeError, match="out of bounds"):
        pydlk.as_strided_scatter(x, pydlk.ones(4, 4), (4, 4), (4, 1))
    out = pydlk.as_strided_scatter(x, pydlk.ones(2, 2, dtype=pydlk.int64), (2, 2), (1, 2))
    tout = torch.as_strided_scatter(
        torch.arange(12.0).reshape(3, 4), torch.ones(2, 2, dtype=torch.int64), (2, 2), (1, 2)
    )
    assert out.dtype == pydlk.float32 and tout.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), _np(tout))


def test_as_strided_scatter_gradients():
    rng = np.random.default_rng(1)
    xv, sv = rng.standard_normal(12), rng.standard_normal((2, 2))
    gv = rng.standard_normal((3, 4))
    x, s = pydlk.tensor(xv, requires_grad=True), pydlk.tensor(sv, requires_grad=True)
    tx, ts = torch.tensor(xv, requires_grad=True), torch.tensor(sv, requires_grad=True)
    gx, gs = pydlk.autograd.grad(
        pydlk.as_strided_scatter(x.reshape(3, 4), s * 2, (2, 2), (1, 2)), (x, s), pydlk.tensor(gv)
    )
    _, tgs = torch.autograd.grad(
        torch.as_strided_scatter(tx.reshape(3, 4), ts * 2, (2, 2), (1, 2)),
        (tx, ts),
        torch.tensor(gv),
    )
    np.testing.assert_allclose(gs.numpy(), tgs.numpy())
    # torch 2.13's gradient for the input fails torch's own gradcheck (it keeps the scattered
    # positions and zeroes the rest); the right one is the upstream gradient with the four
    # overwritten positions zeroed
    ref = gv.reshape(-1).copy()
    ref[:4] = 0.0
    np.testing.assert_allclose(gx.numpy(), ref)
    a = pydlk.tensor(xv.reshape(3, 4), requires_grad=True)
    assert pydlk.autograd.gradcheck(
        lambda a, b: pydlk.as_strided_scatter(a, b, (2, 2), (1, 2)), (a, s)
    )
    assert pydlk.autograd.gradcheck(
        lambda a, b: pydlk.as_strided_scatter(a.t(), b, (2, 2), (3, 1), 1), (a, s)
    )


def test_as_strided_copy_owns_its_memory():
    x, tx = pydlk.arange(12.0).reshape(3, 4), torch.arange(12.0).reshape(3, 4)
    c = pydlk.as_strided_copy(x, (2, 2), (1, 2))
    tc = torch.as_strided_copy(tx, (2, 2), (1, 2))
    np.testing.assert_array_equal(c.numpy(), _np(tc))
    assert c.stride() == tc.stride() == (2, 1)
    c.fill_(7.0)
    assert x.numpy()[0, 0] == 0.0


def test_new_empty_strided_and_empty_permuted():
    x, tx = pydlk.ones(3), torch.ones(3)
    e, te = x.new_empty_strided((2, 3), (1, 2)), tx.new_empty_strided((2, 3), (1, 2))
    assert (tuple(e.shape), e.stride(), e.dtype) == ((2, 3), te.stride(), pydlk.float32)
    e2 = x.new_empty_strided((2, 3), (3, 1), dtype=pydlk.int32, requires_grad=False)
    assert e2.dtype == pydlk.int32 and e2.stride() == (3, 1)
    assert x.new_empty_strided((2,), (1,), requires_grad=True).requires_grad
    for size, layout in (((2, 3, 4, 5), (0, 2, 3, 1)), ((2, 3), (1, 0)), ((4,), (0,))):
        p, t = pydlk.empty_permuted(size, layout), torch.empty_permuted(size, layout)
        assert tuple(p.shape) == tuple(t.shape) and p.stride() == t.stride()
        assert p.dtype == pydlk.float32
    assert pydlk.empty_permuted((2, 3), (1, 0), dtype=pydlk.int32).dtype == pydlk.int32
    assert pydlk.empty_permuted((2, 3), (1, 0), requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="len\\(size\\) = 4 is not equal"):
        pydlk.empty_permuted((2, 3, 4, 5), (0, 2, 3))
    with pytest.raises(RuntimeError, match="Duplicate dim not allowed"):
        pydlk.empty_permuted((2, 3, 4, 5), (0, 2, 3, 3))


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.ones(2, 3, 4),
        lambda L: L.ones(2, 3, 4).permute(2, 0, 1),
        lambda L: L.ones(2, 3, 4, 5).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2),
        lambda L: L.ones(3, 4).t(),
        lambda L: L.ones(1, 2, 3, 4),
        lambda L: L.ones(5),
        lambda L: L.tensor(1.0),
        lambda L: L.ones(4, 6)[:, ::2],
    ],
)
def test_dim_order_matches_torch(make):
    assert make(pydlk).dim_order() == make(torch).dim_order()


def test_dim_order_ambiguity_checks():
    x, tx = pydlk.ones(2, 1, 4, 5), torch.ones(2, 1, 4, 5)
    with pytest.raises(RuntimeError, match="does not have unique dim order"):
        x.dim_order(ambiguity_check=True)
    with pytest.raises(RuntimeError, match="does not have unique dim order"):
        tx.dim_order(ambiguity_check=True)
    fmts = [pydlk.contiguous_format, pydlk.channels_last]
    tfmts = [torch.contiguous_format, torch.channels_last]
    assert pydlk.ones(1, 2, 3, 4).dim_order(ambiguity_check=fmts) == torch.ones(
        1, 2, 3, 4
    ).dim_order(ambiguity_check=tfmts)
    assert pydlk.ones(2, 3, 4).dim_order(ambiguity_check=True) == (0, 1, 2)
    with pytest.raises(TypeError, match="must be a bool or a list of memory formats"):
        x.dim_order(ambiguity_check="x")
