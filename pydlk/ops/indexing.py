"""Indexing: ``x[i]`` and ``x[i] = v`` and iteration."""

from __future__ import annotations

import builtins as _b
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy, ufunc_at
from .._typing import Array
from ..autograd import Function, Tensor, is_grad_enabled
from ._helpers import _arr, _fit, _fit_t, _inplace_recorded, _Meta, _meta, _o


def _key(key: Any) -> Any:
    """An index with Tensors and lists turned into arrays (what NumPy indexes with)."""

    def one(k: Any) -> Any:
        if isinstance(k, Tensor):
            return k._data
        if isinstance(k, list):
            return np.asarray([int(v) if isinstance(v, Tensor) else v for v in k])
        return k

    return tuple(one(k) for k in key) if isinstance(key, tuple) else one(key)


def _advanced(key: Any) -> bool:
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
        return _scatter(g, ctx.meta, ctx.key), None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return IndexBackward.apply(g, ctx.meta, ctx.key), None


def _scatter(g: Array, meta: _Meta, key: Any) -> Array:
    """Zeros of the indexed tensor's (shape, dtype) with ``g`` added at ``key``."""
    shape, dtype = meta
    xp = get_array_module(g)
    z = xp.zeros(shape, dtype)
    if not _advanced(key):
        z[key] = g
    else:
        ufunc_at("add", z, key, g)
    return z


class IndexBackward(Function):
    """The gradient of ``a[key]`` as a recorded op (for create_graph=True): ``g`` scattered into
    zeros of a's shape. It is linear in g, and its own gradient is indexing again."""

    @staticmethod
    def forward(ctx, g, meta, key):
        ctx.key = key
        return _scatter(g, meta, key)

    @staticmethod
    def backward(ctx, gg):
        return _o(gg[ctx.key]), None, None

    @staticmethod
    def backward_graph(ctx, inputs, gg):
        return Index.apply(gg, ctx.key), None, None


def _getitem(self: Tensor, key: Any) -> Tensor:
    key = _key(key)
    if is_cupy(self._data):
        import cupy

        key = (
            tuple(cupy.asarray(k) if isinstance(k, np.ndarray) else k for k in key)
            if isinstance(key, tuple)
            else (cupy.asarray(key) if isinstance(key, np.ndarray) else key)
        )
    return Index.apply(self, key)


def _value_grad(g: Array, meta: _Meta) -> Array:
    """The gradient of an assigned value: ``g`` at the written positions, summed over the
    dimensions the value was broadcast along (NumPy also drops leading 1-sized ones)."""
    shape = tuple(meta[0])
    if g.ndim < len(shape):
        g = g.reshape((1,) * (len(shape) - g.ndim) + g.shape)
    return _fit(g, meta)


class IndexPut(Function):
    """``a[key] = v`` recorded (torch's index_put_ / copy_slices): writes ``v`` into ``a``'s
    array and returns that array. The overwritten values get no gradient; ``v`` gets the
    gradient at the positions it was written to (summed where it was broadcast)."""

    @staticmethod
    def forward(ctx, a, v, key):
        ctx.key, ctx.vmeta = key, _meta(v)
        a[key] = v
        return a

    @staticmethod
    def backward(ctx, g):
        ga = gv = None
        if ctx.needs_input_grad[0]:
            ga = g.copy()
            ga[ctx.key] = 0
        if ctx.needs_input_grad[1]:
            gv = _value_grad(_o(g[ctx.key]), ctx.vmeta)
        return ga, gv, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        ga = gv = None
        if ctx.needs_input_grad[0]:
            keep = get_array_module(g._data).ones(g.shape, g.dtype)
            keep[ctx.key] = 0
            ga = g * keep
        if ctx.needs_input_grad[1]:
            gv = Index.apply(g, ctx.key)
            shape = tuple(ctx.vmeta[0])
            if gv.ndim < len(shape):
                gv = gv.reshape((1,) * (len(shape) - gv.ndim) + tuple(gv.shape))
            gv = _fit_t(gv, ctx.vmeta)
        return ga, gv, None


def _device_key(data: Array, key: Any) -> Any:
    """Index arrays on ``data``'s device (CuPy indexes with CuPy arrays only)."""
    if not is_cupy(data):
        return key
    import cupy

    one = lambda k: cupy.asarray(k) if isinstance(k, np.ndarray) else k  # noqa: E731
    return tuple(one(k) for k in key) if isinstance(key, tuple) else one(key)


def _put(self: Tensor, op: str, key: Any, value: Any) -> Tensor:
    """``self[key] = value`` for an in-place op named ``op``: recorded (``IndexPut``) while
    grad mode is on and ``self`` or ``value`` requires grad, else a plain write. ``key`` holds
    arrays (not Tensors)."""
    if is_grad_enabled() and (
        self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)
    ):
        v = value if isinstance(value, Tensor) else _arr(value)
        return _inplace_recorded(self, op, IndexPut, v, _device_key(self._data, key))
    v = _arr(value)
    if is_cupy(self._data) and isinstance(v, np.ndarray):
        import cupy

        v = cupy.asarray(v)
    self._data[key] = v
    return self


def _setitem(self: Tensor, key: Any, value: Any) -> None:
    """``t[key] = value`` writes into ``t._data``. While grad mode is on and ``t`` or ``value``
    requires grad, the write is recorded as torch records it (``IndexPut``; ``t``'s grad_fn
    becomes the assignment), so ``outputs[:, t] = step_output`` in a decoder loop carries the
    gradient. Refused for a leaf that requires grad and for a view of another tensor (see
    ``_inplace_recorded``)."""
    _put(self, "setitem", _key(key), value)


def _iter(self: Tensor) -> Iterator[Tensor]:
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    for i in range(self.shape[0]):
        yield self[i]
