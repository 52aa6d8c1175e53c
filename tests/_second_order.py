"""Second derivatives of pydlk against torch's on the same float64 data, shared by the
higher-order tests (test_double_backward_layers.py, test_double_backward_ops.py).

``second(lib, fn, arrays, v, w)`` takes the first derivatives of <v, fn(x)> with
create_graph=True, then the gradient of <w, those> with respect to every input and to v: both
halves of a double backward (in the inputs and in the incoming gradient)."""

import numpy as np


def _sum_terms(terms):
    s = None
    for t in terms:
        s = t if s is None else s + t
    return s


def second(T, fn, arrays, v, w):
    """(first derivatives, second derivatives) as arrays, None where torch (or pydlk) says the
    gradient does not depend on that input; ``T`` is the torch or the pydlk module."""
    xs = [T.tensor(a, requires_grad=True) for a in arrays]
    vt = T.tensor(v, requires_grad=True)
    gs = T.autograd.grad(fn(*xs), xs, vt, create_graph=True)
    s = _sum_terms([(g * T.tensor(wi)).sum() for g, wi in zip(gs, w)])
    hs = T.autograd.grad(s, xs + [vt], allow_unused=True)
    first = [np.asarray(g.detach()) for g in gs]
    return first, [None if h is None else np.asarray(h.detach()) for h in hs]


def check_second(pydlk, torch, pfn, tfn, arrays, rng, rtol=1e-9, atol=1e-11):
    """pfn's first derivatives equal tfn's (to 1e-10) and so do its second derivatives (to
    rtol, atol); v and w are drawn from ``rng``."""
    out_shape = tuple(tfn(*[torch.tensor(a) for a in arrays]).shape)
    v = rng.standard_normal(out_shape)
    w = [rng.standard_normal(a.shape) for a in arrays]
    p_first, p_second = second(pydlk, pfn, arrays, v, w)
    t_first, t_second = second(torch, tfn, arrays, v, w)
    for a, b in zip(p_first, t_first):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for k, (a, b) in enumerate(zip(p_second, t_second)):
        if b is None:  # torch: the gradient does not depend on this input at all
            assert a is None or np.allclose(a, 0), k
        elif a is None:
            assert np.allclose(b, 0), k
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=str(k))
