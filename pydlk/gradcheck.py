"""Finite-difference gradient check on the real kernels (run them in float64).

For a random upstream gradient ``dy`` (one per output), let ``L(x) = sum(f(x) * dy)``. One
backward pass gives the analytic ``dL/dx`` for every input element; central differences
``(L(x + eps e_i) - L(x - eps e_i)) / 2 eps`` give the numerical one. Each element must agree within
``atol + rtol * |numerical|``; otherwise the worst element is named.
"""

import numpy as np

from .autograd import Tensor, enable_grad, no_grad


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when an analytical gradient differs from the numerical one."""


def _outputs(out):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, raise_exception=True):
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
        dys = [rng.standard_normal(o.shape) for o in outs]
        loss = None
        for o, dy in zip(outs, dys):
            term = (o * Tensor(dy.astype(o.dtype))).sum()
            loss = term if loss is None else loss + term
        if loss.requires_grad:
            loss.backward()
        analytic = [
            inputs[i]._grad if inputs[i]._grad is not None else np.zeros(inputs[i].shape)
            for i in checked
        ]
        analytic = [np.array(a, dtype=np.float64) for a in analytic]
    finally:
        for i, g in zip(checked, saved):
            inputs[i]._grad = g

    def L():
        with no_grad():
            o = _outputs(fn(*inputs))
        return sum(float(np.sum(np.asarray(a._data, np.float64) * dy)) for a, dy in zip(o, dys))

    for k, i in enumerate(checked):
        x = inputs[i]._data
        flat = x.reshape(-1)  # a view: x is updated in place
        if not np.shares_memory(flat, x):
            raise ValueError(f"gradcheck: input {i} must be contiguous")
        numeric = np.empty(x.size)
        for e in range(x.size):
            orig = flat[e]
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
