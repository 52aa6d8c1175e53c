"""pydlk's GPU code asks CuPy only for what the real CuPy has.

The host stand-in (tools/cupy_host_emulator.py) runs the GPU tests on NumPy arrays, so a NumPy
function that CuPy lacks would pass there and fail on a GPU. tools/cupy_api_names.txt lists the
real CuPy's public names (read off CuPy 14.2.0); these tests check pydlk's source against it and
that the stand-in refuses what CuPy lacks."""

import ast
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import cupy_api  # noqa: E402

NAMES, VERSION = cupy_api.load()

# the names pydlk binds to the array module of a possibly-device array, or to cupy itself
MODULE_NAMES = ("xp", "cp", "cupy")


def _chains(tree):
    """(line, [root, attr, attr, ...]) of every attribute chain rooted at a module name."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain, n = [], node
        while isinstance(n, ast.Attribute):
            chain.append(n.attr)
            n = n.value
        if isinstance(n, ast.Name) and n.id in MODULE_NAMES:
            yield node.lineno, [n.id] + chain[::-1]


def _missing(chain):
    """The part of ``xp.a.b`` that CuPy lacks, or None."""
    first = chain[1]
    if first.startswith("__"):
        return None
    if first not in NAMES["cupy"]:
        return f"{chain[0]}.{first}"
    if first in ("linalg", "fft", "random") and len(chain) > 2:
        if chain[2] not in NAMES[f"cupy.{first}"]:
            return f"{chain[0]}.{first}.{chain[2]}"
    return None


def test_names_file_is_the_real_cupy_namespace():
    assert VERSION == "14.2.0"
    # core functions pydlk relies on are there; NumPy-only ones are not
    for name in ("matmul", "einsum", "RawModule", "ElementwiseKernel", "add", "cuda", "linalg"):
        assert name in NAMES["cupy"], name
    for name in ("errstate", "insert", "spacing", "nanquantile", "geomspace"):
        assert name not in NAMES["cupy"], name
    assert "multi_dot" not in NAMES["cupy.linalg"] and "svd" in NAMES["cupy.linalg"]
    assert "resize" not in NAMES["cupy.ndarray"] and "get" in NAMES["cupy.ndarray"]


def test_the_scan_finds_a_cupy_less_call():
    # the scan below can fail: a chain with a NumPy-only function is reported
    src = (
        "def f(a):\n    xp = g(a)\n"
        "    return xp.insert(a, 0, 1) + xp.linalg.multi_dot([a]) + xp.sum(a)"
    )
    found = [_missing(c) for _, c in _chains(ast.parse(src))]
    assert sorted(m for m in found if m) == ["xp.insert", "xp.linalg.multi_dot"]


def test_pydlk_calls_only_names_cupy_has():
    offenders = []
    for root, _, files in os.walk(os.path.join(ROOT, "pydlk")):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(root, f)
            with open(path) as fh:
                tree = ast.parse(fh.read())
            for line, chain in _chains(tree):
                m = _missing(chain)
                if m:
                    offenders.append(f"{os.path.relpath(path, ROOT)}:{line}: {m}")
    assert offenders == [], f"CuPy {VERSION} lacks: " + "; ".join(offenders)


def test_host_emulator_refuses_what_cupy_lacks():
    """In a child process (the stand-in replaces cupy and tightens numpy for the process): code
    under pydlk/ gets CuPy's errors for NumPy-only functions, ufuncs and ndarray methods."""
    probe = textwrap.dedent(
        """
        import os, sys
        import numpy as np
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import cupy_host_emulator
        cupy_host_emulator.install()
        import cupy

        def refused(src, exc):
            # compiled as a file under pydlk/, so the stand-in treats it as pydlk's own code
            code = compile(src, os.path.join(ROOT, "pydlk", "_probe.py"), "exec")
            try:
                exec(code, {"np": np, "cupy": cupy, "a": cupy.arange(4.0)})
            except exc as e:
                return str(e)
            raise SystemExit(f"not refused: {src}")

        out = [
            refused("cupy.errstate", AttributeError),
            refused("cupy.linalg.multi_dot", AttributeError),
            refused("np.insert(a, 0, 1.0)", TypeError),
            refused("np.spacing(a)", TypeError),
            refused("a.resize(2)", AttributeError),
            refused("np.divide(a, a, where=a > 0)", TypeError),  # CuPy ufuncs: out, dtype
        ]
        # and what CuPy has still runs, from pydlk's code too
        ok = compile("r = np.concatenate([a, a]).sum() + cupy.linalg.norm(a)",
                     os.path.join(ROOT, "pydlk", "_probe.py"), "exec")
        g = {"np": np, "cupy": cupy, "a": cupy.arange(4.0)}
        exec(ok, g)
        assert float(g["r"]) == 12.0 + 14.0 ** 0.5, g["r"]
        print("\\n".join(out))
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", f"ROOT = {ROOT!r}\n" + probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 6
    assert "no attribute 'errstate'" in lines[0] and "no attribute 'multi_dot'" in lines[1]
    assert "numpy.insert" in lines[2] and "spacing" in lines[3] and "'resize'" in lines[4]
    assert "Wrong arguments ['where']" in lines[5]


def test_names_file_matches_the_installed_cupy():
    """Where the real CuPy is installed (the GPU machine; tools/gpu_check.sh runs this file):
    the names file is what that CuPy has, when it is the version the file was read from."""
    cupy = pytest.importorskip("cupy")
    if getattr(cupy, "__host_emulator__", False):
        pytest.skip("the host stand-in, not the real CuPy")
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "names.txt")
        cupy_api.regenerate(path)
        fresh, version = cupy_api.load(path)
    assert version == cupy.__version__
    if version == VERSION:
        assert fresh == NAMES
