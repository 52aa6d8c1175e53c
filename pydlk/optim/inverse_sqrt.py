"""The inverse-square-root schedule with linear warm-up (Transformer / fairseq)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .lr_scheduler import LRScheduler

if TYPE_CHECKING:
    from ..optim.optimizer import Optimizer

__all__ = ["InverseSqrtLR"]


class InverseSqrtLR(LRScheduler):
    """``lr = base_lr * min(1, t / warmup_steps) * sqrt(warmup_steps / max(t, warmup_steps))``
    at step ``t`` = ``last_epoch`` (0 at construction; call ``step()`` once per optimiser step).

    The learning rate rises linearly to ``base_lr`` over ``warmup_steps`` steps, then decays as
    ``1/sqrt(t)``. "Attention is all you need" writes it as ``d_model**-0.5 * min(t**-0.5,
    t * warmup**-1.5)``, which is this with ``base_lr = (d_model * warmup)**-0.5``; fairseq's
    ``inverse_sqrt`` is this with ``warmup_init_lr = 0``. Not in torch. At ``t = 0`` the rate is
    0 (use ``warmup_steps=0`` for no warm-up: ``base_lr`` until the first step, then
    ``base_lr / sqrt(t)``).
    """

    def __init__(
        self, optimizer: Optimizer, warmup_steps: int = 4000, last_epoch: int = -1
    ) -> None:
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(
                f"InverseSqrtLR: warmup_steps must be an int >= 0, got {warmup_steps!r}"
            )
        self.warmup_steps = warmup_steps
        super().__init__(optimizer, last_epoch)

    def _factor(self, t: int) -> float:
        w = self.warmup_steps
        if w == 0:
            return 1.0 / math.sqrt(max(t, 1))
        return min(1.0, t / w) * math.sqrt(w / max(t, w))

    def get_lr(self):
        return self._get_closed_form_lr()

    def _get_closed_form_lr(self):
        f = self._factor(self.last_epoch)
        return [b * f for b in self.base_lrs]
