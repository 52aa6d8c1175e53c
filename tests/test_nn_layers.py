"""Layers: parameter names/shapes/init as torch, forward against NumPy formulas, torch with copied
weights, gradcheck in float64 (module.double()), bad constructor arguments.

Layers that wrap another family's functional op skip until that op has landed (``needs``)."""

import math
import warnings

import numpy as np
import pytest
from conftest import t64

import pydlk
import pydlk.functional as F
from pydlk import nn


def needs(*names):
    missing = [n for n in names if not callable(getattr(F, n, None))]
    return pytest.mark.skipif(bool(missing), reason=f"F.{', F.'.join(missing)} not landed yet")


def needs_ops(*names):
    missing = [n for n in names if not hasattr(pydlk.Tensor, n)]
    return pytest.mark.skipif(bool(missing), reason=f"Tensor.{missing} not landed yet")


def copy_from_torch(m, tm):
    res = m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    assert list(res.missing_keys) == [] and list(res.unexpected_keys) == []


def torch_names_match(m, tm):
    assert list(m.state_dict().keys()) == list(tm.state_dict().keys())
    for (k, v), (tk, tv) in zip(m.state_dict().items(), tm.state_dict().items()):
        assert k == tk
        assert tuple(v.shape) == tuple(tv.shape), k


# ----------------------------------------------------------------------------- constructors


@pytest.mark.parametrize(
    "make,arg",
    [
        (lambda: nn.Linear(0.5, 3), "in_features"),
        (lambda: nn.Conv2d(3, 4, 0), "kernel_size"),
        (lambda: nn.Conv2d(3, 4, 3, stride=-1), "stride"),
        (lambda: nn.Conv2d(3, 4, 3, groups=2), "groups"),
        (lambda: nn.Conv2d(3, 4, 3, padding="full"), "padding"),
        (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), "padding"),
        (lambda: nn.Conv2d(3, 4, 3, padding_mode="bogus"), "padding_mode"),
        (lambda: nn.MaxPool2d(0), "kernel_size"),
        (lambda: nn.AvgPool2d(2, stride=0), "stride"),
        (lambda: nn.BatchNorm2d(0), "num_features"),
        (lambda: nn.BatchNorm1d(4, momentum=2.0), "momentum"),
        (lambda: nn.BatchNorm1d(4, eps=0), "eps"),
        (lambda: nn.GroupNorm(3, 4), "num_groups"),
        (lambda: nn.LayerNorm(0), "normalized_shape"),
        (lambda: nn.Dropout(1.5), "p"),
        (lambda: nn.Dropout2d(-0.1), "p"),
        (lambda: nn.DropConnect(3, 4, p=2), "p"),
        (lambda: nn.StochasticDepth(0.2, "col"), "mode"),
        (lambda: nn.StochasticDepth(1.2, "row"), "p"),
        (lambda: nn.GELU(approximate="fast"), "approximate"),
        (lambda: nn.ELU(alpha=-1), "alpha"),
        (lambda: nn.Maxout(0), "pool_size"),
        (lambda: nn.Embedding(0, 3), "num_embeddings"),
        (lambda: nn.Embedding(5, 3, padding_idx=7), "padding_idx"),
    ],
)
def test_bad_constructor_arguments(make, arg):
    with pytest.raises((ValueError, TypeError), match=arg):
        make()


def test_parameter_names_and_shapes_match_torch():
    torch = pytest.importorskip("torch")
    pairs = [
        (nn.Linear(4, 3), torch.nn.Linear(4, 3)),
        (nn.Bilinear(2, 3, 4), torch.nn.Bilinear(2, 3, 4)),
        (nn.Conv2d(3, 8, 3, groups=1, bias=False), torch.nn.Conv2d(3, 8, 3, bias=False)),
        (nn.Conv2d(4, 8, (3, 5), groups=2), torch.nn.Conv2d(4, 8, (3, 5), groups=2)),
        (nn.BatchNorm1d(5), torch.nn.BatchNorm1d(5)),
        (nn.BatchNorm2d(5, affine=False), torch.nn.BatchNorm2d(5, affine=False)),
        (
            nn.BatchNorm2d(5, track_running_stats=False),
            torch.nn.BatchNorm2d(5, track_running_stats=False),
        ),
        (nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4))),
        (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)),
        (nn.InstanceNorm2d(3, affine=True), torch.nn.InstanceNorm2d(3, affine=True)),
        (nn.Embedding(10, 3, padding_idx=0), torch.nn.Embedding(10, 3, padding_idx=0)),
        (nn.LSTM(3, 4, 2, bidirectional=True), torch.nn.LSTM(3, 4, 2, bidirectional=True)),
        (nn.GRU(3, 4, bias=False), torch.nn.GRU(3, 4, bias=False)),
        (nn.RNN(3, 4, 3), torch.nn.RNN(3, 4, 3)),
        (nn.MultiheadAttention(8, 2), torch.nn.MultiheadAttention(8, 2)),
    ]
    for m, tm in pairs:
        torch_names_match(m, tm)


def test_default_init_statistics():
    pydlk.manual_seed(0)
    c = nn.Conv2d(16, 32, 3)
    fan_in = 16 * 9
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt 5): gain sqrt(1/3), bound 1/sqrt(fan)
    assert np.abs(np.asarray(c.weight)).max() <= bound and np.asarray(c.weight).max() > 0.9 * bound
    assert np.abs(np.asarray(c.bias)).max() <= bound
    bn = nn.BatchNorm2d(4)
    np.testing.assert_array_equal(np.asarray(bn.weight), 1)
    np.testing.assert_array_equal(np.asarray(bn.running_var), 1)
    assert np.asarray(bn.num_batches_tracked).dtype == np.int64
    e = nn.Embedding(1000, 20, padding_idx=3)
    np.testing.assert_array_equal(np.asarray(e.weight)[3], 0)
    assert abs(np.asarray(e.weight).std() - 1) < 0.02
    r = nn.LSTM(10, 25)
    assert np.abs(np.asarray(r.weight_hh_l0)).max() <= 1 / 5


# ----------------------------------------------------------------------------- no other family


def test_bilinear(rng):
    m = nn.Bilinear(3, 4, 2).double()
    x1, x2 = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    want = np.einsum("ni,kij,nj->nk", x1, np.asarray(m.weight), x2) + np.asarray(m.bias)
    np.testing.assert_allclose(np.asarray(m(t64(x1, False), t64(x2, False))), want, rtol=1e-12)
    pydlk.gradcheck(lambda a, b, *ps: m(a, b), (t64(x1[:2]), t64(x2[:2]), *m.parameters()))


def test_embedding(rng):
    m = nn.Embedding(6, 3, padding_idx=1).double()
    idx = np.array([[0, 1, 5], [5, 5, 2]])
    y = m(idx)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(m.weight)[idx])
    dy = rng.standard_normal((2, 3, 3))
    y.backward(dy)
    want = np.zeros((6, 3))
    for (a, b), g in zip(np.ndindex(2, 3), dy.reshape(-1, 3)):
        want[idx[a, b]] += g
    want[1] = 0
    np.testing.assert_allclose(m.weight.grad, want, rtol=1e-12)
    pydlk.gradcheck(lambda w: F.embedding(idx, w), (t64(rng.standard_normal((6, 2))),))
    with pytest.raises(IndexError, match="indices"):
        m(np.array([6]))
    with pytest.raises(TypeError, match="integer"):
        m(np.array([0.5]))
    torch = pytest.importorskip("torch")
    tm = torch.nn.Embedding(6, 3, padding_idx=1).double()
    copy_from_torch(m, tm)
    np.testing.assert_allclose(np.asarray(m(idx)), tm(torch.tensor(idx)).detach().numpy())
    pre = nn.Embedding.from_pretrained(np.eye(3), freeze=True)
    assert not pre.weight.requires_grad


def test_stochastic_depth(rng):
    x = rng.standard_normal((2000, 3, 2)).astype(np.float32)
    m = nn.StochasticDepth(0.25, "row")
    pydlk.manual_seed(0)
    y = np.asarray(m(pydlk.tensor(x)))
    kept = np.all(y != 0, axis=(1, 2))
    dropped = np.all(y == 0, axis=(1, 2))
    assert np.all(kept | dropped)  # a whole sample is dropped or kept
    assert abs(dropped.mean() - 0.25) < 0.04
    np.testing.assert_allclose(y[kept], x[kept] / 0.75, rtol=1e-6)
    mb = nn.StochasticDepth(0.5, "batch")
    outs = {bool(np.all(np.asarray(mb(pydlk.tensor(x))) == 0)) for _ in range(20)}
    assert outs == {True, False}
    m.eval()
    np.testing.assert_array_equal(np.asarray(m(pydlk.tensor(x))), x)
    assert nn.StochasticDepth(0.0, "row")(x) is x
    xg = t64(rng.standard_normal((4, 3)))
    m.train()
    pydlk.manual_seed(5)
    ref = np.asarray(m(xg))
    pydlk.gradcheck(lambda t: (pydlk.manual_seed(5), m(t))[1], (xg,))
    assert ref.shape == (4, 3)


# ----------------------------------------------------------------------------- other families


@needs("conv2d")
@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(stride=2, padding=1),
        dict(padding="same"),
        dict(padding="same", dilation=2),
        dict(groups=2, bias=False),
    ],
)
def test_conv2d_against_torch(kw, rng):
    torch = pytest.importorskip("torch")
    for k in (3, 4):
        tm = torch.nn.Conv2d(4, 6, k, **kw).double()
        m = nn.Conv2d(4, 6, k, **kw).double()
        copy_from_torch(m, tm)
        x = rng.standard_normal((2, 4, 7, 9))
        tx = torch.tensor(x, requires_grad=True)
        px = t64(x)
        with warnings.catch_warnings():  # torch warns that even 'same' kernels copy the input
            warnings.simplefilter("ignore", UserWarning)
            ty = tm(tx)
        py = m(px)
        np.testing.assert_allclose(np.asarray(py), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        dy = rng.standard_normal(ty.shape)
        ty.backward(torch.tensor(dy))
        py.backward(dy)
        np.testing.assert_allclose(px.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(m.weight.grad, tm.weight.grad.numpy(), rtol=1e-9, atol=1e-12)


@needs("conv2d")
def test_conv2d_gradcheck(rng):
    m = nn.Conv2d(2, 3, 3, stride=2, padding=1).double()
    pydlk.gradcheck(lambda x, *ps: m(x), (t64(rng.standard_normal((1, 2, 5, 5))), *m.parameters()))


@needs("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d")
def test_pooling_against_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 7, 8))
    for m, tm in (
        (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
        (nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
        (nn.AvgPool2d(3, 2, 1), torch.nn.AvgPool2d(3, 2, 1)),
        (nn.AdaptiveAvgPool2d(1), torch.nn.AdaptiveAvgPool2d(1)),
    ):
        np.testing.assert_allclose(
            np.asarray(m(t64(x, False))), tm(torch.tensor(x)).numpy(), rtol=1e-12
        )
        pydlk.gradcheck(lambda t: m(t), (t64(x[:1, :1]),))


@needs("batch_norm")
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_running_stats_against_torch(momentum, rng):
    torch = pytest.importorskip("torch")
    for cls, tcls, shape in (
        (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 5)),
        (nn.BatchNorm1d, torch.nn.BatchNorm1d, (6, 3)),
    ):
        m, tm = cls(3, momentum=momentum).double(), tcls(3, momentum=momentum).double()
        for step in range(3):
            x = rng.standard_normal(shape) * (step + 1) + step
            y, ty = m(t64(x, False)), tm(torch.tensor(x))
            np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.asarray(m.running_mean), tm.running_mean.numpy(), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(m.running_var), tm.running_var.numpy(), rtol=1e-10)
        assert int(np.asarray(m.num_batches_tracked)) == 3
        m.eval()
        tm.eval()
        x = rng.standard_normal(shape)
        np.testing.assert_allclose(
            np.asarray(m(t64(x, False))),
            tm(torch.tensor(x)).detach().numpy(),
            rtol=1e-9,
            atol=1e-12,
        )
        m.train()
        pydlk.gradcheck(lambda t, *ps: m(t), (t64(x), *m.parameters()))
    with pytest.raises(ValueError, match="4D"):
        nn.BatchNorm2d(3)(t64(rng.standard_normal((2, 3)), False))


@needs("layer_norm", "group_norm", "instance_norm")
def test_other_norms_against_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 4, 3, 5))
    for m, tm in (
        (nn.LayerNorm((3, 5)), torch.nn.LayerNorm((3, 5))),
        (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)),
        (nn.InstanceNorm2d(4, affine=True), torch.nn.InstanceNorm2d(4, affine=True)),
    ):
        m.double()
        tm.double()
        with torch.no_grad():
            for p in tm.parameters():
                p.uniform_(0.5, 1.5)
        copy_from_torch(m, tm)
        np.testing.assert_allclose(
            np.asarray(m(t64(x, False))),
            tm(torch.tensor(x)).detach().numpy(),
            rtol=1e-9,
            atol=1e-12,
        )
        pydlk.gradcheck(lambda t, *ps: m(t), (t64(x[:1]), *m.parameters()))


@needs("dropout", "dropout2d")
def test_dropout_modules(rng):
    x = np.ones((200, 50), np.float32)
    m = nn.Dropout(0.3)
    y = np.asarray(m(pydlk.tensor(x)))
    assert abs((y == 0).mean() - 0.3) < 0.02
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    m.eval()
    np.testing.assert_array_equal(np.asarray(m(pydlk.tensor(x))), x)
    d2 = nn.Dropout2d(0.5)
    y = np.asarray(d2(pydlk.tensor(np.ones((10, 20, 3, 3), np.float32))))
    per_channel = y.reshape(10, 20, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel != 0).all(-1))


@needs("dropout")
def test_dropconnect(rng):
    pydlk.manual_seed(0)
    m = nn.DropConnect(30, 20, p=0.4)
    x = rng.standard_normal((5, 30)).astype(np.float32)
    m.eval()
    np.testing.assert_allclose(
        np.asarray(m(pydlk.tensor(x))),
        x @ np.asarray(m.weight).T + np.asarray(m.bias),
        rtol=1e-5,
        atol=1e-6,
    )
    m.train()
    y = np.asarray(m(pydlk.tensor(np.eye(30, dtype=np.float32)))) - np.asarray(m.bias)
    wt = y.T  # row o of W as seen through the identity input
    dropped = np.isclose(wt, 0)
    assert 0.3 < dropped.mean() < 0.5
    np.testing.assert_allclose(
        wt[~dropped], np.asarray(m.weight)[~dropped] / 0.6, rtol=1e-5, atol=1e-6
    )


@needs(
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "sigmoid",
    "tanh",
    "relu6",
    "silu",
    "mish",
    "gelu",
    "softmax",
    "log_softmax",
)
def test_activation_modules_against_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 5)) * 4
    pairs = [
        (nn.ReLU(), torch.nn.ReLU()),
        (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
        (nn.ELU(0.7), torch.nn.ELU(0.7)),
        (nn.SELU(), torch.nn.SELU()),
        (nn.Sigmoid(), torch.nn.Sigmoid()),
        (nn.Tanh(), torch.nn.Tanh()),
        (nn.ReLU6(), torch.nn.ReLU6()),
        (nn.SiLU(), torch.nn.SiLU()),
        (nn.Mish(), torch.nn.Mish()),
        (nn.GELU(), torch.nn.GELU()),
        (nn.GELU("tanh"), torch.nn.GELU("tanh")),
        (nn.Softmax(1), torch.nn.Softmax(1)),
        (nn.LogSoftmax(dim=0), torch.nn.LogSoftmax(dim=0)),
    ]
    for m, tm in pairs:
        np.testing.assert_allclose(
            np.asarray(m(t64(x, False))),
            tm(torch.tensor(x)).numpy(),
            rtol=1e-9,
            atol=1e-12,
            err_msg=repr(m),
        )
        pydlk.gradcheck(lambda t: m(t), (t64(x + 0.01),))
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"


@needs("maxout")
def test_maxout(rng):
    x = rng.standard_normal((2, 6, 3))
    y = np.asarray(nn.Maxout(3)(t64(x, False)))
    np.testing.assert_allclose(y, x.reshape(2, 2, 3, 3).max(2))


@needs("conv2d", "batch_norm", "relu")
def test_basic_block(rng):
    torch = pytest.importorskip("torch")
    tnn = torch.nn

    class TorchBasicBlock(tnn.Module):  # torchvision's BasicBlock, written out
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.relu = tnn.ReLU()
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.downsample = tnn.Sequential(
                tnn.Conv2d(inplanes, planes, 1, stride, bias=False), tnn.BatchNorm2d(planes)
            )

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + self.downsample(x))

    tb = TorchBasicBlock(4, 8, 2).double()
    b = nn.BasicBlock(4, 8, 2).double()
    copy_from_torch(b, tb)
    x = rng.standard_normal((2, 4, 6, 6))
    tx = torch.tensor(x, requires_grad=True)
    px = t64(x)
    ty, py = tb(tx), b(px)
    np.testing.assert_allclose(np.asarray(py), ty.detach().numpy(), rtol=1e-9, atol=1e-12)
    dy = rng.standard_normal(ty.shape)
    ty.backward(torch.tensor(dy))
    py.backward(dy)
    np.testing.assert_allclose(px.grad, tx.grad.numpy(), rtol=1e-8, atol=1e-11)
    for (k, p), (tk, tp) in zip(b.named_parameters(), tb.named_parameters()):
        assert k == tk
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-8, atol=1e-11, err_msg=k)
    bs = nn.BasicBlock(3, 3, stochastic_depth=0.5).double()
    pydlk.gradcheck(
        lambda t: (pydlk.manual_seed(3), bs(t))[1],  # same drop mask each call
        (t64(rng.standard_normal((2, 3, 4, 4))),),
    )
