"""Layers follow set_default_dtype as torch's do: parameters and buffers made without dtype= take
the default float dtype (float64 after set_default_dtype(float64)), so a float64 model needs no
per-layer dtype= and its outputs stay float64."""

import numpy as np
import pytest

import pydlk
from pydlk import nn

torch = pytest.importorskip("torch")


def _layers(lib):
    N = lib.nn
    return {
        "Linear": lambda: N.Linear(3, 4),
        "Bilinear": lambda: N.Bilinear(3, 2, 4),
        "Conv2d": lambda: N.Conv2d(2, 3, 3),
        "ConvTranspose2d": lambda: N.ConvTranspose2d(2, 3, 3),
        "BatchNorm1d": lambda: N.BatchNorm1d(4),
        "LayerNorm": lambda: N.LayerNorm(4),
        "GroupNorm": lambda: N.GroupNorm(2, 4),
        "Embedding": lambda: N.Embedding(5, 3),
        "LSTM": lambda: N.LSTM(3, 4),
        "GRUCell": lambda: N.GRUCell(3, 4),
        "MultiheadAttention": lambda: N.MultiheadAttention(8, 2),
        "TransformerEncoderLayer": lambda: N.TransformerEncoderLayer(8, 2, 16),
        "PReLU": lambda: N.PReLU(),
        "Parameter()": lambda: N.Parameter(),
    }


@pytest.mark.parametrize("name", list(_layers(pydlk)))
def test_parameters_take_the_default_dtype(name, float64_default):
    made = _layers(pydlk)[name]()
    ref = _layers(torch)[name]()
    tensors = [made] if name == "Parameter()" else list(made.parameters()) + list(made.buffers())
    refs = [ref] if name == "Parameter()" else list(ref.parameters()) + list(ref.buffers())
    assert len(tensors) == len(refs)
    for t, r in zip(tensors, refs):
        # float buffers follow the default dtype; counters (num_batches_tracked) stay int64
        assert str(t.dtype).split(".")[-1] == str(r.dtype).split(".")[-1], (name, t.dtype, r.dtype)
    float_ones = [t for t in tensors if np.dtype(t.dtype).kind == "f"]
    assert float_ones and all(np.dtype(t.dtype) == np.float64 for t in float_ones)


def test_a_float64_model_computes_in_float64(float64_default):
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.LayerNorm(5), nn.Linear(5, 1))
    x = pydlk.tensor(np.linspace(-1, 1, 6).reshape(2, 3))  # a Python-float tensor: float64 now
    y = model(x)
    assert x.dtype == pydlk.float64 and y.dtype == pydlk.float64
    y.sum().backward()
    assert all(p.grad.dtype == pydlk.float64 for p in model.parameters())
    # the first layer's output is x @ W^T + b, in float64 (no float32 rounding on the way)
    lin = model[0]
    expect = np.asarray(x.detach()) @ np.asarray(lin.weight.detach()).T + np.asarray(
        lin.bias.detach()
    )
    np.testing.assert_allclose(np.asarray(lin(x).detach()), expect, rtol=1e-15, atol=1e-15)


def test_explicit_dtype_still_wins(float64_default):
    assert nn.Linear(3, 4, dtype=pydlk.float32).weight.dtype == pydlk.float32
    assert nn.LSTM(3, 4, dtype=pydlk.float32).weight_ih_l0.dtype == pydlk.float32


def test_default_float32_unchanged():
    assert nn.Linear(3, 4).weight.dtype == pydlk.float32
    assert nn.MultiheadAttention(8, 2).in_proj_weight.dtype == pydlk.float32
