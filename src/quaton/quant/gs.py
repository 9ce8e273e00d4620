"""GS, Gumbel-softmax quantization (Jang et al. 2017): per pixel, learnable logits over the n levels.

Training: a Gumbel-softmax sample y = softmax((logits + g)/τ), g ~ Gumbel(0, 1), at a temperature τ
annealed by the schedule (e.g. 2 → 0.1), mixes the levels: on the phase circle as the phase of
Σ_k y_k·exp(iθ_k) (the circular mean, so that 0 and 2π − Δ are neighbours), within an explicit range
linearly as Σ_k y_k·θ_k. With ``hard`` (the default, as in the paper's GS baseline) the forward pass
takes the level of the one-hot sample and the gradient flows through the soft mix (straight-through).
Eval: the argmax level.

Relaxation: on the chord (the default) the mask trains the mixture of the levels' transmissions,
t = Σ_k y_k·exp(iθ_k), the sample's own relaxation of a pixel that is one level or another (a point
of the polygon of the levels; with ``hard``, the one-hot sample's value and this mixture's gradient).
On the arc, it trains exp(i·mixed phase) as above, the paper's form. The arc is degenerate at 2
levels: the circular mean of {0, π} is exactly 0 or π (sin 0 = sin π = 0), so the logits get no
gradient at all and binary GS cannot learn (measured: chance on MNIST); the mixture y₀ − y₁ is the
chord between the two levels and trains. The logits start from the
mask's initial phases (logit_k = −(d(φ, θ_k)/Δ)², Δ the level step: neighbouring levels differ by
O(1) logits, so the softmax is not saturated at the start), so the initial device is the same as for
the other methods (their hard device, ``levels.hard_quantize``); the mask's raw phases are then
unused. d is the circular distance for circular levels; within an explicit range it is the distance
|clamp(φ, lo, hi) − θ_k| on the line, as the other methods clamp (a circular distance would send a
phase just below 2π to the range's lower end, and make levels at 0 and 2π tie).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from quaton.gradients import straight_through
from quaton.quant.base import Quantizer
from quaton.quant.levels import circular_distance


class GumbelSoftmaxQuantizer(Quantizer):
    replaces_raw = True
    relaxation = "chord"
    relaxations = ("arc", "chord")

    def __init__(
        self, levels, value_range=None, schedule=None, *, hard: bool = True, logit_scale: float = 10.0
    ) -> None:
        super().__init__(levels, value_range, schedule)
        self.hard_samples = hard
        self.logit_scale = logit_scale
        self.weights = nn.Parameter(torch.zeros(0))

    def initialize(self, raw: torch.Tensor) -> None:
        phase = raw.detach().unsqueeze(-1)
        if self.value_range is None:
            distance = circular_distance(phase, self.values)
        else:
            distance = (phase.clamp(*self.value_range) - self.values).abs()
        self.weights = nn.Parameter(-(distance / self.delta).square())

    @property
    def logits(self) -> torch.Tensor:
        """Per-pixel logits [H, W, n] = logit_scale · weights (the scale speeds up learning under Adam)."""
        return self.logit_scale * self.weights

    def hard(self, raw: torch.Tensor) -> torch.Tensor:
        return self.values[self.weights.argmax(dim=-1)].detach()

    def mixture(self, raw: torch.Tensor) -> torch.Tensor | None:
        """A Gumbel-softmax sample [H, W, n] (one-hot in value with ``hard``, soft in gradient)."""
        return F.gumbel_softmax(self.logits, tau=float(self.temperature), hard=self.hard_samples, dim=-1)

    def soft(self, raw: torch.Tensor) -> torch.Tensor:
        sample = F.gumbel_softmax(self.logits, tau=float(self.temperature), hard=False, dim=-1)
        if self.value_range is None:
            # Circular levels mix on the circle: the phase of Σ y_k·exp(iθ_k), so that levels 0 and
            # 2π − Δ are neighbours (a linear mix would put their mean at π).
            mixed = torch.atan2((sample * self.values.sin()).sum(dim=-1), (sample * self.values.cos()).sum(dim=-1))
        else:
            mixed = (sample * self.values).sum(dim=-1)
        if not self.hard_samples:
            return mixed
        # Straight-through: the value of the one-hot sample, the gradient of the soft one.
        hard = self.values[sample.detach().argmax(dim=-1)]
        return straight_through(hard, mixed)
