"""pydlk.distributions against torch.distributions: log_prob, entropy, moments and
kl_divergence values and their gradients on the same inputs; sample shapes, dtypes and
statistics; rsample's reparameterisation gradient; shapes, expand and errors."""

import numpy as np
import pytest

import pydlk
import pydlk.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions


def _pair(arrays):
    """The same float32 arrays as pydlk and torch leaf tensors that require grad."""
    pd = {k: pydlk.tensor(np.float32(v), requires_grad=True) for k, v in arrays.items()}
    tt = {k: torch.tensor(np.float32(v), requires_grad=True) for k, v in arrays.items()}
    return pd, tt


def _check(fn, arrays, rng, rtol=1e-5, atol=1e-6):
    """``fn(lib, params)`` on pydlk and torch: values and gradients (random upstream) agree."""
    pd, tt = _pair(arrays)
    out_p, out_t = fn(D, pd), fn(TD, tt)
    assert tuple(out_p.shape) == tuple(out_t.shape)
    np.testing.assert_allclose(out_p.detach().numpy(), out_t.detach().numpy(), rtol, atol)
    if not out_t.requires_grad:
        return
    g = rng.standard_normal(tuple(out_t.shape)).astype(np.float32)
    out_p.backward(pydlk.tensor(g))
    out_t.backward(torch.tensor(g))
    for k in arrays:
        gt = tt[k].grad
        gp = pd[k].grad
        if gt is None:
            assert gp is None or not np.any(gp.numpy()), k
            continue
        np.testing.assert_allclose(gp.numpy(), gt.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _lib_tensor(lib, v, dtype=None):
    mod = pydlk if lib is D else torch
    if dtype == "long":
        return mod.tensor(np.int64(v))
    return mod.tensor(np.float32(v))


R = np.random.default_rng(1)
LOC = R.standard_normal((3, 4))
SCALE = R.uniform(0.5, 2.0, (3, 4))
PROBS = R.uniform(0.05, 0.95, (3, 4))
LOGITS = R.standard_normal((3, 5))
CPROBS = R.uniform(0.1, 1.0, (3, 5))
LOW = R.uniform(-2, 0, (3, 4))
HIGH = LOW + R.uniform(0.5, 2, (3, 4))
XVAL = R.standard_normal((2, 3, 4))
BVAL = (R.random((2, 3, 4)) < 0.5).astype(np.float32)
CVAL = R.integers(0, 5, (2, 3))
UVAL = LOW + (HIGH - LOW) * R.random((3, 4))

DISTS = {
    "normal": (lambda lib, p: lib.Normal(p["loc"], p["scale"]), {"loc": LOC, "scale": SCALE}),
    "normal_scalar_scale": (lambda lib, p: lib.Normal(p["loc"], 0.7), {"loc": LOC}),
    "bernoulli_probs": (lambda lib, p: lib.Bernoulli(probs=p["probs"]), {"probs": PROBS}),
    "bernoulli_logits": (lambda lib, p: lib.Bernoulli(logits=p["logits"]), {"logits": LOC}),
    "categorical_logits": (lambda lib, p: lib.Categorical(logits=p["logits"]), {"logits": LOGITS}),
    "categorical_probs": (lambda lib, p: lib.Categorical(probs=p["probs"]), {"probs": CPROBS}),
    "uniform": (lambda lib, p: lib.Uniform(p["low"], p["high"]), {"low": LOW, "high": HIGH}),
    "independent_normal": (
        lambda lib, p: lib.Independent(lib.Normal(p["loc"], p["scale"]), 1),
        {"loc": LOC, "scale": SCALE},
    ),
    "independent_bernoulli": (
        lambda lib, p: lib.Independent(lib.Bernoulli(logits=p["logits"]), 2),
        {"logits": LOC},
    ),
}
VALUES = {
    "normal": (XVAL, None),
    "normal_scalar_scale": (XVAL, None),
    "bernoulli_probs": (BVAL, None),
    "bernoulli_logits": (BVAL, None),
    "categorical_logits": (CVAL, "long"),
    "categorical_probs": (CVAL, "long"),
    "uniform": (UVAL, None),
    "independent_normal": (XVAL, None),
    "independent_bernoulli": (BVAL, None),
}


@pytest.mark.parametrize("name", DISTS)
def test_log_prob_matches_torch(name, rng):
    make, arrays = DISTS[name]
    value, kind = VALUES[name]
    _check(lambda lib, p: make(lib, p).log_prob(_lib_tensor(lib, value, kind)), arrays, rng)


@pytest.mark.parametrize("name", DISTS)
def test_entropy_matches_torch(name, rng):
    make, arrays = DISTS[name]
    _check(lambda lib, p: make(lib, p).entropy(), arrays, rng)


@pytest.mark.parametrize("attr", ["mean", "variance", "stddev", "mode"])
@pytest.mark.parametrize("name", DISTS)
def test_moments_match_torch(name, attr, rng):
    make, arrays = DISTS[name]
    pd, tt = _pair(arrays)
    a, b = getattr(make(D, pd), attr), getattr(make(TD, tt), attr)
    assert tuple(a.shape) == tuple(b.shape)
    assert str(a.dtype) == str(b.dtype).replace("torch.", "")
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    if b.requires_grad and attr != "mode":
        _check(lambda lib, p: getattr(make(lib, p), attr), arrays, rng)


@pytest.mark.parametrize("name", DISTS)
def test_shapes_and_properties_match_torch(name):
    make, arrays = DISTS[name]
    pd, tt = _pair(arrays)
    p, t = make(D, pd), make(TD, tt)
    assert p.batch_shape == tuple(t.batch_shape)
    assert p.event_shape == tuple(t.event_shape)
    assert p.has_rsample == t.has_rsample
    for shape in [(), (7,), (2, 3)]:
        s = p.sample(shape)
        ts = t.sample(shape)
        assert tuple(s.shape) == tuple(ts.shape)
        assert str(s.dtype) == str(ts.dtype).replace("torch.", "")
        assert not s.requires_grad
    e = p.expand((5,) + tuple(p.batch_shape))
    assert e.batch_shape == tuple(t.expand((5,) + tuple(t.batch_shape)).batch_shape)
    assert tuple(e.sample().shape) == (5,) + tuple(p.batch_shape) + tuple(p.event_shape)
    # the expanded distribution scores as the original, broadcast
    np.testing.assert_allclose(
        e.entropy().detach().numpy(),
        np.broadcast_to(p.entropy().detach().numpy(), tuple(e.batch_shape)),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "name", ["categorical_logits", "categorical_probs", "bernoulli_probs", "bernoulli_logits"]
)
def test_probs_and_logits_are_normalised_as_torch(name, rng):
    make, arrays = DISTS[name]
    for attr in ("probs", "logits"):
        _check(lambda lib, p, attr=attr: getattr(make(lib, p), attr), arrays, rng)


KL_CASES = {
    "normal": (
        lambda lib, p: (lib.Normal(p["a"], p["b"]), lib.Normal(p["c"], p["d"])),
        {"a": LOC, "b": SCALE, "c": LOC[::-1].copy(), "d": SCALE[:, ::-1].copy()},
    ),
    "categorical": (
        lambda lib, p: (lib.Categorical(logits=p["a"]), lib.Categorical(probs=p["b"])),
        {"a": LOGITS, "b": CPROBS},
    ),
    "bernoulli": (
        lambda lib, p: (lib.Bernoulli(probs=p["a"]), lib.Bernoulli(logits=p["b"])),
        {"a": PROBS, "b": LOC},
    ),
    "uniform": (
        lambda lib, p: (lib.Uniform(p["a"], p["b"]), lib.Uniform(p["c"], p["d"])),
        {"a": LOW, "b": HIGH, "c": LOW - 0.5, "d": HIGH + 1.0},
    ),
    "independent": (
        lambda lib, p: (
            lib.Independent(lib.Normal(p["a"], p["b"]), 1),
            lib.Independent(lib.Normal(p["c"], p["d"]), 1),
        ),
        {"a": LOC, "b": SCALE, "c": LOC[::-1].copy(), "d": SCALE[:, ::-1].copy()},
    ),
}


@pytest.mark.parametrize("name", KL_CASES)
def test_kl_divergence_matches_torch(name, rng):
    make, arrays = KL_CASES[name]
    lib_kl = {D: D.kl_divergence, TD: TD.kl_divergence}
    _check(lambda lib, p: lib_kl[lib](*make(lib, p)), arrays, rng)


def test_kl_infinite_where_torch_is():
    for lib, mod in ((D, pydlk), (TD, torch)):
        p = lib.Uniform(mod.tensor([0.0, 0.0]), mod.tensor([1.0, 1.0]))
        q = lib.Uniform(mod.tensor([0.5, -1.0]), mod.tensor([2.0, 2.0]))
        kl = lib.kl_divergence(p, q)
        np.testing.assert_allclose(kl.numpy(), [np.inf, np.log(3.0)], rtol=1e-6)
        c = lib.kl_divergence(
            lib.Categorical(probs=mod.tensor([0.5, 0.5, 0.0])),
            lib.Categorical(probs=mod.tensor([0.5, 0.0, 0.5])),
        )
        assert np.isinf(c.item())
        b = lib.kl_divergence(
            lib.Bernoulli(probs=mod.tensor([0.0, 1.0])), lib.Bernoulli(probs=mod.tensor(0.3))
        )
        np.testing.assert_allclose(b.numpy(), [-np.log(0.7), -np.log(0.3)], rtol=1e-5)


def test_normal_sample_moments():
    pydlk.manual_seed(0)
    d = D.Normal(pydlk.tensor([1.0, -2.0]), pydlk.tensor([0.5, 3.0]))
    s = d.sample((20000,)).numpy()
    np.testing.assert_allclose(s.mean(0), [1.0, -2.0], atol=0.06)
    np.testing.assert_allclose(s.std(0), [0.5, 3.0], rtol=0.03)


def test_uniform_sample_moments_and_range():
    pydlk.manual_seed(0)
    s = D.Uniform(pydlk.tensor([-1.0]), pydlk.tensor([3.0])).sample((20000,)).numpy()
    assert s.min() >= -1.0 and s.max() < 3.0
    np.testing.assert_allclose(s.mean(), 1.0, atol=0.04)
    np.testing.assert_allclose(s.var(), 16 / 12, rtol=0.05)


def test_categorical_sample_frequencies():
    pydlk.manual_seed(0)
    probs = np.array([[0.1, 0.0, 0.6, 0.3], [0.25, 0.25, 0.25, 0.25]], np.float32)
    s = D.Categorical(probs=pydlk.tensor(probs)).sample((20000,))
    assert s.dtype == pydlk.int64 and tuple(s.shape) == (20000, 2)
    h = s.numpy()
    for row in range(2):
        freq = np.bincount(h[:, row], minlength=4) / h.shape[0]
        np.testing.assert_allclose(freq, probs[row], atol=0.015)
    assert not np.any(h[:, 0] == 1)  # a zero-probability category is never drawn


def test_categorical_sample_from_logits_and_trailing_zero():
    pydlk.manual_seed(3)
    d = D.Categorical(logits=pydlk.tensor([0.0, 0.0, -np.inf]))
    s = d.sample((5000,)).numpy()
    assert set(np.unique(s)) <= {0, 1}
    np.testing.assert_allclose(np.mean(s == 0), 0.5, atol=0.03)


def test_bernoulli_sample_frequencies():
    pydlk.manual_seed(0)
    s = D.Bernoulli(probs=pydlk.tensor([0.1, 0.5, 0.9])).sample((20000,))
    assert s.dtype == pydlk.float32
    h = s.numpy()
    assert set(np.unique(h)) <= {0.0, 1.0}
    np.testing.assert_allclose(h.mean(0), [0.1, 0.5, 0.9], atol=0.015)


def test_same_seed_same_samples():
    d = D.Normal(pydlk.zeros(3), pydlk.ones(3))
    c = D.Categorical(logits=pydlk.zeros(4))
    pydlk.manual_seed(5)
    a = (d.sample((2,)).numpy(), c.sample((6,)).numpy())
    pydlk.manual_seed(5)
    b = (d.sample((2,)).numpy(), c.sample((6,)).numpy())
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_normal_rsample_gradient_is_the_reparameterisation():
    loc = pydlk.tensor([0.5, -1.0], requires_grad=True)
    scale = pydlk.tensor([2.0, 0.3], requires_grad=True)
    pydlk.manual_seed(7)
    x = D.Normal(loc, scale).rsample((3,))
    assert x.requires_grad and tuple(x.shape) == (3, 2)
    x.sum().backward()
    eps = (x.detach().numpy() - loc.detach().numpy()) / scale.detach().numpy()
    np.testing.assert_allclose(loc.grad.numpy(), [3.0, 3.0])
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0), rtol=1e-5, atol=1e-6)
    pydlk.manual_seed(7)  # the same eps as randn of the extended shape
    np.testing.assert_allclose(eps, pydlk.randn(3, 2).numpy(), rtol=1e-5, atol=1e-5)
    assert not D.Normal(loc, scale).sample().requires_grad


def test_uniform_rsample_gradient():
    low = pydlk.tensor([0.0], requires_grad=True)
    high = pydlk.tensor([2.0], requires_grad=True)
    pydlk.manual_seed(1)
    x = D.Uniform(low, high).rsample((4,))
    x.sum().backward()
    u = x.detach().numpy()[:, 0] / 2.0
    np.testing.assert_allclose(high.grad.numpy(), [u.sum()], rtol=1e-5)
    np.testing.assert_allclose(low.grad.numpy(), [4 - u.sum()], rtol=1e-5)


def test_policy_gradient_step():
    """REINFORCE as scripts write it: log_prob of sampled actions times returns."""
    logits = pydlk.tensor(np.zeros((4, 3), np.float32), requires_grad=True)
    dist = D.Categorical(logits=logits)
    actions = dist.sample()
    loss = -(dist.log_prob(actions) * pydlk.tensor([1.0, 2.0, 3.0, 4.0])).mean()
    loss.backward()
    g = logits.grad.numpy()
    onehot = np.eye(3)[actions.numpy()]
    expect = -(onehot - 1 / 3) * np.array([1, 2, 3, 4])[:, None] / 4
    np.testing.assert_allclose(g, expect, rtol=1e-5, atol=1e-6)


def test_scalar_parameters_and_broadcasting():
    d = D.Normal(0.0, 1.0)
    assert d.batch_shape == () and d.loc.dtype == pydlk.float32
    d = D.Normal(pydlk.zeros(3, 1), pydlk.ones(4))
    assert d.batch_shape == (3, 4)
    assert D.Bernoulli(0.3).batch_shape == ()
    assert tuple(D.Normal(0.0, 1.0).log_prob(pydlk.zeros(2, 2)).shape) == (2, 2)
    ind = D.Independent(D.Normal(pydlk.zeros(2, 3, 4), pydlk.ones(2, 3, 4)), 2)
    assert ind.batch_shape == (2,) and ind.event_shape == (3, 4)
    assert tuple(ind.log_prob(pydlk.zeros(3, 4)).shape) == (2,)
    assert ind.expand((5, 2)).batch_shape == (5, 2)


def test_enumerate_support_matches_torch():
    p = D.Categorical(logits=pydlk.zeros(2, 3)).enumerate_support()
    t = TD.Categorical(logits=torch.zeros(2, 3)).enumerate_support()
    np.testing.assert_array_equal(p.numpy(), t.numpy())
    p = D.Bernoulli(pydlk.tensor([0.2, 0.4])).enumerate_support(expand=False)
    t = TD.Bernoulli(torch.tensor([0.2, 0.4])).enumerate_support(expand=False)
    np.testing.assert_array_equal(p.numpy(), t.numpy())


@pytest.mark.parametrize(
    "make",
    [
        lambda lib, m: lib.Normal(m.tensor([0.0, 1.0]), m.tensor([1.0, 0.0])),
        lambda lib, m: lib.Normal(m.tensor([0.0, float("nan")]), 1.0),
        lambda lib, m: lib.Bernoulli(probs=m.tensor([0.5, 1.5])),
        lambda lib, m: lib.Bernoulli(probs=m.tensor([-0.1])),
        lambda lib, m: lib.Categorical(probs=m.tensor([0.5, -0.5, 1.0])),
        lambda lib, m: lib.Uniform(m.tensor([1.0]), m.tensor([0.5])),
        lambda lib, m: lib.Bernoulli(),
        lambda lib, m: lib.Categorical(probs=m.tensor([0.5, 0.5]), logits=m.tensor([0.0, 0.0])),
        lambda lib, m: lib.Categorical(probs=m.tensor(1.0)),
        lambda lib, m: lib.Independent(lib.Normal(m.zeros(2), m.ones(2)), 2),
    ],
)
def test_invalid_parameters_raise_value_error_as_torch(make):
    with pytest.raises(ValueError):
        make(TD, torch)
    with pytest.raises(ValueError):
        make(D, pydlk)


def test_validate_args_false_skips_the_checks():
    d = D.Normal(pydlk.tensor([0.0]), pydlk.tensor([-1.0]), validate_args=False)
    assert d.scale.item() == -1.0
    D.Bernoulli(probs=pydlk.tensor([1.5]), validate_args=False)


def test_log_prob_outside_support_raises():
    with pytest.raises(ValueError):
        D.Bernoulli(pydlk.tensor([0.5])).log_prob(pydlk.tensor([0.5]))
    with pytest.raises(ValueError):
        D.Categorical(logits=pydlk.zeros(3)).log_prob(pydlk.tensor(3))
    with pytest.raises(ValueError):
        D.Uniform(0.0, 1.0).log_prob(pydlk.tensor(2.0))
    with pytest.raises(ValueError):  # the event shape must match
        D.Independent(D.Normal(pydlk.zeros(3), pydlk.ones(3)), 1).log_prob(pydlk.zeros(2))
    with pytest.raises(ValueError):  # not a tensor
        D.Normal(0.0, 1.0).log_prob(0.5)
    lp = D.Uniform(0.0, 1.0, validate_args=False).log_prob(pydlk.tensor([2.0, 0.5]))
    np.testing.assert_array_equal(lp.numpy(), [-np.inf, 0.0])


def test_kl_of_unregistered_pair_raises_and_register_kl_dispatches():
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Cauchy(0.0, 1.0))  # neither has it
    with pytest.raises(NotImplementedError):
        D.kl_divergence(
            D.Independent(D.Normal(pydlk.zeros(2, 2), pydlk.ones(2, 2)), 1),
            D.Independent(D.Normal(pydlk.zeros(2, 2), pydlk.ones(2, 2)), 2),
        )

    class MyNormal(D.Normal):
        pass

    # a subclass uses its parent's formula until it registers its own
    kl = D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(1.0, 1.0))
    np.testing.assert_allclose(kl.item(), 0.5, rtol=1e-6)

    @D.register_kl(MyNormal, D.Normal)
    def _kl(p, q):
        return pydlk.tensor(42.0)

    assert D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(1.0, 1.0)).item() == 42.0
    assert D.kl_divergence(D.Normal(0.0, 1.0), MyNormal(1.0, 1.0)).item() == 0.5
    with pytest.raises(TypeError):
        D.register_kl(int, D.Normal)


def test_vae_style_loss_matches_torch(rng):
    """The Gaussian VAE's KL term and reconstruction term through Independent."""
    mu, logvar = rng.standard_normal((4, 6)), rng.standard_normal((4, 6)) * 0.3

    def loss(lib, p):
        mod = pydlk if lib is D else torch
        q = lib.Independent(lib.Normal(p["mu"], mod.exp(0.5 * p["logvar"])), 1)
        prior = lib.Independent(lib.Normal(mod.zeros(4, 6), mod.ones(4, 6)), 1)
        return lib.kl_divergence(q, prior).mean() - q.log_prob(p["mu"] * 0.5).mean()

    _check(loss, {"mu": mu, "logvar": logvar}, rng)


def test_repr_and_perplexity():
    assert repr(D.Normal(0.0, 1.0)).startswith("Normal(loc: ")
    d = D.Categorical(probs=pydlk.tensor([0.25] * 4))
    np.testing.assert_allclose(d.perplexity().item(), 4.0, rtol=1e-5)
    assert "Categorical" in repr(d)
    assert D.Distribution.has_rsample is False
