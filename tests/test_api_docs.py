"""The API reference (mkdocs.yml, docs/api/*.md) builds with ``mkdocs build --strict``, so a
docstring that does not render, or a page that names a missing object, fails here; and every
public callable of a namespace the reference shows is on one of its pages.

Needs the ``docs`` tools (mkdocs, mkdocstrings[python]; in the ``test`` and ``docs`` extras).
Skipped where they are absent, except under CI (``CI`` set, as tests/test_lint.py), where
that is a failure.
"""

import glob
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import child_env

ROOT = Path(__file__).resolve().parent.parent


def _mkdocs():
    if not (ROOT / "mkdocs.yml").exists():
        pytest.skip("not a source checkout")
    exe = Path(sys.executable).with_name("mkdocs")
    if exe.exists():
        return str(exe)
    if os.environ.get("CI"):
        pytest.fail(f"CI: mkdocs is not installed next to {sys.executable} (pip install '.[docs]')")
    pytest.skip("mkdocs is not installed (pip install '.[docs]')")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run(
        [_mkdocs(), "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=out,
        env=child_env(),  # the build imports the pydlk under test
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}\n{r.stderr}"
    return out


def test_the_reference_builds_strictly(site):
    assert (site / "index.html").exists()
    for page in (ROOT / "docs" / "api").glob("*.md"):
        assert (site / "api" / page.stem / "index.html").exists(), page.name


def test_every_public_callable_is_in_the_reference(site):
    html = "".join(Path(f).read_text() for f in glob.glob(str(site / "api" / "*" / "index.html")))
    anchors = set(re.findall(r'id="(pydlk[\w.]*)"', html))
    pages = "".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md"))
    missing = []
    for modname in re.findall(r"^::: (pydlk[\w.]*)$", pages, re.M):
        mod = pkgutil.resolve_name(modname)
        if not inspect.ismodule(mod):  # a page may also name one function
            continue
        names = getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]
        for n in names:
            obj = getattr(mod, n)
            where = getattr(obj, "__module__", None) or ""
            if n.startswith("_") or inspect.ismodule(obj) or not callable(obj):
                continue
            if not where.startswith("pydlk") or (
                modname.startswith("pydlk.ops.") and inspect.isclass(obj)
            ):
                continue  # a helper imported from elsewhere; the ops pages leave out Functions
            if f"{modname}.{n}" not in anchors and f"{where}.{n}" not in anchors:
                missing.append(f"{modname}.{n}")
    assert not missing, "public names missing from the API reference:\n  " + "\n  ".join(missing)
