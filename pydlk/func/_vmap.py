"""torch.func.vmap, honestly: pydlk has no batching rules, so ``vmap(func)`` calls ``func``
once per slice along the mapped dimensions and stacks the results. The results, gradients
through them and nesting are those of torch's vmap; the speed is that of a Python loop."""

from .. import _random
from ..autograd import Tensor
from . import _pytree

_RANDOMNESS = ("error", "different", "same")


def _name(func):
    return getattr(func, "__name__", repr(func))


def _check_in_dims(in_dims, args, func):
    head = f"vmap({_name(func)}, in_dims={in_dims}, ...)(<inputs>)"

    def ok(spec):
        if spec is None or isinstance(spec, int):
            return True
        if isinstance(spec, (tuple, list)):
            return all(ok(s) for s in spec)
        if isinstance(spec, dict):
            return all(ok(s) for s in spec.values())
        return False

    if not ok(in_dims) or not isinstance(in_dims, (int, tuple, type(None))):
        raise ValueError(
            f"{head}: expected `in_dims` to be int or a (potentially nested) tuple matching the "
            f"structure of inputs, got: {type(in_dims)}."
        )
    if isinstance(in_dims, tuple) and len(in_dims) != len(args):
        raise ValueError(
            f"{head}: in_dims is not compatible with the structure of `inputs`. in_dims has "
            f"{len(in_dims)} entries but inputs has {len(args)}."
        )
    dims = _pytree.broadcast_prefix(in_dims if isinstance(in_dims, tuple) else in_dims, args)
    if dims is None:
        raise ValueError(
            f"{head}: in_dims is not compatible with the structure of `inputs`. in_dims is "
            f"{in_dims} but inputs has structure {_pytree.flatten(args)[1]}."
        )
    return head, dims


def _slices(args, in_dims, func):
    """Per-leaf slices of the inputs: (leaves, spec, per-leaf slice lists or None, batch)."""
    head, dims = _check_in_dims(in_dims, args, func)
    leaves, spec = _pytree.flatten(args)
    from ..ops import unbind

    sizes, sliced = [], []
    for x, d in zip(leaves, dims):
        if d is None:
            sliced.append(None)
            continue
        if not isinstance(x, Tensor):
            raise ValueError(
                f"{head}: Got in_dim={d} for an input but the input is of type {type(x)}. We "
                "cannot vmap over non-Tensor arguments, please use None as the respective in_dim"
            )
        n = x.dim()
        if not -n <= d < n:
            raise ValueError(
                f"{head}: Got in_dim={d} for some input, but that input is a Tensor of "
                f"dimensionality {n} so expected in_dim to satisfy -{n} <= in_dim < {n}."
            )
        sizes.append(x.shape[d])
        sliced.append(unbind(x, d))
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if len(set(sizes)) > 1:
        raise ValueError(
            "vmap: Expected all tensors to have the same size in the mapped dimension, got "
            f"sizes {sizes} for the mapped dimension"
        )
    return leaves, spec, sliced, sizes[0]


def _stack_outputs(results, out_dims, func):
    from ..ops import stack

    name = _name(func)
    first, spec = _pytree.flatten(results[0])
    per_slice = [first]
    for r in results[1:]:
        leaves, s = _pytree.flatten(r)
        if s != spec:
            raise ValueError(
                f"vmap({name}, ...): `{name}` returned outputs of different structures for "
                f"different slices: {spec} and {s}"
            )
        per_slice.append(leaves)
    odims = _pytree.broadcast_prefix(out_dims, results[0])
    if odims is None:
        raise ValueError(
            f"vmap({name}, ..., out_dims={out_dims})(<inputs>): out_dims is not compatible with "
            f"the structure of `outputs`. out_dims has structure {out_dims} but outputs has "
            f"structure {spec}."
        )
    out = []
    for j, d in enumerate(odims):
        column = [leaves[j] for leaves in per_slice]
        if d is None:
            if any(isinstance(c, Tensor) for c in column) and not all(
                c is column[0]
                or (
                    isinstance(c, Tensor)
                    and c.shape == column[0].shape
                    and bool((c == column[0]).all())
                )
                for c in column
            ):
                raise ValueError(
                    f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim "
                    "is None"
                )
            out.append(column[0])
            continue
        for c in column:
            if not isinstance(c, Tensor):
                raise ValueError(
                    f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(c)}. "
                    "Did you mean to set out_dims= to None for output?"
                )
        n = column[0].dim() + 1
        if not isinstance(d, int) or not -n <= d < n:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
            )
        out.append(stack(column, dim=d))
    return _pytree.unflatten(out, spec)


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """torch.func.vmap: ``func`` mapped over a dimension of its inputs.

    ``in_dims`` gives, per positional argument, the dimension to map over (None: pass the
    argument whole); an int applies to all, a tuple matches the arguments and may nest into
    their tuples, lists and dicts. Keyword arguments are passed whole. Outputs (Tensors, or
    tuples, lists and dicts of them) are stacked along ``out_dims``; an output with out_dim
    None must be the same for every slice.

    pydlk has no batching rules: ``func`` runs once per slice (a Python loop) and the results
    are stacked, so values and gradients are torch's, nested ``vmap`` works, and so do
    ``.item()`` and data-dependent control flow, which torch's vmap refuses. ``chunk_size`` is
    checked and otherwise has no effect.

    ``randomness``: 'different' draws fresh random numbers per slice; 'same' restores pydlk's
    global generator before each slice, so every slice draws the same numbers; 'error' (the
    default) raises RuntimeError when ``func`` advanced the global generator (it is detected
    after the slice ran; a draw from a user-made ``Generator`` is not detected).

    Raises:
        ValueError: bad ``in_dims``/``out_dims``, mismatched batch sizes, nothing to map over,
            or ``func`` returning non-Tensors for mapped outputs.
        RuntimeError: bad ``randomness``, or a random draw under ``randomness='error'``.
    """
    if randomness not in _RANDOMNESS:
        raise RuntimeError(
            "Only allowed values for randomness are 'error', 'different', or 'same'. "
            f"Got {randomness}"
        )
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    def wrapped(*args, **kwargs):
        leaves, spec, sliced, batch = _slices(args, in_dims, func)
        gen = _random.default_generator
        state = gen.get_state()
        results = []
        for i in range(batch):
            if randomness == "same":
                gen.set_state(state)
            before = gen.get_state() if randomness == "error" else None
            slice_leaves = [x if s is None else s[i] for x, s in zip(leaves, sliced)]
            results.append(func(*_pytree.unflatten(slice_leaves, spec), **kwargs))
            if before is not None and gen.get_state() != before:
                raise RuntimeError(
                    "vmap: called random operation while in randomness error mode. Please "
                    "either use the 'same' or 'different' randomness flags on vmap or perform "
                    "the randomness operation out of vmap"
                )
        return _stack_outputs(results, out_dims, func)

    wrapped.__name__ = f"vmap({_name(func)})"
    wrapped.__doc__ = func.__doc__
    return wrapped
