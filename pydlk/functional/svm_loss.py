"""The multiclass SVM (hinge) loss at the scale of the lecture notes (cs231n)."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from .loss import multi_margin_loss

if TYPE_CHECKING:
    from ..autograd import Tensor

__all__ = ["multiclass_svm_loss"]


def multiclass_svm_loss(
    input: Tensor, target: Tensor, margin: float = 1.0, reduction: str = "mean"
):
    """Multiclass SVM loss ``L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin)`` of scores
    ``input`` (C,) or (N, C) at int64 classes ``target``; 'mean' averages ``L_i`` over the N
    samples, 'sum' adds them, 'none' returns the N values.

    Not in torch. torch's ``multi_margin_loss`` (p=1) is the same sum divided by the class count
    C; this is that loss times C, so the values (and gradients) are the lecture's, e.g. about
    ``C - 1`` at initialisation with margin 1 and small scores.
    """
    if not isinstance(input, np.ndarray) and not hasattr(input, "shape"):
        raise TypeError(
            f"multiclass_svm_loss: input must be a Tensor or array, got {type(input).__name__}"
        )
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
        raise TypeError(f"multiclass_svm_loss: margin must be a finite number, got {margin!r}")
    loss = multi_margin_loss(input, target, p=1, margin=margin, reduction=reduction)
    n_classes = input.shape[-1]
    return loss * float(n_classes)
