"""Comparisons and predicates (eq, lt, isnan, isclose, ...), floor division and remainder: no
gradient flows through them, so each returns a tensor outside the graph."""

from ._helpers import _arr, _nograd, _nograd_ufunc, _quiet, _xp


def _compare(name, ufunc_name, symbol):
    def op(input, other):
        a, b = _arr(input), _arr(other)
        return _nograd(getattr(_xp(a, b), ufunc_name)(a, b))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Bool tensor: ``input {symbol} other`` per element, broadcasting; no gradient."
    return op


eq = _compare("eq", "equal", "==")
ne = _compare("ne", "not_equal", "!=")
lt = _compare("lt", "less", "<")
le = _compare("le", "less_equal", "<=")
gt = _compare("gt", "greater", ">")
ge = _compare("ge", "greater_equal", ">=")


@_quiet
def floor_divide(input, other):
    """Floor division (Python's ``//``). No gradient."""
    a, b = _arr(input), _arr(other)
    return _nograd(_xp(a, b).floor_divide(a, b))


@_quiet
def remainder(input, other):
    """Python's ``%`` (the sign of the divisor), as torch.remainder. No gradient."""
    a, b = _arr(input), _arr(other)
    return _nograd(_xp(a, b).remainder(a, b))


def isnan(input):
    """Bool tensor: True where input is NaN."""
    return _nograd_ufunc("isnan", input)


def isinf(input):
    """Bool tensor: True where input is +inf or -inf."""
    return _nograd_ufunc("isinf", input)


def isfinite(input):
    """Bool tensor: True where input is neither inf nor NaN."""
    return _nograd_ufunc("isfinite", input)


def logical_not(input):
    """Bool tensor: True where input is zero (or False)."""
    return _nograd_ufunc("logical_not", input)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True if ``|input - other| <= atol + rtol * |other|`` everywhere (a Python bool)."""
    a, b = _arr(input), _arr(other)
    return bool(_xp(a, b).allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Bool tensor: ``|input - other| <= atol + rtol * |other|`` per element."""
    a, b = _arr(input), _arr(other)
    return _nograd(_xp(a, b).isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
