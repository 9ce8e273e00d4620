"""Read-out quantization: an ADC with ``levels`` levels over [0, full_scale]."""

import torch
from torch import nn

from quaton.gradients import straight_through


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """round(x) in the forward pass, identity gradient (straight-through)."""
    return straight_through(torch.round(x), x)


def adc_step(full_scale: torch.Tensor, levels: int | None) -> torch.Tensor:
    """The quantization step: full_scale/(levels − 1); full_scale itself for an ideal read-out."""
    return full_scale / (levels - 1) if levels else full_scale


class ADC(nn.Module):
    """Clamp to [0, full_scale] and round to the nearest of ``levels`` levels; straight-through gradient."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        if levels < 2:
            raise ValueError(f"an ADC needs at least 2 levels, got {levels}")
        self.levels = levels

    def forward(self, image: torch.Tensor, full_scale: torch.Tensor, generator=None) -> torch.Tensor:
        step = adc_step(full_scale, self.levels)
        return ste_round(image.clamp(min=0).minimum(full_scale) / step) * step
