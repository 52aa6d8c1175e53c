"""MNIST and Fashion-MNIST from their IDX files (gzip-compressed or not), optionally downloaded.

IDX: a big-endian header (two zero bytes, a type code 0x08 for unsigned bytes, the number of
dimensions, then each dimension as uint32) followed by the data.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Mapping

import numpy as np

from .._typing import StrPath
from .download import download

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


def read_idx(path: StrPath) -> np.ndarray:
    """An IDX file (plain or .gz; a str or path-like) as a uint8 array of the shape its
    header gives."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"read_idx: {path} is not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise ValueError(
            f"read_idx: {path} has data type 0x{raw[2]:02x}; only unsigned bytes "
            "(0x08) are supported"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"read_idx: {path} is cut short: {len(raw)} bytes, its {ndim}-dimension header needs "
            f"{header}"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise ValueError(
            f"read_idx: {path} holds {len(raw)} bytes, its header {dims} needs {expected}"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _find(root: StrPath, stem: str) -> str | None:
    for name in (stem + ".gz", stem):
        p = os.path.join(root, name)
        if os.path.exists(p):
            return p
    return None


def _load(
    root: StrPath, split: str, download_: bool, url: str, md5s: Mapping[str, str], name: str
) -> tuple[np.ndarray, np.ndarray]:
    if split not in _FILES:
        raise ValueError(f"{name}: split must be 'train' or 'test', got {split!r}")
    paths = []
    for stem in _FILES[split]:
        p = _find(root, stem)
        if p is None and download_:
            fname = stem + ".gz"
            p = download(url + fname, os.path.join(root, fname), md5s.get(fname))
        if p is None:
            raise FileNotFoundError(
                f"{name}: {stem}(.gz) not found in {root}; pass download=True to fetch it"
            )
        paths.append(p)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{name}: images {images.shape} and labels {labels.shape} do not match")
    x = (images.astype(np.float32) / 255.0)[:, None]
    return np.ascontiguousarray(x), labels.astype(np.int64)


def mnist(
    root: StrPath,
    split: str = "train",
    download: bool = False,
    url: str = MNIST_URL,
    md5: Mapping[str, str] | None = MNIST_MD5,
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: float32 (N, 1, 28, 28) in [0, 1], int64 (N,). Files are looked
    for in ``root`` (``train-images-idx3-ubyte[.gz]`` ...); with ``download`` missing ones are
    fetched from ``url`` and checked against ``md5`` (a dict by file name; None skips the check)."""
    return _load(root, split, download, url, md5 or {}, "mnist")


def fashion_mnist(
    root: StrPath,
    split: str = "train",
    download: bool = False,
    url: str = FASHION_URL,
    md5: Mapping[str, str] | None = FASHION_MD5,
) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST, same format, layout and arguments as ``mnist``."""
    return _load(root, split, download, url, md5 or {}, "fashion_mnist")
