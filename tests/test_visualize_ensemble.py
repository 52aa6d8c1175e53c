"""Activation histograms and filter grids (PNG written, right content) and model ensembles."""

import matplotlib
import matplotlib.image
import numpy as np
import pytest

import pydlk
from pydlk import nn
from pydlk.ensemble import Ensemble
from pydlk.visualize import activation_histograms, filter_grid


def _mlp(seed):
    pydlk.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))


def test_activation_histograms(tmp_path, rng):
    backend = matplotlib.get_backend()
    m = _mlp(0)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    path = tmp_path / "acts.png"
    acts = activation_histograms(m, x, path)
    assert list(acts) == ["1", "3"]
    h = np.maximum(x @ m[0].weight.detach().numpy().T + m[0].bias.detach().numpy(), 0)
    np.testing.assert_allclose(acts["1"], h, rtol=1e-5, atol=1e-6)
    assert path.stat().st_size > 5000
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 200
    assert img[..., :3].std() > 0.05  # not a blank image
    assert matplotlib.get_backend() == backend
    chosen = activation_histograms(m, x, tmp_path / "one.png", layers=["2"])
    assert list(chosen) == ["2"]
    with pytest.raises(ValueError, match="activation_histograms: no module named"):
        activation_histograms(m, x, tmp_path / "x.png", layers=["nope"])


def test_filter_grid(tmp_path, rng):
    w = rng.standard_normal((10, 3, 5, 5))
    grid = filter_grid(w, tmp_path / "f.png")
    assert grid.shape == (3 * 6 + 1, 4 * 6 + 1, 3)
    tile = grid[1:6, 1 + 6 : 1 + 6 + 5]  # filter 1 at row 0, column 1
    ref = (w[1] - w[1].min()) / (w[1].max() - w[1].min())
    np.testing.assert_allclose(tile, ref.transpose(1, 2, 0))
    assert tile.min() == 0 and tile.max() == 1
    img = matplotlib.image.imread(tmp_path / "f.png")
    assert img.shape[0] >= 150 and (tmp_path / "f.png").stat().st_size > 2000
    g1 = filter_grid(rng.standard_normal((4, 1, 3, 3)), tmp_path / "g.png")
    assert g1.shape == (2 * 4 + 1, 2 * 4 + 1, 3)
    with pytest.raises(ValueError, match="filter_grid: weight"):
        filter_grid(w[0], tmp_path / "h.png")


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_ensemble_average(rng):
    models = [_mlp(s) for s in range(3)]
    x = rng.standard_normal((5, 6)).astype(np.float32)
    outs = [m(x).detach().numpy().astype(np.float64) for m in models]
    e = Ensemble(models)
    np.testing.assert_allclose(
        e(x).detach().numpy(), np.mean([_softmax(o) for o in outs], 0), rtol=1e-5
    )
    e = Ensemble(models, weights=[1, 2, 1], average="logits")
    np.testing.assert_allclose(
        e(x).detach().numpy(), (outs[0] + 2 * outs[1] + outs[2]) / 4, rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="Ensemble: weights"):
        Ensemble(models, weights=[1, 2])
    with pytest.raises(ValueError, match="Ensemble: average"):
        Ensemble(models, average="votes")


def test_ensemble_from_checkpoints(tmp_path, rng):
    models = [_mlp(s) for s in range(2)]
    pydlk.save(models[0].state_dict(), tmp_path / "a.npz")
    pydlk.save({"epoch": 3, "model": models[1].state_dict()}, tmp_path / "b.npz")
    e = Ensemble.from_checkpoints(lambda: _mlp(99), [tmp_path / "a.npz", tmp_path / "b.npz"])
    x = rng.standard_normal((4, 6)).astype(np.float32)
    ref = np.mean([_softmax(m(x).detach().numpy()) for m in models], 0)
    np.testing.assert_allclose(e(x).detach().numpy(), ref, rtol=1e-5)


def test_ensemble_models_changed_after_construction(rng):
    # the weights are fixed at construction: an appended model was silently dropped by zip,
    # and deleting every model made forward return None
    x = rng.standard_normal((2, 6)).astype(np.float32)
    e = Ensemble([_mlp(0)])
    e.models.append(_mlp(1))
    with pytest.raises(ValueError, match="Ensemble: 2 models but 1 weights"):
        e(x)
    e = Ensemble([_mlp(0)])
    del e.models[0]
    with pytest.raises(ValueError, match="Ensemble: 0 models but 1 weights"):
        e(x)
