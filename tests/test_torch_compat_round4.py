"""Fourth round of torch scripts, with torch 2.x as the oracle: in-place methods on tensors of
the graph (``y.add_(b)``, ``logvar.mul(0.5).exp_()``, ``x.sub_(m).div_(s)``, ``clamp_``,
``addcmul_``, ...) recorded as torch records them, refused where torch refuses (a leaf that
requires grad) or where pydlk cannot tell a saved value apart (memory held elsewhere), and
plain under ``no_grad`` (the optimiser idiom). Values, dtypes, gradients of every
differentiable input, float64 gradchecks and errors naming the op."""

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


def _both(fn, arrays, rtol=1e-10, atol=1e-12, dy_seed=1):
    """Run ``fn(lib, *leaves)`` under torch and pydlk on float64 leaves made from ``arrays``;
    compare values, dtypes, and every leaf's gradient for a random upstream gradient."""
    res = {}
    for lib in (torch, pydlk):
        leaves = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = fn(lib, *leaves)
        dy = np.random.default_rng(dy_seed).standard_normal(tuple(out.shape))
        out.backward(lib.tensor(dy))
        res[lib.__name__] = (out, [t.grad for t in leaves])
    (ot, gt), (op, gp) = res["torch"], res["pydlk"]
    assert str(ot.dtype).split(".")[-1] == str(op.dtype)
    np.testing.assert_allclose(_np(op), _np(ot), rtol=rtol, atol=atol)
    for a, b in zip(gp, gt):
        if b is None:
            assert a is None or not np.any(_np(a))
        else:
            np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol)
    return op


# ------------------------------------------------------------ recorded in-place arithmetic


_UNARY = [
    ("exp_", lambda v: v),
    ("log_", lambda v: np.abs(v) + 0.5),
    ("log1p_", lambda v: np.abs(v)),
    ("log2_", lambda v: np.abs(v) + 0.5),
    ("log10_", lambda v: np.abs(v) + 0.5),
    ("exp2_", lambda v: v),
    ("expm1_", lambda v: v),
    ("sqrt_", lambda v: np.abs(v) + 0.5),
    ("rsqrt_", lambda v: np.abs(v) + 0.5),
    ("square_", lambda v: v),
    ("reciprocal_", lambda v: np.abs(v) + 0.5),
    ("neg_", lambda v: v),
    ("abs_", lambda v: v),
    ("sin_", lambda v: v),
    ("cos_", lambda v: v),
    ("tan_", lambda v: 0.5 * v),
    ("asin_", lambda v: 0.3 * np.tanh(v)),
    ("acos_", lambda v: 0.3 * np.tanh(v)),
    ("atan_", lambda v: v),
    ("sinh_", lambda v: v),
    ("cosh_", lambda v: v),
    ("asinh_", lambda v: v),
    ("acosh_", lambda v: np.abs(v) + 1.5),
    ("atanh_", lambda v: 0.3 * np.tanh(v)),
    ("tanh_", lambda v: v),
    ("sigmoid_", lambda v: v),
    ("relu_", lambda v: v),
    ("erf_", lambda v: v),
    ("erfc_", lambda v: v),
    ("erfinv_", lambda v: 0.3 * np.tanh(v)),
    ("sinc_", lambda v: v),
    ("deg2rad_", lambda v: v),
    ("rad2deg_", lambda v: v),
    ("frac_", lambda v: 3 * v),
    ("logit_", lambda v: 0.2 + 0.6 / (1 + np.exp(-v))),
]


# torch 2.13 raises "the derivative for 'inplace version of asinh' is not implemented"; pydlk
# records them, so its out-of-place op is the oracle
_TORCH_NO_INPLACE_GRAD = {"asinh_", "acosh_", "atanh_"}


@pytest.mark.parametrize("name,domain", _UNARY, ids=[u[0] for u in _UNARY])
def test_unary_inplace_on_graph_tensor_matches_torch(rng, name, domain):
    x = domain(rng.standard_normal((3, 4)))

    def f(lib, t):
        y = t * 1.0  # a non-leaf of the graph
        if lib is torch and name in _TORCH_NO_INPLACE_GRAD:
            return getattr(y, name[:-1])() ** 2
        r = getattr(y, name)()
        assert r is y
        return y * y  # the recorded op's output feeds on

    _both(f, [x], rtol=1e-9)
    t = pydlk.tensor(x, requires_grad=True)
    assert pydlk.gradcheck(lambda a: getattr(a * 1.0, name)(), (t,))


@pytest.mark.parametrize("name", ["floor_", "ceil_", "trunc_", "round_", "sign_"])
def test_rounding_inplace_keeps_tensor_in_graph_with_zero_gradient(rng, name):
    x = 3 * rng.standard_normal((2, 5))

    def f(lib, t):
        y = t * 2.0
        getattr(y, name)()
        return y + t  # t's gradient: 1 from here, 0 through the rounding

    out = _both(f, [x])
    assert out.requires_grad


def test_inplace_chain_matches_torch(rng):
    x, m, s = rng.standard_normal((4, 3)), rng.standard_normal(3), np.abs(rng.standard_normal(3))

    def f(lib, x, m, s):
        y = x * 1.5
        y.sub_(m).div_(s + 1).mul_(2.0).add_(m, alpha=-0.5).clamp_(min=-1.0, max=2.0)
        y.pow_(2).addcmul_(m, s, value=0.3).addcdiv_(x, s + 2, value=-0.7)
        return y.lerp_(x, 0.25)

    _both(f, [x, m, s])


def test_vae_reparameterisation_idiom_matches_torch(rng):
    mu, logvar, eps = (
        rng.standard_normal((2, 5)),
        rng.standard_normal((2, 5)),
        rng.standard_normal((2, 5)),
    )

    def f(lib, mu, logvar):
        std = logvar.mul(0.5).exp_()  # the classic torch VAE example
        return lib.tensor(eps).mul(std).add_(mu)

    _both(f, [mu, logvar])


def test_operand_requires_grad_into_plain_buffer(rng):
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))

    def f(lib, x, w):
        buf = lib.zeros(3, 4, dtype=lib.float64)  # a plain tensor takes a graph operand
        buf.add_(x).mul_(w).copy_(buf * 2 + x)
        acc = lib.ones(3, 4, dtype=lib.float64)
        acc.addcmul_(x, w)
        return buf + acc

    _both(f, [x, w])


def test_copy_fill_zero_on_graph_tensors_match_torch(rng):
    x, src, v = rng.standard_normal((3, 4)), rng.standard_normal((4,)), np.array(0.7)

    def f(lib, x, src, v):
        a = x * 2
        a.copy_(src)  # broadcast src: its gradient sums over the rows
        b = x * 3
        b.fill_(v)
        c = x * 4
        c.zero_()
        return a * x + b * x + c + x

    _both(f, [x, src, v])


def test_inplace_through_a_private_view_is_recorded(rng):
    x = rng.standard_normal((4, 6))

    def f(lib, x):
        h = (x * 2).view(4, 2, 3).transpose(0, 1)  # a view whose source no variable names
        h.mul_(h.detach() + 1).exp_()
        return h

    _both(f, [x])


def test_inplace_dtype_rules_match_torch():
    for lib in (torch, pydlk):
        f32 = lib.ones(3)
        f32.add_(lib.ones(3, dtype=lib.float64) * 0.5)  # computed, then cast to float32
        assert str(f32.dtype).endswith("float32")
        i = lib.arange(3)
        i.add_(2).mul_(3)
        assert str(i.dtype).endswith("int64") and i.tolist() == [6, 9, 12]
        with pytest.raises(RuntimeError, match="can't be cast"):
            lib.arange(3).exp_()  # a float result into an integer tensor
        with pytest.raises(RuntimeError):
            (lib.ones(3) * 1).add_(lib.ones(2, 3))  # would grow the target
    with pytest.raises(RuntimeError, match="exp_: result type float(32|64) can't be cast"):
        pydlk.arange(3).exp_()
    x = pydlk.ones(3, requires_grad=True) * 1  # the recorded path: the same rules
    with pytest.raises(RuntimeError, match="add_: output with shape"):
        x.add_(pydlk.ones(2, 3))
    i = pydlk.arange(3)
    with pytest.raises(RuntimeError, match="add_: result type float(32|64) can't be cast"):
        i.add_(pydlk.ones(3, requires_grad=True))


def test_leaf_that_requires_grad_is_refused_and_no_grad_allows_everything():
    w = pydlk.ones(3, requires_grad=True)
    for call in (
        lambda: w.add_(1),
        lambda: w.exp_(),
        lambda: w.clamp_(min=0),
        lambda: w.addcmul_(w, w),
        lambda: w.copy_(pydlk.zeros(3)),
        lambda: w.zero_(),
    ):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            call()
    tw = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        tw.add_(1)
    g = pydlk.full((3,), 0.5)
    m, v = pydlk.zeros(3), pydlk.zeros(3)
    with pydlk.no_grad():  # the optimiser idiom: everything is a plain write
        m.mul_(0.9).add_(g, alpha=0.1)
        v.mul_(0.999).addcmul_(g, g, value=0.001)
        w.addcdiv_(m, v.sqrt().add_(1e-8), value=-0.1)
        w.sqrt_().pow_(2).clamp_(max=10.0)
    assert w.is_leaf and w.requires_grad and w.grad is None
    tg = torch.full((3,), 0.5)
    tm, tv, tw2 = torch.zeros(3), torch.zeros(3), torch.ones(3, requires_grad=True)
    with torch.no_grad():
        tm.mul_(0.9).add_(tg, alpha=0.1)
        tv.mul_(0.999).addcmul_(tg, tg, value=0.001)
        tw2.addcdiv_(tm, tv.sqrt().add_(1e-8), value=-0.1)
        tw2.sqrt_().pow_(2).clamp_(max=10.0)
    np.testing.assert_allclose(_np(w), _np(tw2), rtol=1e-6)


def test_memory_held_elsewhere_is_refused_naming_the_op(rng):
    x = pydlk.tensor(rng.standard_normal(4), requires_grad=True)
    y = x.exp()  # exp saved its output for its backward: torch would raise at backward
    with pytest.raises(RuntimeError, match="mul_: in place into a tensor of the autograd graph"):
        y.mul_(2)
    z = x * 2
    v = z.view(2, 2)  # a view a variable still names: it would not see the write
    with pytest.raises(RuntimeError, match="add_: in place into a tensor"):
        z.add_(1)
    with pytest.raises(RuntimeError, match="add_: a recorded in-place write into a view"):
        v.add_(1)
    # the refused ops changed nothing
    np.testing.assert_allclose(_np(z), 2 * _np(x))
    # an exp_ result is the tensor's own: a later in-place op is fine (torch would raise at
    # backward; here exp's saved output was copied, so the gradient is right)
    w = x * 1
    w.exp_().mul_(3)
    w.sum().backward()
    np.testing.assert_allclose(_np(x.grad), 3 * np.exp(_np(x)), rtol=1e-6)


def test_inplace_gradgradcheck(rng):
    a, b = (pydlk.tensor(rng.standard_normal(s), requires_grad=True) for s in ((3, 4), (4,)))

    def f(a, b):
        y = a * 1.0
        y.mul_(b).add_(b * b).tanh_().addcmul_(a, b, value=0.5)
        return y.sigmoid_()

    assert pydlk.gradcheck(f, (a, b))
    assert pydlk.autograd.gradgradcheck(f, (a, b))


def test_grad_fn_and_version_of_history():
    x = pydlk.ones(3, requires_grad=True)
    y = x * 2
    y.add_(1)
    assert not y.is_leaf and y.requires_grad and y.grad_fn is not None
    with pydlk.no_grad():
        y.add_(1)  # outside the graph: the values change, the history does not
    np.testing.assert_allclose(_np(y), [4.0, 4.0, 4.0])


@pytest.mark.parametrize(
    "write",
    [
        lambda lib, y, b: y.add_(b),
        lambda lib, y, b: y.mul_(b),
        lambda lib, y, b: y.exp_(),
        lambda lib, y, b: y.__setitem__(0, b[1]),
        lambda lib, y, b: y.masked_fill_(y > 0, 0.5),
        lambda lib, y, b: lib.nn.functional.relu(y, inplace=True),
        lambda lib, y, b: y.copy_(b * 3),
    ],
    ids=["add_", "mul_", "exp_", "setitem", "masked_fill_", "relu_inplace", "copy_"],
)
def test_ops_that_used_a_tensor_before_its_inplace_write_keep_its_old_history(rng, write):
    # torch's edges point at the history of their time: z = y * 3 uses y before the write
    x, b = rng.standard_normal(4), rng.standard_normal(4)

    def f(lib, x, b):
        y = x * 2
        z = y * 3 + y.sum()  # y's old value, twice (one of them through a reduction)
        write(lib, y, b)
        return z * y

    _both(f, [x, b])


# ------------------------------------------------------------ activations, norms, losses


_ACTS = {
    "glu": ({}, lambda v: v),
    "logsigmoid": ({}, lambda v: 5 * v),
    "hardsigmoid": ({}, lambda v: 3 * v),
    "hardswish": ({}, lambda v: 3 * v),
    "softsign": ({}, lambda v: v),
    "tanhshrink": ({}, lambda v: v),
    "softshrink": ({"lambd": 0.3}, lambda v: v),
    "hardshrink": ({"lambd": 0.7}, lambda v: v),
    "threshold": ({"threshold": 0.1, "value": -2.0}, lambda v: v),
}


def _away(v, points, gap=1e-3):
    """``v`` moved off the kinks at ``points`` (gradcheck differentiates there)."""
    for p in points:
        v = np.where(np.abs(v - p) < gap, p + 2 * gap, v)
    return v


@pytest.mark.parametrize("name", _ACTS)
def test_functional_activations_match_torch(rng, name):
    kw, dom = _ACTS[name]
    x = _away(dom(rng.standard_normal((4, 6))), [-3, 3, 0.3, -0.3, 0.7, -0.7, 0.1])
    # torch's hardsigmoid scales by a float32 1/6, also in float64
    tol = 1e-7 if name == "hardsigmoid" else 1e-10
    _both(lambda lib, t: getattr(lib.nn.functional, name)(t, **kw), [x], rtol=tol)
    t = pydlk.tensor(x, requires_grad=True)
    f = lambda a: getattr(pydlk.nn.functional, name)(a, **kw)  # noqa: E731
    assert pydlk.gradcheck(f, (t,))
    assert pydlk.autograd.gradgradcheck(f, (t,))
    x32 = x.astype(np.float32)
    tp = getattr(pydlk.nn.functional, name)(pydlk.tensor(x32), **kw)
    tt = getattr(torch.nn.functional, name)(torch.tensor(x32), **kw)
    assert tp.dtype == np.float32
    np.testing.assert_allclose(_np(tp), _np(tt), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "cls,args",
    [
        ("GLU", (0,)),
        ("LogSigmoid", ()),
        ("Hardswish", ()),
        ("Hardsigmoid", ()),
        ("Softsign", ()),
        ("Tanhshrink", ()),
        ("Softshrink", (0.2,)),
        ("Hardshrink", (0.2,)),
        ("Threshold", (0.1, 20.0)),
        ("CELU", (0.7,)),
        ("Softplus", (2.0, 5.0)),
    ],
)
def test_activation_layers_match_torch(rng, cls, args):
    x = rng.standard_normal((4, 6))
    # torch's Hardsigmoid scales by a float32 1/6 and CELU divides by a float32 alpha
    _both(lambda lib, t: getattr(lib.nn, cls)(*args)(t), [x], rtol=1e-7)
    assert repr(getattr(pydlk.nn, cls)(*args)).startswith(cls)


@pytest.mark.parametrize("name", ["hardswish", "hardsigmoid", "threshold"])
def test_inplace_activations_match_torch(rng, name):
    x = rng.standard_normal((3, 4)) * 4
    kw = {"threshold": 0.5, "value": 0.0} if name == "threshold" else {}

    def f(lib, t):
        y = t * 1.0
        r = getattr(lib.nn.functional, name)(y, inplace=True, **kw)
        assert r is y
        return y

    _both(f, [x], rtol=1e-7)


def test_glu_errors():
    with pytest.raises(ValueError, match="glu: halving dimension must be even"):
        pydlk.nn.functional.glu(pydlk.ones(2, 3))
    with pytest.raises(ValueError, match="softshrink: lambda must be"):
        pydlk.nn.functional.softshrink(pydlk.ones(2), -1.0)


@pytest.mark.parametrize(
    "shape,ns,eps,affine",
    [((3, 4), 4, None, True), ((2, 3, 4), (3, 4), 1e-5, True), ((5, 6), [6], None, False)],
)
def test_rms_norm_matches_torch(rng, shape, ns, eps, affine):
    x = rng.standard_normal(shape)
    w = rng.standard_normal((ns,) if isinstance(ns, int) else tuple(ns))
    nsl = [ns] if isinstance(ns, int) else ns  # torch's functional wants a list (pydlk: either)
    _both(lambda lib, t, v: lib.nn.functional.rms_norm(t, nsl, v if affine else None, eps), [x, w])
    for dt in (np.float32, np.float64):
        mp = pydlk.nn.RMSNorm(ns, eps=eps, elementwise_affine=affine, dtype=dt)
        mt = torch.nn.RMSNorm(
            ns, eps=eps, elementwise_affine=affine, dtype=getattr(torch, np.dtype(dt).name)
        )
        a = x.astype(dt)
        np.testing.assert_allclose(_np(mp(pydlk.tensor(a))), _np(mt(torch.tensor(a))), rtol=1e-5)
        assert sorted(dict(mp.named_parameters())) == sorted(dict(mt.named_parameters()))
    t = pydlk.tensor(x, requires_grad=True)
    assert pydlk.autograd.gradgradcheck(
        lambda a: pydlk.nn.functional.rms_norm(a, ns, None, eps), (t,)
    )
    with pytest.raises(ValueError, match="rms_norm: given normalized_shape"):
        pydlk.nn.functional.rms_norm(pydlk.ones(3, 4), 5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_margin_ranking_loss_matches_torch(rng, reduction):
    a, b = rng.standard_normal(7), rng.standard_normal(7)
    y = np.sign(rng.standard_normal(7))
    _both(
        lambda lib, x1, x2: lib.nn.functional.margin_ranking_loss(
            x1, x2, lib.tensor(y), margin=0.3, reduction=reduction
        ),
        [a, b],
    )
    _both(
        lambda lib, x1, x2: lib.nn.MarginRankingLoss(0.1, reduction=reduction)(
            x1, x2, lib.tensor(y)
        ),
        [a, b],
    )


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("dist", ["default", "cosine", "l1"])
def test_triplet_margin_with_distance_loss_matches_torch(rng, swap, dist):
    a, p, n = (rng.standard_normal((5, 4)) for _ in range(3))

    def fn(lib):
        F = lib.nn.functional
        return {
            "default": None,
            "cosine": lambda x, y: 1.0 - F.cosine_similarity(x, y),
            "l1": lambda x, y: (x - y).abs().sum(-1),
        }[dist]

    _both(
        lambda lib, *t: lib.nn.functional.triplet_margin_with_distance_loss(
            *t, distance_function=fn(lib), margin=0.4, swap=swap
        ),
        [a, p, n],
    )
    _both(
        lambda lib, *t: lib.nn.TripletMarginWithDistanceLoss(
            distance_function=fn(lib), margin=0.4, swap=swap, reduction="none"
        )(*t),
        [a, p, n],
    )
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        pydlk.nn.functional.triplet_margin_with_distance_loss(*(pydlk.ones(2, 2),) * 3, margin=0)


# ------------------------------------------------------------ embedding_bag


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2])
@pytest.mark.parametrize("last", [False, True])
def test_embedding_bag_1d_offsets_matches_torch(rng, mode, padding_idx, last):
    w = rng.standard_normal((10, 3))
    flat = np.array([1, 2, 4, 5, 4, 3, 2, 9, 2])
    offsets = np.array([0, 4, 4, 6] + ([9] if last else []))  # an empty bag in the middle

    def f(lib, weight):
        return lib.nn.functional.embedding_bag(
            lib.tensor(flat),
            weight,
            lib.tensor(offsets),
            mode=mode,
            padding_idx=padding_idx,
            include_last_offset=last,
        )

    _both(f, [w])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_and_module_match_torch(rng, mode):
    w = rng.standard_normal((8, 4))
    idx = rng.integers(0, 8, (3, 5))
    _both(
        lambda lib, weight: lib.nn.functional.embedding_bag(lib.tensor(idx), weight, mode=mode), [w]
    )
    mp = pydlk.nn.EmbeddingBag.from_pretrained(pydlk.tensor(w), mode=mode, freeze=False)
    mt = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(w), mode=mode, freeze=False)
    np.testing.assert_allclose(_np(mp(pydlk.tensor(idx))), _np(mt(torch.tensor(idx))), rtol=1e-12)
    assert mp.weight.requires_grad
    fresh = pydlk.nn.EmbeddingBag(6, 2, padding_idx=1)
    assert fresh.weight.shape == (6, 2) and not np.any(_np(fresh.weight[1]))


def test_embedding_bag_per_sample_weights_and_errors(rng):
    w, psw = rng.standard_normal((10, 3)), rng.standard_normal(8)
    flat, offsets = np.array([1, 2, 4, 5, 4, 3, 2, 9]), np.array([0, 3])

    def f(lib, weight, ps):
        return lib.nn.functional.embedding_bag(
            lib.tensor(flat), weight, lib.tensor(offsets), mode="sum", per_sample_weights=ps
        )

    _both(f, [w, psw])
    F = pydlk.nn.functional
    with pytest.raises(ValueError, match="embedding_bag: per_sample_weights is only supported"):
        F.embedding_bag(
            pydlk.tensor(flat),
            pydlk.tensor(w),
            pydlk.tensor(offsets),
            per_sample_weights=pydlk.tensor(psw),
        )
    with pytest.raises(ValueError, match="embedding_bag: offsets must be None for a 2-d input"):
        F.embedding_bag(pydlk.tensor(flat).view(2, 4), pydlk.tensor(w), pydlk.tensor(offsets))
    with pytest.raises(ValueError, match="embedding_bag: a 1-d input needs offsets"):
        F.embedding_bag(pydlk.tensor(flat), pydlk.tensor(w))
    with pytest.raises(ValueError, match="embedding_bag: offsets\\[0\\] has to be 0"):
        F.embedding_bag(pydlk.tensor(flat), pydlk.tensor(w), pydlk.tensor([1, 3]))
    with pytest.raises(ValueError, match="embedding_bag: mode"):
        F.embedding_bag(pydlk.tensor(flat), pydlk.tensor(w), pydlk.tensor(offsets), mode="min")
