"""torch's ``*_copy`` variants of the view ops (``view_copy``, ``permute_copy``,
``transpose_copy``, ..., ``as_strided_copy``, ``indices_copy``): each is its view op followed by
a clone, so the result owns its memory; generated from the one table ``_VIEWS`` (name -> view
op). Each is differentiable as its view op is, except ``detach_copy``, which torch records
without a derivative (pydlk too: backward raises torch's "not implemented").

``out=`` is not supported (TypeError). ``indices_copy``/``values_copy`` take pydlk's sparse
COO tensors (torch 2.13's CPU build refuses them there) and refuse dense ones as torch does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..autograd import Tensor
from ._helpers import _t
from .complex_ops import view_as_complex, view_as_real
from .joining import split, unbind
from .misc_more import NotDifferentiable
from .shape import expand, permute, squeeze, t, transpose, unsqueeze
from .shape_more import select, split_with_sizes
from .strided import as_strided


def _view(input: Tensor, *args: Any) -> Tensor:
    """``input.view(size)`` or ``input.view(dtype)``."""
    return input.view(*args)


def _expand(input: Tensor, size: Any, *, implicit: bool = False) -> Tensor:
    """``input.expand(size)`` (``implicit`` is accepted, as torch's)."""
    return expand(input, size)


def _diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    return input.diagonal(offset, dim1, dim2)


def _slice(
    input: Tensor, dim: int = 0, start: int | None = None, end: int | None = None, step: int = 1
) -> Tensor:
    """``input[..., start:end:step, ...]`` along ``dim`` (torch.slice); step must be positive."""
    if step <= 0:
        raise RuntimeError("slice step must be positive")
    d = dim % input.ndim if input.ndim else 0
    return input[(slice(None),) * d + (slice(start, end, step),)]


def _unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    return input.unfold(dimension, size, step)


def _alias(input: Tensor) -> Tensor:
    return input


def _detach(input: Tensor) -> Tensor:
    return input


def _sparse(input: Tensor, what: str, layout: str) -> Tensor:
    if not getattr(input, "is_sparse", False):
        raise RuntimeError(f"{what} expected sparse {layout} layout but got Strided")
    return getattr(input, what)()


def _indices(input: Tensor) -> Tensor:
    return _sparse(input, "indices", "coordinate tensor")


def _values(input: Tensor) -> Tensor:
    return _sparse(input, "values", "tensor")


_VIEWS: dict[str, Callable[..., Any]] = {
    "view_copy": _view,
    "permute_copy": permute,
    "transpose_copy": transpose,
    "t_copy": t,
    "unsqueeze_copy": unsqueeze,
    "squeeze_copy": squeeze,
    "expand_copy": _expand,
    "diagonal_copy": _diagonal,
    "select_copy": select,
    "slice_copy": _slice,
    "split_copy": split,
    "split_with_sizes_copy": split_with_sizes,
    "unbind_copy": unbind,
    "unfold_copy": _unfold,
    "alias_copy": _alias,
    "detach_copy": _detach,
    "as_strided_copy": as_strided,
    "view_as_real_copy": view_as_real,
    "view_as_complex_copy": view_as_complex,
    "indices_copy": _indices,
    "values_copy": _values,
}


def _clone(r: Tensor, name: str) -> Tensor:
    c = r.clone()
    if name == "detach_copy" and r.requires_grad:  # torch: recorded, without a derivative
        c = NotDifferentiable.apply(c.detach()._data, "detach_copy", r)
    return c


def _make(name: str, view: Callable[..., Any]) -> Callable[..., Any]:
    base = name[: -len("_copy")]

    def fn(input: Tensor, *args: Any, out: Any = None, **kwargs: Any) -> Any:
        if out is not None:
            raise TypeError(f"{name}: out= is not supported")
        r = view(_t(input), *args, **kwargs)
        if isinstance(r, (tuple, list)):
            return tuple(_clone(p, name) for p in r)
        return _clone(r, name)

    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = __name__
    fn.__doc__ = (
        f"torch.{name}: ``{base}`` followed by a clone: a new tensor (or tuple of tensors) "
        f"that owns its memory, differentiable as ``{base}``"
        + (" (no derivative: backward raises, as torch)." if name == "detach_copy" else ".")
    )
    try:
        sig = inspect.signature(view)
        params = list(sig.parameters.values())
        params.append(inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None))
        if params and params[0].name in ("self", "tensor"):
            params[0] = params[0].replace(name="input")
        fn.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        pass
    return fn


for _name, _view_op in _VIEWS.items():
    globals()[_name] = _make(_name, _view_op)
del _name, _view_op

__all__ = list(_VIEWS)
