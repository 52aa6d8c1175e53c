"""torch.autograd.functional: Jacobians, Hessians and their products with vectors, built on
``pydlk.autograd.grad`` (reverse mode; a Hessian differentiates a gradient computed with
``create_graph=True``). Import as ``pydlk.autograd.functional``.

Signatures and return structure are torch's: a single Tensor input gives a Tensor, a tuple of
inputs gives a tuple (a tuple of tuples for a Jacobian of several outputs, or a Hessian of
several inputs). ``vectorize`` is accepted and ignored: rows are computed one backward pass at
a time (torch's ``vectorize=False`` way), which gives the same numbers; so is the Jacobian's
``strategy`` (checked as torch checks it; both modes give the same numbers). The vectors and
zero blocks made here live on the device of the tensor they belong to.
"""

from ._backend import get_array_module
from .autograd import Tensor, enable_grad, grad

__all__ = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]


def _as_tuple(x, arg, fn):
    single = isinstance(x, Tensor)
    xs = (x,) if single else tuple(x)
    for i, t in enumerate(xs):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"{fn}: {arg} must be a Tensor or a tuple of Tensors; element {i} is "
                f"{type(t).__name__}"
            )
    return single, xs


def _filled(like, value, shape=None):
    """A Tensor of ``like``'s dtype and device, ``shape`` (``like``'s by default) full of
    ``value``: the seeds and zero blocks, on the GPU for GPU tensors."""
    xp = get_array_module(like._data)
    return Tensor._wrap(xp.full(tuple(like.shape) if shape is None else shape, value, like.dtype))


def _check_strategy(strategy, create_graph, strict, vectorize, fn):
    """torch's checks of a Jacobian's ``strategy`` argument."""
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more performant. '
            'Otherwise, prefer to use "reverse-mode".'
        )
    if strategy == "forward-mode":
        for flag, name in ((create_graph, "create_graph"), (strict, "strict")):
            if flag:
                raise (NotImplementedError if name == "create_graph" else RuntimeError)(
                    f"torch.autograd.functional.{fn}: `{name}=True` and "
                    '`strategy="forward-mode"` are not supported together (yet). Please either '
                    f'set `{name}=False` or `strategy="reverse-mode"`.'
                )
        if not vectorize:
            raise NotImplementedError(
                "Computing Jacobian using forward-AD or forward-over-reverse Hessian is"
                "only implemented for `vectorize=True`."
            )


def _prepare(inputs, create_graph):
    """Inputs that require grad: detached copies, or (create_graph, input already in a graph)
    a differentiable identity of it, so the result can be differentiated back to the input."""
    out = []
    for t in inputs:
        if create_graph and t.requires_grad:
            out.append(t.view_as(t))
        else:
            out.append(t.detach().requires_grad_(t.dtype.kind == "f"))
    return tuple(out)


def _grads(outputs, inputs, grad_outputs, create_graph, strict, fn):
    """grad() with unused inputs as zeros (or, with strict, an error)."""
    outs = [o for o in outputs if o.requires_grad]
    gos = [g for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not outs:
        got = [None] * len(inputs)
    else:
        got = grad(
            outs, inputs, gos, retain_graph=True, create_graph=create_graph, allow_unused=True
        )
    res = []
    for i, (t, g) in enumerate(zip(inputs, got)):
        if g is None:
            if strict:
                raise RuntimeError(
                    f"{fn}: the output is independent of input {i}; this is not allowed in "
                    "strict mode"
                )
            g = _filled(t, 0)
        res.append(g)
    return res


def _finish(xs, create_graph):
    return tuple(x if create_graph else x.detach() for x in xs)


def _call(func, inputs, fn):
    with enable_grad():
        out = func(*inputs)
    single, outs = _as_tuple(out, "the output of func", fn)
    return single, outs


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product (torch.autograd.functional.vjp)."""
    single_in, inputs = _as_tuple(inputs, "inputs", "vjp")
    inputs = _prepare(inputs, create_graph)
    single_out, outs = _call(func, inputs, "vjp")
    if v is None:
        if len(outs) != 1 or outs[0].numel() != 1:
            raise RuntimeError(
                "vjp: v can be omitted only for a function with a single scalar output"
            )
        v = (_filled(outs[0], 1),)
    else:
        v = _as_tuple(v, "v", "vjp")[1]
    res = _finish(_grads(outs, inputs, v, create_graph, strict, "vjp"), create_graph)
    outs = _finish(outs, create_graph)
    return (outs[0] if single_out else outs), (res[0] if single_in else res)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v) by the double-vjp trick: J v = d/du (u^T J) v, so it needs double
    backward through func (torch.autograd.functional.jvp does the same)."""
    single_in, inputs = _as_tuple(inputs, "inputs", "jvp")
    inputs = _prepare(inputs, True)
    if v is None:
        if len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError("jvp: v can be omitted only for a single scalar input")
        v = (_filled(inputs[0], 1),)
    else:
        v = _as_tuple(v, "v", "jvp")[1]
    single_out, outs = _call(func, inputs, "jvp")
    us = [_filled(o, 0).requires_grad_() for o in outs]
    gu = _grads(outs, inputs, us, True, strict, "jvp")
    res = _grads(gu, us, v, create_graph, strict, "jvp")
    res, outs = _finish(res, create_graph), _finish(outs, create_graph)
    return (outs[0] if single_out else outs), (res[0] if single_out else res)


def jacobian(
    func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"
):
    """The Jacobian of ``func`` at ``inputs``: for output i and input j a Tensor of shape
    ``out_i.shape + in_j.shape`` (torch.autograd.functional.jacobian), one backward pass per
    output element whatever ``strategy`` says (checked as torch checks it)."""
    from .ops import stack

    _check_strategy(strategy, create_graph, strict, vectorize, "jacobian")
    single_in, inputs = _as_tuple(inputs, "inputs", "jacobian")
    inputs = _prepare(inputs, create_graph)
    single_out, outs = _call(func, inputs, "jacobian")
    jac = []
    for o in outs:
        rows = [[] for _ in inputs]
        for k in range(o.numel()):
            e = _filled(o, 0, (o.numel(),))
            e._data[k] = 1
            gs = [e.reshape(tuple(o.shape))]
            for j, g in enumerate(_grads([o], inputs, gs, create_graph, strict, "jacobian")):
                rows[j].append(g)
        per_in = []
        for j, t in enumerate(inputs):
            if rows[j]:
                J = stack(rows[j]).reshape(tuple(o.shape) + tuple(t.shape))
            else:
                J = _filled(t, 0, tuple(o.shape) + tuple(t.shape))
            per_in.append(J if create_graph else J.detach())
        jac.append(per_in[0] if single_in else tuple(per_in))
    return jac[0] if single_out else tuple(jac)


def hessian(
    func,
    inputs,
    create_graph=False,
    strict=False,
    vectorize=False,
    outer_jacobian_strategy="reverse-mode",
):
    """The Hessian of a scalar ``func``: the Jacobian of its gradient (taken with
    create_graph=True). One input of shape S gives a Tensor of shape S + S; a tuple of inputs a
    tuple of tuples, block (i, j) of shape in_i.shape + in_j.shape. ``outer_jacobian_strategy``
    is checked as torch checks it and gives the same numbers either way."""
    single_in, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def gradient(*xs):
        single_out, outs = _call(func, xs, "hessian")
        if not single_out or outs[0].numel() != 1:
            raise RuntimeError("hessian: func must return a single Tensor with one element")
        return tuple(_grads([outs[0]], xs, [None], True, strict, "hessian"))

    H = jacobian(gradient, inputs, create_graph, strict)
    return H[0][0] if single_in else H


def _vhp(func, inputs, v, create_graph, strict, fn):
    single_in, inputs = _as_tuple(inputs, "inputs", fn)
    inputs = _prepare(inputs, create_graph)
    if v is None:
        if len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError(f"{fn}: v can be omitted only for a single scalar input")
        v = (_filled(inputs[0], 1),)
    else:
        v = _as_tuple(v, "v", fn)[1]
    if len(v) != len(inputs) or any(a.shape != b.shape for a, b in zip(v, inputs)):
        raise RuntimeError(f"{fn}: v must have the inputs' shapes")
    single_out, outs = _call(func, inputs, fn)
    if not single_out or outs[0].numel() != 1:
        raise RuntimeError(f"{fn}: func must return a single Tensor with one element")
    g = _grads(outs, inputs, [None], True, strict, fn)
    res = _grads(g, inputs, v, create_graph, strict, fn)
    out = outs[0] if create_graph else outs[0].detach()
    res = _finish(res, create_graph)
    return out, (res[0] if single_in else res)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H) for a scalar ``func`` (torch.autograd.functional.vhp)."""
    return _vhp(func, inputs, v, create_graph, strict, "vhp")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a scalar ``func`` (torch.autograd.functional.hvp). Computed as
    (v^T H)^T: the Hessian of a twice continuously differentiable function is symmetric, so it
    equals torch's double-vjp result and costs one backward pass less."""
    return _vhp(func, inputs, v, create_graph, strict, "hvp")
