"""pydlk.distributions.transforms against torch.distributions.transforms: forward, inverse
and log_abs_det_jacobian values and gradients, shapes, domains and codomains, inverses and
composition, caching (the tanh-squashed policy of SAC), and the log-Jacobian against a
numerical derivative."""

import math

import numpy as np
import pytest

import pydlk
import pydlk.distributions as D
import pydlk.distributions.transforms as T

torch = pytest.importorskip("torch")
TT = torch.distributions.transforms

R = np.random.default_rng(4)
X = R.standard_normal((3, 4))
XPOS = R.uniform(0.2, 3.0, (3, 4))
XSQ = R.standard_normal((2, 3, 3))

CASES = {
    "exp": (lambda m: m.ExpTransform(), X),
    "sigmoid": (lambda m: m.SigmoidTransform(), X),
    "tanh": (lambda m: m.TanhTransform(), X),
    "softplus": (lambda m: m.SoftplusTransform(), X),
    "affine": (lambda m: m.AffineTransform(0.5, -2.0), X),
    "affine_event": (lambda m: m.AffineTransform(0.5, 3.0, event_dim=1), X),
    "power": (lambda m: m.PowerTransform(2.5), XPOS),
    "stick_breaking": (lambda m: m.StickBreakingTransform(), X),
    "compose": (lambda m: m.ComposeTransform([m.AffineTransform(1.0, 2.0), m.ExpTransform()]), X),
    "compose_event": (
        lambda m: m.ComposeTransform([m.ExpTransform(), m.StickBreakingTransform()]),
        X,
    ),
    "inverse": (lambda m: m.ExpTransform().inv, XPOS),
    "independent": (lambda m: m.IndependentTransform(m.SigmoidTransform(), 1), X),
    "reshape": (lambda m: m.ReshapeTransform((4,), (2, 2)), X),
    "stack": (
        lambda m: m.StackTransform(
            [
                m.ExpTransform(),
                m.AffineTransform(1.0, 2.0),
                m.SigmoidTransform(),
                m.TanhTransform(),
            ],
            dim=1,
        ),
        X,
    ),
    "cat": (
        lambda m: m.CatTransform([m.ExpTransform(), m.AffineTransform(0.0, 3.0)], 1, [1, 3]),
        X,
    ),
    "corr_cholesky": (lambda m: m.CorrCholeskyTransform(), R.standard_normal((3, 6))),
    "cdf": (
        lambda m: m.CumulativeDistributionTransform(
            (D if m is T else torch.distributions).Normal(0.5, 2.0)
        ),
        X,
    ),
}
NOT_BIJECTIVE = {
    "abs": (lambda m: m.AbsTransform(), X),
    "softmax": (lambda m: m.SoftmaxTransform(), X),
}


def _both(x):
    return (
        pydlk.tensor(x, requires_grad=True),
        torch.tensor(x, requires_grad=True),
    )


@pytest.mark.parametrize("name", CASES)
def test_transform_matches_torch(name):
    make, x = CASES[name]
    tp, tt = make(T), make(TT)
    xp, xt = _both(x)
    yp, yt = tp(xp), tt(xt)
    np.testing.assert_allclose(yp.detach().numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    lp, lt = tp.log_abs_det_jacobian(xp, yp), tt.log_abs_det_jacobian(xt, yt)
    assert tuple(lp.shape) == tuple(lt.shape)
    np.testing.assert_allclose(lp.detach().numpy(), lt.detach().numpy(), rtol=1e-10, atol=1e-12)
    (yp.sum() + lp.sum()).backward()
    (yt.sum() + lt.sum()).backward()
    np.testing.assert_allclose(xp.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    y = yt.detach().numpy()
    back_p = tp.inv(pydlk.tensor(y))
    back_t = tt.inv(torch.tensor(y))
    # torch holds PowerTransform's exponent as a float32 tensor: its inverse is off by ~1e-8
    rtol = 1e-7 if name == "power" else 1e-8
    np.testing.assert_allclose(back_p.numpy(), back_t.numpy(), rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(back_p.numpy(), x, rtol=1e-9, atol=1e-12)
    assert tp.domain.event_dim == tt.domain.event_dim
    assert tp.codomain.event_dim == tt.codomain.event_dim
    assert tp.bijective == tt.bijective
    assert tp.forward_shape(x.shape) == tuple(tt.forward_shape(x.shape))
    assert tp.inverse_shape(tuple(y.shape)) == tuple(tt.inverse_shape(y.shape))
    assert tp.inv.inv is tp or tp.inv.inv == tp


@pytest.mark.parametrize("name", NOT_BIJECTIVE)
def test_non_injective_transforms_match_torch(name):
    make, x = NOT_BIJECTIVE[name]
    tp, tt = make(T), make(TT)
    y = tp(pydlk.tensor(x)).numpy()
    np.testing.assert_allclose(y, tt(torch.tensor(x)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(tp.inv(pydlk.tensor(y)).numpy(), tt.inv(torch.tensor(y)).numpy())
    assert not tp.bijective


def test_lower_cholesky_transform_matches_torch():
    tp, tt = T.LowerCholeskyTransform(), TT.LowerCholeskyTransform()
    y = tp(pydlk.tensor(XSQ)).numpy()
    np.testing.assert_allclose(y, tt(torch.tensor(XSQ)).numpy(), rtol=1e-12)
    assert bool(D.constraints.lower_cholesky.check(pydlk.tensor(y)).all())
    np.testing.assert_allclose(tp.inv(pydlk.tensor(y)).numpy(), np.tril(XSQ), rtol=1e-12)


@pytest.mark.parametrize("name", ["exp", "sigmoid", "tanh", "softplus", "affine", "power"])
def test_log_abs_det_jacobian_is_the_log_derivative(name):
    make, x = CASES[name]
    t = make(T)
    h = 1e-6
    xp = pydlk.tensor(x)
    num = (t(pydlk.tensor(x + h)).numpy() - t(pydlk.tensor(x - h)).numpy()) / (2 * h)
    np.testing.assert_allclose(
        t.log_abs_det_jacobian(xp, t(xp)).numpy(), np.log(np.abs(num)), rtol=1e-6, atol=1e-7
    )


def test_stick_breaking_log_det_is_the_log_det_of_the_numerical_jacobian():
    t = T.StickBreakingTransform()
    x = R.standard_normal(3)
    h = 1e-6
    # the first 3 coordinates of y are free (the 4th is 1 - their sum)
    J = np.empty((3, 3))
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        J[:, j] = (t(pydlk.tensor(x + e)).numpy()[:3] - t(pydlk.tensor(x - e)).numpy()[:3]) / (
            2 * h
        )
    xp = pydlk.tensor(x)
    got = t.log_abs_det_jacobian(xp, t(xp)).item()
    assert abs(got - np.linalg.slogdet(J)[1]) < 1e-6


def test_tanh_normal_policy_with_cache_inverts_its_own_samples_exactly():
    """The SAC pattern: a saturated draw (tanh(x) rounds to 1) scores through the cached x,
    as torch does, where atanh(tanh(x)) would give inf."""
    loc = pydlk.tensor([8.0, 0.0, -9.0], requires_grad=True)
    scale = pydlk.tensor([0.1, 1.0, 0.1], requires_grad=True)
    d = D.TransformedDistribution(D.Normal(loc, scale), [T.TanhTransform(cache_size=1)])
    pydlk.manual_seed(0)
    y = d.rsample()
    lp = d.log_prob(y)
    x = T.TanhTransform()._inverse(y)  # the uncached inverse, only for the finite coordinate
    base = D.Normal(loc, scale)
    xs = d.transforms[0]._cached_x_y[0]
    want = base.log_prob(xs) - 2.0 * (math.log(2.0) - xs - pydlk.nn.functional.softplus(-2.0 * xs))
    np.testing.assert_allclose(lp.detach().numpy(), want.detach().numpy(), rtol=1e-6)
    assert np.all(np.isfinite(lp.detach().numpy()))
    assert not np.isfinite(x.detach().numpy()[0]) or abs(x.detach().numpy()[0]) > 5
    (lp.sum() + y.sum()).backward()
    assert np.all(np.isfinite(loc.grad.numpy())) and np.all(np.isfinite(scale.grad.numpy()))


def test_transform_equality_and_errors():
    assert T.ExpTransform() == T.ExpTransform()
    assert T.AffineTransform(1.0, 2.0) == T.AffineTransform(1.0, 2.0)
    assert T.AffineTransform(1.0, 2.0) != T.AffineTransform(1.0, 3.0)
    assert T.ExpTransform().inv == T.ExpTransform().inv
    with pytest.raises(ValueError):
        T.ExpTransform(cache_size=2)
    with pytest.raises(ValueError):
        T.ReshapeTransform((4,), (3,))
    with pytest.raises(ValueError):
        D.TransformedDistribution(D.Normal(0.0, 1.0), "exp")


def _constraints(C):
    return [
        C.real,
        C.positive,
        C.nonnegative,
        C.greater_than(2.0),
        C.greater_than_eq(-1.0),
        C.less_than(1.0),
        C.unit_interval,
        C.interval(-1.0, 3.0),
        C.half_open_interval(0.0, 2.0),
        C.simplex,
        C.real_vector,
        C.independent(C.positive, 1),
    ]


@pytest.mark.parametrize("which", ["biject_to", "transform_to"])
def test_biject_to_and_transform_to_match_torch(which):
    """The same transform for each constraint: values and log-Jacobians on the same inputs,
    into the constraint's set; the lower-Cholesky constraint has transform_to only."""
    ours, theirs = getattr(D, which), getattr(torch.distributions, which)
    for cp, ct in zip(_constraints(D.constraints), _constraints(torch.distributions.constraints)):
        tp, tt = ours(cp), theirs(ct)
        x = X
        yp, yt = tp(pydlk.tensor(x)), tt(torch.tensor(x))
        np.testing.assert_allclose(yp.numpy(), yt.numpy(), rtol=1e-12, err_msg=repr(cp))
        assert bool(cp.check(yp).all()), cp
        if which == "biject_to" or not isinstance(tt, TT.SoftmaxTransform):
            lp = tp.log_abs_det_jacobian(pydlk.tensor(x), yp)
            lt = tt.log_abs_det_jacobian(torch.tensor(x), yt)
            np.testing.assert_allclose(lp.numpy(), lt.numpy(), rtol=1e-12, err_msg=repr(cp))
    y = D.transform_to(D.constraints.lower_cholesky)(pydlk.tensor(XSQ))
    assert bool(D.constraints.lower_cholesky.check(y).all())
    with pytest.raises(NotImplementedError, match="Cannot transform"):
        D.biject_to(D.constraints.lower_cholesky)
    with pytest.raises(NotImplementedError, match="Cannot transform"):
        D.transform_to(D.constraints.boolean)


def test_matrix_constraints_match_torch():
    mats = np.stack(
        [
            np.eye(3),
            np.array([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0]]),
            np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),  # indefinite
            np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),  # semidefinite
            np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),  # not symmetric
        ]
    )
    for name in ["square", "symmetric", "positive_semidefinite", "positive_definite"]:
        cp = getattr(D.constraints, name)
        ct = getattr(torch.distributions.constraints, name)
        got = cp.check(pydlk.tensor(mats)).numpy()
        np.testing.assert_array_equal(got, ct.check(torch.tensor(mats)).numpy(), err_msg=name)
        assert cp.event_dim == ct.event_dim == 2
    assert not D.constraints.square.check(pydlk.zeros(2, 3)).item()


def test_positive_definite_transform_matches_torch():
    tp, tt = T.PositiveDefiniteTransform(), TT.PositiveDefiniteTransform()
    y = tp(pydlk.tensor(XSQ))
    np.testing.assert_allclose(y.numpy(), tt(torch.tensor(XSQ)).numpy(), rtol=1e-12)
    assert bool(D.constraints.positive_definite.check(y).all())
    np.testing.assert_allclose(
        tp.inv(y).numpy(), tt.inv(torch.tensor(y.numpy())).numpy(), rtol=1e-9
    )
    z = D.transform_to(D.constraints.positive_definite)(pydlk.tensor(XSQ))
    np.testing.assert_allclose(z.numpy(), y.numpy())
    assert D.identity_transform(pydlk.tensor(X)).numpy().tolist() == X.tolist()


def test_biject_to_corr_cholesky_matches_torch():
    x = R.standard_normal((2, 6))
    yp = D.biject_to(D.constraints.corr_cholesky)(pydlk.tensor(x))
    yt = torch.distributions.biject_to(torch.distributions.constraints.corr_cholesky)(
        torch.tensor(x)
    )
    np.testing.assert_allclose(yp.numpy(), yt.numpy(), rtol=1e-12, atol=1e-15)
    assert bool(D.constraints.corr_cholesky.check(yp).all())
    assert tuple(yp.shape) == (2, 4, 4)


def test_cat_stack_and_mixture_constraints_match_torch():
    C, TC = D.constraints, torch.distributions.constraints
    x = np.array([[0.5, -1.0, 2.0, 0.3], [1.5, 0.2, -0.1, 0.9]])
    pairs = [
        (
            C.cat([C.positive, C.unit_interval], 1, [1, 3]),
            TC.cat([TC.positive, TC.unit_interval], 1, [1, 3]),
        ),
        (C.stack([C.positive, C.real], 0), TC.stack([TC.positive, TC.real], 0)),
    ]
    for cp, ct in pairs:
        np.testing.assert_array_equal(
            cp.check(pydlk.tensor(x)).numpy(), ct.check(torch.tensor(x)).numpy()
        )
        assert cp.event_dim == ct.event_dim and cp.is_discrete == ct.is_discrete
    # a mixture of uniforms on different intervals: a value is in the support where it is in
    # every component's (torch's rule)
    mp = D.MixtureSameFamily(
        D.Categorical(logits=pydlk.zeros(2)), D.Uniform(pydlk.tensor([0.0, 0.5]), 2.0)
    )
    mt = _torch_uniform_mixture()
    v = np.array([0.2, 0.7, 1.9, 2.5])
    np.testing.assert_array_equal(
        mp.support.check(pydlk.tensor(v)).numpy(), mt.support.check(torch.tensor(v)).numpy()
    )


def _torch_uniform_mixture():
    TDm = torch.distributions
    return TDm.MixtureSameFamily(
        TDm.Categorical(logits=torch.zeros(2)), TDm.Uniform(torch.tensor([0.0, 0.5]), 2.0)
    )
