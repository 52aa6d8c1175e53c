"""The public names of the real CuPy that the host stand-in (tools/cupy_host_emulator.py) lets
pydlk use. The stand-in's arrays are NumPy arrays, so without these lists every NumPy function
would pass there, the ones CuPy lacks too (``cupy.errstate``, ``cupy.insert``,
``ndarray.resize``), and fail only on a GPU.

The lists live in tools/cupy_api_names.txt, one section per namespace, read off CuPy 14.2.0
(the cupy-cuda13x wheel, which imports without a GPU). To refresh them, with the real CuPy
installed (no GPU needed):

    python tools/cupy_api.py --regenerate
"""

import os
import sys

NAMES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cupy_api_names.txt")

# section name -> (what it lists, how to reach it from the real cupy module)
SECTIONS = {
    "cupy": "cupy",
    "cupy.linalg": "cupy.linalg",
    "cupy.fft": "cupy.fft",
    "cupy.random": "cupy.random",
    "cupy.ndarray": "cupy.ndarray",
}


def load(path=NAMES_FILE):
    """{section: frozenset of names} and the CuPy version they were read from."""
    sections, version, current = {}, None, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                if line.startswith("# version "):
                    version = line.split()[-1]
                continue
            if line.startswith("[") and line.endswith("]"):
                current = line[1:-1]
                sections[current] = set()
            else:
                sections[current].update(line.split())
    return {k: frozenset(v) for k, v in sections.items()}, version


def numpy_counterpart_exists(names, numpy_module, name):
    """Whether CuPy has the function NumPy calls ``numpy_module.name`` (how CuPy's
    ``__array_function__`` looks one up: the module path after ``numpy``, then the name)."""
    section = "cupy" + numpy_module[len("numpy") :]
    return name in names.get(section, ())


def regenerate(path=NAMES_FILE):
    import importlib

    import cupy

    out = [
        "# Public names of the real CuPy, read by tools/cupy_api.py; regenerate with",
        "# `python tools/cupy_api.py --regenerate` where the real CuPy is installed.",
        f"# version {cupy.__version__}",
    ]
    for section, dotted in SECTIONS.items():
        obj = importlib.import_module(dotted) if dotted != "cupy.ndarray" else cupy.ndarray
        names = sorted(n for n in dir(obj) if not n.startswith("_"))
        out.append(f"[{section}]")
        line = ""
        for n in names:
            if line and len(line) + 1 + len(n) > 96:
                out.append(line)
                line = n
            else:
                line = f"{line} {n}" if line else n
        out.append(line)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit(__doc__)
    regenerate()
