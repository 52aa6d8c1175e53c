"""Learning-rate schedules with torch.optim.lr_scheduler's names, arguments and semantics:
call ``scheduler.step()`` after ``optimizer.step()``; ``get_last_lr()``, ``last_epoch``,
``state_dict()``/``load_state_dict()``; construction sets ``initial_lr`` in each group and
applies the schedule's value at epoch 0. The recursive (chainable) forms are torch's, so the
sequences match torch's to the last bit.

Not in torch: ``InverseTimeLR(optimizer, decay_rate)``, ``lr = initial_lr / (1 + decay_rate*t)``
(Keras' InverseTimeDecay with decay_steps=1). Differences: no warnings are emitted (torch warns
when ``scheduler.step()`` comes before ``optimizer.step()``, or when ``epoch=`` is passed).
"""

from __future__ import annotations

from ._base import LRScheduler, _format_param
from .composite import ChainedScheduler, SequentialLR
from .cyclic import CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR
from .plateau import ReduceLROnPlateau
from .schedules import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    InverseTimeLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)

__all__ = [
    "LRScheduler",
    "LambdaLR",
    "MultiplicativeLR",
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "InverseTimeLR",
    "SequentialLR",
    "PolynomialLR",
    "CosineAnnealingLR",
    "ChainedScheduler",
    "ReduceLROnPlateau",
    "CyclicLR",
    "CosineAnnealingWarmRestarts",
    "OneCycleLR",
]


class _LRScheduler(LRScheduler):
    """torch's old name for the scheduler base class; custom schedulers written as
    ``class Poly(_LRScheduler)`` with their own ``get_lr`` subclass it unchanged."""
