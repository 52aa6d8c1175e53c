"""Tensor operators: forward against NumPy written out here, backward by gradcheck in float64,
torch as an oracle for a composite expression and for tie rules, bad arguments."""

import builtins
import math

import numpy as np
import pytest
from conftest import t64

import pydlk


def f32(a):
    return pydlk.tensor(np.asarray(a, dtype=np.float32))


def check(fn, *arrays):
    """gradcheck ``fn`` with every array as a float64 leaf that requires grad."""
    assert pydlk.gradcheck(fn, tuple(t64(a) for a in arrays))


# ----------------------------------------------------------------------------- elementwise

UNARY = [
    # name, pydlk op, NumPy reference, input domain (low, high)
    ("neg", lambda x: -x, lambda a: -a, (-2, 2)),
    ("abs", lambda x: x.abs(), np.abs, (0.1, 2)),
    ("abs_neg", lambda x: pydlk.abs(x), np.abs, (-2, -0.1)),
    ("exp", lambda x: x.exp(), np.exp, (-2, 2)),
    ("log", lambda x: x.log(), np.log, (0.2, 3)),
    ("log1p", lambda x: x.log1p(), np.log1p, (-0.5, 3)),
    ("sqrt", lambda x: x.sqrt(), np.sqrt, (0.2, 3)),
    ("rsqrt", lambda x: x.rsqrt(), lambda a: 1 / np.sqrt(a), (0.2, 3)),
    ("sin", lambda x: pydlk.sin(x), np.sin, (-3, 3)),
    ("cos", lambda x: x.cos(), np.cos, (-3, 3)),
    ("square", lambda x: x.square(), lambda a: a * a, (-2, 2)),
    ("reciprocal", lambda x: x.reciprocal(), lambda a: 1 / a, (0.3, 2)),
    ("pow_scalar", lambda x: x**3, lambda a: a**3, (-2, 2)),
    ("pow_half", lambda x: x**0.5, np.sqrt, (0.2, 2)),
    ("rpow", lambda x: 2.0**x, lambda a: 2.0**a, (-2, 2)),
    ("rsub", lambda x: 1 - x, lambda a: 1 - a, (-2, 2)),
    ("rdiv", lambda x: 3 / x, lambda a: 3 / a, (0.5, 2)),
    ("clamp", lambda x: x.clamp(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), (-2, 2)),
    ("clamp_min", lambda x: x.clamp(min=0.1), lambda a: np.maximum(a, 0.1), (-2, 2)),
    ("clip_max", lambda x: pydlk.clip(x, max=0.1), lambda a: np.minimum(a, 0.1), (-2, 2)),
]


@pytest.mark.parametrize("name,op,ref,dom", UNARY, ids=[u[0] for u in UNARY])
def test_unary_forward_and_gradient(rng, name, op, ref, dom):
    a = rng.uniform(*dom, size=(3, 5))
    if name.startswith("clamp") or name.startswith("clip"):
        a[np.abs(a - 0.1) < 1e-3] += 0.01  # keep gradcheck off the kinks
    y = op(f32(a))
    assert y.dtype == np.float32 and y.shape == (3, 5)
    np.testing.assert_allclose(np.asarray(y), ref(a), rtol=1e-5, atol=1e-6)
    check(op, a)


def test_unary_on_0d_and_float64(rng):
    x = t64(1.5)
    y = x.exp() * x.sin()
    assert y.shape == () and isinstance(np.asarray(y), np.ndarray) and y.dtype == np.float64
    y.backward()
    np.testing.assert_allclose(x.grad, np.exp(1.5) * (np.sin(1.5) + np.cos(1.5)))


def test_elementwise_never_warns():
    # filterwarnings=error: log(0), 0/0 and sqrt(-1) give -inf/nan silently, as in torch
    x = f32([0.0, -1.0])
    assert np.isneginf(np.asarray(x.log())[0]) and np.isnan(np.asarray(x.sqrt())[1])
    assert np.isnan(np.asarray(x / x)[0])


BINARY = [
    ("add", lambda a, b: a + b, np.add),
    ("sub", lambda a, b: a - b, np.subtract),
    ("mul", lambda a, b: a * b, np.multiply),
    ("div", lambda a, b: a / b, np.divide),
    ("pow", lambda a, b: a**b, np.power),
    ("maximum", pydlk.maximum, np.maximum),
    ("minimum", lambda a, b: a.minimum(b), np.minimum),
    ("fn_add", pydlk.add, np.add),
    ("fn_mul", pydlk.mul, np.multiply),
    ("fn_div", pydlk.div, np.divide),
    ("fn_pow", pydlk.pow, np.power),
]
SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 1, 4), (2, 4)),
    ((2, 4), (3, 1, 4)),
    ((3, 4), ()),
    ((), (2, 3)),
    ((4, 1), (1, 5)),
]


@pytest.mark.parametrize("sa,sb", SHAPES)
@pytest.mark.parametrize("name,op,ref", BINARY, ids=[b[0] for b in BINARY])
def test_binary_broadcasting(rng, name, op, ref, sa, sb):
    a = rng.uniform(0.5, 2.0, sa)  # positive: pow and div are smooth there
    b = rng.uniform(0.5, 2.0, sb) * (-1 if name.startswith("sub") else 1)
    y = op(f32(a), f32(b))
    assert y.shape == np.broadcast_shapes(sa, sb) and y.dtype == np.float32
    np.testing.assert_allclose(np.asarray(y), ref(a, b), rtol=1e-5)
    check(op, a, b)
    ta, tb = t64(a), t64(b)
    op(ta, tb).sum().backward()
    assert ta.grad.shape == sa and tb.grad.shape == sb


@pytest.mark.parametrize("name,op,ref", BINARY[:5], ids=[b[0] for b in BINARY[:5]])
def test_binary_with_python_scalars_and_arrays(rng, name, op, ref):
    a = rng.uniform(0.5, 2.0, (2, 3))
    x = f32(a)
    for other in (1.5, 2, np.float32(0.75)):
        y = op(x, other)
        assert y.dtype == np.float32  # NumPy's weak scalars: float32 stays float32
        np.testing.assert_allclose(np.asarray(y), ref(a, other), rtol=1e-5)
    for other in (np.float64(1.5), np.int64(2)):  # NumPy scalars promote weakly, as in torch
        assert op(x, other).dtype == np.float32 and op(other, x).dtype == np.float32
    # an ndarray on the left goes to the Tensor's reflected operator, not NumPy's
    y = op(a.astype(np.float32), x)
    assert isinstance(y, pydlk.Tensor)
    np.testing.assert_allclose(np.asarray(y), ref(a, a), rtol=1e-5)
    check(lambda t: op(0.7, t), a)
    check(lambda t: op(t, 1.3), a)


def test_gradients_keep_each_input_dtype(rng):
    a32 = pydlk.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    b64 = t64(rng.standard_normal((2, 3)))
    y = a32 * b64
    assert y.dtype == np.float64
    (y.exp() + a32.double()).sum().backward()
    assert a32.grad.dtype == np.float32 and b64.grad.dtype == np.float64


def test_pow_variants_match_torch(rng):
    torch = pytest.importorskip("torch")
    a = np.array([0.0, 0.5, 2.0, 0.0, 1.5])
    b = np.array([0.0, 2.0, -1.0, 2.0, 0.5])
    for make in (lambda x, y: x**y, lambda x, y: x**2.0, lambda x, y: 3.0**y, lambda x, y: x**0.0):
        x, y = t64(a), t64(b)
        tx = torch.tensor(a, requires_grad=True)
        ty = torch.tensor(b, requires_grad=True)
        out, ref = make(x, y), make(tx, ty)
        np.testing.assert_allclose(np.asarray(out), ref.detach().numpy())
        out.sum().backward()
        ref.sum().backward()
        for mine, theirs in ((x, tx), (y, ty)):
            if theirs.grad is None:
                assert mine.grad is None
            else:
                np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), equal_nan=True)


def test_clamp_boundaries_and_tensor_bounds_match_torch(rng):
    torch = pytest.importorskip("torch")
    a = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 0.5])
    x = t64(a)
    x.clamp(-1.0, 1.0).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    tx.clamp(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())  # boundaries pass the gradient
    lo, hi = np.array([-1.0, 0.5, 1.0, 0.0, 3.0, 0.5]), np.array([0.0, 0.0, 2.0, 1.0, 2.5, 0.5])
    x, tl, th = t64(a), t64(lo), t64(hi)
    tx, ttl, tth = (torch.tensor(v, requires_grad=True) for v in (a, lo, hi))
    out = pydlk.clamp(x, tl, th)
    ref = torch.clamp(tx, ttl, tth)
    np.testing.assert_array_equal(np.asarray(out), ref.detach().numpy())
    w = np.arange(1.0, 7.0)
    (out * t64(w, False)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for mine, theirs in ((x, tx), (tl, ttl), (th, tth)):
        np.testing.assert_array_equal(mine.grad, theirs.grad.numpy())
    with pytest.raises(ValueError, match="min and max"):
        pydlk.clamp(x)


def test_maximum_minimum_ties_split_as_torch():
    torch = pytest.importorskip("torch")
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])
    for op in ("maximum", "minimum"):
        x, y = t64(a), t64(b)
        getattr(pydlk, op)(x, y).sum().backward()
        tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        getattr(torch, op)(tx, ty).sum().backward()
        np.testing.assert_array_equal(x.grad, tx.grad.numpy())
        np.testing.assert_array_equal(y.grad, ty.grad.numpy())


def test_where(rng):
    a, b = rng.standard_normal((3, 1, 4)), rng.standard_normal((2, 4))
    cond = rng.standard_normal((3, 2, 4)) > 0
    y = pydlk.where(pydlk.tensor(cond), f32(a), f32(b))
    np.testing.assert_allclose(np.asarray(y), np.where(cond, a, b), rtol=1e-6)
    check(lambda x, z: pydlk.where(pydlk.tensor(cond), x, z), a, b)
    check(lambda x: pydlk.where(pydlk.tensor(cond), x, 0.0), a)
    rows, cols = pydlk.where(pydlk.tensor(np.array([[True, False], [False, True]])))
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1] and rows.dtype == np.int64
    with pytest.raises(TypeError, match="condition must be a bool"):
        pydlk.where(f32([1.0]), f32([1.0]), f32([2.0]))


def test_comparisons_are_bool_and_carry_no_grad(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    a[0, 0] = b[0]
    x = pydlk.tensor(a, requires_grad=True)
    y = pydlk.tensor(b)
    for got, ref in (
        (x == y, a == b),
        (x != y, a != b),
        (x < y, a < b),
        (x <= y, a <= b),
        (x > y, a > b),
        (x >= y, a >= b),
        (x > 0, a > 0),
        (0 < x, 0 < a),
        (pydlk.eq(x, 0.5), a == 0.5),
        (x.ge(y), a >= b),
    ):
        assert got.dtype == np.bool_ and not got.requires_grad and got.grad_fn is None
        np.testing.assert_array_equal(np.asarray(got), ref)
    assert (x == None) is False and (x != None) is True  # noqa: E711 (as torch)
    m = x > 0
    np.testing.assert_array_equal(np.asarray(~m), ~(a > 0))
    np.testing.assert_array_equal(np.asarray(m & (x < 1)), (a > 0) & (a < 1))
    np.testing.assert_array_equal(np.asarray(m | (x < -1)), (a > 0) | (a < -1))


def test_floor_division_and_remainder_follow_python(rng):
    a = np.array([7.0, -7.0, 7.5, -7.5, 0.0])
    x = pydlk.tensor(a, requires_grad=True)
    q, r = x // 2, x % 2
    assert not q.requires_grad and r.requires_grad  # remainder has a gradient, as torch's
    np.testing.assert_array_equal(np.asarray(q), [v // 2 for v in a])
    np.testing.assert_array_equal(np.asarray(r), [v % 2 for v in a])
    np.testing.assert_array_equal(np.asarray(x % -3), [v % -3 for v in a])
    np.testing.assert_array_equal(np.asarray(10 // pydlk.tensor([3, -3])), [3, -4])
    ints = pydlk.tensor([7, -7])
    assert (ints // 2).dtype == np.int64 and (ints // 2).tolist() == [3, -4]
    assert pydlk.remainder(ints, 3).tolist() == [1, 2]


def test_sign_and_rounding_have_zero_gradient():
    x = t64([-1.5, 0.0, 2.5])
    s = x.sign()
    assert s.tolist() == [-1.0, 0.0, 1.0] and s.requires_grad  # recorded, as torch
    assert x.floor().tolist() == [-2.0, 0.0, 2.0] and x.ceil().tolist() == [-1.0, 0.0, 3.0]
    assert pydlk.round(x).tolist() == [-2.0, 0.0, 2.0]  # half to even, as torch
    (x * s).sum().backward()  # sign's own gradient is zero
    np.testing.assert_array_equal(x.grad, [-1.0, 0.0, 1.0])


def test_lecture_penalties():
    rng = np.random.default_rng(7)
    w0 = rng.standard_normal((4, 3))
    x0, lam = rng.standard_normal((5, 4)), 0.3
    w = t64(w0)
    loss = ((t64(x0, False) @ w) ** 2).mean()
    (loss + lam * (w * w).sum()).backward()
    g_data = 2 * x0.T @ (x0 @ w0) / (5 * 3)
    np.testing.assert_allclose(w.grad, g_data + 2 * lam * w0, rtol=1e-12)
    w = t64(w0)
    (lam * (w * w).sum()).backward()
    np.testing.assert_allclose(w.grad, 2 * lam * w0, rtol=1e-14)
    w = t64(w0)
    w.abs().sum().backward()
    np.testing.assert_array_equal(w.grad, np.sign(w0))
    w = pydlk.tensor(w0.astype(np.float32), requires_grad=True)  # float32 weights too
    (0.5 * (w * w).sum() + 0.1 * w.abs().sum()).backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_allclose(w.grad, w0 + 0.1 * np.sign(w0), rtol=1e-6)


# ----------------------------------------------------------------------------- products

MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((4,), (2, 4, 5)),
    ((2, 3, 4), (4,)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((3, 4), (2, 4, 5)),
    ((1, 4), (4, 1)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_shapes(rng, sa, sb):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    y = f32(a) @ f32(b)
    ref = np.einsum(
        "...ij,...jk->...ik",
        np.atleast_2d(a) if a.ndim == 1 else a,
        b[:, None] if b.ndim == 1 else b,
    )
    if a.ndim == 1:
        ref = ref[..., 0, :]
    if b.ndim == 1:
        ref = ref[..., 0]
    assert y.shape == ref.shape and y.dtype == np.float32
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-4, atol=1e-5)
    check(lambda x, z: x @ z, a, b)
    check(pydlk.matmul, a, b)


def test_matmul_gradients_match_torch(rng):
    torch = pytest.importorskip("torch")
    for sa, sb in MATMUL_SHAPES:
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        x, z = t64(a), t64(b)
        tx, tz = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        out, ref = x @ z, tx @ tz
        dy = rng.standard_normal(ref.shape)
        out.backward(dy)
        ref.backward(torch.tensor(dy))
        np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(z.grad, tz.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_mm_bmm_mv_dot_outer_t(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    np.testing.assert_allclose(np.asarray(pydlk.mm(t64(a), t64(b))), a @ b)
    check(pydlk.mm, a, b)
    p, q = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5))
    np.testing.assert_allclose(
        np.asarray(pydlk.bmm(t64(p), t64(q))), np.stack([p[i] @ q[i] for i in range(2)])
    )
    check(pydlk.bmm, p, q)
    v, u = rng.standard_normal(4), rng.standard_normal(4)
    np.testing.assert_allclose(np.asarray(pydlk.mv(t64(a), t64(v))), a @ v)
    d = pydlk.dot(t64(v), t64(u))
    assert d.shape == () and np.isclose(d.item(), builtins.sum(v * u))
    check(pydlk.dot, v, u)
    o = pydlk.outer(t64(v), t64(u[:3]))
    np.testing.assert_allclose(np.asarray(o), v[:, None] * u[None, :3])
    check(pydlk.outer, v, u[:3])
    np.testing.assert_array_equal(np.asarray(t64(a).t()), a.T)
    np.testing.assert_array_equal(np.asarray(t64(v).t()), v)
    check(lambda x: x.t() @ x, a)


def test_matmul_bad_shapes_name_the_problem(rng):
    a, b = f32(np.ones((2, 3))), f32(np.ones((4, 5)))
    with pytest.raises(
        ValueError,
        match=r"matmul: shapes \(2, 3\) and \(4, 5\) cannot be "
        r"multiplied \(3 != 4\)",
    ):
        a @ b
    with pytest.raises(ValueError, match="at least 1 dimension"):
        pydlk.matmul(f32(1.0), a)
    with pytest.raises(ValueError, match="batch dimensions"):
        f32(np.ones((2, 2, 3))) @ f32(np.ones((3, 3, 4)))
    with pytest.raises(ValueError, match="mm: both arguments must be 2-D"):
        pydlk.mm(f32(np.ones(3)), a)
    with pytest.raises(ValueError, match="bmm: batch sizes differ"):
        pydlk.bmm(f32(np.ones((2, 2, 3))), f32(np.ones((3, 3, 4))))
    with pytest.raises(ValueError, match="dot: sizes differ"):
        pydlk.dot(f32(np.ones(3)), f32(np.ones(4)))
    with pytest.raises(ValueError, match="t: expects a tensor with <= 2 dimensions"):
        f32(np.ones((2, 2, 2))).t()


# ----------------------------------------------------------------------------- reductions


@pytest.mark.parametrize(
    "dim,keepdim",
    [
        (None, False),
        (0, False),
        (1, True),
        (-1, False),
        ((0, 2), False),
        ((0, 2), True),
        ((-1, 1), True),
    ],
)
def test_sum_mean_prod(rng, dim, keepdim):
    a = rng.uniform(0.5, 1.5, (2, 3, 4))
    axis = dim if dim is None or isinstance(dim, int) else tuple(dim)
    for name, ref in (("sum", np.sum), ("mean", np.mean)):
        y = getattr(f32(a), name)(dim=dim, keepdim=keepdim)
        assert y.dtype == np.float32
        np.testing.assert_allclose(np.asarray(y), ref(a, axis=axis, keepdims=keepdim), rtol=1e-5)
        check(lambda x: getattr(pydlk, name)(x, dim, keepdim), a)
    if dim is None or isinstance(dim, int):
        y = f32(a).prod(dim, keepdim=keepdim)
        np.testing.assert_allclose(np.asarray(y), np.prod(a, axis=dim, keepdims=keepdim), rtol=1e-5)
        check(lambda x: x.prod(dim, keepdim=keepdim), a)


def test_prod_gradient_with_zeros(rng):
    torch = pytest.importorskip("torch")
    a = rng.uniform(0.5, 1.5, (3, 4))
    a[0, 1] = 0.0  # one zero in row 0
    a[1, 0] = a[1, 2] = 0.0  # two zeros in row 1
    check(lambda x: x.prod(1), a)
    check(lambda x: x.prod(), a[2:])
    for dim in (None, 1):
        x, tx = t64(a), torch.tensor(a, requires_grad=True)
        (x.prod() if dim is None else x.prod(dim)).sum().backward()
        (tx.prod() if dim is None else tx.prod(dim)).sum().backward()
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=1e-15)


def test_sum_of_bool_and_int_and_dtype_argument():
    m = pydlk.tensor([[True, False, True]])
    assert m.sum().dtype == np.int64 and m.sum().item() == 2
    assert pydlk.tensor([1, 2, 3]).sum(dtype=pydlk.float64).dtype == np.float64
    assert f32([1.0, 2.0]).mean(dtype=pydlk.float64).dtype == np.float64
    big = pydlk.ones(70000, dtype=pydlk.float16)  # more than float16 can count to
    assert big.mean().dtype == np.float16 and big.mean().item() == 1.0
    with pytest.raises(TypeError, match=r"mean: input dtype must be floating point.*\.float\(\)"):
        pydlk.tensor([1, 2]).mean()
    assert pydlk.tensor([1, 2]).float().mean().item() == 1.5


def test_reductions_over_empty_and_0d():
    e = pydlk.zeros(0, 3)
    assert e.sum().item() == 0.0 and e.sum(0).tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(e.mean().item())
    s = t64(2.0)
    assert s.sum(0).item() == 2.0 and s.mean(dim=-1).item() == 2.0
    with pytest.raises(ValueError, match="size 0"):
        e.max()


def test_max_min_full_reduction_spreads_ties_like_torch():
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 3.0, 3.0], [2.0, 3.0, -1.0]])
    for op in ("max", "min", "amax", "amin"):
        x, tx = t64(a), torch.tensor(a, requires_grad=True)
        y, ty = getattr(x, op)(), getattr(tx, op)()
        assert y.shape == () and y.item() == ty.item()
        y.backward()
        ty.backward()
        np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    x = t64(a)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [[0, 1 / 3, 1 / 3], [0, 1 / 3, 0]])


@pytest.mark.parametrize("dim,keepdim", [(0, False), (1, False), (-1, True), (0, True)])
def test_max_min_with_dim_return_values_indices_first_argmax_like_torch(dim, keepdim):
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, 5.0], [2.0, 0.0, -1.0, 5.0]])
    for op in ("max", "min"):
        x, tx = t64(a), torch.tensor(a, requires_grad=True)
        r, tr = getattr(x, op)(dim, keepdim), getattr(tx, op)(dim, keepdim)
        assert type(r).__name__ == op and r._fields == ("values", "indices")
        values, indices = r
        assert values is r.values and r[1] is r.indices
        assert indices.dtype == np.int64 and not indices.requires_grad
        ref = getattr(np, op)(a, axis=dim, keepdims=keepdim)
        ref_i = getattr(np, "arg" + op)(a, axis=dim)
        if keepdim:
            ref_i = np.expand_dims(ref_i, dim)
        np.testing.assert_array_equal(np.asarray(values), ref)
        np.testing.assert_array_equal(np.asarray(indices), ref_i)  # first extremum
        np.testing.assert_array_equal(np.asarray(indices), tr.indices.numpy())
        dy = np.arange(1.0, 1.0 + ref.size).reshape(ref.shape)
        values.backward(dy)
        tr.values.backward(torch.tensor(dy))
        np.testing.assert_array_equal(x.grad, tx.grad.numpy())  # all to the first extremum
    b = np.random.default_rng(3).standard_normal((3, 4))
    check(lambda x: x.max(dim, keepdim).values, b)
    check(lambda x: pydlk.min(x, dim=dim, keepdim=keepdim).values, b)


def test_max_of_two_tensors_and_argmax_argmin(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_array_equal(np.asarray(pydlk.max(t64(a), t64(b))), np.maximum(a, b))
    np.testing.assert_array_equal(np.asarray(pydlk.min(t64(a), t64(b))), np.minimum(a, b))
    x = t64(a)
    assert x.argmax().item() == np.argmax(a) and x.argmin().item() == np.argmin(a)
    np.testing.assert_array_equal(np.asarray(x.argmax(1)), np.argmax(a, 1))
    np.testing.assert_array_equal(
        np.asarray(pydlk.argmin(x, 0, keepdim=True)), np.argmin(a, 0)[None]
    )
    assert x.argmax(1).dtype == np.int64 and not x.argmax(1).requires_grad


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 1), False)])
def test_amax_amin(rng, dim, keepdim):
    a = rng.standard_normal((3, 4, 2))
    axis = dim if dim is None or isinstance(dim, int) else tuple(dim)
    d = () if dim is None else dim
    np.testing.assert_array_equal(
        np.asarray(t64(a).amax(d, keepdim)), np.max(a, axis=axis, keepdims=keepdim)
    )
    np.testing.assert_array_equal(
        np.asarray(pydlk.amin(t64(a), d, keepdim)), np.min(a, axis=axis, keepdims=keepdim)
    )
    check(lambda x: x.amax(d, keepdim), a)
    check(lambda x: x.amin(d, keepdim), a)


def test_amax_ties_with_dim_match_torch():
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    x, tx = t64(a), torch.tensor(a, requires_grad=True)
    x.amax(1).sum().backward()
    tx.amax(1).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())


@pytest.mark.parametrize(
    "kwargs,ddof",
    [
        ({}, 1),
        ({"unbiased": False}, 0),
        ({"correction": 0}, 0),
        ({"correction": 2}, 2),
        ({"unbiased": True}, 1),
    ],
)
@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 2), False)])
def test_var_std(rng, kwargs, ddof, dim, keepdim):
    a = rng.standard_normal((4, 3, 5))
    axis = dim if dim is None or isinstance(dim, int) else tuple(dim)
    for op, ref in (("var", np.var), ("std", np.std)):
        y = getattr(f32(a), op)(dim, keepdim=keepdim, **kwargs)
        assert y.dtype == np.float32
        np.testing.assert_allclose(
            np.asarray(y), ref(a, axis=axis, ddof=ddof, keepdims=keepdim), rtol=1e-5
        )
        check(lambda x: getattr(pydlk, op)(x, dim, keepdim=keepdim, **kwargs), a)


def test_var_std_match_torch_and_edge_cases(rng):
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((3, 4))
    assert np.isclose(t64(a).var(False).item(), torch.tensor(a).var(False).item())
    assert np.isclose(t64(a).std(1, True)[0].item(), torch.tensor(a).std(1, True)[0].item())
    assert np.isnan(t64([1.0]).var().item())  # N - 1 = 0, as torch
    x = t64(np.full(4, 2.0))
    x.std().backward()  # std 0: gradient 0, not nan (torch)
    np.testing.assert_array_equal(x.grad, np.zeros(4))
    with pytest.raises(ValueError, match="either unbiased or correction"):
        t64(a).var(unbiased=True, correction=0)


@pytest.mark.parametrize("p", [2, 1, 3, 0.5, math.inf, -math.inf, "fro"])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), (0, True), ((0, 1), False)])
def test_norm(rng, p, dim, keepdim):
    torch = pytest.importorskip("torch")
    a = rng.uniform(0.2, 1.5, (3, 4)) * rng.choice([-1, 1], (3, 4))
    y = f32(a).norm(p, dim, keepdim)
    ta = torch.tensor(a, requires_grad=True)
    ref = torch.linalg.vector_norm(ta, 2 if p == "fro" else p, dim, keepdim)
    np.testing.assert_allclose(np.asarray(y), ref.detach().numpy(), rtol=1e-5)
    check(lambda x: pydlk.norm(x, p, dim, keepdim), a)
    x = t64(a)
    x.norm(p, dim, keepdim).sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(x.grad, ta.grad.numpy(), rtol=1e-10)


def test_norm_zero_vector_and_p0():
    x = t64(np.zeros(3))
    x.norm().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(3))  # 0 at the kink, as torch
    assert t64([0.0, 2.0, -1.0]).norm(0).item() == 2.0
    assert t64(np.eye(2)).norm("nuc").item() == 2.0  # the sum of the singular values


def test_logsumexp(rng):
    a = rng.standard_normal((3, 4)) * 3
    for dim, keepdim in ((1, False), (0, True), ((0, 1), False)):
        axis = dim if isinstance(dim, int) else tuple(dim)
        m = np.max(a, axis=axis, keepdims=True)
        ref = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
        ref = ref if keepdim else np.squeeze(ref, axis)
        np.testing.assert_allclose(np.asarray(t64(a).logsumexp(dim, keepdim)), ref, rtol=1e-12)
        check(lambda x: pydlk.logsumexp(x, dim, keepdim), a)
    big = f32([1000.0, 1000.0, -1000.0])  # no overflow
    np.testing.assert_allclose(big.logsumexp(0).item(), 1000 + np.log(2), rtol=1e-6)
    assert pydlk.logsumexp(f32([-np.inf, -np.inf]), 0).item() == -np.inf


def test_cumsum_all_any(rng):
    a = rng.standard_normal((3, 4))
    np.testing.assert_allclose(np.asarray(t64(a).cumsum(1)), np.cumsum(a, 1))
    check(lambda x: x.cumsum(0), a)
    m = pydlk.tensor(a > 0)
    assert m.all().item() == bool(np.all(a > 0)) and m.any().item() == bool(np.any(a > 0))
    np.testing.assert_array_equal(np.asarray(m.all(1)), np.all(a > 0, 1))
    np.testing.assert_array_equal(
        np.asarray(pydlk.any(m, 0, keepdim=True)), np.any(a > 0, 0, keepdims=True)
    )


# ----------------------------------------------------------------------------- shape ops


def test_reshape_view_flatten(rng):
    a = rng.standard_normal((2, 3, 4))
    x = f32(a)
    np.testing.assert_array_equal(np.asarray(x.reshape(6, 4)), a.reshape(6, 4).astype(np.float32))
    assert x.reshape((4, -1)).shape == (4, 6) and x.view(-1).shape == (24,)
    assert np.shares_memory(np.asarray(x.view(24)), np.asarray(x))  # a view, as torch
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert x.flatten(0, 1).shape == (6, 4) and x.flatten(-2, -1).shape == (2, 12)
    assert f32(3.0).flatten().shape == (1,)
    assert x.unflatten(2, (2, 2)).shape == (2, 3, 2, 2)
    check(lambda t: t.reshape(4, 6) * t.view(4, 6), a)
    check(lambda t: t.flatten(1), a)
    with pytest.raises(
        ValueError,
        match=r"reshape: shape \[5, -1\] is invalid for input of "
        r"size 24",
    ):
        x.reshape(5, -1)
    with pytest.raises(ValueError, match="invalid for input of size 24"):
        x.view(25)


def test_unsqueeze_squeeze(rng):
    a = rng.standard_normal((3, 1, 4, 1))
    x = f32(a)
    assert x.squeeze().shape == (3, 4) and x.squeeze(1).shape == (3, 4, 1)
    assert x.squeeze(0).shape == (3, 1, 4, 1)  # not size 1: unchanged, as torch
    assert x.squeeze((1, 3)).shape == (3, 4)
    assert x.unsqueeze(0).shape == (1, 3, 1, 4, 1) and x.unsqueeze(-1).shape == (3, 1, 4, 1, 1)
    assert f32(np.ones(3)).unsqueeze(1).shape == (3, 1)
    assert pydlk.unsqueeze(f32(np.ones(3)), 1).shape == (3, 1)
    check(lambda t: t.squeeze().unsqueeze(0), a)
    with pytest.raises(IndexError, match="unsqueeze: dim 6 is out of range"):
        x.unsqueeze(6)


def test_transpose_permute_T_mT(rng):
    a = rng.standard_normal((2, 3, 4))
    x = f32(a)
    np.testing.assert_array_equal(
        np.asarray(x.transpose(0, 2)), np.swapaxes(a, 0, 2).astype(np.float32)
    )
    np.testing.assert_array_equal(
        np.asarray(x.permute(2, 0, 1)), np.transpose(a, (2, 0, 1)).astype(np.float32)
    )
    np.testing.assert_array_equal(
        np.asarray(x.permute((1, 2, 0))), np.transpose(a, (1, 2, 0)).astype(np.float32)
    )
    np.testing.assert_array_equal(np.asarray(x.mT), np.swapaxes(a, -1, -2).astype(np.float32))
    b = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(np.asarray(f32(b).T), b.T.astype(np.float32))
    check(lambda t: t.permute(2, 0, 1), a)
    check(lambda t: t.transpose(-1, 0) * 2, a)
    check(lambda t: t.mT @ t, a)
    check(lambda t: t.T, b)
    with pytest.raises(ValueError, match="permute: got 2 dims"):
        x.permute(0, 1)
    with pytest.raises(ValueError, match="repeat a dimension"):
        x.permute(0, 1, 1)
    with pytest.raises(IndexError, match="transpose: dim 3 is out of range"):
        x.transpose(0, 3)
    with pytest.raises(ValueError, match="mT: needs a tensor with at least 2"):
        f32(np.ones(3)).mT


def test_expand_repeat_flip(rng):
    a = rng.standard_normal((3, 1))
    x = f32(a)
    assert x.expand(2, 3, 4).shape == (2, 3, 4) and x.expand(-1, 5).shape == (3, 5)
    np.testing.assert_array_equal(
        np.asarray(x.expand(3, 4)), np.broadcast_to(a, (3, 4)).astype(np.float32)
    )
    assert x.expand_as(f32(np.ones((3, 2)))).shape == (3, 2)
    check(lambda t: t.expand(2, 3, 4), a)
    np.testing.assert_array_equal(np.asarray(x.repeat(2, 3)), np.tile(a, (2, 3)).astype(np.float32))
    assert x.repeat(2, 1, 3).shape == (2, 3, 3)
    check(lambda t: t.repeat(2, 3), a)
    check(lambda t: t.repeat(2, 2, 1), rng.standard_normal((2, 3)))
    b = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(np.asarray(f32(b).flip(1)), b[:, ::-1].astype(np.float32))
    np.testing.assert_array_equal(
        np.asarray(pydlk.flip(f32(b), (0, 1))), b[::-1, ::-1].astype(np.float32)
    )
    check(lambda t: t.flip(0) * t, b)
    with pytest.raises(
        ValueError,
        match="expand: the expanded size 4 must match the existing size 3 at dimension 0",
    ):
        x.expand(4, 2)
    with pytest.raises(ValueError, match="repeat: the number of repeats"):
        x.repeat(2)


def test_contiguous_clone_and_non_contiguous_inputs(rng):
    a = rng.standard_normal((3, 4))
    x = f32(a)
    assert x.contiguous() is x and x.is_contiguous()
    xt = x.T
    assert not xt.is_contiguous() and xt.contiguous().is_contiguous()
    c = x.clone()
    assert not np.shares_memory(np.asarray(c), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(c), np.asarray(x))
    check(lambda t: t.T.contiguous() * t.clone().T, a)
    # ops on a non-contiguous view give the same as on its copy
    y = (xt.exp() * xt).sum(1)
    np.testing.assert_allclose(np.asarray(y), (np.exp(a.T) * a.T).sum(1), rtol=1e-5)


def test_getitem_basic(rng):
    a = rng.standard_normal((3, 4, 5))
    x = f32(a)
    for key in (
        1,
        -1,
        (0, 2),
        slice(1, 3),
        (slice(None), 2),
        (..., 1),
        (None, 1),
        (0, None, slice(None, None, 2)),
        (Ellipsis, None),
        (1, 2, 3),
    ):
        got = x[key]
        assert isinstance(np.asarray(got), np.ndarray)
        np.testing.assert_array_equal(np.asarray(got), a[key].astype(np.float32))
        check(lambda t: t[key], a)
    assert np.shares_memory(np.asarray(x[1:3]), np.asarray(x))  # basic indexing is a view
    assert x[1, 2, 3].shape == () and x[1, 2, 3].item() == np.float32(a[1, 2, 3])


def test_getitem_advanced_and_repeated_indices_accumulate(rng):
    a = rng.standard_normal((4, 3))
    x = t64(a)
    idx = [0, 2, 0, 0, 3]
    y = x[idx]
    np.testing.assert_array_equal(np.asarray(y), a[idx])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.array([3, 0, 1, 1])[:, None] * np.ones((1, 3)))
    x = t64(a)
    x[pydlk.tensor([1, 1]), pydlk.tensor([2, 2])].sum().backward()
    expect = np.zeros((4, 3))
    expect[1, 2] = 2
    np.testing.assert_array_equal(x.grad, expect)
    mask = a > 0
    x = t64(a)
    np.testing.assert_array_equal(np.asarray(x[pydlk.tensor(mask)]), a[mask])
    x[pydlk.tensor(mask)].sum().backward()
    np.testing.assert_array_equal(x.grad, mask.astype(np.float64))
    check(lambda t: t[[3, 3, 1], 1:], a)
    check(lambda t: t[:, np.array([2, 0, 2])], a)
    check(lambda t: t[np.array([[0, 1], [1, 1]])], a)
    with pytest.raises(IndexError):
        x[10]


def test_setitem_rules(rng):
    x = f32(np.zeros((2, 3)))
    x[0, 1] = 5.0
    x[1] = f32([1.0, 2.0, 3.0])
    x[x > 2] = -1.0
    np.testing.assert_array_equal(np.asarray(x), [[0, -1, 0], [1, 2, -1]])
    w = pydlk.tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w[0] = 1.0
    with pydlk.no_grad():
        w[0] = 1.0
    assert np.asarray(w)[0] == 1.0
    h = w * 2
    h[1] = 0.0  # recorded, as torch records it: h's history now ends in the assignment
    x[0] = w.detach()
    np.testing.assert_array_equal(np.asarray(x)[0], [1, 0, 0])
    x[1] = w  # recorded too: x is no longer a leaf
    assert x.requires_grad and not x.is_leaf
    (h.sum() + x.sum()).backward()
    np.testing.assert_array_equal(np.asarray(w.grad), [3, 1, 3])


def test_iteration_and_len(rng):
    a = rng.standard_normal((3, 2))
    x = t64(a)
    rows = list(x)
    assert len(rows) == len(x) == 3
    builtins.sum(r.sum() for r in rows).backward()  # the builtin sum over tensors
    np.testing.assert_array_equal(x.grad, np.ones((3, 2)))


def test_cat_stack(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    np.testing.assert_array_equal(
        np.asarray(pydlk.cat([f32(a), f32(b)])), np.concatenate([a, b]).astype(np.float32)
    )
    c = rng.standard_normal((2, 5))
    assert pydlk.cat((f32(a), f32(c)), dim=1).shape == (2, 8)
    assert pydlk.cat([f32(a), f32(c)], -1).shape == (2, 8)
    check(lambda x, y: pydlk.cat([x, y, x], 0), a, b)
    check(lambda x, y: pydlk.concat([x, y], dim=-1), a, c)
    check(lambda x: pydlk.cat([x, f32(np.ones((1, 3))).double()]), a)  # one input constant
    d = rng.standard_normal((2, 3))
    for dim in (0, 1, 2, -1):
        np.testing.assert_array_equal(
            np.asarray(pydlk.stack([t64(a), t64(d)], dim)), np.stack([a, d], dim)
        )
        check(lambda x, y: pydlk.stack([x, y], dim), a, d)
    # dtypes promote as NumPy
    assert pydlk.cat([f32(a), t64(d, False)]).dtype == np.float64


def test_cat_stack_bad_arguments(rng):
    a, b = f32(np.ones((2, 3))), f32(np.ones((2, 4)))
    with pytest.raises(
        ValueError,
        match="cat: sizes of tensors must match except in "
        "dimension 0; tensor 1 has size 4 in dimension 1, "
        "expected 3",
    ):
        pydlk.cat([a, b])
    with pytest.raises(ValueError, match="cat: tensor 1 has 1 dimensions, tensor 0 has 2"):
        pydlk.cat([a, f32(np.ones(3))])
    with pytest.raises(ValueError, match="non-empty"):
        pydlk.cat([])
    with pytest.raises(TypeError, match="list or tuple"):
        pydlk.cat(a)
    with pytest.raises(IndexError, match="cat: dim 2 is out of range"):
        pydlk.cat([a, a], 2)
    with pytest.raises(ValueError, match="stack: all tensors must have the same shape; tensor 1"):
        pydlk.stack([a, b])


def test_split_chunk_unbind(rng):
    a = rng.standard_normal((5, 4))
    x = f32(a)
    parts = x.split(2)
    assert [p.shape for p in parts] == [(2, 4), (2, 4), (1, 4)]
    np.testing.assert_array_equal(np.asarray(parts[2]), a[4:].astype(np.float32))
    assert [p.shape for p in pydlk.split(x, [1, 3], dim=1)] == [(5, 1), (5, 3)]
    assert [p.shape for p in x.chunk(2, 1)] == [(5, 2), (5, 2)]
    assert [p.shape for p in x.chunk(3)] == [(2, 4), (2, 4), (1, 4)]
    assert [p.shape for p in f32(np.ones(2)).chunk(3)] == [(1,), (1,)]  # fewer, as torch
    assert [p.shape for p in x.unbind(1)] == [(5,)] * 4
    check(lambda t: pydlk.split(t, 2)[1], a)  # pieces without grad: zeros
    check(lambda t: tuple(p * (i + 1) for i, p in enumerate(t.split([1, 1, 2], 1))), a)
    check(lambda t: t.chunk(2)[0].sum() + t.unbind(0)[4].sum(), a)
    with pytest.raises(
        ValueError,
        match=r"split: sections \[1, 2\] must be non-negative and "
        r"sum to the size 5",
    ):
        x.split([1, 2])
    with pytest.raises(ValueError, match="split_size must be positive"):
        x.split(0)


# ----------------------------------------------------------------------------- conversions


def test_dtype_conversions_are_differentiable(rng):
    a = rng.standard_normal(4)
    x = t64(a)
    y = x.float()
    assert y.dtype == np.float32 and y.requires_grad
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, np.full(4, 2.0))
    check(lambda t: t.to(np.float64, copy=True) * t.double(), a)
    x = t64(a)
    (x.float().double() * 3).sum().backward()  # the gradient passes both casts
    np.testing.assert_array_equal(x.grad, np.full(4, 3.0))
    z = f32(a)
    assert z.double().dtype == np.float64 and z.half().dtype == np.float16
    assert z.to("float64").dtype == np.float64 and z.to(t64(a)).dtype == np.float64
    assert z.float() is z and z.to("cpu") is z and z.cpu() is z and z.to(np.float32) is z
    assert z.to(np.float32, copy=True) is not z
    i = x.long()
    assert i.dtype == np.int64 and not i.requires_grad  # integer outputs carry no grad
    assert x.int().dtype == np.int32 and (x > 0).float().dtype == np.float32
    assert x.bool().dtype == np.bool_ and z.type_as(x).dtype == np.float64
    assert z.is_floating_point() and not i.is_floating_point()
    assert pydlk.float64 == np.float64 and pydlk.long == np.int64 and pydlk.bool == np.bool_
    assert pydlk.float == np.float32 and pydlk.int == np.int32 and pydlk.double == np.float64


def test_size_numel_item():
    x = pydlk.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.numel() == 24 and pydlk.numel(x) == 24 and x.dim() == 3
    assert f32([2.5]).item() == 2.5 and isinstance(pydlk.tensor([3]).item(), int)
    with pytest.raises(ValueError, match="item: tensor has 24 elements"):
        x.item()


def test_cuda_absent_or_present():
    try:
        import cupy  # noqa: F401

        has_cupy = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001
        has_cupy = False
    x = f32([1.0, 2.0])
    if not has_cupy:
        with pytest.raises(RuntimeError, match="cuda: (CuPy is not installed|no)"):
            x.cuda()
        with pytest.raises(RuntimeError, match="cuda"):
            x.to("cuda")
        with pytest.raises(RuntimeError, match="cuda"):
            pydlk.zeros(2, device="cuda")
        return
    w = pydlk.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    g = w.cuda()
    assert g.device == "cuda:0"
    y = (g * g).sum() + g.abs().sum() + (g @ g) + g[[0, 0]].sum()
    y.backward()
    np.testing.assert_allclose(
        w.grad, 2 * np.asarray(w) + np.sign(np.asarray(w)) + 2 * np.asarray(w) + [2, 0, 0]
    )
    assert pydlk.randn(3, device="cuda").device == "cuda:0"


def test_bad_device_is_refused():
    with pytest.raises(ValueError, match="invalid device 'tpu'"):
        f32([1.0]).to("tpu")


# ----------------------------------------------------------------------------- factories


def test_factories_shapes_dtypes_requires_grad():
    for make in (pydlk.zeros, pydlk.ones, pydlk.empty, pydlk.rand, pydlk.randn):
        for t in (make(2, 3), make((2, 3)), make([2, 3]), make(size=(2, 3))):
            assert t.shape == (2, 3) and t.dtype == np.float32 and not t.requires_grad
        t = make(2, dtype=pydlk.float64, requires_grad=True)
        assert t.dtype == np.float64 and t.requires_grad and t.is_leaf
    assert pydlk.zeros(3).tolist() == [0, 0, 0] and pydlk.ones(2).tolist() == [1, 1]
    assert pydlk.zeros(()).shape == () and pydlk.zeros(0, 2).shape == (0, 2)
    assert pydlk.zeros(2, dtype=pydlk.int64).dtype == np.int64
    with pytest.raises(RuntimeError, match="only floating-point tensors can require"):
        pydlk.zeros(2, dtype=pydlk.int64, requires_grad=True)
    with pytest.raises(ValueError, match="negative dimension"):
        pydlk.zeros(2, -1)
    f = pydlk.full((2, 2), 7)
    assert f.dtype == np.int64 and f.tolist() == [[7, 7], [7, 7]]
    assert pydlk.full((2,), 1.5).dtype == np.float32 and pydlk.full((1,), True).dtype == np.bool_
    x = pydlk.tensor(np.ones((2, 3)))
    for like in (
        pydlk.zeros_like,
        pydlk.ones_like,
        pydlk.empty_like,
        pydlk.rand_like,
        pydlk.randn_like,
    ):
        y = like(x)
        assert y.shape == (2, 3) and y.dtype == np.float64
    assert pydlk.zeros_like(x, dtype=pydlk.float32).dtype == np.float32
    assert pydlk.full_like(x, 3.0).tolist() == [[3.0] * 3] * 2
    assert pydlk.ones_like(x, requires_grad=True).requires_grad


def test_arange_linspace_eye_match_torch():
    torch = pytest.importorskip("torch")
    for args in (
        (5,),
        (2, 7),
        (1, 10, 3),
        (0.0, 1.0, 0.1),
        (1, 2.5, 0.5),
        (10, 0, -3),
        (-1.0, 1.0, 0.3),
    ):
        a, r = pydlk.arange(*args), torch.arange(*args)
        assert str(a.dtype) == str(r.dtype).replace("torch.", "")
        np.testing.assert_allclose(np.asarray(a), r.numpy(), rtol=1e-6)
    assert pydlk.arange(3, dtype=pydlk.float64).dtype == np.float64
    for args in ((0, 1, 5), (-2.0, 3.0, 7), (1, 1, 1), (0, 1, 0)):
        np.testing.assert_allclose(
            np.asarray(pydlk.linspace(*args)), torch.linspace(*args).numpy(), rtol=1e-6, atol=1e-7
        )
    assert pydlk.linspace(0, 1, 3).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(pydlk.eye(3)), np.eye(3, dtype=np.float32))
    assert pydlk.eye(2, 4).shape == (2, 4)
    with pytest.raises(ValueError, match="step must be nonzero"):
        pydlk.arange(0, 3, 0)
    with pytest.raises(ValueError, match="inconsistent with the sign"):
        pydlk.arange(0, 3, -1)


def test_random_factories_are_seeded_and_in_range():
    pydlk.manual_seed(5)
    a = pydlk.rand(1000)
    b, c = pydlk.randn(3, 4), pydlk.randint(3, 9, (500,))
    pydlk.manual_seed(5)
    np.testing.assert_array_equal(np.asarray(pydlk.rand(1000)), np.asarray(a))
    np.testing.assert_array_equal(np.asarray(pydlk.randn(3, 4)), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(pydlk.randint(3, 9, (500,))), np.asarray(c))
    assert (
        0 <= np.asarray(a).min()
        and np.asarray(a).max() < 1
        and abs(np.asarray(a).mean() - 0.5) < 0.05
    )
    assert c.dtype == np.int64 and np.asarray(c).min() == 3 and np.asarray(c).max() == 8
    assert np.asarray(pydlk.randint(4, (2, 2))).max() < 4
    assert pydlk.randint(0, 4, size=(3,), dtype=pydlk.float32).dtype == np.float32
    p = pydlk.randperm(10)
    assert sorted(p.tolist()) == list(range(10)) and p.dtype == np.int64
    with pytest.raises(ValueError, match="high .* must be greater than low"):
        pydlk.randint(5, 5, (2,))
    with pytest.raises(TypeError, match="rand: dtype must be floating point"):
        pydlk.rand(2, dtype=pydlk.int64)


# ----------------------------------------------------------------------------- activations


@pytest.mark.parametrize(
    "name,ref",
    [
        ("relu", lambda a: np.maximum(a, 0)),
        ("sigmoid", lambda a: 1 / (1 + np.exp(-a))),
        ("tanh", np.tanh),
        ("softmax", lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True)),
        ("log_softmax", lambda a: a - np.log(np.exp(a).sum(-1, keepdims=True))),
    ],
)
def test_activation_methods_use_functional(rng, name, ref):
    import pydlk.functional as F

    if not hasattr(F, name):
        pytest.skip(f"pydlk.functional.{name} is not implemented yet")
    a = rng.standard_normal((3, 5))
    args = (-1,) if "softmax" in name else ()
    y = getattr(f32(a), name)(*args)
    np.testing.assert_allclose(np.asarray(y), ref(a), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(getattr(pydlk, name)(f32(a), *args)), np.asarray(y))
    check(lambda x: getattr(x, name)(*args), a)


# ----------------------------------------------------------------------------- torch oracle


def _composite(lib, x, w, b, v):
    """Many ops in one expression; ``lib`` is pydlk or torch."""
    h = x @ w + b  # (5, 4)
    a = h.clamp(-1.5, 2.0) * 0.5 + h.abs().sqrt()
    s = (a.exp() / (1 + a.exp())).log1p() - a.square() / 7 + a.sin() * a.cos()
    r = s.reshape(5, 2, 2).transpose(0, 2).sum(dim=1)  # (2, 5)
    q = lib.cat([r, r[:, :2] ** 3], dim=1)  # (2, 7)
    u = lib.stack([q.mean(0), q.std(0)], dim=1)  # (7, 2)
    m = lib.where(u > 0.1, u, u * 0.1)
    loss = m.logsumexp(0).sum() + q.var(dim=1, keepdim=True).mean() + m.norm()
    loss = loss + q.max() + q.max(dim=1).values.sum() + h.amin(1).mean()
    loss = loss + (v.unsqueeze(0) - h).pow(2).mean() + (h[[0, 0, 3], 1:] * 2).sum()
    loss = loss + lib.maximum(h, v).flatten().prod() / 1e3 + (1 / (1 + h * h)).sum()
    return loss + sum_diag(x.T @ x)


def sum_diag(m):
    n = m.shape[0]
    return m.reshape(-1)[[i * (n + 1) for i in range(n)]].sum()


def test_composite_expression_matches_torch(rng):
    torch = pytest.importorskip("torch")
    arrays = [
        rng.standard_normal((5, 3)),
        rng.standard_normal((3, 4)) * 0.7,
        rng.standard_normal(4),
        rng.standard_normal(4),
    ]
    mine = [t64(a) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = _composite(pydlk, *mine)
    ref = _composite(torch, *theirs)
    np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-10)
    out.backward()
    ref.backward()
    for m, t in zip(mine, theirs):
        np.testing.assert_allclose(m.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert pydlk.gradcheck(lambda *ts: _composite(pydlk, *ts), tuple(t64(a) for a in arrays))


# ----------------------------------------------------------------------------- misc


def test_bad_dims_name_the_problem():
    x = f32(np.ones((2, 3)))
    for call in (
        lambda: x.sum(2),
        lambda: x.mean(-3),
        lambda: x.max(5),
        lambda: x.var(2),
        lambda: x.argmax(2),
        lambda: x.logsumexp(4),
        lambda: x.flatten(0, 3),
        lambda: x.squeeze(3),
        lambda: x.split(1, 2),
        lambda: x.cumsum(2),
    ):
        with pytest.raises(
            IndexError,
            match=r"dim -?\d is out of range for a tensor with 2 "
            r"dimension\(s\) \(expected in \[-2, 1\]\)",
        ):
            call()
    with pytest.raises(IndexError, match=r"stack: dim 4 is out of range .*\[-3, 2\]"):
        pydlk.stack([x, x], 4)
    with pytest.raises(ValueError, match="names a dimension more than once"):
        x.sum((0, -2))
    with pytest.raises(TypeError, match="dim must be an int"):
        x.sum(1.5)


def test_module_functions_are_exported_and_builtins_untouched():
    for name in pydlk.ops.__all__:
        assert hasattr(pydlk, name), name
    for name in (
        "cat",
        "stack",
        "where",
        "exp",
        "matmul",
        "sum",
        "mean",
        "max",
        "zeros",
        "abs",
        "min",
        "all",
        "any",
        "clamp",
        "randn",
        "arange",
    ):
        assert getattr(pydlk, name) is getattr(pydlk.ops, name)
    # pydlk.ops defines sum/max/min/abs/all/any/round/pow; the builtins stay the builtins
    assert builtins.sum([1, 2]) == 3 and builtins.max(1, 2) == 2 and builtins.abs(-1) == 1
    x = f32([[1.0, -2.0], [3.0, 0.5]])
    assert pydlk.sum(x).item() == 2.5 and pydlk.abs(x).sum().item() == 6.5
    assert pydlk.max(x).item() == 3.0 and pydlk.min(x).item() == -2.0
    np.testing.assert_array_equal(np.asarray(pydlk.exp(np.zeros(2))), [1.0, 1.0])  # arrays accepted


def test_inplace_operators(rng):
    w = pydlk.tensor(rng.standard_normal(3), requires_grad=True)
    (w * w).sum().backward()
    before, buf = np.asarray(w).copy(), np.asarray(w)
    with pydlk.no_grad():
        w -= 0.1 * w.grad  # the lecture's SGD step updates w itself
    assert w.is_leaf and w.requires_grad and np.asarray(w) is buf
    np.testing.assert_allclose(np.asarray(w), before - 0.1 * 2 * before)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w += 1.0
    h = w * 1.0
    h2 = h
    h2 *= 3.0  # a graph node: recorded in place, as torch's mul_ (h sees it)
    assert h2 is h and h2.grad_fn is not None
    h2.sum().backward()
    c = f32([1.0, 2.0])
    c += 1
    c *= f32([2.0, 2.0])
    c /= 4
    assert c.tolist() == [1.0, 1.5]
    i = pydlk.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):  # torch: RuntimeError
        i += 0.5
    with pytest.raises(RuntimeError, match="does not broadcast"):
        c += f32(np.ones((2, 2)))


def test_more_functions(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    x, y = t64(a), t64(b)
    np.testing.assert_allclose(np.asarray(pydlk.add(x, y, alpha=2)), a + 2 * b)
    np.testing.assert_allclose(np.asarray(pydlk.sub(x, y, alpha=0.5)), a - 0.5 * b)
    check(lambda u, v: pydlk.add(u, v, alpha=3), a, b)
    np.testing.assert_array_equal(np.asarray(pydlk.neg(x)), -a)
    np.testing.assert_array_equal(
        np.asarray(pydlk.div(x, y, rounding_mode="floor")), np.floor(a / b)
    )
    np.testing.assert_array_equal(
        np.asarray(pydlk.div(x, y, rounding_mode="trunc")), np.trunc(a / b)
    )
    with pytest.raises(ValueError, match="rounding_mode"):
        pydlk.div(x, y, rounding_mode="up")
    assert pydlk.hstack([x, y]).shape == (2, 6) and pydlk.vstack([x, y]).shape == (4, 3)
    assert pydlk.vstack([t64(a[0]), t64(b[0])]).shape == (2, 3)
    c = rng.standard_normal((2, 3, 4))
    for src, dst in ((0, 2), (-1, 0), ((0, 1), (2, 0))):
        np.testing.assert_array_equal(
            np.asarray(pydlk.movedim(t64(c), src, dst)), np.moveaxis(c, src, dst)
        )
    check(lambda u: u.movedim(0, -1), c)
    assert pydlk.broadcast_to(x, (4, 2, 3)).shape == (4, 2, 3)
    assert pydlk.count_nonzero(pydlk.tensor([0, 1, 2, 0])).item() == 2
    z = pydlk.tensor([1.0, np.nan, np.inf, -np.inf])
    assert z.isnan().tolist() == [False, True, False, False]
    assert pydlk.isinf(z).tolist() == [False, False, True, True]
    assert pydlk.isfinite(z).tolist() == [True, False, False, False]
    assert pydlk.allclose(x, x + 1e-9) and not pydlk.allclose(x, x + 1)
    assert pydlk.isclose(x, y).dtype == np.bool_
    assert pydlk.is_tensor(x) and not pydlk.is_tensor(a)
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(t64(1.0))


def test_masked_fill_tril_triu(rng):
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((2, 3, 4))
    mask = rng.standard_normal((3, 4)) > 0
    y = t64(a).masked_fill(pydlk.tensor(mask), -1e9)
    np.testing.assert_array_equal(np.asarray(y), np.where(mask, -1e9, a))
    check(lambda x: x.masked_fill(pydlk.tensor(mask), 0.0), a)
    check(lambda x, v: pydlk.masked_fill(x, pydlk.tensor(mask), v), a, 2.0)
    for k in (-1, 0, 2):
        np.testing.assert_array_equal(np.asarray(t64(a).tril(k)), np.tril(a, k))
        np.testing.assert_array_equal(np.asarray(pydlk.triu(t64(a), k)), np.triu(a, k))
        np.testing.assert_array_equal(
            np.asarray(pydlk.tril(t64(a), k)), torch.tril(torch.tensor(a), k).numpy()
        )
    check(lambda x: x.tril(1) + x.triu(), a)
    ints = pydlk.tensor([1, 2, 3]).masked_fill(pydlk.tensor([True, False, False]), 0.5)
    assert ints.dtype == np.int64 and ints.tolist() == [0, 2, 3]  # the input's dtype, as torch
    assert f32([1.0]).masked_fill(pydlk.tensor([True]), -1e9).dtype == np.float32
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        t64(a).masked_fill(pydlk.tensor(mask.astype(np.float32)), 0.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        t64(a[0]).masked_fill(pydlk.tensor(np.ones((2, 3, 4), bool)), 0.0)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        t64(a[0, 0]).triu()


def test_new_factories_follow_the_tensor():
    x = pydlk.tensor(np.ones(2, np.float64))
    z = x.new_zeros(3, 2)
    assert z.shape == (3, 2) and z.dtype == np.float64 and np.asarray(z).sum() == 0
    assert x.new_ones((2,)).tolist() == [1.0, 1.0] and x.new_empty(4).shape == (4,)
    assert x.new_full((2,), 5.0).tolist() == [5.0, 5.0]
    n = x.new_tensor([1, 2])
    assert n.dtype == np.float64 and n.tolist() == [1.0, 2.0]
    assert x.new_zeros(2, dtype=pydlk.int64).dtype == np.int64
    assert x.new_zeros(2, requires_grad=True).requires_grad


def test_nan_propagates_like_torch():
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, np.nan, 3.0], [0.5, 2.0, -1.0]])
    for op in (
        lambda m, x: m.max(x),
        lambda m, x: x.amax(1),
        lambda m, x: x.max(1).values,
        lambda m, x: x.min(0).values,
        lambda m, x: x.clamp(0, 2),
        lambda m, x: x.sum(1),
        lambda m, x: m.maximum(x, x * 0 + 1.5),
        lambda m, x: x.logsumexp(1),
    ):
        np.testing.assert_array_equal(
            np.asarray(op(pydlk, t64(a, False))), op(torch, torch.tensor(a)).numpy()
        )
    np.testing.assert_array_equal(
        np.asarray(t64(a).max(1).indices), [1, 1]
    )  # NaN counts as the max


def test_zero_size_tensors(rng):
    x, w = t64(np.zeros((0, 3))), t64(rng.standard_normal((3, 4)))
    y = x @ w
    assert y.shape == (0, 4)
    (y.sum() + (x * 2).sum() + x.exp().mean(0).sum()).backward()
    assert x.grad.shape == (0, 3) and np.array_equal(w.grad, np.zeros((3, 4)))
    assert pydlk.cat([x, t64(np.ones((2, 3)), False)]).shape == (2, 3)
    assert x.reshape(3, 0).shape == (3, 0) and x[1:].shape == (0, 3)
    with pytest.raises(ValueError, match="invalid for input of size 0"):
        x.reshape(0, -1)  # -1 is ambiguous with no elements, as torch says
