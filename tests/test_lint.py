"""The tree passes its linters: ruff (lint and format), clang-format on csrc/, mypy on the typed
public modules. This is how `.ci/run` (the README's test command) fails on a lint error; the
checks themselves are tools/lint.sh, which contributors run by hand or through pre-commit."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
TOOLS = ("ruff", "mypy", "clang-format")


def _have_tools():
    return all(os.access(os.path.join(BIN, t), os.X_OK) for t in TOOLS)


@pytest.mark.skipif(
    not os.path.exists(os.path.join(ROOT, "tools", "lint.sh")), reason="not a source checkout"
)
def test_tree_passes_the_linters():
    if not _have_tools():
        if os.environ.get("CI"):
            pytest.fail(f"the linters ({', '.join(TOOLS)}) are not installed next to {BIN}")
        pytest.skip("linters not installed (pip install '.[test]')")
    bash = shutil.which("bash") or "/bin/bash"
    proc = subprocess.run(
        [bash, os.path.join(ROOT, "tools", "lint.sh")],
        cwd=ROOT,
        env={**os.environ, "PY": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
