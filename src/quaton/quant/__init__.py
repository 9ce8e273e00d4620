"""Quantizers: raw phase parameters -> phases on n levels. Tensor -> tensor; they know no optics.

One file per method and one registry: ``QUANTIZERS[name]`` is the class, built with
``(levels, value_range, schedule, **options)``.
"""

from __future__ import annotations

import torch
from torch import nn

from quaton.quant.base import Quantizer
from quaton.quant.gs import GumbelSoftmaxQuantizer
from quaton.quant.levels import circular_distance, hard_quantize, level_index, level_values, step_size
from quaton.quant.pq import PostQuantizer
from quaton.quant.psq import LearnedTemperatureQuantizer, ProgressiveSigmoidQuantizer, sigmoid_staircase
from quaton.quant.schedule import Schedule
from quaton.quant.ste import StraightThroughQuantizer

QUANTIZERS: dict[str, type[Quantizer]] = {
    "pq": PostQuantizer,
    "ste": StraightThroughQuantizer,
    "gs": GumbelSoftmaxQuantizer,
    "psq": ProgressiveSigmoidQuantizer,
    "psq-lt": LearnedTemperatureQuantizer,
}
METHODS = ("none", *QUANTIZERS)


def quantizers(model: nn.Module) -> list[Quantizer]:
    return [m for m in model.modules() if isinstance(m, Quantizer)]


def update_quantizers(model: nn.Module, progress: float, epoch: int) -> None:
    """Advance every quantizer's schedule: ``progress`` in [0, 1], ``epoch`` from 0."""
    for quantizer in quantizers(model):
        quantizer.update(progress, epoch)


def regularization(model: nn.Module) -> torch.Tensor:
    """Sum of the quantizers' loss terms (PSQ-LT's temperature penalty), a scalar."""
    terms = [q.regularization() for q in quantizers(model)]
    return torch.stack(terms).sum() if terms else torch.zeros(())


__all__ = [
    "METHODS",
    "QUANTIZERS",
    "GumbelSoftmaxQuantizer",
    "LearnedTemperatureQuantizer",
    "PostQuantizer",
    "ProgressiveSigmoidQuantizer",
    "Quantizer",
    "Schedule",
    "StraightThroughQuantizer",
    "circular_distance",
    "hard_quantize",
    "level_index",
    "level_values",
    "quantizers",
    "regularization",
    "sigmoid_staircase",
    "step_size",
    "update_quantizers",
]
