"""nn.init: statistics within sampling bounds, orthogonality, seeding, in place, errors."""

import math

import numpy as np
import pytest

import pydlk
from pydlk import nn
from pydlk.nn import init


def P(*shape):
    return nn.Parameter(np.empty(shape, np.float32))


def test_constants_in_place():
    p = P(3, 4)
    arr = np.asarray(p)
    assert init.zeros_(p) is p and np.asarray(p) is arr and np.all(arr == 0)
    init.ones_(p)
    assert np.all(arr == 1)
    init.constant_(p, 2.5)
    assert np.all(arr == 2.5)
    assert p.grad is None  # no graph, no gradient


def test_calculate_gain():
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("conv2d") == 1 and init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")


def test_fans():
    assert init._calculate_fan_in_and_fan_out(P(8, 3, 5, 5)) == (75, 200)
    assert init._calculate_fan_in_and_fan_out(P(10, 20)) == (20, 10)
    with pytest.raises(ValueError, match="fewer than 2"):
        init._calculate_fan_in_and_fan_out(P(5))


def _var_ok(a, var):
    """Sample variance within 5 standard errors of ``var`` (normal-ish samples)."""
    n = a.size
    se = var * math.sqrt(2 / (n - 1)) * 1.5
    return abs(a.var() - var) < 5 * se


@pytest.mark.parametrize("shape", [(200, 300), (64, 32, 3, 3)])
def test_xavier_and_kaiming_variance(shape):
    pydlk.manual_seed(0)
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(P(*shape))
    p = P(*shape)
    init.xavier_uniform_(p, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(np.asarray(p)).max() <= bound
    assert _var_ok(np.asarray(p), 4.0 * 2 / (fan_in + fan_out))
    init.xavier_normal_(p)
    assert _var_ok(np.asarray(p), 2 / (fan_in + fan_out))
    init.kaiming_uniform_(p, nonlinearity="relu")
    assert np.abs(np.asarray(p)).max() <= math.sqrt(6 / fan_in)
    assert _var_ok(np.asarray(p), 2 / fan_in)
    init.kaiming_normal_(p, mode="fan_out", nonlinearity="relu")
    assert _var_ok(np.asarray(p), 2 / fan_out)
    # torch's defaults: a=0, mode='fan_in', nonlinearity='leaky_relu' -> gain sqrt(2/(1+0))
    init.kaiming_normal_(p)
    assert _var_ok(np.asarray(p), 2 / fan_in)
    assert abs(np.asarray(p).mean()) < 5 * math.sqrt(2 / fan_in / np.asarray(p).size)
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(p, mode="fan_avg")


def test_normal_uniform_trunc_normal():
    pydlk.manual_seed(1)
    p = P(100000)
    init.normal_(p, mean=3, std=2)
    assert abs(np.asarray(p).mean() - 3) < 0.05 and abs(np.asarray(p).std() - 2) < 0.05
    init.uniform_(p, -1, 3)
    assert (
        np.asarray(p).min() >= -1
        and np.asarray(p).max() <= 3
        and abs(np.asarray(p).mean() - 1) < 0.05
    )
    init.uniform_(p)
    assert np.asarray(p).min() >= 0 and np.asarray(p).max() <= 1
    init.trunc_normal_(p, mean=0, std=1, a=-1, b=0.5)
    assert np.asarray(p).min() >= -1 and np.asarray(p).max() <= 0.5
    # the truncated standard normal on [-1, 0.5]: mean (phi(a) - phi(b)) / (Phi(b) - Phi(a))
    phi = lambda v: math.exp(-v * v / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))  # noqa: E731
    mean = (phi(-1) - phi(0.5)) / (Phi(0.5) - Phi(-1))
    assert abs(np.asarray(p).mean() - mean) < 0.01
    with pytest.raises(ValueError, match="a"):
        init.trunc_normal_(p, a=1, b=0)


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 4), (8, 2, 3, 3)])
def test_orthogonal(shape):
    pydlk.manual_seed(2)
    p = P(*shape)
    init.orthogonal_(p, gain=1.5)
    w = np.asarray(p).reshape(shape[0], -1).astype(np.float64)
    if w.shape[0] <= w.shape[1]:
        np.testing.assert_allclose(w @ w.T, 2.25 * np.eye(w.shape[0]), atol=1e-5)
    else:
        np.testing.assert_allclose(w.T @ w, 2.25 * np.eye(w.shape[1]), atol=1e-5)
    with pytest.raises(ValueError, match="2 or more"):
        init.orthogonal_(P(3))


def test_seeded_reproducible():
    p, q = P(5, 5), P(5, 5)
    pydlk.manual_seed(42)
    init.kaiming_uniform_(p)
    pydlk.manual_seed(42)
    init.kaiming_uniform_(q)
    np.testing.assert_array_equal(np.asarray(p), np.asarray(q))
    init.kaiming_uniform_(q)
    assert not np.array_equal(np.asarray(p), np.asarray(q))


def test_module_defaults_are_seeded():
    pydlk.manual_seed(7)
    a = nn.Linear(4, 3)
    pydlk.manual_seed(7)
    b = nn.Linear(4, 3)
    np.testing.assert_array_equal(np.asarray(a.weight), np.asarray(b.weight))


def test_float64_tensor():
    p = nn.Parameter(np.empty((3, 3)))
    init.xavier_uniform_(p)
    assert p.dtype == np.float64
