"""Dataset loaders: the bundled digits, and MNIST/Fashion-MNIST/CIFAR-10 from files the tests
write in the exact formats, served for download=True by a loopback HTTP server."""

import functools
import gzip
import hashlib
import http.server
import io
import os
import tarfile
import threading

import numpy as np
import pytest

from pydlk.datasets import cifar10, digits, fashion_mnist, mnist
from pydlk.datasets.mnist import read_idx


def test_digits_split_is_fixed_and_disjoint():
    parts = {s: digits(s) for s in ("train", "val", "test")}
    assert [len(parts[s][1]) for s in ("train", "val", "test")] == [1257, 270, 270]
    x, y = parts["train"]
    assert x.dtype == np.float32 and x.shape[1:] == (1, 8, 8) and y.dtype == np.int64
    assert 0 <= x.min() and x.max() <= 1 and set(np.unique(y)) == set(range(10))
    allx, ally = digits("all", scale=False)
    assert allx.shape == (1797, 1, 8, 8) and allx.max() == 16
    # the three splits do not overlap (no image appears in two of them)
    seen = set()
    for s in ("train", "val", "test"):
        xs, ys = parts[s]
        keys = {xx.tobytes() + bytes([int(l)]) for xx, l in zip(xs, ys)}
        assert not (keys & seen)
        seen |= keys
    np.testing.assert_array_equal(digits("train")[1], y)  # same split every call
    with pytest.raises(ValueError, match="split"):
        digits("bogus")


def _idx(array):
    a = np.asarray(array, np.uint8)
    return (
        bytes([0, 0, 8, a.ndim])
        + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
        + a.tobytes()
    )


@pytest.fixture
def idx_files(tmp_path, rng):
    imgs = {
        s: rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        for s, n in (("train", 7), ("test", 3))
    }
    labels = {s: rng.integers(0, 10, len(imgs[s])).astype(np.uint8) for s in imgs}
    files = {}
    for s, stem in (("train", "train"), ("test", "t10k")):
        files[f"{stem}-images-idx3-ubyte.gz"] = gzip.compress(_idx(imgs[s]))
        files[f"{stem}-labels-idx1-ubyte.gz"] = gzip.compress(_idx(labels[s]))
    return imgs, labels, files


def test_read_idx_and_mnist_from_directory(tmp_path, idx_files):
    imgs, labels, files = idx_files
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    for split in ("train", "test"):
        x, y = mnist(str(tmp_path), split)
        assert x.shape == (len(imgs[split]), 1, 28, 28) and x.dtype == np.float32
        np.testing.assert_allclose(x[:, 0], imgs[split] / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(y, labels[split])
    x2, _ = fashion_mnist(str(tmp_path), "test")
    assert x2.shape == (3, 1, 28, 28)


def test_read_idx_rejects_bad_files(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x01\x02\x08\x01" + (5).to_bytes(4, "big") + b"abcde")
    with pytest.raises(ValueError, match="magic"):
        read_idx(str(p))
    p.write_bytes(b"\x00\x00\x08\x01" + (6).to_bytes(4, "big") + b"abcde")
    with pytest.raises(ValueError, match="needs"):
        read_idx(str(p))
    p.write_bytes(b"\x00\x00\x08\x03" + (6).to_bytes(4, "big"))  # header cut short
    with pytest.raises(ValueError, match=r"read_idx: .*bad is cut short: 8 bytes.*needs 16"):
        read_idx(str(p))
    with pytest.raises(FileNotFoundError, match="download=True"):
        mnist(str(tmp_path / "empty"), "train")


def test_read_idx_takes_a_path_object(tmp_path):
    p = tmp_path / "ok.idx"
    p.write_bytes(b"\x00\x00\x08\x02" + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + b"abcdef")
    np.testing.assert_array_equal(read_idx(p), np.frombuffer(b"abcdef", np.uint8).reshape(2, 3))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve(tmp_path):
    """Serve a directory on 127.0.0.1 (an ephemeral port) for the duration of a test."""

    def start(directory):
        handler = functools.partial(_Quiet, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    servers = []
    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_mnist_download_verifies_checksums(tmp_path, idx_files, serve):
    imgs, labels, files = idx_files
    site = tmp_path / "site"
    site.mkdir()
    for name, data in files.items():
        (site / name).write_bytes(data)
    md5 = {n: hashlib.md5(d).hexdigest() for n, d in files.items()}
    url = serve(site)
    root = tmp_path / "data"
    x, y = mnist(str(root), "train", download=True, url=url, md5=md5)
    np.testing.assert_array_equal(y, labels["train"])
    assert sorted(os.listdir(root)) == sorted(n for n in files if n.startswith("train"))
    # a wrong checksum: refused, and no file left behind under the final name
    bad = dict(md5, **{"t10k-images-idx3-ubyte.gz": "0" * 32})
    with pytest.raises(RuntimeError, match="md5"):
        mnist(str(root), "test", download=True, url=url, md5=bad)
    assert not any(n.startswith("t10k-images") for n in os.listdir(root))


def _cifar_tar(rng, n_train=4, n_test=2):
    members, data = {}, {}
    for name, n in [(f"data_batch_{i}.bin", n_train) for i in range(1, 6)] + [
        ("test_batch.bin", n_test)
    ]:
        labels = rng.integers(0, 10, n).astype(np.uint8)
        pix = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
        members[name] = np.concatenate([labels[:, None], pix.reshape(n, -1)], 1).tobytes()
        data[name] = (pix, labels)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue(), data


def test_cifar10_download_extract_and_layout(tmp_path, rng, serve):
    archive, data = _cifar_tar(rng)
    site = tmp_path / "site"
    site.mkdir()
    (site / "cifar-10-binary.tar.gz").write_bytes(archive)
    url = serve(site) + "cifar-10-binary.tar.gz"
    root = tmp_path / "c10"
    x, y = cifar10(str(root), "test", download=True, url=url, md5=hashlib.md5(archive).hexdigest())
    pix, labels = data["test_batch.bin"]
    assert x.shape == (2, 3, 32, 32) and x.dtype == np.float32
    np.testing.assert_allclose(x, pix / 255.0, rtol=1e-6)  # R, G, B planes in NCHW order
    np.testing.assert_array_equal(y, labels)
    xt, yt = cifar10(str(root), "train")  # now from the extracted folder, no download
    assert xt.shape == (20, 3, 32, 32)
    np.testing.assert_array_equal(yt[:4], data["data_batch_1.bin"][1])


def test_cifar10_refuses_unsafe_archive_and_bad_checksum(tmp_path, rng, serve):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.bin")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="refusing"):
        cifar10(str(tmp_path), "train")
    site = tmp_path / "site"
    site.mkdir()
    (site / "cifar-10-binary.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(RuntimeError, match="md5"):
        cifar10(
            str(tmp_path / "other"),
            "train",
            download=True,
            url=serve(site) + "cifar-10-binary.tar.gz",
        )
