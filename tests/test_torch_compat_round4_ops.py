"""Fourth round of torch scripts, the tensor ops: tan/asin/acos/atan, log2/log10/exp2, sinc,
logit, xlogy, atan2, hypot, deg2rad/rad2deg, frac, addcmul/addcdiv, logical_and/or/xor,
addmm/addmv/addbmm/baddbmm, tensordot, cumprod (zeros in the input), repeat_interleave, tile,
take_along_dim, diff, block_diag, cartesian_prod, tril/triu_indices. torch 2.x is the oracle:
values, dtypes, gradients of every differentiable input, float64 gradchecks, errors naming
the op, empty tensors and negative dims."""

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


def _dt(t):
    return str(t.dtype).split(".")[-1]


def _check(fn, arrays, rtol=1e-10, atol=1e-12, grad=True):
    """``fn(lib, *tensors)`` under torch and pydlk: values and dtypes equal; with ``grad`` the
    float inputs require grad and every gradient for a random upstream gradient matches."""
    res = {}
    for lib in (torch, pydlk):
        ts = [
            lib.tensor(a, requires_grad=grad and a.dtype.kind == "f")
            if isinstance(a, np.ndarray)
            else a
            for a in arrays
        ]
        out = fn(lib, *ts)
        grads = None
        if grad and out.requires_grad:
            dy = np.random.default_rng(7).standard_normal(tuple(out.shape))
            out.backward(lib.tensor(dy, dtype=out.dtype))
            grads = [t.grad if getattr(t, "requires_grad", False) else None for t in ts]
        res[lib.__name__] = (out, grads)
    (ot, gt), (op, gp) = res["torch"], res["pydlk"]
    assert _dt(ot) == _dt(op), (_dt(ot), _dt(op))
    assert tuple(ot.shape) == tuple(op.shape)
    np.testing.assert_allclose(_np(op), _np(ot), rtol=rtol, atol=atol)
    if gt is not None:
        for a, b in zip(gp, gt):
            if b is not None:
                np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol)
    return op


# ------------------------------------------------------------------ elementwise math


_UNARY = {
    "tan": lambda v: 0.5 * v,
    "asin": lambda v: 0.9 * np.tanh(v),
    "acos": lambda v: 0.9 * np.tanh(v),
    "atan": lambda v: 3 * v,
    "arcsin": lambda v: 0.9 * np.tanh(v),
    "arccos": lambda v: 0.9 * np.tanh(v),
    "arctan": lambda v: v,
    "log2": lambda v: np.abs(v) + 0.1,
    "log10": lambda v: np.abs(v) + 0.1,
    "exp2": lambda v: v,
    "sinc": lambda v: np.where(np.abs(v) < 0.3, 0.0, 2 * v),  # zeros: value 1, gradient 0
    "deg2rad": lambda v: 90 * v,
    "rad2deg": lambda v: v,
    "frac": lambda v: 4 * v,
    "logit": lambda v: 1 / (1 + np.exp(-v)),
}


@pytest.mark.parametrize("name", _UNARY)
def test_unary_math_matches_torch(rng, name):
    x = _UNARY[name](rng.standard_normal((3, 5)))
    _check(lambda lib, t: getattr(lib, name)(t), [x])
    _check(lambda lib, t: getattr(t, name)(), [x])
    t = pydlk.tensor(x, requires_grad=True)
    assert pydlk.gradcheck(lambda a: getattr(pydlk, name)(a), (t,))
    if name == "sinc":  # torch's second derivative of sinc is 0 at 0, as is pydlk's
        t = pydlk.tensor(x + (x == 0), requires_grad=True)
    assert pydlk.autograd.gradgradcheck(lambda a: getattr(pydlk, name)(a), (t,))
    # float32 stays float32; an empty tensor gives an empty result
    _check(lambda lib, t: getattr(lib, name)(t), [x.astype(np.float32)], rtol=2e-6, atol=1e-6)
    _check(lambda lib, t: getattr(lib, name)(t), [np.zeros((0, 3))])


@pytest.mark.parametrize(
    "name", ["tan", "asin", "atan", "log2", "log10", "exp2", "sinc", "deg2rad", "rad2deg", "logit"]
)
def test_unary_math_of_integers_is_float32_as_torch(name):
    i = np.array([0, 1, 2, -1])
    _check(lambda lib, t: getattr(lib, name)(t), [i], rtol=1e-6, atol=1e-6)


def test_frac_and_hypot_refuse_integers():
    with pytest.raises(TypeError, match="frac"):
        pydlk.frac(pydlk.arange(3))
    with pytest.raises(TypeError, match="hypot"):
        pydlk.hypot(pydlk.arange(3), pydlk.arange(3))


@pytest.mark.parametrize("eps", [None, 0.05, 0.3])
def test_logit_eps_clamps_and_zeroes_the_gradient_outside(rng, eps):
    x = rng.random((4, 5)) * 1.2 - 0.1 if eps else rng.random((4, 5)) * 0.9 + 0.05
    _check(lambda lib, t: lib.logit(t, eps=eps), [x])
    _check(lambda lib, t: t.logit(eps), [x])


@pytest.mark.parametrize("name", ["atan2", "arctan2", "hypot", "xlogy"])
def test_binary_math_matches_torch_with_broadcasting(rng, name):
    a, b = rng.standard_normal((3, 1, 4)), rng.standard_normal((5, 1))
    if name == "xlogy":
        a[0, 0, :2] = 0.0
        b = np.abs(b) + 0.1
    _check(lambda lib, x, y: getattr(lib, name)(x, y), [a, b])
    _check(lambda lib, x, y: getattr(x, name)(y), [a, b])
    ta, tb = (pydlk.tensor(v, requires_grad=True) for v in (a, b))
    assert pydlk.gradcheck(lambda x, y: getattr(pydlk, name)(x, y), (ta, tb))
    assert pydlk.autograd.gradgradcheck(lambda x, y: getattr(pydlk, name)(x, y), (ta, tb))


def test_xlogy_scalars_nan_and_integers(rng):
    y = np.abs(rng.standard_normal(4)) + 0.1
    _check(lambda lib, t: lib.xlogy(2.0, t), [y])
    _check(lambda lib, t: lib.xlogy(t, 3.0), [y])
    _check(
        lambda lib, x, y: lib.xlogy(x, y),
        [np.array([0.0, 0.0, 1.0]), np.array([np.nan, 2.0, np.nan])],
        grad=False,
    )
    _check(
        lambda lib, x, y: lib.xlogy(x, y), [np.array([0, 2, 3]), np.array([1, 2, 0])], grad=False
    )
    _check(
        lambda lib, x, y: lib.atan2(x, y),
        [np.array([0, 2, -3]), np.array([1, 0, 2])],
        grad=False,
        rtol=1e-6,
    )


@pytest.mark.parametrize("value", [1, 0.5, -2.0])
def test_addcmul_addcdiv_match_torch(rng, value):
    x, a, b = (
        rng.standard_normal((2, 3)),
        rng.standard_normal((1, 3)),
        rng.standard_normal((2, 1)) + 3,
    )
    _check(lambda lib, x, a, b: lib.addcmul(x, a, b, value=value), [x, a, b])
    _check(lambda lib, x, a, b: lib.addcdiv(x, a, b, value=value), [x, a, b])
    _check(lambda lib, x, a, b: x.addcmul(a, b, value=value), [x, a, b])
    _check(lambda lib, x, a, b: x.addcdiv(a, b, value=value), [x, a, b])
    with pytest.raises(RuntimeError, match="addcdiv: integer division"):
        pydlk.addcdiv(pydlk.ones(2), pydlk.arange(2), pydlk.arange(2) + 1)


def test_logical_ops_match_torch():
    a, b = np.array([0.0, 1.5, -2.0, 0.0]), np.array([1, 0, 3, 0])
    for name in ("logical_and", "logical_or", "logical_xor"):
        _check(lambda lib, x, y: getattr(lib, name)(x, y), [a, b], grad=False)
        _check(lambda lib, x, y: getattr(x, name)(y), [a, b], grad=False)
        _check(lambda lib, x: getattr(lib, name)(x, x[:1]), [a], grad=False)  # broadcast


# ------------------------------------------------------------------ products


@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1.5)])
def test_addmm_family_matches_torch(rng, beta, alpha):
    kw = dict(beta=beta, alpha=alpha)
    m1, m2, inp = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    _check(lambda lib, i, a, b: lib.addmm(i, a, b, **kw), [inp, m1, m2])
    _check(lambda lib, i, a, b: i.addmm(a, b, **kw), [rng.standard_normal((3, 5)), m1, m2])
    v = rng.standard_normal(4)
    _check(lambda lib, i, a, b: lib.addmv(i, a, b, **kw), [rng.standard_normal(3), m1, v])
    b1, b2 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5))
    _check(
        lambda lib, i, a, b: lib.baddbmm(i, a, b, **kw), [rng.standard_normal((1, 3, 5)), b1, b2]
    )
    _check(lambda lib, i, a, b: lib.addbmm(i, a, b, **kw), [rng.standard_normal((3, 5)), b1, b2])
    t = [pydlk.tensor(a, requires_grad=True) for a in (rng.standard_normal((3, 5)), m1, m2)]
    assert pydlk.gradcheck(lambda i, a, b: pydlk.addmm(i, a, b, **kw), t)
    assert pydlk.autograd.gradgradcheck(lambda i, a, b: pydlk.addmm(i, a, b, **kw), t)


def test_addmm_beta_zero_ignores_nan_and_errors_name_the_op():
    inp = np.full((2, 2), np.nan)
    _check(lambda lib, i, a, b: lib.addmm(i, a, b, beta=0), [inp, np.eye(2), np.eye(2)], grad=False)
    with pytest.raises(ValueError, match="addmm: shapes"):
        pydlk.addmm(pydlk.zeros(2, 2), pydlk.zeros(2, 3), pydlk.zeros(2, 2))
    with pytest.raises(ValueError, match="addmm: input of shape"):
        pydlk.addmm(pydlk.zeros(3), pydlk.zeros(2, 2), pydlk.zeros(2, 2))
    with pytest.raises(ValueError, match="baddbmm: batch sizes"):
        pydlk.baddbmm(pydlk.zeros(1), pydlk.zeros(2, 2, 2), pydlk.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="addmv"):
        pydlk.addmv(pydlk.zeros(2), pydlk.zeros(2, 2), pydlk.zeros(2, 2))


@pytest.mark.parametrize(
    "sa,sb,dims",
    [
        ((3, 4, 5), (4, 5, 2), 2),
        ((3, 4), (4, 5), 1),
        ((3, 4), (5, 6), 0),
        ((2, 3, 4), (4, 3, 5), ([1, 2], [1, 0])),
        ((2, 3, 4), (3, 6), ([-2], [0])),
        ((2, 0, 4), (0, 4, 3), 2),
    ],
)
def test_tensordot_matches_torch(rng, sa, sb, dims):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    _check(lambda lib, x, y: lib.tensordot(x, y, dims=dims), [a, b])
    if 0 not in sa:
        t = [pydlk.tensor(v, requires_grad=True) for v in (a, b)]
        assert pydlk.gradcheck(lambda x, y: pydlk.tensordot(x, y, dims), t)


def test_tensordot_errors():
    with pytest.raises(ValueError, match="tensordot: contracted dimensions need to match"):
        pydlk.tensordot(pydlk.zeros(2, 3), pydlk.zeros(4, 2), dims=1)
    with pytest.raises(ValueError, match="tensordot: both dimension lists"):
        pydlk.tensordot(pydlk.zeros(2, 3), pydlk.zeros(3, 2), dims=([1], [0, 1]))


# ------------------------------------------------------------------ cumprod


@pytest.mark.parametrize(
    "zeros", [[], [(0, 2)], [(0, 0)], [(1, 4)], [(0, 2), (0, 4)], [(1, 1), (1, 2)]]
)
@pytest.mark.parametrize("dim", [1, -1, 0])
def test_cumprod_gradient_with_zeros_matches_torch(rng, zeros, dim):
    x = rng.standard_normal((3, 5))
    for z in zeros:
        x[z] = 0.0
    _check(lambda lib, t: lib.cumprod(t, dim), [x])
    _check(lambda lib, t: t.cumprod(dim=dim), [x])
    t = pydlk.tensor(x, requires_grad=True)
    assert pydlk.gradcheck(lambda a: pydlk.cumprod(a, dim), (t,))
    assert pydlk.autograd.gradgradcheck(lambda a: pydlk.cumprod(a, dim), (t,))


def test_cumprod_dtypes_empty_and_0d():
    _check(lambda lib, t: lib.cumprod(t, 0), [np.array([1, 2, 3])], grad=False)
    _check(lambda lib, t: lib.cumprod(t, 0, dtype=lib.float64), [np.array([1, 2, 3])], grad=False)
    _check(lambda lib, t: lib.cumprod(t, 1), [np.zeros((2, 0))])
    _check(lambda lib, t: lib.cumprod(t, 0), [np.array(2.5)])
    with pytest.raises(IndexError, match="cumprod"):
        pydlk.cumprod(pydlk.ones(2, 2), 2)


# ------------------------------------------------------------------ shape


@pytest.mark.parametrize(
    "args,kw",
    [
        ((2,), {}),
        ((2,), {"dim": 1}),
        ((3,), {"dim": -2}),
        ((np.array([1, 0, 2]),), {"dim": 1}),
        ((np.array([2]),), {"dim": 0}),
        ((np.array([1, 2]),), {"dim": 0, "output_size": 3}),
        ((0,), {"dim": 1}),
    ],
)
def test_repeat_interleave_matches_torch(rng, args, kw):
    x = rng.standard_normal((2, 3))

    def f(lib, t):
        a = tuple(lib.tensor(v) if isinstance(v, np.ndarray) else v for v in args)
        return lib.repeat_interleave(t, *a, **kw)

    def g(lib, t):
        a = tuple(lib.tensor(v) if isinstance(v, np.ndarray) else v for v in args)
        return t.repeat_interleave(*a, **kw)

    _check(f, [x])
    _check(g, [x])


def test_repeat_interleave_of_counts_and_errors():
    _check(lambda lib, r: lib.repeat_interleave(r), [np.array([2, 0, 3])], grad=False)
    _check(lambda lib, t: t.repeat_interleave(2), [np.array([[1, 2], [3, 4]])], grad=False)
    with pytest.raises(ValueError, match="repeat_interleave: repeats must be"):
        pydlk.repeat_interleave(pydlk.ones(3), pydlk.tensor([1, 2]), dim=0)
    with pytest.raises(ValueError, match="repeat_interleave: repeats must be non-negative"):
        pydlk.repeat_interleave(pydlk.ones(2), -1)


@pytest.mark.parametrize("dims", [(2,), (2, 1), (1, 2, 3), (3, 2, 1, 2), (0, 2)])
def test_tile_matches_torch(rng, dims):
    x = rng.standard_normal((2, 3))
    _check(lambda lib, t: lib.tile(t, dims), [x])
    _check(lambda lib, t: t.tile(dims), [x])
    _check(lambda lib, t: t.tile(*dims), [x])


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_take_along_dim_matches_torch(rng, dim):
    x = rng.standard_normal((3, 4))
    if dim is None:
        idx = np.array([0, 5, 11, 5])
    else:
        idx = np.argsort(x, axis=dim)[:2] if dim == 0 else np.argsort(x, axis=dim)[:, :2]
    _check(lambda lib, t, i: lib.take_along_dim(t, i, dim), [x, idx])
    _check(lambda lib, t, i: t.take_along_dim(i, dim=dim), [x, idx])
    if dim == 1:  # indices broadcast against input outside dim
        _check(lambda lib, t, i: lib.take_along_dim(t, i, 1), [x, np.array([[0, 3]])])
    with pytest.raises(ValueError, match="take_along_dim"):
        pydlk.take_along_dim(pydlk.tensor(x), pydlk.tensor([0, 1]), 1)


@pytest.mark.parametrize(
    "n,dim,pre,app",
    [
        (1, -1, None, None),
        (2, 0, None, None),
        (1, 1, (3, 1), (3, 2)),
        (3, -1, None, (3, 2)),
        (0, 1, None, None),
    ],
)
def test_diff_matches_torch(rng, n, dim, pre, app):
    x = rng.standard_normal((3, 4))
    extra = [rng.standard_normal(s) for s in (pre, app) if s is not None]

    def f(lib, t, *e):
        it = iter(e)
        p = next(it) if pre is not None else None
        a = next(it) if app is not None else None
        return lib.diff(t, n=n, dim=dim, prepend=p, append=a)

    _check(f, [x, *extra])
    _check(lambda lib, t: t.diff(n, dim), [x])
    _check(lambda lib, t: lib.diff(t), [np.array([True, False, False, True])], grad=False)
    with pytest.raises(ValueError, match="diff: expects prepend or append"):
        pydlk.diff(pydlk.tensor(x), prepend=pydlk.tensor(1.0))


def test_block_diag_and_cartesian_prod_match_torch(rng):
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal(2), np.array(4.0)
    _check(lambda lib, x, y, z: lib.block_diag(x, y, z), [a, b, c])
    _check(lambda lib, x, y: lib.block_diag(x, y), [a, np.array([[1, 2]])], grad=False)
    u, v, w = rng.standard_normal(3), rng.standard_normal(2), rng.standard_normal(2)
    _check(lambda lib, x, y, z: lib.cartesian_prod(x, y, z), [u, v, w])
    _check(lambda lib, x: lib.cartesian_prod(x), [u])
    with pytest.raises(ValueError, match="block_diag"):
        pydlk.block_diag(pydlk.zeros(1, 1, 1))


@pytest.mark.parametrize(
    "row,col,offset", [(3, 3, 0), (4, 3, 1), (3, 5, -1), (0, 3, 0), (3, 3, -5)]
)
def test_tril_triu_indices_match_torch(row, col, offset):
    for name in ("tril_indices", "triu_indices"):
        t = getattr(torch, name)(row, col, offset)
        p = getattr(pydlk, name)(row, col, offset)
        assert p.dtype == np.int64 and tuple(p.shape) == tuple(t.shape)
        np.testing.assert_array_equal(_np(p), t.numpy())
    p = pydlk.tril_indices(3, 3, dtype=pydlk.int32)
    assert p.dtype == np.int32


def test_meshgrid_xy_and_ij_match_torch(rng):
    a, b = rng.standard_normal(3), rng.standard_normal(4)
    for ix in ("ij", "xy"):
        for k in range(2):
            _check(lambda lib, x, y: lib.meshgrid(x, y, indexing=ix)[k], [a, b])
