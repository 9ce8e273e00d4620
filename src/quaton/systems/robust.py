"""Robust training under randomised systematic errors (``train.strategy: robust``, D2NN).

When the physical system cannot be measured during training, the standard alternative to adapting
to it is to be insensitive to it: every training batch runs through the parametric model of
:mod:`quaton.systems.calibrate` with errors drawn afresh (lateral shifts, rotations, distances, phase
response, crosstalk; σ from the ``robust:`` section), so the design is trained for the whole
neighbourhood of the ideal system rather than for one point of it. The system is only deployed on.
"""

from __future__ import annotations

import torch

from quaton.config import RobustConfig
from quaton.systems.calibrate import ParametricD2NN


@torch.no_grad()
def draw_errors(model: ParametricD2NN, sigmas: RobustConfig, generator: torch.Generator) -> ParametricD2NN:
    """Set ``model``'s errors to a fresh draw (in place; returns it): shifts N(0, σ²) px per layer and
    axis, rotations N(0, σ²) degrees, distance scales 1 + N(0, σ²), phase scale N(0, σ²), phase
    exponent 1 + N(0, σ²) (kept ≥ 0.2), crosstalk |N(0, σ²)|; the detector stays ideal."""

    def normal(shape: tuple[int, ...], sigma: float) -> torch.Tensor:
        return torch.randn(shape, generator=generator) * sigma

    layers = model.num_layers
    model.shifts.copy_(normal((layers, 2), sigmas.shift))
    model.rotations.copy_(normal((layers,), sigmas.rotation))
    model.distance_scales.copy_(1 + normal((layers + 1,), sigmas.distance_error))
    model.phase_scale.copy_(normal((), sigmas.phase_scale))
    model.phase_gamma.copy_((1 + normal((), sigmas.phase_gamma)).clamp_min(0.2))
    model.crosstalk.copy_(normal((), sigmas.crosstalk).abs())
    model.gain.fill_(1.0)
    model.offset.zero_()
    return model
