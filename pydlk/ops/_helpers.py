"""Private helpers shared by the operator modules: unbroadcasting, dims, dtypes."""

from __future__ import annotations

import builtins as _b
import functools
import sys
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar, cast

import numpy as np

from .._backend import get_array_module, is_cupy
from .._typing import Array, TensorOrScalar
from ..autograd import Function, Tensor, is_grad_enabled

_F = TypeVar("_F", bound=Callable[..., Any])
# (shape, dtype) of a forward argument; dtype None for a Python scalar
_Meta = tuple[tuple[int, ...], Any]


class _UnaryOp(Protocol):
    """An elementwise op made by a factory (sinh, ...), as its signature reads."""

    def __call__(self, input: Tensor) -> Tensor: ...


class _BinaryOp(Protocol):
    """A binary op made by a factory (eq, lt, ...), as its signature reads."""

    def __call__(self, input: Tensor, other: TensorOrScalar) -> Tensor: ...


class _ValuesIndices(NamedTuple):
    """``(values, indices)``: what max/min along a dim, sort and topk return, each as a subclass
    named after the op (``return_types`` below), as torch.return_types."""

    values: Tensor
    indices: Tensor


class return_types:
    """Named tuples returned by ops with values and indices, as torch.return_types; the repr
    names the op (``max(values=..., indices=...)``)."""

    class max(_ValuesIndices):
        __slots__ = ()
        __module__ = "pydlk.return_types"

    class min(_ValuesIndices):
        __slots__ = ()
        __module__ = "pydlk.return_types"

    class sort(_ValuesIndices):
        __slots__ = ()
        __module__ = "pydlk.return_types"

    class topk(_ValuesIndices):
        __slots__ = ()
        __module__ = "pydlk.return_types"


def _unbroadcast(g: Array, shape: Sequence[int]) -> Array:
    """Sum ``g`` down to ``shape`` (undo NumPy broadcasting in a backward pass)."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1
    )
    g = g.sum(axis=axes, keepdims=True) if axes else g
    return g.reshape(shape)


def _shape(x: Any) -> tuple[int, ...]:
    return np.shape(x) if not hasattr(x, "shape") else x.shape


def _meta(x: Any) -> _Meta:
    """(shape, dtype) of a forward argument; dtype None for a Python scalar."""
    return _shape(x), getattr(x, "dtype", None)


def _fit(g: Array, meta: _Meta) -> Array:
    """The gradient for an argument with ``meta``: broadcasting undone, the argument's dtype."""
    shape, dtype = meta
    g = _o(_unbroadcast(g, shape))
    if dtype is not None and dtype.kind in "fc" and g.dtype != dtype:
        g = _real_for(g, dtype).astype(dtype, copy=False)
    return g


def _cj(x: Any) -> Any:
    """The complex conjugate of a complex operand, else ``x`` itself: torch's complex gradients
    (grad = dL/dre + i dL/dim) go back through a product as ``g * conj(other)``."""
    if isinstance(x, complex) or getattr(getattr(x, "dtype", None), "kind", "") == "c":
        return x.conj() if isinstance(x, Tensor) else x.conjugate()
    return x


class ComplexUnsupportedError(NotImplementedError, TypeError):
    """An op that orders or rounds numbers got a complex tensor. torch raises
    NotImplementedError or RuntimeError here and older pydlk raised TypeError; this is all
    three (NotImplementedError is a RuntimeError)."""


def _real_only(op: str, *xs: Any) -> None:
    """Refuse complex operands of ``op`` (comparisons, max/min, sort, rounding, clamp, ...),
    as torch does: complex numbers have no order."""
    for x in xs:
        dt = getattr(x, "dtype", None)
        if isinstance(x, complex) or (dt is not None and getattr(dt, "kind", "") == "c"):
            raise ComplexUnsupportedError(
                f"{op}: not implemented for complex tensors (got {dt or 'a complex number'})"
            )


def _real_for(g: Any, dtype: Any) -> Any:
    """``g``'s real part where a complex gradient reaches a real input (torch keeps the real
    part: the imaginary part is the derivative along a direction the input cannot move in)."""
    if getattr(g, "dtype", None) is not None and g.dtype.kind == "c" and dtype.kind != "c":
        return g.real
    return g


def _o(r: Any) -> Array:
    """A NumPy scalar (what NumPy returns for 0-d results) as a 0-d array."""
    return np.asarray(r) if isinstance(r, np.generic) else r


def _arr(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _xp(*xs: Any) -> Any:
    for x in xs:
        if is_cupy(x):
            return get_array_module(x)
    return np


def _s(x: Any) -> Any:
    """A NumPy scalar operand as the Python scalar it holds, so that it promotes weakly as in
    torch (float32 tensor * np.float64(2) stays float32)."""
    return x.item() if isinstance(x, np.generic) else x


def _t(x: Any) -> Tensor:
    """A Tensor for an op's main argument (an array is wrapped without copying)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _quiet(f: _F) -> _F:
    """Run ``f`` with NumPy's floating-point warnings off (torch never warns on log(0), 0/0)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return f(*args, **kwargs)

    return cast(_F, wrapper)  # functools.wraps keeps the signature


def _nograd(array: Any) -> Tensor:
    """A result that carries no gradient (comparisons, indices, rounding)."""
    return Tensor._wrap(_o(array))


def _nograd_ufunc(name: str, input: Any) -> Tensor:
    """The NumPy/CuPy ufunc ``name`` of ``input``, as a result without gradient (sign, floor,
    isnan, ...: torch's gradient of these is zero or undefined)."""
    a = _arr(input)
    return _nograd(getattr(_xp(a), name)(a))


class _ZeroGrad(Function):
    """A piecewise-constant result (round, floor, sign, rounded division, ...) recorded on the
    graph: ``forward(ctx, out, *inputs)`` returns the precomputed ``out``; every input gets a
    zero gradient, and that gradient is a constant (its own gradient is zero too), as torch's."""

    @staticmethod
    def forward(ctx, out, *inputs):
        ctx.meta = tuple(_meta(i) for i in inputs)
        return out

    @staticmethod
    def backward(ctx, g):
        xp = get_array_module(g)
        return (None,) + tuple(
            xp.zeros(m[0], m[1]) if need else None
            for m, need in zip(ctx.meta, ctx.needs_input_grad[1:])
        )

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return tuple(
            None if z is None else Tensor._wrap(z) for z in _ZeroGrad.backward(ctx, g._data)
        )


def _zero_grad(out: Any, *inputs: Any) -> Tensor:
    """``out`` (an array) as the result of a piecewise-constant op of ``inputs``: without
    gradient unless a floating input requires grad, else recorded with a zero gradient."""
    for x in inputs:
        if isinstance(x, Tensor) and x._requires_grad and is_grad_enabled():
            if getattr(out, "dtype", None) is None or out.dtype.kind not in "fc":
                break
            return _ZeroGrad.apply(_o(out), *inputs)
    return Tensor._wrap(_o(out))


def _zero_grad_ufunc(name: str, input: Any) -> Tensor:
    """The NumPy/CuPy ufunc ``name`` of ``input`` (floor, sign, ...): torch's gradient is zero."""
    a = _arr(input)
    return _zero_grad(getattr(_xp(a), name)(a), input)


def _dim(d: int, ndim: int, op: str, extra: int = 0) -> int:
    """``d`` as a non-negative dim of a tensor with ``ndim`` (+ ``extra``) dims, or IndexError."""
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {d!r}")
    n = _b.max(ndim + extra, 1)
    if not -n <= d < n:
        raise IndexError(
            f"{op}: dim {d} is out of range for a tensor with {ndim} "
            f"dimension(s) (expected in [{-n}, {n - 1}])"
        )
    return int(d) % n


def _dims(
    dim: int | Sequence[int] | None, ndim: int, op: str = "reduction"
) -> tuple[int, ...] | None:
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


def _count(shape: Sequence[int], axes: Sequence[int] | None) -> int:
    if axes is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[i] for i in axes], dtype=np.int64))


def _keep(g: Array, axes: Sequence[int] | None, keepdim: bool, ndim: int) -> Array:
    """A reduction's upstream gradient with the reduced axes put back as size 1."""
    xp = get_array_module(g)
    if keepdim:
        return g
    if axes is None:
        return g.reshape((1,) * ndim)
    return xp.expand_dims(g, axes) if axes else g


def _unpack(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``f(2, 3)``, ``f((2, 3))`` or ``f([2, 3])`` -> (2, 3), not yet checked."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def _sizes(size: Sequence[Any], op: str) -> tuple[int, ...]:
    """``f(2, 3)``, ``f((2, 3))`` or ``f([2, 3])`` -> (2, 3), checked."""
    size = _unpack(tuple(size))
    try:
        size = tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"{op}: size must be ints or a tuple of ints, got {size!r}") from None
    if _b.any(s < 0 for s in size):
        raise ValueError(f"{op}: negative dimension in size {size}")
    return size


class FloatInputError(RuntimeError, TypeError):
    """An op that torch defines only for floating-point input (mean, var, std, norm) got an
    integer or bool tensor: torch's RuntimeError, and a TypeError as pydlk's other dtype
    errors."""


def _need_float(x: Tensor | Array, op: str) -> None:
    if x.dtype.kind not in "fc":
        raise FloatInputError(
            f"{op}: input dtype must be floating point, got {x.dtype}; "
            "convert it first with .float()"
        )


def _same(a: Array, b: Array) -> Array:
    """True where a equals b, NaN counting as equal to NaN (for tie masks of max/min)."""
    xp = get_array_module(a)
    m = a == b
    if a.dtype.kind in "fc":
        m = m | (xp.isnan(a) & xp.isnan(b))
    return m


def _axis_alias(fn: _F) -> _F:
    """Accept ``axis=`` for ``dim=`` (NumPy's name, which torch also takes on its reductions,
    cat/stack and softmax); giving both is an error."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "axis" in kwargs:
            if "dim" in kwargs:
                raise TypeError(f"{fn.__name__}: give dim or its alias axis, not both")
            kwargs["dim"] = kwargs.pop("axis")
        return fn(*args, **kwargs)

    return cast(_F, wrapper)  # functools.wraps keeps the signature


# -- for backward_graph (create_graph=True): the same helpers as differentiable Tensor ops


def _fit_t(g: Tensor, meta: _Meta) -> Tensor:
    """``_fit`` on a Tensor gradient, as recorded ops: broadcasting summed away, then the
    argument's dtype."""
    shape, dtype = meta
    shape = tuple(shape)
    if tuple(g.shape) != shape:
        lead = g.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1
        )
        if axes:
            g = g.sum(dim=axes, keepdim=True)
        g = g.reshape(shape)
    if dtype is not None and dtype.kind in "fc" and g.dtype != dtype:
        if g.dtype.kind == "c" and dtype.kind != "c":  # a real input keeps the real part
            g = g.real
        g = g.to(dtype)
    return g


def _val(inp: Tensor | None, raw: Any) -> Any:
    """A forward argument for backward_graph: its Tensor (so derivatives flow through it) when
    it was one, else the raw value the forward saw (a constant)."""
    return inp if inp is not None else raw


def _mask_t(g: Tensor, mask: Array) -> Tensor:
    """``g`` where the bool array ``mask`` holds, else 0: linear in g, so differentiable."""
    return g * mask.astype(g.dtype)


def _counts(t: Tensor) -> tuple[int, int]:
    a = t._data
    b = a.base
    return sys.getrefcount(a), (sys.getrefcount(b) if b is not None else 0)


def _tensor_refs(t: Tensor) -> int:
    return sys.getrefcount(t)


def _sole_refs() -> tuple[int, int, int]:
    """What ``_sole_holder`` counts for an array held by one Tensor alone, for a base held by one
    view alone, and for a Tensor held by one list alone (a node's inputs): measured, since
    interpreters count references differently."""
    t = Tensor._wrap(np.empty(2).reshape(2))
    held = [Tensor._wrap(np.empty(1))]
    return (*_counts(t), _tensor_refs(held[0]))


_SOLE_A, _SOLE_B, _SOLE_T = _sole_refs()


def _view_chain_private(t: Tensor) -> bool:
    """True if ``t`` views a base that nothing outside the graph can see: walking back through
    the view ops that made ``t`` (reshape, transpose, slicing, ...: their backward reads no
    values) to the op that made the memory, each Tensor on the way is held by the graph's
    node alone and the base array by those Tensors alone. ``lin(x).view(B, T, C)`` is such a
    view; a view whose source a variable still names is not."""
    base = t._data.base
    if getattr(base, "base", None) is not None:
        return False
    holders, cur = 1, t
    for _ in range(16):
        node = cur._node
        src = None
        if node is not None:
            for inp in node[0].inputs:
                if inp is not None and (inp._data is base or inp._data.base is base):
                    src = inp
                    break
            inp = None
        if src is None:  # cur's op made the memory
            return sys.getrefcount(base) <= _SOLE_B + holders - 1
        if _tensor_refs(src) > _SOLE_T + 1:  # + 1: the local src
            return False
        if src._data is not base and sys.getrefcount(src._data) > _SOLE_A - 1:
            return False  # its array is held by more than src
        holders += 1
        cur = src
    return False


def _sole_holder(t: Tensor) -> bool:
    """True if nothing but ``t`` holds its array: no other Tensor over it (``.data``,
    ``.detach()``), no view of it, no op that saved it for a backward, no NumPy reference
    (``np.asarray(t)``). A view qualifies when its base is held by the view alone (a kernel's
    placed output) or only through the graph (``_view_chain_private``). Then replacing the
    array by another with the new values cannot be told apart from writing into it, and no
    saved value changes: this is how pydlk records in-place ops without torch's version
    counters."""
    a, b = _counts(t)
    if a > _SOLE_A:
        return False
    if b and (b > _SOLE_B or getattr(t._data.base, "base", None) is not None):
        return _view_chain_private(t)
    return True


def _refuse_shared(self: Tensor, op: str) -> None:
    """RuntimeError, naming the op, for a recorded in-place write into an array held elsewhere."""
    if self._data.base is not None:
        raise RuntimeError(
            f"{op}: a recorded in-place write into a view of another tensor is not supported "
            "(the tensor it views would not see it in its gradient); write into the tensor "
            "itself, clone() the view first, or build the result out of place"
        )
    raise RuntimeError(
        f"{op}: in place into a tensor of the autograd graph whose memory is held elsewhere "
        "too (a view or another tensor over it, or a value an op saved for its backward); "
        "pydlk has no version counters to tell whether a backward still needs it (torch "
        "raises at backward when one does), so it refuses: clone() the tensor first or use "
        "the out-of-place op"
    )


def _refuse_leaf(self: Tensor, op: str) -> None:
    if self._requires_grad and self._node is None:
        raise RuntimeError(
            f"{op}: a leaf tensor that requires grad is being used in an in-place operation "
            "(torch: a leaf Variable that requires grad is being used in an in-place "
            "operation.); wrap it in pydlk.no_grad()"
        )


def _stand_for(self: Tensor) -> Tensor:
    """A Tensor standing for ``self``'s value, history and version before an in-place op."""
    before = Tensor._wrap(self._data)
    before._requires_grad, before._node = self._requires_grad, self._node
    if self._version:
        before._version = self._version
    return before


def _new_version(self: Tensor, before: Tensor) -> None:
    """A recorded in-place op moves a new history onto ``self``; ``before`` (``_stand_for``)
    stands for its value and history until now. Nodes that used ``self`` before the write
    find ``before`` through ``self``'s version (``autograd.Node.versions``)."""
    from .. import autograd

    v = self._version
    self._version = v + 1
    self.__dict__.setdefault("_old", {})[v] = weakref.ref(before)
    autograd._inplace_seen = True


def _standin(a: Array) -> Array:
    """A zero-byte array of ``a``'s shape and dtype (NaN for floats, so that a stray read shows):
    what a recorded overwrite leaves in the node for the value before it, which its backward
    never reads, so that the node does not hold the target's memory."""
    xp = get_array_module(a)
    fill = np.nan if a.dtype.kind in "fc" else 0
    return xp.broadcast_to(xp.asarray(fill, dtype=a.dtype), a.shape)


def _inplace_recorded(self: Tensor, op: str, fn: Any, *args: Any) -> Tensor:
    """Run ``fn.apply(self, *args)``, a Function whose forward writes into its first argument's
    array and returns that array, and move the new history onto ``self`` (its grad_fn becomes
    this op), as torch records an in-place write. Only for writes whose backward needs none of
    the values they overwrite, nor the inputs' values (assignments, fills, index_add_).

    Refused, naming the op: a leaf that requires grad (torch refuses it too), and a tensor
    whose memory something else holds (``_sole_holder``: a view of another tensor, whose
    base would not see the write in its gradient; a value a backward saved)."""
    _refuse_leaf(self, op)
    if not _sole_holder(self):
        _refuse_shared(self, op)
    before = _stand_for(self)
    out = fn.apply(before, *args)
    # the node keeps shape and dtype, not the memory (the old values are gone: a node that
    # used self before and reads its input's values in a double backward reads NaN)
    before._data = _standin(before._data)
    if out._node is not None:
        _new_version(self, before)
        node, i = out._node
        node.outputs[i] = weakref.ref(self)
        self._requires_grad, self._node = True, out._node
    return self
