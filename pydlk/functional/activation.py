"""Activations: elementwise ops (relu ... gelu), softmax / log_softmax along a dim, and maxout.

Names, argument names and defaults are torch.nn.functional's. Each elementwise op is a pair of
kernels ``<name>_forward`` / ``<name>_backward`` (csrc/activation.cpp); its backward reads either
the output or the input (the ``saves`` of each Function below): relu, leaky_relu (slope >= 0),
hardtanh/relu6, sigmoid and tanh keep the output, which determines the derivative and also
survives an in-place call; silu, mish, gelu, softplus and (as in torch, for an exact gradient in
the negative tail) elu/selu/celu keep the input; in place, elu/selu/celu keep the output.

With create_graph=True (higher-order gradients) every op here records its backward as
differentiable Tensor ops; in place, relu, leaky_relu and hardtanh do (their
derivative is read off the saved output), the others raise "double backward is not
implemented".

``inplace=True`` follows torch: the result is written into ``input`` and ``input`` itself is
returned. A leaf tensor that requires grad raises (as torch does) unless grad mode is off. A
non-leaf tensor that requires grad takes the op into its history (its ``grad_fn`` becomes this
op). Differences from torch: there is no version counter, so if an earlier op saved this same
tensor for its backward, pydlk cannot tell that it was overwritten (torch raises at backward
time; here that earlier gradient would be computed from the new values). When the backward
needs the input (silu, mish, leaky_relu with a negative slope, elu with alpha < 0), an in-place
call that records for backward keeps a copy of the input. A plain NumPy array given with
``inplace=True`` is written in place and returned wrapped in a Tensor that shares its memory.

Float32 math is pydlk's own branch-free exp/expm1/tanh/erfc (csrc/activation.cpp, so that the
loops vectorise): within 3e-7 relative of the float64 result on [-12, 12] for sigmoid, tanh, silu,
mish, elu and softplus, and within 1.4e-5 for gelu (both forms) whose far left tail amplifies the
rounding of x^2 or x^3 inside exp. exp flushes results below about 2.4e-38 to 0 where torch keeps
denormals.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from .._backend import get_array_module, kernels_for
from .._typing import DTypeLike
from ..autograd import Function, is_grad_enabled, no_double_backward
from ..ops._promotion import to_float
from ._adjoint import LinearMap
from ._util import apply_inplace, check_float, contiguous

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = [
    "relu",
    "relu_",
    "leaky_relu",
    "hardtanh",
    "relu6",
    "elu",
    "selu",
    "celu",
    "sigmoid",
    "tanh",
    "silu",
    "mish",
    "gelu",
    "softplus",
    "softmax",
    "log_softmax",
    "maxout",
]

# torch's SELU constants (Klambauer et al. 2017), to the digits torch uses.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# ----------------------------------------------------------------------------- elementwise


class _Elementwise(Function):
    """An elementwise op on the kernel pair ``<kernel>_forward`` / ``<kernel>_backward``.

    forward(ctx, x, params, out): ``params`` is the tuple of the kernel's hyperparameters,
    ``out`` None or the array to write (the input itself for an in-place call)."""

    kernel: str | None = None
    # True where ``derivative`` reads only the saved array (never the input Tensor), so that
    # it holds for an in-place call too (relu, leaky_relu, hardtanh: a mask of the output).
    derivative_in_place = False

    @staticmethod
    def saves(params, inplace):
        """Which tensor the backward reads: "output" or "input". When it is the input and the call
        is in place, forward keeps a copy of the input."""
        return "output"

    @staticmethod
    def backward_params(params, saved):
        return params

    @classmethod
    def forward(cls, ctx, x, params, out):
        K = kernels_for(x)
        x = contiguous(x)
        inplace = out is not None and np.shares_memory(out, x)
        saved = cls.saves(params, inplace)
        keep = x
        if saved == "input" and inplace and ctx.needs_input_grad[0] and is_grad_enabled():
            keep = x.copy()  # in place would overwrite the input the backward needs
        y = getattr(K, cls.kernel + "_forward")(x, *params, out=out)
        ctx.save_for_backward(y if saved == "output" else keep)
        ctx.params, ctx.saved, ctx.inplace = params, saved, inplace
        return y

    @classmethod
    def backward(cls, ctx, dy):
        if not ctx.needs_input_grad[0]:
            return None, None, None
        (s,) = ctx.saved_tensors
        K = kernels_for(dy)
        dx = getattr(K, cls.kernel + "_backward")(
            contiguous(dy), s, *cls.backward_params(ctx.params, ctx.saved)
        )
        return dx, None, None

    @staticmethod
    def derivative(ctx, x):
        """dy/dx as recorded Tensor ops of the input Tensor ``x`` (or an array where it does not
        depend on x), for backward_graph; None: no double backward for this op."""
        return None

    @classmethod
    def backward_graph(cls, ctx, inputs, dy):
        if not ctx.needs_input_grad[0]:
            return None, None, None
        d = None
        if not ctx.inplace or cls.derivative_in_place:
            d = cls.derivative(ctx, inputs[0])
        if d is None:
            raise no_double_backward(("in-place " if ctx.inplace else "") + cls.kernel)
        return dy * d, None, None


class Relu(_Elementwise):
    kernel = "relu"  # dx = dy where y > 0
    derivative_in_place = True

    @staticmethod
    def derivative(ctx, x):
        (y,) = ctx.saved_tensors
        return (y > 0).astype(y.dtype)


class LeakyRelu(_Elementwise):
    kernel = "leaky_relu"
    derivative_in_place = True

    @staticmethod
    def saves(params: tuple[float, ...], inplace: bool) -> str:
        # y > 0 <=> x > 0 only when negative_slope >= 0
        return "output" if params[0] >= 0 else "input"

    @staticmethod
    def derivative(ctx, x):
        (s,) = ctx.saved_tensors  # the output or the input: either is > 0 where x > 0
        return get_array_module(s).where(s > 0, 1, ctx.params[0]).astype(s.dtype)


class Hardtanh(_Elementwise):
    kernel = "hardtanh"  # dx = dy strictly inside (min_val, max_val): read off the output
    derivative_in_place = True

    @staticmethod
    def derivative(ctx, x):
        (y,) = ctx.saved_tensors
        lo, hi = ctx.params
        return ((y > lo) & (y < hi)).astype(y.dtype)


class Elu(_Elementwise):
    """elu, selu, celu: y = scale * (x if x > 0 else alpha * (exp(input_scale * x) - 1))."""

    kernel = "elu"

    @staticmethod
    def saves(params: tuple[float, ...], inplace: bool) -> str:
        alpha, scale, input_scale = params
        # From the input, dy/dx = input_scale * scale * alpha * exp(input_scale * x) for x <= 0,
        # exact in the tail (torch does the same). In place the input is gone; then the output
        # gives dy/dx = input_scale * (y + scale * alpha), valid when the output's sign tells
        # x > 0 from x <= 0, but it loses the tail (y + scale * alpha rounds to 0 below about
        # x = -17 in float32, where the true value is < 1e-7 * scale * alpha).
        if inplace and scale > 0 and alpha * input_scale >= 0:
            return "output"
        return "input"

    @staticmethod
    def backward_params(params: tuple[float, ...], saved):
        return params + (saved == "output",)

    @staticmethod
    def derivative(ctx, x):
        if ctx.saved != "input":
            return None
        alpha, scale, input_scale = ctx.params
        pos = (ctx.saved_tensors[0] > 0).astype(x.dtype)
        neg = (x * input_scale).exp() * (scale * alpha * input_scale)
        return neg * (1 - pos) + pos * scale


class Sigmoid(_Elementwise):
    kernel = "sigmoid"  # dy/dx = y (1 - y)

    @staticmethod
    def derivative(ctx, x):
        s = x.sigmoid()
        return s * (1 - s)


class Tanh(_Elementwise):
    kernel = "tanh"  # dy/dx = 1 - y^2

    @staticmethod
    def derivative(ctx, x):
        t = x.tanh()
        return 1 - t * t


class _FromInput(_Elementwise):
    @staticmethod
    def saves(params, inplace):
        return "input"


class Silu(_FromInput):
    kernel = "silu"

    @staticmethod
    def derivative(ctx, x):
        s = x.sigmoid()  # d/dx x s(x) = s (1 + x (1 - s))
        return s * (1 + x * (1 - s))


class Mish(_FromInput):
    kernel = "mish"

    @staticmethod
    def derivative(ctx, x):
        # torch's infinitely_differentiable_mish_backward: t + x s (1 - t^2), t = tanh(softplus)
        t = Softplus.apply(x, (1.0, 20.0), None).tanh()
        return t + x * x.sigmoid() * (1 - t * t)


class Gelu(_FromInput):
    kernel = "gelu"

    @staticmethod
    def derivative(ctx, x):
        return GeluGrad.apply(x)


class GeluGrad(Function):
    """gelu'(x) = Phi(x) + x phi(x) (the gelu_backward kernel with dy = 1), as a recorded op
    so that gelu has a second derivative: gelu''(x) = phi(x) (2 - x^2)."""

    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        ctx.save_for_backward(x)
        return kernels_for(x).gelu_backward(xp.ones_like(x), contiguous(x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xp = get_array_module(x)
        phi = xp.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
        return (g * phi * (2 - x * x)).astype(g.dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        x = inputs[0]
        phi = (x * x * -0.5).exp() * (1 / np.sqrt(2 * np.pi))
        return g * phi * (2 - x * x)


class GeluTanh(_FromInput):
    kernel = "gelu_tanh"

    @staticmethod
    def derivative(ctx, x):
        # y = x/2 (1 + tanh(u)), u = c (x + k x^3): y' = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3k x^2)
        c, k = np.sqrt(2 / np.pi), 0.044715
        t = ((x + x * x * x * k) * c).tanh()
        return (1 + t) * 0.5 + x * 0.5 * (1 - t * t) * c * (1 + x * x * (3 * k))


class Softplus(_FromInput):
    kernel = "softplus"

    @staticmethod
    def derivative(ctx, x):
        beta, threshold = ctx.params  # sigmoid(beta x); 1 where beta x > threshold (linear)
        lin = (ctx.saved_tensors[0] * beta > threshold).astype(x.dtype)
        return (x * beta).sigmoid() * (1 - lin) + lin


def _number(v, op, name):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {type(v).__name__}")
    return float(v)


def _scalar_to_array(x):
    return np.asarray(x) if isinstance(x, np.generic) else x  # a NumPy scalar: a 0-d array


def _apply(fn, name, input, params, inplace):
    """Runs fn on input, in place (torch semantics, see the module doc) when asked."""
    input = _scalar_to_array(input)
    a = check_float(input, name, "input")
    if not inplace:
        return fn.apply(input, params, None)
    target = a if a.flags.c_contiguous else None  # else: write a copy, then copy it back

    def run(x):
        out = fn.apply(x, params, target)
        if target is None:
            a[...] = out._data
        return out

    return apply_inplace(input, name, run)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(input, 0); NaN stays NaN (as in torch)."""
    return _apply(Relu, "relu", input, (), inplace)


def relu_(input: Tensor):
    """In-place relu (torch.nn.functional.relu_)."""
    return _apply(Relu, "relu_", input, (), True)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """input if input > 0 else negative_slope * input."""
    s = _number(negative_slope, "leaky_relu", "negative_slope")
    return _apply(LeakyRelu, "leaky_relu", input, (s,), inplace)


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """clamp(input, min_val, max_val); the gradient is 0 at and beyond the ends (as torch)."""
    lo = _number(min_val, "hardtanh", "min_val")
    hi = _number(max_val, "hardtanh", "max_val")
    if lo > hi:
        raise ValueError(f"hardtanh: min_val ({lo}) must not be greater than max_val ({hi})")
    return _apply(Hardtanh, "hardtanh", input, (lo, hi), inplace)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(input, 0), 6), i.e. hardtanh(input, 0, 6)."""
    return _apply(Hardtanh, "relu6", input, (0.0, 6.0), inplace)


def _elu(name, input, alpha, scale, input_scale, inplace):
    return _apply(Elu, name, input, (alpha, scale, input_scale), inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """input if input > 0 else alpha * (exp(input) - 1)."""
    return _elu("elu", input, _number(alpha, "elu", "alpha"), 1.0, 1.0, inplace)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """SELU_SCALE * elu(input, SELU_ALPHA), torch's constants (module attributes here)."""
    return _elu("selu", input, SELU_ALPHA, SELU_SCALE, 1.0, inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """input if input > 0 else alpha * (exp(input / alpha) - 1)."""
    a = _number(alpha, "celu", "alpha")
    if a == 0:
        raise ValueError("celu: alpha must not be 0")
    return _elu("celu", input, a, 1.0, 1.0 / a, inplace)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-input)), computed without overflow for large |input|. An integer or bool
    input gives the default float dtype, as torch's."""
    return _apply(Sigmoid, "sigmoid", to_float(_scalar_to_array(input)), (), False)


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent; the backward uses ``1 - tanh^2`` of the saved output. An integer or
    bool input gives the default float dtype, as torch's."""
    return _apply(Tanh, "tanh", to_float(_scalar_to_array(input)), (), False)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """input * sigmoid(input) (swish). The backward recomputes sigmoid from the saved input."""
    return _apply(Silu, "silu", input, (), inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """input * tanh(softplus(input))."""
    return _apply(Mish, "mish", input, (), inplace)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """input * Phi(input) with Phi the standard normal CDF (through erfc), or with
    approximate='tanh' 0.5 * input * (1 + tanh(sqrt(2/pi) * (input + 0.044715 * input**3)))."""
    if approximate == "none":
        return _apply(Gelu, "gelu", input, (), False)
    if approximate == "tanh":
        return _apply(GeluTanh, "gelu", input, (), False)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * input)) / beta, and input itself where beta * input > threshold."""
    b = _number(beta, "softplus", "beta")
    if b == 0:
        raise ValueError("softplus: beta must not be 0")
    return _apply(
        Softplus, "softplus", input, (b, _number(threshold, "softplus", "threshold")), False
    )


# ----------------------------------------------------------------------------- softmax


class Softmax(Function):
    """softmax (log_softmax when log) along dim; saves the output. With dtype, the input is cast
    first and the gradient cast back to the input's dtype (torch's dtype= argument)."""

    @staticmethod
    def forward(ctx, x, dim, log, dtype):
        K = kernels_for(x)
        ctx.in_dtype = x.dtype
        if dtype is not None and x.dtype != dtype:
            x = x.astype(dtype)
        y = K.softmax_forward(contiguous(x), dim, log)
        ctx.save_for_backward(y)
        ctx.dim, ctx.log = dim, log
        return y

    @staticmethod
    def backward(ctx, dy):
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        (y,) = ctx.saved_tensors
        K = kernels_for(dy)
        dx = K.softmax_backward(contiguous(dy.astype(y.dtype, copy=False)), y, ctx.dim, ctx.log)
        return dx.astype(ctx.in_dtype, copy=False), None, None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        (y,) = ctx.saved_tensors
        x = inputs[0] if inputs[0].dtype == y.dtype else inputs[0].to(y.dtype)
        dy = dy if dy.dtype == y.dtype else dy.to(y.dtype)
        p = Softmax.apply(x, ctx.dim, False, None)
        if ctx.log:  # dx = dy - p sum(dy)
            dx = dy - p * dy.sum(dim=ctx.dim, keepdim=True)
        else:  # dx = p (dy - sum(dy p))
            dx = p * (dy - (dy * p).sum(dim=ctx.dim, keepdim=True))
        return (dx if dx.dtype == ctx.in_dtype else dx.to(ctx.in_dtype)), None, None, None


def _softmax(name, input, dim, dtype, log):
    input = _scalar_to_array(input)
    dt_in = getattr(input, "dtype", None)
    if dtype is not None and dt_in is not None and dt_in.kind in "biu":
        input = input.to(dtype) if hasattr(input, "to") else input.astype(dtype)  # torch casts
    a = check_float(input, name, "input")
    if dim is None:
        raise ValueError(
            f"{name}: dim is required (torch picks an implicit dim with a "
            "deprecation warning; pydlk does not guess)"
        )
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{name}: dim must be an int, got {type(dim).__name__}")
    if dtype is not None:
        dt = (
            np.dtype(getattr(dtype, "name", None) or dtype)
            if not isinstance(dtype, np.dtype)
            else dtype
        )
        if dt not in (np.float32, np.float64):
            raise TypeError(f"{name}: dtype must be float32 or float64, got {dt}")
        dtype = dt
    lim = max(a.ndim, 1)
    if not -lim <= dim < lim:
        raise ValueError(
            f"{name}: dim {dim} is out of range for a {a.ndim}-D input "
            f"(expected -{lim} <= dim < {lim})"
        )
    return Softmax.apply(input, int(dim), log, dtype)


def softmax(
    input: Tensor, dim: int | None = None, _stacklevel=3, dtype: DTypeLike | None = None
) -> Tensor:
    """exp(x - max) / sum(exp(x - max)) along dim (max subtracted, sums in double).

    Differs from torch: dim is required (torch guesses one with a deprecation warning when it is
    None). dtype (float32/float64) casts the input first, as in torch."""
    return _softmax("softmax", input, dim, dtype, False)


def log_softmax(
    input: Tensor, dim: int | None = None, _stacklevel=3, dtype: DTypeLike | None = None
) -> Tensor:
    """(x - max) - log(sum(exp(x - max))) along dim: never log(0), the sum is >= 1.

    Differs from torch: dim is required (see softmax)."""
    return _softmax("log_softmax", input, dim, dtype, True)


# ----------------------------------------------------------------------------- maxout


class Maxout(Function):
    """Max over groups of pool_size consecutive entries along dim; saves the arg-max (int64)."""

    @staticmethod
    def forward(ctx, x, pool_size, dim):
        K = kernels_for(x)
        y, idx = K.maxout_forward(contiguous(x), pool_size, dim)
        ctx.save_for_backward(idx)
        ctx.pool_size, ctx.dim = pool_size, dim
        return y

    @staticmethod
    def backward(ctx, dy):
        if not ctx.needs_input_grad[0]:
            return None, None, None
        (idx,) = ctx.saved_tensors
        K = kernels_for(dy)
        return K.maxout_backward(contiguous(dy), idx, ctx.pool_size, ctx.dim), None, None

    @staticmethod
    def backward_graph(ctx, inputs, dy):
        if not ctx.needs_input_grad[0]:
            return None, None, None
        (idx,) = ctx.saved_tensors
        k, d = ctx.pool_size, ctx.dim % idx.ndim
        K = kernels_for(idx)

        def scatter(g):  # each group's gradient to its arg-max
            return K.maxout_backward(contiguous(g), idx, k, ctx.dim)

        def gather(g):  # the adjoint: each group's arg-max entry
            xp = get_array_module(g)
            g = g.reshape(idx.shape[: d + 1] + (k,) + idx.shape[d + 1 :])
            return xp.take_along_axis(g, xp.expand_dims(idx, d + 1), d + 1).reshape(idx.shape)

        return LinearMap.apply(dy, scatter, gather), None, None


def maxout(input: Tensor, pool_size, dim: int = 1) -> Tensor:
    """Maxout (Goodfellow et al. 2013): the max of ``pool_size`` linear pieces.

    Not in torch.nn.functional. ``input``'s size along ``dim`` must be C * pool_size; it is split
    into C groups of ``pool_size`` CONSECUTIVE entries (entries c*pool_size ... c*pool_size +
    pool_size - 1 form group c, i.e. ``input.reshape(..., C, pool_size, ...).max(dim + 1)``), and
    the result has size C along ``dim``. The gradient goes to the arg-max of each group (the
    first one on ties; a NaN is the max and propagates, as in torch.max)."""
    a = check_float(input, "maxout", "input")
    if isinstance(pool_size, bool) or not isinstance(pool_size, numbers.Integral):
        raise TypeError(f"maxout: pool_size must be an int, got {type(pool_size).__name__}")
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"maxout: dim must be an int, got {type(dim).__name__}")
    if a.ndim == 0:
        raise ValueError("maxout: input must have at least 1 dimension, got a scalar")
    return Maxout.apply(input, int(pool_size), int(dim))
