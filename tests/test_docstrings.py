"""Every public function and class of pydlk carries a docstring (the API reference is built
from them, see mkdocs.yml), so a new name without one fails here.

Public means: each importable module whose dotted path has no part starting with "_", and in
it the names of ``__all__``, or, without ``__all__``, the names not starting with "_" of
objects that pydlk defines (a re-export such as ``pydlk.add`` counts). Two kinds of module are
left out: ``pydlk.ops.*`` holds the autograd Functions behind the ``pydlk.*`` ops (their
public face, ``pydlk.add`` and the rest, is checked through ``pydlk``), and ``pydlk.cli``
holds the command handlers, documented by ``pydlk --help``.
"""

import importlib
import inspect
import pkgutil

import pydlk

_SKIP_PREFIXES = ("pydlk.ops.", "pydlk.cli", "pydlk.bench")


def _public_modules():
    yield pydlk
    for info in pkgutil.walk_packages(pydlk.__path__, "pydlk."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts) or info.name.startswith(_SKIP_PREFIXES):
            continue
        yield importlib.import_module(info.name)


def _public_callables(mod):
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [
            n
            for n, o in vars(mod).items()
            if not n.startswith("_") and (getattr(o, "__module__", None) or "").startswith("pydlk")
        ]
    for n in names:
        obj = getattr(mod, n)
        if callable(obj) and not inspect.ismodule(obj):
            yield n, obj


def _has_doc(obj):
    # a class's own __doc__ only: inspect.getdoc would lend it a base class's docstring
    doc = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)
    return bool(doc and doc.strip())


def test_every_public_callable_has_a_docstring():
    missing, seen = [], 0
    for mod in _public_modules():
        for name, obj in _public_callables(mod):
            seen += 1
            if not _has_doc(obj):
                missing.append(f"{mod.__name__}.{name}")
    assert seen > 400, f"walked only {seen} public names: the walk itself is broken"
    assert not missing, "public names without a docstring:\n  " + "\n  ".join(sorted(missing))


def test_the_walk_covers_the_documented_namespaces():
    walked = [id(m) for m in _public_modules()]  # pydlk.nn.functional is pydlk.functional
    for ns in (
        "pydlk",
        "pydlk.nn",
        "pydlk.nn.functional",
        "pydlk.optim",
        "pydlk.optim.lr_scheduler",
        "pydlk.data",
        "pydlk.datasets",
        "pydlk.train",
        "pydlk.metrics",
        "pydlk.distributed",
        "pydlk.cuda",
        "pydlk.autograd",
        "pydlk.vision",
        "pydlk.text",
        "pydlk.visualize",
    ):
        assert id(importlib.import_module(ns)) in walked, ns


def test_a_name_without_a_docstring_is_caught():
    def undocumented():
        pass

    class Undocumented(pydlk.nn.Module):
        pass

    assert not _has_doc(undocumented)
    assert not _has_doc(Undocumented)  # though Module has a docstring
    assert _has_doc(pydlk.add)
