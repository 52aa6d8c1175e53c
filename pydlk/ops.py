"""Differentiable tensor operators (arithmetic, matmul, reductions, shape ops, indexing).

Each is a ``Function`` with forward and backward side by side, written with ``xp`` (NumPy or
CuPy) so both devices share them. They are attached to ``Tensor`` at the bottom of this file.
"""
import numpy as np

from ._backend import get_array_module
from .autograd import Function, Tensor


def _unbroadcast(g, shape):
    """Sum ``g`` down to ``shape`` (undo NumPy broadcasting in a backward pass)."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    g = g.sum(axis=axes, keepdims=True) if axes else g
    return g.reshape(shape)


def _shape(x):
    return np.shape(x) if not hasattr(x, "shape") else x.shape


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        return a + b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return (_unbroadcast(g, sa) if ctx.needs_input_grad[0] else None,
                _unbroadcast(g, sb) if ctx.needs_input_grad[1] else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        return a - b

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return (_unbroadcast(g, sa) if ctx.needs_input_grad[0] else None,
                _unbroadcast(-g, sb) if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return (_unbroadcast(g * b, _shape(a)) if ctx.needs_input_grad[0] else None,
                _unbroadcast(g * a, _shape(b)) if ctx.needs_input_grad[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return (_unbroadcast(g / b, _shape(a)) if ctx.needs_input_grad[0] else None,
                _unbroadcast(-g * a / (b * b), _shape(b)) if ctx.needs_input_grad[1] else None)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class MatMul(Function):
    """``a @ b`` with NumPy's matmul rules (1-D operands, batched broadcasting)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = get_array_module(g)
        a2 = a[None, :] if a.ndim == 1 else a          # (.., n, k)
        b2 = b[:, None] if b.ndim == 1 else b          # (.., k, m)
        g2 = g
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        da = db = None
        if ctx.needs_input_grad[0]:
            da = _unbroadcast(g2 @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            db = _unbroadcast(xp.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return da, db


def _axes(dim, ndim):
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(d % ndim if ndim else 0 for d in dims)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, dim, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, _axes(dim, a.ndim), keepdim
        return a.sum(axis=ctx.axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        if not ctx.keepdim and ctx.axes is not None:
            g = xp.expand_dims(g, ctx.axes)
        return xp.broadcast_to(g, ctx.shape).copy(), None, None


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


def _t(x):
    return x if isinstance(x, Tensor) else x


def add(a, b):
    return Add.apply(a, b)


def sub(a, b):
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b):
    return Div.apply(a, b)


def matmul(a, b):
    return MatMul.apply(a, b)


def sum(a, dim=None, keepdim=False):
    return Sum.apply(a, dim, keepdim)


def mean(a, dim=None, keepdim=False):
    data = a.data if isinstance(a, Tensor) else np.asarray(a)
    axes = _axes(dim, data.ndim)
    count = data.size if axes is None else int(np.prod([data.shape[i] for i in axes]))
    return Sum.apply(a, dim, keepdim) / count


def reshape(a, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(a, shape)


# ----------------------------------------------------------------------------- Tensor methods

Tensor.__add__ = lambda self, o: Add.apply(self, o)
Tensor.__radd__ = lambda self, o: Add.apply(o, self)
Tensor.__sub__ = lambda self, o: Sub.apply(self, o)
Tensor.__rsub__ = lambda self, o: Sub.apply(o, self)
Tensor.__mul__ = lambda self, o: Mul.apply(self, o)
Tensor.__rmul__ = lambda self, o: Mul.apply(o, self)
Tensor.__truediv__ = lambda self, o: Div.apply(self, o)
Tensor.__rtruediv__ = lambda self, o: Div.apply(o, self)
Tensor.__neg__ = lambda self: Neg.apply(self)
Tensor.__matmul__ = lambda self, o: MatMul.apply(self, o)
Tensor.__rmatmul__ = lambda self, o: MatMul.apply(o, self)
Tensor.sum = sum
Tensor.mean = mean
Tensor.reshape = reshape
Tensor.view = reshape
