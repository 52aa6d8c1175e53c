"""pydlk.distributions on GPU tensors, each against the same thing on the CPU: samples for the
same seed, log_prob / entropy / moments / kl_divergence and their gradients, rsample's
gradient, validation. Real CuPy refuses ``np.asarray`` of its arrays and NumPy operands in its
ops; the host emulation (tools/cupy_host_emulator.py) refuses them too, so these ``test_gpu_*``
tests run here as they would on a GPU, and skip without either."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
import pydlk.distributions as D

R = np.random.default_rng(2)
LOC = R.standard_normal((3, 4)).astype(np.float32)
SCALE = R.uniform(0.5, 2.0, (3, 4)).astype(np.float32)
PROBS = R.uniform(0.05, 0.95, (3, 4)).astype(np.float32)
LOGITS = R.standard_normal((3, 5)).astype(np.float32)
LOW = R.uniform(-2, 0, (3, 4)).astype(np.float32)
HIGH = (LOW + R.uniform(0.5, 2, (3, 4))).astype(np.float32)
XVAL = R.standard_normal((2, 3, 4)).astype(np.float32)
BVAL = (R.random((2, 3, 4)) < 0.5).astype(np.float32)
CVAL = R.integers(0, 5, (2, 3))
UVAL = (LOW + (HIGH - LOW) * R.random((3, 4))).astype(np.float32)

DISTS = {
    "normal": (lambda p: D.Normal(p["loc"], p["scale"]), {"loc": LOC, "scale": SCALE}, XVAL),
    "bernoulli_probs": (lambda p: D.Bernoulli(probs=p["probs"]), {"probs": PROBS}, BVAL),
    "bernoulli_logits": (lambda p: D.Bernoulli(logits=p["logits"]), {"logits": LOC}, BVAL),
    "categorical_logits": (
        lambda p: D.Categorical(logits=p["logits"]),
        {"logits": LOGITS},
        CVAL,
    ),
    "categorical_probs": (
        lambda p: D.Categorical(probs=p["probs"]),
        {"probs": np.abs(LOGITS) + 0.1},
        CVAL,
    ),
    "uniform": (lambda p: D.Uniform(p["low"], p["high"]), {"low": LOW, "high": HIGH}, UVAL),
    "independent": (
        lambda p: D.Independent(D.Normal(p["loc"], p["scale"]), 1),
        {"loc": LOC, "scale": SCALE},
        XVAL,
    ),
}


def _pair(arrays, cp):
    """The same arrays as CPU and GPU leaf tensors that require grad."""
    cpu = {k: pydlk.tensor(v, requires_grad=True) for k, v in arrays.items()}
    gpu = {k: pydlk.tensor(cp.asarray(v), requires_grad=True) for k, v in arrays.items()}
    return cpu, gpu


def _value(v, cp):
    return pydlk.tensor(v), pydlk.tensor(cp.asarray(v))


def _compare(fn, arrays, cp, rtol=1e-5, atol=1e-6):
    """``fn(params) -> tensor`` on the CPU and the GPU: values and gradients agree."""
    cpu, gpu = _pair(arrays, cp)
    oc, og = fn(cpu, False), fn(gpu, True)
    assert str(og.device) == "cuda:0" and tuple(og.shape) == tuple(oc.shape)
    np.testing.assert_allclose(host(og), host(oc), rtol=rtol, atol=atol)
    if oc.requires_grad:
        g = np.random.default_rng(0).standard_normal(tuple(oc.shape)).astype(np.float32)
        oc.backward(pydlk.tensor(g))
        og.backward(pydlk.tensor(cp.asarray(g)))
        for k in arrays:
            if cpu[k].grad is None:  # the output does not depend on this parameter
                assert gpu[k].grad is None, k
                continue
            np.testing.assert_allclose(
                host(gpu[k].grad), host(cpu[k].grad), rtol=1e-4, atol=1e-5, err_msg=k
            )


@pytest.mark.parametrize("name", DISTS)
def test_gpu_log_prob_and_entropy_match_the_cpu(name):
    cp = cupy_or_skip()
    make, arrays, value = DISTS[name]
    vc, vg = _value(value, cp)
    _compare(lambda p, gpu: make(p).log_prob(vg if gpu else vc), arrays, cp)
    _compare(lambda p, gpu: make(p).entropy(), arrays, cp)


@pytest.mark.parametrize("attr", ["mean", "variance", "stddev", "mode"])
@pytest.mark.parametrize("name", DISTS)
def test_gpu_moments_match_the_cpu(name, attr):
    cp = cupy_or_skip()
    make, arrays, _ = DISTS[name]
    cpu, gpu = _pair(arrays, cp)
    a, b = getattr(make(cpu), attr), getattr(make(gpu), attr)
    assert str(b.device) == "cuda:0" and b.dtype == a.dtype
    np.testing.assert_allclose(host(b), host(a), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", DISTS)
def test_gpu_samples_match_the_cpu_for_the_same_seed(name):
    cp = cupy_or_skip()
    make, arrays, _ = DISTS[name]
    cpu, gpu = _pair(arrays, cp)
    dc, dg = make(cpu), make(gpu)
    pydlk.manual_seed(11)
    sc = dc.sample((6,))
    pydlk.manual_seed(11)
    sg = dg.sample((6,))
    assert str(sg.device) == "cuda:0" and sg.dtype == sc.dtype and sg.shape == sc.shape
    assert not sg.requires_grad
    np.testing.assert_allclose(host(sg), host(sc), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["normal", "uniform", "independent"])
def test_gpu_rsample_and_its_gradient_match_the_cpu(name):
    cp = cupy_or_skip()
    make, arrays, _ = DISTS[name]

    def draw(p, gpu):
        pydlk.manual_seed(3)
        return make(p).rsample((5,))

    _compare(draw, arrays, cp)


KL_CASES = {
    "normal": (
        lambda p: (D.Normal(p["a"], p["b"]), D.Normal(p["c"], p["d"])),
        {"a": LOC, "b": SCALE, "c": LOC[::-1].copy(), "d": SCALE[:, ::-1].copy()},
    ),
    "categorical": (
        lambda p: (D.Categorical(logits=p["a"]), D.Categorical(probs=p["b"])),
        {"a": LOGITS, "b": np.abs(LOGITS[::-1]) + 0.1},
    ),
    "bernoulli": (
        lambda p: (D.Bernoulli(probs=p["a"]), D.Bernoulli(logits=p["b"])),
        {"a": PROBS, "b": LOC},
    ),
    "uniform": (
        lambda p: (D.Uniform(p["a"], p["b"]), D.Uniform(p["c"], p["d"])),
        {"a": LOW, "b": HIGH, "c": LOW - 0.5, "d": HIGH + 1.0},
    ),
    "independent": (
        lambda p: (
            D.Independent(D.Normal(p["a"], p["b"]), 1),
            D.Independent(D.Normal(p["c"], p["d"]), 1),
        ),
        {"a": LOC, "b": SCALE, "c": LOC[::-1].copy(), "d": SCALE[:, ::-1].copy()},
    ),
}


@pytest.mark.parametrize("name", KL_CASES)
def test_gpu_kl_divergence_matches_the_cpu(name):
    cp = cupy_or_skip()
    make, arrays = KL_CASES[name]
    _compare(lambda p, gpu: D.kl_divergence(*make(p)), arrays, cp)


def test_gpu_kl_infinities_match_the_cpu():
    cp = cupy_or_skip()

    def kls(mod_tensor):
        u = D.kl_divergence(
            D.Uniform(mod_tensor([0.0, 0.0]), mod_tensor([1.0, 1.0])),
            D.Uniform(mod_tensor([0.5, -1.0]), mod_tensor([2.0, 2.0])),
        )
        c = D.kl_divergence(
            D.Categorical(probs=mod_tensor([0.5, 0.5, 0.0])),
            D.Categorical(probs=mod_tensor([0.5, 0.0, 0.5])),
        )
        return u, c

    cpu = kls(lambda v: pydlk.tensor(np.float32(v)))
    gpu = kls(lambda v: pydlk.tensor(cp.asarray(np.float32(v))))
    for a, b in zip(cpu, gpu):
        np.testing.assert_array_equal(host(b), host(a))


def test_gpu_validation_raises_as_on_the_cpu():
    cp = cupy_or_skip()

    def t(v):
        return pydlk.tensor(cp.asarray(np.float32(v)))

    with pytest.raises(ValueError):
        D.Normal(t([0.0]), t([-1.0]))
    with pytest.raises(ValueError):
        D.Bernoulli(probs=t([1.5]))
    with pytest.raises(ValueError):
        D.Categorical(probs=t([0.5, -0.5, 1.0]))
    with pytest.raises(ValueError):
        D.Bernoulli(probs=t([0.5])).log_prob(t([0.5]))
    with pytest.raises(ValueError):
        D.Categorical(logits=t([0.0, 0.0])).log_prob(pydlk.tensor(cp.asarray(np.int64(2))))


def test_gpu_scalar_parameter_and_enumerate_support_are_on_the_device():
    cp = cupy_or_skip()
    loc = pydlk.tensor(cp.asarray(np.zeros(3, np.float32)))
    d = D.Normal(loc, 2.0)
    assert str(d.scale.device) == "cuda:0" and d.batch_shape == (3,)
    e = D.Categorical(logits=pydlk.tensor(cp.asarray(np.zeros((2, 4), np.float32))))
    s = e.enumerate_support()
    assert str(s.device) == "cuda:0"
    np.testing.assert_array_equal(host(s), np.arange(4)[:, None].repeat(2, 1))


POS = R.uniform(0.5, 2.0, (3, 4)).astype(np.float32)
POS2 = R.uniform(0.5, 3.0, (3, 4)).astype(np.float32)
XPOS = R.uniform(0.05, 4.0, (2, 3, 4)).astype(np.float32)
XUNIT = R.uniform(0.05, 0.95, (2, 3, 4)).astype(np.float32)
SIMPLEX5 = R.dirichlet(np.ones(5), (2, 3)).astype(np.float32)
_A = R.standard_normal((3, 4, 4))
COV = (_A @ _A.transpose(0, 2, 1) + np.eye(4)).astype(np.float32)

MORE = {
    "exponential": (lambda p: D.Exponential(p["r"]), {"r": POS}, XPOS),
    "laplace": (lambda p: D.Laplace(p["l"], p["s"]), {"l": LOC, "s": SCALE}, XVAL),
    "gamma": (lambda p: D.Gamma(p["c"], p["r"]), {"c": POS2, "r": POS}, XPOS),
    "beta": (lambda p: D.Beta(p["a"], p["b"]), {"a": POS2, "b": POS}, XUNIT),
    "dirichlet": (lambda p: D.Dirichlet(p["c"]), {"c": np.abs(LOGITS) + 0.3}, SIMPLEX5),
    "mvn": (
        lambda p: D.MultivariateNormal(p["l"], covariance_matrix=p["c"]),
        {"l": LOC, "c": COV},
        XVAL,
    ),
    "lognormal": (lambda p: D.LogNormal(p["l"], p["s"]), {"l": LOC, "s": SCALE}, XPOS),
    "studentt": (lambda p: D.StudentT(p["df"], p["l"]), {"df": POS2 + 1, "l": LOC}, XVAL),
    "onehot": (
        lambda p: D.OneHotCategorical(logits=p["l"]),
        {"l": LOGITS},
        np.eye(5, dtype=np.float32)[CVAL],
    ),
    "poisson": (lambda p: D.Poisson(p["r"]), {"r": POS}, np.floor(XPOS)),
    "vonmises": (lambda p: D.VonMises(p["l"], p["k"]), {"l": LOC, "k": POS2 * 20}, XVAL),
    "weibull": (lambda p: D.Weibull(p["s"], p["k"]), {"s": SCALE, "k": POS2}, XPOS),
    "fisher_snedecor": (lambda p: D.FisherSnedecor(p["a"], p["b"]), {"a": POS2, "b": POS}, XPOS),
    "negative_binomial": (
        lambda p: D.NegativeBinomial(p["n"], probs=p["p"]),
        {"n": POS2, "p": PROBS},
        np.floor(XPOS),
    ),
    "wishart": (
        lambda p: D.Wishart(p["df"], covariance_matrix=p["c"]),
        {"df": np.array([6.5, 8.0, 12.0], np.float32), "c": COV},
        np.stack([COV[::-1], COV + np.eye(4, dtype=np.float32)]),
    ),
    "lowrank_mvn": (
        lambda p: D.LowRankMultivariateNormal(p["l"], p["w"], p["d"]),
        {"l": LOC, "w": R.standard_normal((3, 4, 2)).astype(np.float32), "d": POS},
        XVAL,
    ),
    "binomial": (lambda p: D.Binomial(6, probs=p["p"]), {"p": PROBS}, np.floor(XPOS)),
    "mixture": (
        lambda p: D.MixtureSameFamily(D.Categorical(logits=p["w"]), D.Normal(p["l"], p["s"])),
        {"w": LOC, "l": LOC[::-1].copy(), "s": SCALE},
        XVAL[..., 0],
    ),
}
HAS_ENTROPY = {"exponential", "laplace", "gamma", "beta", "dirichlet", "mvn", "lognormal"}
HAS_ENTROPY |= {"studentt", "onehot", "binomial", "weibull", "lowrank_mvn", "wishart"}


@pytest.mark.parametrize("name", MORE)
def test_gpu_more_families_log_prob_entropy_and_mean_match_the_cpu(name):
    cp = cupy_or_skip()
    make, arrays, value = MORE[name]
    vc, vg = _value(value, cp)
    _compare(lambda p, gpu: make(p).log_prob(vg if gpu else vc), arrays, cp, rtol=2e-5)
    if name in HAS_ENTROPY:
        _compare(lambda p, gpu: make(p).entropy(), arrays, cp, rtol=2e-5)
    _compare(lambda p, gpu: make(p).mean, arrays, cp)


@pytest.mark.parametrize("name", MORE)
def test_gpu_more_families_sample_as_the_cpu_for_the_same_seed(name):
    cp = cupy_or_skip()
    make, arrays, _ = MORE[name]
    cpu, gpu = _pair(arrays, cp)
    pydlk.manual_seed(5)
    sc = make(cpu).sample((3, 2))
    pydlk.manual_seed(5)
    sg = make(gpu).sample((3, 2))
    assert str(sg.device) == "cuda:0" and sg.dtype == sc.dtype and sg.shape == sc.shape
    np.testing.assert_allclose(host(sg), host(sc), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["gamma", "beta", "dirichlet", "mvn", "studentt", "laplace"])
def test_gpu_implicit_and_plain_rsample_gradients_match_the_cpu(name):
    cp = cupy_or_skip()
    make, arrays, _ = MORE[name]

    def draw(p, gpu):
        pydlk.manual_seed(3)
        return make(p).rsample((5,))

    _compare(draw, arrays, cp, rtol=2e-5, atol=2e-6)


def test_gpu_tanh_normal_and_kl_pairs_match_the_cpu():
    cp = cupy_or_skip()
    arrays = {"l": LOC, "s": SCALE, "c": POS2, "r": POS}

    def policy(p, gpu):
        pi = D.TransformedDistribution(
            D.Normal(p["l"], p["s"]), [D.transforms.TanhTransform(cache_size=1)]
        )
        pydlk.manual_seed(9)
        a = pi.rsample()
        return pi.log_prob(a) + a

    _compare(policy, arrays, cp, rtol=2e-5, atol=2e-6)
    _compare(
        lambda p, gpu: D.kl_divergence(D.Gamma(p["c"], p["r"]), D.Gamma(p["r"], p["c"])),
        arrays,
        cp,
        rtol=2e-5,
    )
    _compare(
        lambda p, gpu: D.kl_divergence(D.Beta(p["c"], p["r"]), D.Beta(p["r"], p["c"])),
        arrays,
        cp,
        rtol=2e-5,
    )


def test_gpu_gamma_cdf_and_its_gradients_match_the_cpu():
    cp = cupy_or_skip()
    arrays = {"c": POS2, "r": POS, "v": XPOS[0]}
    _compare(lambda p, gpu: D.Gamma(p["c"], p["r"]).cdf(p["v"]), arrays, cp, rtol=2e-5, atol=2e-6)
