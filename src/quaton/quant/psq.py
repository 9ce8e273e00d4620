"""PSQ, progressive sigmoid quantization, and PSQ-LT, its learnable-temperature form (QuATON).

The soft staircase (QuATON, arXiv 2310.03049, and the authors' multi-level sigmoid quantizer):
    Q_τ(x) = lo + Σ_i Δ·σ(τ·(x − c_i)),   c_i = lo + (i + ½)Δ,
one sigmoid per step, centred halfway between levels. On the circle (levels 2πk/n) x is first
wrapped to [0, 2π) and there are n steps, the last one at 2π − Δ/2 being the wrap step to 2π ≡ 0;
with an explicit range [lo, hi] there are n − 1 steps and a small linear leak 0.01·(x − clamp(x))
outside the range keeps a gradient. τ is in 1/rad, as in the paper (1 → 20 over training). As τ → ∞
every sigmoid becomes a step and Q_τ equals hard quantization (a test checks it).

PSQ-LT: τ = 1/(|k| + 0.005) with one learnable k per quantizer (k₀ = 0.05, τ₀ ≈ 18) and a loss
term 0.5·λ_e·(k² − c²) whose weight λ_e = λ₀·2^⌊epoch / double_every⌋ grows during training, so
that training itself decides how fast the staircase hardens.
"""

from __future__ import annotations

import torch
from torch import nn

from quaton.quant.base import Quantizer
from quaton.quant.levels import TWO_PI

LEAK = 0.01


def sigmoid_staircase(raw: torch.Tensor, levels: int, value_range: tuple[float, float] | None, temperature: torch.Tensor) -> torch.Tensor:
    """Q_τ(raw) in radians, same shape as ``raw``; differentiable in raw and in τ."""
    if value_range is None:
        x = torch.remainder(raw, TWO_PI)
        lo, delta, steps = 0.0, TWO_PI / levels, levels
    else:
        lo, hi = value_range
        delta, steps = (hi - lo) / (levels - 1), levels - 1
        x = raw
    centres = lo + (torch.arange(steps, dtype=raw.dtype, device=raw.device) + 0.5) * delta
    shape = (steps,) + (1,) * raw.ndim
    out = lo + delta * torch.sigmoid(temperature * (x.unsqueeze(0) - centres.reshape(shape))).sum(dim=0)
    if value_range is not None:
        out = out + LEAK * (raw - raw.clamp(*value_range))
    return out


class ProgressiveSigmoidQuantizer(Quantizer):
    """PSQ: the soft staircase at a scheduled temperature; raw phases during warm-up epochs."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("warm", torch.tensor(bool(self.schedule and self.schedule.warmup_epochs > 0)))

    def update(self, progress: float, epoch: int) -> None:
        super().update(progress, epoch)
        if self.schedule is not None:
            self.warm.fill_(epoch < self.schedule.warmup_epochs)

    def soft(self, raw: torch.Tensor) -> torch.Tensor:
        if bool(self.warm):
            return raw
        return sigmoid_staircase(raw, self.levels, self.value_range, self.temperature)


class LearnedTemperatureQuantizer(Quantizer):
    """PSQ-LT: the soft staircase at τ = 1/(|k| + 0.005), k learnable, with a growing penalty on k²."""

    def __init__(
        self,
        levels: int,
        value_range: tuple[float, float] | None = None,
        schedule=None,
        *,
        k_init: float = 0.05,
        penalty: float = 0.01,
        penalty_c: float = 0.1,
        double_every: int = 5,
    ) -> None:
        super().__init__(levels, value_range, None)
        self.k = nn.Parameter(torch.tensor(float(k_init)))
        self.penalty_c = penalty_c
        self.penalty0 = penalty
        self.double_every = double_every
        self.register_buffer("penalty", torch.tensor(float(penalty)))

    def current_temperature(self) -> torch.Tensor:
        return 1.0 / (self.k.abs() + 0.005)

    def soft(self, raw: torch.Tensor) -> torch.Tensor:
        temperature = self.current_temperature()
        self.temperature.fill_(float(temperature.detach()))
        return sigmoid_staircase(raw, self.levels, self.value_range, temperature)

    def update(self, progress: float, epoch: int) -> None:
        self.penalty.fill_(self.penalty0 * 2.0 ** (epoch // max(1, self.double_every)))

    def temperature_parameters(self) -> list[nn.Parameter]:
        return [self.k]

    def regularization(self) -> torch.Tensor:
        return 0.5 * self.penalty * (self.k.square() - self.penalty_c**2)
