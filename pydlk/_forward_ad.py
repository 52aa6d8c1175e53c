"""torch.autograd.forward_ad (``pydlk.autograd.forward_ad``): dual tensors for Jacobian-vector
products. ``with dual_level(): d = make_dual(x, t); y = f(d); unpack_dual(y).tangent`` is
``J_f(x) @ t``.

pydlk differentiates in reverse mode only, so a dual tensor is its primal recorded as part of
a graph (``x`` itself through a recorded identity when it already requires grad, else a copy
that requires grad), and ``unpack_dual`` of a result computes its tangent by the double-vjp
trick, as ``pydlk.func.jvp``: with ``u`` a dummy cotangent, ``g(u) = u^T J`` is linear in ``u``
and the derivative of ``sum_i g_i(u) . t_i`` with respect to ``u`` is ``J t``. So the values are
torch's; the costs and the bookkeeping differ:

- each ``unpack_dual`` of a computed tensor runs two backward passes (the graph is kept);
- every op between the duals and the result needs a double backward (an op without one raises,
  naming it);
- results of dual tensors require grad (they are part of the recorded graph), where torch's
  forward AD leaves ``requires_grad`` as it was; ``unpack_dual(y).primal`` is ``y`` itself.

As torch's, one level is active at a time (nesting raises), and a level's dual tensors lose
their tangents when it exits.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

__all__ = [
    "UnpackedDualTensor",
    "dual_level",
    "enter_dual_level",
    "exit_dual_level",
    "make_dual",
    "unpack_dual",
]

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])

# The active level's dual tensors and their tangents, by id of the dual (None: no level).
_level: dict[int, tuple[Any, Any]] | None = None
_count = 0  # levels entered so far: a level's number


def enter_dual_level() -> int:
    """Open a forward-AD level and return its number (``dual_level`` does this for a block)."""
    global _level, _count
    if _level is not None:
        raise RuntimeError(
            "Nested forward mode AD is not supported at the moment; exit the current level first"
        )
    _level = {}
    _count += 1
    return _count - 1


def exit_dual_level(*, level: int | None = None) -> None:
    """Close the active level: its dual tensors lose their tangents."""
    global _level
    if _level is None:
        raise RuntimeError("exit_dual_level: no forward AD level is active")
    if level is not None and level != _count - 1:
        raise RuntimeError(f"exit_dual_level: level {level} is not the active level {_count - 1}")
    _level = None


class dual_level:
    """``with dual_level():`` a forward-AD level for the block (torch's context manager)."""

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc: object) -> None:
        exit_dual_level()


def _check_level(op: str, level: int | None) -> None:
    if level is not None and (_level is None or level != _count - 1):
        raise RuntimeError(f"{op}: level {level} is not the active forward AD level")


def make_dual(tensor: Any, tangent: Any, *, level: int | None = None) -> Any:
    """A dual tensor: ``tensor``'s values carrying ``tangent`` (same shape, floating dtype)
    through the ops that use it, within the active level."""
    from .autograd import Tensor

    if _level is None:
        raise RuntimeError(
            "Trying to create a dual Tensor for forward AD but no level exists, make sure to "
            "enter_dual_level() first."
        )
    _check_level("make_dual", level)
    for name, t in (("tensor", tensor), ("tangent", tangent)):
        if not isinstance(t, Tensor):
            raise TypeError(f"make_dual: {name} must be a Tensor, got {type(t).__name__}")
        if t.dtype.kind not in "fc":
            raise ValueError(
                f"make_dual: Expected {name} to be floating point or complex, got {t.dtype}"
            )
    if tuple(tensor.shape) != tuple(tangent.shape):
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the "
            f"original Tensor, this is not supported. Tensor is of size {list(tensor.shape)} "
            f"while the given forward gradient is of size {list(tangent.shape)}."
        )
    if tensor.requires_grad:
        dual = tensor.view_as(tensor)  # recorded: reverse mode still reaches tensor
    else:
        dual = tensor.detach().requires_grad_(True)
    _level[id(dual)] = (dual, tangent.detach())
    return dual


def unpack_dual(tensor: Any, *, level: int | None = None) -> UnpackedDualTensor:
    """``(primal, tangent)`` of ``tensor``: a dual's own tangent, for a tensor computed from
    duals its Jacobian-vector product (see the module docstring), None where it depends on no
    dual or no level is active."""
    from .autograd import Tensor
    from .func._eager import _grads, _zeros_array  # jvp's double-vjp steps

    if _level is None or not isinstance(tensor, Tensor):
        return UnpackedDualTensor(tensor, None)
    _check_level("unpack_dual", level)
    own = _level.get(id(tensor))
    if own is not None and own[0] is tensor:
        return UnpackedDualTensor(tensor, own[1])
    if not tensor.requires_grad or tensor.dtype.kind not in "fc":
        return UnpackedDualTensor(tensor, None)
    duals = [d for d, _ in _level.values()]
    tangents = [t for _, t in _level.values()]
    u = Tensor._wrap(_zeros_array(tensor)).requires_grad_(True)
    gs = _grads([tensor], [u], duals, True)  # u^T J, as a function of u
    pairs = [(g, t) for g, t in zip(gs, tangents) if g.requires_grad]
    if not pairs:  # the tensor depends on no dual
        return UnpackedDualTensor(tensor, None)
    (jt,) = _grads([g for g, _ in pairs], [t for _, t in pairs], [u], False)
    return UnpackedDualTensor(tensor, jt)
