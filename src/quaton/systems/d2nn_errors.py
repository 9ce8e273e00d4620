"""The systematic errors of a physical D2NN, written once: what quaton's simulated twin draws
(:class:`quaton.systems.d2nn_twin.D2NNTwin`) and what the calibrated twin fits
(:class:`quaton.systems.calibrate.ParametricD2NN`). Pure tensor functions, differentiable in every
parameter (a float or a 0-d tensor, which may require grad).

A mask's phase φ [N, N] (rad) reaches the light as
``phase_response(blur_crosstalk(φ, c), scale, γ)``: neighbouring pixels mix first (fringing fields
of an SLM, proximity effects of a print), then the phase response of the device acts on the
wrapped phase. The detector reports ``detector_response(I, gain, offset)``. Misalignment (shift,
rotation) and distance errors are optics: :mod:`quaton.optics.misalignment`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

TWO_PI = 2 * math.pi


def blur_crosstalk(phase: torch.Tensor, coupling: float | torch.Tensor) -> torch.Tensor:
    """Phase [N, N] (rad) blurred by the 3×3 kernel [[0, c, 0], [c, 1 − 4c, c], [0, c, 0]] (edges
    replicated): each pixel takes fraction c of each of its four neighbours' phase."""
    c = torch.as_tensor(coupling, dtype=phase.dtype, device=phase.device)
    zero = torch.zeros_like(c)
    kernel = torch.stack([torch.stack([zero, c, zero]), torch.stack([c, 1 - 4 * c, c]), torch.stack([zero, c, zero])])
    padded = F.pad(phase[None, None], (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, kernel[None, None])[0, 0]


def phase_response(
    phase: torch.Tensor, scale: float | torch.Tensor = 0.0, gamma: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """The phase the device imposes for a loaded phase (rad, any shape): φ wrapped to [0, 2π), then
    φ' = (1 + scale)·2π·(φ/2π)^γ. A float γ of 1 is skipped exactly; otherwise φ/2π is clamped at
    10⁻⁶, which keeps d/dγ of x^γ = x^γ·ln x finite at x = 0."""
    phase = torch.remainder(phase, TWO_PI)
    if not (isinstance(gamma, float | int) and gamma == 1.0):
        phase = TWO_PI * (phase / TWO_PI).clamp_min(1e-6).pow(gamma)
    return phase * (1 + scale)


def detector_response(
    power: torch.Tensor, gain: float | torch.Tensor = 1.0, offset: float | torch.Tensor = 0.0
) -> torch.Tensor:
    """Detector-plane power [B, N, N] -> what the camera reports: gain·I + offset·mean(I) (the offset
    a fraction of each image's mean power)."""
    return gain * power + offset * power.mean(dim=(-2, -1), keepdim=True)
