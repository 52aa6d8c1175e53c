"""Transfer learning as the lectures teach it: freeze a pretrained backbone (no gradients, and
its BatchNorm layers kept in eval mode so their running statistics stay those of the source
data), replace the head, and fine-tune with parameter groups where the backbone (if unfrozen
later) learns at a tenth of the head's learning rate."""

from __future__ import annotations

from typing import Any, TypeVar

from .. import nn

M = TypeVar("M", bound=nn.Module)

__all__ = ["freeze", "unfreeze", "replace_head", "finetune_param_groups"]


def freeze(module: M, bn_eval: bool = True) -> M:
    """requires_grad_(False) on every parameter of ``module``; with ``bn_eval`` its BatchNorm
    layers stay in eval mode even when the model is put in training mode. Returns module."""
    module.requires_grad_(False)
    for m in module.modules():
        if isinstance(m, nn.normalization._BatchNorm):
            m.frozen = bn_eval
            if bn_eval:
                m.eval()
    return module


def unfreeze(module: M) -> M:
    """Undo ``freeze``: ``requires_grad_(True)`` on every parameter, and BatchNorm layers follow
    the module's train/eval mode again. Returns module.
    """
    module.requires_grad_(True)
    for m in module.modules():
        if isinstance(m, nn.normalization._BatchNorm):
            m.frozen = False
            m.train(module.training)
    return module


def replace_head(model: nn.Module, name: str, num_classes: int) -> nn.Linear:
    """Replace the Linear layer at dotted path ``name`` (e.g. 'fc', 'classifier.6') by a fresh
    Linear(in_features, num_classes); returns the new head."""
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    old = parent._modules.get(attr) if attr in parent._modules else None
    if not isinstance(old, nn.Linear):
        raise ValueError(f"replace_head: {name!r} is not a Linear layer ({type(old).__name__})")
    head = nn.Linear(
        old.in_features, num_classes, bias=old.bias is not None, dtype=old.weight.dtype
    )
    setattr(parent, attr, head)
    return head


def finetune_param_groups(
    model: nn.Module,
    head: nn.Module,
    lr: float,
    backbone_factor: float = 0.1,
    **group_options: Any,
) -> list[dict[str, Any]]:
    """Parameter groups for an optimiser: the head at ``lr``; every other trainable parameter
    at ``lr * backbone_factor`` (a tenth by default); frozen parameters are left out."""
    head_ids = {id(p) for p in head.parameters()}
    backbone = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    groups: list[dict[str, Any]] = [{"params": list(head.parameters()), "lr": lr, **group_options}]
    if backbone:
        groups.insert(0, {"params": backbone, "lr": lr * backbone_factor, **group_options})
    return groups
