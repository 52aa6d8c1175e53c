"""pydlk.summary: output shapes, parameter counts (against hand counts from the layer formulas),
trainable flags, receptive fields against hand-computed values, FLOPs."""

import numpy as np
import pytest

import pydlk
import pydlk.functional as F
from pydlk import nn


def needs(*names):
    missing = [n for n in names if not callable(getattr(F, n, None))]
    return pytest.mark.skipif(bool(missing), reason=f"F.{', F.'.join(missing)} not landed yet")


def conv_params(F_, C, K):
    return (F_ * F_ * C + 1) * K


def dense_params(n_in, n_out):
    return (n_in + 1) * n_out


def test_lenet_parameter_count_by_hand():
    m = pydlk.models.LeNet5()
    bn = lambda c: 2 * c  # noqa: E731  (gamma, beta)
    hand = (
        conv_params(5, 1, 6)
        + bn(6)
        + conv_params(5, 6, 16)
        + bn(16)
        + dense_params(16 * 5 * 5, 120)
        + bn(120)
        + dense_params(120, 84)
        + bn(84)
        + dense_params(84, 10)
    )
    assert hand == 62158
    assert sum(p.numel() for p in m.parameters()) == hand
    m8 = pydlk.models.LeNet5(in_size=8)
    assert m8.feature_size == 2
    assert m8.classifier[0].in_features == 16 * 2 * 2
    with pytest.raises(ValueError, match="in_size"):
        pydlk.models.LeNet5(in_size=2)


def test_linear_model_table_and_totals(capsys):
    m = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.Linear(5, 3))
    m[2].requires_grad_(False)
    text = pydlk.summary(m, (3, 4))
    assert capsys.readouterr().out.strip() == text.strip()
    lines = text.splitlines()
    row1 = next(line for line in lines if line.startswith("1 (Linear)"))
    assert "(None, 5)" in row1 and "65" in row1 and "Yes" in row1 and "120" in row1
    row2 = next(line for line in lines if line.startswith("2 (Linear)"))
    assert "(None, 3)" in row2 and "18" in row2 and "No" in row2 and "30" in row2
    assert "(None, 12)" in next(line for line in lines if line.startswith("0 (Flatten)"))
    assert "Total params: 83" in text
    assert "Trainable params: 65" in text and "Non-trainable params: 18" in text
    assert "Forward FLOPs per sample: 150" in text  # 2 * (12*5 + 5*3)
    assert m.training  # mode restored


def test_lstm_and_embedding_rows():
    m = pydlk.models.LSTMClassifier(4, hidden_size=6, num_classes=3, vocab_size=20)
    text = pydlk.summary(m, (7,), dtype=np.int64, print_fn=None)
    assert "lstm (LSTM)" in text and "(None, 7, 6)" in text
    assert f"Total params: {20 * 4 + 4 * 6 * (4 + 6 + 2) + 6 * 3 + 3:,}" in text
    assert f"{2 * 4 * 6 * (4 + 6) * 7:,}" in text  # LSTM FLOPs per sample


def test_bad_input_shape():
    with pytest.raises(ValueError, match="input_shape"):
        pydlk.summary(nn.Linear(2, 2), (0,), print_fn=None)


@needs("conv2d", "max_pool2d", "batch_norm", "relu")
def test_lenet_receptive_fields_and_flops():
    m = pydlk.models.LeNet5()
    text = pydlk.summary(m, (1, 32, 32), print_fn=None)
    rf = {}
    for line in text.splitlines():
        for name in ("features.0 ", "features.3 ", "features.4 ", "features.7 "):
            if line.startswith(name):
                rf[name.strip()] = line
    # R = 1 + sum (F_j - 1) prod_{i<j} S_i: conv5 -> 5, pool2 -> 6, conv5 -> 14, pool2 -> 16
    for name, r in (("features.0", 5), ("features.3", 6), ("features.4", 14), ("features.7", 16)):
        assert f" {r} " in rf[name] + " ", (name, rf[name])
    assert "(None, 6, 28, 28)" in rf["features.0"] and "(None, 16, 5, 5)" in rf["features.7"]
    flops = 2 * (25 * 6 * 28 * 28 + 150 * 16 * 10 * 10 + 400 * 120 + 120 * 84 + 84 * 10)
    assert f"Forward FLOPs per sample: {flops:,}" in text


@needs("conv2d")
def test_dilated_receptive_field():
    m = nn.Sequential(
        nn.Conv2d(1, 2, 3, dilation=2), nn.Conv2d(2, 2, 3, stride=2), nn.Conv2d(2, 1, 3, dilation=2)
    )
    text = pydlk.summary(m, (1, 32, 32), print_fn=None)
    rfs = [line.split()[-2] for line in text.splitlines() if "(Conv2d)" in line]
    # F_eff = d(F-1)+1: 5 -> R 5; 3 -> R 7 (J 2); 5 -> R 7 + 4*2 = 15
    assert rfs == ["5", "7", "15"]


@needs("conv2d", "batch_norm", "relu", "adaptive_avg_pool2d")
def test_resnet_shortcut_not_double_counted():
    m = pydlk.models.ResNet((1, 1), num_classes=4, in_channels=3, width=4)
    text = pydlk.summary(m, (3, 16, 16), print_fn=None)
    last = [line for line in text.splitlines() if "(Conv2d)" in line][-1]
    # stem 3 -> 3; block1: 5, 7; block2 conv1 (s2) 9, conv2 9 + 2*2 = 13; shortcut 1x1 skipped
    assert "layers.1.0.conv2" in last and last.split()[-2] == "13"
