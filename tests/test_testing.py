"""pydlk.testing against torch.testing: the same inputs pass or fail alike, with the same
exception type and the same message (torch's ``torch.`` written ``pydlk.``)."""

import math
import warnings

import numpy as np
import pytest

import pydlk
import pydlk.testing as pt

torch = pytest.importorskip("torch")


def _outcome(fn, *args, **kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the outcome is what is compared
        return type(e), str(e)
    return None


def _both(make, **kwargs):
    """``make(lib)`` builds (actual, expected) with torch or pydlk; compare the outcomes."""
    got = _outcome(pt.assert_close, *make(pydlk), **kwargs)
    want = _outcome(torch.testing.assert_close, *make(torch), **kwargs)
    if want is not None:
        want = (want[0], want[1].replace("torch.", "pydlk."))
    if got is not None:  # pydlk's Tensor class lives in pydlk.autograd
        got = (got[0], got[1].replace("pydlk.autograd.Tensor", "pydlk.Tensor"))
    assert got == want
    return got


CASES = {
    "equal": lambda m: (m.tensor([1.0, 2.0]), m.tensor([1.0, 2.0])),
    "one_off": lambda m: (m.tensor([1.0, 2.0, 3.0, 4.0]), m.tensor([1.0, 2.0, 3.0, 4.1])),
    "within_tol": lambda m: (m.tensor([1.0, 2.0]), m.tensor([1.0, 2.0 + 1e-6])),
    "2d": lambda m: (m.ones(2, 3), m.ones(2, 3) + m.tensor([[0.0, 0, 1], [0, 2, 0]])),
    "f64": lambda m: (
        m.tensor([1.0, 2.0], dtype=m.float64),
        m.tensor([1.0, 2.0 + 1e-6], dtype=m.float64),
    ),
    "f64_ok": lambda m: (m.tensor([1.0], dtype=m.float64), m.tensor([1.0 + 1e-8], dtype=m.float64)),
    "f16": lambda m: (m.tensor([1.0], dtype=m.float16), m.tensor([1.0005], dtype=m.float16)),
    "int": lambda m: (m.tensor([1, 2]), m.tensor([1, 3])),
    "int_eq": lambda m: (m.tensor([1, 2]), m.tensor([1, 2])),
    "bool": lambda m: (m.tensor([True, False]), m.tensor([True, True])),
    "dtype": lambda m: (m.tensor([1.0, 2]), m.tensor([1.0, 2], dtype=m.float64)),
    "shape": lambda m: (m.tensor([1.0, 2]), m.tensor([1.0, 2, 3])),
    "scalar0d": lambda m: (m.tensor(1.0), m.tensor(1.5)),
    "nan": lambda m: (m.tensor([math.nan, 1.0]), m.tensor([math.nan, 1.0])),
    "nan_vs_num": lambda m: (m.tensor([math.nan, 1.0]), m.tensor([1.0, 1.0])),
    "list": lambda m: ([m.tensor([1.0, 2]), m.tensor(1.0)], [m.tensor([1.0, 2]), m.tensor(2.0)]),
    "dict": lambda m: ({"a": m.tensor([1, 2])}, {"a": m.tensor([1, 3])}),
    "keys": lambda m: ({"a": 1}, {"b": 1}),
    "lengths": lambda m: ((1, 2), (1, 2, 3)),
    "tuple_list": lambda m: ((1, 2), [1, 2]),
    "floats": lambda m: (1.0, 1.1),
    "int_float": lambda m: (1, 1.0),
    "bools": lambda m: (True, False),
    "none": lambda m: (None, m.tensor(1.0)),
    "numpy": lambda m: (np.array([1.0, 2]), np.array([1.0, 2.5])),
    "tensor_numpy": lambda m: (m.tensor([1.0, 2]), np.array([1.0, 2])),
    "str": lambda m: ("a", "a"),
    "complex": lambda m: (m.tensor([1 + 1j, 2]), m.tensor([1 + 1j, 2 + 1e-3j])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_assert_close_matches_torch(name):
    _both(CASES[name])


def test_message_layout():
    got = _both(CASES["one_off"])
    assert got[0] is AssertionError
    lines = got[1].split("\n")
    assert lines[0] == "Tensor-likes are not close!"
    assert lines[2] == "Mismatched elements: 1 / 4 (25.0%)"
    assert lines[3].startswith("Greatest absolute difference: 0.0999") and "(3,)" in lines[3]
    assert lines[3].endswith("(up to 1e-05 allowed)")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(rtol=0.1, atol=0.0),
        dict(rtol=1e-3),
        dict(atol=1e-3),
        dict(equal_nan=True),
        dict(check_dtype=False),
        dict(msg="custom"),
    ],
)
def test_options_match_torch(kwargs):
    for name in ("one_off", "nan", "nan_vs_num", "dtype", "int"):
        _both(CASES[name], **kwargs)


def test_msg_callable_and_item_path():
    with pytest.raises(AssertionError) as e:
        pt.assert_close([1, {"k": 2.0}], [1, {"k": 3.0}], msg=lambda m: "X" + m)
    assert str(e.value).startswith("XScalars are not close!")
    assert str(e.value).endswith("The failure occurred for item [1]['k']")


def test_check_stride_and_subclasses():
    a = pydlk.ones(2, 3)
    b = pydlk.ones(3, 2).t()
    pt.assert_close(a, b)
    with pytest.raises(AssertionError, match=r"attribute 'stride\(\)'"):
        pt.assert_close(a, b, check_stride=True)
    p = pydlk.nn.Parameter(pydlk.ones(2))
    pt.assert_close(p, pydlk.ones(2))
    with pytest.raises(TypeError, match="No comparison pair"):
        pt.assert_close(p, pydlk.ones(2), allow_subclasses=False)


def test_default_tolerances_bfloat16():
    a = pydlk.tensor([1.0], dtype=pydlk.bfloat16)
    pt.assert_close(a, a)
    b = pydlk.tensor([1.0078125], dtype=pydlk.bfloat16)  # one bf16 ulp: within rtol 1.6e-2
    pt.assert_close(a, b)


def test_assert_allclose_warns_and_promotes():
    with pytest.warns(FutureWarning):
        pt.assert_allclose(pydlk.tensor([1.0, 2.0]), [1.0, 2.00001])
    with pytest.warns(FutureWarning), pytest.raises(AssertionError):
        pt.assert_allclose(pydlk.tensor([1.0, 2.0]), [1.0, 2.1])


@pytest.mark.parametrize(
    "dtype,lo,hi",
    [
        ("float32", -9, 9),
        ("float64", -9, 9),
        ("int64", -9, 9),
        ("uint8", 0, 9),
        ("bool", 0, 1),
        ("complex64", -9, 9),
    ],
)
def test_make_tensor_default_ranges(dtype, lo, hi):
    pydlk.manual_seed(0)
    x = pt.make_tensor(400, dtype=getattr(pydlk, dtype), device="cpu")
    a = np.asarray(x)
    assert x.shape == (400,) and x.dtype == np.dtype(dtype)
    parts = (a.real, a.imag) if a.dtype.kind == "c" else (a.astype(np.float64),)
    for p in parts:
        assert p.min() >= lo and p.max() <= hi
        assert p.max() - p.min() > (hi - lo) * 0.8  # the range is used, not a corner of it


def test_make_tensor_options():
    x = pt.make_tensor(
        (3, 4),
        dtype=pydlk.float32,
        device="cpu",
        low=-1,
        high=1,
        noncontiguous=True,
        exclude_zero=True,
        requires_grad=True,
    )
    assert x.shape == (3, 4) and not x.is_contiguous() and x.requires_grad and x.is_leaf
    assert (np.abs(np.asarray(x)) <= 1).all()
    z = pt.make_tensor(50, dtype=pydlk.int64, device="cpu", low=0, high=2, exclude_zero=True)
    assert (np.asarray(z) == 1).all()
    pydlk.manual_seed(3)
    a = pt.make_tensor(5, dtype=pydlk.float32, device="cpu")
    pydlk.manual_seed(3)
    assert np.array_equal(
        np.asarray(a), np.asarray(pt.make_tensor(5, dtype=pydlk.float32, device="cpu"))
    )


@pytest.mark.parametrize(
    "kwargs,exc",
    [
        (dict(dtype="int64", requires_grad=True), ValueError),
        (dict(dtype="float32", low=2, high=1), ValueError),
        (dict(dtype="float32", low=math.nan), ValueError),
        (dict(dtype="uint8", low=-20, high=-10), ValueError),
    ],
)
def test_make_tensor_errors_match_torch(kwargs, exc):
    dt = kwargs.pop("dtype")
    with pytest.raises(exc):
        torch.testing.make_tensor(3, dtype=getattr(torch, dt), device="cpu", **kwargs)
    with pytest.raises(exc):
        pt.make_tensor(3, dtype=getattr(pydlk, dt), device="cpu", **kwargs)


def test_every_pair_is_built_before_any_is_compared():
    # torch builds all pairs first: a later unsupported pair wins over an earlier mismatch
    make = lambda m: ([m.tensor([1.0]), "x"], [m.tensor([2.0]), "x"])  # noqa: E731
    assert _both(make)[0] is TypeError


def test_bool_with_number_is_refused_as_in_torch():
    for a, b in ((True, 1), (1, True)):
        with pytest.raises(RuntimeError):
            torch.testing.assert_close(a, b)
        with pytest.raises(RuntimeError, match="bool"):
            pt.assert_close(a, b)
