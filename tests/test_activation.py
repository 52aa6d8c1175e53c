"""activations: float64 references from the formulas, gradient checks, torch oracle, properties,
extreme values, edge cases, bad input, thread counts."""

import math

import numpy as np
import pydlk._C as C
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F

SQRT2 = math.sqrt(2.0)
_erf = np.vectorize(math.erf, otypes=[np.float64])

# ----------------------------------------------------------------------------- references
# Each in float64, written from the textbook formula (not from the kernels' forms).
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _softplus_ref(x, beta=1.0, threshold=20.0):
    with np.errstate(over="ignore"):
        return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


REF = {
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "leaky_relu_neg": lambda x: np.where(x > 0, x, -0.3 * x),
    "hardtanh": lambda x: np.minimum(np.maximum(x, -1.0), 1.0),
    "relu6": lambda x: np.minimum(np.maximum(x, 0.0), 6.0),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "elu_neg": lambda x: np.where(x > 0, x, -0.5 * (np.exp(x) - 1)),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)),
    "celu": lambda x: np.where(x > 0, x, 2.0 * (np.exp(x / 2.0) - 1)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "mish": lambda x: x * np.tanh(np.log(1 + np.exp(x))),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / SQRT2)),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "softplus": lambda x: _softplus_ref(x),
    "softplus_b2": lambda x: _softplus_ref(x, 2.0, 1.0),
}

# pydlk call, torch call (torch passed in), kinks to keep gradient-check inputs away from
OPS = {
    "relu": (F.relu, lambda T, x: T.nn.functional.relu(x), [0.0]),
    "leaky_relu": (F.leaky_relu, lambda T, x: T.nn.functional.leaky_relu(x), [0.0]),
    "leaky_relu_neg": (
        lambda x: F.leaky_relu(x, -0.3),
        lambda T, x: T.nn.functional.leaky_relu(x, -0.3),
        [0.0],
    ),
    "hardtanh": (F.hardtanh, lambda T, x: T.nn.functional.hardtanh(x), [-1.0, 1.0]),
    "relu6": (F.relu6, lambda T, x: T.nn.functional.relu6(x), [0.0, 6.0]),
    "elu": (F.elu, lambda T, x: T.nn.functional.elu(x), [0.0]),
    "elu_neg": (
        lambda x: F.elu(x, alpha=-0.5),
        lambda T, x: T.nn.functional.elu(x, alpha=-0.5),
        [0.0],
    ),
    "selu": (F.selu, lambda T, x: T.nn.functional.selu(x), [0.0]),
    "celu": (lambda x: F.celu(x, 2.0), lambda T, x: T.nn.functional.celu(x, 2.0), [0.0]),
    "sigmoid": (F.sigmoid, lambda T, x: T.sigmoid(x), []),
    "tanh": (F.tanh, lambda T, x: T.tanh(x), []),
    "silu": (F.silu, lambda T, x: T.nn.functional.silu(x), []),
    "mish": (F.mish, lambda T, x: T.nn.functional.mish(x), []),
    "gelu": (F.gelu, lambda T, x: T.nn.functional.gelu(x), []),
    "gelu_tanh": (
        lambda x: F.gelu(x, approximate="tanh"),
        lambda T, x: T.nn.functional.gelu(x, approximate="tanh"),
        [],
    ),
    "softplus": (F.softplus, lambda T, x: T.nn.functional.softplus(x), [20.0]),
    "softplus_b2": (
        lambda x: F.softplus(x, beta=2.0, threshold=1.0),
        lambda T, x: T.nn.functional.softplus(x, beta=2.0, threshold=1.0),
        [0.5],
    ),
}
NAMES = list(OPS)
SHAPES = [(1,), (7,), (3, 5, 17), (2, 33, 9, 5), (70001,)]  # the last spans several blocks


def _away_from(x, kinks, gap=0.05):
    for k in kinks:
        x = np.where(np.abs(x - k) < gap, k + gap * np.sign(x - k + 1e-12) * 2, x)
    return x


# ----------------------------------------------------------------------------- elementwise


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_reference(rng, name, shape):
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    y = OPS[name][0](x)
    assert isinstance(y, pydlk.Tensor) and y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(np.asarray(y), REF[name](x.astype(np.float64)), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_forward_float64_is_tight(rng, name):
    x = rng.standard_normal((4, 9)) * 4
    np.testing.assert_allclose(np.asarray(OPS[name][0](x)), REF[name](x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(rng, name):
    fn, _, kinks = OPS[name]
    x = _away_from(rng.standard_normal((3, 5)) * 3, kinks)
    if name == "relu6":
        x[0, :3] = [6.5, 7.0, 5.5]
    assert pydlk.gradcheck(fn, (t64(x),))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(5,), (4, 7), (2, 3, 5, 6), (40000,)])
def test_matches_torch(rng, name, shape):
    torch = pytest.importorskip("torch")
    fn, tfn, _ = OPS[name]
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ty = tfn(torch, tx)
    ty.backward(torch.tensor(dy))
    px = pydlk.tensor(x, requires_grad=True)
    y = fn(px)
    y.backward(dy)
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(px.grad, tx.grad.numpy(), rtol=1e-4, atol=1e-5)


EXTREME = np.array(
    [
        -1000,
        -100,
        -88.5,
        -87,
        -30,
        -20.5,
        -1e-3,
        -0.0,
        0,
        1e-3,
        5.99,
        6,
        20.5,
        30,
        88.5,
        100,
        1000,
        np.inf,
        -np.inf,
        np.nan,
    ],
    np.float32,
)


@pytest.mark.parametrize("name", NAMES)
def test_extreme_values_like_torch(name):
    torch = pytest.importorskip("torch")
    fn, tfn, _ = OPS[name]
    tx = torch.tensor(EXTREME, requires_grad=True)
    ty = tfn(torch, tx)
    ty.backward(torch.ones(len(EXTREME)))
    px = pydlk.tensor(EXTREME, requires_grad=True)
    y = fn(px)
    y.backward(np.ones(len(EXTREME), np.float32))
    want = ty.detach().numpy().copy()
    if name == "gelu":
        # torch 2.13's exact gelu gives NaN at +inf; the limit x * Phi(x) is +inf, which we keep
        assert np.asarray(y)[EXTREME == np.inf] == np.inf and np.isnan(want[EXTREME == np.inf])
        want[EXTREME == np.inf] = np.inf
    # same NaN positions, same infinities, values within float32 rounding; below ln(FLT_MIN)
    # our float exp flushes to 0 where torch keeps denormals (differences < 1e-30)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(px.grad, tx.grad.numpy(), rtol=1e-4, atol=1e-30)


@pytest.mark.parametrize(
    "name",
    [
        "relu",
        "relu6",
        "leaky_relu",
        "elu",
        "selu",
        "sigmoid",
        "tanh",
        "silu",
        "mish",
        "gelu",
        "gelu_tanh",
        "softplus",
    ],
)
def test_nan_propagates(name):
    y = OPS[name][0](np.array([np.nan, 1.0], np.float32))
    assert np.isnan(np.asarray(y)[0]) and not np.isnan(np.asarray(y)[1])


def test_properties(rng):
    x = rng.standard_normal(1000) * 10
    s = np.asarray(F.sigmoid(x))
    np.testing.assert_allclose(np.asarray(F.sigmoid(-x)), 1 - s, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(F.tanh(-x)), -np.asarray(F.tanh(x)), rtol=1e-15)
    # f(x) - f(-x) = x for the "x times a CDF-like gate" family
    for f in (
        F.relu,
        F.silu,
        F.gelu,
        lambda v: F.softplus(v, threshold=60.0),
        lambda v: F.gelu(v, approximate="tanh"),
    ):
        np.testing.assert_allclose(np.asarray(f(x)) - np.asarray(f(-x)), x, rtol=1e-12, atol=1e-12)
    x32 = (rng.standard_normal(100000) * 8).astype(np.float32)
    assert np.all((np.asarray(F.sigmoid(x32)) >= 0) & (np.asarray(F.sigmoid(x32)) <= 1))
    assert np.all(np.abs(np.asarray(F.tanh(x32))) <= 1)
    assert np.all(np.diff(np.asarray(F.sigmoid(np.sort(x32)))) >= 0)  # monotone


def test_selu_constants_and_self_normalising(rng):
    # SELU keeps a standard normal input at mean 0, variance 1 (the point of its constants).
    y = np.asarray(F.selu(rng.standard_normal(2_000_000)))
    assert abs(y.mean()) < 3e-3 and abs(y.var() - 1) < 3e-3


def test_zero_size(rng):
    for name in NAMES:
        x = pydlk.tensor(np.zeros((0, 5), np.float32), requires_grad=True)
        y = OPS[name][0](x)
        assert y.shape == (0, 5)
        y.sum().backward()
        assert x.grad.shape == (0, 5)


def test_noncontiguous_and_float64(rng):
    base = rng.standard_normal((6, 10)) * 3
    x = base[:, ::3].T  # (4, 6), not C-contiguous
    for name in ["relu", "gelu", "silu", "elu"]:
        y = OPS[name][0](x)
        assert y.dtype == np.float64
        np.testing.assert_allclose(np.asarray(y), REF[name](x), rtol=1e-12, atol=1e-14)
    tx = pydlk.tensor(np.ascontiguousarray(x), requires_grad=True)
    F.relu(tx).backward(np.ones_like(x))
    np.testing.assert_array_equal(tx.grad, (x > 0).astype(np.float64))


def test_preallocated_out_and_in_place_kernel_calls(rng):
    x = rng.standard_normal((5, 7)).astype(np.float32)
    out = np.empty_like(x)
    r = C.gelu_forward(x, out=out)
    assert r is out
    np.testing.assert_allclose(out, REF["gelu"](x.astype(np.float64)), rtol=1e-4, atol=1e-6)
    y = x.copy()
    C.sigmoid_forward(y, out=y)  # in place
    np.testing.assert_allclose(y, REF["sigmoid"](x.astype(np.float64)), rtol=1e-5)
    dx = np.empty_like(x)
    assert C.relu_backward(np.ones_like(x), C.relu_forward(x), out=dx) is dx
    np.testing.assert_array_equal(dx, (x > 0).astype(np.float32))


# ----------------------------------------------------------------------------- in place


def test_inplace_semantics(rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    # a tensor that does not require grad: written in place, the same object returned
    t = pydlk.tensor(x)
    assert F.relu(t, inplace=True) is t
    np.testing.assert_array_equal(np.asarray(t), np.maximum(x, 0))
    # a plain array: written in place
    a = x.copy()
    r = F.leaky_relu(a, 0.1, inplace=True)
    assert np.shares_memory(np.asarray(r), a)
    np.testing.assert_allclose(a, np.where(x > 0, x, 0.1 * x), rtol=1e-6)
    # a non-contiguous array: still in place
    b = np.asfortranarray(x)
    F.relu6(b, inplace=True)
    np.testing.assert_array_equal(b, np.clip(x, 0, 6))
    # a leaf that requires grad: refused, as torch does
    leaf = pydlk.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.relu(leaf, inplace=True)
    with pydlk.no_grad():
        F.relu(leaf, inplace=True)
    np.testing.assert_array_equal(np.asarray(leaf), np.maximum(x, 0))


@pytest.mark.parametrize(
    "name,fn,ref_grad",
    [
        ("relu", lambda t: F.relu(t, inplace=True), lambda h: (h > 0) * 2.0),
        ("elu", lambda t: F.elu(t, inplace=True), lambda h: np.where(h > 0, 1, np.exp(h)) * 2.0),
        (
            "silu",
            lambda t: F.silu(t, inplace=True),
            lambda h: 2.0 * (1 / (1 + np.exp(-h))) * (1 + h * (1 - 1 / (1 + np.exp(-h)))),
        ),
    ],
)
def test_inplace_on_non_leaf_gives_the_right_gradient(rng, name, fn, ref_grad):
    x = rng.standard_normal((3, 4))
    tx = t64(x)
    h = tx * 2.0  # non-leaf
    r = fn(h)
    assert r is h and h.grad_fn is not None
    r.backward(np.ones_like(x))
    np.testing.assert_allclose(tx.grad, ref_grad(2 * x), rtol=1e-10)


# ----------------------------------------------------------------------------- softmax


def softmax_ref(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def log_softmax_ref(x, dim):
    z = x - x.max(axis=dim, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=dim, keepdims=True))


SOFT_CASES = [
    ((1, 1), 1),
    ((7, 13), 1),
    ((7, 13), 0),
    ((3, 5, 130), -1),
    ((3, 5, 130), 1),
    ((3, 5, 130), 0),
    ((2, 3, 4, 5), 2),
    ((2, 3, 4, 5), -4),
    ((17,), 0),
]


@pytest.mark.parametrize("shape,dim", SOFT_CASES)
def test_softmax_matches_reference(rng, shape, dim):
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(F.softmax(x, dim)), softmax_ref(x.astype(np.float64), dim), rtol=1e-4, atol=1e-7
    )
    np.testing.assert_allclose(
        np.asarray(F.log_softmax(x, dim)),
        log_softmax_ref(x.astype(np.float64), dim),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "shape,dim", [((3, 4), 1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 3, 2, 3), -1)]
)
@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_softmax_gradcheck(rng, shape, dim, fn):
    assert pydlk.gradcheck(lambda t: fn(t, dim), (t64(rng.standard_normal(shape) * 2),))


@pytest.mark.parametrize("shape,dim", SOFT_CASES + [((64, 1000), 1), ((8, 300, 70), 1)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_matches_torch(rng, shape, dim, log):
    torch = pytest.importorskip("torch")
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    tf = torch.log_softmax if log else torch.softmax
    pf = F.log_softmax if log else F.softmax
    tx = torch.tensor(x, requires_grad=True)
    ty = tf(tx, dim)
    ty.backward(torch.tensor(dy))
    px = pydlk.tensor(x, requires_grad=True)
    y = pf(px, dim)
    y.backward(dy)
    # log_softmax values are (x - m) - log s: near 0 their rounding is absolute (~eps |x - m|)
    np.testing.assert_allclose(
        np.asarray(y), ty.detach().numpy(), rtol=1e-5, atol=1e-5 if log else 1e-6
    )
    np.testing.assert_allclose(px.grad, tx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_softmax_properties(rng):
    x = (rng.standard_normal((50, 7, 33)) * 10).astype(np.float32)
    for dim in range(3):
        np.testing.assert_allclose(np.asarray(F.softmax(x, dim)).sum(dim), 1, rtol=1e-5)
        np.testing.assert_allclose(
            np.exp(np.asarray(F.log_softmax(x, dim)).astype(np.float64)).sum(dim), 1, rtol=1e-5
        )
        # invariant to a shift along dim
        np.testing.assert_allclose(
            np.asarray(F.softmax(x + 100, dim)), np.asarray(F.softmax(x, dim)), rtol=1e-4, atol=1e-6
        )
    # the gradient of softmax sums to 0 along dim (the outputs sum to a constant)
    tx = pydlk.tensor(x, requires_grad=True)
    F.softmax(tx, 1).backward(rng.standard_normal(x.shape).astype(np.float32))
    np.testing.assert_allclose(tx.grad.sum(1), 0, atol=1e-5)


def test_softmax_extreme_values_like_torch():
    torch = pytest.importorskip("torch")
    x = np.array(
        [
            [1000, 0, -1000],
            [-1000, -1000, -1000],
            [1e30, 1, 2],
            [np.inf, 0, 1],
            [-np.inf, 0, 1],
            [np.nan, 0, 1],
            [-np.inf, -np.inf, -np.inf],
        ],
        np.float32,
    )
    for log in (False, True):
        y = np.asarray((F.log_softmax if log else F.softmax)(x, 1))
        ty = (torch.log_softmax if log else torch.softmax)(torch.tensor(x), 1).numpy()
        np.testing.assert_allclose(y, ty, rtol=1e-6, atol=1e-30)
    np.testing.assert_array_equal(
        np.asarray(F.log_softmax(x[:1], 1)), [[0, -1000, -2000]]
    )  # no -inf


def test_softmax_dtype_argument(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    tx = pydlk.tensor(x, requires_grad=True)
    y = F.softmax(tx, 1, dtype=np.float64)
    assert y.dtype == np.float64
    np.testing.assert_allclose(np.asarray(y), softmax_ref(x.astype(np.float64), 1), rtol=1e-12)
    y.sum().backward()
    assert tx.grad.dtype == np.float32
    np.testing.assert_allclose(tx.grad, 0, atol=1e-6)


def test_softmax_zero_size_and_scalar():
    for shape, dim in [((0, 5), 1), ((0, 5), 0), ((3, 0), 1)]:
        x = pydlk.tensor(np.zeros(shape, np.float32), requires_grad=True)
        y = F.softmax(x, dim)
        assert y.shape == shape
        y.sum().backward()
        assert x.grad.shape == shape
    np.testing.assert_array_equal(np.asarray(F.softmax(np.float32(3.0), 0)), 1)
    np.testing.assert_array_equal(np.asarray(F.log_softmax(np.float64(3.0), -1)), 0)


# ----------------------------------------------------------------------------- maxout


def maxout_ref(x, k, dim):
    """Groups of k consecutive entries along dim: reshape dim into (C, k), max over the k."""
    dim = dim % x.ndim
    shape = x.shape[:dim] + (x.shape[dim] // k, k) + x.shape[dim + 1 :]
    return x.reshape(shape).max(axis=dim + 1)


@pytest.mark.parametrize(
    "shape,k,dim",
    [
        ((2, 6), 3, 1),
        ((2, 6, 5, 3), 2, 1),
        ((6, 4), 2, 0),
        ((3, 5, 8), 4, -1),
        ((4, 7), 7, 1),
        ((4, 7), 1, 1),
        ((9,), 3, 0),
    ],
)
def test_maxout_matches_reference_and_torch(rng, shape, k, dim):
    x = rng.standard_normal(shape).astype(np.float32)
    px = pydlk.tensor(x, requires_grad=True)
    y = F.maxout(px, k, dim)
    np.testing.assert_array_equal(np.asarray(y), maxout_ref(x, k, dim))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)
    assert pydlk.gradcheck(lambda t: F.maxout(t, k, dim), (t64(x),))
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    d = dim % x.ndim
    C_ = shape[d] // k
    ty = tx.unflatten(d, (C_, k)).max(d + 1).values
    ty.backward(torch.tensor(dy))
    np.testing.assert_array_equal(np.asarray(y), ty.detach().numpy())
    np.testing.assert_array_equal(px.grad, tx.grad.numpy())


def test_maxout_grouping_is_consecutive():
    x = np.array([[1, 5, 2, 0, 9, 3]], np.float32)  # groups (1, 5), (2, 0), (9, 3) for k = 2
    np.testing.assert_array_equal(np.asarray(F.maxout(x, 2)), [[5, 2, 9]])
    np.testing.assert_array_equal(np.asarray(F.maxout(x, 3)), [[5, 9]])


def test_maxout_ties_nan_and_zero_size():
    x = pydlk.tensor(np.array([[2, 2, np.nan, 1, 0, 0]], np.float32), requires_grad=True)
    y = F.maxout(x, 2)
    assert np.asarray(y)[0, 0] == 2 and np.isnan(np.asarray(y)[0, 1]) and np.asarray(y)[0, 2] == 0
    y.backward(np.ones((1, 3), np.float32))
    np.testing.assert_array_equal(x.grad, [[1, 0, 1, 0, 1, 0]])  # first of a tie; the NaN
    z = pydlk.tensor(np.zeros((0, 6), np.float32), requires_grad=True)
    F.maxout(z, 3).sum().backward()
    assert z.grad.shape == (0, 6)


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_name_the_argument():
    x = np.ones((2, 6), np.float32)
    with pytest.raises(TypeError, match="relu: input must be float32 or float64, got int64"):
        F.relu(np.ones(3, np.int64))
    with pytest.raises(TypeError, match="gelu: input must be a Tensor or an array"):
        F.gelu([1.0, 2.0])
    with pytest.raises(ValueError, match="softmax: dim 2 is out of range for a 2-D input"):
        F.softmax(x, 2)
    with pytest.raises(ValueError, match="log_softmax: dim -3 is out of range"):
        F.log_softmax(x, -3)
    with pytest.raises(ValueError, match="softmax: dim is required"):
        F.softmax(x)
    with pytest.raises(TypeError, match="softmax: dim must be an int"):
        F.softmax(x, 1.0)
    with pytest.raises(TypeError, match="softmax: dtype must be float32 or float64"):
        F.softmax(x, 1, dtype=np.int32)
    with pytest.raises(ValueError, match="maxout: pool_size 4 does not divide input's size 6"):
        F.maxout(x, 4)
    with pytest.raises(ValueError, match="maxout: pool_size must be in \\[1, 2\\*\\*31\\), got 0"):
        F.maxout(x, 0)
    with pytest.raises(ValueError, match="maxout: dim 2 is out of range"):
        F.maxout(x, 2, dim=2)
    with pytest.raises(TypeError, match="maxout: pool_size must be an int"):
        F.maxout(x, 2.0)
    with pytest.raises(ValueError, match="leaky_relu: negative_slope must be finite, got nan"):
        F.leaky_relu(x, float("nan"))
    with pytest.raises(ValueError, match="elu: alpha must be finite"):
        F.elu(x, alpha=float("inf"))
    with pytest.raises(TypeError, match="elu: alpha must be a real number"):
        F.elu(x, alpha="1")
    with pytest.raises(ValueError, match="celu: alpha must not be 0"):
        F.celu(x, alpha=0.0)
    with pytest.raises(ValueError, match="softplus: beta must not be 0"):
        F.softplus(x, beta=0)
    with pytest.raises(ValueError, match="hardtanh: min_val .* must not be greater than max_val"):
        F.hardtanh(x, 2.0, 1.0)
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        F.gelu(x, approximate="erf")


def test_bad_kernel_arguments_name_the_argument():
    x = np.ones((2, 6), np.float32)
    with pytest.raises(
        ValueError,
        match=r"relu_backward: grad_output has shape \(2, 5\) but "
        r"output has shape \(2, 6\)",
    ):
        C.relu_backward(np.ones((2, 5), np.float32), x)
    with pytest.raises(TypeError, match="silu_backward: input must have the same dtype"):
        C.silu_backward(x, x.astype(np.float64))
    with pytest.raises(TypeError, match="tanh: input must be a C-contiguous float32 or float64"):
        C.tanh_forward(x[:, ::2])
    with pytest.raises(ValueError, match=r"sigmoid: out must have shape \(2, 6\)"):
        C.sigmoid_forward(x, out=np.empty((6, 2), np.float32))
    with pytest.raises(TypeError, match="sigmoid: out must have the same dtype"):
        C.sigmoid_forward(x, out=np.empty((2, 6), np.float64))
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writable"):
        C.relu_forward(x, out=ro)
    with pytest.raises(ValueError, match="softmax_backward: dim 5 is out of range"):
        C.softmax_backward(x, x, 5)
    with pytest.raises(ValueError, match="maxout_backward: indices must lie in"):
        C.maxout_backward(np.ones((2, 3), np.float32), np.full((2, 3), 7, np.int64), 2, 1)
    with pytest.raises(TypeError, match="maxout_backward: indices must be a C-contiguous int64"):
        C.maxout_backward(np.ones((2, 3), np.float32), np.zeros((2, 3), np.int32), 2, 1)
    with pytest.raises(ValueError, match="softplus: beta must not be 0"):
        C.softplus_forward(x, 0.0)


# ----------------------------------------------------------------------------- threads


def test_one_and_two_threads_agree(rng, threads):
    x = (rng.standard_normal((300, 1001)) * 4).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)

    def run():
        out = []
        for name in NAMES:
            px = pydlk.tensor(x, requires_grad=True)
            OPS[name][0](px).backward(dy)
            out += [px.grad]
        for dim in (0, 1):
            for fn in (F.softmax, F.log_softmax):
                px = pydlk.tensor(x, requires_grad=True)
                y = fn(px, dim)
                y.backward(dy)
                out += [np.asarray(y), px.grad]
        px = pydlk.tensor(x[:, :1000], requires_grad=True)
        y = F.maxout(px, 4)
        y.backward(dy[:, :250])
        return out + [np.asarray(y), px.grad]

    def run_torch():
        # The same list from torch (float64), so that the two thread counts are not only
        # equal to each other but right.
        torch = pytest.importorskip("torch")
        out = []
        tdy = torch.tensor(dy, dtype=torch.float64)
        for name in NAMES:
            tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
            OPS[name][1](torch, tx).backward(tdy)
            out += [tx.grad.numpy()]
        for dim in (0, 1):
            for fn in (torch.softmax, torch.log_softmax):
                tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
                y = fn(tx, dim)
                y.backward(tdy)
                out += [y.detach().numpy(), tx.grad.numpy()]
        tx = torch.tensor(x[:, :1000], dtype=torch.float64, requires_grad=True)
        y = tx.unflatten(1, (250, 4)).max(2).values
        y.backward(tdy[:, :250])
        return out + [y.detach().numpy(), tx.grad.numpy()]

    threads(1)
    one = run()
    threads(2)
    two = run()
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    for a, r in zip(one, run_torch(), strict=True):
        np.testing.assert_allclose(np.asarray(a), r, rtol=1e-4, atol=1e-5)


def test_float_exp_accuracy_over_its_range():
    # sigmoid(x) = e^x / (1 + e^x) runs the shared float exp (csrc/vmath.h) on every x <= 0:
    # sweep the whole range the exp reduces (exponents -126 ... 0) against float64. The bound
    # is 2 float ulps (the polynomial is ~1 ulp; the division and the rounding add the rest).
    x = np.linspace(-86.9, 0, 200_003).astype(np.float32)
    got = np.asarray(F.sigmoid(x)).astype(np.float64)
    x64 = x.astype(np.float64)
    want = np.exp(x64) / (1 + np.exp(x64))
    assert np.max(np.abs(got / want - 1)) < 2 * 2.0**-23  # measured 1.64 ulp


@pytest.mark.parametrize("name", ["sigmoid", "silu", "elu", "softplus", "tanh"])
def test_nan_propagates_in_vector_loops(name):
    # NaN inside a long array runs through the vectorised loops (the 2-element test above stays
    # in the scalar tails): only the NaN positions are NaN
    x = np.linspace(-30, 30, 1001).astype(np.float32)
    x[[0, 17, 500, 999]] = np.nan
    y = np.asarray(OPS[name][0](x))
    assert np.array_equal(np.isnan(y), np.isnan(x))
