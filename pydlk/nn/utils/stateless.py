"""``functional_call`` (torch.nn.utils.stateless / torch.func): run a module's forward with
some of its parameters and buffers replaced by given tensors, leaving the module as it was."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["functional_call"]


def _owner(module, path: str):
    *mods, leaf = path.split(".")
    m = module
    for name in mods:
        m = getattr(m, name)
    return m, leaf


@contextlib.contextmanager
def _reparametrize(module, tensors: dict, tie_weights: bool, strict: bool) -> Iterator[None]:
    known: dict[str, Any] = {}
    for n, t in module.named_parameters(remove_duplicate=False):
        known[n] = t
    for n, t in module.named_buffers(remove_duplicate=False):
        known[n] = t
    if strict:
        missing = [k for k in known if k not in tensors]
        unexpected = [k for k in tensors if k not in known]
        if missing or unexpected:
            parts = []
            if unexpected:
                parts.append("Unexpected key(s): " + ", ".join(repr(k) for k in unexpected))
            if missing:
                parts.append("Missing key(s): " + ", ".join(repr(k) for k in missing))
            raise RuntimeError(
                "Error(s) in reparametrizing for "
                + type(module).__name__
                + ":\n\t"
                + "\n\t".join(parts)
            )
    tensors = dict(tensors)
    if tie_weights:  # a name tied to a replaced tensor (shared Parameter) follows it
        by_id = {id(known[k]): v for k, v in tensors.items() if k in known}
        for k, t in known.items():
            if k not in tensors and id(t) in by_id:
                tensors[k] = by_id[id(t)]
    saved = []
    try:
        for path, new in tensors.items():
            m, leaf = _owner(module, path)
            for store in ("_parameters", "_buffers"):
                d = m.__dict__.get(store)
                if d is not None and leaf in d:
                    saved.append((d, leaf, d[leaf]))
                    d[leaf] = new
                    break
            else:
                saved.append((m.__dict__, leaf, m.__dict__.get(leaf, _ABSENT)))
                m.__dict__[leaf] = new
        yield
    finally:
        for d, leaf, old in reversed(saved):
            if old is _ABSENT:
                d.pop(leaf, None)
            else:
                d[leaf] = old


_ABSENT = object()


def _functional_call(
    module,
    parameters_and_buffers,
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
):
    """``module(*args, **kwargs)`` with the parameters and buffers named in
    ``parameters_and_buffers`` (``{"fc.weight": tensor, ...}``, or a tuple of such dicts)
    standing in for the module's own for this one call; the module is unchanged afterwards.
    Gradients flow to the given tensors (MAML's inner loop, per-sample gradients).
    ``tie_weights`` makes names that share a Parameter follow a replaced one; ``strict``
    requires exactly the module's names (RuntimeError listing missing and unexpected keys)."""
    if isinstance(parameters_and_buffers, (tuple, list)):
        merged: dict[str, Any] = {}
        for d in parameters_and_buffers:
            dup = set(merged) & set(d)
            if dup:
                raise ValueError(f"{sorted(dup)} appeared in multiple dictionaries")
            merged.update(d)
        parameters_and_buffers = merged
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize(module, parameters_and_buffers, tie_weights, strict):
        return module(*args, **(kwargs or {}))


def functional_call(
    module,
    parameters_and_buffers,
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
):
    """torch.nn.utils.stateless's spelling of ``pydlk.func.functional_call``: the same call,
    after torch's FutureWarning that it moved to torch.func."""
    import warnings

    warnings.warn(
        "`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will be "
        "removed in a future version of PyTorch. Please use `torch.func.functional_call` "
        "instead which is a drop-in replacement.",
        FutureWarning,
        stacklevel=2,
    )
    return _functional_call(
        module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict
    )
