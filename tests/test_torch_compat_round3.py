"""Third round of torch scripts, with torch 2.x as the oracle: assignments into tensors that
record their gradient (``outputs[:, t] = step`` in a decoder loop, ``masked_fill_`` and
``fill_diagonal_`` on graph tensors), ``autograd.Function`` subclasses written against Tensors
(torch's protocol) and tensor hooks that see Tensors, TensorDataset items as Tensors,
utils.checkpoint. Values, dtypes, gradients for a random upstream gradient, float64 gradchecks
and errors."""

import numpy as np
import pytest

import pydlk
from pydlk.data import ConcatDataset, DataLoader, Dataset, TensorDataset

torch = pytest.importorskip("torch")


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return np.asarray(t.detach())
    return t.detach().numpy()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ------------------------------------------------------------- recorded assignments (setitem)


def _decoder_loop(lib, x, w):
    """A seq2seq decoder's idiom: a zeros buffer filled step by step with outputs that require
    grad, each step reading the previous one."""
    out = lib.zeros(3, 4, 5, dtype=x.dtype)
    h = x
    for t in range(4):
        h = lib.tanh(h @ w)
        out[:, t] = h
    out[:, 0, 1:3] = 0.5  # a constant over part of a recorded write
    return out


def test_setitem_of_a_value_that_requires_grad_records_it(rng):
    x, w = rng.standard_normal((3, 5)), rng.standard_normal((5, 5)) * 0.5
    dy = rng.standard_normal((3, 4, 5))
    px, pw = (pydlk.tensor(a, requires_grad=True) for a in (x, w))
    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, w))
    yp, yt = _decoder_loop(pydlk, px, pw), _decoder_loop(torch, tx, tw)
    assert yp.requires_grad and not yp.is_leaf and yp.grad_fn is not None
    np.testing.assert_allclose(_np(yp), _np(yt), rtol=1e-12)
    yp.backward(pydlk.tensor(dy))
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(_np(px.grad), _np(tx.grad), rtol=1e-10)
    np.testing.assert_allclose(_np(pw.grad), _np(tw.grad), rtol=1e-10)


@pytest.mark.parametrize(
    "key, vshape",
    [
        ((slice(None), 1), (4,)),  # broadcast value
        ((np.array([0, 2, 0]),), (3, 6, 4)),  # repeated integer index: last write wins
        ((np.array([[True, False, True, False, False, True]] * 5),), ()),  # mask, 0-d value
        ((Ellipsis, slice(1, 3)), (1, 2)),
    ],
)
def test_setitem_gradients_match_torch(rng, key, vshape):
    base = rng.standard_normal((5, 6, 4)) if vshape == (3, 6, 4) else rng.standard_normal((5, 6, 4))
    if key[0].__class__ is np.ndarray and key[0].dtype == bool:
        base = rng.standard_normal((5, 6))
    v = rng.standard_normal(vshape)
    pb, pv = pydlk.tensor(base, requires_grad=True), pydlk.tensor(v, requires_grad=True)
    tb, tv = torch.tensor(base, requires_grad=True), torch.tensor(v, requires_grad=True)
    yp, yt = pb * 2, tb * 2  # non-leaf targets that are part of the graph
    tkey = tuple(torch.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
    yp[tuple(pydlk.tensor(k) if isinstance(k, np.ndarray) else k for k in key)] = pv
    yt[tkey] = tv
    np.testing.assert_allclose(_np(yp), _np(yt))
    dy = rng.standard_normal(tuple(yt.shape))
    yp.backward(pydlk.tensor(dy))
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(_np(pb.grad), _np(tb.grad))
    np.testing.assert_allclose(_np(pv.grad), _np(tv.grad))


def test_setitem_gradcheck_and_gradgradcheck(rng):
    def f(a, v):
        y = a * a
        y[1:3, ::2] = v * v
        return y

    a, v = (pydlk.tensor(rng.standard_normal(s), requires_grad=True) for s in ((4, 5), (3,)))
    assert pydlk.gradcheck(f, (a, v))
    assert pydlk.gradgradcheck(f, (a, v))


def test_setitem_refusals_name_the_op():
    leaf = pydlk.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="setitem: a leaf tensor that requires grad"):
        leaf[0] = 1.0
    v = pydlk.ones(2, requires_grad=True)
    base = pydlk.zeros(4, 2)
    view = base[1]
    with pytest.raises(RuntimeError, match="setitem: a recorded in-place write into a view"):
        view[...] = v
    with pydlk.no_grad():
        leaf[0] = 1.0  # allowed, as in torch
        base[1] = v
    assert float(leaf[0]) == 1.0 and not base.requires_grad
    np.testing.assert_array_equal(_np(base[1]), [1.0, 1.0])
    plain = pydlk.zeros(3)
    plain[1] = 2.0  # nothing requires grad: a plain write, no history
    assert plain.is_leaf and not plain.requires_grad


def _nt_xent(lib, z, tau):
    """SimCLR's loss as torch code writes it: the similarity matrix's diagonal filled in place,
    attention-style scores masked in place."""
    z = z / z.norm(dim=1, keepdim=True)
    sim = z @ z.t() / tau
    sim.fill_diagonal_(-1e4)
    sim.masked_fill_(sim > 3.0, 3.0)
    n = z.shape[0] // 2
    targets = lib.cat([lib.arange(n, 2 * n), lib.arange(0, n)])
    return lib.nn.functional.cross_entropy(sim, targets)


def test_masked_fill_and_fill_diagonal_on_graph_tensors_match_torch(rng):
    z = rng.standard_normal((6, 4))
    pz, tz = pydlk.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    lp, lt = _nt_xent(pydlk, pz, 0.5), _nt_xent(torch, tz, 0.5)
    np.testing.assert_allclose(_np(lp), _np(lt), rtol=1e-12)
    lp.backward()
    lt.backward()
    np.testing.assert_allclose(_np(pz.grad), _np(tz.grad), rtol=1e-10, atol=1e-14)
    assert pydlk.gradcheck(lambda t: _nt_xent(pydlk, t, 0.5), (pz.detach().requires_grad_(),))


def test_masked_fill_value_tensor_gets_its_gradient(rng):
    x, v = rng.standard_normal((3, 4)), np.array(0.7)
    mask = rng.random((1, 4)) < 0.5
    px, pv = pydlk.tensor(x, requires_grad=True), pydlk.tensor(v, requires_grad=True)
    tx, tv = torch.tensor(x, requires_grad=True), torch.tensor(v, requires_grad=True)
    yp, yt = px * 1.0, tx * 1.0
    yp.masked_fill_(pydlk.tensor(mask), pv)
    yt.masked_fill_(torch.tensor(mask), tv)
    dy = rng.standard_normal((3, 4))
    yp.backward(pydlk.tensor(dy))
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(_np(yp), _np(yt))
    np.testing.assert_allclose(_np(px.grad), _np(tx.grad))
    np.testing.assert_allclose(_np(pv.grad), _np(tv.grad))
    with pytest.raises(TypeError, match="masked_fill_: mask must be a bool tensor"):
        yp.masked_fill_(pydlk.tensor(mask.astype(np.int64)), 0.0)
    with pytest.raises(RuntimeError, match="masked_fill_: only supports a 0-dimensional value"):
        yp.masked_fill_(pydlk.tensor(mask), pydlk.ones(2))
    with pytest.raises(RuntimeError, match="does not broadcast"):
        yp.masked_fill_(pydlk.tensor(np.ones((2, 4), bool)), 0.0)


@pytest.mark.parametrize(
    "shape, wrap",
    [((4, 4), False), ((7, 3), False), ((7, 3), True), ((3, 5), True), ((3, 3, 3), False)],
)
def test_fill_diagonal_matches_torch(shape, wrap):
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    p, t = pydlk.tensor(a), torch.tensor(a)
    assert p.fill_diagonal_(-1.0, wrap=wrap) is p
    t.fill_diagonal_(-1.0, wrap=wrap)
    np.testing.assert_array_equal(_np(p), _np(t))


def test_fill_diagonal_errors():
    with pytest.raises(RuntimeError, match="fill_diagonal_: dimensions must larger than 1"):
        pydlk.zeros(3).fill_diagonal_(1.0)
    with pytest.raises(RuntimeError, match="all dimensions of input must be of equal length"):
        pydlk.zeros(2, 3, 3).fill_diagonal_(1.0)
    with pytest.raises(RuntimeError, match="fill_diagonal_: a leaf tensor that requires grad"):
        pydlk.zeros(2, 2, requires_grad=True).fill_diagonal_(1.0)


# -------------------------------------------- autograd.Function written against Tensors (torch)


class _Ste(pydlk.autograd.Function):
    """A straight-through clamp as torch code writes it: Tensor methods on the inputs."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        assert isinstance(g, pydlk.Tensor) and isinstance(x, pydlk.Tensor)
        assert not pydlk.is_grad_enabled()
        return g * ((x >= ctx.lo) & (x <= ctx.hi)).to(g.dtype), None, None


class _SortIdx(pydlk.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        assert not pydlk.is_grad_enabled() and x.requires_grad  # the caller's own tensor
        vals, idx = pydlk.sort(x, dim=-1)
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(idx)
        return vals, idx

    @staticmethod
    def backward(ctx, gv, gi):
        (idx,) = ctx.saved_tensors
        return pydlk.zeros_like(gv).scatter_(-1, idx, gv)


class _MulAdd(pydlk.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, c):
        ctx.save_for_backward(a, b)
        return a * b + c

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        n = ctx.needs_input_grad
        return (g * b if n[0] else None), (g * a if n[1] else None), (g if n[2] else None)


def test_user_function_sees_tensors_and_matches_torch(rng):
    x = np.linspace(-2, 2, 9)
    px = pydlk.tensor(x, requires_grad=True)
    y = _Ste.apply(px, -1.0, 1.0)
    assert isinstance(y, pydlk.Tensor) and y.requires_grad and y.grad_fn.name() == "_SteBackward"
    y.sum().backward()
    np.testing.assert_array_equal(_np(y), np.clip(x, -1, 1))
    np.testing.assert_array_equal(_np(px.grad), ((x >= -1) & (x <= 1)).astype(float))
    a, b, c = (pydlk.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(3))
    assert pydlk.gradcheck(_MulAdd.apply, (a, b, c))
    # created with grad mode on, the backward's Tensor ops are differentiated again
    assert pydlk.gradgradcheck(_MulAdd.apply, (a, b, c))
    c2 = pydlk.tensor(rng.standard_normal((3, 4)))  # needs no grad: backward is told so
    ga, gb = pydlk.autograd.grad(_MulAdd.apply(a, b, c2).sum(), (a, b))
    np.testing.assert_allclose(_np(ga), _np(b))
    np.testing.assert_allclose(_np(gb), _np(a))


def test_mark_non_differentiable_and_sort_gradient_match_torch(rng):
    class TSortIdx(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            vals, idx = torch.sort(x, dim=-1)
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return vals, idx

        @staticmethod
        def backward(ctx, gv, gi):
            (idx,) = ctx.saved_tensors
            return torch.zeros_like(gv).scatter_(-1, idx, gv)

    s = rng.standard_normal((2, 5))
    ps, ts = pydlk.tensor(s, requires_grad=True), torch.tensor(s, requires_grad=True)
    pv, pi = _SortIdx.apply(ps)
    tv, ti = TSortIdx.apply(ts)
    assert pv.requires_grad and not pi.requires_grad and str(pi.dtype) == "int64"
    w = rng.standard_normal(5)
    (pv * pydlk.tensor(w)).sum().backward()
    (tv * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(_np(pi), _np(ti))
    np.testing.assert_allclose(_np(ps.grad), _np(ts.grad))
    assert pydlk.gradcheck(lambda t: _SortIdx.apply(t)[0], (pydlk.tensor(s, requires_grad=True),))


def test_user_function_marks_a_float_output_non_differentiable(rng):
    class Both(pydlk.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            m = (x > 0).to(x.dtype)
            ctx.mark_non_differentiable(m)
            return x * 3, m

        @staticmethod
        def backward(ctx, g, gm):
            return g * 3

    x = pydlk.tensor(rng.standard_normal(4), requires_grad=True)
    y, m = Both.apply(x)
    assert y.requires_grad and not m.requires_grad
    (y.sum() + m.sum()).backward()
    np.testing.assert_array_equal(_np(x.grad), np.full(4, 3.0))


def test_gradient_reversal_layer_returns_a_view_of_its_input(rng):
    class GradReverse(pydlk.autograd.Function):
        @staticmethod
        def forward(ctx, x, alpha):
            ctx.alpha = alpha
            return x.view_as(x)

        @staticmethod
        def backward(ctx, g):
            return g.neg() * ctx.alpha, None

    x = pydlk.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    y = GradReverse.apply(x, 0.5)
    assert y is not x and not y.is_leaf
    (y * 2).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), np.full((2, 3), -1.0))
    with pydlk.no_grad():
        assert not GradReverse.apply(x, 0.5).requires_grad


def test_tensor_hooks_see_tensors_as_torch(rng):
    seen, tseen = [], []
    x = rng.standard_normal(3)
    px, tx = pydlk.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    hp, ht = px * 3, tx * 3
    hp.register_hook(lambda g: seen.append(g.clone()) or g * 10)
    ht.register_hook(lambda g: tseen.append(g.clone()) or g * 10)
    px.register_hook(lambda g: seen.append(g.clone()))
    tx.register_hook(lambda g: tseen.append(g.clone()))
    (hp * hp).sum().backward()
    (ht * ht).sum().backward()
    assert all(isinstance(g, pydlk.Tensor) for g in seen) and len(seen) == len(tseen) == 2
    for a, b in zip(seen, tseen):
        np.testing.assert_allclose(_np(a), _np(b))
    np.testing.assert_allclose(_np(px.grad), _np(tx.grad))


# ------------------------------------------------------------------------------- data, utils


class _Rows(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return pydlk.from_numpy(self.x[i]), pydlk.tensor(self.y[i])


def test_tensordataset_items_are_tensors_and_mix_with_other_datasets(rng):
    x, y = rng.standard_normal((6, 3)).astype(np.float32), np.arange(6)
    ds = TensorDataset(pydlk.from_numpy(x), pydlk.from_numpy(y))
    tds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    xi, yi = ds[2]
    txi, tyi = tds[2]
    assert isinstance(xi, pydlk.Tensor) and isinstance(yi, pydlk.Tensor)
    assert tuple(yi.shape) == tuple(tyi.shape) == () and str(yi.dtype) == "int64"
    np.testing.assert_array_equal(_np(xi), _np(txi))
    assert len(ds.tensors) == 2 and isinstance(ds.tensors[0], pydlk.Tensor)
    both = ConcatDataset([_Rows(x, y), ds])
    batches = [b for b in DataLoader(both, batch_size=4)]
    assert [tuple(b[0].shape) for b in batches] == [(4, 3), (4, 3), (4, 3)]
    np.testing.assert_array_equal(_np(pydlk.cat([b[1] for b in batches])), np.r_[y, y])


def test_checkpoint_gives_the_plain_call_values_and_gradients(rng):
    from pydlk.utils.checkpoint import checkpoint, checkpoint_sequential

    seg = pydlk.nn.Sequential(pydlk.nn.Linear(4, 5), pydlk.nn.Tanh(), pydlk.nn.Linear(5, 2))
    x = pydlk.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    checkpoint(seg, x, use_reentrant=False).sum().backward()
    g1 = _np(x.grad).copy()
    x.grad = None
    checkpoint_sequential(seg, 2, x, use_reentrant=False).sum().backward()
    g2 = _np(x.grad).copy()
    x.grad = None
    seg(x).sum().backward()
    np.testing.assert_array_equal(g1, _np(x.grad))
    np.testing.assert_array_equal(g2, _np(x.grad))
    scale = checkpoint(lambda a, *, k: a * k, x, k=3.0, use_reentrant=False)
    np.testing.assert_allclose(_np(scale), 3 * _np(x))
    with pytest.raises(ValueError, match="checkpoint: keyword arguments"):
        checkpoint(lambda a, *, k: a * k, x, k=3.0, use_reentrant=True)
    with pytest.raises(ValueError, match="segments must be a positive int"):
        checkpoint_sequential(seg, 0, x)


# ------------------------------------------------------------------ padding and distance layers


@pytest.mark.parametrize(
    "name, args, shape",
    [
        ("ZeroPad2d", ((1, 1, 0, 2),), (2, 3, 5, 4)),
        ("ZeroPad1d", (2,), (2, 3, 5)),
        ("ConstantPad2d", (1, -1.5), (2, 3, 5, 4)),
        ("ConstantPad1d", ((2, 0), 0.5), (2, 3, 5)),
        ("ReflectionPad2d", (2,), (2, 3, 5, 4)),
        ("ReflectionPad1d", ((3, 1),), (2, 3, 5)),
        ("ReplicationPad2d", ((1, 0, 2, 1),), (2, 3, 5, 4)),
        ("ReplicationPad1d", (2,), (2, 3, 5)),
        ("CircularPad2d", (1,), (2, 3, 5, 4)),
    ],
)
def test_padding_layers_match_torch(rng, name, args, shape):
    a = rng.standard_normal(shape)
    pm, tm = getattr(pydlk.nn, name)(*args), getattr(torch.nn, name)(*args)
    px, tx = pydlk.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    yp, yt = pm(px), tm(tx)
    np.testing.assert_allclose(_np(yp), _np(yt))
    dy = rng.standard_normal(tuple(yt.shape))
    yp.backward(pydlk.tensor(dy))
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(_np(px.grad), _np(tx.grad))
    with pytest.raises(ValueError, match=f"{name}: padding must be an int or a tuple of"):
        getattr(pydlk.nn, name)(*(((1, 2, 3),) + args[1:]))


def test_cosine_similarity_and_pairwise_distance_layers_match_torch(rng):
    a, b = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    for pm, tm in (
        (pydlk.nn.CosineSimilarity(dim=1, eps=1e-6), torch.nn.CosineSimilarity(dim=1, eps=1e-6)),
        (pydlk.nn.CosineSimilarity(dim=0), torch.nn.CosineSimilarity(dim=0)),
        (
            pydlk.nn.PairwiseDistance(p=1.0, keepdim=True),
            torch.nn.PairwiseDistance(p=1.0, keepdim=True),
        ),
        (pydlk.nn.PairwiseDistance(), torch.nn.PairwiseDistance()),
    ):
        pa, pb = pydlk.tensor(a, requires_grad=True), pydlk.tensor(b, requires_grad=True)
        ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        yp, yt = pm(pa, pb), tm(ta, tb)
        np.testing.assert_allclose(_np(yp), _np(yt), rtol=1e-10)
        yp.sum().backward()
        yt.sum().backward()
        np.testing.assert_allclose(_np(pa.grad), _np(ta.grad), rtol=1e-8, atol=1e-12)
