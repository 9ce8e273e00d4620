"""The quantizer interface: raw phase parameters -> phases, soft or straight-through in training, hard in eval."""

from __future__ import annotations

import torch
from torch import nn

from quaton.quant.levels import hard_quantize, level_values, step_size
from quaton.quant.schedule import Schedule


class Quantizer(nn.Module):
    """Base: ``forward(raw)`` gives phases (rad). In ``eval()`` mode every subclass returns the hard
    device, each value exactly one of the n levels; in ``train()`` mode its own training form.

    ``update(progress)`` is called by the training loop before every step with the fraction of
    training done (and the epoch), for annealed temperatures. ``regularization()`` is added to the
    loss (0 unless the method defines one).
    """

    # buffers (register_buffer), declared for the type checker
    values: torch.Tensor  # the n levels (rad) [n]
    temperature: torch.Tensor  # scalar

    def __init__(
        self, levels: int, value_range: tuple[float, float] | None = None, schedule: Schedule | None = None
    ) -> None:
        super().__init__()
        self.levels = int(levels)
        self.value_range = (value_range[0], value_range[1]) if value_range is not None else None
        self.delta = step_size(self.levels, self.value_range)
        self.schedule = schedule
        self.register_buffer("values", level_values(self.levels, self.value_range))
        self.register_buffer("temperature", torch.tensor(schedule.start if schedule else 1.0))

    # How a phase mask turns the training form into a transmission: "arc", exp(i·forward(raw)), or
    # "chord", the secant between neighbouring levels of the continuous phase relaxed(raw) (see
    # quaton.optics.elements.chord_transmission), with the hard device's value in the forward pass
    # when straight_through.
    relaxation = "arc"
    relaxations: tuple[str, ...] = ("arc",)
    straight_through = False

    def uses_chord(self) -> bool:
        """Whether a mask trains this quantizer's transmission on the chord right now."""
        return self.relaxation == "chord"

    def relaxed(self, raw: torch.Tensor) -> torch.Tensor:
        """The continuous phase (rad) whose chord transmission is trained (chord relaxation only)."""
        return self.soft(raw)

    def mixture(self, raw: torch.Tensor) -> torch.Tensor | None:
        """Weights [H, W, n] of the levels whose mixture of transmissions Σ_k w_k·exp(iθ_k) is trained
        on the chord, for methods that train a distribution over levels (GS); None for the others,
        which relax one continuous phase (:meth:`relaxed`)."""
        return None

    def hard(self, raw: torch.Tensor) -> torch.Tensor:
        """The hard device: nearest level of each phase (rad), no gradient."""
        return hard_quantize(raw, self.levels, self.value_range)

    def soft(self, raw: torch.Tensor) -> torch.Tensor:
        """The training form; subclasses override."""
        return raw

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return self.soft(raw) if self.training else self.hard(raw)

    def update(self, progress: float, epoch: int) -> None:
        if self.schedule is not None:
            self.temperature.fill_(self.schedule.value(progress, epoch))

    def regularization(self) -> torch.Tensor:
        return self.values.new_zeros(())

    def temperature_parameters(self) -> list[nn.Parameter]:
        """Parameters that set the temperature (trained at their own, smaller learning rate)."""
        return []

    def initialize(self, raw: torch.Tensor) -> None:
        """Called once with the mask's initial raw phases (for quantizers with their own parameters)."""

    def extra_repr(self) -> str:
        span = (
            "circular [0, 2π)"
            if self.value_range is None
            else f"[{self.value_range[0]:.4g}, {self.value_range[1]:.4g}]"
        )
        return f"levels={self.levels}, {span}"
