"""The kernels bound by the exponential on both of their loops: the AVX-512 one (where the CPU
has AVX-512) and the portable one (pydlk.backends.cpu.allow_avx512_exp = False). The softmax
family's row sums (csrc/softmax_rows.h) and the activations with AVX-512 forms (silu, sigmoid,
tanh, gelu and its tanh approximation: csrc/activation.cpp) are checked against the textbook
formulas in float64 NumPy, on lengths around the loops' 16-, 32- and 256-value blocks, and on
the edge values: masked (-inf) scores, NaN, infinities, exponents far below float's range."""

import math

import numpy as np
import pydlk._C as C
import pytest

import pydlk
import pydlk.functional as F

HAVE_AVX512 = "AVX-512" in C.config()["simd"]
LENGTHS = [1, 7, 16, 31, 32, 33, 255, 256, 257, 1000, 4097]


@pytest.fixture(params=["avx512", "portable"])
def exp_loop(request):
    """Runs the test on one loop; the flag is put back afterwards."""
    if request.param == "avx512" and not HAVE_AVX512:
        pytest.skip("CPU has no AVX-512")
    pydlk.backends.cpu.allow_avx512_exp = request.param == "avx512"
    yield request.param
    pydlk.backends.cpu.allow_avx512_exp = True


def softmax64(x):
    x = np.asarray(x, np.float64)
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def logsumexp64(x):
    x = np.asarray(x, np.float64)
    m = x.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]


@pytest.mark.parametrize("D", LENGTHS)
def test_softmax_and_log_softmax_match_formula(exp_loop, D):
    rng = np.random.default_rng(D)
    x = (rng.standard_normal((5, D)) * 4).astype(np.float32)
    ref = softmax64(x)
    np.testing.assert_allclose(C.softmax_forward(x, 1), ref, rtol=2e-6, atol=1e-30)
    np.testing.assert_allclose(
        C.softmax_forward(x, 1, True), x - logsumexp64(x)[:, None], rtol=1e-6, atol=2e-6
    )


@pytest.mark.parametrize("D", LENGTHS)
def test_log_softmax_backward_matches_formula(exp_loop, D):
    # dx = dy - softmax * sum(dy), the softmax taken as e^y from the log-probabilities y
    rng = np.random.default_rng(50 + D)
    x = (rng.standard_normal((4, D)) * 4).astype(np.float32)
    dy = rng.standard_normal((4, D)).astype(np.float32)
    y = C.softmax_forward(x, 1, True)
    want = dy - softmax64(x) * dy.astype(np.float64).sum(1, keepdims=True)
    got = C.softmax_backward(dy, y, 1, True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6 * max(1.0, np.abs(dy).sum(1).max()))


@pytest.mark.parametrize("D", LENGTHS)
def test_cross_entropy_loss_and_gradient_match_formula(exp_loop, D):
    rng = np.random.default_rng(100 + D)
    x = (rng.standard_normal((6, D)) * 3).astype(np.float32)
    t = rng.integers(0, D, 6)
    xt = pydlk.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, pydlk.tensor(t))
    loss.backward()
    lse = logsumexp64(x)
    want = np.mean(lse - x[np.arange(6), t].astype(np.float64))
    assert abs(float(loss) - want) <= 1e-6 * max(1.0, abs(want))
    g = softmax64(x)
    g[np.arange(6), t] -= 1
    np.testing.assert_allclose(xt.grad.numpy(), g / 6, rtol=2e-6, atol=1e-7)
    # reduction='none' takes the log-sum-exp without the gradient's buffer
    none = F.cross_entropy(pydlk.tensor(x), pydlk.tensor(t), reduction="none").numpy()
    np.testing.assert_allclose(none, lse - x[np.arange(6), t], rtol=1e-6, atol=2e-6)


def test_edge_values(exp_loop):
    """-inf scores give 0, a NaN makes its row NaN, and exponents below float's range (x - max
    of -200) give 0, not NaN or garbage."""
    x = np.array(
        [
            [0.0, -np.inf, 1.0, -np.inf] + [0.5] * 30,
            [1.0, np.nan, 2.0, 3.0] + [0.0] * 30,
            [0.0, -200.0, -90.0, -87.5] + [-300.0] * 30,
        ],
        np.float32,
    )
    y = C.softmax_forward(x, 1)
    assert y[0, 1] == 0 and y[0, 3] == 0
    np.testing.assert_allclose(y[0], softmax64(x[:1])[0], rtol=2e-6, atol=1e-30)
    assert np.isnan(y[1]).all()
    assert np.isfinite(y[2]).all() and y[2, 0] == 1.0 and y[2, 1] == 0 and y[2, 4] == 0
    assert 0 <= y[2, 2] < 1e-37 and 0 <= y[2, 3] < 1e-37  # e^-90: subnormal or flushed to 0


def test_attention_softmax_with_mask(exp_loop):
    rng = np.random.default_rng(7)
    q, k, v = (rng.standard_normal((2, 3, 40, 16)).astype(np.float32) for _ in range(3))
    out = F.scaled_dot_product_attention(
        pydlk.tensor(q), pydlk.tensor(k), pydlk.tensor(v), is_causal=True
    ).numpy()
    s = q.astype(np.float64) @ k.astype(np.float64).transpose(0, 1, 3, 2) / 4.0
    s[..., np.triu(np.ones((40, 40), bool), 1)] = -np.inf
    np.testing.assert_allclose(out, softmax64(s) @ v, rtol=1e-5, atol=1e-5)


def _phi(x):
    return 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def _sig(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


K, CUB = math.sqrt(2 / math.pi), 0.044715
# forward y(x) and dy/dx in float64, the saved tensor of each backward (the input or the output)
ACTS = {
    "silu": (lambda x: x * _sig(x), lambda x: _sig(x) * (1 + x * (1 - _sig(x))), "input"),
    "sigmoid": (_sig, lambda x: _sig(x) * (1 - _sig(x)), "output"),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2, "output"),
    "gelu": (
        lambda x: x * _phi(x),
        lambda x: _phi(x) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi),
        "input",
    ),
    "gelu_tanh": (
        lambda x: x * _sig(2 * K * (x + CUB * x**3)),
        lambda x: (lambda s: s + x * s * (1 - s) * 2 * K * (1 + 3 * CUB * x * x))(
            _sig(2 * K * (x + CUB * x**3))
        ),
        "input",
    ),
}


@pytest.mark.parametrize("op", ACTS)
@pytest.mark.parametrize("n", [1, 15, 16, 17, 100, 4099])
def test_activations_match_formula(exp_loop, op, n):
    f, df, saved = ACTS[op]
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    x[: min(n, 3)] = [0.29, -0.31, 12.0][: min(n, 3)]  # tanh's two forms meet at |x| = 0.3
    dy = rng.standard_normal(n).astype(np.float32)
    x64 = x.astype(np.float64)
    y = getattr(C, op + "_forward")(x)
    np.testing.assert_allclose(y, f(x64), rtol=3e-6, atol=1e-7)
    s = y if saved == "output" else x
    dx = getattr(C, op + "_backward")(dy, s)
    np.testing.assert_allclose(dx, dy * df(x64), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ACTS)
def test_activation_edge_values(exp_loop, op):
    """NaN stays NaN; the infinities and values past exp's range give the formula's limits
    (x * sigmoid(x) at -inf is -inf * 0 = NaN, as torch's)."""
    f = ACTS[op][0]
    x = np.array([np.nan, np.inf, -np.inf, 95.0, -95.0, 200.0, -200.0, 0.0], np.float32)
    y = getattr(C, op + "_forward")(x)
    assert np.isnan(y[0])
    with np.errstate(invalid="ignore", over="ignore"):
        want = f(x[1:].astype(np.float64))
    np.testing.assert_allclose(y[1:], want, rtol=3e-6, atol=1e-30)


def test_both_loops_agree():
    if not HAVE_AVX512:
        pytest.skip("CPU has no AVX-512")
    x = (np.random.default_rng(3).standard_normal((64, 1000)) * 5).astype(np.float32)
    fast = C.softmax_forward(x, 1)
    pydlk.backends.cpu.allow_avx512_exp = False
    try:
        slow = C.softmax_forward(x, 1)
    finally:
        pydlk.backends.cpu.allow_avx512_exp = True
    np.testing.assert_allclose(fast, slow, rtol=1e-6, atol=1e-37)


def test_flag_checks_its_value():
    with pytest.raises(TypeError, match="allow_avx512_exp must be True or False, got 1"):
        pydlk.backends.cpu.allow_avx512_exp = 1
    pydlk.backends.cpu.allow_avx512_exp = False
    try:
        assert pydlk.backends.cpu.allow_avx512_exp is False
    finally:
        pydlk.backends.cpu.allow_avx512_exp = True
    assert pydlk.backends.cpu.allow_avx512_exp is True
