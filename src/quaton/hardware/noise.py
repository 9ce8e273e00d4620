"""Random read-out noise, fresh at every read-out: Gaussian read noise and optional shot noise.

Read noise σ is given in ADC steps (``sigma = 0.5`` is half a quantization step); with an ideal
read-out (no ADC) the step is full_scale itself, so σ is then a fraction of full scale. Shot noise
(``photons`` > 0): Gaussian of variance I·full_scale/photons, i.e. a pixel at full scale collects
``photons`` photons (Poisson statistics in the Gaussian limit).
"""

import torch
from torch import nn

from quaton.hardware.adc import adc_step


def normal_like(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return torch.randn_like(like)
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


class ReadNoise(nn.Module):
    def __init__(self, sigma: float = 0.0, levels: int | None = None, photons: float = 0.0) -> None:
        super().__init__()
        self.sigma = sigma
        self.levels = levels
        self.photons = photons

    def forward(
        self, image: torch.Tensor, full_scale: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        if self.sigma:
            image = image + self.sigma * adc_step(full_scale, self.levels) * normal_like(image, generator)
        if self.photons:
            image = image + torch.sqrt(image.detach().clamp_min(0) * full_scale / self.photons) * normal_like(
                image, generator
            )
        return image
