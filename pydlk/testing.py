"""torch.testing: ``assert_close``, ``make_tensor`` and the deprecated ``assert_allclose``.

``assert_close`` follows torch's rules and messages: inputs are paired up through nested
sequences and mappings; each pair is None with None, bool with bool, a number with a number, or
two tensor-likes (pydlk Tensors, or NumPy arrays compared with NumPy arrays: as in torch, a
Tensor is not compared with an array). Default tolerances come from the dtypes (the looser of
the two), integers and bools compare exactly, and a failure raises the ``AssertionError`` torch
raises, worded the same way (dtypes are written ``pydlk.float32`` and sizes ``pydlk.Size([2])``
where torch writes ``torch.``).
"""

import cmath
import collections.abc
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .autograd import Tensor

__all__ = ["assert_close", "assert_allclose", "make_tensor"]


def _bf16():
    try:
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    except ImportError:  # pragma: no cover
        return None


# {dtype: (rtol, atol)}: torch's _DTYPE_PRECISIONS
_PRECISIONS = {
    np.dtype(np.float16): (1e-3, 1e-5),
    np.dtype(np.float32): (1.3e-6, 1e-5),
    np.dtype(np.float64): (1e-7, 1e-7),
    np.dtype(np.complex64): (1.3e-6, 1e-5),
    np.dtype(np.complex128): (1e-7, 1e-7),
}
if _bf16() is not None:
    _PRECISIONS[_bf16()] = (1.6e-2, 1e-5)

_NUMBER_DTYPES = {
    int: np.dtype(np.int64),
    float: np.dtype(np.float64),
    complex: np.dtype(np.complex128),
}


class _Mismatch(Exception):
    """One failed comparison: the exception type torch raises, its message and the item path."""

    def __init__(self, type_, msg, id_=()):
        super().__init__(msg)
        self.type, self.msg, self.id = type_, msg, id_

    def to_error(self, msg=None):
        if isinstance(msg, str):
            return self.type(msg)
        text = self.msg
        if self.id:
            text += "\n\nThe failure occurred for item " + "".join(str([i]) for i in self.id)
        return self.type(msg(text) if callable(msg) else text)


class _Unsupported(Exception):
    pass


def _dtype_name(dt):
    return f"pydlk.{np.dtype(dt).name}"


def _tolerances(dtypes, rtol, atol, id_):
    if (rtol is None) ^ (atol is None):
        raise _Mismatch(
            ValueError,
            "Both 'rtol' and 'atol' must be either specified or omitted, "
            f"but got no {'rtol' if rtol is None else 'atol'}.",
            id_,
        )
    if rtol is not None:
        return rtol, atol
    rs, ats = zip(*[_PRECISIONS.get(np.dtype(d), (0.0, 0.0)) for d in dtypes])
    return max(rs), max(ats)


def _diff_line(kind, diff, idx, tol, equality):
    if idx is None:
        line = f"{kind.title()} difference: {diff}"
    else:
        line = f"Greatest {kind} difference: {diff} at index {idx}"
    return line + ("" if equality else f" (up to {tol} allowed)") + "\n"


def _mismatch_msg(identifier, extra, abs_diff, abs_idx, atol, rel_diff, rel_idx, rtol):
    equality = rtol == 0 and atol == 0
    msg = f"{identifier} are not {'equal' if equality else 'close'}!\n\n"
    if extra:
        msg += extra.strip() + "\n"
    msg += _diff_line("absolute", abs_diff, abs_idx, atol, equality)
    msg += _diff_line("relative", rel_diff, rel_idx, rtol, equality)
    return msg.strip()


def _scalar_msg(actual, expected, rtol, atol):
    abs_diff = abs(actual - expected)
    rel_diff = float("inf") if expected == 0 else abs_diff / abs(expected)
    return _mismatch_msg(
        "Scalars",
        f"Expected {expected} but got {actual}.",
        abs_diff,
        None,
        atol,
        rel_diff,
        None,
        rtol,
    )


def _tensor_msg(a, e, matches, rtol, atol):
    """torch's make_tensor_mismatch_msg on NumPy arrays: integer differences in int64, their
    relative differences in float32 (torch's int64 / int64), float ones in the dtype."""
    total = matches.size
    bad = total - int(matches.sum())
    extra = f"Mismatched elements: {bad} / {total} ({bad / total:.1%})"
    af, ef, mf = a.reshape(-1), e.reshape(-1), matches.reshape(-1)
    if a.dtype.kind not in "fc" and a.dtype != _bf16():
        af, ef = af.astype(np.int64), ef.astype(np.int64)
    with np.errstate(all="ignore"):
        abs_diff = np.abs(af - ef)
        abs_diff[mf] = 0
        if abs_diff.dtype.kind == "i":
            rel_diff = abs_diff.astype(np.float32) / np.abs(ef).astype(np.float32)
        else:
            rel_diff = abs_diff / np.abs(ef)
        rel_diff[mf] = 0
    ai, ri = int(np.argmax(abs_diff)), int(np.argmax(rel_diff))
    if np.isnan(abs_diff).any():
        ai = int(np.flatnonzero(np.isnan(abs_diff))[0])
    if np.isnan(rel_diff).any():
        ri = int(np.flatnonzero(np.isnan(rel_diff))[0])
    shape = matches.shape
    return _mismatch_msg(
        "Tensor-likes",
        extra,
        abs_diff[ai].item(),
        tuple(int(i) for i in np.unravel_index(ai, shape)),
        atol,
        rel_diff[ri].item(),
        tuple(int(i) for i in np.unravel_index(ri, shape)),
        rtol,
    )


def _host(a):
    return a if isinstance(a, np.ndarray) else a.get()  # a CuPy array


def _device_of(x):
    if isinstance(x, Tensor):
        return x.device
    from ._device import device

    if isinstance(x, np.ndarray):
        return device("cpu")
    return device(f"cuda:{x.device.id}")  # pragma: no cover - a CuPy array


def _array_of(x):
    return x._data if isinstance(x, Tensor) else x


def _is_tensor_like(x):
    if isinstance(x, (Tensor, np.ndarray)):
        return True
    return type(x).__module__.split(".")[0] == "cupy" and hasattr(x, "__cuda_array_interface__")


def _compare_tensors(actual, expected, opts, id_):
    a, e = _array_of(actual), _array_of(expected)
    rtol, atol = _tolerances((a.dtype, e.dtype), opts["rtol"], opts["atol"], id_)
    return lambda: _tensor_values(actual, expected, a, e, rtol, atol, opts, id_)


def _tensor_values(actual, expected, a, e, rtol, atol, opts, id_):

    def attr(name, x, y):
        raise _Mismatch(
            AssertionError, f"The values for attribute '{name}' do not match: {x} != {y}.", id_
        )

    if tuple(a.shape) != tuple(e.shape):
        attr("shape", f"pydlk.Size({list(a.shape)})", f"pydlk.Size({list(e.shape)})")
    if opts["check_stride"] and a.strides != e.strides:
        sa = tuple(s // a.itemsize for s in a.strides)
        se = tuple(s // e.itemsize for s in e.strides)
        attr("stride()", sa, se)
    da, de = _device_of(actual), _device_of(expected)
    if opts["check_device"] and da != de:
        attr("device", da, de)
    if opts["check_dtype"] and a.dtype != e.dtype:
        attr("dtype", _dtype_name(a.dtype), _dtype_name(e.dtype))
    a, e = _host(a), _host(e)
    if a.dtype != e.dtype:
        dt = np.promote_types(a.dtype, e.dtype)
        a, e = a.astype(dt), e.astype(dt)
    if a.dtype == _bf16():  # NumPy's isclose needs a native float type
        a, e = a.astype(np.float32), e.astype(np.float32)
    if a.dtype == np.bool_:
        matches = a == e
    else:
        with np.errstate(all="ignore"):
            matches = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=opts["equal_nan"])
    if matches.all():
        return
    if a.ndim == 0:
        msg = _scalar_msg(a.item(), e.item(), rtol, atol)
    else:
        msg = _tensor_msg(a, e, matches, rtol, atol)
    raise _Mismatch(AssertionError, msg, id_)


def _compare_numbers(actual, expected, opts, id_):
    a = actual.item() if isinstance(actual, np.number) else actual
    e = expected.item() if isinstance(expected, np.number) else expected
    rtol, atol = _tolerances(
        (_NUMBER_DTYPES[type(a)], _NUMBER_DTYPES[type(e)]), opts["rtol"], opts["atol"], id_
    )
    return lambda: _number_values(a, e, rtol, atol, opts, id_)


def _number_values(a, e, rtol, atol, opts, id_):
    if opts["check_dtype"] and type(a) is not type(e):
        raise _Mismatch(AssertionError, f"The (d)types do not match: {type(a)} != {type(e)}.", id_)
    if a == e or (opts["equal_nan"] and cmath.isnan(a) and cmath.isnan(e)):
        return
    diff = abs(a - e)
    if cmath.isfinite(diff) and diff <= atol + rtol * abs(e):
        return
    raise _Mismatch(AssertionError, _scalar_msg(a, e, rtol, atol), id_)


def _fail(msg, id_):
    def compare():
        raise _Mismatch(AssertionError, msg, id_)

    return compare


def _compare_leaf(actual, expected, opts, id_):
    """Origination (torch's pair construction): a TypeError or ValueError now, or a callable
    that compares the values later, once every pair has been built."""
    if actual is None or expected is None:
        if not (actual is None and expected is None):
            return _fail(f"None mismatch: {actual} is not {expected}", id_)
        return lambda: None
    bools = (bool, np.bool_)
    if isinstance(actual, bools) and isinstance(expected, bools):
        if bool(actual) is not bool(expected):
            return _fail(f"Booleans mismatch: {bool(actual)} is not {bool(expected)}", id_)
        return lambda: None
    numbers = (int, float, complex, np.number)
    if isinstance(actual, numbers) and isinstance(expected, numbers):
        if isinstance(actual, bools) or isinstance(expected, bools):
            raise _Mismatch(  # torch fails here too, with an internal RuntimeError
                RuntimeError,
                f"Cannot compare {type(actual)} with {type(expected)}: a bool is compared only "
                "with a bool",
                id_,
            )
        return _compare_numbers(actual, expected, opts, id_)
    if _is_tensor_like(actual) and _is_tensor_like(expected):
        related = isinstance(actual, type(expected)) or isinstance(expected, type(actual))
        if related and (opts["allow_subclasses"] or type(actual) is type(expected)):
            return _compare_tensors(actual, expected, opts, id_)
    raise _Mismatch(
        TypeError,
        f"No comparison pair was able to handle inputs of type {type(actual)} and "
        f"{type(expected)}.",
        id_,
    )


def _compare(actual, expected, opts, id_=(), out=None):
    """Walk sequences and mappings, appending each leaf pair's comparison to ``out``."""
    seq = collections.abc.Sequence
    if (
        isinstance(actual, seq)
        and not isinstance(actual, str)
        and isinstance(expected, seq)
        and not isinstance(expected, str)
    ):
        if len(actual) != len(expected):
            raise _Mismatch(
                AssertionError,
                f"The length of the sequences mismatch: {len(actual)} != {len(expected)}",
                id_,
            )
        for i in range(len(actual)):
            _compare(actual[i], expected[i], opts, (*id_, i), out)
        return out
    mapping = collections.abc.Mapping
    if isinstance(actual, mapping) and isinstance(expected, mapping):
        ka, ke = set(actual.keys()), set(expected.keys())
        if ka != ke:
            raise _Mismatch(
                AssertionError,
                "The keys of the mappings do not match:\n"
                f"Missing keys in the actual mapping: {sorted(ke - ka)}\n"
                f"Additional keys in the actual mapping: {sorted(ka - ke)}",
                id_,
            )
        keys = list(ka)
        try:
            keys = sorted(keys)
        except TypeError:
            pass
        for k in keys:
            _compare(actual[k], expected[k], opts, (*id_, k), out)
        return out
    out.append(_compare_leaf(actual, expected, opts, id_))
    return out


def assert_close(
    actual: Any,
    expected: Any,
    *,
    allow_subclasses: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
    check_device: bool = True,
    check_dtype: bool = True,
    check_layout: bool = True,
    check_stride: bool = False,
    msg: str | Callable[[str], str] | None = None,
) -> None:
    """Assert that ``actual`` and ``expected`` are close (torch.testing.assert_close).

    Tensors match when their shapes (and, unless switched off, devices, dtypes and strides)
    agree and every element satisfies ``|actual - expected| <= atol + rtol * |expected|``.
    Omitted tolerances come from the dtypes: float16 (1e-3, 1e-5), bfloat16 (1.6e-2, 1e-5),
    float32 (1.3e-6, 1e-5), float64 (1e-7, 1e-7), complex64 and complex128 as their float parts,
    integers and bools exact; ``rtol`` and ``atol`` are given together or not at all. Python
    numbers compare as int64, float64 or complex128. Sequences and mappings are compared item by
    item; NumPy arrays compare with NumPy arrays (a Tensor with an array is a ``TypeError``, as
    in torch). With ``check_dtype=False`` differing dtypes are promoted (NumPy's promotion).
    ``check_layout`` is accepted (pydlk tensors are all strided).

    Args:
        actual: the value under test.
        expected: the reference value.
        allow_subclasses: compare a Tensor with a subclass of it (a Parameter).
        rtol: relative tolerance.
        atol: absolute tolerance.
        equal_nan: count two NaNs as equal.
        check_device: require the same device.
        check_dtype: require the same dtype.
        check_layout: accepted for torch's signature.
        check_stride: require the same strides.
        msg: a string replacing the failure message, or a callable given it and returning one.

    Raises:
        AssertionError: the values, or their shape, dtype, device or stride, differ.
        TypeError: an input cannot be compared (a Tensor with a NumPy array, a string).
        ValueError: only one of ``rtol`` and ``atol`` was given.
    """
    __tracebackhide__ = True
    del check_layout
    opts = dict(
        allow_subclasses=allow_subclasses,
        rtol=rtol,
        atol=atol,
        equal_nan=equal_nan,
        check_device=check_device,
        check_dtype=check_dtype,
        check_stride=check_stride,
    )
    try:
        for compare in _compare(actual, expected, opts, (), []):
            compare()
    except _Mismatch as m:
        raise m.to_error(msg) from None


def assert_allclose(actual, expected, rtol=None, atol=None, equal_nan=True, msg=""):
    """Deprecated torch.testing.assert_allclose (still in torch 2.13; use ``assert_close``).

    Non-Tensor inputs become Tensors (``expected`` in ``actual``'s dtype), dtypes need not match,
    and the default tolerances are its own: float16 (1e-3, 1e-3), float32 (1e-4, 1e-5), float64
    (1e-5, 1e-8). Warns ``FutureWarning`` as torch does.
    """
    __tracebackhide__ = True
    from .autograd import tensor

    warnings.warn(
        "`torch.testing.assert_allclose()` is deprecated since 1.12 and will be removed in a "
        "future release. Please use `torch.testing.assert_close()` instead.",
        FutureWarning,
        stacklevel=2,
    )
    if not isinstance(actual, Tensor):
        actual = tensor(actual)
    if not isinstance(expected, Tensor):
        expected = tensor(expected, dtype=actual.dtype)
    if rtol is None and atol is None:
        table = {
            np.dtype(np.float16): (1e-3, 1e-3),
            np.dtype(np.float32): (1e-4, 1e-5),
            np.dtype(np.float64): (1e-5, 1e-8),
        }
        rs, ats = zip(*[table.get(t.dtype, (0.0, 0.0)) for t in (actual, expected)])
        rtol, atol = max(rs), max(ats)
    assert_close(
        actual,
        expected,
        rtol=rtol,
        atol=atol,
        equal_nan=equal_nan,
        check_device=True,
        check_dtype=False,
        check_stride=False,
        msg=msg or None,
    )


def _limits(dtype):
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.min, info.max + (1 if dtype != np.int64 else 0)
    if dtype == _bf16():
        import ml_dtypes

        info = ml_dtypes.finfo(dtype)
    else:
        info = np.finfo(dtype)
    return float(info.min), float(info.max)


def _low_high(low, high, dtype, lowest, highest, default_low, default_high):
    low = default_low if low is None else low
    high = default_high if high is None else high
    if any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        raise ValueError(f"`low` and `high` cannot be NaN, but got low={low} and high={high}")
    if low == high and dtype.kind in "fcV":
        warnings.warn(
            "Passing `low==high` to `make_tensor` for floating or complex types is deprecated; "
            "use `pydlk.full(...)` instead.",
            FutureWarning,
            stacklevel=3,
        )
    elif low >= high:
        raise ValueError(f"`low` must be less than `high`, but got {low} >= {high}")
    elif high < lowest or low >= highest:
        raise ValueError(
            f"The value interval specified by `low` and `high` is [{low}, {high}), "
            f"but {_dtype_name(dtype)} only supports [{lowest}, {highest})"
        )
    low, high = min(max(low, lowest), highest), min(max(high, lowest), highest)
    if dtype.kind in "biu":
        return math.ceil(low), math.ceil(high)
    return low, high


def make_tensor(
    *shape: Any,
    dtype: Any,
    device: Any,
    low: float | None = None,
    high: float | None = None,
    requires_grad: bool = False,
    noncontiguous: bool = False,
    exclude_zero: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """A Tensor of ``shape`` drawn uniformly from ``[low, high)`` (torch.testing.make_tensor).

    Default ranges are torch's: bool [0, 2), unsigned integers [0, 10), signed integers
    [-9, 10), floating and complex [-9, 9) (real and imaginary parts alike); a bound outside the
    dtype's range is clamped to it. Values come from pydlk's global generator, so
    ``pydlk.manual_seed`` makes them repeatable (they are not torch's numbers for the same
    seed). ``noncontiguous`` returns every second element of a tensor twice as wide (from the
    second, as torch does); ``exclude_zero`` replaces zeros with 1 (bool, integers) or the
    dtype's smallest normal number; ``memory_format`` is accepted for torch's signature.

    Args:
        *shape: sizes, or one sequence of them.
        dtype: the dtype of the result.
        device: where the result lives.
        low: inclusive lower bound.
        high: exclusive upper bound.
        requires_grad: make a floating result require grad.
        noncontiguous: return a non-contiguous view.
        exclude_zero: no zero elements.
        memory_format: accepted; pydlk tensors are contiguous unless ``noncontiguous``.

    Raises:
        ValueError: ``requires_grad`` for bool or integer dtypes, ``low >= high``, a NaN bound,
            or ``noncontiguous`` with ``memory_format``.
        TypeError: an unsupported dtype.
    """
    from . import ops
    from .autograd import tensor

    one_sequence = len(shape) == 1 and isinstance(shape[0], collections.abc.Sequence)
    sizes = shape[0] if one_sequence else shape
    shape = tuple(int(s) for s in sizes)
    if noncontiguous and memory_format is not None:
        raise ValueError(
            "The parameters `noncontiguous` and `memory_format` are mutually exclusive, but got "
            f"noncontiguous={noncontiguous} and memory_format={memory_format}"
        )
    dt = np.dtype(dtype)
    if requires_grad and dt.kind in "biu":
        raise ValueError(
            "`requires_grad=True` is not supported for boolean and integral dtypes, but got "
            f"dtype={_dtype_name(dt)}"
        )
    noncontiguous = noncontiguous and math.prod(shape) > 1
    if noncontiguous:
        shape = (*shape[:-1], 2 * shape[-1])
    if dt.kind == "b":
        lo, hi = _low_high(low, high, dt, 0, 2, 0, 2)
        raw = ops.randint(lo, hi, shape).numpy().astype(np.bool_)
    elif dt.kind in "iu":
        lowest, highest = _limits(dt)
        lo, hi = _low_high(low, high, dt, lowest, highest, -9, 10)
        raw = ops.randint(lo, hi, shape, dtype=np.int64).numpy().astype(dt)
    elif dt.kind in "fc" or dt == _bf16():
        real = np.dtype(np.float64)
        lowest, highest = _limits(np.empty(0, dt).real.dtype if dt.kind == "c" else dt)
        lo, hi = _low_high(low, high, dt, lowest, highest, -9, 9)
        n = 2 if dt.kind == "c" else 1
        u = ops.rand(*shape, n, dtype=real).numpy()
        if hi - lo >= highest:  # the span overflows the dtype: draw half of it, then double
            raw = (lo / 2 + u * (hi / 2 - lo / 2)) * 2
        else:
            raw = lo + u * (hi - lo)
        raw = (raw[..., 0] + 1j * raw[..., 1] if n == 2 else raw[..., 0]).astype(dt)
    else:
        raise TypeError(
            f"The requested dtype '{_dtype_name(dt)}' is not supported by make_tensor()."
        )
    if exclude_zero:
        tiny = 1 if dt.kind in "biu" else _tiny(dt)
        raw[raw == 0] = tiny if dt.kind != "c" else complex(tiny, tiny)
    if noncontiguous:
        raw = raw[..., 1::2]
    out = tensor(raw) if not noncontiguous else Tensor._wrap(raw)
    out = out.to(device) if str(device) != "cpu" else out
    if dt.kind in "fc" or dt == _bf16():
        out.requires_grad_(requires_grad)
    return out


def _tiny(dt):
    if dt == _bf16():
        import ml_dtypes

        return float(ml_dtypes.finfo(dt).tiny)
    return float(np.finfo(dt).tiny)
