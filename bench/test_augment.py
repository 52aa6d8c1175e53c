"""Augmentation on a CIFAR-sized batch (256, 3, 32, 32): pydlk's Cython kernels against the same
transforms written in plain NumPy (per-sample Python loop, the way most people write them)."""

import numpy as np
import pytest

from pydlk.data import augment as A


@pytest.fixture
def batch(rng):
    return rng.random((256, 3, 32, 32)).astype(np.float32)


def np_crop_flip(x, rng, pad=4):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty_like(x)
    H, W = x.shape[2:]
    for n in range(len(x)):
        i, j = rng.integers(0, 2 * pad + 1, 2)
        img = xp[n, :, i : i + H, j : j + W]
        out[n] = img[:, :, ::-1] if rng.random() < 0.5 else img
    return out


def np_cutout(x, rng, size=8):
    out = x.copy()
    H, W = x.shape[2:]
    for n in range(len(x)):
        cy, cx = rng.integers(0, H), rng.integers(0, W)
        out[
            n,
            :,
            max(cy - size // 2, 0) : cy - size // 2 + size,
            max(cx - size // 2, 0) : cx - size // 2 + size,
        ] = 0
    return out


def test_pydlk_crop_flip(benchmark, batch):
    benchmark.group = "augment crop(pad 4)+flip 256x3x32x32"
    t = A.Compose([A.RandomCrop(padding=4), A.RandomHorizontalFlip()])
    g = np.random.default_rng(0)
    benchmark(t, batch, g)


def test_numpy_crop_flip(benchmark, batch):
    benchmark.group = "augment crop(pad 4)+flip 256x3x32x32"
    g = np.random.default_rng(0)
    benchmark(np_crop_flip, batch, g)


def test_pydlk_cutout(benchmark, batch):
    benchmark.group = "augment cutout 8 256x3x32x32"
    benchmark(A.Cutout(8), batch, np.random.default_rng(0))


def test_numpy_cutout(benchmark, batch):
    benchmark.group = "augment cutout 8 256x3x32x32"
    benchmark(np_cutout, batch, np.random.default_rng(0))


def test_pydlk_rotate(benchmark, batch):
    benchmark.group = "augment rotate 15deg 256x3x32x32"
    benchmark(A.RandomRotation(15), batch, np.random.default_rng(0))
