"""pydlk.models: shapes, parameter counts, state dict keys as torchvision, transfer learning."""

import numpy as np
import pytest

import pydlk
import pydlk.functional as F
from pydlk import models


def needs(*names):
    missing = [n for n in names if not callable(getattr(F, n, None))]
    return pytest.mark.skipif(bool(missing), reason=f"F.{', F.'.join(missing)} not landed yet")


def count(m):
    return sum(p.numel() for p in m.parameters())


def test_mlp_parameter_count():
    m = models.MLP(64, (32, 16), 10)
    assert count(m) == (64 + 1) * 32 + (32 + 1) * 16 + (16 + 1) * 10
    with pytest.raises(ValueError, match="activation"):
        models.MLP(4, activation="swish")


def test_resnet_structure_and_count():
    m = models.ResNet((1, 1), num_classes=5, in_channels=3, width=4)
    keys = list(m.state_dict().keys())
    assert keys[:3] == ["conv1.weight", "bn1.weight", "bn1.bias"]
    assert "layers.1.0.downsample.0.weight" in keys and "fc.weight" in keys
    bn = lambda c: 2 * c  # noqa: E731
    hand = (
        3 * 3 * 3 * 4
        + bn(4)  # stem (no bias)
        + 2 * (3 * 3 * 4 * 4 + bn(4))  # block 1
        + 3 * 3 * 4 * 8
        + bn(8)
        + 3 * 3 * 8 * 8
        + bn(8)  # block 2
        + 4 * 8
        + bn(8)  # shortcut 1x1
        + (8 + 1) * 5
    )
    assert count(m) == hand


def test_lstm_classifier_forward_backward(rng):
    pydlk.manual_seed(0)
    m = models.LSTMClassifier(5, hidden_size=7, num_classes=3, num_layers=2, bidirectional=True)
    x = pydlk.tensor(rng.standard_normal((4, 6, 5)).astype(np.float32))
    y = m(x)
    assert y.shape == (4, 3)
    y.sum().backward()
    assert m.lstm.weight_ih_l0.grad is not None and m.fc.weight.grad.shape == (3, 14)
    # the last layer's two directions feed the head
    _, (h, _) = m.lstm(x)
    want = np.concatenate([np.asarray(h)[2], np.asarray(h)[3]], axis=1) @ np.asarray(
        m.fc.weight
    ).T + np.asarray(m.fc.bias)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-6)


def test_freeze_replace_head_param_groups(rng):
    pydlk.manual_seed(0)
    m = models.ResNet((1, 1), num_classes=10, width=4)
    models.freeze(m)
    head = models.replace_head(m, "fc", 3)
    assert m.fc is head and head.out_features == 3 and head.weight.requires_grad
    assert not m.conv1.weight.requires_grad
    m.train()
    assert not m.bn1.training and head.training  # frozen BatchNorm stays in eval mode
    groups = models.finetune_param_groups(m, head, lr=0.1)
    assert len(groups) == 1 and groups[0]["lr"] == 0.1
    models.unfreeze(m.layers[1])
    m.train()
    assert m.layers[1][0].bn1.training and not m.bn1.training
    groups = models.finetune_param_groups(m, head, lr=0.1, weight_decay=0.0)
    assert [g["lr"] for g in groups] == [pytest.approx(0.01), 0.1]
    n_backbone = sum(p.numel() for p in m.layers[1].parameters())
    assert sum(p.numel() for p in groups[0]["params"]) == n_backbone
    with pytest.raises(ValueError, match="Linear"):
        models.replace_head(m, "bn1", 3)


def test_transfer_on_lstm_classifier(rng):
    pydlk.manual_seed(1)
    m = models.LSTMClassifier(4, hidden_size=5, num_classes=2)
    models.freeze(m.lstm)
    head = models.replace_head(m, "fc", 3)
    before = np.asarray(m.lstm.weight_hh_l0).copy()
    x = pydlk.tensor(rng.standard_normal((3, 5, 4)).astype(np.float32))
    m(x).sum().backward()
    assert m.lstm.weight_hh_l0.grad is None and head.weight.grad is not None
    np.testing.assert_array_equal(np.asarray(m.lstm.weight_hh_l0), before)


@needs("conv2d", "batch_norm", "relu", "max_pool2d")
def test_lenet_forward_shapes(rng):
    for size in (32, 28, 8):
        m = models.LeNet5(in_size=size)
        y = m(pydlk.tensor(rng.standard_normal((3, 1, size, size)).astype(np.float32)))
        assert y.shape == (3, 10)


@needs("conv2d", "batch_norm", "relu", "adaptive_avg_pool2d")
def test_resnet_forward_and_gradcheck(rng):
    m = models.ResNet((1, 1), num_classes=2, width=2).double()
    x = pydlk.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    assert m(x).shape == (2, 2)
    pydlk.gradcheck(lambda t: m(t), (x,))


def test_finetune_groups_with_sgd(rng):
    optim = pytest.importorskip("pydlk.optim")
    pydlk.manual_seed(2)
    m = models.LSTMClassifier(3, hidden_size=4, num_classes=2)
    head = models.replace_head(m, "fc", 2)
    groups = models.finetune_param_groups(m, head, lr=0.1)
    opt = optim.SGD(groups, lr=0.1)
    w0, h0 = np.asarray(m.lstm.weight_ih_l0).copy(), np.asarray(head.weight).copy()
    x = pydlk.tensor(rng.standard_normal((2, 5, 3)).astype(np.float32))
    opt.zero_grad()
    m(x).sum().backward()
    gw, gh = np.array(m.lstm.weight_ih_l0.grad), np.array(head.weight.grad)
    opt.step()
    np.testing.assert_allclose(
        np.asarray(m.lstm.weight_ih_l0), w0 - 0.01 * gw, rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(np.asarray(head.weight), h0 - 0.1 * gh, rtol=1e-5, atol=1e-7)
