"""Indexing: ``x[i]`` and ``x[i] = v`` and iteration."""

from __future__ import annotations

import builtins as _b
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from .._typing import Array
from ..autograd import Function, Tensor, is_grad_enabled
from ._helpers import _arr, _Meta, _meta, _o


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
    elif is_cupy(z):
        import cupyx

        cupyx.scatter_add(z, key, g)
    else:
        np.add.at(z, key, g)
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


def _setitem(self: Tensor, key: Any, value: Any) -> None:
    """``t[key] = value`` writes into ``t._data``. Refused while grad mode is on if ``t`` requires
    grad (a leaf would be changed behind its gradient; a graph node has no in-place backward
    here) or if ``value`` requires grad (the assignment would drop its gradient): build the
    result out of place instead (``pydlk.where``, ``pydlk.cat``) or wrap it in ``no_grad()``."""
    if is_grad_enabled():
        if self.requires_grad:
            if self.is_leaf:
                raise RuntimeError(
                    "setitem: a leaf tensor that requires grad is being used in "
                    "an in-place operation; wrap it in pydlk.no_grad()"
                )
            raise RuntimeError(
                "setitem: in-place assignment into a tensor that is part of "
                "the autograd graph is not supported; build the result out of "
                "place (pydlk.where, pydlk.cat) or clone() first"
            )
        if isinstance(value, Tensor) and value.requires_grad:
            raise RuntimeError(
                "setitem: the value requires grad and an assignment does not "
                "record it; build the result out of place (pydlk.where, "
                "pydlk.cat) or assign value.detach()"
            )
    v = _arr(value)
    if is_cupy(self._data) and isinstance(v, np.ndarray):
        import cupy

        v = cupy.asarray(v)
    self._data[_key(key)] = v


def _iter(self: Tensor) -> Iterator[Tensor]:
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    for i in range(self.shape[0]):
        yield self[i]
