"""Nested tuples, lists and dicts of leaves (torch's pytrees, the containers torch.func
accepts): flatten to a list of leaves and a spec, and rebuild from them."""

from typing import Any, NamedTuple


class Spec(NamedTuple):
    """How to rebuild a tree: its container type (None for a leaf), its keys (a dict's) and
    one spec per child."""

    kind: Any
    keys: tuple[Any, ...]
    children: tuple["Spec", ...]

    def __repr__(self) -> str:
        if self.kind is None:
            return "*"
        inner = ", ".join(repr(c) for c in self.children)
        return f"{self.kind.__name__}({inner})"


LEAF = Spec(None, (), ())


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def flatten(tree: Any) -> tuple[list[Any], Spec]:
    """The leaves of ``tree`` in order, and the spec that ``unflatten`` rebuilds it from."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree, leaves):
    if isinstance(tree, (tuple, list)):
        children = tuple(_flatten(c, leaves) for c in tree)
        return Spec(type(tree), (), children)
    if isinstance(tree, dict):
        keys = tuple(tree.keys())
        return Spec(type(tree), keys, tuple(_flatten(tree[k], leaves) for k in keys))
    leaves.append(tree)
    return LEAF


def unflatten(leaves: list[Any], spec: Spec) -> Any:
    """Rebuild the tree ``spec`` describes from ``leaves`` (the inverse of ``flatten``)."""
    it = iter(leaves)
    return _unflatten(it, spec)


def _unflatten(it, spec):
    if spec.kind is None:
        return next(it)
    children = [_unflatten(it, c) for c in spec.children]
    if issubclass(spec.kind, dict):
        out = spec.kind()
        out.update(zip(spec.keys, children))
        return out
    if issubclass(spec.kind, tuple) and hasattr(spec.kind, "_fields"):
        return spec.kind(*children)
    return spec.kind(children)


def num_leaves(spec: Spec) -> int:
    """How many leaves a tree of this spec has."""
    return 1 if spec.kind is None else sum(num_leaves(c) for c in spec.children)


def broadcast_prefix(prefix: Any, tree: Any) -> list[Any] | None:
    """``prefix`` (a tree whose leaves stand for whole subtrees of ``tree``, as torch's in_dims
    and out_dims) expanded to one value per leaf of ``tree``; None when the structures do not
    match."""
    out: list[Any] = []
    return out if _broadcast(prefix, tree, out) else None


def _broadcast(prefix, tree, out):
    if not isinstance(prefix, (tuple, list, dict)):
        out.extend([prefix] * num_leaves(flatten(tree)[1]))
        return True
    if isinstance(prefix, dict):
        if not isinstance(tree, dict) or set(prefix) != set(tree):
            return False
        return all(_broadcast(prefix[k], tree[k], out) for k in tree)
    if not isinstance(tree, (tuple, list)) or len(prefix) != len(tree):
        return False
    return all(_broadcast(p, t, out) for p, t in zip(prefix, tree))
