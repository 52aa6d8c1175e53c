"""The 8x8 handwritten digits bundled with pydlk (UCI Optical Recognition of Handwritten Digits,
CC BY 4.0; see data/README.md for attribution).

Split: a fixed permutation (NumPy PCG64, seed 0) of the 1797 samples; the first 1257 (70%) are
the training set, the next 270 (15%) validation, the last 270 (15%) test. The split never changes
with ``pydlk.manual_seed``.
"""

from __future__ import annotations

import gzip
import hashlib
import os

import numpy as np

_PATH = os.path.join(os.path.dirname(__file__), "data", "digits.csv.gz")
_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
SPLITS = {"train": (0, 1257), "val": (1257, 1527), "test": (1527, 1797)}


def _load_all() -> tuple[np.ndarray, np.ndarray]:
    with open(_PATH, "rb") as f:
        raw = f.read()
    if hashlib.sha256(raw).hexdigest() != _SHA256:
        raise RuntimeError(f"digits: {_PATH} is damaged (sha256 mismatch); reinstall pydlk")
    table = np.loadtxt(gzip.decompress(raw).decode().splitlines(), delimiter=",", dtype=np.int64)
    return table[:, :64], table[:, 64]


def digits(split: str = "train", scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: images float32 (n, 1, 8, 8), labels int64 (n,).

    ``split`` is 'train', 'val', 'test' or 'all'. With ``scale`` the pixels (0..16) are divided
    by 16, so they lie in [0, 1].
    """
    if split not in SPLITS and split != "all":
        raise ValueError(
            f"digits: split must be one of 'train', 'val', 'test', 'all', got {split!r}"
        )
    pixels, labels = _load_all()
    order = np.random.default_rng(0).permutation(len(labels))
    if split != "all":
        lo, hi = SPLITS[split]
        order = order[lo:hi]
    x = pixels[order].reshape(-1, 1, 8, 8).astype(np.float32)
    if scale:
        x /= 16.0
    return np.ascontiguousarray(x), labels[order].copy()
