"""Optimisers: fused kernels and each optimiser against the update written plainly in NumPy (in
this file), and against torch.optim when installed."""

import numpy as np
import pydlk._C as C
import pytest

import pydlk
from pydlk.nn import Parameter
from pydlk.optim import LBFGS, SGD, Adagrad, Adam, AdamW, RMSprop

SHAPES = [(3, 5), (7,), (2, 3, 2)]


# ----------------------------------------------------------------------------- NumPy references


def ref_sgd(
    p, g, st, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False, l1=0.0
):
    g = -g if maximize else g
    g = g + weight_decay * p + l1 * np.sign(p)
    if momentum:
        st["buf"] = g.copy() if "buf" not in st else momentum * st["buf"] + (1 - dampening) * g
        g = g + momentum * st["buf"] if nesterov else st["buf"]
    return p - lr * g


def ref_adam(
    p,
    g,
    st,
    lr,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0,
    amsgrad=False,
    maximize=False,
    decoupled=False,
    l1=0.0,
):
    b1, b2 = betas
    t = st["t"] = st.get("t", 0) + 1
    m, v = st.setdefault("m", np.zeros_like(p)), st.setdefault("v", np.zeros_like(p))
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    g = g + l1 * np.sign(p)
    m[...] = b1 * m + (1 - b1) * g
    v[...] = b2 * v + (1 - b2) * g * g
    if amsgrad:
        vm = st["vmax"] = np.maximum(st.get("vmax", np.zeros_like(p)), v)
    else:
        vm = v
    mhat = m / (1 - b1**t)
    denom = np.sqrt(vm) / np.sqrt(1 - b2**t) + eps  # eps after the square root
    return p - lr * mhat / denom


def ref_rmsprop(
    p,
    g,
    st,
    lr,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0,
    momentum=0,
    centered=False,
    maximize=False,
    l1=0.0,
):
    g = -g if maximize else g
    g = g + weight_decay * p + l1 * np.sign(p)
    sq = st["sq"] = alpha * st.get("sq", 0) + (1 - alpha) * g * g
    if centered:
        ga = st["ga"] = alpha * st.get("ga", 0) + (1 - alpha) * g
        avg = np.sqrt(sq - ga * ga) + eps
    else:
        avg = np.sqrt(sq) + eps
    if momentum > 0:
        b = st["buf"] = momentum * st.get("buf", 0) + g / avg
        return p - lr * b
    return p - lr * g / avg


def ref_adagrad(
    p,
    g,
    st,
    lr,
    lr_decay=0,
    weight_decay=0,
    initial_accumulator_value=0,
    eps=1e-10,
    maximize=False,
    l1=0.0,
):
    t = st["t"] = st.get("t", 0) + 1
    g = -g if maximize else g
    g = g + weight_decay * p + l1 * np.sign(p)
    s = st["s"] = st.get("s", initial_accumulator_value) + g * g
    clr = lr / (1 + (t - 1) * lr_decay)
    return p - clr * g / (np.sqrt(s) + eps)


REFS = {SGD: ref_sgd, Adam: ref_adam, AdamW: ref_adam, RMSprop: ref_rmsprop, Adagrad: ref_adagrad}

CASES = [
    (SGD, dict(lr=0.1)),
    (SGD, dict(lr=0.1, momentum=0.9)),
    (SGD, dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    (SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    (SGD, dict(lr=0.05, momentum=0.5, maximize=True)),
    (Adam, dict(lr=0.01)),
    (Adam, dict(lr=0.01, weight_decay=0.1)),
    (Adam, dict(lr=0.01, amsgrad=True, betas=(0.8, 0.9))),
    (Adam, dict(lr=0.01, maximize=True, weight_decay=0.05)),
    (AdamW, dict(lr=0.01)),
    (AdamW, dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    (RMSprop, dict(lr=0.01)),
    (RMSprop, dict(lr=0.01, weight_decay=0.1)),
    (RMSprop, dict(lr=0.01, centered=True, momentum=0.9)),
    (RMSprop, dict(lr=0.01, centered=True, alpha=0.9)),
    (RMSprop, dict(lr=0.01, momentum=0.5, maximize=True)),
    (Adagrad, dict(lr=0.1)),
    (Adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.1)),
]
IDS = [f"{c.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for c, kw in CASES]


def _kw_for_ref(cls, kw):
    kw = dict(kw)
    if cls is AdamW:
        kw.setdefault("weight_decay", 1e-2)
        kw["decoupled"] = True
    return kw


def _make(rng, dtype=np.float32):
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def _grads(rng, steps, dtype=np.float32, scale=1.0):
    return [[(scale * rng.standard_normal(s)).astype(dtype) for s in SHAPES] for _ in range(steps)]


@pytest.mark.parametrize("cls,kw", CASES, ids=IDS)
def test_against_numpy_two_groups(rng, cls, kw):
    """12 steps, two groups (the second with weight decay on and half the lr), float64 math in
    the reference."""
    init = _make(rng)
    grads = _grads(rng, 12)
    params = [Parameter(a.copy()) for a in init]
    kw2 = dict(kw, lr=kw["lr"] / 2, weight_decay=0.05)
    opt = cls([{"params": params[:2]}, {"params": params[2:], **kw2}], **kw)
    ref = [a.astype(np.float64) for a in init]
    states = [{} for _ in init]
    rkw = [_kw_for_ref(cls, kw), _kw_for_ref(cls, kw2)]
    if cls is AdamW:
        rkw[1]["weight_decay"] = 0.05
    for step in range(12):
        for p, g in zip(params, grads[step]):
            p.grad = g.copy()
        opt.step()
        for i in range(len(ref)):
            ref[i] = REFS[cls](
                ref[i], grads[step][i].astype(np.float64), states[i], **rkw[0 if i < 2 else 1]
            )
        for p, r in zip(params, ref):
            np.testing.assert_allclose(np.asarray(p), r, rtol=2e-4, atol=2e-5)


def _torch_opt(torch, cls, params, kw, groups=True):
    tcls = getattr(torch.optim, cls.__name__)
    kw2 = dict(kw, lr=kw["lr"] / 2, weight_decay=0.05)
    return tcls([{"params": params[:2]}, {"params": params[2:], **kw2}], **kw)


@pytest.mark.parametrize("cls,kw", CASES, ids=IDS)
def test_against_torch(rng, cls, kw):
    torch = pytest.importorskip("torch")
    init = _make(rng)
    grads = _grads(rng, 12)
    params = [Parameter(a.copy()) for a in init]
    kw2 = dict(kw, lr=kw["lr"] / 2, weight_decay=0.05)
    opt = cls([{"params": params[:2]}, {"params": params[2:], **kw2}], **kw)
    tp = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    topt = _torch_opt(torch, cls, tp, kw)
    for step in range(12):
        for p, t, g in zip(params, tp, grads[step]):
            p.grad = g.copy()
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        for p, t in zip(params, tp):
            np.testing.assert_allclose(np.asarray(p), t.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("eps", [1e-8, 1e-3])
@pytest.mark.parametrize("cls", [Adam, RMSprop, Adagrad])
def test_tiny_second_moment_pins_eps(rng, cls, eps):
    """Gradients ~1e-10: sqrt(v) ~ 1e-10 << eps, so eps-inside-sqrt (sqrt(v + eps)) and
    eps-after-sqrt (sqrt(v) + eps) give very different steps; the reference adds it after."""
    init = _make(rng, np.float64)
    grads = _grads(rng, 10, np.float64, scale=1e-10)
    params = [Parameter(a.copy()) for a in init]
    kw = dict(lr=0.01, eps=eps)
    opt = cls(params, **kw)
    ref = [a.copy() for a in init]
    states = [{} for _ in init]
    for step in range(10):
        for p, g in zip(params, grads[step]):
            p.grad = g.copy()
        opt.step()
        ref = [REFS[cls](r, g, s, **kw) for r, g, s in zip(ref, grads[step], states)]
    for p, r, a in zip(params, ref, init):
        np.testing.assert_allclose(np.asarray(p) - a, r - a, rtol=1e-6, atol=1e-22)
    # eps inside the square root would give a displacement ~ lr*g/sqrt(eps): far off
    wrong = 0.01 * 1e-10 / np.sqrt(eps)
    right = max(np.abs(r - a).max() for r, a in zip(ref, init))
    assert not 0.1 < right / (10 * wrong) < 10
    torch = pytest.importorskip("torch")
    tp = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    topt = getattr(torch.optim, cls.__name__)(tp, **kw)
    for step in range(10):
        for t, g in zip(tp, grads[step]):
            t.grad = torch.from_numpy(g.copy())
        topt.step()
    for p, t, a in zip(params, tp, init):
        np.testing.assert_allclose(np.asarray(p) - a, t.detach().numpy() - a, rtol=1e-6, atol=1e-22)


def test_l1_weight_decay_and_float64(rng):
    init = _make(rng, np.float64)
    grads = _grads(rng, 10, np.float64)
    for cls, kw in [
        (SGD, dict(lr=0.1, momentum=0.9)),
        (Adam, dict(lr=0.01)),
        (RMSprop, dict(lr=0.01)),
        (Adagrad, dict(lr=0.1)),
    ]:
        params = [Parameter(a.copy()) for a in init]
        opt = cls(params, l1_weight_decay=0.03, **kw)
        ref = [a.copy() for a in init]
        states = [{} for _ in init]
        for step in range(10):
            for p, g in zip(params, grads[step]):
                p.grad = g.copy()
            opt.step()
            ref = [REFS[cls](r, g, s, l1=0.03, **kw) for r, g, s in zip(ref, grads[step], states)]
        for p, r in zip(params, ref):
            assert np.asarray(p).dtype == np.float64
            np.testing.assert_allclose(np.asarray(p), r, rtol=1e-12, atol=1e-14)


def test_training_through_autograd(rng):
    """A small regression model written with functional.linear: Adam drives the loss down, the
    gradients land in the arena slots."""
    F = pydlk.functional
    x = pydlk.tensor(rng.standard_normal((64, 5)).astype(np.float32))
    w_true = rng.standard_normal((1, 5)).astype(np.float32)
    y = pydlk.tensor(np.asarray(x) @ w_true.T)
    w = Parameter(np.zeros((1, 5), np.float32))
    b = Parameter(np.zeros(1, np.float32))
    opt = Adam([w, b], lr=0.05)
    first = None
    for _ in range(200):
        opt.zero_grad()
        d = F.linear(x, w, b) - y
        loss = (d * d).mean()
        loss.backward()
        assert np.asarray(w.grad) is w._grad_slot
        opt.step()
        first = first if first is not None else float(np.asarray(loss))
    assert float(np.asarray(loss)) < 1e-3 * first
    np.testing.assert_allclose(np.asarray(w), w_true, atol=0.02)


# ----------------------------------------------------------------------------- kernels

N_ODD = [1, 7, 33, 1001, 40003]


@pytest.mark.parametrize("n", N_ODD)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_against_numpy(rng, n, dtype):
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    p = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    m = rng.standard_normal(n).astype(dtype)
    v = rng.random(n).astype(dtype)
    # adam, step 3, amsgrad with a given vmax
    vm = rng.random(n).astype(dtype)
    P, M, V, VM = p.copy(), m.copy(), v.copy(), vm.copy()
    C.adam_step(P, M, V, VM, g, 0.01, 0.9, 0.99, 1e-8, 0.1, 0.01, 3, False, False)
    gg = g + 0.1 * p + 0.01 * np.sign(p)
    m2 = 0.9 * m + 0.1 * gg
    v2 = 0.99 * v + 0.01 * gg * gg
    vm2 = np.maximum(vm, v2)
    ref = p - 0.01 / (1 - 0.9**3) * m2 / (np.sqrt(vm2) / np.sqrt(1 - 0.99**3) + 1e-8)
    np.testing.assert_allclose(M, m2, **tol)
    np.testing.assert_allclose(V, v2, **tol)
    np.testing.assert_allclose(VM, vm2, **tol)
    np.testing.assert_allclose(P, ref, **tol)
    # sgd nesterov, not first
    P, B = p.copy(), m.copy()
    C.sgd_step(P, B, g, 0.1, 0.9, 0.0, 0.01, 0.0, True, False, False)
    gg = g + 0.01 * p
    b2 = 0.9 * m + gg
    np.testing.assert_allclose(B, b2, **tol)
    np.testing.assert_allclose(P, p - 0.1 * (gg + 0.9 * b2), **tol)
    # rmsprop centered + momentum
    P, S, GA, B = p.copy(), v.copy() + 1, m.copy() * 0.1, m.copy()
    C.rmsprop_step(P, S, GA, B, g, 0.01, 0.9, 1e-8, 0.0, 0.0, 0.5, True)
    gg = -g
    s2 = 0.9 * (v + 1) + 0.1 * gg * gg
    ga2 = 0.9 * (m * 0.1) + 0.1 * gg
    b2 = 0.5 * m + gg / (np.sqrt(s2 - ga2 * ga2) + 1e-8)
    np.testing.assert_allclose(B, b2, **tol)
    np.testing.assert_allclose(P, p - 0.01 * b2, **tol)
    # adagrad step 4 with lr_decay
    P, S = p.copy(), v.copy()
    C.adagrad_step(P, S, g, 0.1, 0.5, 1e-10, 0.0, 0.0, 4, False)
    s2 = v + g * g
    np.testing.assert_allclose(P, p - 0.1 / (1 + 3 * 0.5) * g / (np.sqrt(s2) + 1e-10), **tol)
    # averaging, norms, scaling
    A = m.copy()
    C.average_update(A, p, 0.3)
    np.testing.assert_allclose(A, m + 0.3 * (p - m), **tol)
    r = dict(rtol=1e-10) if dtype == np.float64 else dict(rtol=1e-6)
    np.testing.assert_allclose(C.norm_reduce(p, 2.0), (p.astype(np.float64) ** 2).sum(), **r)
    np.testing.assert_allclose(C.norm_reduce(p, 1.0), np.abs(p.astype(np.float64)).sum(), **r)
    np.testing.assert_allclose(
        C.norm_reduce(p, 3.0), (np.abs(p.astype(np.float64)) ** 3).sum(), **r
    )
    assert C.norm_reduce(p, np.inf) == np.abs(p).max()
    assert C.norm_reduce(p, -np.inf) == np.abs(p).min()
    X = p.copy()
    C.scale_(X, 0.5)
    np.testing.assert_allclose(X, p * 0.5, **tol)
    X = p.copy()
    C.add_(X, g)  # the textbook sum, elementwise: exact in either precision
    np.testing.assert_array_equal(X, p + g)


def test_kernels_one_vs_two_threads(rng, threads):
    n = 100003
    p, g, m, v = (rng.standard_normal(n).astype(np.float32) for _ in range(4))
    v = np.abs(v)
    out = []
    for t in (1, 2):
        threads(t)
        P, M, V = p.copy(), m.copy(), v.copy()
        C.adam_step(P, M, V, None, g, 0.01, 0.9, 0.999, 1e-8, 0.0, 0.0, 5, True, False)
        P2, B = p.copy(), m.copy()
        C.sgd_step(P2, B, g, 0.1, 0.9, 0.1, 0.0, 0.0, False, False, False)
        P3, S = p.copy(), v.copy()
        C.rmsprop_step(P3, S, None, None, g, 0.01, 0.99, 1e-8, 0.0, 0.0, 0.0, False)
        P4, S4 = p.copy(), v.copy()
        C.adagrad_step(P4, S4, g, 0.1, 0.0, 1e-10, 0.0, 0.0, 1, False)
        P5 = p.copy()
        C.add_(P5, g)
        out.append((P, M, V, P2, B, P3, S, P4, S4, C.norm_reduce(g, 2.0), P5))
    for a, b in zip(*out[:2]):
        if isinstance(a, float):
            assert a == pytest.approx(b, rel=1e-12)
        else:
            np.testing.assert_array_equal(a, b)
    # and right: the NumPy references in float64 from the same state
    p, g, m, v = (a.astype(np.float64) for a in (p, g, m, v))
    adam = {"t": 4, "m": m.copy(), "v": v.copy()}
    sgd = {"buf": m.copy()}
    rms = {"sq": v.copy()}
    ada = {"t": 0, "s": v.copy()}
    want = (
        ref_adam(p, g, adam, 0.01, decoupled=True),
        adam["m"],
        adam["v"],
        ref_sgd(p, g, sgd, 0.1, momentum=0.9, dampening=0.1),
        sgd["buf"],
        ref_rmsprop(p, g, rms, 0.01),
        rms["sq"],
        ref_adagrad(p, g, ada, 0.1),
        ada["s"],
        float(np.sum(g * g)),
        p + g,
    )
    for a, r in zip(out[0], want, strict=True):
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)


def test_kernels_bad_inputs():
    p = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match="grad has 4 elements, param has 5"):
        C.adam_step(p, p.copy(), p.copy(), None, np.zeros(4, np.float32), 0.1, 0.9, 0.9, 1e-8)
    with pytest.raises(TypeError, match="adam_step: exp_avg must have the same dtype"):
        C.adam_step(p, np.zeros(5), p.copy(), None, p.copy(), 0.1, 0.9, 0.9, 1e-8)
    with pytest.raises(TypeError, match="sgd_step: param must be a C-contiguous"):
        C.sgd_step(np.zeros(5, np.int64), None, p, 0.1)
    with pytest.raises(TypeError, match="rmsprop_step: grad_avg must be a NumPy array or None"):
        C.rmsprop_step(p, p.copy(), 3, None, p.copy(), 0.1, 0.9, 1e-8)
    with pytest.raises(ValueError, match="momentum_buffer has 4 elements"):
        C.sgd_step(p, np.zeros(4, np.float32), p.copy(), 0.1, 0.9)
    with pytest.raises(ValueError, match="momentum_buffer is required"):
        C.sgd_step(p, None, p.copy(), 0.1, 0.9)
    with pytest.raises(ValueError, match="adam_step: step must be in \\[1, 2\\*\\*63\\)"):
        C.adam_step(p, p.copy(), p.copy(), None, p.copy(), 0.1, 0.9, 0.9, 1e-8, step=0)
    with pytest.raises(ValueError, match="adam_step: beta1 must be in"):
        C.adam_step(p, p.copy(), p.copy(), None, p.copy(), 0.1, 1.0, 0.9, 1e-8)
    with pytest.raises(ValueError, match="adagrad_step: lr must be finite"):
        C.adagrad_step(p, p.copy(), p.copy(), float("nan"))
    with pytest.raises(ValueError, match="state_sum has 3 elements"):
        C.adagrad_step(p, np.zeros(3, np.float32), p.copy(), 0.1)
    ro = p.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="sgd_step: param must be writable"):
        C.sgd_step(ro, None, p, 0.1)
    with pytest.raises(TypeError, match="average_update: input must have the same dtype"):
        C.average_update(p, np.zeros(5), 0.5)
    with pytest.raises(TypeError, match="add_: other must have the same dtype"):
        C.add_(p, np.zeros(5))
    with pytest.raises(ValueError, match="add_: other has 4 elements, x has 5"):
        C.add_(p, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="add_: x must be writable"):
        C.add_(ro, p)
    with pytest.raises(ValueError, match="add_: x and other overlap"):
        big = np.zeros(8, np.float32)
        C.add_(big[:5], big[3:])
    same = np.arange(5, dtype=np.float32)
    C.add_(same, same)  # the same array twice: doubled
    np.testing.assert_array_equal(same, 2 * np.arange(5, dtype=np.float32))
    with pytest.raises(TypeError, match="norm_reduce: x must be"):
        C.norm_reduce(np.zeros(5, np.int32), 2.0)


def test_optimizer_bad_arguments():
    p = [Parameter(np.zeros(3, np.float32))]
    with pytest.raises(ValueError, match="Nesterov"):
        SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="invalid lr"):
        SGD(p, lr=-1)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(ValueError, match="more than one parameter group"):
        Adam([{"params": p}, {"params": p}])
    with pytest.raises(TypeError, match="float32 or float64"):
        SGD([Parameter(np.zeros(3, np.float16))], lr=0.1)
    with pytest.raises(ValueError, match="max_norm"):
        SGD(p, lr=0.1, max_norm=-1.0)
    with pytest.raises(ValueError, match="line_search_fn"):
        LBFGS(p, line_search_fn="armijo")


# ----------------------------------------------------------------------------- LBFGS


def _rosenbrock_closure(opt, xy):
    def closure():
        opt.zero_grad()
        x, y = xy
        a = 1.0 - x
        b = y - x * x
        loss = (a * a + b * b * 100.0).sum()
        loss.backward()
        return loss

    return closure


@pytest.mark.parametrize("ls", [None, "strong_wolfe"])
def test_lbfgs_rosenbrock(ls):
    xy = [Parameter(np.array([-1.5])), Parameter(np.array([2.0]))]
    opt = LBFGS(
        xy,
        lr=1 if ls else 0.1,
        max_iter=200 if ls else 1000,
        history_size=10,
        line_search_fn=ls,
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
    )
    closure = _rosenbrock_closure(opt, xy)
    for _ in range(20 if ls else 60):
        opt.step(closure)
    np.testing.assert_allclose([np.asarray(xy[0])[0], np.asarray(xy[1])[0]], [1.0, 1.0], atol=1e-4)


def _logreg_data(rng):
    n, d = 200, 4
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ w)))).astype(np.float64)
    return X, y


class _Softplus(pydlk.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return np.logaddexp(0.0, z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g / (1 + np.exp(-z))


def _newton_logreg(X, y, lam):
    w = np.zeros(X.shape[1] + 1)
    Xb = np.hstack([X, np.ones((len(X), 1))])
    for _ in range(50):
        p = 1 / (1 + np.exp(-(Xb @ w)))
        reg = lam * np.r_[w[:-1], 0]
        g = Xb.T @ (p - y) / len(y) + reg
        H = (Xb * (p * (1 - p))[:, None]).T @ Xb / len(y) + lam * np.diag(
            np.r_[np.ones(len(w) - 1), 0]
        )
        w -= np.linalg.solve(H, g)
    return w


@pytest.mark.parametrize("ls", [None, "strong_wolfe"])
def test_lbfgs_logistic_regression_matches_newton(rng, ls):
    F = pydlk.functional
    X, y = _logreg_data(rng)
    lam = 0.01
    w = Parameter(np.zeros((1, X.shape[1])))
    b = Parameter(np.zeros(1))
    Xt, yt = pydlk.tensor(X), pydlk.tensor(y[:, None])
    opt = LBFGS(
        [w, b],
        lr=1 if ls else 0.5,
        max_iter=100,
        line_search_fn=ls,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
    )

    def closure():
        opt.zero_grad()
        z = F.linear(Xt, w, b)
        # mean of log(1 + exp(z)) - y z, plus the ridge term
        loss = (_Softplus.apply(z) - yt * z).mean() + (w * w).sum() * (lam / 2)
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    w_ref = _newton_logreg(X, y, lam)
    np.testing.assert_allclose(np.r_[np.asarray(w)[0], np.asarray(b)], w_ref, atol=1e-6)


@pytest.mark.parametrize("ls", [None, "strong_wolfe"])
def test_lbfgs_against_torch_iterates(ls):
    torch = pytest.importorskip("torch")
    xy = [Parameter(np.array([-1.5])), Parameter(np.array([2.0]))]
    t = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    kw = dict(lr=1 if ls else 0.1, max_iter=4, history_size=5, line_search_fn=ls)
    opt, topt = LBFGS(xy, **kw), torch.optim.LBFGS([t], **kw)
    closure = _rosenbrock_closure(opt, xy)

    def tclosure():
        topt.zero_grad()
        loss = (1 - t[0]) ** 2 + 100 * (t[1] - t[0] ** 2) ** 2
        loss.backward()
        return loss

    for _ in range(8):
        opt.step(closure)
        topt.step(tclosure)
        np.testing.assert_allclose(
            [np.asarray(xy[0])[0], np.asarray(xy[1])[0]], t.detach().numpy(), rtol=1e-9, atol=1e-12
        )
