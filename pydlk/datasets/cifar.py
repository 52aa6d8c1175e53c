"""CIFAR-10 from its binary batches (``cifar-10-batches-bin``), optionally downloaded.

Each record is 1 label byte then 3072 pixel bytes: the 1024 red, 1024 green and 1024 blue
values of a 32x32 image, row-major, so a record reshapes straight to (3, 32, 32) NCHW.
"""

from __future__ import annotations

import os
import tarfile

import numpy as np

from .._typing import StrPath
from .download import download as fetch

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # as listed on the CIFAR-10 page
_RECORD = 1 + 3 * 32 * 32
_BATCHES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def read_cifar_batch(path: StrPath) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch file: (images (N, 3, 32, 32) uint8, labels (N,) int64).
    Raises ValueError for a file that is not whole 3073-byte records or has a label > 9.
    """
    raw = np.fromfile(path, np.uint8)
    if raw.size == 0 or raw.size % _RECORD:
        raise ValueError(
            f"read_cifar_batch: {path} has {raw.size} bytes, not a whole number of "
            f"{_RECORD}-byte records"
        )
    rec = raw.reshape(-1, _RECORD)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise ValueError(f"read_cifar_batch: {path} has label {labels.max()}, CIFAR-10 has 0..9")
    return rec[:, 1:].reshape(-1, 3, 32, 32), labels


def _safe_extract(archive: StrPath, dest: StrPath) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        root = os.path.realpath(dest)
        for m in tar.getmembers():
            target = os.path.realpath(os.path.join(dest, m.name))
            if not target.startswith(root + os.sep) or not (m.isfile() or m.isdir()):
                raise ValueError(f"cifar10: refusing archive member {m.name!r}")
        tar.extractall(dest)


def cifar10(
    root: StrPath,
    split: str = "train",
    download: bool = False,
    url: str = CIFAR10_URL,
    md5: str | None = CIFAR10_MD5,
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: float32 (N, 3, 32, 32) in [0, 1], int64 (N,). ``root`` holds
    ``cifar-10-batches-bin/`` (or is it), or ``cifar-10-binary.tar.gz`` to unpack."""
    if split not in _BATCHES:
        raise ValueError(f"cifar10: split must be 'train' or 'test', got {split!r}")
    folder = (
        root
        if os.path.exists(os.path.join(root, _BATCHES[split][0]))
        else os.path.join(root, "cifar-10-batches-bin")
    )
    if not os.path.isdir(folder):
        archive = os.path.join(root, "cifar-10-binary.tar.gz")
        if not os.path.exists(archive) and download:
            fetch(url, archive, md5)
        if not os.path.exists(archive):
            raise FileNotFoundError(
                f"cifar10: no cifar-10-batches-bin/ or cifar-10-binary.tar.gz "
                f"in {root}; pass download=True to fetch it"
            )
        _safe_extract(archive, root)
    xs, ys = zip(*(read_cifar_batch(os.path.join(folder, b)) for b in _BATCHES[split]))
    x = np.concatenate(xs).astype(np.float32) / 255.0
    return np.ascontiguousarray(x), np.concatenate(ys)
