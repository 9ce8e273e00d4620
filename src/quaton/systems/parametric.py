"""The base of every parametric (calibrated) twin: a differentiable model of a physical system built
from its design, with the system's systematic errors as its parameters (zeros: the ideal device).
Calibration fits them (:mod:`quaton.systems.calibrate`, :mod:`quaton.systems.calibrate_mzi`),
robust training draws them (:mod:`quaton.systems.robust`), training runs through them."""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn


class ParametricTwin(nn.Module, metaclass=abc.ABCMeta):
    """What training and calibration ask of a parametric twin."""

    @abc.abstractmethod
    def run(
        self,
        model: nn.Module,
        fields: torch.Tensor,
        correction: list | None = None,
        replace: list | None = None,
        hard: bool = True,
    ) -> list[torch.Tensor]:
        """The complex fields at every measurable plane of ``model``'s device with these errors, the
        output last (``correction``, ``replace``: DAT's per-plane corrections, as
        ``MeasurableModel.plane_states``; ``hard``: at the quantized device's operating point)."""

    @abc.abstractmethod
    def detect(self, power: torch.Tensor) -> torch.Tensor:
        """The output detectors' power -> what the system reports."""

    @abc.abstractmethod
    def reset_(self) -> ParametricTwin:
        """All errors back to none (the ideal device); returns self."""

    @abc.abstractmethod
    def values(self) -> dict[str, Any]:
        """The errors in the units a twin's ``true_parameters`` reports them."""
