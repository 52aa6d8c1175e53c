"""More of torch's tensor functions and methods: ``vdot``, ``Tensor.resize_``/``resize_as_``
(torch's semantics for a tensor that does not require grad: the elements kept in row-major
order, new ones zero here where torch leaves them uninitialised), and the in-place random fills
``geometric_``, ``cauchy_``, ``log_normal_`` drawing from pydlk's generator (so
``manual_seed`` reproduces them; ``exponential_`` is in ``factories``); and torch's lazy-bit
predicates ``is_inference``, ``is_conj``, ``is_neg`` and ``resolve_neg`` (top-level, the last
three also as methods): pydlk computes conjugates and negations at once, so no tensor carries
torch's conjugate or negative bit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._backend import get_array_module, is_cupy
from .._random import Generator
from ..autograd import Tensor
from ._helpers import _sizes, _t
from .complex_ops import conj
from .factories import _fill_random, _gen
from .products import dot


def vdot(input: Tensor, other: Tensor) -> Tensor:
    """``sum(conj(input) * other)`` of two 1-D tensors of one dtype (``input`` conjugated,
    as torch.vdot); differentiable."""
    input, other = _t(input), _t(other)
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.dtype != other.dtype:
        raise RuntimeError(
            "vdot : expected both vectors to have same dtype, but found "
            f"{input.dtype} and {other.dtype}"
        )
    if input.dtype.kind == "c":
        input = conj(input)
    return dot(input, other)


def _resize_(self: Tensor, *sizes: Any, memory_format: Any = None) -> Tensor:
    """Give ``self`` the shape ``sizes`` in place: its first elements in row-major order are
    kept, and growing appends zeros (torch leaves them uninitialised). A tensor that requires
    grad raises RuntimeError, as torch's."""
    if self.requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    shape = _sizes(sizes, "resize_")
    n = math.prod(shape)
    a = self._data
    if tuple(a.shape) == shape:
        return self
    xp = get_array_module(a)
    flat = a.reshape(-1)
    if n <= flat.size:
        new = flat[:n].reshape(shape)
    else:
        new = xp.zeros(n, dtype=a.dtype)
        new[: flat.size] = flat
        new = new.reshape(shape)
    self._data = new
    return self


def _resize_as_(self: Tensor, the_template: Tensor, *, memory_format: Any = None) -> Tensor:
    """``self.resize_(the_template.shape)``."""
    return _resize_(self, tuple(the_template.shape))


def _geometric_(self: Tensor, p: float, *, generator: Generator | None = None) -> Tensor:
    """Fill in place with Geometric(p) draws: the number of Bernoulli(p) trials up to and
    including the first success (1, 2, ...; mean 1/p), as torch."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    self._check_inplace_write("geometric_")
    a = _gen(generator).geometric(p, tuple(self.shape)).astype(self.dtype, copy=False)
    if hasattr(self._data, "get"):  # a CuPy array: draw on the host, copy over
        import cupy

        a = cupy.asarray(a)
    self._data[...] = a
    return self


def _cauchy_(
    self: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator: Generator | None = None
) -> Tensor:
    """Fill in place with Cauchy(median, sigma) draws (``median + sigma tan(pi (u - 1/2))``)."""
    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    return _fill_random(
        self, "cauchy_", lambda s: median + sigma * _gen(generator).standard_cauchy(s)
    )


def _log_normal_(
    self: Tensor, mean: float = 1.0, std: float = 2.0, *, generator: Generator | None = None
) -> Tensor:
    """Fill in place with ``exp(N(mean, std**2))`` draws (median ``exp(mean)``)."""
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return _fill_random(
        self,
        "log_normal_",
        lambda s: np.exp(mean + std * _gen(generator).standard_normal(s, dtype=np.float64)),
    )


def _input(x: Any, op: str) -> Tensor:
    """``x`` as a Tensor (a NumPy or CuPy array is wrapped); anything else is refused with
    torch's TypeError naming the op and the argument."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) or is_cupy(x):
        return Tensor._wrap(x)
    raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")


def is_inference(input: Tensor) -> bool:
    """torch.is_inference: whether ``input`` was made inside ``inference_mode()``
    (``input.is_inference()``)."""
    return _input(input, "is_inference")._inference


def is_conj(input: Tensor) -> bool:
    """torch.is_conj: False. torch can mark a tensor as lazily conjugated (``conj()`` of a
    complex tensor is a view with a conjugate bit); pydlk's ``conj`` computes the conjugate, so
    no pydlk tensor carries the bit."""
    _input(input, "is_conj")
    return False


def is_neg(input: Tensor) -> bool:
    """torch.is_neg: False. torch's negative bit marks a lazily negated view (the imaginary
    part of a lazily conjugated tensor); pydlk has no lazy views of that kind."""
    _input(input, "is_neg")
    return False


def resolve_neg(input: Tensor) -> Tensor:
    """torch.resolve_neg: ``input`` itself, as torch returns a tensor whose negative bit is not
    set (no pydlk tensor has one; see :func:`is_neg`)."""
    return _input(input, "resolve_neg")


__all__ = ["is_conj", "is_inference", "is_neg", "resolve_neg", "vdot"]

TENSOR_METHODS: dict[str, Any] = {
    "vdot": vdot,
    "resize_": _resize_,
    "resize_as_": _resize_as_,
    "geometric_": _geometric_,
    "cauchy_": _cauchy_,
    "log_normal_": _log_normal_,
    "is_conj": is_conj,
    "is_neg": is_neg,
    "resolve_neg": resolve_neg,
}
