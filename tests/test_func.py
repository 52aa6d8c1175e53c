"""pydlk.func against torch.func: the same functions give the same values and gradients, the
per-sample-gradient recipe gives torch's per-sample gradients, and errors have torch's types."""

import numpy as np
import pydlk.nn.functional as PF
import pytest

import pydlk
import pydlk.func as pf

torch = pytest.importorskip("torch")
tf = torch.func
TF = torch.nn.functional

# torch.func's forward-mode transforms script a helper the first time, which warns
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x.detach() if isinstance(x, pydlk.Tensor) else x)


def close(a, b, tol=1e-5):
    """Trees of pydlk results ``a`` and torch results ``b`` agree."""
    if isinstance(b, dict):
        assert isinstance(a, dict) and set(a) == set(b)
        for k in b:
            close(a[k], b[k], tol)
    elif isinstance(b, (tuple, list)):
        assert isinstance(a, (tuple, list)) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            close(x, y, tol)
    else:
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(_np(a), _np(b), rtol=tol, atol=tol)


def pair(*shape, seed=0, dtype=np.float64):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return pydlk.tensor(x), torch.tensor(x)


# ------------------------------------------------------------------ grad, vjp, jvp, jacobians


def f1(lib):
    return lambda x, y: (lib.sin(x) * y).sum() + (x**2).sum()


def test_grad_argnums_and_value():
    (px, tx), (py, ty) = pair(3, 4), pair(3, 4, seed=1)
    for argnums in (0, 1, (0, 1), -1):
        close(pf.grad(f1(pydlk), argnums)(px, py), tf.grad(f1(torch), argnums)(tx, ty))
    g, v = pf.grad_and_value(f1(pydlk))(px, py)
    tg, tv = tf.grad_and_value(f1(torch))(tx, ty)
    close((g, v), (tg, tv))
    assert not g.requires_grad and not v.requires_grad


def test_grad_has_aux_and_pytrees():
    def f(lib):
        def fn(p, x):
            y = lib.tanh(x @ p["w"] + p["b"][0])
            return (y**2).mean(), {"y": y}

        return fn

    w, tw = pair(4, 2)
    b, tb = pair(2, seed=3)
    x, txx = pair(5, 4, seed=4)
    got = pf.grad(f(pydlk), has_aux=True)({"w": w, "b": [b]}, x)
    want = tf.grad(f(torch), has_aux=True)({"w": tw, "b": [tb]}, txx)
    close(got, want)
    y = np.tanh(_np(x) @ _np(w) + _np(b))  # the textbook values: the aux output, and
    np.testing.assert_allclose(_np(got[1]["y"]), y, rtol=1e-12)  # d mean(y^2) / d b
    np.testing.assert_allclose(
        _np(got[0]["b"][0]), (2 * y * (1 - y**2)).sum(0) / y.size, rtol=1e-10
    )


def test_nested_grad_and_hessian():
    def f(lib):
        return lambda x: (x**3).sum() + (lib.sin(x) * x).sum()

    x, tx = pair(4)
    close(pf.grad(pf.grad(lambda x: f(pydlk)(x).sum()))(x[0]), tf.grad(tf.grad(f(torch)))(tx[0]))
    close(pf.hessian(f(pydlk))(x), tf.hessian(f(torch))(tx))
    a = _np(x)  # d2/dx2 (x^3 + x sin x) = 6x + 2 cos x - x sin x, on the diagonal
    want = np.diag(6 * a + 2 * np.cos(a) - a * np.sin(a))
    np.testing.assert_allclose(_np(pf.hessian(f(pydlk))(x)), want, rtol=1e-12, atol=1e-12)
    close(pf.jacrev(pf.jacrev(f(pydlk)))(x), tf.jacrev(tf.jacrev(f(torch)))(tx))


def test_grad_flows_to_inputs_that_require_grad():
    x, tx = pair(3)
    x.requires_grad_()
    tx.requires_grad_()
    pf.grad(lambda v: (v**3).sum())(x).sum().backward()
    tf.grad(lambda v: (v**3).sum())(tx).sum().backward()
    close(x.grad, tx.grad)
    np.testing.assert_allclose(_np(x.grad), 6 * _np(x), rtol=1e-12)  # d/dx sum(3 x^2)


def test_vjp_and_jvp():
    def f(lib):
        return lambda x, y: (lib.exp(x) * y, (x * y).sum(dim=0))

    (x, tx), (y, ty) = pair(2, 3), pair(2, 3, seed=1)
    out, fn = pf.vjp(f(pydlk), x, y)
    tout, tfn = tf.vjp(f(torch), tx, ty)
    close(out, tout)
    (c0, tc0), (c1, tc1) = pair(2, 3, seed=5), pair(3, seed=6)
    close(fn((c0, c1)), tfn((tc0, tc1)))
    close(fn((c0, c1)), tfn((tc0, tc1)))  # callable again
    (u, tu), (v, tv) = pair(2, 3, seed=7), pair(2, 3, seed=8)
    got = pf.jvp(f(pydlk), (x, y), (u, v))
    close(got, tf.jvp(f(torch), (tx, ty), (tu, tv)))
    a, b, du, dv = (_np(t) for t in (x, y, u, v))  # the product rule, by hand
    np.testing.assert_allclose(_np(got[1][0]), np.exp(a) * (du * b + dv), rtol=1e-12)
    np.testing.assert_allclose(_np(got[1][1]), (du * b + a * dv).sum(0), rtol=1e-12)


def test_jvp_identity_and_unused_input():
    x, tx = pair(3)
    close(pf.jvp(lambda a: a, (x,), (x,)), tf.jvp(lambda a: a, (tx,), (tx,)))
    got = pf.jvp(lambda a, b: a * 2, (x, x), (x, x))
    want = tf.jvp(lambda a, b: a * 2, (tx, tx), (tx, tx))
    close(got, want)
    np.testing.assert_allclose(_np(got[0]), 2 * _np(x))  # the value and the tangent 2 t
    np.testing.assert_allclose(_np(got[1]), 2 * _np(x))


def test_jacrev_jacfwd_structures():
    def f(lib):
        return lambda x, y: {"a": x * y.sum(), "b": lib.tanh(x)[:2]}

    (x, tx), (y, ty) = pair(3), pair(2, 2, seed=1)
    jac_a = pf.jacrev(f(pydlk))(x, y)["a"]  # d(x sum(y))/dx = sum(y) I
    np.testing.assert_allclose(_np(jac_a), _np(y).sum() * np.eye(3), rtol=1e-12)
    for argnums in (0, (0, 1)):
        want = tf.jacrev(f(torch), argnums)(tx, ty)
        close(pf.jacrev(f(pydlk), argnums)(x, y), want)
        close(pf.jacfwd(f(pydlk), argnums)(x, y), tf.jacfwd(f(torch), argnums)(tx, ty))
    close(
        pf.hessian(lambda a, b: (a * a * b).sum(), (0, 1))(x, x),
        tf.hessian(lambda a, b: (a * a * b).sum(), (0, 1))(tx, tx),
    )


# ------------------------------------------------------------------ vmap


def test_vmap_basic_in_out_dims():
    (x, tx), (y, ty) = pair(3, 5), pair(5, 3, seed=1)
    got = pf.vmap(pydlk.dot, in_dims=(0, 1))(x, y)
    close(got, tf.vmap(torch.dot, in_dims=(0, 1))(tx, ty))
    np.testing.assert_allclose(_np(got), np.einsum("ij,ji->i", _np(x), _np(y)), rtol=1e-12)
    f = lambda a, b: a * b  # noqa: E731
    close(
        pf.vmap(f, in_dims=(1, None), out_dims=1)(x, y[0]),
        tf.vmap(f, in_dims=(1, None), out_dims=1)(tx, ty[0]),
    )
    close(pf.vmap(lambda a: a.sum())(x), tf.vmap(lambda a: a.sum())(tx))  # scalar outputs


def test_vmap_nested_and_pytrees():
    (x, tx), (y, ty) = pair(2, 3, 4), pair(4, seed=1)

    def f(lib):
        return lambda d, v: ({"s": (d["a"] * v).sum()}, [d["a"] + 1])

    got = pf.vmap(pf.vmap(f(pydlk), in_dims=({"a": 0}, None)), in_dims=({"a": 0}, None))(
        {"a": x}, y
    )
    want = tf.vmap(tf.vmap(f(torch), in_dims=({"a": 0}, None)), in_dims=({"a": 0}, None))(
        {"a": tx}, ty
    )
    close(got, want)
    np.testing.assert_allclose(_np(got[0]["s"]), (_np(x) * _np(y)).sum(-1), rtol=1e-12)
    np.testing.assert_allclose(_np(got[1][0]), _np(x) + 1)
    g = pf.vmap(lambda a: (a.sum(), a * 2), out_dims=(0, 1))(x)
    tg = tf.vmap(lambda a: (a.sum(), a * 2), out_dims=(0, 1))(tx)
    close(g, tg)


def test_vmap_gradients_flow():
    x, tx = pair(3, 4)
    x.requires_grad_()
    tx.requires_grad_()
    pf.vmap(lambda a: (a.exp() * a).sum())(x).sum().backward()
    tf.vmap(lambda a: (a.exp() * a).sum())(tx).sum().backward()
    close(x.grad, tx.grad)
    a = x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(a) * (1 + a), rtol=1e-12)  # d(a e^a)/da
    g = pf.vmap(pf.grad(lambda a: (a.sin() ** 2).sum()))(x.detach())
    close(g, tf.vmap(tf.grad(lambda a: (a.sin() ** 2).sum()))(tx.detach()))
    np.testing.assert_allclose(g.numpy(), np.sin(2 * a), rtol=1e-12, atol=1e-15)  # 2 sin cos
    j = pf.vmap(pf.jacrev(pydlk.sin))(x.detach())
    close(j, tf.vmap(tf.jacrev(torch.sin))(tx.detach()))
    want = np.zeros((3, 4, 4))
    want[:, np.arange(4), np.arange(4)] = np.cos(a)  # each row's Jacobian: diag(cos)
    np.testing.assert_allclose(j.numpy(), want, rtol=1e-12, atol=1e-15)


def test_vmap_randomness():
    x = pydlk.zeros(3, 4)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        pf.vmap(lambda a: a + pydlk.rand(4))(x)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        tf.vmap(lambda a: a + torch.rand(4))(torch.zeros(3, 4))
    same = np.asarray(pf.vmap(lambda a: a + pydlk.rand(4), randomness="same")(x))
    assert np.array_equal(same[0], same[1]) and np.array_equal(same[0], same[2])
    diff = np.asarray(pf.vmap(lambda a: a + pydlk.rand(4), randomness="different")(x))
    assert not np.array_equal(diff[0], diff[1])
    with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
        pf.vmap(lambda a: a, randomness="x")


@pytest.mark.parametrize(
    "call",
    [
        lambda m, vm: vm(lambda a, b: a * b)(m.ones(2, 3), m.ones(3, 3)),
        lambda m, vm: vm(lambda a: a, in_dims=(None,))(m.ones(2, 3)),
        lambda m, vm: vm(lambda a: a, in_dims=5)(m.ones(2, 3)),
        lambda m, vm: vm(lambda a: a, in_dims=(0, 0))(m.ones(2, 3)),
        lambda m, vm: vm(lambda a: 1.0)(m.ones(2, 3)),
        lambda m, vm: vm(lambda a: a, out_dims=3)(m.ones(2, 3)),
        lambda m, vm: vm(lambda a: a, in_dims="a")(m.ones(2)),
        lambda m, vm: vm(lambda a: (a, a.sum()), out_dims=(0, None))(m.arange(6.0).reshape(2, 3)),
        lambda m, vm: vm(lambda a: a)(m.tensor(1.0)),
    ],
)
def test_vmap_errors_match_torch_types(call):
    with pytest.raises(Exception) as want:
        call(torch, tf.vmap)
    with pytest.raises(want.type) as got:
        call(pydlk, pf.vmap)
    g, w = str(got.value), str(want.value)
    assert g == w or g[:80] == w[:80], (g, w)  # torch's pytree specs are spelled differently


@pytest.mark.parametrize(
    "call",
    [
        lambda m, F: F.grad(lambda x: x * 2)(m.ones(3)),
        lambda m, F: F.grad(lambda x: 2.0)(m.ones(3)),
        lambda m, F: F.grad(lambda x: x.sum(), argnums=2)(m.ones(3)),
        lambda m, F: F.grad(lambda x: x.sum(), argnums=1.0)(m.ones(3)),
        lambda m, F: F.grad(lambda x: x.sum(), argnums=())(m.ones(3)),
        lambda m, F: F.grad(lambda x: x.sum(), has_aux=True)(m.ones(3)),
        lambda m, F: F.grad(lambda x: x.sum())(m.tensor([1, 2])),
        lambda m, F: F.grad(lambda x: x.sum())(2.0),
        lambda m, F: F.vjp(lambda x: x * 2, m.ones(3))[1](m.ones(2)),
        lambda m, F: F.jvp(lambda x: x * 2, m.ones(3), m.ones(3)),
        lambda m, F: F.jvp(lambda x: x * 2, (m.ones(3),), (m.ones(2),)),
        lambda m, F: F.jacrev(lambda x: x * 2, argnums=3)(m.ones(3)),
    ],
)
def test_transform_errors_match_torch(call):
    with pytest.raises(Exception) as want:
        call(torch, tf)
    with pytest.raises(want.type) as got:
        call(pydlk, pf)
    w = str(want.value).replace("torch.", "pydlk.")
    g = str(got.value)
    assert g == w or w in g, (g, w)


# ------------------------------------------------------------------ functional_call


def _linear_pair():
    pm = pydlk.nn.Linear(3, 2)
    tm = torch.nn.Linear(3, 2)
    tm.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in pm.state_dict().items()})
    return pm, tm


def test_functional_call_swaps_and_restores():
    pm, tm = _linear_pair()
    w0 = pm.weight
    (w, tw), (x, tx) = pair(2, 3, seed=2, dtype=np.float32), pair(4, 3, seed=3, dtype=np.float32)
    w.requires_grad_()
    tw.requires_grad_()
    out = pf.functional_call(pm, {"weight": w}, (x,))
    tout = tf.functional_call(tm, {"weight": tw}, (tx,))
    close(out, tout)
    assert pm.weight is w0
    out.sum().backward()
    tout.sum().backward()
    close(w.grad, tw.grad)
    assert pm.weight.grad is None

    class Boom(pydlk.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = pm

        def forward(self, x):
            raise ValueError("boom")

    b = Boom()
    with pytest.raises(ValueError, match="boom"):
        pf.functional_call(b, {"lin.weight": w}, x)
    assert pm.weight is w0


@pytest.mark.parametrize(
    "values,kw",
    [
        (lambda m: {"weight": m.ones(2, 3), "foo": m.ones(1)}, dict(strict=True)),
        (lambda m: {"weight": m.ones(2, 3), "foo.bar": m.ones(1)}, {}),
        (lambda m: [{"weight": m.ones(2, 3)}, {"weight": m.ones(2, 3)}], {}),
        (lambda m: 3, {}),
    ],
)
def test_functional_call_errors_match_torch(values, kw):
    pm, tm = _linear_pair()
    with pytest.raises(Exception) as want:
        tf.functional_call(tm, values(torch), (torch.ones(3),), **kw)
    with pytest.raises(want.type) as got:
        pf.functional_call(pm, values(pydlk), (pydlk.ones(3),), **kw)
    assert str(got.value) == str(want.value)


def test_functional_call_tied_weights_and_dict_tuple():
    class Tied(pydlk.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = pydlk.nn.Linear(2, 2, bias=False)
            self.b = pydlk.nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    m = Tied()
    w = pydlk.eye(2) * 2
    out = pf.functional_call(m, ({"a.weight": w}, {}), pydlk.ones(1, 2))
    np.testing.assert_allclose(np.asarray(out), [[4.0, 4.0]])
    out = pf.functional_call(m, {"a.weight": w}, pydlk.ones(1, 2), tie_weights=False)
    assert not np.allclose(np.asarray(out), [[4.0, 4.0]])
    with pytest.raises(ValueError, match="tied"):
        pf.functional_call(m, {"a.weight": w, "b.weight": w * 2}, pydlk.ones(1, 2))


# ------------------------------------------------------------------ per-sample gradients


def _copy_weights(pm, tm):
    tm.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in pm.state_dict().items()})


def _per_sample(lib, F, func, model, x, y):
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def compute_loss(params, buffers, sample, target):
        pred = func.functional_call(model, (params, buffers), (sample.unsqueeze(0),))
        return F.cross_entropy(pred, target.unsqueeze(0))

    return func.vmap(func.grad(compute_loss), in_dims=(None, None, 0, 0))(params, buffers, x, y)


def _mlp(nn):
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def _cnn(nn):
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 3 * 3, 4)
    )


@pytest.mark.parametrize("build,xshape,classes", [(_mlp, (5, 6), 3), (_cnn, (4, 1, 8, 8), 4)])
def test_per_sample_gradients_match_torch(build, xshape, classes):
    pydlk.manual_seed(0)
    pm, tm = build(pydlk.nn), build(torch.nn)
    _copy_weights(pm, tm)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal(xshape).astype(np.float32)
    ys = rng.integers(0, classes, xshape[0])
    got = _per_sample(pydlk, PF, pf, pm, pydlk.tensor(xs), pydlk.tensor(ys))
    want = _per_sample(torch, TF, tf, tm, torch.tensor(xs), torch.tensor(ys))
    close(got, want, tol=1e-4)
    # the per-sample gradients average to the batch gradient
    loss = PF.cross_entropy(pm(pydlk.tensor(xs)), pydlk.tensor(ys))
    loss.backward()
    for k, p in pm.named_parameters():
        np.testing.assert_allclose(
            np.asarray(got[k]).mean(0), np.asarray(p.grad), rtol=1e-4, atol=1e-5
        )


def test_stack_module_state_model_ensemble():
    pydlk.manual_seed(1)
    pms = [_mlp(pydlk.nn) for _ in range(3)]
    tms = [_mlp(torch.nn) for _ in range(3)]
    for p, t in zip(pms, tms):
        _copy_weights(p, t)
    x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)

    def ensemble(func, models, xs):
        params, buffers = func.stack_module_state(models)
        base = models[0]

        def fmodel(p, b, v):
            return func.functional_call(base, (p, b), (v,))

        return params, func.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, xs)

    params, got = ensemble(pf, pms, pydlk.tensor(x))
    _, want = ensemble(tf, tms, torch.tensor(x))
    close(got, want, tol=1e-5)
    assert params["0.weight"].shape == (3, 8, 6) and params["0.weight"].is_leaf
    got.sum().backward()
    assert params["0.weight"].grad.shape == (3, 8, 6)
    pms[1].eval()
    with pytest.raises(RuntimeError, match="training/eval mode"):
        pf.stack_module_state(pms)
    with pytest.raises(RuntimeError, match="at least one model"):
        pf.stack_module_state([])
