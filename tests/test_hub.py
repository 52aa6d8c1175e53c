"""pydlk.hub (torch.hub): checkpoints by URL into the shared cache, hubconf.py entry points from
a local directory or a GitHub archive, trust and hash checks. No network: URLs are file://
URLs of files the tests write, and the GitHub download is replaced by a copy of a local
archive; torch 2.13's hub is the oracle for the cache location and the loaded values."""

import hashlib
import io
import os
import zipfile

import numpy as np
import pytest

import pydlk
from pydlk import hub


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "_hub_dir", str(tmp_path / "hub"))
    return tmp_path / "hub"


def _torch_checkpoint(torch, path, rng):
    sd = {"w": torch.tensor(rng.standard_normal((3, 2))), "b": torch.arange(4)}
    torch.save(sd, path)
    return sd


def test_get_dir_follows_torch_home_like_torch(monkeypatch, tmp_path):
    torch = pytest.importorskip("torch")
    for env in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "x")}):
        monkeypatch.delenv("TORCH_HOME", raising=False)
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert hub.get_dir() == torch.hub.get_dir()
    hub.set_dir(tmp_path / "mine")
    try:
        assert hub.get_dir() == str(tmp_path / "mine")
    finally:
        monkeypatch.setattr(hub, "_hub_dir", None)


def test_load_state_dict_from_url_downloads_once_and_matches_torch(rng, tmp_path, hub_dir):
    torch = pytest.importorskip("torch")
    src = tmp_path / "weights.pth"
    sd = _torch_checkpoint(torch, src, rng)
    url = src.as_uri()
    got = hub.load_state_dict_from_url(url, progress=False)
    cached = hub_dir / "checkpoints" / "weights.pth"
    assert cached.exists() and cached.read_bytes() == src.read_bytes()
    theirs = torch.hub.load_state_dict_from_url(url, model_dir=str(tmp_path / "t"), progress=False)
    assert set(got) == set(sd) == set(theirs)
    for k in sd:
        assert isinstance(got[k], pydlk.Tensor)
        np.testing.assert_array_equal(got[k].numpy(), theirs[k].numpy())
    os.remove(src)  # the cached copy is used from now on, without reading the URL
    again = hub.load_state_dict_from_url(url, progress=False)
    np.testing.assert_array_equal(again["w"].numpy(), sd["w"].numpy())
    with pytest.raises(OSError):  # not cached there, and the source is gone
        hub.load_state_dict_from_url(url, model_dir=str(tmp_path / "elsewhere"), progress=False)
    assert os.listdir(tmp_path / "elsewhere") == []  # no partial file left


def test_check_hash_uses_the_prefix_in_the_file_name(rng, tmp_path, hub_dir):
    torch = pytest.importorskip("torch")
    data = tmp_path / "data.pth"
    _torch_checkpoint(torch, data, rng)
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    good = tmp_path / f"net-{digest[:8]}.pth"
    bad = tmp_path / "net-deadbeef.pth"
    good.write_bytes(data.read_bytes())
    bad.write_bytes(data.read_bytes())
    out = hub.load_state_dict_from_url(good.as_uri(), check_hash=True, progress=False)
    assert set(out) == {"w", "b"}
    with pytest.raises(RuntimeError, match=r'invalid hash value \(expected "deadbeef"'):
        hub.load_state_dict_from_url(bad.as_uri(), check_hash=True, progress=False)
    assert not (hub_dir / "checkpoints" / bad.name).exists()  # nothing half-checked is kept
    assert not [p for p in os.listdir(hub_dir / "checkpoints") if p.startswith(".")]


def test_download_url_to_file_is_atomic_and_uses_the_umask(tmp_path):
    src = tmp_path / "blob.bin"
    src.write_bytes(os.urandom(100_000))
    dst = tmp_path / "out" / "blob.bin"
    old = os.umask(0o027)
    try:
        hub.download_url_to_file(src.as_uri(), str(dst), progress=False)
    finally:
        os.umask(old)
    assert dst.read_bytes() == src.read_bytes()
    assert (dst.stat().st_mode & 0o777) == 0o640
    dst.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="invalid hash value"):
        hub.download_url_to_file(src.as_uri(), str(dst), hash_prefix="00000000", progress=False)
    assert dst.read_bytes() == b"old"  # a failed download leaves the old file


def _write_repo(d, dependencies=("numpy",)):
    d.mkdir(parents=True, exist_ok=True)
    (d / "helpers.py").write_text("SCALE = 3\n")
    (d / "hubconf.py").write_text(
        f"dependencies = {list(dependencies)!r}\n"
        "import pydlk\n"
        "from helpers import SCALE\n"
        "def tiny(out_features=2, scale=1):\n"
        '    """A Linear layer from hubconf."""\n'
        "    m = pydlk.nn.Linear(3, out_features)\n"
        "    m.scale = scale * SCALE\n"
        "    return m\n"
        "def _private():\n"
        "    return None\n"
    )


def test_local_hubconf_entry_points(tmp_path):
    repo = tmp_path / "repo"
    _write_repo(repo)
    m = hub.load(str(repo), "tiny", 4, source="local", scale=2)
    assert isinstance(m, pydlk.nn.Linear) and m.out_features == 4 and m.scale == 6
    with pytest.raises(RuntimeError, match="Cannot find callable missing in hubconf"):
        hub.load(str(repo), "missing", source="local")
    with pytest.raises(ValueError, match='Unknown source: "ftp"'):
        hub.load(str(repo), "tiny", source="ftp")
    _write_repo(tmp_path / "needy", dependencies=("numpy", "no_such_module_xyz"))
    with pytest.raises(RuntimeError, match="Missing dependencies: no_such_module_xyz"):
        hub.load(str(tmp_path / "needy"), "tiny", source="local")


def test_github_archive_is_fetched_once_and_trust_is_recorded(tmp_path, hub_dir, monkeypatch):
    src = tmp_path / "src" / "someone-repo-abc123"
    _write_repo(src)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("hubconf.py", "helpers.py"):
            z.write(src / name, f"someone-repo-abc123/{name}")
    fetched = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        fetched.append(url)
        with open(dst, "wb") as f:
            f.write(archive.getvalue())

    monkeypatch.setattr(hub, "download_url_to_file", fake_download)
    with pytest.warns(UserWarning, match="untrusted repository"):
        names = hub.list("someone/repo:v1", trust_repo=None)
    assert names == ["tiny"]
    assert fetched == ["https://github.com/someone/repo/zipball/v1"]
    assert (hub_dir / "someone_repo_v1" / "hubconf.py").exists()
    m = hub.load("someone/repo:v1", "tiny", trust_repo=True, verbose=False)
    assert isinstance(m, pydlk.nn.Linear) and len(fetched) == 1  # the cached copy
    assert "someone_repo_v1" in (hub_dir / "trusted_list").read_text().split()
    assert hub.help("someone/repo:v1", "tiny") == "A Linear layer from hubconf."
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    with pytest.raises(Exception, match="Untrusted repository"):
        hub.load("other/repo", "tiny", trust_repo="check")
    with pytest.raises(ValueError, match="owner/name"):
        hub.load("not-a-repo", "tiny", trust_repo=True)


def test_archive_entries_outside_the_hub_dir_are_refused(tmp_path, hub_dir, monkeypatch):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("evil-repo-1/hubconf.py", "x = 1\n")
        z.writestr("../outside.py", "x = 1\n")

    def fake_download(url, dst, hash_prefix=None, progress=True):
        with open(dst, "wb") as f:
            f.write(archive.getvalue())

    monkeypatch.setattr(hub, "download_url_to_file", fake_download)
    with pytest.raises(ValueError, match="escapes"):
        hub.load("evil/repo", "x", trust_repo=True)
    assert not (tmp_path / "outside.py").exists()
