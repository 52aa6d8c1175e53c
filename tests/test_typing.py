"""The type declarations stay true to what runs: Tensor's attached methods are the ones
pydlk/_tensor_api.pyi declares, and the package ships its py.typed marker."""

import ast
import os

import pydlk
from pydlk import _tensor_methods

PKG = os.path.dirname(pydlk.__file__)


def _declared_methods():
    with open(os.path.join(PKG, "_tensor_api.pyi")) as f:
        tree = ast.parse(f.read())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "_TensorMethods"]
    return {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}


def test_tensor_api_stub_declares_exactly_the_attached_methods():
    attached = (
        set(_tensor_methods._SAME_NAME_METHODS)
        | set(_tensor_methods._methods)
        | {"T", "mT", "real", "imag"}
    )
    declared = _declared_methods()
    assert declared - attached == set(), "declared in _tensor_api.pyi but never attached"
    assert attached - declared == set(), "attached by _tensor_methods.py but not declared"


def test_declared_methods_exist_on_tensor():
    for name in _declared_methods():
        assert hasattr(pydlk.Tensor, name), name


def test_py_typed_marker_is_shipped():
    assert os.path.isfile(os.path.join(PKG, "py.typed"))


def test_declared_signatures_match_the_attached_functions():
    # Argument names (after self) of each declared method equal those of the function attached
    # to Tensor, for one of its overloads; functions taking *args/**kwargs are not compared.
    import inspect

    with open(os.path.join(PKG, "_tensor_api.pyi")) as f:
        tree = ast.parse(f.read())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "_TensorMethods"]
    stubs = {}
    for n in cls.body:
        if isinstance(n, ast.FunctionDef):
            a = n.args
            names = [x.arg for x in a.posonlyargs + a.args][1:] + [x.arg for x in a.kwonlyargs]
            stubs.setdefault(n.name, []).append(None if a.vararg or a.kwarg else names)
    compared, wrong = 0, []
    for name, overloads in stubs.items():
        fn = getattr(pydlk.Tensor, name)
        if isinstance(fn, property) or None in overloads:
            continue
        params = list(inspect.signature(fn).parameters.values())[1:]
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            continue
        compared += 1
        if [p.name for p in params] not in overloads:
            wrong.append((name, overloads, [p.name for p in params]))
    assert wrong == []
    assert compared > 150  # the check reaches most of the API
