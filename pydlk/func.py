"""torch.func's composable transforms, built on pydlk's tape autograd: ``grad``,
``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian``, ``vmap`` and
``functional_call``. ``from torch.func import vmap, grad, functional_call`` works unchanged.

They compose (``vmap(grad(f))`` for per-sample gradients, ``jacfwd(jacrev(f))``,
``grad(grad(f))``): each transform differentiates with a recorded graph whenever its inputs
are themselves being differentiated, so an outer transform sees through an inner one.

Differs from torch: ``vmap`` runs ``func`` once per batch entry and stacks the results (torch
vectorises the call), so it is as fast as a Python loop, and ``randomness`` and
``chunk_size`` are accepted and ignored; ``jacfwd`` and ``jvp`` use reverse mode (the Jacobian
and the double-vjp trick), with the same results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._engine import grad as _autograd_grad
from .autograd import Tensor, enable_grad
from .nn.utils.stateless import _functional_call

__all__ = [
    "functional_call",
    "grad",
    "grad_and_value",
    "vjp",
    "jvp",
    "jacrev",
    "jacfwd",
    "hessian",
    "vmap",
]


# -- pytrees of Tensors (tuples, lists and dicts; anything else is a leaf) -------------------


def _flatten(tree) -> tuple[list, Callable[[list], Any]]:
    if isinstance(tree, (tuple, list)):
        parts = [_flatten(t) for t in tree]
        sizes = [len(p[0]) for p in parts]
        kind = type(tree)

        def build(leaves, parts=parts, sizes=sizes, kind=kind):
            out, k = [], 0
            for (_, b), n in zip(parts, sizes):
                out.append(b(leaves[k : k + n]))
                k += n
            return kind(out) if kind in (tuple, list) else kind(*out)

        return [x for p in parts for x in p[0]], build
    if isinstance(tree, dict):
        keys = list(tree)
        flat, build_v = _flatten([tree[k] for k in keys])
        return flat, lambda leaves: dict(zip(keys, build_v(leaves)))
    return [tree], lambda leaves: leaves[0]


def _map(fn, tree):
    leaves, build = _flatten(tree)
    return build([fn(x) for x in leaves])


def _argnums(argnums, n, name):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise RuntimeError(f"{name}: argnums must be non-empty")
    for a in nums:
        if not -n <= a < n:
            raise RuntimeError(f"{name}: Got argnums={argnums} but only {n} positional inputs")
    return tuple(a % n for a in nums), isinstance(argnums, int)


def _prepare(args, nums):
    """The differentiated arguments as graph inputs: a Tensor already in a graph (an outer
    transform's input) is used as it is, so the outer transform sees through; any other is a
    fresh leaf. Returns (args, leaves per argnum, whether to record the derivative's graph)."""
    args = list(args)
    nested = False
    per: list[tuple[list, Callable]] = []
    for i in nums:

        def prep(t):
            nonlocal nested
            if not isinstance(t, Tensor):
                raise RuntimeError(
                    f"Expected the differentiated inputs to be Tensors, got {type(t).__name__}"
                )
            if t.requires_grad:
                nested = True
                return t.view_as(t)
            return t.detach().requires_grad_(True)

        args[i] = _map(prep, args[i])
        per.append(_flatten(args[i]))
    return args, per, nested


def _grads(out, per, nested, grad_outputs=None, retain=False):
    leaves = [x for flat, _ in per for x in flat]
    got = _autograd_grad(
        out,
        leaves,
        grad_outputs,
        retain_graph=retain or nested,
        create_graph=nested,
        allow_unused=True,
        materialize_grads=True,
    )
    res, k = [], 0
    for flat, build in per:
        res.append(build(list(got[k : k + len(flat)])))
        k += len(flat)
    return res


def _plain(t, nested):
    return t if nested or not isinstance(t, Tensor) else t.detach()


def grad_and_value(func: Callable, argnums: Any = 0, has_aux: bool = False) -> Callable:
    """``grad_and_value(f)(*args)``: ``(gradient, f(*args))`` of a scalar-valued ``f``,
    the gradient with respect to ``args[argnums]`` (an int, or a tuple for a tuple of
    gradients; an argument may be a tuple/list/dict of Tensors, its gradient the same shape).
    With ``has_aux`` ``f`` returns ``(value, aux)`` and the result is
    ``(gradient, (value, aux))``."""

    def wrapper(*args, **kwargs):
        nums, single = _argnums(argnums, len(args), "grad_and_value(f)(*args)")
        with enable_grad():
            args2, per, nested = _prepare(args, nums)
            out = func(*args2, **kwargs)
            aux = None
            if has_aux:
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise RuntimeError(
                        "grad_and_value(f)(*args): output of function f should be a tuple: "
                        "(output, aux) if has_aux is True"
                    )
                out, aux = out
            if not isinstance(out, Tensor):
                raise RuntimeError(
                    "grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got "
                    f"{type(out).__name__}"
                )
            if out.numel() != 1 or out.dim() != 0:
                raise RuntimeError(
                    "grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, "
                    f"got tensor with {out.dim()} dims. Maybe you wanted to use the vjp or "
                    "jacrev APIs instead?"
                )
            gs = _grads(out, per, nested)
        g = gs[0] if single else tuple(gs)
        value = _plain(out, nested)
        if has_aux:
            return g, (value, _map(lambda t: _plain(t, nested), aux))
        return g, value

    return wrapper


def grad(func: Callable, argnums: Any = 0, has_aux: bool = False) -> Callable:
    """``grad(f)(*args)``: the gradient of a scalar-valued ``f`` with respect to
    ``args[argnums]`` (see ``grad_and_value``); with ``has_aux``, ``(gradient, aux)``."""
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def vjp(func: Callable, *primals, has_aux: bool = False):
    """``(func(*primals), vjp_fn)``; ``vjp_fn(cotangents)`` gives the tuple of
    vector-Jacobian products, one per primal (with ``has_aux``: ``(out, vjp_fn, aux)``)."""
    nums = tuple(range(len(primals)))
    with enable_grad():
        args, per, nested = _prepare(primals, nums)
        out = func(*args)
        aux = None
        if has_aux:
            out, aux = out
    outs, _ = _flatten(out)

    def vjp_fn(cotangents, retain_graph: bool = True):
        cots, _ = _flatten(cotangents)
        if len(cots) != len(outs):
            raise RuntimeError(
                f"Expected pytree structure of cotangents to be the same as pytree structure "
                f"of outputs to the function ({len(outs)} tensors, got {len(cots)})"
            )
        with enable_grad():
            return tuple(_grads(outs, per, nested, cots, retain=True))

    value = _map(lambda t: _plain(t, nested), out)
    if has_aux:
        return value, vjp_fn, _map(lambda t: _plain(t, nested), aux)
    return value, vjp_fn


def jvp(func: Callable, primals, tangents, *, strict: bool = False, has_aux: bool = False):
    """``(func(*primals), J @ tangents)``, the Jacobian-vector product (torch.func.jvp),
    computed as the derivative of a vjp (the double-vjp trick)."""
    from . import ops

    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise RuntimeError(
            "jvp(f, primals, tangents): Expected primals and tangents to have the same length"
        )
    with enable_grad():
        args, per, nested = _prepare(primals, tuple(range(len(primals))))
        out = func(*args)
        aux = None
        if has_aux:
            out, aux = out
        outs, build = _flatten(out)
        us = [ops.zeros_like(o).requires_grad_(True) for o in outs]
        leaves = [x for flat, _ in per for x in flat]
        g = _autograd_grad(
            outs, leaves, us, create_graph=True, allow_unused=True, materialize_grads=True
        )
        tans = [t for tan in tangents for t in _flatten(tan)[0]]
        jv = _autograd_grad(
            list(g), us, tans, create_graph=nested, allow_unused=True, materialize_grads=True
        )
    res = (_map(lambda t: _plain(t, nested), out), build([_plain(t, nested) for t in jv]))
    return res + (_map(lambda t: _plain(t, nested), aux),) if has_aux else res


def jacrev(
    func: Callable, argnums: Any = 0, *, has_aux: bool = False, chunk_size=None, _name="jacrev"
) -> Callable:
    """``jacrev(f)(*args)``: the Jacobian of ``f`` with respect to ``args[argnums]``, of shape
    ``output.shape + input.shape`` (a tuple over argnums when it is a tuple), one reverse pass
    per output element. With ``has_aux``: ``(jacobian, aux)``."""
    from . import ops

    def wrapper(*args, **kwargs):
        nums, single = _argnums(argnums, len(args), f"{_name}(f)(*args)")
        with enable_grad():
            args2, per, nested = _prepare(args, nums)
            out = func(*args2, **kwargs)
            aux = None
            if has_aux:
                out, aux = out
            if not isinstance(out, Tensor):
                raise RuntimeError(f"{_name}(f)(*args): f must return a Tensor")
            flat = out.reshape(-1)
            n = flat.numel()
            rows = []
            for k in range(n):
                rows.append(_grads(flat[k], per, nested, retain=True))
        jacs = []
        for j in range(len(nums)):
            leaves0, build = _flatten(rows[0][j]) if n else _flatten(per[j][1](per[j][0]))
            cols = []
            for li in range(len(leaves0)):
                if n:
                    col = ops.stack([_flatten(r[j])[0][li] for r in rows])
                else:
                    col = ops.zeros((0,) + tuple(per[j][0][li].shape), dtype=out.dtype)
                cols.append(col.reshape(tuple(out.shape) + tuple(per[j][0][li].shape)))
            jacs.append(build([_plain(c, nested) for c in cols]))
        jac = jacs[0] if single else tuple(jacs)
        return (jac, _map(lambda t: _plain(t, nested), aux)) if has_aux else jac

    return wrapper


def jacfwd(func: Callable, argnums: Any = 0, has_aux: bool = False, *, randomness="error"):
    """The Jacobian as ``jacrev`` gives it (torch computes it in forward mode; the values are
    the same)."""
    return jacrev(func, argnums, has_aux=has_aux, _name="jacfwd")


def hessian(func: Callable, argnums: Any = 0) -> Callable:
    """``hessian(f)(*args)``: the Jacobian of the Jacobian of a scalar ``f``, shape
    ``input.shape + input.shape``."""
    return jacfwd(jacrev(func, argnums), argnums)


def vmap(
    func: Callable,
    in_dims: Any = 0,
    out_dims: Any = 0,
    randomness: str = "error",
    *,
    chunk_size=None,
) -> Callable:
    """``vmap(f)(*args)``: ``f`` applied to each slice of the arguments along ``in_dims`` (an
    int or None for every argument, or a tuple with one entry per argument, an entry a
    nested structure matching a tuple/list/dict argument), the results stacked along
    ``out_dims``. ``None`` passes an argument whole to every call."""
    from . import ops

    def wrapper(*args, **kwargs):
        dims = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(args)
        if len(dims) != len(args):
            raise ValueError(
                f"vmap(f, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the "
                f"structure of `inputs`. in_dims has structure of length {len(dims)} but "
                f"inputs has {len(args)} positional arguments"
            )
        pairs = []  # (arg index, flat leaves, per-leaf dims, builder)
        sizes = set()
        for i, (a, d) in enumerate(zip(args, dims)):
            leaves, build = _flatten(a)
            if d is None or isinstance(d, int):
                ds = [d] * len(leaves)
            else:
                ds = _flatten(d)[0]
                if len(ds) != len(leaves):
                    raise ValueError(f"vmap: in_dims[{i}] does not match the structure of arg {i}")
            for x, dd in zip(leaves, ds):
                if dd is not None:
                    if not isinstance(x, Tensor):
                        raise ValueError(
                            f"vmap: Got in_dim={dd} for an input but the input is of type "
                            f"{type(x).__name__}. We cannot vmap over non-Tensor arguments"
                        )
                    sizes.add(x.shape[dd])
            pairs.append((leaves, ds, build))
        if not sizes:
            raise ValueError(
                "vmap: at least one input must be a Tensor mapped over (in_dims not None)"
            )
        if len(sizes) > 1:
            raise ValueError(
                f"vmap: Expected all tensors to have the same size in the mapped dimension, got "
                f"sizes {sorted(sizes)} for the mapped dimension"
            )
        (B,) = sizes
        results = []
        for b in range(B):
            call = [
                build([x if dd is None else x.select(dd, b) for x, dd in zip(leaves, ds)])
                for leaves, ds, build in pairs
            ]
            results.append(func(*call, **kwargs))
        first, build_out = _flatten(results[0])
        ods = (
            [out_dims] * len(first)
            if isinstance(out_dims, int) or out_dims is None
            else _flatten(out_dims)[0]
        )
        outs = []
        for li, od in enumerate(ods):
            col = [_flatten(r)[0][li] for r in results]
            col = [c if isinstance(c, Tensor) else ops.tensor(c) for c in col]
            outs.append(col[0] if od is None else ops.stack(col, dim=od))
        return build_out(outs)

    return wrapper


def functional_call(
    module,
    parameter_and_buffer_dicts,
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
):
    """``module(*args, **kwargs)`` with the named parameters and buffers replaced by the given
    tensors for this call (see ``pydlk.nn.utils.stateless``); with ``vmap`` and ``grad`` it
    gives per-sample gradients and MAML's inner loop."""
    return _functional_call(
        module, parameter_and_buffer_dicts, args, kwargs, tie_weights=tie_weights, strict=strict
    )
