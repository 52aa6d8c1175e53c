"""torch.func's autodiff transforms on pydlk's tape: grad, grad_and_value, vjp, jvp, jacrev,
jacfwd and hessian.

Each transform runs ``func`` on differentiable stand-ins for the chosen arguments and asks
``pydlk.autograd.grad`` for the derivatives. Transforms nest (``grad(grad(f))``,
``jacrev(jacrev(f))``): a transform running inside another one, or given inputs that already
require grad, differentiates with ``create_graph=True`` so that its results can be
differentiated again. At the outermost level the results carry no graph, as torch's.
"""

from .._backend import get_array_module
from ..autograd import Tensor, enable_grad
from ..autograd import grad as _autograd_grad
from . import _pytree

_level = [0]  # how many transforms are running func right now


def _zeros_array(t):
    return get_array_module(t._data).zeros(t.shape, t.dtype)


def _check_argnums(argnums, nargs):
    """argnums as a tuple of non-negative ints (torch's checks and messages)."""
    single = isinstance(argnums, int)
    nums = (argnums,) if single else argnums
    if not isinstance(nums, tuple) or not all(isinstance(a, int) for a in nums):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    if not nums:
        raise RuntimeError("argnums must be non-empty")
    out = []
    for a in nums:
        if not -nargs <= a < nargs:
            raise RuntimeError(f"Got argnum={a}, but only {nargs} positional inputs")
        out.append(a % nargs)
    if len(set(out)) != len(out):
        raise RuntimeError(f"argnums must be unique, got {argnums}")
    return single, tuple(out)


def _stand_in(t, api):
    """A differentiable stand-in for ``t``: a fresh leaf, or (t already in a graph) a
    differentiable identity of it, so the result reaches back to ``t``."""
    if not isinstance(t, Tensor):
        raise ValueError(f"Thing passed to transform API must be Tensor, got {type(t)}")
    if t.requires_grad:
        return t.view_as(t)
    if t.dtype.kind not in "fc" and t.dtype.name != "bfloat16":
        raise RuntimeError(
            f"{api}: only Tensors of floating point dtype can require gradients, got {t.dtype}"
        )
    return t.detach().requires_grad_()


def _prepare(args, argnums, api):
    """Stand-ins for the leaves of the chosen arguments: the new args, the flat stand-ins, one
    spec per chosen argument, and whether results must keep a graph."""
    args = list(args)
    flat, specs = [], []
    keep = _level[0] > 0
    for i in argnums:
        leaves, spec = _pytree.flatten(args[i])
        keep = keep or any(isinstance(t, Tensor) and t.requires_grad for t in leaves)
        new = [_stand_in(t, api) for t in leaves]
        args[i] = _pytree.unflatten(new, spec)
        flat.extend(new)
        specs.append(spec)
    return args, flat, specs, keep


def _run(func, args, kwargs):
    _level[0] += 1
    try:
        with enable_grad():
            return func(*args, **kwargs)
    finally:
        _level[0] -= 1


def _split_aux(out, has_aux, api):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(
            f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True"
        )
    return out


def _grads(outs, gos, inputs, keep):
    """d(sum outs * gos)/d inputs, zeros for inputs the outputs do not reach."""
    pairs = [(o, g) for o, g in zip(outs, gos) if o.requires_grad]
    got = [None] * len(inputs)
    if pairs:
        got = _autograd_grad(
            [o for o, _ in pairs],
            inputs,
            [g for _, g in pairs],
            retain_graph=True,
            create_graph=keep,
            allow_unused=True,
        )
    res = []
    for t, g in zip(inputs, got):
        if g is None:
            g = Tensor._wrap(_zeros_array(t))
        res.append(g if keep else g.detach())
    return res


def _regroup(flat, specs, single):
    """Flat per-leaf results back into the chosen arguments' structures."""
    out, k = [], 0
    for spec in specs:
        n = _pytree.num_leaves(spec)
        out.append(_pytree.unflatten(flat[k : k + n], spec))
        k += n
    return out[0] if single else tuple(out)


def _detach_tree(tree, keep):
    if keep:
        return tree
    leaves, spec = _pytree.flatten(tree)
    return _pytree.unflatten([t.detach() if isinstance(t, Tensor) else t for t in leaves], spec)


def grad_and_value(func, argnums=0, has_aux=False):
    """torch.func.grad_and_value: a function returning ``(gradient, value)`` of the scalar
    ``func`` (``(gradient, (value, aux))`` with ``has_aux``). The gradient has the structure of
    the argument ``argnums`` names (a tuple of them for a tuple of argnums); arguments may be
    Tensors or tuples, lists and dicts of Tensors.

    Raises:
        RuntimeError: bad ``argnums``; ``func`` returns no Tensor or one with dimensions.
        ValueError: a differentiated argument holds something other than Tensors.
    """
    api = "grad_and_value(f)(*args)"

    def wrapper(*args, **kwargs):
        single, nums = _check_argnums(argnums, len(args))
        args, flat, specs, keep = _prepare(args, nums, api)
        out, aux = _split_aux(_run(func, args, kwargs), has_aux, api)
        if not isinstance(out, Tensor):
            raise RuntimeError(f"{api}: Expected f(*args) to return a Tensor, got {type(out)}")
        if out.dim() != 0:
            raise RuntimeError(
                f"{api}: Expected f(*args) to return a scalar Tensor, got tensor with "
                f"{out.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?"
            )
        g = _regroup(_grads([out], [None], flat, keep), specs, single)
        value = out if keep else out.detach()
        if has_aux:
            return g, (value, _detach_tree(aux, keep))
        return g, value

    wrapper.__name__ = f"grad_and_value({getattr(func, '__name__', 'f')})"
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """torch.func.grad: a function computing the gradient of the scalar ``func`` with respect
    to the argument(s) ``argnums`` names (``(gradient, aux)`` with ``has_aux``). Nests:
    ``grad(grad(f))`` is the second derivative. A tensor ``func`` closes over is not a
    differentiated input: at the outermost level the result carries no graph back to it."""
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    wrapper.__name__ = f"grad({getattr(func, '__name__', 'f')})"
    return wrapper


def _tensor_leaves(tree, api, what):
    leaves, spec = _pytree.flatten(tree)
    for t in leaves:
        if not isinstance(t, Tensor):
            raise RuntimeError(f"{api}: Expected {what} to return only tensors, got {type(t)}")
    return leaves, spec


def _size(shape):
    return f"pydlk.Size({list(shape)})"


def vjp(func, *primals, has_aux=False):
    """torch.func.vjp: ``(func(*primals), vjp_fn)`` (and ``aux`` with ``has_aux``), where
    ``vjp_fn(cotangents)`` returns a tuple with one vector-Jacobian product per primal (each in
    that primal's structure). ``vjp_fn`` may be called many times.

    Raises:
        RuntimeError: ``func`` returns something other than Tensors, or a cotangent's shape
            differs from its output's.
    """
    api = "vjp(f, *primals)"
    args, flat, specs, keep = _prepare(primals, tuple(range(len(primals))), api)
    out, aux = _split_aux(_run(func, args, {}), has_aux, api)
    outs, ospec = _tensor_leaves(out, api, "f(*primals)")

    def vjp_fn(cotangents):
        cots, cspec = _pytree.flatten(cotangents)
        if len(cots) != len(outs):
            raise RuntimeError(
                f"Expected pytree structure of cotangents to be the same as pytree structure of "
                f"outputs to the function. cotangents: {cspec}, primal output: {ospec}"
            )
        for i, (c, o) in enumerate(zip(cots, outs)):
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {_size(c.shape)} and "
                    f"output[{i}] has a shape of {_size(o.shape)}."
                )
        k = keep or any(c.requires_grad for c in cots)
        return tuple(_regroup(_grads(outs, cots, flat, k), specs, False))

    result = _pytree.unflatten([o if keep else o.detach() for o in outs], ospec)
    if has_aux:
        return result, vjp_fn, _detach_tree(aux, keep)
    return result, vjp_fn


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """torch.func.jvp: ``(func(*primals), J @ tangents)`` (and ``aux`` with ``has_aux``).

    pydlk has reverse mode only, so this is the double-vjp trick: with ``u`` a dummy cotangent,
    ``g(u) = u^T J`` is linear in ``u`` and ``d(g . t)/du = J t``. It needs double backward
    through every op of ``func``: an op without it raises naming the op. ``strict`` is
    accepted, as torch's (it raises NotImplementedError there too when True).

    Raises:
        RuntimeError: ``primals`` or ``tangents`` is not a tuple, or a tangent's shape differs
            from its primal's.
    """
    api = "jvp(f, primals, tangents)"
    if strict:
        raise NotImplementedError("jvp: strict=True is not implemented (nor is it in torch)")
    for name, v in (("primals", primals), ("tangents", tangents)):
        if not isinstance(v, tuple):
            raise RuntimeError(
                f"{api}: Expected {name} to be a tuple. E.g. it should be valid to call "
                "f(*primals)."
            )
    tans, tspec = _pytree.flatten(tangents)
    pleaves, pspec = _pytree.flatten(primals)
    if len(tans) != len(pleaves):
        raise RuntimeError(
            f"{api}: Expected primals and tangents to have the same python structure. For "
            f"example, if primals is a tuple of 3 tensors, tangents also must be. Got primals "
            f"with structure {pspec} and tangents with structure {tspec}"
        )
    for p, t in zip(pleaves, tans):
        if tuple(p.shape) != tuple(t.shape):
            raise RuntimeError(
                "Trying to set a forward gradient that has a different size than that of the "
                f"original Tensor, this is not supported. Tensor is of size {list(p.shape)} "
                f"while the given forward gradient is of size {list(t.shape)}."
            )
    args, flat, _, keep = _prepare(primals, tuple(range(len(primals))), api)
    keep = keep or any(t.requires_grad for t in tans)
    out, aux = _split_aux(_run(func, args, {}), has_aux, api)
    outs, ospec = _tensor_leaves(out, api, "f(*primals)")
    us = [Tensor._wrap(_zeros_array(o)).requires_grad_() for o in outs]
    gu = _grads(outs, us, flat, True)
    pairs = [(g, t) for g, t in zip(gu, tans) if g.requires_grad]
    res = _grads([g for g, _ in pairs], [t for _, t in pairs], us, keep)
    result = _pytree.unflatten([o if keep else o.detach() for o in outs], ospec)
    tangent_out = _pytree.unflatten(res, ospec)
    if has_aux:
        return result, tangent_out, _detach_tree(aux, keep)
    return result, tangent_out


def _jacobian(func, argnums, has_aux, api):
    def wrapper(*args, **kwargs):
        from ..ops import stack

        single, nums = _check_argnums(argnums, len(args))
        args, flat, specs, keep = _prepare(args, nums, api)
        out, aux = _split_aux(_run(func, args, kwargs), has_aux, api)
        outs, ospec = _tensor_leaves(out, api, "f(*args)")
        per_out = []
        for o in outs:
            rows = [[] for _ in flat]
            n = o.numel()
            for k in range(n):
                e = _zeros_array(o).reshape(-1)
                e[k] = 1
                seed = Tensor._wrap(e.reshape(o.shape))
                for j, g in enumerate(_grads([o], [seed], flat, keep)):
                    rows[j].append(g)
            jac = []
            for j, t in enumerate(flat):
                shape = tuple(o.shape) + tuple(t.shape)
                if rows[j]:
                    jac.append(stack(rows[j]).reshape(shape))
                else:
                    jac.append(t.detach().new_zeros(shape))
            per_out.append(_regroup(jac, specs, single))
        result = _pytree.unflatten(per_out, ospec)
        if has_aux:
            return result, _detach_tree(aux, keep)
        return result

    wrapper.__name__ = f"{api.split('(')[0]}({getattr(func, '__name__', 'f')})"
    return wrapper


def _check_chunk(chunk_size, api):
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"{api}: `chunk_size` should be greater than 0.")


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """torch.func.jacrev: a function returning the Jacobian of ``func`` with respect to the
    argument(s) ``argnums`` names, one reverse pass per output element. For an output of shape
    O and an input of shape I the block has shape O + I; the result nests as torch's (output
    structure outside, argument structure inside). ``chunk_size`` is checked and otherwise
    needs no effect here (rows are computed one at a time).

    Raises:
        RuntimeError: bad ``argnums``, or ``func`` returns something other than Tensors.
        ValueError: ``chunk_size`` not positive.
    """
    _check_chunk(chunk_size, "jacrev")
    return _jacobian(func, argnums, has_aux, "jacrev(f, argnums)(*args)")


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """torch.func.jacfwd: the Jacobian of ``func`` with respect to ``argnums``. pydlk has no
    forward-mode autodiff, so it is computed by reverse mode, exactly as ``jacrev``: the same
    values and structure, at reverse mode's cost (one pass per output element rather than per
    input element). ``randomness`` is checked as torch's.
    """
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(
            "Only allowed values for randomness are 'error', 'different', or 'same'. "
            f"Got {randomness}"
        )
    return _jacobian(func, argnums, has_aux, "jacfwd(f, argnums)(*args)")


def hessian(func, argnums=0):
    """torch.func.hessian: ``jacfwd(jacrev(func, argnums), argnums)``, the matrix of second
    derivatives of a scalar ``func`` (here both by reverse mode, see ``jacfwd``). It needs
    double backward through the ops of ``func``."""
    return jacfwd(jacrev(func, argnums), argnums)
