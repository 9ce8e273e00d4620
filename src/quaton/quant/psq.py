"""PSQ, progressive sigmoid quantization, and PSQ-LT, its learnable-temperature form (QuATON).

The soft staircase (QuATON, arXiv 2310.03049, and the authors' multi-level sigmoid quantizer):
    Q_τ(x) = lo + Σ_i Δ·σ(τ·(x − c_i)),   c_i = lo + (i + ½)Δ,
one sigmoid per step, centred halfway between levels. On the circle (levels 2πk/n) the staircase
is the periodic one (every step of every turn), so that it has no jump at the 0/2π wrap;
with an explicit range [lo, hi] there are n − 1 steps and a small linear leak 0.01·(x − clamp(x))
outside the range keeps a gradient. τ is in 1/rad, as in the paper (1 → 20 over training). As τ → ∞
every sigmoid becomes a step and Q_τ equals hard quantization (a test checks it).

PSQ-LT: τ = 1/(|k| + 0.005) with one learnable k per quantizer (k₀ = 0.05, τ₀ ≈ 18) and a loss
term 0.5·λ_e·(k² − c²) whose weight λ_e = λ₀·2^⌊epoch / double_every⌋ grows during training, so
that training itself decides how fast the staircase hardens.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from quaton.quant.base import Quantizer
from quaton.quant.levels import TWO_PI

LEAK = 0.01


TAIL = 8.0  # σ(−8) ≈ 3·10⁻⁴: sigmoids further than this (in units of τ·Δ) from x are dropped


def circular_staircase(raw: torch.Tensor, levels: int, temperature: torch.Tensor) -> torch.Tensor:
    """The soft staircase on the phase circle, continuous everywhere including the 0/2π wrap.

    With u = raw/Δ (Δ = 2π/n) and a = τ·Δ, the infinite staircase g(u) = Σ_{i∈ℤ} [σ(a(u − i − ½))
    − H(−i − ½)] obeys g(u + 1) = g(u) + 1, so Q = Δ·g(u) obeys Q(x + 2π) = Q(x) + 2π: exp(iQ) is
    continuous and periodic in the raw phase. It is evaluated as g(u) = ⌊u⌋ + g(r), r = u − ⌊u⌋ ∈
    [0, 1), keeping the 2K + 1 sigmoids nearest r (K = ⌈TAIL/a⌉, at most 64): the truncation error
    is below Δ·σ(−TAIL) at any temperature. (The old form wrapped raw to [0, 2π) and summed n
    sigmoids, which jumps by up to 1.4 rad at the wrap at τ = 1.)
    """
    delta = TWO_PI / levels
    a = temperature * delta
    u = raw / delta
    whole = torch.floor(u).detach()
    r = u - whole
    k = int(min(64, math.ceil(TAIL / max(float(a.detach()), 1e-6))))
    offsets = torch.arange(-k, k + 1, dtype=raw.dtype, device=raw.device) + 0.5
    steps = torch.sigmoid(a * (r.unsqueeze(0) - offsets.reshape((-1,) + (1,) * raw.ndim))).sum(dim=0) - k
    return delta * (whole + steps)


def sigmoid_staircase(
    raw: torch.Tensor, levels: int, value_range: tuple[float, float] | None, temperature: torch.Tensor
) -> torch.Tensor:
    """Q_τ(raw) in radians, same shape as ``raw``; differentiable in raw and in τ.

    Circular levels (``value_range`` None): :func:`circular_staircase`, not wrapped (the mask wraps
    its phase). Explicit range: n − 1 sigmoids between the endpoints plus a small linear leak.
    """
    if value_range is None:
        return circular_staircase(raw, levels, torch.as_tensor(temperature, dtype=raw.dtype, device=raw.device))
    lo, hi = value_range
    delta, steps = (hi - lo) / (levels - 1), levels - 1
    centres = lo + (torch.arange(steps, dtype=raw.dtype, device=raw.device) + 0.5) * delta
    shape = (steps,) + (1,) * raw.ndim
    out = lo + delta * torch.sigmoid(temperature * (raw.unsqueeze(0) - centres.reshape(shape))).sum(dim=0)
    return out + LEAK * (raw - raw.clamp(*value_range))


class ProgressiveSigmoidQuantizer(Quantizer):
    """PSQ: the soft staircase at a scheduled temperature; raw phases during warm-up epochs."""

    relaxation = "chord"
    relaxations = ("arc", "chord")
    warm: torch.Tensor  # buffer: bool scalar, true during warm-up epochs

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("warm", torch.tensor(bool(self.schedule and self.schedule.warmup_epochs > 0)))

    def update(self, progress: float, epoch: int) -> None:
        super().update(progress, epoch)
        if self.schedule is not None:
            self.warm.fill_(epoch < self.schedule.warmup_epochs)

    def uses_chord(self) -> bool:
        return super().uses_chord() and not bool(self.warm)  # warm-up trains full-precision phases

    def soft(self, raw: torch.Tensor) -> torch.Tensor:
        if bool(self.warm):
            return raw
        return sigmoid_staircase(raw, self.levels, self.value_range, self.temperature)


class LearnedTemperatureQuantizer(Quantizer):
    """PSQ-LT: the soft staircase at τ = 1/(|k| + 0.005), k learnable, with a growing penalty on k²."""

    relaxation = "chord"
    relaxations = ("arc", "chord")
    penalty: torch.Tensor  # buffer: the current weight of the k² penalty, scalar

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
