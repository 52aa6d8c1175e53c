"""Layer constructor and hook arguments that must act, not be silently dropped: ``inplace=True``,
forward hooks ``with_kwargs=True``, ``device=``, ``InstanceNorm2d(momentum=None)`` and the random
stream of ``StochasticDepth``."""

import numpy as np
import pytest

import pydlk
import pydlk._random as _random
from pydlk import nn

SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _elu(x, a=1.0):
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))


def _sig(x):
    return 1 / (1 + np.exp(-x))


# module, NumPy reference (float64) for its output
INPLACE = [
    (lambda: nn.ReLU(inplace=True), lambda x: np.maximum(x, 0)),
    (lambda: nn.LeakyReLU(0.2, inplace=True), lambda x: np.where(x > 0, x, 0.2 * x)),
    (lambda: nn.ELU(0.7, inplace=True), lambda x: _elu(x, 0.7)),
    (lambda: nn.SELU(inplace=True), lambda x: SELU_S * _elu(x, SELU_A)),
    (lambda: nn.ReLU6(inplace=True), lambda x: np.clip(x, 0, 6)),
    (lambda: nn.SiLU(inplace=True), lambda x: x * _sig(x)),
    (lambda: nn.Mish(inplace=True), lambda x: x * np.tanh(np.log1p(np.exp(x)))),
]


@pytest.mark.parametrize("make, ref", INPLACE)
def test_activation_inplace_writes_into_the_input(make, ref):
    rng = np.random.default_rng(0)
    x0 = (rng.standard_normal((3, 5)) * 4).astype(np.float64)
    x = pydlk.tensor(x0.copy())
    buf = np.asarray(x)
    y = make()(x)
    assert y is x and np.asarray(x) is buf
    np.testing.assert_allclose(buf, ref(x0), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("make, ref", INPLACE)
def test_activation_inplace_refuses_a_leaf_that_requires_grad(make, ref):
    x = pydlk.tensor(np.array([-1.0, 2.0]), requires_grad=True)
    with pytest.raises((RuntimeError, ValueError)):
        make()(x)


def test_relu_inplace_backward_on_a_non_leaf():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((4, 6))
    x = pydlk.tensor(x0, requires_grad=True)
    h = x * 3.0
    y = nn.ReLU(inplace=True)(h)
    assert y is h
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * 9 * x0 * (x0 > 0), rtol=1e-12)
    xt = torch.tensor(x0, requires_grad=True)
    ht = xt * 3.0
    (torch.nn.ReLU(inplace=True)(ht) ** 2).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)


def test_inplace_false_leaves_the_input_alone():
    x0 = np.array([-1.0, 2.0])
    x = pydlk.tensor(x0.copy())
    y = nn.ReLU()(x)
    assert y is not x
    np.testing.assert_array_equal(np.asarray(x), x0)


@pytest.mark.parametrize("cls, shape", [(nn.Dropout, (64, 32)), (nn.Dropout2d, (8, 16, 3, 3))])
def test_dropout_inplace(cls, shape):
    x0 = np.random.default_rng(2).uniform(1, 2, shape)
    x = pydlk.tensor(x0.copy())
    buf = np.asarray(x)
    y = cls(0.5, inplace=True)(x)
    assert y is x and np.asarray(x) is buf
    kept = buf != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(buf[kept], 2 * x0[kept], rtol=1e-12)
    leaf = pydlk.tensor(x0.copy(), requires_grad=True)
    with pytest.raises((RuntimeError, ValueError)):
        cls(0.5, inplace=True)(leaf)
    m = cls(0.5, inplace=True).eval()
    z = pydlk.tensor(x0.copy())
    np.testing.assert_array_equal(np.asarray(m(z)), x0)


class _Scale(nn.Module):
    def forward(self, x, scale=1.0):
        return x * scale


def test_forward_hook_with_kwargs_receives_them():
    m = _Scale()
    seen = []
    m.register_forward_hook(
        lambda mod, args, kwargs, out: seen.append((args, kwargs, out)), with_kwargs=True
    )
    m.register_forward_hook(lambda mod, args, out: seen.append((args, out)))
    x = pydlk.tensor(np.array([1.0, 2.0]))
    out = m(x, scale=3.0)
    assert len(seen) == 2
    args, kwargs, o = seen[0]
    assert args[0] is x and kwargs == {"scale": 3.0} and o is out
    assert len(seen[1]) == 2


def test_forward_hook_with_kwargs_may_replace_the_output():
    m = _Scale()
    m.register_forward_hook(lambda mod, args, kwargs, out: out + kwargs["scale"], with_kwargs=True)
    y = m(pydlk.tensor(np.array([1.0, 2.0])), scale=2.0)
    np.testing.assert_allclose(np.asarray(y), [4.0, 6.0])


def test_forward_pre_hook_with_kwargs_may_replace_args_and_kwargs():
    m = _Scale()
    h = m.register_forward_pre_hook(
        lambda mod, args, kwargs: ((args[0] + 1,), {**kwargs, "scale": 10.0}), with_kwargs=True
    )
    y = m(pydlk.tensor(np.array([1.0, 2.0])), scale=2.0)
    np.testing.assert_allclose(np.asarray(y), [20.0, 30.0])
    h.remove()
    assert not m._forward_pre_hooks_with_kwargs
    np.testing.assert_allclose(np.asarray(m(pydlk.tensor(np.array([1.0])), scale=2.0)), [2.0])
    m.register_forward_pre_hook(lambda mod, args, kwargs: args, with_kwargs=True)
    with pytest.raises(RuntimeError, match="pre-hook"):
        m(pydlk.tensor(np.array([1.0, 2.0])))


LAYERS_WITH_DEVICE = [
    lambda d: nn.Linear(2, 3, device=d),
    lambda d: nn.Bilinear(2, 2, 3, device=d),
    lambda d: nn.DropConnect(2, 3, device=d),
    lambda d: nn.Conv2d(2, 3, 3, device=d),
    lambda d: nn.BatchNorm1d(3, device=d),
    lambda d: nn.BatchNorm2d(3, device=d),
    lambda d: nn.InstanceNorm2d(3, device=d),
    lambda d: nn.LayerNorm(3, device=d),
    lambda d: nn.GroupNorm(1, 3, device=d),
    lambda d: nn.Embedding(4, 3, device=d),
    lambda d: nn.RNN(2, 3, device=d),
    lambda d: nn.LSTM(2, 3, device=d),
    lambda d: nn.GRU(2, 3, device=d),
    lambda d: nn.MultiheadAttention(4, 2, device=d),
]


@pytest.mark.parametrize("make", LAYERS_WITH_DEVICE)
def test_device_is_checked_and_honoured(make):
    for d in (None, "cpu", pydlk.device("cpu")):
        m = make(d)
        assert all(p.device == "cpu" for p in m.parameters())
    with pytest.raises(ValueError, match="device"):
        make("meta")
    if not pydlk.cuda.is_available():
        name = type(make(None)).__name__
        for want in ("cuda", "cuda:0"):
            with pytest.raises(RuntimeError, match=f"{name}: device='{want}' needs a CUDA GPU"):
                make(want)


def test_instance_norm_momentum_none_is_a_cumulative_average():
    rng = np.random.default_rng(3)
    m = nn.InstanceNorm2d(2, momentum=None, track_running_stats=True).double()
    means, varis = [], []
    for k in range(3):
        x = rng.standard_normal((4, 2, 5, 5)) * (k + 1) + k
        m(pydlk.tensor(x))
        means.append(x.mean(axis=(2, 3)).mean(axis=0))
        varis.append(x.var(axis=(2, 3), ddof=1).mean(axis=0))
    np.testing.assert_allclose(np.asarray(m.running_mean), np.mean(means, axis=0), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(m.running_var), np.mean(varis, axis=0), rtol=1e-10)
    assert int(np.asarray(m.num_batches_tracked)) == 3


def test_instance_norm_numeric_momentum_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).standard_normal((3, 2, 4, 4))
    m = nn.InstanceNorm2d(2, momentum=0.3, track_running_stats=True).double()
    t = torch.nn.InstanceNorm2d(2, momentum=0.3, track_running_stats=True).double()
    m(pydlk.tensor(x))
    t(torch.tensor(x))
    np.testing.assert_allclose(np.asarray(m.running_mean), t.running_mean.numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(m.running_var), t.running_var.numpy(), rtol=1e-10)


def test_stochastic_depth_draws_from_the_philox_stream():
    pydlk.manual_seed(5)
    gen = _random.default_generator
    numpy_state = gen.numpy.bit_generator.state
    offset = gen.offset
    m = nn.StochasticDepth(0.25, "row")
    x = np.ones((4000, 3), np.float64)
    y = np.asarray(m(pydlk.tensor(x)))
    assert gen.numpy.bit_generator.state == numpy_state  # the NumPy stream is untouched
    assert gen.offset > offset  # a Philox range was taken
    rows = y[:, 0]
    np.testing.assert_array_equal(y, np.repeat(rows[:, None], 3, axis=1))
    assert set(np.unique(rows)) <= {0.0, 1 / 0.75}
    assert abs((rows == 0).mean() - 0.25) < 0.03
    pydlk.manual_seed(5)
    np.testing.assert_array_equal(np.asarray(m(pydlk.tensor(x))), y)  # the seed fixes the mask
