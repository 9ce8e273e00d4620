"""Phase levels and hard quantization: pure tensor functions, no optics.

Two kinds of level sets (QuATON, arXiv 2310.03049; quaton's choices documented in README.md):

- circular (``value_range=None``): n levels 2πk/n, k = 0..n-1, on the phase circle. A value just
  below 2π rounds to level 0, never to a level 2π that does not exist.
- explicit range ``(lo, hi)``: n levels lo + kΔ, Δ = (hi − lo)/(n − 1), endpoints included, for a
  material or printer that cannot reach a full 2π; values outside are clamped.
"""

from __future__ import annotations

import math

import torch

TWO_PI = 2.0 * math.pi


def step_size(levels: int, value_range: tuple[float, float] | None) -> float:
    """Distance Δ (rad) between neighbouring levels."""
    if levels < 2:
        raise ValueError(f"quantization needs at least 2 levels, got {levels}")
    if value_range is None:
        return TWO_PI / levels
    lo, hi = value_range
    return (hi - lo) / (levels - 1)


def level_values(levels: int, value_range: tuple[float, float] | None = None, dtype=torch.float32) -> torch.Tensor:
    """The n level values in radians, float [n], ascending."""
    delta = step_size(levels, value_range)
    start = 0.0 if value_range is None else value_range[0]
    return start + delta * torch.arange(levels, dtype=dtype)


def level_index(phase: torch.Tensor, levels: int, value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Index int64 of the nearest level for each phase (rad), same shape as ``phase``."""
    delta = step_size(levels, value_range)
    if value_range is None:
        return torch.remainder(torch.round(torch.remainder(phase, TWO_PI) / delta), levels).to(torch.int64)
    lo, hi = value_range
    return torch.round((phase.clamp(lo, hi) - lo) / delta).to(torch.int64).clamp_(0, levels - 1)


def hard_quantize(phase: torch.Tensor, levels: int, value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Each phase replaced by its nearest level (rad); no gradient."""
    values = level_values(levels, value_range, dtype=phase.dtype).to(phase.device)
    return values[level_index(phase.detach(), levels, value_range)]


def circular_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|a − b| on the phase circle, in [0, π]."""
    d = torch.remainder(a - b, TWO_PI)
    return torch.minimum(d, TWO_PI - d)
