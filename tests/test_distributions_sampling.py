"""pydlk.distributions' draws: sample moments against the distributions' mean and variance
(tolerances from the sample size), the implicit reparameterisation gradient of Gamma (and so
Chi2, Beta, Dirichlet, StudentT) against torch's, an mpmath reference and the derivative of an
expectation, and the seeded generator."""

import math

import numpy as np
import pytest

import pydlk
import pydlk.distributions as D
from pydlk.distributions.gamma import _standard_gamma_grad

N = 20000


def _t(v):
    return pydlk.tensor(np.asarray(v, np.float64))


MOMENT_CASES = {
    "exponential": lambda: D.Exponential(_t([0.5, 2.0])),
    "laplace": lambda: D.Laplace(_t([0.0, 1.5]), _t([1.0, 0.3])),
    "gamma_small": lambda: D.Gamma(_t([0.3, 0.8]), _t([1.0, 2.0])),
    "gamma_large": lambda: D.Gamma(_t([4.0, 40.0]), _t([0.5, 3.0])),
    "chi2": lambda: D.Chi2(_t([1.0, 7.0])),
    "beta": lambda: D.Beta(_t([0.5, 3.0]), _t([2.0, 1.2])),
    "dirichlet": lambda: D.Dirichlet(_t([[0.4, 1.0, 3.0], [2.0, 2.0, 0.7]])),
    "mvn": lambda: D.MultivariateNormal(
        _t([1.0, -1.0]), covariance_matrix=_t([[2.0, 0.6], [0.6, 1.0]])
    ),
    "lowrank_mvn": lambda: D.LowRankMultivariateNormal(
        _t([1.0, -1.0, 0.0]), _t([[1.0, 0.5], [0.2, -1.0], [0.3, 0.3]]), _t([0.5, 1.0, 2.0])
    ),
    "lognormal": lambda: D.LogNormal(_t([0.0, 0.5]), _t([0.5, 0.25])),
    "halfnormal": lambda: D.HalfNormal(_t([1.0, 2.5])),
    "gumbel": lambda: D.Gumbel(_t([0.0, 2.0]), _t([1.0, 0.5])),
    "studentt": lambda: D.StudentT(_t([5.0, 30.0]), _t([0.0, 1.0]), _t([1.0, 2.0])),
    "poisson": lambda: D.Poisson(_t([0.7, 12.0])),
    "fisher_snedecor": lambda: D.FisherSnedecor(_t([4.0, 10.0]), _t([12.0, 20.0])),
    "continuous_bernoulli": lambda: D.ContinuousBernoulli(_t([0.1, 0.5, 0.8])),
    "generalized_pareto": lambda: D.GeneralizedPareto(
        _t([0.0, 1.0, -1.0]), _t([1.0, 2.0, 0.5]), _t([0.1, 0.0, -0.3])
    ),
    "wishart": lambda: D.Wishart(_t(7.0), covariance_matrix=_t([[1.0, 0.3], [0.3, 0.5]])),
    "kumaraswamy": lambda: D.Kumaraswamy(_t([0.5, 3.0]), _t([2.0, 1.5])),
    "weibull": lambda: D.Weibull(_t([1.0, 2.5]), _t([0.8, 3.0])),
    "pareto": lambda: D.Pareto(_t([1.0, 0.5]), _t([6.0, 9.0])),
    "inverse_gamma": lambda: D.InverseGamma(_t([6.0, 12.0]), _t([1.0, 3.0])),
    "negative_binomial": lambda: D.NegativeBinomial(_t([2.5, 10.0]), probs=_t([0.3, 0.6])),
    "binomial": lambda: D.Binomial(_t([5.0, 40.0]), probs=_t([0.3, 0.8])),
    "geometric": lambda: D.Geometric(_t([0.2, 0.7])),
    "onehot": lambda: D.OneHotCategorical(probs=_t([0.2, 0.5, 0.3])),
    "multinomial": lambda: D.Multinomial(8, probs=_t([0.2, 0.5, 0.3])),
    "mixture": lambda: D.MixtureSameFamily(
        D.Categorical(probs=_t([0.3, 0.7])), D.Normal(_t([-2.0, 1.0]), _t([0.5, 1.0]))
    ),
}


@pytest.mark.parametrize("name", MOMENT_CASES)
def test_sample_moments_match_mean_and_variance(name):
    """The sample mean is within 5 standard errors (sqrt(var / N)) of ``mean``, and the sample
    variance within 5 of its own standard errors (from the sample's fourth central moment) of
    ``variance``."""
    pydlk.manual_seed(1)
    d = MOMENT_CASES[name]()
    x = d.sample((N,)).numpy().astype(np.float64)
    mean, var = d.mean.detach().numpy(), d.variance.detach().numpy()
    m = x.mean(0)
    assert np.all(np.abs(m - mean) <= 5 * np.sqrt(var / N)), (m, mean)
    c = x - m
    v = (c**2).mean(0)
    se_v = np.sqrt(np.maximum((c**4).mean(0) - v**2, 0) / N)
    assert np.all(np.abs(v - var) <= 5 * se_v + 1e-12), (v, var)


def test_same_seed_same_draws():
    d = D.Gamma(_t([0.5, 3.0]), _t([1.0, 1.0]))
    pydlk.manual_seed(7)
    a = d.sample((5,)).numpy()
    pydlk.manual_seed(7)
    b = d.sample((5,)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, d.sample((5,)).numpy())


def test_gamma_draws_follow_the_cdf():
    """For alpha = 1 the standard gamma is Exp(1): the fraction of draws below the median log 2
    is 1/2 within 5 binomial standard errors; for alpha = 2 P(X <= 1) = 1 - 2/e."""
    pydlk.manual_seed(3)
    for alpha, x0, p in [(1.0, math.log(2), 0.5), (2.0, 1.0, 1 - 2 / math.e)]:
        x = D.Gamma(alpha, 1.0).sample((N,)).numpy()
        frac = (x <= x0).mean()
        assert abs(frac - p) <= 5 * math.sqrt(p * (1 - p) / N)


def test_standard_gamma_grad_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    alpha = np.repeat([0.05, 0.3, 0.9, 1.7, 4.0, 9.5, 60.0, 800.0], 50)
    x = rng.standard_gamma(alpha)
    x = np.maximum(x, 1e-30)
    ours = _standard_gamma_grad(alpha, x)
    theirs = torch._standard_gamma_grad(torch.tensor(alpha), torch.tensor(x)).numpy()
    # torch's closed-form approximations are accurate to about 1e-3 (see the mpmath test)
    np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=1e-12)


def test_standard_gamma_grad_against_mpmath():
    """dx/dalpha = -(dP/dalpha) / p at fixed x, P the regularised incomplete gamma function, by
    mpmath to 30 digits."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    points = [(0.1, 1e-6), (0.1, 0.5), (0.7, 0.2), (0.7, 3.0), (2.5, 0.4), (2.5, 6.0)]
    points += [(5.0, 2.0), (5.0, 11.0), (150.0, 130.0), (150.0, 175.0), (1e4, 1.01e4)]
    alpha = np.array([a for a, _ in points])
    x = np.array([v for _, v in points])
    ours = _standard_gamma_grad(alpha, x)
    for (a, v), g in zip(points, ours):
        a_, v_ = mpmath.mpf(a), mpmath.mpf(v)
        dP = mpmath.diff(lambda s: mpmath.gammainc(s, 0, v_, regularized=True), a_)
        pdf = v_ ** (a_ - 1) * mpmath.exp(-v_) / mpmath.gamma(a_)
        assert abs(g - float(-dP / pdf)) <= 1e-9 * abs(float(-dP / pdf)), (a, v)


def _pathwise(make, f, n=N, seed=0):
    """The per-draw gradients of ``f(rsample)`` with respect to the parameter: their mean and
    standard error."""
    pydlk.manual_seed(seed)
    p = pydlk.tensor(np.full(n, make[1], np.float64), requires_grad=True)
    x = make[0](p).rsample()
    f(x).sum().backward()
    g = p.grad.numpy()
    return g.mean(), g.std() / math.sqrt(n)


def _gamma_expectation(alpha, f):
    """E f(X), X ~ Gamma(alpha, 1), by the trapezoid rule on the density written out."""
    t = np.linspace(0, 60, 600001)[1:]
    logp = (alpha - 1) * np.log(t) - t - math.lgamma(alpha)
    return np.trapezoid(f(t) * np.exp(logp), t)


@pytest.mark.parametrize("alpha", [0.6, 2.0, 7.0])
def test_gamma_rsample_gradient_is_the_derivative_of_the_expectation(alpha):
    """d/dalpha E log1p(X) by a central finite difference of quadratures of the density,
    against the mean of the pathwise gradients (within 5 standard errors)."""
    h = 1e-4
    fd = (_gamma_expectation(alpha + h, np.log1p) - _gamma_expectation(alpha - h, np.log1p)) / (
        2 * h
    )
    mean, se = _pathwise((lambda a: D.Gamma(a, 1.0), alpha), lambda x: x.log1p())
    assert abs(mean - fd) <= 5 * se, (mean, fd, se)


def test_rate_and_beta_dirichlet_pathwise_gradients_are_unbiased():
    # E[X^2] = a (a + 1) / r^2 for Gamma(a, r): d/dr = -2 a (a + 1) / r^3
    a, r = 1.5, 2.0
    mean, se = _pathwise((lambda rr: D.Gamma(a, rr), r), lambda x: x**2)
    assert abs(mean + 2 * a * (a + 1) / r**3) <= 5 * se
    # Beta(a, b): E X = a / (a + b), d/da = b / (a + b)^2
    b = 2.5
    mean, se = _pathwise((lambda aa: D.Beta(aa, b), a), lambda x: x)
    assert abs(mean - b / (a + b) ** 2) <= 5 * se
    # Dirichlet(c, 1, 2): E X_0 = c / (c + 3), d/dc = 3 / (c + 3)^2
    c = 0.8
    pydlk.manual_seed(0)
    p = pydlk.tensor(np.full((N, 1), c), requires_grad=True)
    conc = pydlk.cat([p, pydlk.tensor(np.tile([1.0, 2.0], (N, 1)))], -1)
    D.Dirichlet(conc).rsample()[:, 0].sum().backward()
    g = p.grad.numpy()
    assert abs(g.mean() - 3 / (c + 3) ** 2) <= 5 * g.std() / math.sqrt(N)


def test_studentt_rsample_is_differentiable_in_df():
    # E|T| for df = 4: 2 sqrt(df) Gamma((df+1)/2) / (sqrt(pi) (df-1) Gamma(df/2))
    def e_abs(df):
        return (2 * math.sqrt(df) * math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2))) / (
            math.sqrt(math.pi) * (df - 1)
        )

    df, h = 4.0, 1e-5
    fd = (e_abs(df + h) - e_abs(df - h)) / (2 * h)
    mean, se = _pathwise((lambda v: D.StudentT(v), df), lambda x: x.abs(), n=4 * N)
    assert abs(mean - fd) <= 5 * se, (mean, fd, se)


def test_reparameterised_normal_families_carry_gradients():
    loc = pydlk.tensor([0.3, -0.2], requires_grad=True)
    scale = pydlk.tensor([1.0, 2.0], requires_grad=True)
    pydlk.manual_seed(0)
    for d in [
        D.LogNormal(loc, scale),
        D.Laplace(loc, scale),
        D.Gumbel(loc, scale),
        D.Cauchy(loc, scale),
    ]:
        loc.grad = scale.grad = None
        d.rsample((4,)).sum().backward()
        assert loc.grad is not None and scale.grad is not None


def test_von_mises_draws_are_wrapped_and_have_the_circular_moments():
    """Angles in [-pi, pi); E cos(x - loc) = I_1(k) / I_0(k) = 1 - variance within 5 standard
    errors, E sin(x - loc) = 0."""
    pydlk.manual_seed(2)
    d = D.VonMises(_t([3.0, -1.0, 0.5]), _t([0.4, 4.0, 40.0]))
    x = d.sample((N,)).numpy()
    assert x.min() >= -math.pi and x.max() < math.pi
    c = np.cos(x - d.loc.numpy())
    s = np.sin(x - d.loc.numpy())
    want = 1 - d.variance.numpy()
    assert np.all(np.abs(c.mean(0) - want) <= 5 * c.std(0) / math.sqrt(N))
    assert np.all(np.abs(s.mean(0)) <= 5 * s.std(0) / math.sqrt(N))


def test_lkj_correlations_have_the_marginal_moments():
    """For dim = 2 the correlation r = L[1, 0] has density proportional to
    (1 - r^2)^(eta - 1): mean 0 and variance 1 / (2 eta + 1), within 5 standard errors."""
    pydlk.manual_seed(4)
    eta = np.array([0.5, 1.0, 4.0])
    L = D.LKJCholesky(2, _t(eta)).sample((N,)).numpy()
    r = L[..., 1, 0]
    assert np.all(np.abs(r.mean(0)) <= 5 * r.std(0) / math.sqrt(N))
    v = r.var(0)
    se = np.sqrt(((r - r.mean(0)) ** 4).mean(0) - v**2) / math.sqrt(N)
    assert np.all(np.abs(v - 1 / (2 * eta + 1)) <= 5 * se)
    np.testing.assert_allclose((L**2).sum(-1), 1.0, rtol=1e-12)
