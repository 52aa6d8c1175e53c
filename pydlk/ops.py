"""Differentiable tensor operators (arithmetic, matmul, reductions, shape ops, indexing),
conversions and factories, under torch's names, argument names and defaults.

Each op is a ``Function`` with forward and backward side by side, written with
``xp = get_array_module(x)`` (NumPy or CuPy) so both devices share them. Backward passes undo
broadcasting (``_unbroadcast``) and hand each input a gradient of its own dtype. The ops are
attached to ``Tensor`` at the bottom of this file; the module-level functions listed in
``__all__`` become ``pydlk.<name>``.

Where pydlk differs from torch:

* Type promotion is NumPy's (NEP 50): ``float32 + Python float`` stays float32, as in torch, but
  ``int64 / int64`` and ``int64 * 0.5`` give float64 where torch gives float32.
* Bad arguments raise ``ValueError``/``TypeError`` (torch: ``RuntimeError``); a dim out of range
  raises ``IndexError`` as in torch.
* ``view`` is ``reshape``: it copies a non-contiguous tensor instead of refusing it.
* No version counters: modifying in place (``x[...] = v``, ``x += 1`` under ``no_grad``) a tensor
  that an op saved for its backward silently changes that backward. In-place ops on a tensor that
  is part of the graph, or on a leaf that requires grad, are refused while grad mode is on.
* Elementwise ops never warn (log(0) is -inf, 0/0 is nan), as in torch.
"""
import builtins as _b
import collections
import functools
import math

import numpy as np

from . import _random
from ._backend import get_array_module, is_cupy
from .autograd import Function, Tensor, is_grad_enabled

# This module defines sum, max, min, abs, all, any, round and pow under torch's names; inside it
# the Python builtins are always reached as _b.sum, _b.max, ... .

# ----------------------------------------------------------------------------- helpers


def _unbroadcast(g, shape):
    """Sum ``g`` down to ``shape`` (undo NumPy broadcasting in a backward pass)."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and g.shape[i + lead] != 1)
    g = g.sum(axis=axes, keepdims=True) if axes else g
    return g.reshape(shape)


def _shape(x):
    return np.shape(x) if not hasattr(x, "shape") else x.shape


def _meta(x):
    """(shape, dtype) of a forward argument; dtype None for a Python scalar."""
    return _shape(x), getattr(x, "dtype", None)


def _fit(g, meta):
    """The gradient for an argument with ``meta``: broadcasting undone, the argument's dtype."""
    shape, dtype = meta
    g = _o(_unbroadcast(g, shape))
    if dtype is not None and dtype.kind in "fc" and g.dtype != dtype:
        g = g.astype(dtype)
    return g


def _o(r):
    """A NumPy scalar (what NumPy returns for 0-d results) as a 0-d array."""
    return np.asarray(r) if isinstance(r, np.generic) else r


def _arr(x):
    return x.data if isinstance(x, Tensor) else x


def _xp(*xs):
    for x in xs:
        if is_cupy(x):
            return get_array_module(x)
    return np


def _s(x):
    """A NumPy scalar operand as the Python scalar it holds, so that it promotes weakly as in
    torch (float32 tensor * np.float64(2) stays float32)."""
    return x.item() if isinstance(x, np.generic) else x


def _t(x):
    """A Tensor for an op's main argument (an array is wrapped without copying)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _quiet(f):
    """Run ``f`` with NumPy's floating-point warnings off (torch never warns on log(0), 0/0)."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return f(*args, **kwargs)
    return wrapper


def _nograd(array):
    """A result that carries no gradient (comparisons, indices, rounding)."""
    return Tensor._wrap(_o(array))


def _dim(d, ndim, op, extra=0):
    """``d`` as a non-negative dim of a tensor with ``ndim`` (+ ``extra``) dims, or IndexError."""
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {d!r}")
    n = _b.max(ndim + extra, 1)
    if not -n <= d < n:
        raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} "
                         f"dimension(s) (expected in [{-n}, {n - 1}])")
    return int(d) % n


def _dims(dim, ndim, op="reduction"):
    """Normalised reduction axes: None (all), or a tuple (empty for a 0-d tensor)."""
    if dim is None:
        return None
    try:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    except TypeError:
        raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}") from None
    out = tuple(_dim(d, ndim, op) for d in dims)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {tuple(dims)} names a dimension more than once")
    return () if ndim == 0 else out


def _axes(dim, ndim):
    return _dims(dim, ndim)


def _count(shape, axes):
    if axes is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[i] for i in axes], dtype=np.int64))


def _keep(g, axes, keepdim, ndim):
    """A reduction's upstream gradient with the reduced axes put back as size 1."""
    xp = get_array_module(g)
    if keepdim:
        return g
    if axes is None:
        return g.reshape((1,) * ndim)
    return xp.expand_dims(g, axes) if axes else g


def _sizes(size, op):
    """``f(2, 3)``, ``f((2, 3))`` or ``f([2, 3])`` -> (2, 3), checked."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    try:
        size = tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"{op}: size must be ints or a tuple of ints, got {size!r}") from None
    if _b.any(s < 0 for s in size):
        raise ValueError(f"{op}: negative dimension in size {size}")
    return size


def _need_float(x, op):
    if x.dtype.kind not in "fc":
        raise TypeError(f"{op}: input dtype must be floating point, got {x.dtype}; "
                        "convert it first with .float()")


def _same(a, b):
    """True where a equals b, NaN counting as equal to NaN (for tie masks of max/min)."""
    xp = get_array_module(a)
    m = a == b
    if a.dtype.kind in "fc":
        m = m | (xp.isnan(a) & xp.isnan(b))
    return m


# ----------------------------------------------------------------------------- arithmetic

class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.meta = (_meta(a), _meta(b))
        return _o(a + b)

    @staticmethod
    def backward(ctx, g):
        ma, mb = ctx.meta
        return (_fit(g, ma) if ctx.needs_input_grad[0] else None,
                _fit(g, mb) if ctx.needs_input_grad[1] else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.meta = (_meta(a), _meta(b))
        return _o(a - b)

    @staticmethod
    def backward(ctx, g):
        ma, mb = ctx.meta
        return (_fit(g, ma) if ctx.needs_input_grad[0] else None,
                _fit(-g, mb) if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.meta = (_meta(a), _meta(b))
        return _o(a * b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ma, mb = ctx.meta
        return (_fit(g * b, ma) if ctx.needs_input_grad[0] else None,
                _fit(g * a, mb) if ctx.needs_input_grad[1] else None)


class Div(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.meta = (_meta(a), _meta(b))
        return _o(a / b)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ma, mb = ctx.meta
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        return (_fit(g / b, ma) if ctx.needs_input_grad[0] else None,
                _fit(-g * a / (b * b), mb) if ctx.needs_input_grad[1] else None)


class Pow(Function):
    """``a ** b``; either may be a Python scalar."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        out = _o(a ** b)
        ctx.save_for_backward(a, b, out)
        ctx.meta = (_meta(a), _meta(b))
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        ma, mb = ctx.meta
        xp = _xp(g)
        da = db = None
        if ctx.needs_input_grad[0]:
            # d/da = b a^(b-1), taken as 0 where b == 0 (as torch does, so 0**0 has gradient 0)
            da = _fit(xp.where(xp.asarray(b == 0), 0, g * b * a ** (b - 1)), ma)
        if ctx.needs_input_grad[1]:
            # d/db = a^b log a, taken as 0 where a == 0 and b >= 0 (torch's convention)
            la = xp.log(xp.asarray(a, dtype=out.dtype))
            db = _fit(xp.where(xp.asarray((a == 0) & (b >= 0)), 0, g * out * la), mb)
        return da, db


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return _o(-a)

    @staticmethod
    def backward(ctx, g):
        return -g


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(get_array_module(a).abs(a))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * get_array_module(a).sign(a)  # 0 at 0, as torch


class Exp(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        out = _o(get_array_module(a).exp(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class Log(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(get_array_module(a).log(a))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


class Log1p(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(get_array_module(a).log1p(a))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / (1 + a)


class Sqrt(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        out = _o(get_array_module(a).sqrt(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2 * out)


class Rsqrt(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        out = _o(1 / get_array_module(a).sqrt(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return -0.5 * g * out * out * out  # d x^(-1/2) = -1/2 x^(-3/2)


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(get_array_module(a).sin(a))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * get_array_module(a).cos(a)


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(get_array_module(a).cos(a))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return -g * get_array_module(a).sin(a)


class Square(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _o(a * a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return 2 * g * a


class Reciprocal(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        out = _o(1 / a) if a.dtype.kind in "fc" else _o(1 / a.astype(np.float32))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return -g * out * out


class Clamp(Function):
    """``min(max(x, lo), hi)``; lo and hi are None, Python scalars or arrays.

    Gradients as torch's clamp_backward_min_max: x gets it where lo <= x <= hi, lo where x < lo
    and lo < hi, hi where x > hi or hi < lo.
    """

    @staticmethod
    def forward(ctx, x, lo, hi):
        xp = get_array_module(x)
        ctx.save_for_backward(x, lo, hi)
        ctx.meta = (_meta(x), _meta(lo), _meta(hi))
        out = x
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        if out is x:
            out = x.copy()
        return _o(out)

    @staticmethod
    def backward(ctx, g):
        x, lo, hi = ctx.saved_tensors
        mx, mlo, mhi = ctx.meta
        xp = get_array_module(g)
        dx = dlo = dhi = None
        if ctx.needs_input_grad[0]:
            ok = xp.ones(g.shape, bool)
            if lo is not None:
                ok = ok & (x >= lo)
            if hi is not None:
                ok = ok & (x <= hi)
            dx = _fit(xp.where(ok, g, 0), mx)
        if ctx.needs_input_grad[1]:
            m = x < lo
            if hi is not None:
                m = m & (lo < hi)
            dlo = _fit(xp.where(m, g, 0), mlo)
        if ctx.needs_input_grad[2]:
            m = x > hi
            if lo is not None:
                m = m | (hi < lo)
            dhi = _fit(xp.where(m, g, 0), mhi)
        return dx, dlo, dhi


class Maximum(Function):
    """Elementwise max; a tie splits the gradient in half between the two (as torch)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.meta = (_meta(a), _meta(b))
        return _o(_xp(a, b).maximum(a, b))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _tie_split(ctx, g, a > b, a == b)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.meta = (_meta(a), _meta(b))
        return _o(_xp(a, b).minimum(a, b))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _tie_split(ctx, g, a < b, a == b)


def _tie_split(ctx, g, a_wins, tie):
    xp = get_array_module(g)
    ma, mb = ctx.meta
    half = g * 0.5
    da = db = None
    if ctx.needs_input_grad[0]:
        da = _fit(xp.where(a_wins, g, xp.where(tie, half, 0)), ma)
    if ctx.needs_input_grad[1]:
        db = _fit(xp.where(a_wins, 0, xp.where(tie, half, g)), mb)
    return da, db


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        ctx.meta = (_meta(a), _meta(b))
        return _o(_xp(cond, a, b).where(cond, a, b))

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        ma, mb = ctx.meta
        return (None,
                _fit(xp.where(ctx.cond, g, 0), ma) if ctx.needs_input_grad[1] else None,
                _fit(xp.where(ctx.cond, 0, g), mb) if ctx.needs_input_grad[2] else None)


def add(input, other, *, alpha=1):
    if not isinstance(other, Tensor) and not isinstance(input, Tensor):
        input = _t(input)
    return Add.apply(_s(input), _s(other) if alpha == 1 else Mul.apply(other, alpha))


def sub(input, other, *, alpha=1):
    if not isinstance(other, Tensor) and not isinstance(input, Tensor):
        input = _t(input)
    return Sub.apply(_s(input), _s(other) if alpha == 1 else Mul.apply(other, alpha))


def mul(input, other):
    if not isinstance(other, Tensor) and not isinstance(input, Tensor):
        input = _t(input)
    return Mul.apply(_s(input), _s(other))


def div(input, other, *, rounding_mode=None):
    if rounding_mode is not None:
        if rounding_mode == "floor":
            return floor_divide(input, other)
        if rounding_mode == "trunc":
            return _nograd(_xp(_arr(input)).trunc(_arr(input) / _arr(other)))
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', "
                         f"got {rounding_mode!r}")
    if not isinstance(other, Tensor) and not isinstance(input, Tensor):
        input = _t(input)
    return Div.apply(_s(input), _s(other))


def pow(input, exponent):
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        input = _t(input)
    return Pow.apply(_s(input), _s(exponent))


def neg(input):
    return Neg.apply(_t(input))


def abs(input):
    return Abs.apply(_t(input))


def exp(input):
    return Exp.apply(_t(input))


def log(input):
    return Log.apply(_t(input))


def log1p(input):
    return Log1p.apply(_t(input))


def sqrt(input):
    return Sqrt.apply(_t(input))


def rsqrt(input):
    return Rsqrt.apply(_t(input))


def sin(input):
    return Sin.apply(_t(input))


def cos(input):
    return Cos.apply(_t(input))


def square(input):
    return Square.apply(_t(input))


def reciprocal(input):
    return Reciprocal.apply(_t(input))


def sign(input):
    """-1, 0 or 1 per element. No gradient (torch's is zero everywhere)."""
    a = _arr(input)
    return _nograd(_xp(a).sign(a))


def floor(input):
    """No gradient (torch's is zero everywhere); likewise ceil, round, trunc."""
    a = _arr(input)
    return _nograd(_xp(a).floor(a))


def ceil(input):
    a = _arr(input)
    return _nograd(_xp(a).ceil(a))


def round(input, *, decimals=0):
    a = _arr(input)
    return _nograd(_xp(a).round(a, decimals))


def trunc(input):
    a = _arr(input)
    return _nograd(_xp(a).trunc(a))


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp.apply(_t(input), _s(min), _s(max))


clip = clamp


def maximum(input, other):
    return Maximum.apply(_t(input), _s(other))


def minimum(input, other):
    return Minimum.apply(_t(input), _s(other))


def where(condition, input=None, other=None):
    """``where(cond, a, b)``: a where cond, else b (gradients flow to a and b).
    ``where(cond)``: the indices of the true elements, as ``nonzero(as_tuple=True)``."""
    c = _arr(condition)
    if input is None and other is None:
        return tuple(_nograd(i.astype(np.int64)) for i in _xp(c).nonzero(c))
    if getattr(c, "dtype", None) != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got "
                        f"{getattr(c, 'dtype', type(c).__name__)}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = _t(input)
    return Where.apply(c, _s(input), _s(other))


def masked_fill(input, mask, value):
    """``value`` where ``mask`` (bool, broadcastable to input) is True, else input. The gradient
    flows to input where the mask is False (and to value, if it is a tensor, where True)."""
    input = _t(input)
    m = _arr(mask)
    if getattr(m, "dtype", None) != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got "
                        f"{getattr(m, 'dtype', type(m).__name__)}")
    if np.broadcast_shapes(m.shape, input.shape) != input.shape:
        raise ValueError(f"masked_fill: mask of shape {m.shape} does not broadcast to the "
                         f"input's shape {input.shape}")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"masked_fill: value must be a scalar or a 0-d tensor, got shape "
                         f"{value.shape}")
    if not isinstance(value, Tensor):  # a scalar takes the input's dtype, as in torch
        value = _xp(input.data).asarray(_s(value), dtype=input.dtype)
    return Where.apply(m, value, input)


class Tri(Function):
    """tril/triu: keep the lower (upper) triangle of the last two dims, relative to
    ``diagonal``; the gradient is masked the same way."""

    @staticmethod
    def forward(ctx, a, diagonal, upper):
        xp = get_array_module(a)
        n, m = a.shape[-2:]
        keep = xp.tri(n, m, diagonal - 1 if upper else diagonal, dtype=bool)
        ctx.keep = ~keep if upper else keep
        return xp.where(ctx.keep, a, 0).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return get_array_module(g).where(ctx.keep, g, 0).astype(g.dtype, copy=False), None, None


def tril(input, diagonal=0):
    input = _t(input)
    if input.ndim < 2:
        raise ValueError(f"tril: input must have at least 2 dimensions, got {input.ndim}")
    return Tri.apply(input, int(diagonal), False)


def triu(input, diagonal=0):
    input = _t(input)
    if input.ndim < 2:
        raise ValueError(f"triu: input must have at least 2 dimensions, got {input.ndim}")
    return Tri.apply(input, int(diagonal), True)


def _compare(ufunc_name):
    def op(input, other):
        a, b = _arr(input), _arr(other)
        return _nograd(getattr(_xp(a, b), ufunc_name)(a, b))
    op.__name__ = ufunc_name
    return op


eq = _compare("equal")
ne = _compare("not_equal")
lt = _compare("less")
le = _compare("less_equal")
gt = _compare("greater")
ge = _compare("greater_equal")
eq.__name__, ne.__name__, lt.__name__, le.__name__, gt.__name__, ge.__name__ = \
    "eq", "ne", "lt", "le", "gt", "ge"


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
    a = _arr(input)
    return _nograd(_xp(a).isnan(a))


def isinf(input):
    a = _arr(input)
    return _nograd(_xp(a).isinf(a))


def isfinite(input):
    a = _arr(input)
    return _nograd(_xp(a).isfinite(a))


def logical_not(input):
    a = _arr(input)
    return _nograd(_xp(a).logical_not(a))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = _arr(input), _arr(other)
    return bool(_xp(a, b).allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = _arr(input), _arr(other)
    return _nograd(_xp(a, b).isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


# ----------------------------------------------------------------------------- products

class MatMul(Function):
    """``a @ b`` with NumPy's (and torch's) matmul rules: 1-D operands, batched broadcasting."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _o(a @ b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = get_array_module(g)
        a2 = a[None, :] if a.ndim == 1 else a          # (.., n, k)
        b2 = b[:, None] if b.ndim == 1 else b          # (.., k, m)
        g2 = g                                         # back to (.., n, m)
        if b.ndim == 1:
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = g2[..., None, :]
        da = db = None
        if ctx.needs_input_grad[0]:  # dA = dY B^T
            da = _fit(g2 @ xp.swapaxes(b2, -1, -2), (a2.shape, a.dtype)).reshape(a.shape)
        if ctx.needs_input_grad[1]:  # dB = A^T dY
            db = _fit(xp.swapaxes(a2, -1, -2) @ g2, (b2.shape, b.dtype)).reshape(b.shape)
        return da, db


def _check_matmul(a, b, op="matmul"):
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"{op}: both arguments need at least 1 dimension, got shapes "
                         f"{tuple(sa)} and {tuple(sb)}")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(f"{op}: shapes {tuple(sa)} and {tuple(sb)} cannot be multiplied "
                         f"({ka} != {kb})")
    try:
        np.broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2]))
    except ValueError:
        raise ValueError(f"{op}: batch dimensions of {tuple(sa)} and {tuple(sb)} do not "
                         "broadcast") from None


def matmul(input, other):
    _check_matmul(_arr(input), _arr(other))
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = _t(input)
    return MatMul.apply(input, other)


def mm(input, mat2):
    a, b = _arr(input), _arr(mat2)
    if _shape(a).__len__() != 2 or _shape(b).__len__() != 2:
        raise ValueError(f"mm: both arguments must be 2-D, got shapes {tuple(_shape(a))} and "
                         f"{tuple(_shape(b))}")
    _check_matmul(a, b, "mm")
    return MatMul.apply(_t(input), mat2)


def bmm(input, mat2):
    a, b = _arr(input), _arr(mat2)
    if len(_shape(a)) != 3 or len(_shape(b)) != 3:
        raise ValueError(f"bmm: both arguments must be 3-D, got shapes {tuple(_shape(a))} and "
                         f"{tuple(_shape(b))}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm: batch sizes differ: {a.shape[0]} and {b.shape[0]}")
    _check_matmul(a, b, "bmm")
    return MatMul.apply(_t(input), mat2)


def mv(input, vec):
    a, b = _arr(input), _arr(vec)
    if len(_shape(a)) != 2 or len(_shape(b)) != 1:
        raise ValueError(f"mv: expects a 2-D matrix and a 1-D vector, got shapes "
                         f"{tuple(_shape(a))} and {tuple(_shape(b))}")
    _check_matmul(a, b, "mv")
    return MatMul.apply(_t(input), vec)


def dot(input, other):
    a, b = _arr(input), _arr(other)
    if len(_shape(a)) != 1 or len(_shape(b)) != 1:
        raise ValueError(f"dot: both arguments must be 1-D, got shapes {tuple(_shape(a))} and "
                         f"{tuple(_shape(b))}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"dot: sizes differ: {a.shape[0]} and {b.shape[0]}")
    return MatMul.apply(_t(input), other)


def outer(input, vec2):
    a, b = _arr(input), _arr(vec2)
    if len(_shape(a)) != 1 or len(_shape(b)) != 1:
        raise ValueError(f"outer: both arguments must be 1-D, got shapes {tuple(_shape(a))} and "
                         f"{tuple(_shape(b))}")
    return Mul.apply(reshape(_t(input), -1, 1), vec2)


# ----------------------------------------------------------------------------- reductions

class Sum(Function):
    @staticmethod
    def forward(ctx, a, dim, keepdim, dtype=None):
        ctx.meta = _meta(a)
        ctx.axes, ctx.keepdim = _dims(dim, a.ndim, "sum"), keepdim
        return _o(a.sum(axis=ctx.axes, keepdims=keepdim, dtype=dtype))

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        shape, dtype = ctx.meta
        g = _keep(g, ctx.axes, ctx.keepdim, len(shape))
        return xp.broadcast_to(g, shape).astype(dtype), None, None, None


class Mean(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a, dim, keepdim, dtype=None):
        ctx.meta = _meta(a)
        ctx.axes, ctx.keepdim = _dims(dim, a.ndim, "mean"), keepdim
        ctx.n = _count(a.shape, ctx.axes)
        half = dtype is None and a.dtype == np.float16  # accumulate float16 in float32
        s = a.sum(axis=ctx.axes, keepdims=keepdim, dtype=np.float32 if half else dtype)
        out = s / s.dtype.type(ctx.n) if ctx.n else s * s.dtype.type(np.nan)
        return _o(out.astype(np.float16) if half else out)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        xp = get_array_module(g)
        shape, dtype = ctx.meta
        g = _keep(g, ctx.axes, ctx.keepdim, len(shape)) / g.dtype.type(_b.max(ctx.n, 1))
        return xp.broadcast_to(g, shape).astype(dtype), None, None, None


def _prod_of_others(x, axes):
    """For each element, the product of the other elements of its reduction group, computed
    exactly from exclusive prefix and suffix products (so zeros in x are handled)."""
    xp = get_array_module(x)
    if x.size == 0:
        return xp.zeros_like(x)
    axes = tuple(range(x.ndim)) if axes is None else axes
    keep = [i for i in range(x.ndim) if i not in axes]
    perm = keep + list(axes)
    xt = xp.transpose(x, perm)
    lead = xt.shape[:len(keep)]
    k = _count(x.shape, axes)
    flat = xt.reshape(lead + (k,))
    ones = xp.ones(lead + (1,), x.dtype)
    before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    rev = xp.flip(flat, -1)
    after = xp.flip(xp.cumprod(xp.concatenate([ones, rev[..., :-1]], axis=-1), axis=-1), -1)
    return xp.transpose((before * after).reshape(xt.shape), list(np.argsort(perm)))


class Prod(Function):
    @staticmethod
    def forward(ctx, a, dim, keepdim):
        ctx.save_for_backward(a)
        ctx.axes, ctx.keepdim = _dims(dim, a.ndim, "prod"), keepdim
        return _o(a.prod(axis=ctx.axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        g = _keep(g, ctx.axes, ctx.keepdim, a.ndim)
        return g * _prod_of_others(a, ctx.axes), None, None


class Amax(Function):
    """amax/amin over ``dim`` (None: all); the gradient is spread evenly over the tied extrema
    of each group (torch's rule for amax, amin and max/min without dim)."""

    @staticmethod
    def forward(ctx, a, dim, keepdim, largest, op):
        ctx.axes, ctx.keepdim = _dims(dim, a.ndim, op), keepdim
        if a.size == 0 and (ctx.axes is None or _b.any(a.shape[i] == 0 for i in ctx.axes)):
            raise ValueError(f"{op}: cannot reduce over a dimension of size 0 (the input has "
                             f"shape {a.shape})")
        f = a.max if largest else a.min
        out = _o(f(axis=ctx.axes, keepdims=keepdim))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        g = _keep(g, ctx.axes, ctx.keepdim, a.ndim)
        mask = _same(a, _keep(out, ctx.axes, ctx.keepdim, a.ndim))
        count = mask.sum(axis=ctx.axes, keepdims=True)
        return g * mask / count.astype(g.dtype), None, None, None, None


class MaxDim(Function):
    """(values, indices) of the max (or min) along one dim; the gradient goes to the index
    returned (the first extremum), as torch's max(dim)."""

    @staticmethod
    def forward(ctx, a, dim, keepdim, largest):
        xp = get_array_module(a)
        ctx.shape, ctx.keepdim = a.shape, keepdim
        if a.ndim == 0:
            ctx.dim = None
            return a.copy(), xp.zeros((), np.int64)
        if a.shape[dim] == 0:
            raise ValueError(f"{'max' if largest else 'min'}: cannot reduce over dim {dim} "
                             f"of size 0 (the input has shape {a.shape})")
        ctx.dim = dim
        idx = xp.expand_dims((xp.argmax if largest else xp.argmin)(a, axis=dim), dim)
        idx = idx.astype(np.int64)
        vals = xp.take_along_axis(a, idx, axis=dim)
        ctx.idx = idx
        if not keepdim:
            vals, idx = xp.squeeze(vals, dim), xp.squeeze(idx, dim)
        return _o(vals), _o(idx)

    @staticmethod
    def backward(ctx, g, _gi):
        xp = get_array_module(g)
        if ctx.dim is None:
            return g, None, None, None
        dim = ctx.dim
        if not ctx.keepdim:
            g = xp.expand_dims(g, dim)
        where_ = [1] * len(ctx.shape)
        where_[dim] = ctx.shape[dim]
        onehot = xp.arange(ctx.shape[dim]).reshape(where_) == ctx.idx
        return xp.where(onehot, g, 0).astype(g.dtype), None, None, None


_ret_max = collections.namedtuple("max", ["values", "indices"])
_ret_min = collections.namedtuple("min", ["values", "indices"])
_ret_max.__module__ = _ret_min.__module__ = "pydlk.return_types"


class return_types:
    """Named tuples returned by reductions with indices, as torch.return_types."""
    max = _ret_max
    min = _ret_min


def sum(input, dim=None, keepdim=False, *, dtype=None):
    input = _t(input)
    return Sum.apply(input, dim, keepdim, None if dtype is None else np.dtype(dtype))


def mean(input, dim=None, keepdim=False, *, dtype=None):
    input = _t(input)
    if dtype is None:
        _need_float(input, "mean")
    return Mean.apply(input, dim, keepdim, None if dtype is None else np.dtype(dtype))


def prod(input, dim=None, keepdim=False, *, dtype=None):
    input = _t(input)
    if dtype is not None:
        input = to(input, dtype)
    if dim is not None and not isinstance(dim, (int, np.integer)):
        raise TypeError(f"prod: dim must be an int, got {dim!r}")
    return Prod.apply(input, dim, keepdim)


def _extreme(input, dim, keepdim, largest):
    name = "max" if largest else "min"
    input = _t(input)
    if isinstance(dim, (Tensor, np.ndarray)) or is_cupy(dim):  # max(input, other)
        return (maximum if largest else minimum)(input, dim)
    if dim is None:
        if keepdim:
            raise TypeError(f"{name}: keepdim needs dim")
        return Amax.apply(input, None, False, largest, name)
    d = _dim(dim, input.ndim, name)
    values, indices = MaxDim.apply(input, d, keepdim, largest)
    return (_ret_max if largest else _ret_min)(values, indices)


def max(input, dim=None, keepdim=False):
    """max(input) -> the largest element; max(input, dim, keepdim=False) -> (values, indices);
    max(input, other) -> maximum(input, other)."""
    return _extreme(input, dim, keepdim, True)


def min(input, dim=None, keepdim=False):
    return _extreme(input, dim, keepdim, False)


def amax(input, dim=(), keepdim=False):
    """Largest value over ``dim`` (``()``, the default, means all dims)."""
    input = _t(input)
    dim = None if dim == () or dim == [] else dim
    return Amax.apply(input, dim, keepdim, True, "amax")


def amin(input, dim=(), keepdim=False):
    input = _t(input)
    dim = None if dim == () or dim == [] else dim
    return Amax.apply(input, dim, keepdim, False, "amin")


def _arg(input, dim, keepdim, largest):
    name = "argmax" if largest else "argmin"
    a = _arr(input)
    xp = _xp(a)
    f = xp.argmax if largest else xp.argmin
    if a.size == 0:
        raise ValueError(f"{name}: the input is empty (shape {a.shape})")
    if dim is None:
        r = f(a.reshape(-1))
        if keepdim:
            r = xp.asarray(r).reshape((1,) * a.ndim)
        return _nograd(xp.asarray(r).astype(np.int64))
    if a.ndim == 0:
        _dim(dim, 0, name)
        return _nograd(xp.zeros((), np.int64))
    d = _dim(dim, a.ndim, name)
    r = f(a, axis=d)
    if keepdim:
        r = xp.expand_dims(r, d)
    return _nograd(xp.asarray(r).astype(np.int64))


def argmax(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, True)


def argmin(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, False)


class Var(Function):
    """Variance over ``dim`` with divisor N - correction; with ``root`` the standard deviation.

    d var / dx_i = 2 (x_i - mean) / (N - correction); d std = d var / (2 std), 0 where std == 0.
    """

    @staticmethod
    @_quiet
    def forward(ctx, a, dim, correction, keepdim, root):
        xp = get_array_module(a)
        axes = _dims(dim, a.ndim, "std" if root else "var")
        n = _count(a.shape, axes)
        div = a.dtype.type(_b.max(n - correction, 0))
        mu = a.sum(axis=axes, keepdims=True) / a.dtype.type(n)
        d = a - mu
        out = (d * d).sum(axis=axes, keepdims=keepdim) / div
        if root:
            out = xp.sqrt(out)
        out = _o(out)
        ctx.save_for_backward(d, out)
        ctx.axes, ctx.keepdim, ctx.div, ctx.root = axes, keepdim, div, root
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        xp = get_array_module(g)
        d, out = ctx.saved_tensors
        g = _keep(g, ctx.axes, ctx.keepdim, d.ndim)
        if ctx.root:
            s = _keep(out, ctx.axes, ctx.keepdim, d.ndim)
            g = xp.where(s == 0, 0, g / (2 * s))
        return (2 * g * d / ctx.div).astype(d.dtype), None, None, None, None


def _var_args(op, dim, unbiased, correction):
    if isinstance(dim, bool):  # var(input, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise ValueError(f"{op}: pass either unbiased or correction, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return dim, correction


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over ``dim`` (None: all) with divisor N - correction (1 by default)."""
    input = _t(input)
    _need_float(input, "var")
    dim, correction = _var_args("var", dim, unbiased, correction)
    return Var.apply(input, dim, correction, keepdim, False)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    input = _t(input)
    _need_float(input, "std")
    dim, correction = _var_args("std", dim, unbiased, correction)
    return Var.apply(input, dim, correction, keepdim, True)


class Norm(Function):
    """Vector p-norm over ``dim`` (None: all elements): (sum |x|^p)^(1/p), inf: max |x|.

    Gradients as torch's norm_backward: p=2 x/||x||, p=1 sign(x), p=inf sign(x) spread over the
    tied maxima, p=0 zero, general p x |x|^(p-2) / ||x||^(p-1); 0 where the norm is 0.
    """

    @staticmethod
    @_quiet
    def forward(ctx, a, p, dim, keepdim):
        xp = get_array_module(a)
        axes = _dims(dim, a.ndim, "norm")
        ax = xp.abs(a)
        if p == math.inf:
            out = ax.max(axis=axes, keepdims=keepdim)
        elif p == -math.inf:
            out = ax.min(axis=axes, keepdims=keepdim)
        elif p == 0:
            out = (a != 0).sum(axis=axes, keepdims=keepdim).astype(a.dtype)
        elif p == 1:
            out = ax.sum(axis=axes, keepdims=keepdim)
        elif p == 2:
            out = xp.sqrt((a * a).sum(axis=axes, keepdims=keepdim))
        else:
            out = (ax ** p).sum(axis=axes, keepdims=keepdim) ** (1.0 / p)
        out = _o(out.astype(a.dtype, copy=False))
        ctx.save_for_backward(a, out)
        ctx.p, ctx.axes, ctx.keepdim = p, axes, keepdim
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        xp = get_array_module(g)
        a, out = ctx.saved_tensors
        p = ctx.p
        g = _keep(g, ctx.axes, ctx.keepdim, a.ndim)
        n = _keep(out, ctx.axes, ctx.keepdim, a.ndim)
        if p == 0:
            da = xp.zeros_like(a)
        elif p == 1:
            da = g * xp.sign(a)
        elif p == 2:
            da = a * xp.where(n == 0, 0, g / n)
        elif p in (math.inf, -math.inf):
            mask = _same(xp.abs(a), n)
            da = xp.sign(a) * mask * (g / mask.sum(axis=ctx.axes, keepdims=True))
        else:
            da = a * xp.abs(a) ** (p - 2) * xp.where(n == 0, 0, g / n ** (p - 1))
        return da.astype(a.dtype, copy=False), None, None, None


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector p-norm of all elements (dim=None) or over ``dim``. ``'fro'`` is the 2-norm;
    matrix norms other than Frobenius (``'nuc'``, p with two dims) are not provided."""
    input = _t(input)
    if dtype is not None:
        input = to(input, dtype)
    _need_float(input, "norm")
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str):
        raise ValueError(f"norm: p={p!r} is not supported (use a number, inf or 'fro')")
    p = float(p)
    return Norm.apply(input, p, dim, keepdim)


class LogSumExp(Function):
    """log(sum(exp(x))) over ``dim``, computed as m + log(sum(exp(x - m))) with m the max
    (0 where the max is infinite); d/dx = exp(x - out)."""

    @staticmethod
    @_quiet
    def forward(ctx, a, dim, keepdim):
        xp = get_array_module(a)
        axes = _dims(dim, a.ndim, "logsumexp")
        if a.size == 0:
            out = xp.log(xp.exp(a).sum(axis=axes, keepdims=keepdim))
        else:
            m = a.max(axis=axes, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)
            out = xp.log(xp.exp(a - m).sum(axis=axes, keepdims=True)) + m
            if not keepdim:
                out = out.reshape(()) if axes is None else xp.squeeze(out, axes)
        out = _o(out)
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        xp = get_array_module(g)
        a, out = ctx.saved_tensors
        g = _keep(g, ctx.axes, ctx.keepdim, a.ndim)
        return g * xp.exp(a - _keep(out, ctx.axes, ctx.keepdim, a.ndim)), None, None


def logsumexp(input, dim, keepdim=False):
    input = _t(input)
    _need_float(input, "logsumexp")
    return LogSumExp.apply(input, dim, keepdim)


class CumSum(Function):
    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        if a.ndim == 0:
            return a.copy()
        return _o(get_array_module(a).cumsum(a, axis=dim))

    @staticmethod
    def backward(ctx, g):
        if g.ndim == 0:
            return g, None
        xp = get_array_module(g)
        # out_j = sum_{i <= j} x_i, so dx_i = sum_{j >= i} g_j: a reversed cumulative sum
        return xp.flip(xp.cumsum(xp.flip(g, ctx.dim), axis=ctx.dim), ctx.dim), None


def cumsum(input, dim, *, dtype=None):
    input = _t(input)
    if dtype is not None:
        input = to(input, dtype)
    return CumSum.apply(input, _dim(dim, input.ndim, "cumsum"))


def _logical(name):
    def op(input, dim=None, keepdim=False):
        a = _arr(input)
        axes = _dims(dim, a.ndim, name)
        return _nograd(getattr(a, name)(axis=axes, keepdims=keepdim))
    op.__name__ = name
    return op


all = _logical("all")
any = _logical("any")


def count_nonzero(input, dim=None):
    a = _arr(input)
    return _nograd(_xp(a).asarray((a != 0).sum(axis=_dims(dim, a.ndim, "count_nonzero")))
                   .astype(np.int64))


# ----------------------------------------------------------------------------- shape ops

class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


def reshape(input, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    input = _t(input)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"reshape: shape must be ints, got {shape!r}") from None
    known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
    bad = (shape.count(-1) > 1 or _b.any(s < -1 for s in shape)
           or (-1 not in shape and known != input.numel())
           or (-1 in shape and (known == 0 or input.numel() % known)))
    if bad:
        raise ValueError(f"reshape: shape {list(shape)} is invalid for input of size "
                         f"{input.numel()} (shape {tuple(input.shape)})")
    return Reshape.apply(input, shape)


def view(input, *shape):
    """As ``reshape`` (copies a non-contiguous tensor where torch's view would refuse)."""
    return reshape(input, *shape)


def flatten(input, start_dim=0, end_dim=-1):
    input = _t(input)
    shape = input.shape
    if input.ndim == 0:
        _dim(start_dim, 0, "flatten")
        _dim(end_dim, 0, "flatten")
        return Reshape.apply(input, (1,))
    s, e = _dim(start_dim, input.ndim, "flatten"), _dim(end_dim, input.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    new = shape[:s] + (int(np.prod(shape[s:e + 1], dtype=np.int64)),) + shape[e + 1:]
    return Reshape.apply(input, new)


def unflatten(input, dim, sizes):
    input = _t(input)
    d = _dim(dim, input.ndim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    new = input.shape[:d] + sizes + input.shape[d + 1:]
    return reshape(input, new)


def unsqueeze(input, dim):
    input = _t(input)
    d = _dim(dim, input.ndim, "unsqueeze", extra=1)
    return Reshape.apply(input, input.shape[:d] + (1,) + input.shape[d:])


def squeeze(input, dim=None):
    """Drop size-1 dims (all of them, or those in ``dim``; a named dim of another size stays)."""
    input = _t(input)
    shape = input.shape
    if dim is None:
        drop = {i for i, s in enumerate(shape) if s == 1}
    else:
        drop = {d for d in (_dims(dim, input.ndim, "squeeze") or ()) if shape[d] == 1}
    return Reshape.apply(input, tuple(s for i, s in enumerate(shape) if i not in drop))


class Permute(Function):
    @staticmethod
    def forward(ctx, a, perm):
        ctx.perm = perm
        return get_array_module(a).transpose(a, perm)

    @staticmethod
    def backward(ctx, g):
        return get_array_module(g).transpose(g, tuple(np.argsort(ctx.perm))), None


def permute(input, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    input = _t(input)
    if len(dims) != input.ndim:
        raise ValueError(f"permute: got {len(dims)} dims {tuple(dims)} for a tensor with "
                         f"{input.ndim} dimensions")
    perm = tuple(_dim(d, input.ndim, "permute") for d in dims)
    if len(set(perm)) != len(perm):
        raise ValueError(f"permute: dims {tuple(dims)} repeat a dimension")
    return Permute.apply(input, perm)


def transpose(input, dim0, dim1):
    input = _t(input)
    if input.ndim == 0:
        _dim(dim0, 0, "transpose")
        _dim(dim1, 0, "transpose")
        return Permute.apply(input, ())
    perm = list(range(input.ndim))
    d0, d1 = _dim(dim0, input.ndim, "transpose"), _dim(dim1, input.ndim, "transpose")
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return Permute.apply(input, tuple(perm))


swapaxes = swapdims = transpose


def movedim(input, source, destination):
    input = _t(input)
    n = input.ndim
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [_dim(d, n, "movedim") for d in src]
    dst = [_dim(d, n, "movedim") for d in dst]
    if len(src) != len(dst):
        raise ValueError("movedim: source and destination need the same number of dims")
    perm = [d for d in range(n) if d not in src]
    for d, s in sorted(zip(dst, src)):
        perm.insert(d, s)
    return Permute.apply(input, tuple(perm))


moveaxis = movedim


def t(input):
    """Transpose a tensor of at most 2 dims (0-d and 1-d come back as they are)."""
    input = _t(input)
    if input.ndim > 2:
        raise ValueError(f"t: expects a tensor with <= 2 dimensions, got {input.ndim}; "
                         "use transpose(dim0, dim1) or .mT")
    return Permute.apply(input, tuple(range(input.ndim))[::-1])


def _T(self):
    return Permute.apply(self, tuple(range(self.ndim))[::-1])


def _mT(self):
    if self.ndim < 2:
        raise ValueError(f"mT: needs a tensor with at least 2 dimensions, got {self.ndim}")
    return transpose(self, -2, -1)


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.meta = _meta(a)
        return get_array_module(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return _fit(g, ctx.meta), None


def expand(input, *sizes):
    """A broadcast view of ``input`` with ``sizes`` (-1 keeps a dim; new dims go in front)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    input = _t(input)
    sizes = tuple(int(s) for s in sizes)
    n, m = input.ndim, len(sizes)
    if m < n:
        raise ValueError(f"expand: the number of sizes ({m}) must be at least the number of "
                         f"dimensions ({n})")
    shape = []
    for i, s in enumerate(sizes):
        j = i - (m - n)
        if j < 0:
            if s < 0:
                raise ValueError(f"expand: -1 is not allowed for the new leading dimension {i}")
            shape.append(s)
            continue
        old = input.shape[j]
        if s == -1:
            s = old
        if s != old and old != 1:
            raise ValueError(f"expand: the expanded size {s} must match the existing size "
                             f"{old} at dimension {j} (only size-1 dims can grow); input shape "
                             f"{tuple(input.shape)}, sizes {sizes}")
        shape.append(s)
    return Expand.apply(input, tuple(shape))


def broadcast_to(input, size):
    return expand(input, tuple(size))


class Repeat(Function):
    @staticmethod
    def forward(ctx, a, reps):
        ctx.shape = a.shape
        return get_array_module(a).tile(a, reps)

    @staticmethod
    def backward(ctx, g):
        reps = g.ndim
        src = (1,) * (reps - len(ctx.shape)) + tuple(ctx.shape)
        r = [o // s if s else 0 for o, s in zip(g.shape, src)]
        # out has shape (r0*s0, r1*s1, ...), laid out as (r0, s0, r1, s1, ...): sum the r axes
        if 0 in r or 0 in src:
            return get_array_module(g).zeros(ctx.shape, g.dtype), None
        inter = g.reshape(tuple(v for pair in zip(r, src) for v in pair))
        return inter.sum(axis=tuple(range(0, 2 * reps, 2))).reshape(ctx.shape), None


def _repeat(self, *sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < self.ndim:
        raise ValueError(f"repeat: the number of repeats ({len(sizes)}) must be at least the "
                         f"number of dimensions ({self.ndim})")
    if _b.any(s < 0 for s in sizes):
        raise ValueError(f"repeat: repeats must be non-negative, got {sizes}")
    return Repeat.apply(self, sizes)


class Flip(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return get_array_module(a).flip(a, dims) if dims else a.copy()

    @staticmethod
    def backward(ctx, g):
        return (get_array_module(g).flip(g, ctx.dims) if ctx.dims else g), None


def flip(input, dims):
    input = _t(input)
    dims = _dims(dims, input.ndim, "flip")
    return Flip.apply(input, dims)


class Copy(Function):
    """clone() and contiguous(): a fresh C-contiguous copy; the gradient passes through."""

    @staticmethod
    def forward(ctx, a):
        return get_array_module(a).array(a, copy=True, order="C")

    @staticmethod
    def backward(ctx, g):
        return g


def clone(input):
    return Copy.apply(_t(input))


def _contiguous(self):
    return self if self.data.flags.c_contiguous else Copy.apply(self)


def _is_contiguous(self):
    return bool(self.data.flags.c_contiguous)


# -- indexing

def _key(key):
    """An index with Tensors and lists turned into arrays (what NumPy indexes with)."""
    def one(k):
        if isinstance(k, Tensor):
            return k.data
        if isinstance(k, list):
            return np.asarray([int(v) if isinstance(v, Tensor) else v for v in k])
        return k
    return tuple(one(k) for k in key) if isinstance(key, tuple) else one(key)


def _advanced(key):
    ks = key if isinstance(key, tuple) else (key,)
    return _b.any(hasattr(k, "shape") and hasattr(k, "dtype") for k in ks)


class Index(Function):
    """``a[key]``: basic indexing gives a view; integer arrays may repeat an index, so the
    backward adds with ``add.at`` (``cupyx.scatter_add`` on a GPU) and repeats accumulate."""

    @staticmethod
    def forward(ctx, a, key):
        ctx.meta, ctx.key = _meta(a), key
        return _o(a[key])

    @staticmethod
    def backward(ctx, g):
        shape, dtype = ctx.meta
        xp = get_array_module(g)
        z = xp.zeros(shape, dtype)
        if not _advanced(ctx.key):
            z[ctx.key] = g
        elif is_cupy(z):
            import cupyx
            cupyx.scatter_add(z, ctx.key, g)
        else:
            np.add.at(z, ctx.key, g)
        return z, None


def _getitem(self, key):
    key = _key(key)
    if is_cupy(self.data):
        import cupy
        key = tuple(cupy.asarray(k) if isinstance(k, np.ndarray) else k for k in key) \
            if isinstance(key, tuple) else (cupy.asarray(key) if isinstance(key, np.ndarray)
                                            else key)
    return Index.apply(self, key)


def _setitem(self, key, value):
    """``t[key] = value`` writes into ``t.data``. Refused while grad mode is on if ``t`` requires
    grad (a leaf would be changed behind its gradient; a graph node has no in-place backward
    here) or if ``value`` requires grad (the assignment would drop its gradient): build the
    result out of place instead (``pydlk.where``, ``pydlk.cat``) or wrap it in ``no_grad()``."""
    if is_grad_enabled():
        if self.requires_grad:
            if self.is_leaf:
                raise RuntimeError("setitem: a leaf tensor that requires grad is being used in "
                                   "an in-place operation; wrap it in pydlk.no_grad()")
            raise RuntimeError("setitem: in-place assignment into a tensor that is part of "
                               "the autograd graph is not supported; build the result out of "
                               "place (pydlk.where, pydlk.cat) or clone() first")
        if isinstance(value, Tensor) and value.requires_grad:
            raise RuntimeError("setitem: the value requires grad and an assignment does not "
                               "record it; build the result out of place (pydlk.where, "
                               "pydlk.cat) or assign value.detach()")
    v = _arr(value)
    if is_cupy(self.data) and isinstance(v, np.ndarray):
        import cupy
        v = cupy.asarray(v)
    self.data[_key(key)] = v


def _iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    for i in range(self.shape[0]):
        yield self[i]


# -- joining and splitting

class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] for a in arrays]
        ctx.dtypes = [a.dtype for a in arrays]
        return _xp(*arrays).concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        bounds = np.cumsum(ctx.sizes)[:-1].tolist()
        parts = xp.split(g, bounds, axis=ctx.dim)
        return (None,) + tuple(p.astype(d, copy=False) if ctx.needs_input_grad[i + 1] else None
                               for i, (p, d) in enumerate(zip(parts, ctx.dtypes)))


def _seq(tensors, op):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a list or tuple of tensors, got "
                        f"{type(tensors).__name__}")
    if len(tensors) == 0:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    return [_t(x) for x in tensors]


def cat(tensors, dim=0):
    ts = _seq(tensors, "cat")
    n = ts[0].ndim
    if n == 0:
        raise ValueError("cat: zero-dimensional tensor 0 cannot be concatenated")
    d = _dim(dim, n, "cat")
    ref = ts[0].shape
    for i, x in enumerate(ts[1:], 1):
        if x.ndim != n:
            raise ValueError(f"cat: tensor {i} has {x.ndim} dimensions, tensor 0 has {n}")
        for j in range(n):
            if j != d and x.shape[j] != ref[j]:
                raise ValueError(f"cat: sizes of tensors must match except in dimension {d}; "
                                 f"tensor {i} has size {x.shape[j]} in dimension {j}, "
                                 f"expected {ref[j]} (shapes {tuple(ref)} and {tuple(x.shape)})")
    return Cat.apply(d, *ts)


concat = concatenate = cat


def stack(tensors, dim=0):
    ts = _seq(tensors, "stack")
    ref = ts[0].shape
    for i, x in enumerate(ts[1:], 1):
        if x.shape != ref:
            raise ValueError(f"stack: all tensors must have the same shape; tensor {i} has "
                             f"shape {tuple(x.shape)}, tensor 0 has {tuple(ref)}")
    d = _dim(dim, len(ref), "stack", extra=1)
    return Cat.apply(d, *[Reshape.apply(x, ref[:d] + (1,) + ref[d:]) for x in ts])


def hstack(tensors):
    ts = _seq(tensors, "hstack")
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors):
    ts = [x if x.ndim >= 2 else reshape(x, 1, -1) for x in _seq(tensors, "vstack")]
    return cat(ts, 0)


class Split(Function):
    """Views of consecutive pieces along ``dim``; the backward concatenates their gradients
    (zeros for pieces that received none)."""

    @staticmethod
    def forward(ctx, a, sections, dim):
        ctx.dim = dim
        bounds = np.cumsum(sections)[:-1].tolist()
        return tuple(get_array_module(a).split(a, bounds, axis=dim))

    @staticmethod
    def backward(ctx, *gs):
        return get_array_module(gs[0]).concatenate(gs, axis=ctx.dim), None, None


def split(tensor, split_size_or_sections, dim=0):
    tensor = _t(tensor)
    d = _dim(dim, tensor.ndim, "split")
    n = tensor.shape[d] if tensor.ndim else 1
    s = split_size_or_sections
    if isinstance(s, (int, np.integer)):
        if s <= 0 and not (s == 0 and n == 0):
            raise ValueError(f"split: split_size must be positive, got {s}")
        sections = [s] * (n // s) + ([n % s] if n % s else []) if s else [0]
    else:
        sections = [int(v) for v in s]
        if _b.any(v < 0 for v in sections) or _b.sum(sections) != n:
            raise ValueError(f"split: sections {sections} must be non-negative and sum to the "
                             f"size {n} of dimension {d}")
    return Split.apply(tensor, sections, d)


def _split_method(self, split_size, dim=0):
    return split(self, split_size, dim)


def chunk(input, chunks, dim=0):
    """Up to ``chunks`` pieces of ceil(n / chunks) along ``dim`` (fewer if n is small)."""
    input = _t(input)
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    d = _dim(dim, input.ndim, "chunk")
    n = input.shape[d]
    return split(input, _b.max(-(-n // chunks), 1) if n else 0, d)


def unbind(input, dim=0):
    input = _t(input)
    d = _dim(dim, input.ndim, "unbind")
    rest = input.shape[:d] + input.shape[d + 1:]
    return tuple(Reshape.apply(p, rest) for p in split(input, 1, d))


# ----------------------------------------------------------------------------- conversions

class Cast(Function):
    """A dtype conversion; differentiable between floating dtypes (the gradient is cast back)."""

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype), None


class ToDevice(Function):
    """A copy to another device; the gradient is copied back."""

    @staticmethod
    def forward(ctx, a, device):
        ctx.device = "cpu" if not is_cupy(a) else f"cuda:{a.device.id}"
        return _move(a, device)

    @staticmethod
    def backward(ctx, g):
        return _move(g, ctx.device), None


def _cupy():
    try:
        import cupy
    except ImportError:
        raise RuntimeError("cuda: CuPy is not installed, so pydlk cannot use a GPU; install "
                           "the cupy package for your CUDA version (e.g. cupy-cuda12x)") from None
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 (CUDA runtime errors have several types)
        raise RuntimeError(f"cuda: no usable CUDA device ({e})") from None
    if n == 0:
        raise RuntimeError("cuda: no CUDA device found")
    return cupy


def _parse_device(device):
    if device is None:
        return None
    s = str(device)
    if s == "cpu":
        return "cpu"
    if s == "cuda" or s.startswith("cuda:"):
        idx = s.partition(":")[2]
        if idx and not idx.isdigit():
            raise ValueError(f"invalid device {device!r}")
        return f"cuda:{int(idx) if idx else 0}"
    raise ValueError(f"invalid device {device!r}; expected 'cpu', 'cuda' or 'cuda:N'")


def _move(a, device):
    if device == "cpu":
        return a.get() if is_cupy(a) else a
    cupy = _cupy()
    idx = int(device.partition(":")[2] or 0)
    with cupy.cuda.Device(idx):
        return cupy.asarray(a)


def _device_str(a):
    return "cpu" if not is_cupy(a) else f"cuda:{a.device.id}"


def _is_dtype_like(x):
    if isinstance(x, (np.dtype, type)):
        return True
    if isinstance(x, str):
        try:
            np.dtype(x)
            return True
        except TypeError:
            return False
    return False


def to(input, *args, dtype=None, device=None, copy=False, non_blocking=False):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other_tensor)``; returns
    ``input`` itself when nothing changes (unless copy=True). Differentiable."""
    input = _t(input)
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif _is_dtype_like(a) and not (isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda")):
            dtype = a
        else:
            device = a
    out = input
    dev = _parse_device(device)
    if dev is not None and dev != _device_str(input.data):
        out = ToDevice.apply(out, dev)
    if dtype is not None and np.dtype(dtype) != out.dtype:
        out = Cast.apply(out, np.dtype(dtype))
    if copy and out is input:
        out = Copy.apply(input)
    return out


def _cast_method(dtype):
    def method(self):
        return to(self, dtype)
    return method


def _cpu(self):
    return to(self, "cpu")


def _cuda(self, device=None):
    return to(self, "cuda" if device is None else
              (f"cuda:{device}" if isinstance(device, int) else device))


def _type_as(self, other):
    return to(self, other.dtype)


def _is_floating_point(self):
    return self.dtype.kind == "f"


# dtype names as torch has them (pydlk dtypes are NumPy dtypes). The ones that are Python
# builtins' names (bool, float, int) are served by __getattr__ so they do not shadow the builtins
# inside this module.
float16 = half = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int8, int16, int32, int64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
uint8 = np.dtype(np.uint8)
long = int64
complex64, complex128 = np.dtype(np.complex64), np.dtype(np.complex128)
_DTYPE_ALIASES = {"bool": np.dtype(np.bool_), "float": float32, "int": int32}


def __getattr__(name):
    if name in _DTYPE_ALIASES:
        return _DTYPE_ALIASES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------- factories

def _new(array, device, requires_grad):
    """A fresh leaf tensor from a NumPy array, moved to ``device``."""
    dev = _parse_device(device)
    if dev is not None and dev != "cpu":
        array = _move(array, dev)
    t = Tensor._wrap(array)
    if requires_grad:
        t.requires_grad = True  # raises for integer dtypes
    return t


def _float_dtype(dtype, op):
    """A factory's dtype: float32 unless given."""
    return np.dtype(np.float32 if dtype is None else dtype)


def _size_args(size, kwsize, op):
    if kwsize is not None:
        if size:
            raise TypeError(f"{op}: pass the size positionally or as size=, not both")
        size = (kwsize,)
    return _sizes(size, op)


def zeros(*size, dtype=None, device=None, requires_grad=False, **kw):
    size = _size_args(size, kw.pop("size", None), "zeros")
    _no_kw(kw, "zeros")
    return _new(np.zeros(size, _float_dtype(dtype, "zeros")), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, **kw):
    size = _size_args(size, kw.pop("size", None), "ones")
    _no_kw(kw, "ones")
    return _new(np.ones(size, _float_dtype(dtype, "ones")), device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False, **kw):
    size = _size_args(size, kw.pop("size", None), "empty")
    _no_kw(kw, "empty")
    return _new(np.empty(size, _float_dtype(dtype, "empty")), device, requires_grad)


def _no_kw(kw, op):
    """Accept torch's layout=/pin_memory= (meaningless here) and out=None; refuse the rest."""
    kw.pop("layout", None)
    kw.pop("pin_memory", None)
    if "out" in kw and kw["out"] is None:
        del kw["out"]
    if kw:
        raise TypeError(f"{op}: unexpected keyword argument(s) {sorted(kw)}")


def _scalar_dtype(v):
    if isinstance(v, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(v, (int, np.integer)):
        return int64
    if isinstance(v, (complex, np.complexfloating)):
        return complex64
    return float32  # Python and NumPy floats alike, as torch


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    size = _sizes((size,), "full")
    dt = np.dtype(dtype) if dtype is not None else _scalar_dtype(fill_value)
    return _new(np.full(size, fill_value, dt), device, requires_grad)


def _like(input, dtype, device):
    a = _arr(input)
    dt = a.dtype if dtype is None else np.dtype(dtype)
    dev = _device_str(a) if device is None else device
    return a.shape, dt, dev


def zeros_like(input, *, dtype=None, device=None, requires_grad=False):
    shape, dt, dev = _like(input, dtype, device)
    return _new(np.zeros(shape, dt), dev, requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False):
    shape, dt, dev = _like(input, dtype, device)
    return _new(np.ones(shape, dt), dev, requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False):
    shape, dt, dev = _like(input, dtype, device)
    return _new(np.empty(shape, dt), dev, requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    shape, dt, dev = _like(input, dtype, device)
    return _new(np.full(shape, fill_value, dt), dev, requires_grad)


def arange(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """[start, end) in steps of ``step``; int64 if all three are ints, else float32.
    The length is ceil((end - start) / step), computed in float64 as torch does."""
    if end is None:
        start, end = 0, start
    vals = [_arr(v).item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(f"arange: the range [{start}, {end}) is inconsistent with the sign "
                         f"of step {step}")
    ints = _b.all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals)
    dt = np.dtype(dtype) if dtype is not None else (int64 if ints else float32)
    if ints:
        a = np.arange(start, end, step, dtype=np.int64)
    else:
        n = int(math.ceil((end - start) / step))
        a = start + step * np.arange(n, dtype=np.float64)
    return _new(a.astype(dt), device, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    dt = _float_dtype(dtype, "linspace")
    return _new(np.linspace(start, end, steps, dtype=np.float64).astype(dt), device,
                requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    if n < 0 or (m is not None and m < 0):
        raise ValueError(f"eye: n and m must be non-negative, got {n}, {m}")
    return _new(np.eye(n, m, dtype=_float_dtype(dtype, "eye")), device, requires_grad)


def _gen(generator):
    return (generator or _random.default_generator).numpy


def _rand_dtype(dtype, op):
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"{op}: dtype must be floating point, got {dt}")
    return dt


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False, **kw):
    """Uniform [0, 1) from pydlk's generator (seeded by ``pydlk.manual_seed``)."""
    size = _size_args(size, kw.pop("size", None), "rand")
    _no_kw(kw, "rand")
    dt = _rand_dtype(dtype, "rand")
    gdt = dt if dt in (float32, float64) else float32
    a = _gen(generator).random(size, dtype=gdt).astype(dt, copy=False)
    return _new(a, device, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False, **kw):
    """Standard normal samples from pydlk's generator (seeded by ``pydlk.manual_seed``)."""
    size = _size_args(size, kw.pop("size", None), "randn")
    _no_kw(kw, "randn")
    dt = _rand_dtype(dtype, "randn")
    gdt = dt if dt in (float32, float64) else float32
    a = _gen(generator).standard_normal(size, dtype=gdt).astype(dt, copy=False)
    return _new(a, device, requires_grad)


def randint(*args, size=None, generator=None, dtype=None, device=None, requires_grad=False,
            low=None, high=None):
    """randint(high, size) or randint(low, high, size): integers in [low, high), int64."""
    args = list(args)
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size = args.pop()
    if len(args) == 2:
        low, high = args
    elif len(args) == 1:
        if high is None:
            high = args[0]
        else:
            low = args[0]
    elif args:
        raise TypeError(f"randint: expected (high, size) or (low, high, size), got {args}")
    low = 0 if low is None else int(low)
    if high is None or size is None:
        raise TypeError("randint: high and size are required")
    high = int(high)
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    size = _sizes((size,), "randint")
    a = _gen(generator).integers(low, high, size, dtype=np.int64)
    return _new(a.astype(np.dtype(dtype) if dtype is not None else int64), device,
                requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    a = _gen(generator).permutation(int(n)).astype(np.int64)
    return _new(a.astype(np.dtype(dtype) if dtype is not None else int64), device,
                requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False):
    shape, dt, dev = _like(input, dtype, device)
    return rand(shape, dtype=dt, device=dev, requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False):
    shape, dt, dev = _like(input, dtype, device)
    return randn(shape, dtype=dt, device=dev, requires_grad=requires_grad)


def _new_method(factory):
    """Tensor.new_zeros and friends: the tensor's dtype and device unless given."""
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return factory(_sizes(size, factory.__name__), dtype=self.dtype if dtype is None
                       else dtype, device=self.device if device is None else device,
                       requires_grad=requires_grad)
    return method


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(size, fill_value, dtype=self.dtype if dtype is None else dtype,
                device=self.device if device is None else device, requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    from .autograd import tensor
    a = tensor(data, dtype=self.dtype if dtype is None else dtype).data
    return _new(a, self.device if device is None else device, requires_grad)


def numel(input):
    return int(_arr(input).size)


def is_tensor(obj):
    return isinstance(obj, Tensor)


# ----------------------------------------------------------------------------- activations
# Implemented in pydlk.functional (imported when first used, so the two modules load in any
# order); offered here as torch offers them: torch.relu(x) and x.relu().

def _F():
    from . import functional
    return functional


def relu(input):
    return _F().relu(input)


def sigmoid(input):
    return _F().sigmoid(input)


def tanh(input):
    return _F().tanh(input)


def softmax(input, dim, dtype=None):
    return _F().softmax(input, dim=dim, dtype=dtype) if dtype is not None else \
        _F().softmax(input, dim=dim)


def log_softmax(input, dim, dtype=None):
    return _F().log_softmax(input, dim=dim, dtype=dtype) if dtype is not None else \
        _F().log_softmax(input, dim=dim)


# ----------------------------------------------------------------------------- Tensor methods

def _inplace(op_name, fn):
    """``x op= y``: in place on the data when no gradient is being recorded through x or y;
    out of place (a new graph node, as ``x = x op y``) when x is a non-leaf of the graph or y
    requires grad; refused for a leaf that requires grad."""
    def method(self, other):
        if is_grad_enabled() and (self.requires_grad or
                                  (isinstance(other, Tensor) and other.requires_grad)):
            self._check_inplace(op_name)
            return fn(self, other)
        o = _arr(other)
        if is_cupy(self.data) and isinstance(o, np.ndarray):
            import cupy
            o = cupy.asarray(o)
        r = _arr(fn(Tensor._wrap(self.data), Tensor._wrap(o) if hasattr(o, "shape") else o))
        if r.shape != self.shape:
            raise ValueError(f"{op_name}: the result has shape {r.shape}, but the in-place "
                             f"target has shape {self.shape}")
        if r.dtype != self.dtype and not np.can_cast(r.dtype, self.dtype, "same_kind"):
            raise TypeError(f"{op_name}: result type {r.dtype} can't be cast to the in-place "
                            f"target's dtype {self.dtype}")
        self.data[...] = r
        return self
    return method


def _eq(self, other):
    return False if other is None else eq(self, other)


def _ne(self, other):
    return True if other is None else ne(self, other)


def _bitwise(ufunc_name, reflected=False):
    def op(self, other):
        a, b = (_arr(other), self.data) if reflected else (self.data, _arr(other))
        return _nograd(getattr(_xp(a, b), ufunc_name)(a, b))
    return op


def _sub_(self, other, alpha=1):
    self._check_inplace("sub_")
    return self.add_(other, alpha=-alpha)


def _div_(self, other):
    self._check_inplace("div_")
    self.data /= _arr(other)
    return self


_methods = {
    # arithmetic
    "__add__": lambda self, o: Add.apply(self, _s(o)),
    "__radd__": lambda self, o: Add.apply(_s(o), self),
    "__sub__": lambda self, o: Sub.apply(self, _s(o)),
    "__rsub__": lambda self, o: Sub.apply(_s(o), self),
    "__mul__": lambda self, o: Mul.apply(self, _s(o)),
    "__rmul__": lambda self, o: Mul.apply(_s(o), self),
    "__truediv__": lambda self, o: Div.apply(self, _s(o)),
    "__rtruediv__": lambda self, o: Div.apply(_s(o), self),
    "__pow__": lambda self, o: Pow.apply(self, _s(o)),
    "__rpow__": lambda self, o: Pow.apply(_s(o), self),
    "__matmul__": lambda self, o: matmul(self, o),
    "__rmatmul__": lambda self, o: matmul(o, self),
    "__neg__": lambda self: Neg.apply(self),
    "__pos__": lambda self: self,
    "__abs__": lambda self: Abs.apply(self),
    "__floordiv__": floor_divide,
    "__rfloordiv__": lambda self, o: floor_divide(o, self),
    "__mod__": remainder,
    "__rmod__": lambda self, o: remainder(o, self),
    "__iadd__": _inplace("__iadd__", lambda a, b: Add.apply(a, b)),
    "__isub__": _inplace("__isub__", lambda a, b: Sub.apply(a, b)),
    "__imul__": _inplace("__imul__", lambda a, b: Mul.apply(a, b)),
    "__itruediv__": _inplace("__itruediv__", lambda a, b: Div.apply(a, b)),
    "__eq__": _eq, "__ne__": _ne, "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
    "__invert__": lambda self: logical_not(self) if self.dtype == np.bool_
    else _nograd(_xp(self.data).invert(self.data)),
    "__and__": _bitwise("bitwise_and"), "__rand__": _bitwise("bitwise_and", True),
    "__or__": _bitwise("bitwise_or"), "__ror__": _bitwise("bitwise_or", True),
    "__xor__": _bitwise("bitwise_xor"), "__rxor__": _bitwise("bitwise_xor", True),
    "__getitem__": _getitem, "__setitem__": _setitem, "__iter__": _iter,
    "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "neg": neg,
    "abs": abs, "exp": exp, "log": log, "log1p": log1p, "sqrt": sqrt, "rsqrt": rsqrt,
    "sin": sin, "cos": cos, "square": square, "reciprocal": reciprocal, "sign": sign,
    "floor": floor, "ceil": ceil, "round": round, "trunc": trunc,
    "clamp": clamp, "clip": clip, "maximum": maximum, "minimum": minimum,
    "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge,
    "floor_divide": floor_divide, "remainder": remainder,
    "isnan": isnan, "isinf": isinf, "isfinite": isfinite, "logical_not": logical_not,
    "allclose": allclose, "isclose": isclose, "masked_fill": masked_fill,
    "tril": tril, "triu": triu,
    "sub_": _sub_, "div_": _div_,
    # products
    "matmul": matmul, "mm": mm, "bmm": bmm, "mv": mv, "dot": dot, "outer": outer, "t": t,
    # reductions
    "sum": sum, "mean": mean, "prod": prod, "max": max, "min": min, "amax": amax,
    "amin": amin, "argmax": argmax, "argmin": argmin, "var": var, "std": std, "norm": norm,
    "logsumexp": logsumexp, "cumsum": cumsum, "all": all, "any": any,
    "count_nonzero": count_nonzero,
    # shape
    "reshape": reshape, "view": view, "flatten": flatten, "unflatten": unflatten,
    "unsqueeze": unsqueeze, "squeeze": squeeze, "permute": permute, "transpose": transpose,
    "swapaxes": swapaxes, "swapdims": swapdims, "movedim": movedim, "moveaxis": moveaxis,
    "expand": expand, "expand_as": lambda self, other: expand(self, other.shape),
    "broadcast_to": broadcast_to,
    "view_as": lambda self, other: reshape(self, other.shape),
    "reshape_as": lambda self, other: reshape(self, other.shape),
    "repeat": _repeat, "flip": lambda self, *dims: flip(
        self, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims),
    "contiguous": _contiguous, "is_contiguous": _is_contiguous, "clone": clone,
    "split": _split_method, "chunk": chunk, "unbind": unbind,
    # conversions
    "to": to, "float": _cast_method(float32), "double": _cast_method(float64),
    "half": _cast_method(float16), "long": _cast_method(int64),
    "int": _cast_method(int32), "bool": _cast_method(np.dtype(np.bool_)),
    "new_zeros": _new_method(zeros), "new_ones": _new_method(ones),
    "new_empty": _new_method(empty), "new_full": _new_full, "new_tensor": _new_tensor,
    "cpu": _cpu, "cuda": _cuda, "type_as": _type_as, "is_floating_point": _is_floating_point,
    # activations (pydlk.functional)
    "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
    "log_softmax": log_softmax,
}

for _name, _fn in _methods.items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(_T)
Tensor.mT = property(_mT)
del _name, _fn


__all__ = [
    # arithmetic
    "add", "sub", "mul", "div", "pow", "neg", "abs", "exp", "log", "log1p", "sqrt", "rsqrt",
    "sin", "cos", "square", "reciprocal", "sign", "floor", "ceil", "round", "trunc",
    "clamp", "clip", "maximum", "minimum", "where", "eq", "ne", "lt", "le", "gt", "ge",
    "floor_divide", "remainder", "isnan", "isinf", "isfinite", "logical_not", "allclose",
    "isclose", "masked_fill", "tril", "triu",
    # products
    "matmul", "mm", "bmm", "mv", "dot", "outer", "t",
    # reductions
    "sum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std",
    "norm", "logsumexp", "cumsum", "all", "any", "count_nonzero", "return_types",
    # shape
    "reshape", "view", "flatten", "unflatten", "unsqueeze", "squeeze", "permute", "transpose",
    "swapaxes", "swapdims", "movedim", "moveaxis", "expand", "broadcast_to", "flip", "clone",
    "cat", "concat", "concatenate", "stack", "hstack", "vstack", "split", "chunk", "unbind",
    # dtypes
    "float16", "half", "float32", "float64", "double", "int8", "int16", "int32", "int64",
    "uint8", "long", "complex64", "complex128", "bool", "float", "int",
    # factories
    "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like",
    "arange", "linspace", "eye", "rand", "randn", "randint", "randperm", "rand_like",
    "randn_like", "numel", "is_tensor",
    # activations
    "relu", "sigmoid", "tanh", "softmax", "log_softmax",
]
