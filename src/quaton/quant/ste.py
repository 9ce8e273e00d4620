"""STE, straight-through estimator: hard levels in the forward pass, identity gradient."""

import torch

from quaton.gradients import straight_through
from quaton.quant.base import Quantizer


class StraightThroughQuantizer(Quantizer):
    """Training form: hard(raw) + (raw − raw.detach()): the value is exactly a level (the second term is
    exactly 0), the gradient is 1 (Bengio et al. 2013)."""

    relaxation = "chord"
    relaxations = ("arc", "chord")
    straight_through = True

    def relaxed(self, raw: torch.Tensor) -> torch.Tensor:
        return raw

    def soft(self, raw: torch.Tensor) -> torch.Tensor:
        return straight_through(self.hard(raw), raw)
