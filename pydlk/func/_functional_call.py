"""torch.func.functional_call: call a Module with some of its parameters and buffers swapped
for given tensors, and put the originals back afterwards, whatever happens."""

import contextlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..autograd import Tensor


def _owner(module, name):
    """The submodule holding the dotted ``name`` and the last component of it."""
    *path, leaf = name.split(".")
    mod = module
    for part in path:
        sub = mod._modules.get(part) if hasattr(mod, "_modules") else None
        if sub is None:
            raise AttributeError(f"{type(mod).__name__} has no attribute `{part}`")
        mod = sub
    if not leaf:
        raise KeyError('tensor name can\'t be empty string ""')
    return mod, leaf


_MISSING = object()


def _swap(mod, leaf, value):
    """Put ``value`` where ``mod.<leaf>`` lives (its parameter or buffer slot, or a plain
    attribute when there is none); returns what was there (``_MISSING`` for nothing)."""
    d = mod.__dict__
    for slot in ("_parameters", "_buffers"):
        table = d.get(slot)
        if table is not None and leaf in table:
            old = table[leaf]
            table[leaf] = value
            return slot, old
    old = d.get(leaf, _MISSING)
    if value is _MISSING:
        d.pop(leaf, None)
    else:
        d[leaf] = value
    return None, old


def _restore(mod, leaf, slot, old):
    if slot is not None:
        mod.__dict__[slot][leaf] = old
    elif old is _MISSING:
        mod.__dict__.pop(leaf, None)
    else:
        mod.__dict__[leaf] = old


def _untie(module, given):
    """torch's tie_weights: a value given for one name of a tensor the module holds under
    several names (tied weights) is used for all of them; different values for one tied
    tensor are an error."""
    names: dict[int, list[str]] = {}
    for n, t in list(module.named_parameters(remove_duplicate=False)) + list(
        module.named_buffers(remove_duplicate=False)
    ):
        names.setdefault(id(t), []).append(n)
    out = dict(given)
    for tied in names.values():
        if len(tied) < 2:
            continue
        present = [n for n in tied if n in given]
        if not present:
            continue
        if len({id(given[n]) for n in present}) > 1:
            raise ValueError(
                f"functional_call got multiple values for keys {sorted(tied)}, which are tied. "
                "Consider using tie_weights=False"
            )
        for n in tied:
            out[n] = given[present[0]]
    return out


def _check_strict(module, values):
    expected = {n for n, _ in module.named_parameters(remove_duplicate=False)}
    expected |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
    unexpected = [k for k in values if k not in expected]
    missing = [k for k in sorted(expected) if k not in values]
    msgs = []
    if unexpected:
        msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
    if missing:
        msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
    if msgs:
        raise RuntimeError(
            f"Error(s) in reparametrizing for {type(module).__name__}:\n\t" + "\n\t".join(msgs)
        )


@contextlib.contextmanager
def _reparametrize(module, values, tie_weights, strict):
    if tie_weights:
        values = _untie(module, values)
    if strict:
        _check_strict(module, values)
    done = []
    try:
        for name, value in values.items():
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"functional_call: the value for '{name}' must be a Tensor, got "
                    f"{type(value).__name__}"
                )
            mod, leaf = _owner(module, name)
            slot, old = _swap(mod, leaf, value)
            done.append((mod, leaf, slot, old))
        yield
    finally:
        for mod, leaf, slot, old in reversed(done):
            _restore(mod, leaf, slot, old)


def functional_call(
    module: Any,
    parameter_and_buffer_dicts: Any,
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """Call ``module(*args, **kwargs)`` with its parameters and buffers replaced by the given
    tensors (torch.func.functional_call).

    The tensors are used as they are (no copy), so gradients flow to them, and the module's own
    parameters and buffers are put back when the call returns or raises. Names are the dotted
    names of ``named_parameters()`` / ``named_buffers()``; a name the module does not have
    becomes a plain attribute for the call (``strict=True`` refuses missing and unexpected
    names instead). With ``tie_weights`` a value given for one of several names of a tied
    tensor serves all of them.

    Args:
        module: the Module to call.
        parameter_and_buffer_dicts: a dict of name -> Tensor, or a sequence of such dicts with
            distinct keys.
        args: the positional argument, or a tuple of them.
        kwargs: keyword arguments for the call.
        tie_weights: treat tied parameters and buffers as tied.
        strict: require exactly the module's parameter and buffer names.

    Raises:
        ValueError: a key in several dicts, a non-dict argument, or two values for tied names.
        RuntimeError: ``strict`` and the names differ from the module's.
        AttributeError: a dotted name whose submodule does not exist.
    """
    if isinstance(parameter_and_buffer_dicts, dict):
        values = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence) and not isinstance(
        parameter_and_buffer_dicts, str
    ):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError(
                "Expected all elements of parameter_and_buffer_dicts to be dictionaries"
            )
        counts = Counter(k for d in parameter_and_buffer_dicts for k in d)
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(
                f"{repeated} appeared in multiple dictionaries; behavior of functional call is "
                "ambiguous"
            )
        values = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError(
            "Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
            f"{type(parameter_and_buffer_dicts)}"
        )
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize(module, values, tie_weights, strict):
        return module(*args, **kwargs)


def _stacked_leaf(tensors, name):
    from ..ops import stack

    flags = [t.requires_grad for t in tensors]
    if any(flags) and not all(flags):
        raise RuntimeError(f"Expected {name} from each model to have the same .requires_grad")
    return stack([t.detach() for t in tensors]).requires_grad_(all(flags))


def stack_module_state(models: Sequence[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """torch.func.stack_module_state: the parameters and buffers of ``models`` (Modules of one
    class, all in training or all in eval mode) stacked along a new first dimension, as two
    dicts of name -> Tensor. The stacked parameters are new leaves (they require grad when the
    models' do), ready for ``vmap(lambda p, b, x: functional_call(base, (p, b), (x,)))``.

    Raises:
        RuntimeError: no models, mixed classes or modes, or a parameter requiring grad in
            some models only.
    """
    if len(models) == 0:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or all(not m.training for m in models)):
        raise RuntimeError(
            "stack_module_state: Expected all models to have the same training/eval mode."
        )
    if not all(type(m) is type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    all_params = [dict(m.named_parameters()) for m in models]
    params = {k: _stacked_leaf([p[k] for p in all_params], k) for k in all_params[0]}
    all_buffers = [dict(m.named_buffers()) for m in models]
    buffers = {k: _stacked_leaf([b[k] for b in all_buffers], k) for k in all_buffers[0]}
    return params, buffers
