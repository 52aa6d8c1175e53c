"""Module's lookups by dotted path (torch's ``get_submodule``, ``get_parameter``,
``get_buffer`` and ``set_submodule``), kept beside module.py as a base class of Module."""

from __future__ import annotations

from typing import Any


class _ModuleLookups:
    _modules: dict[str, Any]

    def get_submodule(self, target: str) -> Any:
        """The submodule at the dotted path ``target`` (``""`` is the module itself);
        AttributeError naming the missing part otherwise."""
        m: Any = self
        if target == "":
            return m
        for part in target.split("."):
            if part not in m._modules:
                raise AttributeError(f"{type(m).__name__} has no submodule '{part}'")
            m = m._modules[part]
        return m

    def set_submodule(self, target: str, module: Any, strict: bool = False) -> None:
        """Put ``module`` at the dotted path ``target`` (``"layer1.0.conv1"``), replacing what is
        there, as torch's: its parent must exist; with ``strict`` the attribute must exist
        too; an existing attribute there that is not a Module is refused."""
        from .module import Module

        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        path, _, name = target.rpartition(".")
        parent: Any = self.get_submodule(path)
        if strict and not hasattr(parent, name):
            raise AttributeError(f"{type(parent).__name__} has no attribute `{name}`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    def get_parameter(self, target: str) -> Any:
        """The parameter at the dotted path ``target`` (``"features.0.weight"``)."""
        return self._leaf(target, "_parameters", "nn.Parameter")

    def get_buffer(self, target: str) -> Any:
        """The buffer at the dotted path ``target`` (``"bn.running_mean"``)."""
        return self._leaf(target, "_buffers", "buffer")

    def _leaf(self, target: str, store: str, kind: str) -> Any:
        path, _, name = target.rpartition(".")
        m = self.get_submodule(path)
        d = getattr(m, store)
        if name not in d:
            if not hasattr(m, name):
                raise AttributeError(f"{type(m).__name__} has no attribute `{name}`")
            article = "an" if kind[0] == "n" else "a"
            raise AttributeError(f"`{name}` is not {article} {kind}")
        return d[name]
