"""Higher-order autograd: create_graph=True, autograd.grad, autograd.functional, gradgradcheck.

Second derivatives are compared with torch (torch.autograd.grad with create_graph=True on the
same float64 data), Hessians with central differences of the gradient, and gradgradcheck is
shown to fail on a planted wrong double backward.
"""

import numpy as np
import pytest
from pydlk.autograd.functional import hessian, hvp, jacobian, jvp, vhp, vjp

import pydlk
import pydlk.functional as F
from pydlk.autograd import Function, grad

torch = pytest.importorskip("torch")
TF = torch.nn.functional

rng = np.random.default_rng(0)


def _second(lib, fn, arrays, v, w):
    """d/dx_i < w, d<v, fn(x)>/dx > for every input, plus the derivative with respect to v."""
    if lib == "torch":
        xs = [torch.tensor(a, requires_grad=True) for a in arrays]
        vt = torch.tensor(v, requires_grad=True)
        out = fn(*xs)
        gs = torch.autograd.grad(out, xs, vt, create_graph=True)
        s = sum((g * torch.tensor(wi)).sum() for g, wi in zip(gs, w))
        hs = torch.autograd.grad(s, xs + [vt], allow_unused=True)
        first = [g.detach().numpy() for g in gs]
        return first, [None if h is None else h.numpy() for h in hs]
    xs = [pydlk.tensor(a, requires_grad=True) for a in arrays]
    vt = pydlk.tensor(v, requires_grad=True)
    out = fn(*xs)
    gs = grad(out, xs, vt, create_graph=True)
    s = None
    for g, wi in zip(gs, w):
        term = (g * pydlk.tensor(wi)).sum()
        s = term if s is None else s + term
    hs = grad(s, xs + [vt], allow_unused=True)
    first = [np.asarray(g.detach()) for g in gs]
    return first, [None if h is None else np.asarray(h) for h in hs]


def _pos(*shape):
    return rng.uniform(0.5, 2.0, shape)


def _n(*shape):
    return rng.standard_normal(shape)


IDX = np.array([0, 2, 2, 1])
TGT = np.array([1, 0, 3, 2, 1])
PROB = rng.dirichlet(np.ones(4), 5)
CW = rng.uniform(0.5, 2.0, 4)

# name: (pydlk fn, torch fn, inputs); both fns take their library's tensors
CASES = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, [_n(3, 4), _n(4)]),
    "sub": (lambda a, b: a - b * b, lambda a, b: a - b * b, [_n(3, 4), _n(3, 1)]),
    "mul": (lambda a, b: a * b * a, lambda a, b: a * b * a, [_n(3, 4), _n(4)]),
    "div": (lambda a, b: a / b, lambda a, b: a / b, [_n(3, 4), _pos(3, 4)]),
    "pow_tensor": (lambda a, b: a**b, lambda a, b: a**b, [_pos(3, 4), _n(3, 4)]),
    "pow_scalar": (lambda a: a**3.0, lambda a: a**3.0, [_n(3, 4)]),
    "neg": (lambda a: -(a * a), lambda a: -(a * a), [_n(5)]),
    "exp": (lambda a: a.exp(), lambda a: a.exp(), [_n(3, 4)]),
    "log": (lambda a: a.log(), lambda a: a.log(), [_pos(3, 4)]),
    "sqrt": (lambda a: a.sqrt(), lambda a: a.sqrt(), [_pos(3, 4)]),
    "matmul": (lambda a, b: (a @ b) ** 2, lambda a, b: (a @ b) ** 2, [_n(2, 3, 4), _n(4, 5)]),
    "matmul_vec": (lambda a, b: (a @ b) ** 2, lambda a, b: (a @ b) ** 2, [_n(3, 4), _n(4)]),
    "linear": (
        lambda x, w, b: F.linear(x, w, b).tanh(),
        lambda x, w, b: TF.linear(x, w, b).tanh(),
        [_n(2, 3, 4), _n(5, 4), _n(5)],
    ),
    "sum": (lambda a: a.sum(dim=1) ** 2, lambda a: a.sum(dim=1) ** 2, [_n(3, 4, 2)]),
    "mean": (
        lambda a: a.mean(dim=(0, 2), keepdim=True) ** 3,
        lambda a: a.mean(dim=(0, 2), keepdim=True) ** 3,
        [_n(3, 4, 2)],
    ),
    "reshape_view": (
        lambda a: a.reshape(4, 3).view(2, 6).exp(),
        lambda a: a.reshape(4, 3).view(2, 6).exp(),
        [_n(3, 4)],
    ),
    "transpose_permute": (
        lambda a: (a.transpose(0, 1).permute(1, 0) @ a.transpose(0, 1)).sin(),
        lambda a: (a.transpose(0, 1).permute(1, 0) @ a.transpose(0, 1)).sin(),
        [_n(3, 4)],
    ),
    "indexing": (
        lambda a: a[pydlk.tensor(IDX)] ** 2 * a[1:3].sum(),
        lambda a: a[torch.tensor(IDX)] ** 2 * a[1:3].sum(),
        [_n(3, 4)],
    ),
    "tanh": (F.tanh, torch.tanh, [_n(3, 4)]),
    "sigmoid": (F.sigmoid, torch.sigmoid, [_n(3, 4)]),
    "relu": (lambda a: F.relu(a) * a, lambda a: TF.relu(a) * a, [_n(3, 4)]),
    "softplus": (
        lambda a: F.softplus(a, beta=2.0, threshold=3.0),
        lambda a: TF.softplus(a, beta=2.0, threshold=3.0),
        [_n(3, 4) * 2],
    ),
    "gelu": (F.gelu, TF.gelu, [_n(3, 4) * 2]),
    "gelu_tanh": (
        lambda a: F.gelu(a, approximate="tanh"),
        lambda a: TF.gelu(a, approximate="tanh"),
        [_n(3, 4) * 2],
    ),
    "silu": (F.silu, TF.silu, [_n(3, 4) * 2]),
    "softmax": (lambda a: F.softmax(a, dim=1), lambda a: TF.softmax(a, dim=1), [_n(3, 4)]),
    "log_softmax": (
        lambda a: F.log_softmax(a, dim=0),
        lambda a: TF.log_softmax(a, dim=0),
        [_n(3, 4)],
    ),
    "cross_entropy": (
        lambda a: F.cross_entropy(a, pydlk.tensor(TGT)),
        lambda a: TF.cross_entropy(a, torch.tensor(TGT)),
        [_n(5, 4)],
    ),
    "cross_entropy_weight_smooth_ignore": (
        lambda a: F.cross_entropy(
            a, pydlk.tensor(TGT), weight=pydlk.tensor(CW), ignore_index=0, label_smoothing=0.2
        ),
        lambda a: TF.cross_entropy(
            a, torch.tensor(TGT), weight=torch.tensor(CW), ignore_index=0, label_smoothing=0.2
        ),
        [_n(5, 4)],
    ),
    "cross_entropy_probs_none": (
        lambda a: F.cross_entropy(a, pydlk.tensor(PROB), reduction="none"),
        lambda a: TF.cross_entropy(a, torch.tensor(PROB), reduction="none"),
        [_n(5, 4)],
    ),
    "cross_entropy_sum_spatial": (
        lambda a: F.cross_entropy(a, pydlk.tensor(TGT[:4].reshape(2, 2)), reduction="sum"),
        lambda a: TF.cross_entropy(a, torch.tensor(TGT[:4].reshape(2, 2)), reduction="sum"),
        [_n(2, 4, 2)],
    ),
    "mse_loss": (
        lambda a, b: F.mse_loss(a.tanh(), b),
        lambda a, b: TF.mse_loss(a.tanh(), b),
        [_n(3, 4), _n(3, 4)],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivative_matches_torch(name):
    pfn, tfn, arrays = CASES[name]
    out_shape = tuple(tfn(*[torch.tensor(a) for a in arrays]).shape)
    v = rng.standard_normal(out_shape)
    w = [rng.standard_normal(a.shape) for a in arrays]
    p_first, p_second = _second("pydlk", pfn, arrays, v, w)
    t_first, t_second = _second("torch", tfn, arrays, v, w)
    for a, b in zip(p_first, t_first):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip(p_second, t_second):
        if b is None:  # torch: the gradient does not depend on this input at all
            assert a is None or np.allclose(a, 0)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def _mlp_loss(theta, X, y):
    W1 = theta[:12].reshape(4, 3)
    W2 = theta[12:].reshape(2, 4)
    return F.cross_entropy(F.linear(F.tanh(F.linear(X, W1)), W2), y)


def test_hessian_matches_finite_differences_of_the_gradient():
    X = pydlk.tensor(rng.standard_normal((6, 3)))
    y = pydlk.tensor(rng.integers(0, 2, 6))
    theta0 = rng.standard_normal(20)
    H = np.asarray(hessian(lambda t: _mlp_loss(t, X, y), pydlk.tensor(theta0)))

    def gradient(th):
        t = pydlk.tensor(th, requires_grad=True)
        _mlp_loss(t, X, y).backward()
        return np.asarray(t.grad)

    eps = 1e-6
    numeric = np.stack(
        [(gradient(theta0 + eps * e) - gradient(theta0 - eps * e)) / (2 * eps) for e in np.eye(20)],
        axis=1,
    )
    assert H.shape == (20, 20)
    np.testing.assert_allclose(H, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, H.T, atol=1e-12)


def test_hvp_vhp_jacobian_match_torch():
    A = rng.standard_normal((4, 4))
    x0, v0 = rng.standard_normal(4), rng.standard_normal(4)

    def f(lib):
        mm = pydlk if lib is pydlk else torch
        return lambda x: (mm.tanh(mm.tensor(A) @ x) ** 2).sum() + (x**4).sum()

    out, hv = hvp(f(pydlk), pydlk.tensor(x0), pydlk.tensor(v0))
    tout, thv = torch.autograd.functional.hvp(f(torch), torch.tensor(x0), torch.tensor(v0))
    np.testing.assert_allclose(float(out), float(tout), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(hv), thv.numpy(), rtol=1e-10)
    _, vh = vhp(f(pydlk), pydlk.tensor(x0), pydlk.tensor(v0))
    np.testing.assert_allclose(np.asarray(vh), thv.numpy(), rtol=1e-10)
    H = hessian(f(pydlk), pydlk.tensor(x0))
    np.testing.assert_allclose(
        np.asarray(H), torch.autograd.functional.hessian(f(torch), torch.tensor(x0)), rtol=1e-10
    )

    def g(lib):
        return lambda x, y: (x[:, None] * y[None, :]).tanh()

    J = jacobian(g(pydlk), (pydlk.tensor(x0), pydlk.tensor(v0[:3])))
    TJ = torch.autograd.functional.jacobian(g(torch), (torch.tensor(x0), torch.tensor(v0[:3])))
    assert isinstance(J, tuple) and J[0].shape == (4, 3, 4) and J[1].shape == (4, 3, 3)
    for a, b in zip(J, TJ):
        np.testing.assert_allclose(np.asarray(a), b.numpy(), rtol=1e-12)
    # vjp / jvp against the Jacobian itself
    u = rng.standard_normal((4, 3))
    _, (vj0, _) = vjp(g(pydlk), (pydlk.tensor(x0), pydlk.tensor(v0[:3])), pydlk.tensor(u))
    np.testing.assert_allclose(np.asarray(vj0), np.einsum("ab,abc->c", u, np.asarray(J[0])))
    _, jv = jvp(lambda x: x.sin() * x, pydlk.tensor(x0), pydlk.tensor(v0))
    np.testing.assert_allclose(np.asarray(jv), (np.cos(x0) * x0 + np.sin(x0)) * v0, rtol=1e-12)


def test_backward_create_graph_gives_a_differentiable_grad():
    x = pydlk.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    g = x.grad
    assert g.grad_fn is not None
    np.testing.assert_allclose(np.asarray(g.detach()), 3 * np.asarray(x.detach()) ** 2)
    x.grad = None
    g.sum().backward()  # d/dx sum(3x^2) = 6x
    np.testing.assert_allclose(np.asarray(x.grad), 6 * np.array([0.5, -1.0, 2.0]))


def test_backward_inputs_accumulates_only_there():
    a = pydlk.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = pydlk.tensor(np.array([3.0, 4.0]), requires_grad=True)
    (a * b).sum().backward(inputs=[a])
    np.testing.assert_allclose(np.asarray(a.grad), [3.0, 4.0])
    assert b.grad is None


def test_grad_leaves_dot_grad_alone_and_first_order_matches_backward():
    x = pydlk.tensor(rng.standard_normal(5), requires_grad=True)
    (g,) = grad((x.exp() * x).sum(), x)
    assert x.grad is None
    np.testing.assert_allclose(np.asarray(g), np.exp(x.detach()) * (1 + np.asarray(x.detach())))


def test_allow_unused():
    x = pydlk.tensor(np.ones(3), requires_grad=True)
    z = pydlk.tensor(np.ones(3), requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="element 1 of inputs appears to not have been used"):
        grad(y, [x, z], retain_graph=True)
    gx, gz = grad(y, [x, z], allow_unused=True)
    assert gz is None
    np.testing.assert_allclose(np.asarray(gx), 2.0)
    with pytest.raises(RuntimeError, match="element 0 of inputs does not require grad"):
        grad((x * 2).sum(), [pydlk.tensor(np.ones(3))])


@pytest.mark.parametrize(
    "op, fn",
    [
        ("digamma", pydlk.digamma),
        ("triplet_margin_loss", lambda x: F.triplet_margin_loss(x[:3], x[3:6], x[6:])),
        ("in-place elu", lambda x: F.elu(x * 1.0, inplace=True)),
    ],
)
def test_unsupported_double_backward_names_the_op(op, fn):
    x = pydlk.tensor(rng.standard_normal(9), requires_grad=True)
    y = fn(x).sum()
    with pytest.raises(RuntimeError, match=f"double backward is not implemented for {op}"):
        grad(y, x, create_graph=True)
    (g,) = grad(fn(x).sum(), x)  # first order still works
    assert g.shape == x.shape


def test_gradgradcheck_passes_on_good_ops():
    x = pydlk.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = pydlk.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    assert pydlk.gradgradcheck(lambda x, w: F.softmax(F.linear(x, w), dim=1) * x.sum(), (x, w))
    assert pydlk.autograd.gradgradcheck(lambda x: F.gelu(x) * F.silu(x), (x,))


class _Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * g * x

    @staticmethod
    def backward_graph(ctx, inputs, g):
        return g * inputs[0] * 2


class _BadSquare(_Square):
    @staticmethod
    def backward_graph(ctx, inputs, g):
        # first derivative values right (2 g x), its derivative in x wrong (3 g instead of 2 g)
        x = inputs[0]
        return g * x * 2 + g * (x - x.detach()) * 1.0


def test_gradgradcheck_fails_on_a_wrong_double_backward():
    x = pydlk.tensor(rng.standard_normal(4), requires_grad=True)
    assert pydlk.gradcheck(_BadSquare.apply, (x,))  # the first derivative is right
    assert pydlk.gradgradcheck(_Square.apply, (x,))
    with pytest.raises(pydlk.GradcheckError, match="analytic"):
        pydlk.gradgradcheck(_BadSquare.apply, (x,))
    assert pydlk.gradgradcheck(_BadSquare.apply, (x,), raise_exception=False) is False
