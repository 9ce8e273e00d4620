"""Annealing schedules for quantizer temperatures."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """A value going from ``start`` to ``end`` over training.

    ``kind``: ``linear`` or ``exponential`` (geometric) interpolation; ``per``: ``epoch`` (the value
    changes once per epoch, constant within it) or ``step`` (every optimizer step). ``warmup_epochs``
    hold ``start`` before the ramp begins.
    """

    start: float
    end: float
    kind: str = "linear"
    per: str = "epoch"
    epochs: int = 1
    warmup_epochs: int = 0

    def value(self, progress: float, epoch: int) -> float:
        """``progress`` in [0, 1] is the fraction of training done; ``epoch`` counts from 0."""
        ramp = max(1, self.epochs - self.warmup_epochs)
        if self.per == "epoch":
            t = (epoch - self.warmup_epochs) / max(1, ramp - 1)
        else:
            t = (progress * self.epochs - self.warmup_epochs) / ramp
        t = min(max(t, 0.0), 1.0)
        if self.kind == "exponential":
            return self.start * math.exp(t * math.log(self.end / self.start))
        return self.start + t * (self.end - self.start)
