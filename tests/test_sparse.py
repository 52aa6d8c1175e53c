"""Sparse COO tensors (pydlk/sparse): against torch (values, patterns, gradients, errors), a
textbook dense NumPy computation (to_dense, then the dense formula), float64 finite differences,
a GCN trained a few steps under both, checkpoints, and GPU against CPU where CuPy sees one."""

import io
import warnings

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
from pydlk import sparse

torch = pytest.importorskip("torch")

IDX = [[0, 1, 1, 0, 2], [2, 0, 2, 2, 1]]  # (0, 2) twice: uncoalesced
VAL = [3.0, 4.0, 5.0, 1.0, -2.0]


@pytest.fixture(autouse=True)
def _quiet_torch():
    with warnings.catch_warnings():  # torch: "Sparse invariant checks are implicitly disabled"
        warnings.simplefilter("ignore", UserWarning)
        yield


def _both(idx=IDX, val=VAL, size=(3, 3), dtype=np.float64, **kw):
    v = np.asarray(val, dtype)
    p = pydlk.sparse_coo_tensor(pydlk.tensor(idx), pydlk.tensor(v), size, **kw)
    t = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(v), size, **kw)
    return p, t


def _random_graph(rng, n, nnz):
    idx = rng.integers(0, n, (2, nnz))
    return idx, rng.standard_normal(nnz)


def _same_sparse(p, t, coalesce=True):
    """Same dense meaning and, coalesced, the same indices and values."""
    assert p.is_sparse and t.is_sparse and tuple(p.shape) == tuple(t.shape)
    want = t.detach().to_dense().numpy()
    np.testing.assert_allclose(host(p.to_dense()), want, rtol=1e-6, atol=1e-9)
    if coalesce:
        pc, tc = p.detach().coalesce(), t.detach().coalesce()
        np.testing.assert_array_equal(host(pc.indices()), tc.indices().numpy())
        np.testing.assert_allclose(host(pc.values()), tc.values().numpy(), rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------- structure


def test_construction_and_metadata_match_torch():
    p, t = _both()
    assert p.layout is pydlk.sparse_coo and pydlk.ones(2).layout is pydlk.strided
    assert isinstance(p, pydlk.Tensor) and not pydlk.ones(2).is_sparse
    assert tuple(p.shape) == tuple(t.shape) and p.ndim == t.ndim == 2 and p.size(1) == 3
    assert p._nnz() == t._nnz() == 5 and p.is_coalesced() is t.is_coalesced() is False
    assert (p.sparse_dim(), p.dense_dim()) == (t.sparse_dim(), t.dense_dim()) == (2, 0)
    assert p.numel() == t.numel() and len(p) == len(t) and str(p.device) == "cpu"
    np.testing.assert_array_equal(host(p._indices()), t._indices().numpy())
    np.testing.assert_array_equal(host(p._values()), t._values().numpy())
    c, tc = p.coalesce(), t.coalesce()
    assert c.is_coalesced() and c._nnz() == tc._nnz() == 4
    _same_sparse(p, t)
    # size inferred: one past the largest index, then the values' dense shape
    h = pydlk.sparse_coo_tensor(IDX, np.ones((5, 2)))
    th = torch.sparse_coo_tensor(IDX, torch.ones(5, 2))
    assert tuple(h.shape) == tuple(th.shape) == (3, 3, 2)
    assert (h.sparse_dim(), h.dense_dim()) == (2, 1)
    assert pydlk.sparse_coo_tensor([[0, 1]], [1, 2]).dtype == np.int64  # ints stay int64
    assert pydlk.sparse_coo_tensor([[0, 1]], [1.0, 2]).dtype == np.float32
    assert pydlk.sparse_coo_tensor([[0, 1]], [1.0, 2], dtype=pydlk.float64).dtype == np.float64
    empty = pydlk.sparse_coo_tensor(np.zeros((2, 0), np.int64), np.zeros(0))
    assert tuple(empty.shape) == (0, 0) and empty.is_coalesced() and empty._nnz() == 0
    assert pydlk.sparse_coo_tensor(IDX, VAL, is_coalesced=True).is_coalesced()


def test_dense_tensor_side_matches_torch():
    d = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    p, t = pydlk.tensor(d).to_sparse(), torch.tensor(d).to_sparse()
    _same_sparse(p, t)
    assert p.is_coalesced() and t.is_coalesced()
    h, th = pydlk.tensor(np.ones((2, 3, 2))).to_sparse(1), torch.ones(2, 3, 2).to_sparse(1)
    assert h.sparse_dim() == th.sparse_dim() == 1 and h._nnz() == th._nnz() == 2
    x = pydlk.ones(2, 3)
    assert x.to_dense() is x and x.sparse_dim() == 0 and x.dense_dim() == 2
    for op in ("coalesce", "is_coalesced", "indices", "values", "_nnz"):
        with pytest.raises(RuntimeError, match=f"{op} expected sparse"):
            getattr(x, op)()


def test_repr_has_torchs_layout():
    p, t = _both(dtype=np.float32)
    rp, rt = repr(p), repr(t)
    assert rp.split("values=")[0] == rt.split("values=")[0]  # indices block, same alignment
    assert "size=(3, 3), nnz=5, layout=pydlk.sparse_coo)" in rp
    assert "size=(3, 3), nnz=5, layout=torch.sparse_coo)" in rt
    p64, _ = _both()
    assert "dtype=float64" in repr(p64)
    assert "requires_grad=True" in repr(_both(requires_grad=True)[0])


def test_elementwise_and_transpose_match_torch():
    p, t = _both()
    q, u = _both(idx=[[1, 2], [1, 0]], val=[7.0, 8.0])
    _same_sparse(p * 2, t * 2)
    _same_sparse(2.5 * p, 2.5 * t)
    _same_sparse(p / 4, t / 4)
    _same_sparse(-p, -t)
    _same_sparse(p + q, t + u)
    _same_sparse(p - q, t - u)
    assert (p.coalesce() + q.coalesce()).is_coalesced() == (
        t.coalesce() + u.coalesce()
    ).is_coalesced()
    _same_sparse(p.t(), t.t())
    _same_sparse(p.transpose(0, 1), t.transpose(0, 1))
    _same_sparse(p.T, t.T)
    _same_sparse(p.to(pydlk.float32), t.to(torch.float32))
    assert p.double() is p and p.float().dtype == np.float32
    dense = pydlk.ones(3, 3, dtype=pydlk.float64)
    np.testing.assert_allclose(host(dense + p), (torch.ones(3, 3, dtype=torch.float64) + t).numpy())
    c = p.clone()
    assert c is not p and c._data.values is not p._data.values
    _same_sparse(c, t)
    s = p.detach()
    assert s.is_sparse and not s.requires_grad


# ----------------------------------------------------------------------------- ops


def test_mm_all_spellings_match_torch_and_numpy(rng):
    p, t = _both()
    d = rng.standard_normal((3, 4))
    want = t.to_dense().numpy() @ d  # the textbook product of the dense matrix
    for got in (
        sparse.mm(p, pydlk.tensor(d)),
        pydlk.mm(p, pydlk.tensor(d)),
        pydlk.matmul(p, pydlk.tensor(d)),
        p @ pydlk.tensor(d),
        p.mm(pydlk.tensor(d)),
        pydlk.spmm(p, pydlk.tensor(d)),
    ):
        assert not got.is_sparse
        np.testing.assert_allclose(host(got), want, rtol=1e-12)
    np.testing.assert_allclose(
        host(sparse.mm(p, pydlk.tensor(d))), torch.sparse.mm(t, torch.tensor(d)).numpy()
    )
    e = rng.standard_normal((2, 3))
    np.testing.assert_allclose(host(pydlk.tensor(e) @ p), (torch.tensor(e) @ t).numpy(), rtol=1e-12)
    v = rng.standard_normal(3)
    np.testing.assert_allclose(host(p @ pydlk.tensor(v)), t.to_dense().numpy() @ v, rtol=1e-12)
    m = rng.standard_normal((3, 4))
    got = sparse.addmm(pydlk.tensor(m), p, pydlk.tensor(d), beta=0.5, alpha=2.0)
    ref = torch.sparse.addmm(torch.tensor(m), t, torch.tensor(d), beta=0.5, alpha=2.0)
    np.testing.assert_allclose(host(got), ref.numpy(), rtol=1e-12)
    got = pydlk.addmm(pydlk.tensor(m), p, pydlk.tensor(d))
    np.testing.assert_allclose(host(got), torch.addmm(torch.tensor(m), t, torch.tensor(d)).numpy())
    hs, ths = pydlk.hspmm(p, pydlk.tensor(d)), torch.hspmm(t, torch.tensor(d))
    _same_sparse(hs, ths)
    _same_sparse(pydlk.smm(p, pydlk.tensor(d)), torch.smm(t, torch.tensor(d)))


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1), -1])
def test_sum_matches_torch(dim):
    p, t = _both()
    got = sparse.sum(p) if dim is None else sparse.sum(p, dim)
    ref = torch.sparse.sum(t) if dim is None else torch.sparse.sum(t, dim)
    assert got.is_sparse == ref.is_sparse
    if got.is_sparse:
        _same_sparse(got, ref)
    else:
        np.testing.assert_allclose(host(got), ref.numpy())
    assert host(p.sum()) == pytest.approx(float(t.sum()))


def test_sum_over_dense_dims_matches_torch(rng):
    vals = rng.standard_normal((5, 2))
    p, t = _both(val=vals, size=(3, 3, 2))
    for dim in (2, (0, 2), (0, 1), (1, 2)):
        got, ref = sparse.sum(p, dim), torch.sparse.sum(t, dim)
        assert got.is_sparse == ref.is_sparse
        if got.is_sparse:
            _same_sparse(got, ref)
        else:
            np.testing.assert_allclose(host(got), ref.numpy(), rtol=1e-12)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_over_stored_entries_matches_torch(log, dim, rng):
    idx, val = _random_graph(rng, 6, 20)
    p, t = _both(idx=idx.tolist(), val=val, size=(6, 6))
    f, g = (
        (sparse.log_softmax, torch.sparse.log_softmax)
        if log
        else (sparse.softmax, torch.sparse.softmax)
    )
    got, ref = f(p, dim), g(t, dim)
    _same_sparse(got, ref)
    # the textbook check: each row (dim 1) of stored entries, a softmax of its own
    if dim != 1 and dim != -1:
        return
    c = p.coalesce()
    ii, vv = host(c.indices()), host(c.values())
    out = host(got.coalesce().values())
    for r in np.unique(ii[0]):
        m = ii[0] == r
        e = np.exp(vv[m] - vv[m].max())
        want = np.log(e / e.sum()) if log else e / e.sum()
        np.testing.assert_allclose(out[m], want, rtol=1e-12)


def test_softmax_along_a_dense_dim_matches_torch(rng):
    p, t = _both(val=rng.standard_normal((5, 3)), size=(3, 3, 3))
    out = sparse.softmax(p, 2)
    _same_sparse(out, torch.sparse.softmax(t, 2))
    # textbook: each stored entry's dense row (duplicates summed) becomes exp(v) / sum exp(v)
    v = host(p.coalesce().values())
    want = np.exp(v) / np.exp(v).sum(1, keepdims=True)
    np.testing.assert_allclose(host(out.coalesce().values()), want, rtol=1e-12)


# ----------------------------------------------------------------------------- gradients


def _leaf_pair(idx=IDX, val=VAL, size=(3, 3)):
    return _both(idx=idx, val=val, size=size, requires_grad=True)


def test_sparse_mm_grad_is_sparse_with_the_pattern_as_torch(rng):
    p, t = _leaf_pair()
    d = rng.standard_normal((3, 2))
    dp, dt = pydlk.tensor(d, requires_grad=True), torch.tensor(d, requires_grad=True)
    w = rng.standard_normal((3, 2))
    (sparse.mm(p, dp) * pydlk.tensor(w)).sum().backward()
    (torch.sparse.mm(t, dt) * torch.tensor(w)).sum().backward()
    assert p.grad.is_sparse and t.grad.is_sparse
    _same_sparse(p.grad, t.grad)
    np.testing.assert_allclose(host(dp.grad), dt.grad.numpy(), rtol=1e-12)
    # a second backward accumulates
    (sparse.mm(p, dp) * pydlk.tensor(w)).sum().backward()
    (torch.sparse.mm(t, dt) * torch.tensor(w)).sum().backward()
    _same_sparse(p.grad, t.grad)


def test_torch_mm_grad_of_a_sparse_leaf_is_dense_as_torch(rng):
    p, t = _leaf_pair()
    d = rng.standard_normal((3, 2))
    (p @ pydlk.tensor(d)).sum().backward()
    torch.mm(t, torch.tensor(d)).sum().backward()
    assert not p.grad.is_sparse and not t.grad.is_sparse
    np.testing.assert_allclose(host(p.grad), t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda s, m, d: s.to_dense() * m,
        lambda s, m, d: (s * 3).to_dense() * m,
        lambda s, m, d: (s + s).to_dense() * m,
        lambda s, m, d: s.t().to_dense() * m,
        lambda s, m, d: s.coalesce().values().sum() * m,
        lambda s, m, d: ("sum", s, m),
        lambda s, m, d: ("softmax", s, m),
        lambda s, m, d: ("addmm", s, m, d),
    ],
)
def test_gradients_reaching_values_and_leaves_match_torch(make, rng):
    d = rng.standard_normal((3, 3))
    m = rng.standard_normal((3, 3))

    def run(lib, sp_mod, s, values):
        r = make(s, lib.tensor(m), lib.tensor(d))
        if isinstance(r, tuple) and r[0] == "sum":
            r = sp_mod.sum(r[1], 1).to_dense() * lib.tensor(m[0])
        elif isinstance(r, tuple) and r[0] == "softmax":
            r = sp_mod.softmax(r[1], 1).to_dense() * r[2]
        elif isinstance(r, tuple):
            r = sp_mod.addmm(r[2], r[1], r[3], beta=0.5, alpha=1.5)
        r.sum().backward()
        return s.grad, values.grad

    # a sparse leaf
    p, t = _leaf_pair()
    gp, _ = run(pydlk, sparse, p, p)
    gt, _ = run(torch, torch.sparse, t, t)
    assert gp.is_sparse == gt.is_sparse
    _same_sparse(gp, gt)
    # values that require grad, through sparse_coo_tensor (uncoalesced: a gradient per entry)
    vp = pydlk.tensor(np.asarray(VAL), requires_grad=True)
    vt = torch.tensor(VAL, dtype=torch.float64, requires_grad=True)
    sp = pydlk.sparse_coo_tensor(IDX, vp, (3, 3))
    st = torch.sparse_coo_tensor(torch.tensor(IDX), vt, (3, 3))
    assert not sp.is_leaf and sp.requires_grad and st.grad_fn is not None
    run(pydlk, sparse, sp, vp)
    run(torch, torch.sparse, st, vt)
    np.testing.assert_allclose(host(vp.grad), vt.grad.numpy(), rtol=1e-12)


def test_to_sparse_gradient_is_dense_as_torch():
    x = np.array([[0.0, 1.0], [2.0, 0.0]])
    xp, xt = pydlk.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    sparse.mm(xp.to_sparse(), pydlk.ones(2, 2, dtype=pydlk.float64)).sum().backward()
    torch.sparse.mm(xt.to_sparse(), torch.ones(2, 2, dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(host(xp.grad), xt.grad.numpy())


@pytest.mark.parametrize("op", ["mm", "addmm", "sum", "sum1", "softmax", "log_softmax"])
def test_gradcheck_values_and_dense_operand(op, rng):
    idx, val = _random_graph(rng, 5, 12)
    v = pydlk.tensor(val, requires_grad=True)
    d = pydlk.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    m = pydlk.tensor(rng.standard_normal((5, 3)), requires_grad=True)

    def f(v, d, m):
        s = pydlk.sparse_coo_tensor(idx, v, (5, 5))
        if op == "mm":
            return sparse.mm(s, d)
        if op == "addmm":
            return sparse.addmm(m, s, d, beta=0.3, alpha=-1.2)
        if op == "sum":
            return sparse.sum(s) * d.sum()
        if op == "sum1":
            return sparse.sum(s, 0).to_dense() * d[:, 0]
        return getattr(sparse, op)(s, 1).to_dense() * d[:, :1]

    assert pydlk.autograd.gradcheck(f, (v, d, m))


# ----------------------------------------------------------------------------- a GCN


def _gcn_losses(lib, sp_mod, idx, n, x, y, w1, w2, steps=5):
    """Kipf & Welling's GCN: A_hat = D^-1/2 (A + I) D^-1/2 from the edge list, two layers."""
    edge = lib.tensor(idx)
    loops = lib.arange(n).unsqueeze(0).repeat(2, 1)
    ei = lib.cat([edge, loops], dim=1)
    a = lib.sparse_coo_tensor(ei, lib.ones(ei.shape[1], dtype=lib.float64), (n, n)).coalesce()
    deg = sp_mod.sum(a, 1).to_dense()
    dis = deg.pow(-0.5)
    r, c = a.indices()
    a_hat = lib.sparse_coo_tensor(a.indices(), dis[r] * a.values() * dis[c], (n, n))
    W1 = lib.tensor(w1, requires_grad=True)
    W2 = lib.tensor(w2, requires_grad=True)
    opt = lib.optim.SGD([W1, W2], lr=0.5)
    xs, ys = lib.tensor(x), lib.tensor(y)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        h = lib.relu(sp_mod.mm(a_hat, xs @ W1))
        out = a_hat @ (h @ W2)
        loss = lib.nn.functional.cross_entropy(out, ys)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


def test_gcn_training_losses_match_torch(rng):
    n, f, hdim, k = 12, 5, 8, 3
    idx = rng.integers(0, n, (2, 30))
    x = rng.standard_normal((n, f))
    y = rng.integers(0, k, n)
    w1, w2 = rng.standard_normal((f, hdim)) * 0.5, rng.standard_normal((hdim, k)) * 0.5
    lp = _gcn_losses(pydlk, sparse, idx, n, x, y, w1, w2)
    lt = _gcn_losses(torch, torch.sparse, idx, n, x, y, w1, w2)
    np.testing.assert_allclose(lp, lt, rtol=1e-10)
    assert lp[-1] < lp[0]


# ----------------------------------------------------------------------------- errors


def test_bad_input_errors_name_the_op_and_argument():
    with pytest.raises(RuntimeError, match=r"sparse_coo_tensor: indices must be 2-D"):
        pydlk.sparse_coo_tensor([0, 1], [1.0, 2.0], (2,))
    with pytest.raises(TypeError, match=r"sparse_coo_tensor: indices must be an integer"):
        pydlk.sparse_coo_tensor(np.zeros((2, 1)) + 0.5, [1.0], (2, 2))
    with pytest.raises(RuntimeError, match="same nnz"):
        pydlk.sparse_coo_tensor(IDX, VAL[:3], (3, 3))
    with pytest.raises(RuntimeError, match="for dim 1, size is 2 but found index 2"):
        pydlk.sparse_coo_tensor(IDX, VAL, (3, 2), check_invariants=True)
    with pytest.raises(RuntimeError, match="negative index -1 for dim 0"):
        pydlk.sparse_coo_tensor([[-1], [0]], [1.0], (2, 2))
    with pytest.raises(RuntimeError, match="sparse_dim"):
        pydlk.sparse_coo_tensor(IDX, VAL, (3,))
    p, _ = _both()
    with pytest.raises(RuntimeError, match=r"sparse.mm: shape mismatch.*must have 3 rows, got 2"):
        sparse.mm(p, pydlk.ones(2, 2, dtype=pydlk.float64))
    with pytest.raises(RuntimeError, match=r"mm: expected both operands to have one dtype"):
        pydlk.mm(p, pydlk.ones(3, 2))
    with pytest.raises(NotImplementedError, match=r"exp: not supported for sparse COO"):
        p.exp()
    with pytest.raises(NotImplementedError, match=r"exp: not supported for sparse COO"):
        pydlk.exp(p)
    with pytest.raises(NotImplementedError, match=r"view: not supported for sparse COO"):
        p.view(9)
    with pytest.raises(RuntimeError, match=r"add\(sparse, dense\) is not supported"):
        p + pydlk.ones(3, 3, dtype=pydlk.float64)
    with pytest.raises(TypeError, match="to_dense"):
        p.numpy()
    with pytest.raises(TypeError, match="to_dense"):
        np.asarray(p)
    with pytest.raises(RuntimeError, match="uncoalesced"):
        p.values()
    with pytest.raises(RuntimeError, match="t\\(\\) expects"):
        pydlk.sparse_coo_tensor(IDX, np.ones((5, 2))).t()
    with pytest.raises(IndexError, match="Dimension out of range"):
        sparse.sum(p, 2)
    with pytest.raises(RuntimeError, match="appears multiple times"):
        sparse.sum(p, (0, 0))
    with pytest.raises(TypeError, match="sparse.sum: input must be a sparse COO tensor"):
        sparse.sum(pydlk.ones(2))
    with pytest.raises(RuntimeError, match="the sparse operand must be a matrix"):
        sparse.mm(pydlk.sparse_coo_tensor(IDX, np.ones((5, 2))), pydlk.ones(3, 2))


# ----------------------------------------------------------------------------- checkpoints


def test_save_load_round_trip_and_torch_checkpoint(tmp_path):
    p, t = _both(requires_grad=True)
    buf = io.BytesIO()
    pydlk.save({"adj": p, "c": [p.detach().coalesce()]}, buf)
    buf.seek(0)
    got = pydlk.load(buf)
    assert got["adj"].requires_grad and got["c"][0].is_coalesced()
    _same_sparse(got["adj"], t)
    path = tmp_path / "adj.pt"
    torch.save({"adj": t.detach(), "c": t.detach().coalesce()}, path)
    got = pydlk.load(path)
    _same_sparse(got["adj"], t)
    assert got["c"].is_coalesced()


# ----------------------------------------------------------------------------- GPU


def test_gpu_sparse_ops_match_the_cpu(rng):
    cp = cupy_or_skip()
    idx, val = _random_graph(rng, 6, 15)
    d = rng.standard_normal((6, 3)).astype(np.float32)
    results = []
    for dev in ("cpu", "cuda"):
        v = pydlk.tensor(val.astype(np.float32), device=dev, requires_grad=True)
        dd = pydlk.tensor(d, device=dev, requires_grad=True)
        s = pydlk.sparse_coo_tensor(pydlk.tensor(idx, device=dev), v, (6, 6))
        assert str(s.device) == ("cpu" if dev == "cpu" else "cuda:0")
        out = sparse.mm(s, dd) + (s @ dd) + sparse.softmax(s, 1).to_dense()[:, :3]
        loss = out.sum() + sparse.sum(s) + sparse.sum(s, 0).to_dense().sum()
        loss.backward()
        results.append([host(out), host(v.grad), host(dd.grad), host(s.coalesce().to_dense())])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    moved = pydlk.sparse_coo_tensor(idx, val).cuda()
    assert moved.is_cuda and isinstance(moved._data.indices, cp.ndarray)
    np.testing.assert_allclose(
        host(moved.cpu().to_dense()), host(pydlk.sparse_coo_tensor(idx, val).to_dense())
    )
