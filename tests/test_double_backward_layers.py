"""Higher-order gradients (create_graph=True) through the layers of convolutional critics and
meta-learning code: conv2d / conv_transpose2d / conv1d, the normalisations (also batch norm's
fused Sequential paths), pooling, padding and dropout.

Second derivatives are compared with torch.autograd.grad(create_graph=True) on the same float64
data, third derivatives of conv2d too, and pydlk.gradgradcheck compares them with central
differences. A WGAN-GP critic step and a MAML inner step, written as torch code run with
``pydlk`` in place of ``torch``, give torch's loss and every parameter's gradient.
"""

import numpy as np
import pytest
from _second_order import check_second

import pydlk
import pydlk.functional as F
from pydlk.autograd import grad
from pydlk.functional import norm as norm_mod
from pydlk.functional.dropout import _dropout, _dropout2d

torch = pytest.importorskip("torch")
TF = torch.nn.functional

rng = np.random.default_rng(7)


def _n(*shape):
    return rng.standard_normal(shape)


def _check_second(pfn, tfn, arrays):
    check_second(pydlk, torch, pfn, tfn, arrays, rng)


# conv2d option sets: (input shape, weight shape, keyword arguments, bias)
CONV = {
    "plain": ((2, 3, 6, 5), (4, 3, 3, 3), {}, True),
    "stride2_pad1": ((2, 3, 7, 6), (4, 3, 3, 3), dict(stride=2, padding=1), True),
    "stride_2x1": ((2, 3, 7, 6), (4, 3, 4, 2), dict(stride=(2, 1), padding=(1, 0)), True),
    "dilation2": ((2, 3, 8, 7), (4, 3, 3, 3), dict(padding=2, dilation=2), True),
    "groups2": ((2, 4, 6, 6), (6, 2, 3, 3), dict(groups=2, padding=1), True),
    "depthwise": ((2, 4, 6, 6), (4, 1, 3, 3), dict(groups=4, padding=1, stride=2), False),
    "no_bias": ((2, 3, 5, 5), (4, 3, 3, 3), dict(padding=1), False),
    "1x1": ((2, 5, 4, 3), (3, 5, 1, 1), {}, True),
    "same_even": ((2, 3, 6, 5), (4, 3, 2, 4), dict(padding="same"), True),
    "same_dilated": ((1, 2, 7, 7), (3, 2, 3, 2), dict(padding="same", dilation=2), True),
    "valid": ((1, 2, 5, 6), (3, 2, 2, 3), dict(padding="valid"), True),
    "unbatched": ((3, 5, 5), (4, 3, 3, 3), dict(stride=2), True),
}


def _conv_case(name):
    xs, ws, kw, bias = CONV[name]
    arrays = [_n(*xs), _n(*ws)] + ([_n(ws[0])] if bias else [])

    def fn(mod):
        conv = F.conv2d if mod is F else TF.conv2d
        return lambda x, w, b=None: conv(x, w, b, **kw).tanh()

    return fn(F), fn(TF), arrays


# torch's note that its even-kernel 'same' padding copies the input
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("name", sorted(CONV))
def test_conv2d_second_derivatives_match_torch(name):
    _check_second(*_conv_case(name))


def test_conv2d_third_derivative_matches_torch():
    """d/dx of <u, d/dW <w, d/dx <v, conv(x, W)^2>>>: every piece of the closed set runs."""
    x0, W0 = _n(2, 3, 6, 6), _n(4, 3, 3, 3)
    v, w, u = _n(2, 4, 3, 3), _n(2, 3, 6, 6), _n(4, 3, 3, 3)
    out = []
    for T, conv in ((pydlk, F.conv2d), (torch, TF.conv2d)):
        x, W = T.tensor(x0, requires_grad=True), T.tensor(W0, requires_grad=True)
        y = conv(x, W, stride=2, padding=1, dilation=1, groups=1) ** 2
        (gx,) = T.autograd.grad(y, x, T.tensor(v), create_graph=True)
        (gw,) = T.autograd.grad((gx * T.tensor(w)).sum(), W, create_graph=True)
        gx3, gw3 = T.autograd.grad((gw * T.tensor(u)).sum(), [x, W])
        out.append([np.asarray(a.detach()) for a in (gx, gw, gx3, gw3)])
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


NORM_STATS = (np.linspace(-0.5, 0.5, 4), np.linspace(0.5, 2.0, 4))


def _bn_eval(mod):
    T = pydlk if mod is F else torch
    rm, rv = (T.tensor(a) for a in NORM_STATS)
    return lambda x, w, b: mod.batch_norm(x, rm, rv, w, b, False).tanh()


def _seeded_dropout(shape, channel):
    """pydlk's dropout with a fixed Philox (seed, offset), and torch's x * the same mask."""
    drop = _dropout2d if channel else _dropout
    mask = np.asarray(drop(pydlk.tensor(np.ones(shape)), 0.4, 11, 5))
    return (
        lambda x: drop(x, 0.4, 11, 5).tanh() * x,
        lambda x: (x * torch.tensor(mask)).tanh() * x,
        [_n(*shape)],
    )


def _pair(body):
    """body(mod) for pydlk.functional and torch.nn.functional, with its inputs."""
    return lambda arrays: (body(F), body(TF), arrays)


OTHERS = {
    "conv_transpose2d": (
        _pair(lambda m: lambda x, w, b: m.conv_transpose2d(x, w, b, 2, 1, 1).tanh()),
        [_n(2, 4, 3, 4), _n(4, 3, 3, 3), _n(3)],
    ),
    "conv_transpose2d_groups_output_padding": (
        _pair(
            lambda m: (
                lambda x, w: m.conv_transpose2d(x, w, None, 2, 0, 2, groups=2, dilation=3).tanh()
            )
        ),
        [_n(2, 4, 3, 4), _n(4, 3, 3, 3)],
    ),
    "conv1d": (
        _pair(lambda m: lambda x, w, b: m.conv1d(x, w, b, stride=2, padding=1).tanh()),
        [_n(2, 4, 9), _n(3, 4, 3), _n(3)],
    ),
    "conv_transpose1d": (
        _pair(lambda m: lambda x, w: m.conv_transpose1d(x, w, stride=2).tanh()),
        [_n(2, 4, 5), _n(4, 3, 3)],
    ),
    "layer_norm": (
        _pair(lambda m: lambda x, w, b: m.layer_norm(x, (3, 4), w, b).tanh()),
        [_n(2, 5, 3, 4), _n(3, 4), _n(3, 4)],
    ),
    "layer_norm_no_affine": (
        _pair(lambda m: lambda x: m.layer_norm(x, (4,), eps=0.1) ** 3),
        [_n(3, 4)],
    ),
    "group_norm": (
        _pair(lambda m: lambda x, w, b: m.group_norm(x, 2, w, b).tanh()),
        [_n(2, 4, 3, 3), _n(4), _n(4)],
    ),
    "instance_norm": (
        _pair(lambda m: lambda x, w, b: m.instance_norm(x, weight=w, bias=b).tanh()),
        [_n(2, 4, 3, 3), _n(4), _n(4)],
    ),
    "batch_norm_train": (
        _pair(lambda m: lambda x, w, b: m.batch_norm(x, None, None, w, b, True).tanh()),
        [_n(3, 4, 3, 2), _n(4), _n(4)],
    ),
    "batch_norm_1d": (
        _pair(lambda m: lambda x: m.batch_norm(x, None, None, training=True) ** 3),
        [_n(5, 4)],
    ),
    "batch_norm_eval": (_pair(_bn_eval), [_n(3, 4, 3, 2), _n(4), _n(4)]),
    "avg_pool2d": (
        _pair(
            lambda m: (
                lambda x: (
                    m.avg_pool2d(x.tanh(), 3, 2, 1, ceil_mode=True, count_include_pad=False) ** 2
                )
            )
        ),
        [_n(2, 3, 7, 6)],
    ),
    "avg_pool2d_unbatched": (
        _pair(lambda m: lambda x: m.avg_pool2d(x.tanh(), 2) ** 2),
        [_n(3, 7, 6)],
    ),
    "adaptive_avg_pool2d": (
        _pair(lambda m: lambda x: m.adaptive_avg_pool2d(x.tanh(), (3, 2)) ** 2),
        [_n(2, 3, 7, 5)],
    ),
    "max_pool2d": (
        _pair(lambda m: lambda x: m.max_pool2d(x.tanh(), 3, 2, 1, dilation=1) ** 2),
        [_n(2, 3, 7, 6)],
    ),
    "adaptive_max_pool2d": (
        _pair(lambda m: lambda x: m.adaptive_max_pool2d(x.tanh(), (3, 2)) ** 2),
        [_n(2, 3, 7, 5)],
    ),
    "pad_reflect": (
        _pair(lambda m: lambda x: m.pad(x.tanh(), (1, 2, 2, 1), mode="reflect") ** 2),
        [_n(2, 3, 5, 5)],
    ),
    "pad_constant_crop": (
        _pair(lambda m: lambda x: m.pad(x.tanh(), (1, -1, 2, 0), value=3.0) ** 2),
        [_n(2, 3, 5, 5)],
    ),
    "leaky_relu_inplace": (
        _pair(lambda m: lambda x: m.leaky_relu(x * x - 0.5, 0.2, inplace=True) ** 2),
        [_n(3, 4)],
    ),
    "dropout": (lambda arrays: _seeded_dropout((3, 4, 5), False), None),
    "dropout2d": (lambda arrays: _seeded_dropout((3, 4, 2, 2), True), None),
}


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_layer_second_derivatives_match_torch(name):
    make, arrays = OTHERS[name]
    _check_second(*make(arrays))


GRADGRAD = {
    "conv2d_groups_stride": lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2),
    "conv2d_same": lambda x, w, b: F.conv2d(x, w, b, padding="same", groups=2),
    "conv_transpose2d": lambda x, w, b: F.conv_transpose2d(x, w, b[:2], stride=2),
    "layer_norm": lambda x, w, b: F.layer_norm(x, (2, 3, 3), w[:2, :1].reshape(2, 3, 3)),
    "group_norm": lambda x, w, b: F.group_norm(x, 2, b, b),
    "batch_norm": lambda x, w, b: F.batch_norm(x, None, None, b, None, True),
    "max_avg_pool": lambda x, w, b: F.max_pool2d(x, 2) * F.avg_pool2d(x, 2, ceil_mode=True),
}


@pytest.mark.parametrize("name", sorted(GRADGRAD))
def test_gradgradcheck(name):
    x = pydlk.tensor(_n(2, 4, 3, 3), requires_grad=True)
    w = pydlk.tensor(_n(4, 2, 3, 3) * 0.5, requires_grad=True)
    b = pydlk.tensor(_n(4), requires_grad=True)
    if name == "layer_norm":
        x = pydlk.tensor(_n(2, 2, 3, 3), requires_grad=True)
    assert pydlk.gradgradcheck(GRADGRAD[name], (x, w, b), atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------- fused paths


def _fused_seq(T, pool):
    mods = [T.nn.BatchNorm2d(3), T.nn.ReLU()] + ([T.nn.MaxPool2d(2)] if pool else [])
    return T.nn.Sequential(*mods).double()


@pytest.mark.parametrize(
    "pool, shape, recompute",
    [(True, (2, 3, 5, 6), False), (False, (2, 3, 4, 4), False), (False, (2, 3, 4, 4), True)],
)
def test_batch_norm_fused_sequential_paths(pool, shape, recompute, monkeypatch):
    """A Sequential of BatchNorm2d, ReLU (and MaxPool2d(2)) runs one fused Function; its double
    backward is torch's for the separate modules (also where the relu's mask is recomputed)."""
    if recompute:  # the large-tensor path: the mask recomputed from x instead of read from y
        monkeypatch.setattr(norm_mod, "_RECOMPUTE_MASK_BYTES", 0)
    fused = norm_mod.BatchNormReLUMaxPool2d if pool else norm_mod.BatchNormAddReLU
    seqs = {pydlk: _fused_seq(pydlk, pool), torch: _fused_seq(torch, pool)}
    for T, m in seqs.items():
        m[0].weight.data.copy_(T.tensor(np.linspace(0.5, 1.5, 3)))
        m[0].bias.data.copy_(T.tensor(np.linspace(-0.3, 0.3, 3)))
    x0, v, w = _n(*shape), None, _n(*shape)
    res = []
    for T, m in seqs.items():
        x = T.tensor(x0, requires_grad=True)
        y = m(x)
        if T is pydlk:
            assert y.grad_fn.fn is fused
        v = _n(*y.shape) if v is None else v
        (gx,) = T.autograd.grad(y, x, T.tensor(v), create_graph=True)
        (gx * T.tensor(w)).sum().backward()
        # bias.grad: None where the gradient does not depend on the bias (torch: always)
        got = (gx, x.grad, m[0].weight.grad, m[0].bias.grad)
        res.append([np.zeros(3) if a is None else np.asarray(a.detach()) for a in got])
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_batch_norm_add_relu_with_residual():
    """The ResNet block's fusion, relu(bn(x) + residual): second derivatives in x, the residual
    and the parameters."""
    bns = {T: T.nn.BatchNorm2d(3).double() for T in (pydlk, torch)}

    def fn(T):
        bn = bns[T]
        if T is pydlk:
            relu = pydlk.nn.ReLU()
            return lambda x, r: pydlk.nn.normalization.bn_relu(bn, relu, x, r) * x
        return lambda x, r: TF.relu(bn(x) + r) * x

    _check_second(fn(pydlk), fn(torch), [_n(2, 3, 3, 3), _n(2, 3, 3, 3)])


# ----------------------------------------------------------------------------- whole steps


def _critic(T, norm):
    nn = T.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 4, 2, 1),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(8, 16, 4, 2, 1),
        norm(nn),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(16, 16, 3, 1, 1, groups=4, bias=False),
        nn.LeakyReLU(0.2),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 2 * 2, 1),
    ).double()


def _wgan_gp_step(T, critic, real, fake, alpha):
    """The WGAN-GP critic step as torch code, run with T as ``torch``."""
    real, fake, alpha = T.tensor(real), T.tensor(fake), T.tensor(alpha)
    interp = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    d = critic(interp)
    g = T.autograd.grad(
        d, interp, grad_outputs=T.ones_like(d), create_graph=True, retain_graph=True
    )[0]
    gp = ((g.view(g.size(0), -1).norm(2, dim=1) - 1) ** 2).mean()
    loss = d.mean() + 10 * gp
    loss.backward()
    return float(loss.detach()), {k: np.asarray(p.grad) for k, p in critic.named_parameters()}


@pytest.mark.parametrize(
    "norm",
    [
        lambda nn: nn.LayerNorm([16, 4, 4]),
        lambda nn: nn.InstanceNorm2d(16, affine=True),
        lambda nn: nn.GroupNorm(4, 16),
    ],
    ids=["layer_norm", "instance_norm", "group_norm"],
)
def test_wgan_gp_critic_step_matches_torch(norm):
    torch.manual_seed(0)
    tc = _critic(torch, norm)
    pc = _critic(pydlk, norm)
    pc.load_state_dict({k: pydlk.tensor(v.numpy().copy()) for k, v in tc.state_dict().items()})
    for p in pc.parameters():  # non-trivial affine parameters, the same in both
        if p.ndim == 1 or p.shape == (16, 4, 4):
            p.data.copy_(pydlk.tensor(rng.uniform(0.5, 1.5, p.shape)))
    tc.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in pc.state_dict().items()})
    real, fake = _n(4, 3, 16, 16), _n(4, 3, 16, 16)
    alpha = rng.uniform(size=(4, 1, 1, 1))
    t_loss, t_grads = _wgan_gp_step(torch, tc, real, fake, alpha)
    p_loss, p_grads = _wgan_gp_step(pydlk, pc, real, fake, alpha)
    assert p_loss == pytest.approx(t_loss, rel=1e-12)
    assert p_grads.keys() == t_grads.keys()
    # a conv bias before a normalisation has a zero gradient: compared at the common scale
    scale = max(np.abs(g).max() for g in t_grads.values())
    for k, g in t_grads.items():
        np.testing.assert_allclose(p_grads[k], g, rtol=1e-10, atol=1e-13 * scale, err_msg=k)


def test_maml_inner_step_through_conv2d_matches_torch():
    """Fast weights w - lr * grad(inner loss, create_graph=True); the outer loss's gradient
    reaches the initial weights through the inner gradient (second-order MAML)."""
    xs, xq = _n(4, 2, 6, 6), _n(4, 2, 6, 6)
    ys, yq = _n(4, 3, 3, 3), _n(4, 3, 3, 3)
    w0, b0 = _n(3, 2, 3, 3) * 0.3, _n(3) * 0.1
    out = []
    for T, Fn in ((pydlk, pydlk.nn.functional), (torch, TF)):
        w = T.tensor(w0, requires_grad=True)
        b = T.tensor(b0, requires_grad=True)

        def model(x, w, b):
            return Fn.leaky_relu(Fn.conv2d(x, w, b, stride=2, padding=1), 0.1).tanh()

        inner = ((model(T.tensor(xs), w, b) - T.tensor(ys)) ** 2).mean()
        gw, gb = T.autograd.grad(inner, [w, b], create_graph=True)
        fw, fb = w - 0.4 * gw, b - 0.4 * gb
        for _ in range(2):  # a second inner step differentiates through the first
            inner = ((model(T.tensor(xs), fw, fb) - T.tensor(ys)) ** 2).mean()
            gw, gb = T.autograd.grad(inner, [fw, fb], create_graph=True)
            fw, fb = fw - 0.4 * gw, fb - 0.4 * gb
        outer = ((model(T.tensor(xq), fw, fb) - T.tensor(yq)) ** 2).mean()
        outer.backward()
        out.append([float(outer.detach()), np.asarray(w.grad), np.asarray(b.grad)])
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-12)
    for a, b in zip(out[0][1:], out[1][1:]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_first_order_pass_records_nothing_new():
    """create_graph=False keeps the kernels' path: the gradient carries no graph."""
    x = pydlk.tensor(_n(2, 3, 5, 5), requires_grad=True)
    w = pydlk.tensor(_n(4, 3, 3, 3), requires_grad=True)
    (gx,) = grad(F.conv2d(x, w).sum(), x)
    assert gx.grad_fn is None and not gx.requires_grad


@pytest.mark.parametrize("join", ["cat", "stack", "split", "chunk"])
def test_joining_second_derivatives_match_torch(join):
    # a conditional critic concatenates label channels to the image: cat's gradient (a split)
    # and split's (a cat) must differentiate again
    def fn(T):
        def f(x, y):
            if join == "cat":
                return T.cat([x * x, y.sin()], 1).tanh()
            if join == "stack":
                return T.stack([x.exp(), x * y], 2).sigmoid()
            if join == "split":
                a, b = (x * y).split([1, 2], 1)
                return (a.exp() * b.sum(1, keepdim=True)).tanh()
            return x.chunk(3, 1)[1].exp() * y[:, :1]  # pieces without gradient: zeros

        return f

    _check_second(fn(pydlk), fn(torch), [_n(2, 3), _n(2, 3)])


def test_conditional_critic_with_label_channels_matches_torch():
    def run(T):
        g = np.random.default_rng(3)
        conv = g.standard_normal((4, 3, 3, 3)) * 0.3
        lin = g.standard_normal((1, 4 * 2 * 2)) * 0.3
        x0, lab = g.standard_normal((2, 2, 5, 5)), g.standard_normal((2, 1, 5, 5))
        w1, w2 = T.tensor(conv, requires_grad=True), T.tensor(lin, requires_grad=True)
        x = T.tensor(x0, requires_grad=True)
        h = T.nn.functional.conv2d(T.cat([x, T.tensor(lab)], 1), w1, stride=2)
        d = T.nn.functional.leaky_relu(h, 0.2).flatten(1) @ w2.t()
        (gx,) = T.autograd.grad(d.sum(), x, create_graph=True)
        gp = ((gx.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        gp.backward()
        return [w1.grad.detach().numpy(), w2.grad.detach().numpy(), float(gp.detach())]

    for a, b in zip(run(pydlk), run(torch)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
