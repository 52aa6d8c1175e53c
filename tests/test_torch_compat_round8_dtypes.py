"""Result dtypes, augmented assignment and a few Tensor methods as torch has them, with torch 2.x
as the oracle and the textbook value written in each test: floating-point ops of integer and
bool tensors give the default float dtype; clamp, cat/stack, where, add and true division follow
torch.result_type; ``x op= y`` writes into x (every reference sees it) with torch's casting
rules and autograd recording; ``short``/``byte``/``char``, ``x in t``, ``t.view(dtype)``,
``z.real = v``, ``sign`` of bool and ``logsumexp`` of integers."""

import math

import numpy as np
import pytest

import pydlk
import pydlk.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return np.asarray(t.detach())
    return t.detach().numpy()


def _same(p, t, rtol=1e-6):
    """pydlk's result p has torch's dtype and (to rounding) its values."""
    assert str(p.dtype) == str(t.dtype).replace("torch.", ""), (p.dtype, t.dtype)
    wide = np.complex128 if p.dtype.kind == "c" else np.float64
    np.testing.assert_allclose(_np(p).astype(wide), _np(t).astype(wide), rtol=rtol, equal_nan=True)


# ------------------------------------------------------------ floating ops of integer tensors

_INT_DTYPES = ["int64", "int32", "int16", "int8", "uint8", "bool"]
_UNARY = [
    "sin", "cos", "tan", "exp", "exp2", "expm1", "log", "log1p", "log2", "log10", "sqrt",
    "rsqrt", "reciprocal", "sigmoid", "tanh", "sinh", "cosh", "asinh", "atan", "erf", "erfc",
    "lgamma", "digamma", "i0", "sinc", "deg2rad", "rad2deg", "angle", "acos", "asin",
]  # fmt: skip


def _ints(dtype):
    v = [True, False, True] if dtype == "bool" else [0, 1, 3]
    return (
        pydlk.tensor(np.array(v, dtype=np.bool_ if dtype == "bool" else dtype)),
        torch.tensor(v, dtype=getattr(torch, dtype)),
    )


@pytest.mark.parametrize("dtype", _INT_DTYPES)
@pytest.mark.parametrize("name", _UNARY)
def test_float_op_of_integer_tensor_is_default_float(name, dtype):
    p, t = _ints(dtype)
    r = getattr(pydlk, name)(p)
    assert r.dtype == pydlk.float32 and tuple(r.shape) == (3,)  # the default float dtype
    _same(r, getattr(torch, name)(t))
    _same(getattr(p, name)(), getattr(t, name)())  # the method too


@pytest.mark.parametrize("name", ["sin", "exp", "sqrt", "sigmoid", "tanh", "erf", "log1p"])
def test_float_op_of_integer_tensor_follows_set_default_dtype(name, float64_default):
    p, t = _ints("int64")
    r = getattr(pydlk, name)(p)
    assert r.dtype == pydlk.float64
    _same(r, getattr(torch, name)(t), rtol=1e-12)
    b = getattr(pydlk, name)(pydlk.tensor([True, False]))
    assert b.dtype == pydlk.float64  # bool gave float16 before (NumPy's smallest float)


def test_textbook_values_of_integer_inputs():
    x = pydlk.tensor([0, 1])
    np.testing.assert_allclose(_np(pydlk.exp(x)), [1.0, math.e], rtol=1e-7)
    np.testing.assert_allclose(_np(pydlk.sin(x)), [0.0, math.sin(1.0)], rtol=1e-7)
    s = pydlk.sqrt(pydlk.tensor([4, 9], dtype=pydlk.uint8))
    assert s.dtype == pydlk.float32 and s.tolist() == [2.0, 3.0]
    b = pydlk.sin(pydlk.tensor([True, False]))
    assert b.dtype == pydlk.float32  # float16 before
    np.testing.assert_allclose(_np(b), [0.8414709848, 0.0], rtol=1e-7)
    sg = pydlk.sigmoid(pydlk.tensor([True, False]))
    np.testing.assert_allclose(_np(sg), [1 / (1 + math.exp(-1)), 0.5], rtol=1e-7)
    assert pydlk.reciprocal(pydlk.tensor([4])).tolist() == [0.25]
    assert pydlk.tensor([2]).tanh().dtype == pydlk.float32


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softsign", "tanhshrink"])
def test_functional_activations_of_integer_tensors(name):
    p, t = _ints("int64")
    r = getattr(F, name)(p)
    assert r.dtype == pydlk.float32
    # at 0: sigmoid 1/2, tanh, softsign and tanhshrink 0
    assert r.tolist()[0] == (0.5 if name == "sigmoid" else 0.0)
    _same(r, getattr(TF, name)(t))


def test_logsumexp_of_integer_tensor():
    p, t = _ints("int64")
    _same(pydlk.logsumexp(p, 0), torch.logsumexp(t, 0))
    r = pydlk.tensor([1, 2, 3]).logsumexp(0)
    assert r.dtype == pydlk.float32
    assert r.item() == pytest.approx(math.log(math.e + math.e**2 + math.e**3), rel=1e-6)
    _same(
        pydlk.logsumexp(pydlk.tensor([True, False]), 0),
        torch.logsumexp(torch.tensor([True, False]), 0),
    )


def test_logsumexp_of_integer_tensor_float64_default(float64_default):
    r = pydlk.logsumexp(pydlk.tensor([1, 2, 3]), 0)
    assert r.dtype == pydlk.float64
    assert r.item() == pytest.approx(3.40760596444438, rel=1e-14)


def test_sign_of_bool_tensor():
    p, t = pydlk.tensor([True, False]), torch.tensor([True, False])
    for f in ("sign", "sgn"):
        r = getattr(pydlk, f)(p)
        assert r.dtype == pydlk.bool and r.tolist() == [True, False]
        _same(r, getattr(torch, f)(t))
    assert p.sign().tolist() == [True, False]


def test_square_of_bool_is_int64():
    _same(pydlk.square(pydlk.tensor([True, False])), torch.square(torch.tensor([True, False])))
    assert pydlk.square(pydlk.tensor([True])).tolist() == [1]


def test_integer_sums_accumulate_in_int64():
    p = pydlk.tensor([200, 100], dtype=pydlk.uint8)
    t = torch.tensor([200, 100], dtype=torch.uint8)
    assert pydlk.sum(p).item() == 300  # no wrap at 256, and int64 as torch (NumPy: uint64)
    _same(pydlk.sum(p), torch.sum(t))
    _same(pydlk.prod(p), torch.prod(t))
    _same(pydlk.cumsum(p, 0), torch.cumsum(t, 0))
    _same(pydlk.nansum(p), torch.nansum(t))
    _same(p.sum(), t.sum())
    _same(pydlk.sum(pydlk.tensor([True, True])), torch.sum(torch.tensor([True, True])))


# ------------------------------------------------------------ torch.result_type of several operands


def test_clamp_of_int_tensor_with_float_bounds():
    p, t = pydlk.tensor([0, 1, 3]), torch.tensor([0, 1, 3])
    r = pydlk.clamp(p, 0.5, 2.5)
    assert r.dtype == pydlk.float32 and r.tolist() == [0.5, 1.0, 2.5]
    _same(r, torch.clamp(t, 0.5, 2.5))
    _same(pydlk.clip(p, max=2.5), torch.clip(t, max=2.5))
    _same(p.clamp(min=0.5), t.clamp(min=0.5))
    _same(p.clip(0.5, 2.5), t.clip(0.5, 2.5))
    _same(pydlk.clamp_min(p, 0.5), torch.clamp_min(t, 0.5))
    _same(pydlk.clamp(p, 1, 2), torch.clamp(t, 1, 2))  # int bounds: int64
    # a 0-d float64 bound: wins over an int tensor, not over a float32 one
    b64 = (pydlk.tensor(0.5, dtype=pydlk.float64), torch.tensor(0.5, dtype=torch.float64))
    _same(pydlk.clamp(p, b64[0]), torch.clamp(t, b64[1]))
    f = pydlk.tensor([0.0, 1.0])
    _same(pydlk.clamp(f, b64[0]), torch.clamp(torch.tensor([0.0, 1.0]), b64[1]))
    # a dimensioned float bound tensor with an int32 input
    lo = pydlk.tensor([0.5, 0.5, 0.5])
    _same(pydlk.clamp(p.int(), lo), torch.clamp(t.int(), torch.tensor([0.5, 0.5, 0.5])))


def test_clamp_float_bounds_follow_set_default_dtype(float64_default):
    r = pydlk.clamp(pydlk.tensor([0, 3]), 0.5, 2.5)
    assert r.dtype == pydlk.float64 and r.tolist() == [0.5, 2.5]
    _same(r, torch.clamp(torch.tensor([0, 3]), 0.5, 2.5))


def test_clamp_gradient_reaches_a_promoted_float_input():
    x = pydlk.tensor([0.0, 1.0, 3.0], requires_grad=True)
    pydlk.clamp(x, pydlk.tensor(0.5, dtype=pydlk.float64), 2.5).sum().backward()
    assert x.grad.dtype == pydlk.float32 and x.grad.tolist() == [0.0, 1.0, 0.0]


_JOIN = ["cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "column_stack"]


@pytest.mark.parametrize("name", _JOIN)
@pytest.mark.parametrize(
    "dtypes",
    [("float32", "int64"), ("int64", "float32"), ("uint8", "int8"), ("bool", "int32"),
     ("float16", "float64"), ("complex64", "float64")],
)  # fmt: skip
def test_joining_mixed_dtypes_follows_result_type(name, dtypes):
    ps = [pydlk.tensor(np.array([1, 0, 1]).astype(d)) for d in dtypes]
    ts = [torch.tensor(np.array([1, 0, 1]).astype(d)) for d in dtypes]
    r = getattr(pydlk, name)(ps)
    # torch's promotion, written out: a float beats an int whatever their widths
    expect = {
        ("float32", "int64"): "float32",
        ("int64", "float32"): "float32",
        ("uint8", "int8"): "int16",
        ("bool", "int32"): "int32",
        ("float16", "float64"): "float64",
        ("complex64", "float64"): "complex128",
    }[dtypes]
    assert str(r.dtype) == expect
    assert sorted(np.asarray(r.detach()).real.ravel().tolist()) == [0, 0, 1, 1, 1, 1]
    _same(r, getattr(torch, name)(ts))


def test_cat_float32_with_int64_textbook():
    r = pydlk.cat([pydlk.tensor([0.5]), pydlk.tensor([2])])
    assert r.dtype == pydlk.float32 and r.tolist() == [0.5, 2.0]  # float64 before
    x = pydlk.tensor([0.5, 1.5], requires_grad=True)
    y = pydlk.stack([x, pydlk.tensor([1, 2])])
    assert y.dtype == pydlk.float32
    (y * pydlk.tensor([[1.0], [3.0]])).sum().backward()
    assert x.grad.dtype == pydlk.float32 and x.grad.tolist() == [1.0, 1.0]
    _same(pydlk.diff(pydlk.tensor([1, 3]), prepend=pydlk.tensor([0.5])),
          torch.diff(torch.tensor([1, 3]), prepend=torch.tensor([0.5])))  # fmt: skip
    _same(pydlk.outer(pydlk.tensor([1, 2]), pydlk.tensor([0.5])),
          torch.outer(torch.tensor([1, 2]), torch.tensor([0.5])))  # fmt: skip


def test_where_add_and_division_dtypes():
    c = [True, False, True]
    p, t = pydlk.tensor([1, 2, 3]), torch.tensor([1, 2, 3])
    r = pydlk.where(pydlk.tensor(c), p, 1.5)
    assert r.dtype == pydlk.float32 and r.tolist() == [1.0, 1.5, 3.0]
    _same(r, torch.where(torch.tensor(c), t, 1.5))
    _same(pydlk.where(pydlk.tensor(c), 1, 0), torch.where(torch.tensor(c), 1, 0))
    a = pydlk.add(p, 1.5)
    assert a.dtype == pydlk.float32 and a.tolist() == [2.5, 3.5, 4.5]
    _same(a, torch.add(t, 1.5))
    _same(p + 1.5, t + 1.5)
    _same(1.5 * p, 1.5 * t)
    q = pydlk.true_divide(p, 2)
    assert q.dtype == pydlk.float32 and q.tolist() == [0.5, 1.0, 1.5]
    _same(q, torch.true_divide(t, 2))
    _same(p / p, t / t)
    _same(2 / p, 2 / t)
    _same(pydlk.divide(p, 2), torch.divide(t, 2))


def test_true_division_of_ints_follows_set_default_dtype(float64_default):
    p = pydlk.tensor([1, 2])
    r = p / 2
    assert r.dtype == pydlk.float64 and r.tolist() == [0.5, 1.0]
    _same(r, torch.tensor([1, 2]) / 2)
    _same(pydlk.true_divide(p, p), torch.true_divide(torch.tensor([1, 2]), torch.tensor([1, 2])))
    _same(pydlk.add(p, 0.5), torch.add(torch.tensor([1, 2]), 0.5))


def test_mean_of_integer_tensor_raises_runtime_error_as_torch():
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).mean()
    with pytest.raises(RuntimeError, match="floating point"):
        pydlk.tensor([1, 2]).mean()
    with pytest.raises(TypeError):  # and a TypeError, as pydlk's other dtype errors
        pydlk.mean(pydlk.tensor([True]))
    assert pydlk.tensor([1, 2]).mean(dtype=pydlk.float64).item() == 1.5  # torch: 1.5 too
    assert torch.tensor([1, 2]).mean(dtype=torch.float64).item() == 1.5


# ------------------------------------------------------------ augmented assignment writes in place

_AUG = [
    ("+=", [5, 6, 7], 3),
    ("-=", [5, 6, 7], 3),
    ("*=", [5, 6, 7], 3),
    ("//=", [5, 6, 7], 2),
    ("%=", [5, 6, 7], 3),
    ("**=", [5, 6, 7], 2),
    ("&=", [5, 6, 7], 3),
    ("|=", [5, 6, 7], 8),
    ("^=", [5, 6, 7], 1),
    ("<<=", [5, 6, 7], 1),
    (">>=", [5, 6, 7], 1),
]


def _aug(x, op, y):
    ns = {"x": x, "y": y}
    exec(f"x {op} y", ns)
    return ns["x"]


@pytest.mark.parametrize("op,values,other", _AUG)
def test_augmented_assignment_modifies_the_tensor_itself(op, values, other):
    p, t = pydlk.tensor(values), torch.tensor(values)
    p_alias, t_alias = p, t
    p2, t2 = _aug(p, op, other), _aug(t, op, other)
    assert p2 is p_alias and t2 is t_alias
    _same(p_alias, t_alias)
    # a tensor operand, and a second Tensor over the same memory sees the write too
    p, t = pydlk.tensor(values), torch.tensor(values)
    pd, td = p.detach(), t.detach()
    _aug(p, op, pydlk.tensor(other)), _aug(t, op, torch.tensor(other))
    _same(pd, td)


def test_augmented_assignment_textbook_values():
    x = pydlk.tensor([5, 6, 7])
    y = x
    x //= 2
    assert y.tolist() == [2, 3, 3]
    x %= 2
    assert y.tolist() == [0, 1, 1]
    x <<= 3
    assert y.tolist() == [0, 8, 8]
    x |= 1
    assert y.tolist() == [1, 9, 9]
    x **= 2
    assert y.tolist() == [1, 81, 81]
    b = pydlk.tensor([True, False])
    c = b
    b &= pydlk.tensor([True, True])
    b ^= pydlk.tensor([True, True])
    assert c.tolist() == [False, True]
    u = pydlk.tensor([5], dtype=pydlk.uint8)
    u += pydlk.tensor([300])  # torch allows int64 into uint8 and wraps: 305 - 256
    assert u.dtype == pydlk.uint8 and u.tolist() == [49]
    tu = torch.tensor([5], dtype=torch.uint8)
    tu += torch.tensor([300])
    assert tu.tolist() == [49]


@pytest.mark.parametrize("stmt", ["x /= 2", "x **= 0.5", "x //= 0.5", "x += 0.5", "x %= 1.5"])
def test_float_result_into_int_tensor_raises_runtime_error(stmt):
    with pytest.raises(RuntimeError, match="can't be cast"):
        exec(stmt, {"x": torch.tensor([5, 6])})
    x = pydlk.tensor([5, 6])
    with pytest.raises(RuntimeError, match="can't be cast"):
        exec(stmt, {"x": x})
    assert x.tolist() == [5, 6]


def test_bool_target_refuses_an_integer_result():
    with pytest.raises(RuntimeError):
        exec("x &= 3", {"x": torch.tensor([True, False])})
    with pytest.raises(RuntimeError, match="can't be cast"):
        exec("x &= 3", {"x": pydlk.tensor([True, False])})


def test_augmented_assignment_shape_mismatch_raises():
    with pytest.raises(RuntimeError):
        exec("x *= y", {"x": torch.tensor([1, 2]), "y": torch.ones(3, 1, dtype=torch.int64)})
    with pytest.raises(RuntimeError, match="broadcast"):
        exec("x *= y", {"x": pydlk.tensor([1, 2]), "y": pydlk.ones(3, 1, dtype=pydlk.int64)})


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/=", "**=", "%="])
def test_augmented_assignment_on_a_graph_tensor_is_recorded_in_place(op):
    grads = []
    for lib in (pydlk, torch):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        h = w * 3.0
        alias = h
        h2 = _aug(h, op, 1.5)
        assert h2 is alias and h2.grad_fn is not None
        (alias * alias).sum().backward()
        grads.append((alias, w.grad))
    (pa, pg), (ta, tg) = grads
    _same(pa, ta)
    _same(pg, tg)


def test_recorded_power_textbook_gradient():
    w = pydlk.tensor([1.0, 2.0], requires_grad=True)
    h = w * 2
    alias = h
    h **= 2  # (2w)^2: the gradient 8w
    assert alias.tolist() == [4.0, 16.0]
    alias.sum().backward()
    assert w.grad.tolist() == [8.0, 16.0]


def test_augmented_assignment_on_a_leaf_that_requires_grad():
    for lib in (torch, pydlk):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            w **= 2
        with lib.no_grad():
            w **= 2  # as an optimiser's update: in place, still a leaf
        assert w.is_leaf and w.requires_grad and w.tolist() == [1.0, 4.0]


# ------------------------------------------------------------ Tensor methods


def test_short_byte_char():
    v = [-1, 2, 200]
    p, t = pydlk.tensor(v), torch.tensor(v)
    for name, dt in (("short", "int16"), ("byte", "uint8"), ("char", "int8")):
        _same(getattr(p, name)(), getattr(t, name)())
        assert str(getattr(p, name)().dtype) == dt
    assert p.byte().tolist() == [255, 2, 200]  # two's complement wrap, as torch
    assert p.char().tolist() == [-1, 2, -56]
    assert pydlk.tensor([1.5, 2.7]).short().tolist() == [1, 2]


def test_contains():
    p, t = pydlk.tensor([[1, 2], [3, 4]]), torch.tensor([[1, 2], [3, 4]])
    for e in (2, 5, 2.0, 4.5, True):
        assert (e in p) == (e in t)
    assert 2 in p and 5 not in p
    assert pydlk.tensor([3, 4]) in p and (torch.tensor([3, 4]) in t)
    assert pydlk.tensor([9, 4]) in p  # elementwise: 4 == 4 in the second row, torch's any()
    assert (torch.tensor([9, 4]) in t) is True
    assert pydlk.tensor([4, 3]) not in p and torch.tensor([4, 3]) not in t
    with pytest.raises(RuntimeError, match="only supports Tensor or scalar"):
        "a" in p  # noqa: B015
    with pytest.raises(RuntimeError):
        "a" in t  # noqa: B015


def test_view_dtype_same_element_size():
    p = pydlk.tensor([1.0, 2.0])
    r = p.view(pydlk.int32)
    assert r.dtype == pydlk.int32 and r.tolist() == [0x3F800000, 0x40000000]  # IEEE 754 bits
    _same(r, torch.tensor([1.0, 2.0]).view(torch.int32))
    r[0] = 0  # the same memory
    assert p.tolist() == [0.0, 2.0]
    w = pydlk.tensor([1.0, 2.0], requires_grad=True)
    assert not w.view(pydlk.int32).requires_grad  # torch: not differentiable
    assert not torch.tensor([1.0], requires_grad=True).view(torch.int32).requires_grad
    _same(pydlk.tensor([1, 0, 2], dtype=pydlk.uint8).view(pydlk.bool),
          torch.tensor([1, 0, 2], dtype=torch.uint8).view(torch.bool))  # fmt: skip
    _same(pydlk.tensor(1.0).view(pydlk.int32), torch.tensor(1.0).view(torch.int32))
    _same(pydlk.arange(6).reshape(2, 3).t().view(pydlk.float64),
          torch.arange(6).reshape(2, 3).t().view(torch.float64))  # fmt: skip


def test_view_dtype_other_element_sizes():
    p, t = (
        pydlk.arange(8, dtype=pydlk.int16).reshape(2, 4),
        torch.arange(8, dtype=torch.int16).reshape(2, 4),
    )
    r = p.view(pydlk.int32)
    assert r.shape == (2, 2) and r[0, 0].item() == 0 + (1 << 16)  # little endian: lo + hi << 16
    _same(r, t.view(torch.int32))
    _same(p.view(pydlk.int8), t.view(torch.int8))
    _same(p[:, 2:4].view(pydlk.int32), t[:, 2:4].view(torch.int32))
    _same(
        pydlk.tensor([1.0, 2.0]).view(pydlk.complex64),
        torch.tensor([1.0, 2.0]).view(torch.complex64),
    )
    _same(pydlk.tensor([1 + 2j], dtype=pydlk.complex64).view(pydlk.float32),
          torch.tensor([1 + 2j], dtype=torch.complex64).view(torch.float32))  # fmt: skip
    q, u = (
        pydlk.arange(12, dtype=pydlk.int16).reshape(3, 4)[:, :2],
        torch.arange(12, dtype=torch.int16).reshape(3, 4)[:, :2],
    )
    _same(q.view(pydlk.int32), u.view(torch.int32))
    bad = [
        (lambda L: L.arange(6, dtype=L.int16).reshape(2, 3), "size\\(-1\\) must be"),
        (lambda L: L.arange(8, dtype=L.int16).reshape(2, 4).t(), "stride\\(-1\\) must"),
        (lambda L: L.arange(8, dtype=L.int16).reshape(2, 4)[:, 1:3], "storage_offset"),
        (lambda L: L.arange(12, dtype=L.int16).reshape(4, 3)[:, :2], "stride\\(0\\) must"),
    ]
    for make, msg in bad:
        with pytest.raises(RuntimeError, match=msg):
            make(torch).view(torch.int32)
        with pytest.raises(RuntimeError, match=msg):
            make(pydlk).view(pydlk.int32)
    for lib in (torch, pydlk):
        with pytest.raises(RuntimeError, match="dim\\(\\) cannot be 0"):
            lib.tensor(1.0).view(lib.int16)
    assert p.view(4, 2).shape == (4, 2) and p.view(-1).shape == (8,)  # shapes as before


def test_set_real_and_imag():
    p = pydlk.tensor([1 + 2j, 3 + 4j])
    t = torch.tensor([1 + 2j, 3 + 4j])
    alias = p.detach()
    p.real = pydlk.tensor([5.0, 6.0])
    t.real = torch.tensor([5.0, 6.0])
    assert p.tolist() == [5 + 2j, 6 + 4j] and alias.tolist() == [5 + 2j, 6 + 4j]
    _same(p, t)
    p.imag = 0
    t.imag = 0
    assert p.tolist() == [5 + 0j, 6 + 0j]
    _same(p, t)
    p.imag = pydlk.tensor(7.0)  # broadcast
    assert p.tolist() == [5 + 7j, 6 + 7j]
    r = pydlk.tensor([1.0, 2.0])
    r.real = pydlk.tensor([3.0, 4.0])  # a real tensor's real part is the tensor
    tr = torch.tensor([1.0, 2.0])
    tr.real = torch.tensor([3.0, 4.0])
    _same(r, tr)
    with pytest.raises(RuntimeError, match="imag is not implemented"):
        r.imag = 1.0
    with pytest.raises(RuntimeError, match="imag is not implemented"):
        tr.imag = 1.0


def test_set_real_and_imag_recorded():
    out = []
    for lib in (pydlk, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        v = lib.tensor([3.0, 4.0], requires_grad=True)
        z = lib.complex(a, a * 0)
        z.imag = v  # z = a + i v
        loss = (z.real * 1.0).sum() + (z.imag * 2.0).sum() + (z.abs() ** 2).sum()
        loss.backward()
        out.append((z, a.grad, v.grad))
    (pz, pa, pv), (tz, ta, tv) = out
    _same(pz, tz)
    _same(pa, ta)
    _same(pv, tv)
    # textbook: d/da (a + |z|^2) = 1 + 2a, d/dv (2v + v^2) = 2 + 2v
    assert pa.tolist() == [3.0, 5.0] and pv.tolist() == [8.0, 10.0]


# ------------------------------------------------------------ on the GPU, as on the CPU


def test_gpu_dtypes_augmented_assignment_and_methods():
    from _gpu_helpers import cupy_or_skip, host

    cupy_or_skip()
    x = pydlk.tensor([0, 1, 3]).cuda()
    r = pydlk.sin(x)
    assert r.is_cuda and r.dtype == pydlk.float32
    np.testing.assert_allclose(host(r), np.sin([0.0, 1.0, 3.0]), rtol=1e-6)
    assert pydlk.clamp(x, 0.5, 2.5).dtype == pydlk.float32
    c = pydlk.cat([pydlk.tensor([0.5]).cuda(), pydlk.tensor([2]).cuda()])
    assert c.is_cuda and c.dtype == pydlk.float32 and host(c).tolist() == [0.5, 2.0]
    assert pydlk.sum(pydlk.tensor([200, 100], dtype=pydlk.uint8).cuda()).item() == 300
    assert pydlk.logsumexp(x, 0).dtype == pydlk.float32
    y = pydlk.tensor([5, 6, 7]).cuda()
    alias = y
    y //= 2
    y <<= pydlk.tensor([1, 1, 1]).cuda()
    y |= 1
    assert alias.is_cuda and host(alias).tolist() == [5, 7, 7]
    with pytest.raises(RuntimeError, match="can't be cast"):
        y /= 2
    u = pydlk.tensor([5], dtype=pydlk.uint8).cuda()
    u += pydlk.tensor([300]).cuda()
    assert host(u).tolist() == [49]
    w = pydlk.tensor([1.0, 2.0], requires_grad=True)
    h = w.cuda() * 2
    h **= 2
    h.sum().backward()
    assert w.grad.tolist() == [8.0, 16.0]
    f = pydlk.tensor([1.0, 2.0]).cuda()
    v = f.view(pydlk.int32)
    assert v.is_cuda and host(v).tolist() == [0x3F800000, 0x40000000]
    assert 2.0 in f and 3.0 not in f
    assert host(f.byte()).tolist() == [1, 2]
    z = pydlk.tensor([1 + 2j, 3 + 4j]).cuda()
    z.real = pydlk.tensor([5.0, 6.0]).cuda()
    z.imag = 0
    assert host(z).tolist() == [5 + 0j, 6 + 0j]
