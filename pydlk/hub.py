"""torch.hub: pretrained weights by URL and models from a repository's ``hubconf.py``.

``load_state_dict_from_url(url)`` downloads a checkpoint once into ``get_dir()/checkpoints`` and
loads it with ``pydlk.load`` (torch's ``.pt``/``.pth`` files read without running their code).
``load``/``list``/``help`` take a local directory (``source='local'``) or a GitHub repository
``'owner/name[:ref]'`` (its archive is downloaded once into ``get_dir()``) holding a
``hubconf.py`` whose public callables are the entry points, and whose optional
``dependencies`` list names the modules it needs.

The cache is torch's own: ``set_dir``, else ``$TORCH_HOME/hub``, else
``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``, so weights torch already downloaded
are found offline. Downloads are written atomically (a partial file never takes the name);
``check_hash`` compares the file's SHA-256 with the hex prefix in its name
(``name-<sha256 prefix>.ext``), as torch's.

A GitHub repository runs its own Python code: as torch, repositories are trusted per
``trust_repo`` (``'check'``: ask once unless listed in ``get_dir()/trusted_list`` or owned by
pytorch/facebookresearch; ``True``: add to the list; ``False``: always ask; ``None``: warn).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import sys
import urllib.parse
import warnings
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "download_url_to_file",
    "get_dir",
    "help",
    "list",
    "load",
    "load_state_dict_from_url",
    "set_dir",
]

_builtin_list = list
_hub_dir: str | None = None
_HASH = re.compile(r"-([a-f0-9]*)\.")  # the SHA-256 prefix in "resnet18-f37072fd.pth"
_TRUSTED_OWNERS = ("facebookresearch", "facebookincubator", "pytorch", "fairinternal")


def get_dir() -> str:
    """The hub cache directory (see the module docstring for the order it is chosen in)."""
    if _hub_dir is not None:
        return _hub_dir
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")), "torch"
    )
    return os.path.join(os.path.expanduser(home), "hub")


def set_dir(d: str | os.PathLike[str]) -> None:
    """Use ``d`` as the hub cache directory from now on."""
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))


def download_url_to_file(
    url: str, dst: str, hash_prefix: str | None = None, progress: bool = True
) -> None:
    """Download ``url`` to ``dst`` atomically; with ``hash_prefix`` the file's SHA-256 must start
    with it, else RuntimeError and ``dst`` is not written."""
    from .datasets.download import fetch

    def check(digest: str) -> None:
        if hash_prefix is not None and not digest.startswith(hash_prefix):
            raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "{digest}")')

    fetch(url, os.path.expanduser(dst), "sha256", check, progress)


def load_state_dict_from_url(
    url: str,
    model_dir: str | None = None,
    map_location: Any = None,
    progress: bool = True,
    check_hash: bool = False,
    file_name: str | None = None,
    weights_only: bool = False,
) -> Any:
    """The object saved at ``url`` (a state dict, usually), downloaded once into ``model_dir``
    (``get_dir()/checkpoints``) as ``file_name`` (the URL's last path part) and loaded with
    ``pydlk.load(file, map_location, weights_only)``. An existing file is used without any
    network access. ``check_hash``: see ``download_url_to_file`` (the prefix comes from the
    file name)."""
    from .serialization import load as _load

    model_dir = os.path.expanduser(model_dir or os.path.join(get_dir(), "checkpoints"))
    os.makedirs(model_dir, exist_ok=True)
    name = file_name or os.path.basename(urllib.parse.urlparse(url).path)
    if not name:
        raise ValueError(f"load_state_dict_from_url: no file name in {url!r}; pass file_name=")
    cached = os.path.join(model_dir, name)
    if not os.path.exists(cached):
        sys.stderr.write(f'Downloading: "{url}" to {cached}\n')
        m = _HASH.search(name) if check_hash else None
        download_url_to_file(url, cached, m.group(1) if m else None, progress=progress)
    return _load(cached, map_location=map_location, weights_only=weights_only)


# ----------------------------------------------------------------------------- hubconf.py


@contextlib.contextmanager
def _on_path(d: str) -> Iterator[None]:
    sys.path.insert(0, d)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(d)


def _hubconf(repo_dir: str) -> Any:
    path = os.path.join(repo_dir, "hubconf.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"hub: no hubconf.py in {repo_dir}")
    with _on_path(repo_dir):
        spec = importlib.util.spec_from_file_location("hubconf", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    missing = [
        d for d in getattr(module, "dependencies", []) if importlib.util.find_spec(d) is None
    ]
    if missing:
        raise RuntimeError(f"Missing dependencies: {', '.join(missing)}")
    return module


def _entry(module: Any, model: str) -> Callable[..., Any]:
    if not isinstance(model, str):
        raise ValueError("Invalid input: model should be a string of function name")
    fn = getattr(module, model, None)
    if fn is None or not callable(fn):
        raise RuntimeError(f"Cannot find callable {model} in hubconf")
    return fn


def _parse_repo(github: str) -> tuple[str, str, str]:
    if ":" in github:
        repo, ref = github.split(":", 1)
    else:
        repo, ref = github, "main"
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"hub: repository must be 'owner/name[:ref]', got {github!r}")
    return parts[0], parts[1], ref


def _check_trusted(owner: str, name: str, folder: str, trust_repo: Any) -> None:
    listed = os.path.join(get_dir(), "trusted_list")
    trusted = set()
    if os.path.exists(listed):
        with open(listed) as f:
            trusted = {line.strip() for line in f}
    known = folder in trusted or owner in _TRUSTED_OWNERS
    if trust_repo is None:
        if not known:
            warnings.warn(
                "You are about to download and run code from an untrusted repository. In a "
                "future release, this won't be allowed. To add the repository to your trusted "
                "list, pass trust_repo=False (a prompt asks for an explicit confirmation of "
                "trust) or trust_repo=True (the prompt is assumed answered with 'yes').",
                stacklevel=3,
            )
        return
    if trust_repo is False or (trust_repo == "check" and not known):
        answer = input(
            f"The repository {owner}/{name} does not belong to the list of trusted "
            "repositories and as such cannot be downloaded. Do you trust this repository and "
            "wish to add it to the trusted list of repositories (y/N)?"
        )
        if answer.strip().lower() not in ("y", "yes"):
            raise Exception("Untrusted repository.")
    if not known or trust_repo is True:
        os.makedirs(get_dir(), exist_ok=True)
        with open(listed, "a") as f:
            f.write(folder + "\n")


def _repo_dir(github: str, force_reload: bool, trust_repo: Any, verbose: bool) -> str:
    """The local copy of a GitHub repository, downloaded and unpacked once into get_dir()."""
    owner, name, ref = _parse_repo(github)
    folder = "_".join([owner, name, ref.replace("/", "_")])
    hub_dir = get_dir()
    repo_dir = os.path.join(hub_dir, folder)
    _check_trusted(owner, name, folder, trust_repo)
    if not force_reload and os.path.exists(repo_dir):
        if verbose:
            sys.stderr.write(f"Using cache found in {repo_dir}\n")
        return repo_dir
    os.makedirs(hub_dir, exist_ok=True)
    archive = os.path.join(hub_dir, ref.replace("/", "_") + ".zip")
    url = f"https://github.com/{owner}/{name}/zipball/{ref}"
    sys.stderr.write(f'Downloading: "{url}" to {archive}\n')
    download_url_to_file(url, archive, progress=False)
    try:
        with zipfile.ZipFile(archive) as z:
            top = z.infolist()[0].filename.split("/")[0]
            root = os.path.realpath(hub_dir)
            for member in z.namelist():  # refuse entries that would land outside hub_dir
                target = os.path.realpath(os.path.join(hub_dir, member))
                if os.path.commonpath([root, target]) != root:
                    raise ValueError(f"hub: archive entry {member!r} escapes {hub_dir}")
            shutil.rmtree(os.path.join(hub_dir, top), ignore_errors=True)
            z.extractall(hub_dir)
    finally:
        os.remove(archive)
    shutil.rmtree(repo_dir, ignore_errors=True)
    shutil.move(os.path.join(hub_dir, top), repo_dir)
    return repo_dir


def _resolve(
    repo_or_dir: str, source: str, force_reload: bool, trust_repo: Any, verbose: bool
) -> str:
    if source not in ("github", "local"):
        raise ValueError(f'Unknown source: "{source}". Allowed values: "github" | "local".')
    if source == "local":
        return os.path.expanduser(repo_or_dir)
    return _repo_dir(repo_or_dir, force_reload, trust_repo, verbose)


def list(  # noqa: A001  (torch.hub.list)
    github: str,
    force_reload: bool = False,
    skip_validation: bool = False,
    trust_repo: Any = "check",
    verbose: bool = True,
) -> _builtin_list[str]:
    """The entry points (public callables) of a GitHub repository's ``hubconf.py``."""
    module = _hubconf(_repo_dir(github, force_reload, trust_repo, verbose))
    return [n for n in dir(module) if callable(getattr(module, n)) and not n.startswith("_")]


def help(  # noqa: A001  (torch.hub.help)
    github: str,
    model: str,
    force_reload: bool = False,
    skip_validation: bool = False,
    trust_repo: Any = "check",
) -> str | None:
    """The docstring of entry point ``model`` of a GitHub repository's ``hubconf.py``."""
    return _entry(_hubconf(_repo_dir(github, force_reload, trust_repo, True)), model).__doc__


def load(
    repo_or_dir: str,
    model: str,
    *args: Any,
    source: str = "github",
    trust_repo: Any = "check",
    force_reload: bool = False,
    verbose: bool = True,
    skip_validation: bool = False,
    **kwargs: Any,
) -> Any:
    """``hubconf.model(*args, **kwargs)`` from a GitHub repository (``'owner/name[:ref]'``) or,
    with ``source='local'``, a directory. ``skip_validation`` is accepted for torch's
    signature (no GitHub API call is made to validate the ref)."""
    repo_dir = _resolve(repo_or_dir, source, force_reload, trust_repo, verbose)
    with _on_path(repo_dir):
        return _entry(_hubconf(repo_dir), model)(*args, **kwargs)
