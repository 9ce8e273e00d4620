"""The detector read-out chain, in physical order: crosstalk -> non-linear response -> gain and
offset -> random noise -> ADC. ``full_scale`` (the ADC's range and the unit of every effect) is
set by calibration: the ``percentile`` of the ideal intensities of calibration images (e.g. the
training set), stored with the model as a buffer.
"""

from __future__ import annotations

import torch
from torch import nn

from quaton.hardware.adc import ADC
from quaton.hardware.distortion import Crosstalk, GainOffset, Nonlinearity
from quaton.hardware.noise import ReadNoise

# One registry: name -> module class, in the order the chain applies them.
EFFECTS: dict[str, type[nn.Module]] = {
    "crosstalk": Crosstalk,
    "nonlinearity": Nonlinearity,
    "gain_offset": GainOffset,
    "noise": ReadNoise,
    "adc": ADC,
}


class Readout(nn.Module):
    """Intensity [B, ...] -> read-out values in intensity units, through ``effects`` (an ordered dict of modules)."""

    def __init__(self, effects: dict[str, nn.Module] | None = None, percentile: float = 99.9, seed: int = 0) -> None:
        super().__init__()
        effects = effects or {}
        unknown = set(effects) - set(EFFECTS)
        if unknown:
            raise ValueError(f"unknown read-out effects {sorted(unknown)}; choose from {list(EFFECTS)}")
        self.effects = nn.ModuleDict({name: effects[name] for name in EFFECTS if name in effects})
        self.percentile = percentile
        self.seed = seed
        self.register_buffer("full_scale", torch.tensor(1.0))
        self.generator: torch.Generator | None = None

    @property
    def ideal(self) -> bool:
        return len(self.effects) == 0

    @torch.no_grad()
    def calibrate(self, intensities: torch.Tensor) -> None:
        """full_scale = the ``percentile`` of the given ideal intensities (a sample of at most 10⁶ values)."""
        values = intensities.detach().flatten().float()
        if values.numel() > 1_000_000:
            values = values[torch.randperm(values.numel(), generator=torch.Generator().manual_seed(0))[:1_000_000]]
        value = float(torch.quantile(values, self.percentile / 100.0))
        self.full_scale.fill_(value if value > 0 else 1.0)

    def reseed(self, seed: int | None = None) -> None:
        """Restart the noise sequence, for a reproducible evaluation."""
        self.generator = torch.Generator(device=self.full_scale.device).manual_seed(self.seed if seed is None else seed)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        scale = self.full_scale.to(image.dtype)
        for effect in self.effects.values():
            image = effect(image, scale, self.generator)
        return image
