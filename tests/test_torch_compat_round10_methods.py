"""Tensor methods from torch's legacy API and newer conveniences against torch 2.13: new,
resize/resize_as (deprecated: warn), apply_/map_/map2_, sgn_, conj_physical_, prelu,
hardshrink, adjoint (and torch.adjoint), nonzero_static (and a NumPy reference),
const_data_ptr, share_memory_/is_shared (seen by a forked process), record_stream, chalf; and
the removed linear-algebra functions (torch's migration messages), chain_matmul, nuclear_norm
and frobenius_norm."""

import multiprocessing as mp
import warnings

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


# ----------------------------------------------------------------------------- new, resize


def test_new_is_torchs_legacy_constructor():
    for L in (pydlk, torch):
        x = L.ones(3, dtype=L.float64)
        e = x.new(2, 3)
        assert tuple(e.shape) == (2, 3) and e.dtype == L.float64
        assert tuple(x.new(L.Size([4, 1])).shape) == (4, 1)
        assert tuple(x.new().shape) == (0,)
        assert x.new((2, 3)).tolist() == [2.0, 3.0]  # a tuple is data, as torch's
        assert x.new([1, 2]).dtype == L.float64
    assert (
        pydlk.ones(2).long().new([1.5, 2]).tolist() == torch.ones(2).long().new([1.5, 2]).tolist()
    )
    o = pydlk.arange(3.0)
    alias = pydlk.zeros(1).new(o)
    alias.fill_(5.0)
    assert o.numpy().tolist() == [5.0, 5.0, 5.0]  # new(tensor) is over its memory, as torch's
    for L in (pydlk, torch):
        with pytest.raises(TypeError):
            L.ones(2).new(L.tensor([1, 2]))
        with pytest.raises(TypeError):
            L.ones(2).new(2, dtype=L.float64)


def test_resize_and_resize_as_warn_and_keep_the_number_of_elements():
    x, tx = pydlk.arange(12.0, requires_grad=True), torch.arange(12.0, requires_grad=True)
    with pytest.warns(UserWarning, match="non-inplace resize is deprecated"):
        y = x.resize(3, 4)
    with pytest.warns(UserWarning, match="non-inplace resize is deprecated"):
        ty = tx.resize(3, 4)
    np.testing.assert_array_equal(_np(y), _np(ty))
    (g,) = pydlk.autograd.grad((y * pydlk.arange(12.0).reshape(3, 4)).sum(), x)
    assert g.numpy().tolist() == list(range(12))
    with pytest.warns(UserWarning, match="non-inplace resize_as is deprecated"):
        z = x.resize_as(pydlk.ones(2, 6))
    assert tuple(z.shape) == (2, 6)
    for t in (x, tx):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(RuntimeError, match="requested resize to 3x3 \\(9 elements"):
                t.resize(3, 3)


# ----------------------------------------------------------------------------- apply_, map_


def test_apply_map_and_map2_call_python_on_each_element():
    for L in (pydlk, torch):
        x = L.arange(4.0)
        assert x.apply_(lambda v: v * 2) is x
        assert x.tolist() == [0.0, 2.0, 4.0, 6.0]
        i = L.ones(3, dtype=L.int64).apply_(lambda v: v * 2.5)
        assert i.tolist() == [2, 2, 2] and i.dtype == L.int64
        m = L.ones(3, 4).map_(L.arange(4.0), lambda a, b: a + b)
        assert m.tolist() == [[1.0, 2.0, 3.0, 4.0]] * 3
        m2 = L.ones(3).map2_(L.ones(3), L.ones(3) * 2, lambda a, b, c: a + b * c)
        assert m2.tolist() == [3.0, 3.0, 3.0]
        seen = []
        L.tensor([True, False]).apply_(lambda v: seen.append(type(v)) or v)
        assert seen == [bool, bool]


def test_apply_map_and_map2_refuse_grad_and_dtype_mismatch():
    for L in (pydlk, torch):
        with pytest.raises(
            RuntimeError, match="Can't call apply_\\(\\) on Variable that requires grad"
        ):
            L.ones(2, requires_grad=True).apply_(lambda v: v)
        with pytest.raises(RuntimeError, match="Can't call map_\\(\\) on Variable"):
            L.ones(2).map_(L.ones(2, requires_grad=True), lambda a, b: a)
        with pytest.raises(RuntimeError, match="Can't call map2_\\(\\) on Variable"):
            L.ones(2).map2_(L.ones(2), L.ones(2, requires_grad=True), lambda a, b, c: a)
        with pytest.raises(TypeError, match="map_: expected"):
            L.ones(3).map_(L.ones(3, dtype=L.int64), lambda a, b: a)
        with pytest.raises(TypeError, match="map2_: expected"):
            L.ones(3).map2_(L.ones(3), L.ones(3, dtype=L.int64), lambda a, b, c: a)
        with pytest.raises(RuntimeError):
            L.ones(4).map_(L.ones(3, 4), lambda a, b: a)


# ----------------------------------------------------------------------------- small methods


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.tensor([-2.0, 0.0, 3.0]),
        lambda L: L.tensor([3 + 4j, 0j, -1j]),
        lambda L: L.tensor([-2, 0, 3]),
    ],
)
def test_sgn_in_place(make):
    x, tx = make(pydlk), make(torch)
    assert x.sgn_() is x
    tx.sgn_()
    np.testing.assert_allclose(x.numpy(), tx.numpy(), rtol=1e-6)
    assert str(x.dtype).split(".")[-1] == str(tx.dtype).split(".")[-1]


def test_sgn_and_conj_physical_in_place_are_recorded():
    z = pydlk.tensor([3 + 4j, 1 - 1j], dtype=pydlk.complex128, requires_grad=True)
    tz = torch.tensor([3 + 4j, 1 - 1j], dtype=torch.complex128, requires_grad=True)
    y, ty = z * 1, tz * 1
    y.sgn_()
    ty.sgn_()
    g = pydlk.tensor([1 + 2j, -1j], dtype=pydlk.complex128)
    (pg,) = pydlk.autograd.grad(y, z, g)
    (tg,) = torch.autograd.grad(ty, tz, torch.tensor([1 + 2j, -1j], dtype=torch.complex128))
    np.testing.assert_allclose(pg.numpy(), tg.numpy(), rtol=1e-12)
    c, tc = pydlk.tensor([1 + 1j, 2 - 3j]), torch.tensor([1 + 1j, 2 - 3j])
    assert c.conj_physical_() is c
    np.testing.assert_array_equal(c.numpy(), tc.conj_physical_().numpy())
    r = pydlk.tensor([1.0, -2.0])
    assert r.conj_physical_().numpy().tolist() == [1.0, -2.0]


def test_prelu_and_hardshrink_methods():
    rng = np.random.default_rng(0)
    a, w = rng.standard_normal((2, 3, 4)), np.array([0.25, -0.5, 2.0])
    got = pydlk.tensor(a).prelu(pydlk.tensor(w))
    np.testing.assert_allclose(got.numpy(), _np(torch.tensor(a).prelu(torch.tensor(w))))
    np.testing.assert_allclose(got.numpy(), np.where(a >= 0, a, w[:, None] * a))
    for lambd in (0.5, 1.2):
        got = pydlk.tensor(a).hardshrink(lambd)
        np.testing.assert_array_equal(got.numpy(), _np(torch.tensor(a).hardshrink(lambd)))
        np.testing.assert_array_equal(got.numpy(), np.where(np.abs(a) > lambd, a, 0.0))
    x = pydlk.tensor(a, requires_grad=True)
    assert pydlk.autograd.gradcheck(lambda t: t.prelu(pydlk.tensor(w)), (x,))


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.tensor([[1 + 2j, 3], [4, 5 - 1j]]),
        lambda L: L.arange(24.0).reshape(2, 3, 4),
        lambda L: L.arange(6.0).reshape(2, 3),
    ],
)
def test_adjoint_matches_torch(make):
    got, want = make(pydlk).adjoint(), make(torch).adjoint().resolve_conj()
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(pydlk.adjoint(make(pydlk)).numpy(), want.numpy())
    a = make(pydlk).numpy()
    np.testing.assert_array_equal(got.numpy(), np.conj(np.swapaxes(a, -1, -2)))


def test_adjoint_of_vectors_and_scalars():
    for L in (pydlk, torch):
        with pytest.raises(RuntimeError, match="only supported on matrices or batches of matrices"):
            L.ones(3).adjoint()
        with pytest.warns(UserWarning, match="adjoint\\(\\) is deprecated on 0-D tensors"):
            assert L.tensor(2.0).adjoint().item() == 2.0
    x = pydlk.tensor(np.random.default_rng(3).standard_normal((2, 3)), requires_grad=True)
    assert pydlk.autograd.gradcheck(lambda t: t.adjoint() * 2, (x,))


@pytest.mark.parametrize(
    "values,size,fill",
    [
        ([0, 1, 0, 2], 4, -1),
        ([[0, 1], [3, 2]], 2, 7),
        ([[0, 1], [3, 2]], 5, -3),
        ([0.0, 1.5, float("nan")], 3, -1),
        ([True, False], 3, 0),
        ([1, 1], 0, -1),
        (5, 2, -1),
    ],
)
def test_nonzero_static_matches_torch_and_the_reference(values, size, fill):
    got = pydlk.nonzero_static(pydlk.tensor(values), size=size, fill_value=fill)
    want = torch.nonzero_static(torch.tensor(values), size=size, fill_value=fill)
    assert got.dtype == pydlk.int64
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    a = np.asarray(values)
    idx = np.argwhere(a) if a.ndim else np.zeros((int(a != 0), 0), np.int64)
    ref = np.full((size, a.ndim), fill, np.int64)
    ref[: min(size, len(idx))] = idx[:size]
    np.testing.assert_array_equal(got.numpy(), ref)
    np.testing.assert_array_equal(
        pydlk.tensor(values).nonzero_static(size=size, fill_value=fill).numpy(), ref
    )


def test_nonzero_static_argument_errors():
    for L in (pydlk, torch):
        with pytest.raises(RuntimeError, match="'size' must be an non-negative integer"):
            L.nonzero_static(L.tensor([0, 1]), size=-1)
        with pytest.raises(TypeError):
            L.tensor([0, 1]).nonzero_static(2)
        with pytest.raises(TypeError, match="fill_value"):
            L.tensor([0, 1]).nonzero_static(size=2, fill_value=2.5)


# ----------------------------------------------------------------------------- memory


def test_const_data_ptr_is_data_ptr():
    x = pydlk.arange(6.0)
    assert x.const_data_ptr() == x.data_ptr() == x.numpy().__array_interface__["data"][0]
    assert x[2:].const_data_ptr() == x.data_ptr() + 2 * 4


def _child_writes(t):
    t[1] = 42.0


def test_share_memory_is_seen_by_a_forked_process():
    x = pydlk.arange(4.0)
    assert not x.is_shared() and not torch.arange(4.0).is_shared()
    assert x.share_memory_() is x
    assert x.is_shared() and x[1:].is_shared()
    assert x.numpy().tolist() == [0.0, 1.0, 2.0, 3.0]
    p = mp.get_context("fork").Process(target=_child_writes, args=(x,))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert x.numpy().tolist() == [0.0, 42.0, 2.0, 3.0]
    plain = pydlk.arange(4.0)
    p = mp.get_context("fork").Process(target=_child_writes, args=(plain,))
    p.start()
    p.join(60)
    assert plain.numpy().tolist() == [0.0, 1.0, 2.0, 3.0]  # without sharing the write is lost


def test_share_memory_refuses_a_packed_parameter():
    w = pydlk.nn.Parameter(pydlk.ones(3))
    pydlk.optim.SGD([w], lr=0.1)
    with pytest.raises(RuntimeError, match="before building the optimiser"):
        w.share_memory_()


def test_record_stream_and_chalf():
    x = pydlk.ones(2)
    assert x.record_stream(None) is None  # a no-op on the CPU
    with pytest.raises(TypeError, match="complex32"):
        x.chalf()
    with pytest.warns(UserWarning, match="ComplexHalf"):
        assert torch.ones(2).chalf().dtype == torch.complex32  # torch has it; NumPy has not


# ----------------------------------------------------------------------------- removed linalg


@pytest.mark.parametrize(
    "call",
    [
        lambda L, a: L.eig(a),
        lambda L, a: L.eig(a, True),
        lambda L, a: L.lstsq(a, a),
        lambda L, a: L.solve(a, a),
        lambda L, a: L.symeig(a, eigenvectors=True),
        lambda L, a: L.matrix_rank(a),
        lambda L, a: a.eig(),
        lambda L, a: a.lstsq(a),
        lambda L, a: a.solve(a),
        lambda L, a: a.symeig(),
    ],
)
def test_removed_linalg_raises_torchs_migration_message(call):
    with pytest.raises(RuntimeError) as ours:
        call(pydlk, pydlk.eye(3))
    with pytest.raises(RuntimeError) as theirs:
        call(torch, torch.eye(3))
    assert str(ours.value) == str(theirs.value)
    assert "torch.linalg" in str(ours.value)


def test_chain_matmul():
    rng = np.random.default_rng(4)
    ms = [rng.standard_normal(s) for s in ((2, 3), (3, 4), (4, 1))]
    with pytest.warns(UserWarning, match="torch.chain_matmul is deprecated"):
        got = pydlk.chain_matmul(*(pydlk.tensor(m) for m in ms))
    with pytest.warns(UserWarning, match="torch.chain_matmul is deprecated"):
        want = torch.chain_matmul(*(torch.tensor(m) for m in ms))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    np.testing.assert_allclose(got.numpy(), ms[0] @ ms[1] @ ms[2], rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = pydlk.tensor(ms[0])
        c = pydlk.chain_matmul(one)
        assert c is not one and np.array_equal(c.numpy(), ms[0])
        for L in (pydlk, torch):
            with pytest.raises(RuntimeError, match="Expected one or more matrices"):
                L.chain_matmul()
            with pytest.raises(RuntimeError, match="Tensor dimension is 1, expected 2 instead"):
                L.chain_matmul(L.ones(2, 3), L.ones(3))
        ps = [pydlk.tensor(m, requires_grad=True) for m in ms]
        assert pydlk.autograd.gradcheck(lambda *a: pydlk.chain_matmul(*a), ps)


def test_nuclear_and_frobenius_norms():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((4, 2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for args in ((), ((1, 2),), ((1, 2), True), ((0, 2),)):
            got = pydlk.nuclear_norm(pydlk.tensor(a), *args)
            want = torch.nuclear_norm(torch.tensor(a), *args)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10)
        ref = np.linalg.svd(a, compute_uv=False).sum(-1)
        np.testing.assert_allclose(pydlk.nuclear_norm(pydlk.tensor(a)).numpy(), ref, rtol=1e-10)
        m = a[0]
        assert pydlk.nuclear_norm(pydlk.tensor(m), True).shape == (1, 1)
        for L in (pydlk, torch):
            with pytest.raises(RuntimeError, match="dim must be a 2-tuple"):
                L.nuclear_norm(L.ones(4, 2, 3), (1,))
        for dims, keep in (((0, 1), False), ((1,), True), (2, False), ((0, 2), True)):
            got = pydlk.frobenius_norm(pydlk.tensor(a), dims, keep)
            want = torch.frobenius_norm(torch.tensor(a), dims, keep)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
        np.testing.assert_allclose(
            pydlk.frobenius_norm(pydlk.tensor(a), (1, 2)).numpy(),
            np.sqrt((a**2).sum((1, 2))),
            rtol=1e-12,
        )
        z = pydlk.frobenius_norm(pydlk.ones(2, 3, dtype=pydlk.complex64), (0, 1))
        assert z.dtype == pydlk.float32 and abs(z.item() - 6**0.5) < 1e-6
        for L in (pydlk, torch):
            with pytest.raises(RuntimeError, match="Expected at most 2 dimensions"):
                L.frobenius_norm(L.ones(2, 3, 4), (0, 1, 2))
            with pytest.raises(RuntimeError, match="Got Long instead"):
                L.frobenius_norm(L.ones(2, 3, dtype=L.int64), (0, 1))
        x = pydlk.tensor(a, requires_grad=True)
        assert pydlk.autograd.gradcheck(lambda t: pydlk.nuclear_norm(t, (1, 2)), (x,))
        assert pydlk.autograd.gradcheck(lambda t: pydlk.frobenius_norm(t, (0, 2)), (x,))
    with pytest.warns(UserWarning, match="at::nuclear_norm is deprecated"):
        pydlk.nuclear_norm(pydlk.ones(2, 2))
    with pytest.warns(UserWarning, match="at::frobenius_norm is deprecated"):
        pydlk.frobenius_norm(pydlk.ones(2, 2), (0,))
