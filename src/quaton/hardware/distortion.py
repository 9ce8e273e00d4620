"""Deterministic distortions: the same error at every read-out (or at the modulator)."""

import torch
import torch.nn.functional as F
from torch import nn


class Crosstalk(nn.Module):
    """Neighbouring pixels bleed into each other: a 3×3 blur with ``coupling`` to each of the 4
    nearest neighbours; the centre keeps 1 − 4·coupling.

    Energy-conserving, the sensor's border included: a pixel on the border has no neighbour
    outside the sensor to lose light to, so it keeps that share (1 − 3·coupling on an edge,
    1 − 2·coupling in a corner). This is the blur with the image edge-replicated by one pixel
    (replicate padding), so that the sum over the sensor is unchanged.
    """

    kernel: torch.Tensor  # buffer, float32 [3, 3]

    def __init__(self, coupling: float) -> None:
        super().__init__()
        c = coupling
        self.register_buffer(
            "kernel", torch.tensor([[0, c, 0], [c, 1 - 4 * c, c], [0, c, 0]], dtype=torch.float32), persistent=False
        )

    def forward(self, image: torch.Tensor, full_scale: torch.Tensor, generator=None) -> torch.Tensor:
        flat = image.reshape(-1, 1, *image.shape[-2:])
        padded = F.pad(flat, (1, 1, 1, 1), mode="replicate")
        return F.conv2d(padded, self.kernel.to(image.dtype)[None, None]).reshape(image.shape)


class Nonlinearity(nn.Module):
    """Detector response: I' = S·(I/S)^γ (gamma), then, with ``saturation`` s, I' = s·S·tanh(I'/(s·S)).

    S is the full scale.
    """

    def __init__(self, gamma: float = 1.0, saturation: float | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.saturation = saturation

    def forward(self, image: torch.Tensor, full_scale: torch.Tensor, generator=None) -> torch.Tensor:
        if self.gamma != 1.0:
            image = full_scale * (image.clamp_min(0) / full_scale).pow(self.gamma)
        if self.saturation is not None:
            knee = self.saturation * full_scale
            image = knee * torch.tanh(image / knee)
        return image


class GainOffset(nn.Module):
    """I' = gain·I + offset·full_scale."""

    def __init__(self, gain: float = 1.0, offset: float = 0.0) -> None:
        super().__init__()
        self.gain = gain
        self.offset = offset

    def forward(self, image: torch.Tensor, full_scale: torch.Tensor, generator=None) -> torch.Tensor:
        return self.gain * image + self.offset * full_scale


def slm_response(phase: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """The modulator's non-linear phase response (an SLM look-up curve): φ' = 2π·(φ/2π)^γ, φ in [0, 2π) (rad)."""
    if gamma == 1.0:
        return phase
    two_pi = 2 * torch.pi
    return two_pi * (torch.remainder(phase, two_pi) / two_pi).clamp_min(1e-12).pow(gamma)
