"""torch's type promotion for binary arithmetic (pydlk/ops/_promotion.py) against torch 2.13:
every pair of dtypes as dimensioned tensors, zero-dimensional tensors and Python numbers, for
+ - * / ** maximum where; gradients through the casts; the uint8-images idiom."""

import itertools

import numpy as np
import pytest

import pydlk
from pydlk.ops._promotion import promote_types, result_type

torch = pytest.importorskip("torch")

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
SCALARS = [True, 3, 2.5]


def _t(lib, dtype, zero_dim):
    vals = [1, 0, 1] if dtype == "bool" else [1, 2, 3]
    data = vals[0] if zero_dim else vals
    return lib.tensor(data, dtype=getattr(lib, dtype))


def test_promote_types_matches_torch():
    for a, b in itertools.product(DTYPES, DTYPES):
        want = torch.promote_types(getattr(torch, a), getattr(torch, b))
        assert promote_types(np.dtype(a), np.dtype(b)) == np.dtype(str(want).split(".")[1]), (a, b)


OPS = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "maximum": lambda x, y: x.maximum(y) if hasattr(x, "maximum") else None,
}


@pytest.mark.parametrize("op", ["add", "mul", "div", "sub"])
@pytest.mark.parametrize("a", DTYPES)
def test_tensor_pairs_match_torch(op, a):
    f = OPS[op]
    for b in DTYPES:
        if op == "sub" and "bool" in (a, b):
            continue  # torch refuses subtraction of bools
        for za, zb in ((False, False), (False, True), (True, False), (True, True)):
            theirs = f(_t(torch, a, za), _t(torch, b, zb))
            ours = f(_t(pydlk, a, za), _t(pydlk, b, zb))
            assert str(ours.dtype) == str(theirs.dtype).split(".")[1], (op, a, za, b, zb)
            np.testing.assert_allclose(
                ours.numpy().astype(np.float64), theirs.double().numpy(), rtol=1e-3
            )


@pytest.mark.parametrize("a", DTYPES)
def test_tensor_with_python_numbers_matches_torch(a):
    for s, zero in itertools.product(SCALARS, (False, True)):
        for name, f in (
            ("add", lambda x, y: x + y),
            ("rmul", lambda x, y: y * x),
            ("div", lambda x, y: x / y),
            ("rdiv", lambda x, y: y / x),
        ):
            if a == "bool" and isinstance(s, bool) and name in ("div", "rdiv"):
                continue
            theirs = f(_t(torch, a, zero), s)
            ours = f(_t(pydlk, a, zero), s)
            assert str(ours.dtype) == str(theirs.dtype).split(".")[1], (name, a, zero, s)


def test_pow_maximum_where_match_torch():
    cases = [
        lambda T: T.tensor([1, 2]) ** 0.5,
        lambda T: 2 ** T.tensor([1, 2]),
        lambda T: T.tensor([1.5, 2.0]) ** T.tensor(2),
        lambda T: T.pow(T.tensor([1, 2], dtype=T.int32), T.tensor(2.0, dtype=T.float64)),
        lambda T: T.maximum(T.tensor([1, 2]), T.tensor([1.5, 0.0])),
        lambda T: T.minimum(T.tensor([1.0, 2.0], dtype=T.float16), T.tensor([1, 3])),
        lambda T: T.where(T.tensor([True, False]), T.tensor([1, 2]), 0.5),
        lambda T: T.where(T.tensor([True, False]), T.tensor([1.0, 2.0]), T.tensor([3, 4])),
        lambda T: T.where(T.tensor([True, False]), 1.0, 0.0),
        lambda T: T.add(T.tensor([1, 2]), T.tensor([0.5, 1.0]), alpha=2),
        lambda T: T.sub(T.tensor([1.0, 2.0]), T.tensor(3), alpha=2),
        lambda T: T.div(T.tensor([3, 4]), T.tensor([2, 2])),
        lambda T: T.mul(T.tensor([3, 4], dtype=T.uint8), 1.5),
    ]
    for c in cases:
        ours, theirs = c(pydlk), c(torch)
        assert str(ours.dtype) == str(theirs.dtype).split(".")[1]
        np.testing.assert_allclose(
            ours.numpy().astype(np.float64), theirs.double().numpy(), rtol=1e-6
        )


def test_result_type_of_unknown_operands_is_left_to_numpy():
    assert result_type(pydlk.tensor([1.0]), "x") is None


def test_gradients_flow_through_the_casts_in_the_operands_dtypes():
    x = pydlk.tensor([1.0, 2.0], requires_grad=True)
    s = pydlk.tensor(3.0, dtype=pydlk.float64, requires_grad=True)
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    ts = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    y, ty = x * s, tx * ts
    assert y.dtype == pydlk.float32 and ty.dtype == torch.float32
    y.sum().backward()
    ty.sum().backward()
    assert x.grad.dtype == pydlk.float32 and s.grad.dtype == pydlk.float64
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy())


def test_uint8_images_divided_by_255_feed_a_float32_model():
    imgs = np.random.default_rng(0).integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)
    x = pydlk.from_numpy(imgs) / 255
    assert x.dtype == pydlk.float32
    model = pydlk.nn.Sequential(
        pydlk.nn.Conv2d(3, 4, 3), pydlk.nn.Flatten(), pydlk.nn.LazyLinear(2)
    )
    assert model(x).dtype == pydlk.float32
    labels = pydlk.tensor([0, 1, 1, 0])
    acc = (model(x).argmax(1) == labels).sum() / len(labels)  # torch's accuracy idiom
    assert acc.dtype == pydlk.float32


def test_python_floats_and_true_division_follow_the_default_dtype():
    # torch: after set_default_dtype(float64), int tensor * 1.5 and int / int are float64
    for lib in (pydlk, torch):
        lib.set_default_dtype(lib.float64)
        try:
            a = lib.tensor([1, 2, 3])
            got = [(a * 1.5).dtype, (a / 2).dtype, (a + 1j).dtype, (a.float() * 2.5).dtype]
        finally:
            lib.set_default_dtype(lib.float32)
        assert [str(d).replace("torch.", "") for d in got] == [
            "float64",
            "float64",
            "complex128",
            "float32",
        ]
    assert (pydlk.tensor([1, 2]) / 2).dtype == pydlk.float32


def test_floor_division_and_remainder_promote_and_refuse_integer_zero_as_torch():
    cases = [
        lambda L: L.tensor([7, -7]) % 2.0,
        lambda L: L.tensor([7, -7]) // 2.0,
        lambda L: L.remainder(L.tensor([7, -7]), L.tensor(2.0, dtype=L.float64)),
        lambda L: L.tensor([7, -7], dtype=L.int32) % L.tensor([2, 3]),
        lambda L: 7 % L.tensor([2, 3]),
        lambda L: L.tensor([5.0, -5.0], dtype=L.float64) // 2,
        lambda L: L.div(L.tensor([7, -7]), L.tensor([2, -3]), rounding_mode="trunc"),
    ]
    for case in cases:
        p, t = case(pydlk), case(torch)
        assert str(p.dtype) == str(t.dtype).replace("torch.", "")
        np.testing.assert_array_equal(p.numpy(), t.numpy())
    zero = [
        lambda L: L.tensor([7, -7]) // 0,
        lambda L: L.tensor([7, -7]) % L.tensor([1, 0]),
        lambda L: L.div(L.tensor([7]), 0, rounding_mode="floor"),
    ]
    for case in zero:  # NumPy would give 0 silently
        for lib in (pydlk, torch):
            with pytest.raises(RuntimeError, match="ZeroDivisionError"):
                case(lib)
    assert np.isinf((pydlk.tensor([7.0]) // 0).numpy()).all()  # floats divide by zero to inf
