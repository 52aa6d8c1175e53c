"""Finite-difference gradient check on the real kernels (run them in float64).

For a random upstream gradient ``dy`` (one per output), let ``L(x) = sum(f(x) * dy)``. One
backward pass gives the analytic ``dL/dx`` for every input element; central differences
``(L(x + eps e_i) - L(x - eps e_i)) / 2 eps`` give the numerical one. Each element must agree within
``atol + rtol * |numerical|``; otherwise the worst element is named.

Device-agnostic: on CuPy inputs (float64 on a GPU) ``fn`` runs on the device, ``dy`` is put
there, ``L`` is reduced there and only its value comes to the host; the perturbations are
written in place on the device. Only the analytic gradients are copied to the host, once, to be
compared and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._backend import get_array_module, is_cupy
from .autograd import Tensor, enable_grad, no_grad


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when an analytical gradient differs from the numerical one."""


def _outputs(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _host(a):
    """A gradient (Tensor or array, NumPy or CuPy) as a float64 NumPy array."""
    a = a._data if isinstance(a, Tensor) else a
    return np.array(a.get() if is_cupy(a) else a, dtype=np.float64)


def gradcheck(
    fn: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Check ``fn``'s analytic gradients against central differences.

    ``inputs`` is a Tensor or a tuple; the Tensors with ``requires_grad=True`` are checked and must
    be float64 (float32 differences are too coarse to say anything). Returns True, or raises
    ``GradcheckError`` naming the input, the worst element and both values.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} is {inputs[i].dtype}; gradient checks need float64 inputs"
            )

    rng = np.random.default_rng(seed)
    saved = [inputs[i]._grad for i in checked]
    try:
        for i in checked:
            inputs[i]._grad = None
        with enable_grad():
            outs = _outputs(fn(*inputs))
        if not outs:
            raise ValueError("gradcheck: fn returned no floating-point tensor")
        # dy on each output's device: the check never moves the function's data
        dys = [get_array_module(o._data).asarray(rng.standard_normal(o.shape)) for o in outs]
        loss = None
        for o, dy in zip(outs, dys):
            term = (o * Tensor(dy.astype(o.dtype))).sum()
            loss = term if loss is None else loss + term
        assert loss is not None  # outs is not empty
        if loss.requires_grad:
            loss.backward()
        analytic = [
            _host(inputs[i]._grad) if inputs[i]._grad is not None else np.zeros(inputs[i].shape)
            for i in checked
        ]
    finally:
        for i, g in zip(checked, saved):
            inputs[i]._grad = g

    def L():
        with no_grad():
            o = _outputs(fn(*inputs))
        # reduced where the outputs are; one number per output comes to the host
        return sum(float((a._data.astype(np.float64) * dy).sum()) for a, dy in zip(o, dys))

    for k, i in enumerate(checked):
        x = inputs[i]._data
        if not x.flags.c_contiguous:
            raise ValueError(f"gradcheck: input {i} must be contiguous")
        flat = x.reshape(-1)  # a view: x is updated in place
        numeric = np.empty(x.size)
        for e in range(x.size):
            orig = float(flat[e])
            flat[e] = orig + eps
            lp = L()
            flat[e] = orig - eps
            lm = L()
            flat[e] = orig
            numeric[e] = (lp - lm) / (2 * eps)
        a = analytic[k].reshape(-1)
        excess = np.abs(a - numeric) - (atol + rtol * np.abs(numeric))
        if x.size and (np.max(excess) > 0 or not np.all(np.isfinite(a))):
            w = int(np.nanargmax(np.where(np.isfinite(a), excess, np.inf)))
            where = np.unravel_index(w, x.shape)
            msg = (
                f"gradcheck: input {i} (shape {x.shape}) element {tuple(int(j) for j in where)}: "
                f"analytic {a[w]:.8g} vs numerical {numeric[w]:.8g} "
                f"(atol={atol}, rtol={rtol}); {int(np.sum(excess > 0))} of {x.size} elements differ"
            )
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    grad_outputs: Tensor | Sequence[Tensor] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Check second derivatives (torch.autograd.gradgradcheck): ``gradcheck`` applied to the
    first-derivative function ``(x, v) -> grad(fn(x), x, v, create_graph=True)``. The random
    upstream gradients ``v`` (or ``grad_outputs``, float64) are checked as inputs too, so both
    halves of every double backward -- with respect to the inputs and to the incoming gradient --
    are compared with central differences of the recorded first backward."""
    from .autograd import grad

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradgradcheck: no input has requires_grad=True")
    with enable_grad():
        outs = _outputs(fn(*inputs))
    upstream: list[Any]
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        upstream = [rng.standard_normal(o.shape) for o in outs]
    else:
        upstream = list(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else [grad_outputs]
    # each v float64 on its output's device (a copy: it becomes a checked input)
    vs = [
        Tensor(
            get_array_module(o._data).array(v._data if isinstance(v, Tensor) else v, np.float64),
            requires_grad=True,
        )
        for o, v in zip(outs, upstream)
    ]
    n = len(inputs)

    def first_derivative(*args):
        xs, v = args[:n], args[n:]
        with enable_grad():
            o = _outputs(fn(*xs))
            gs = grad(
                o,
                [t for t in xs if isinstance(t, Tensor) and t.requires_grad],
                list(v),
                create_graph=True,
                allow_unused=True,
            )
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_derivative, inputs + tuple(vs), eps, atol, rtol, seed, raise_exception)
