"""Quantizers: raw phase parameters -> phases on n levels. Tensor -> tensor; they know no optics.

One file per method and one registry (:class:`quaton.registry.Registry`): ``QUANTIZERS[name]`` is
the class, built with ``(levels, value_range, schedule, **options)``; ``QUANTIZERS.entry(name)``
holds its options model (set as ``quantization.options``, or the flat keys such as
``quantization.logit_scale``), its display name and ``temperatures``, the (start, end) of its
temperature schedule when the config leaves them open. A new quantizer is a :class:`Quantizer`
subclass registered with ``@QUANTIZERS.register("name", options=...)`` in its own file.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from quaton.quant.base import Quantizer
from quaton.quant.gs import GumbelSoftmaxQuantizer
from quaton.quant.levels import circular_distance, hard_quantize, level_index, level_values, step_size
from quaton.quant.pq import PostQuantizer
from quaton.quant.psq import LearnedTemperatureQuantizer, ProgressiveSigmoidQuantizer, sigmoid_staircase
from quaton.quant.schedule import Schedule
from quaton.quant.ste import StraightThroughQuantizer
from quaton.registry import Options, Registry

QUANTIZERS: Registry[type[Quantizer]] = Registry("quantizer", "quantization.method", extra=("none",))


class GSOptions(Options):
    """Options of GS (quaton.quant.gs.GumbelSoftmaxQuantizer)."""

    hard: bool = Field(True, description="straight-through one-hot samples")
    logit_scale: float = Field(10.0, gt=0, allow_inf_nan=False, description="logits = logit_scale · weights")


class PSQLTOptions(Options):
    """Options of PSQ-LT (quaton.quant.psq.LearnedTemperatureQuantizer)."""

    k_init: float = Field(0.05, gt=0, allow_inf_nan=False, description="initial k, τ = 1/(|k| + 0.005)")
    penalty: float = Field(0.01, ge=0, allow_inf_nan=False, description="λ0 of the penalty 0.5·λ_e·(k² − c²)")
    penalty_c: float = Field(0.1, ge=0, allow_inf_nan=False, description="c of the penalty")
    double_every: int = Field(5, ge=1, description="λ_e doubles every this many epochs")


QUANTIZERS.register("pq", PostQuantizer, display="PQ", summary="post quantization: full precision in training")
QUANTIZERS.register(
    "ste", StraightThroughQuantizer, display="STE", summary="straight-through estimator: levels, identity gradient"
)
QUANTIZERS.register(
    "gs",
    GumbelSoftmaxQuantizer,
    options=GSOptions,
    display="GS",
    summary="Gumbel-softmax over the levels, per pixel (Jang et al. 2017)",
    temperatures=(2.0, 0.1),
)
QUANTIZERS.register(
    "psq",
    ProgressiveSigmoidQuantizer,
    display="PSQ",
    summary="progressive sigmoid quantization: a soft staircase hardening on a schedule (QuATON)",
    temperatures=(1.0, 20.0),
)
QUANTIZERS.register(
    "psq-lt",
    LearnedTemperatureQuantizer,
    options=PSQLTOptions,
    display="PSQ-LT",
    summary="PSQ with a learned temperature τ = 1/(|k| + 0.005) and a growing penalty on k²",
)
METHODS = ("none", *QUANTIZERS)  # the built-in methods; QUANTIZERS.choices() includes later registrations


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
    "GSOptions",
    "GumbelSoftmaxQuantizer",
    "LearnedTemperatureQuantizer",
    "PSQLTOptions",
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
