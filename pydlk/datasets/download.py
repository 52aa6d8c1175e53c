"""Fetch a file once: progress bar (tqdm), checksum verification, atomic placement.

A partial or corrupt download never takes the final name: bytes go to a temporary file in the
target directory (``atomic_write``), hashed as they arrive, and only a file with the right
checksum is renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from .._atomic import atomic_write
from .._typing import StrPath

_Path = TypeVar("_Path", str, os.PathLike[str])  # download returns the path it was given


def file_digest(path: StrPath, algorithm: str = "md5") -> str:
    """The hex digest of a file's bytes with ``algorithm`` (any ``hashlib`` name; md5 default)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(
    url: str,
    path: StrPath,
    algorithm: str = "md5",
    check: Callable[[str], None] | None = None,
    progress: bool = True,
    timeout: float = 60,
) -> str:
    """Download ``url`` to ``path`` atomically (the parent directory made if needed), hashing
    the bytes with ``algorithm`` as they arrive; ``check(hexdigest)`` runs before the file takes
    its name, and raising there discards it (whatever was at ``path`` stays). Returns the
    digest."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    h = hashlib.new(algorithm)
    req = urllib.request.Request(url, headers={"User-Agent": "pydlk"})
    with atomic_write(path) as f, urllib.request.urlopen(req, timeout=timeout) as r:
        total = int(r.headers.get("Content-Length") or 0) or None
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(
                total=total, unit="B", unit_scale=True, desc=os.path.basename(path), leave=False
            )
        try:
            for chunk in iter(lambda: r.read(1 << 16), b""):
                f.write(chunk)
                h.update(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        if check is not None:
            check(h.hexdigest())
    return h.hexdigest()


def download(
    url: str, path: _Path, md5: str | None = None, progress: bool = True, timeout: float = 60
) -> _Path:
    """Download ``url`` to ``path`` unless a file with the right checksum is already there."""
    if os.path.exists(path) and (md5 is None or file_digest(path) == md5):
        return path

    def check(digest: str) -> None:
        if md5 is not None and digest != md5:  # raising here discards the download
            raise RuntimeError(
                f"download: {url} has md5 {digest}, expected {md5}; the file was not kept"
            )

    fetch(url, path, "md5", check, progress, timeout)
    return path
