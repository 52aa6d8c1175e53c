"""Complex tensors: real, imag, conj, angle, sgn, polar, complex, view_as_real,
view_as_complex.

Gradients follow torch's convention for complex autograd: the gradient of a real loss L with
respect to a complex tensor z = x + iy is dL/dx + i dL/dy (the conjugate Wirtinger form), so a
holomorphic op passes ``g * conj(f'(z))`` back, and where a complex gradient reaches a real
input only its real part is kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import get_array_module
from ..autograd import Function, Tensor
from ._helpers import _quiet, _t, _UnaryOp, _unbroadcast
from ._promotion import float_dtype
from .math_extra import _unary


def _part_dtype(dtype: Any) -> np.dtype:
    """The real dtype of a complex dtype's parts (complex64 -> float32)."""
    return np.dtype(np.dtype(dtype).char.lower())


def _complex_dtype(dtype: Any) -> np.dtype:
    """The complex dtype whose parts have ``dtype`` (float32 -> complex64)."""
    return np.dtype(np.dtype(dtype).char.upper())


def _to_complex(re: Any, im: Any) -> Any:
    """A complex array from its parts (CuPy or NumPy, as the parts are)."""
    xp = get_array_module(re)
    out = xp.empty(re.shape, _complex_dtype(re.dtype))
    out.real = re
    out.imag = im
    return out


def is_complex(input: Tensor) -> bool:
    """True when ``input`` has a complex dtype (complex64 or complex128)."""
    return _t(input).dtype.kind == "c"


class _Real(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.dtype = a.dtype
        return a.real

    @staticmethod
    def backward(ctx, g):
        return _to_complex(g, get_array_module(g).zeros_like(g))

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g.to(ctx.dtype)  # the adjoint of taking the real part: g + 0i


class _Imag(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.dtype = a.dtype
        return a.imag

    @staticmethod
    def backward(ctx, g):
        return _to_complex(get_array_module(g).zeros_like(g), g)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g.to(ctx.dtype) * 1j  # 0 + ig


class _Conj(Function):
    @staticmethod
    def forward(ctx, a):
        return a.conj()

    @staticmethod
    def backward(ctx, g):
        return g.conj()

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return _Conj.apply(g)


class _Angle(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return get_array_module(a).angle(a).astype(_part_dtype(a.dtype), copy=False)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        # angle = atan2(y, x): d/dx = -y/|z|^2, d/dy = x/|z|^2, so the gradient is
        # g * (-y + ix)/|z|^2 = g * i z/|z|^2 (0 at z = 0, as torch's angle_backward)
        (a,) = ctx.saved_tensors
        xp = get_array_module(a)
        r2 = a.real * a.real + a.imag * a.imag
        return xp.where(r2 == 0, 0, g * 1j * a / r2).astype(a.dtype, copy=False)


def real(input: Tensor) -> Tensor:
    """The real part of a complex tensor (``input`` itself for a real one, as torch). torch
    returns a view that writes through; pydlk's result shares memory with ``input`` too."""
    x = _t(input)
    return _Real.apply(x) if x.dtype.kind == "c" else x


def imag(input: Tensor) -> Tensor:
    """The imaginary part of a complex tensor; a real tensor raises TypeError, as torch."""
    x = _t(input)
    if x.dtype.kind != "c":
        raise TypeError(
            f"imag: is not implemented for tensors with non-complex dtypes, got {x.dtype}"
        )
    return _Imag.apply(x)


def conj(input: Tensor) -> Tensor:
    """The complex conjugate (``input`` itself for a real tensor, as torch)."""
    x = _t(input)
    return _Conj.apply(x) if x.dtype.kind == "c" else x


def conj_physical(input: Tensor) -> Tensor:
    """``conj`` (pydlk has no lazy conjugate bit, so every conjugate is physical)."""
    return conj(input)


def resolve_conj(input: Tensor) -> Tensor:
    """``input`` itself: pydlk's conjugates are never lazy, so there is nothing to resolve."""
    return _t(input)


def angle(input: Tensor) -> Tensor:
    """The argument of each element in radians, in (-pi, pi]. A real input gives 0 or pi (0
    for non-negative, pi for negative numbers, nan for nan) with zero gradient, as torch; an
    integer input gives the default float dtype."""
    x = _t(input)
    if x.dtype.kind == "c":
        return _Angle.apply(x)
    dt = float_dtype(x.dtype)
    xa = x._data
    xp = get_array_module(xa)
    # torch's real angle: pi below zero, 0 elsewhere (-0.0 too), nan kept; no gradient flows
    out = xp.where(xa < 0, np.pi, 0.0).astype(dt)
    if x.dtype == dt:
        out = xp.where(xp.isnan(xa), xa, out).astype(dt, copy=False)
    return Tensor._wrap(out)


class _Sgn(Function):
    @staticmethod
    @_quiet
    def forward(ctx, a):
        xp = get_array_module(a)
        mag = xp.abs(a)
        out = xp.where(mag == 0, 0, a / xp.where(mag == 0, 1, mag)).astype(a.dtype, copy=False)
        ctx.save_for_backward(out, mag)
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        # d(z/|z|) = (dz - s Re(conj(s) dz)) / |z|, so the gradient is
        # (g - s Re(conj(g) s)) / |z|, 0 at z = 0 (torch's sgn_backward)
        s, mag = ctx.saved_tensors
        xp = get_array_module(g)
        d = (g - s * (g.conj() * s).real) / xp.where(mag == 0, 1, mag)
        return xp.where(mag == 0, 0, d).astype(s.dtype, copy=False)


def sgn(input: Tensor) -> Tensor:
    """``z / |z|`` per element (0 at 0): ``sign`` extended to complex numbers, as torch.sgn.
    For a real input it is ``sign`` (a zero gradient)."""
    x = _t(input)
    if x.dtype.kind != "c":
        from .arithmetic import sign

        return sign(x)
    return _Sgn.apply(x)


class _ViewAsReal(Function):
    @staticmethod
    def forward(ctx, a):
        xp = get_array_module(a)
        part = _part_dtype(a.dtype)
        if a.ndim and a.flags.c_contiguous:  # a view, as torch's
            return a.view(part).reshape(*a.shape, 2)
        return xp.stack([a.real, a.imag], axis=-1)

    @staticmethod
    def backward(ctx, g):
        return _to_complex(g[..., 0], g[..., 1])

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return _ViewAsComplex.apply(g)


class _ViewAsComplex(Function):
    @staticmethod
    def forward(ctx, a):
        if a.flags.c_contiguous:  # a view, as torch's
            return a.view(_complex_dtype(a.dtype)).reshape(a.shape[:-1])
        return _to_complex(a[..., 0], a[..., 1])

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        return xp.stack([g.real, g.imag], axis=-1)

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return _ViewAsReal.apply(g)


def view_as_real(input: Tensor) -> Tensor:
    """A complex tensor of shape S as a real tensor of shape (*S, 2) holding (real, imag)
    pairs; a view when ``input`` is contiguous. A real input raises TypeError, as torch."""
    x = _t(input)
    if x.dtype.kind != "c":
        raise TypeError(f"view_as_real: is only supported for complex tensors, got {x.dtype}")
    return _ViewAsReal.apply(x)


def view_as_complex(input: Tensor) -> Tensor:
    """A float32/float64 tensor of shape (*S, 2) as a complex tensor of shape S (the last dim
    holds real and imaginary parts); a view when ``input`` is contiguous."""
    x = _t(input)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"view_as_complex: is only supported for float32 and float64 tensors, got {x.dtype}"
        )
    if x.ndim == 0 or x.shape[-1] != 2:
        raise ValueError(
            f"view_as_complex: the last dim of input must have size 2, got shape {tuple(x.shape)}"
        )
    return _ViewAsComplex.apply(x)


class _Complex(Function):
    @staticmethod
    def forward(ctx, re, im):
        xp = get_array_module(re)
        ctx.shapes = (re.shape, im.shape)
        re, im = xp.broadcast_arrays(re, im)
        return _to_complex(re, im)

    @staticmethod
    def backward(ctx, g):
        sr, si = ctx.shapes
        return (
            _unbroadcast(g.real, sr) if ctx.needs_input_grad[0] else None,
            _unbroadcast(g.imag, si) if ctx.needs_input_grad[1] else None,
        )


def complex(real: Tensor, imag: Tensor) -> Tensor:
    """A complex tensor ``real + i imag`` (broadcast together). Both must be float32 or both
    float64 (float16 is not supported); the result is complex64 or complex128."""
    r, i = _t(real), _t(imag)
    for name, v in (("real", r), ("imag", i)):
        if v.dtype not in (np.float32, np.float64):
            raise TypeError(f"complex: {name} must be float32 or float64, got {v.dtype}")
    if r.dtype != i.dtype:
        raise TypeError(
            f"complex: real and imag must have the same dtype, got {r.dtype} and {i.dtype}"
        )
    return _Complex.apply(r, i)


class _Polar(Function):
    @staticmethod
    def forward(ctx, r, theta):
        xp = get_array_module(r)
        ctx.shapes = (r.shape, theta.shape)
        r, theta = xp.broadcast_arrays(r, theta)
        out = _to_complex(r * xp.cos(theta), r * xp.sin(theta))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @_quiet
    def backward(ctx, g):
        # torch's polar_backward: d|.| = Re(conj(g) sgn(out)), dangle = Re(conj(g) i out)
        (out,) = ctx.saved_tensors
        xp = get_array_module(out)
        mag = xp.abs(out)
        sgn = xp.where(mag == 0, 0, out / xp.where(mag == 0, 1, mag))
        gc = g.conj()
        sr, st = ctx.shapes
        return (
            _unbroadcast((gc * sgn).real, sr) if ctx.needs_input_grad[0] else None,
            _unbroadcast((gc * (1j * out)).real, st) if ctx.needs_input_grad[1] else None,
        )


def polar(abs: Tensor, angle: Tensor) -> Tensor:
    """The complex tensor ``abs * (cos(angle) + i sin(angle))`` (broadcast together); both
    float32 or both float64, as ``complex``."""
    r, t = _t(abs), _t(angle)
    for name, v in (("abs", r), ("angle", t)):
        if v.dtype not in (np.float32, np.float64):
            raise TypeError(f"polar: {name} must be float32 or float64, got {v.dtype}")
    if r.dtype != t.dtype:
        raise TypeError(
            f"polar: abs and angle must have the same dtype, got {r.dtype} and {t.dtype}"
        )
    return _Polar.apply(r, t)


def _sigmoid(xp: Any, a: Any) -> Any:
    return 1 / (1 + xp.exp(-a))


# tanh and sigmoid of complex input (the activations' kernels are real); the derivatives are
# holomorphic, so _unary's backward passes g * conj(f'(z))
_CTANH: _UnaryOp = _unary(
    "tanh",
    lambda xp, a: xp.tanh(a),
    lambda xp, a: 1 - xp.tanh(a) ** 2,
    lambda x: 1 - _CTANH(x) ** 2,
    "tanh of a complex tensor",
)
_CSIGMOID: _UnaryOp = _unary(
    "sigmoid",
    _sigmoid,
    lambda xp, a: _sigmoid(xp, a) * (1 - _sigmoid(xp, a)),
    lambda x: _CSIGMOID(x) * (1 - _CSIGMOID(x)),
    "sigmoid of a complex tensor",
)


def _complex_activation(name: str, input: Any) -> Tensor | None:
    """tanh or sigmoid of a complex input, else None (a real input goes to the kernels)."""
    if getattr(getattr(input, "dtype", None), "kind", "") != "c":
        return None
    return (_CTANH if name == "tanh" else _CSIGMOID)(input)
