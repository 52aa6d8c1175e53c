"""Checks on the package's shape: the import graph of the core has no cycle.

``autograd`` defines ``Tensor``; ``ops`` builds on it; ``functional`` builds on both; the op
methods are attached to ``Tensor`` by ``pydlk/_tensor_methods.py``. A module-level import that
goes back down this chain (say ``autograd`` importing ``ops`` at its bottom) makes a cycle that
only works because of import order, and this test fails on it.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "pydlk"
CORE = ("autograd", "ops", "functional")


def _module_name(path, root):
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path):
    return path.name == "__init__.py"


def _top_level_imports(tree):
    """Import statements executed when the module loads (not those inside functions)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                stack.extend(getattr(node, field, []) or [])
        elif isinstance(node, ast.ExceptHandler):
            stack.extend(node.body)


def import_graph(root=ROOT):
    """{module: set of pydlk modules it imports at load time} for every module under root."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if _is_package(path) else name.rpartition(".")[0]
        deps = set()
        for node in _top_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                if node.level:
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                # importing a.b.c runs a/__init__, a/b/__init__ and a/b/c
                parts = t.split(".")
                for i in range(1, len(parts) + 1):
                    mod = ".".join(parts[:i])
                    if mod in files and mod != name and not name.startswith(mod + "."):
                        deps.add(mod)
        graph[name] = deps
    return graph


def find_cycle(graph, nodes):
    """One import cycle among ``nodes`` as a list of module names, or None."""
    nodes = set(nodes)
    state = {}

    def visit(n, path):
        state[n] = "open"
        for d in sorted(graph.get(n, ())):
            if d not in nodes:
                continue
            if state.get(d) == "open":
                return path[path.index(d) :] + [d]
            if d not in state:
                found = visit(d, path + [d])
                if found:
                    return found
        state[n] = "done"
        return None

    for n in sorted(nodes):
        if n not in state:
            found = visit(n, [n])
            if found:
                return found
    return None


def _core(graph):
    return [m for m in graph if any(m == f"pydlk.{c}" or m.startswith(f"pydlk.{c}.") for c in CORE)]


def test_core_has_no_import_cycle():
    graph = import_graph()
    core = _core(graph)
    assert "pydlk.autograd" in core and "pydlk.ops.arithmetic" in core
    assert "pydlk.functional.activation" in core
    cycle = find_cycle(graph, core)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_autograd_imports_neither_ops_nor_functional():
    deps = import_graph()["pydlk.autograd"]
    assert not any(d.startswith(("pydlk.ops", "pydlk.functional")) for d in deps), deps


def test_cycle_finder_finds_a_planted_cycle(tmp_path):
    # The checker itself must be able to fail: a two-module package importing each other.
    pkg = tmp_path / "pydlk"
    (pkg / "ops").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "autograd.py").write_text("x = 1\nfrom . import ops  # noqa\n")
    (pkg / "ops" / "__init__.py").write_text("from ..autograd import x\n")
    graph = import_graph(pkg)
    assert find_cycle(graph, ["pydlk.autograd", "pydlk.ops"]) is not None


def test_tensor_methods_attached_in_one_place():
    # Only pydlk/_tensor_methods.py assigns attributes of Tensor from outside class Tensor.
    offenders = []
    for path in ROOT.rglob("*.py"):
        if path.name == "_tensor_methods.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "setattr"
                and getattr(node.args[0], "id", None) == "Tensor"
            ):
                offenders.append(str(path))
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Attribute) and getattr(t.value, "id", None) == "Tensor":
                        offenders.append(str(path))
    assert not offenders, offenders


def test_no_python_file_is_huge():
    big = {
        str(p.relative_to(ROOT)): n
        for p in ROOT.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 800
    }
    assert not big, big


def test_tensor_comment_lists_the_attached_methods():
    # class Tensor's comment names every operator and method _tensor_methods attaches (and
    # nothing else), so a reader of autograd.py sees the whole surface.
    import re

    import pydlk._tensor_methods as tm

    src = (ROOT / "autograd.py").read_text()
    start = src.index("# The operators and op methods are not defined here")
    end = src.index("__array_priority__", start)
    listed = set()
    for line in src[start:end].splitlines()[2:]:
        words = line.strip().lstrip("#").strip()
        words = re.sub(r"^[a-z ]+(\(__x__\))?:", "", words)
        listed.update(words.split())
    names = list(tm._methods) + list(tm._SAME_NAME_METHODS)
    attached = {k.strip("_") if k.startswith("__") else k for k in names} | {
        "T",
        "mT",
        "real",
        "imag",
    }
    assert listed == attached, (listed - attached, attached - listed)
