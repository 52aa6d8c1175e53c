"""Module's whole-model conversions beyond ``to``/``float``/``cuda`` (torch's ``to_empty``,
``type`` and ``compile``), kept beside module.py as a base class of Module."""

from __future__ import annotations

from typing import Any

from .. import _arena


class _ModuleConversions:
    call_super_init = False  # torch's class switch (whether Module.__init__ calls super())
    dump_patches = False  # torch's switch for printing source changes when loading pickles

    def _each_tensor(self, recurse: bool) -> Any:
        mods: Any = self.modules() if recurse else [self]  # type: ignore[attr-defined]
        for m in mods:
            yield from (p for p in m._parameters.values() if p is not None)
            yield from (b for b in m._buffers.values() if b is not None)

    def to_empty(self, *, device: Any, recurse: bool = True) -> Any:
        """Replace every parameter's and buffer's values (and gradients) with uninitialised
        arrays of the same shape and dtype on ``device``, as torch's (used to materialise a
        model before loading a state dict into it)."""
        from ..ops.factories import empty_like

        for t in self._each_tensor(recurse):
            t._data = empty_like(t, device=device)._data
            _arena.unbind(t)
            if t._grad is not None:
                t._grad = empty_like(t, device=device)._data
        return self

    def type(self, dst_type: Any) -> Any:
        """Cast every parameter and buffer, integer ones included, to ``dst_type`` (a dtype or
        a type name such as ``'torch.DoubleTensor'``), as torch's ``Module.type``."""
        for t in self._each_tensor(True):
            new = t.type(dst_type)._data
            if new is not t._data:
                t._data = new
                _arena.unbind(t)
                if t._grad is not None:
                    t._grad = t._grad.astype(new.dtype)
        return self

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """torch's in-place ``Module.compile``: ``pydlk.compile``'s checks on the arguments;
        the module keeps running eagerly."""
        from ..compiler import compile as _compile

        _compile(self, *args, **kwargs)
