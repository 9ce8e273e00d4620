"""The parametric (calibrated) twins, by name: what a model kind's ``twin`` capability names.

A parametric twin is a differentiable model of a physical system built from its design, with the
system's systematic errors as parameters (:class:`quaton.systems.parametric.ParametricTwin`):
calibration fits them to the system's measurements (``calibrate:``, ``train.strategy:
calibrated``), robust training draws them at random (``train.strategy: robust``), and PAT or DAT
then trains through it. A model kind says which twin models its devices
(``register_model(..., twin="misalignment")``); a plug-in registers its own in ``TWINS`` from its
module::

    TWINS.register("my-errors", TwinKind(model=MyTwin.from_design, fit=fit_my_twin))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from quaton.config import RobustConfig
from quaton.registry import Registry
from quaton.systems.calibrate import CalibrationResult, ParametricD2NN, calibrate
from quaton.systems.calibrate_mzi import ParametricMZI, calibrate_mzi
from quaton.systems.parametric import ParametricTwin
from quaton.systems.robust import draw_errors

Fit = Callable[..., CalibrationResult]


@dataclass(frozen=True)
class TwinKind:
    """A parametric twin: ``model(design)`` builds it for a design (the description a physical
    system's factory receives), with no errors; ``fit(system, twin, network, fields, *, groups,
    probes, steps, lr, seed, saturation)`` fits it in place to ``system``'s measurements of the
    encoded ``fields`` (``network``: the model being trained; ``saturation``: the camera's full
    scale, None without one) and returns the report; ``draw(twin, sigmas, generator)`` sets random
    errors for robust training (None: the twin has no such draw)."""

    model: Callable[[dict[str, Any]], ParametricTwin]
    fit: Fit
    draw: Callable[[Any, RobustConfig, torch.Generator], Any] | None = None


TWINS: Registry[TwinKind] = Registry("parametric twin", "the model kind's twin")


def _fit_d2nn(system: Any, twin: Any, network: nn.Module, fields: torch.Tensor, **fit: Any) -> CalibrationResult:
    return calibrate(system, twin, fields, **fit)


def _fit_mzi(system: Any, twin: Any, network: nn.Module, fields: torch.Tensor, **fit: Any) -> CalibrationResult:
    fit.pop("saturation", None)  # port photodiodes: no camera to clip
    return calibrate_mzi(system, twin, network, fields, **fit)  # type: ignore[arg-type]


TWINS.register(
    "misalignment",
    TwinKind(model=ParametricD2NN.from_design, fit=_fit_d2nn, draw=draw_errors),
    summary="a D2NN's misalignment, distance, phase-response, crosstalk and detector errors (quaton.systems.calibrate)",
)
TWINS.register(
    "mesh-errors",
    TwinKind(model=ParametricMZI.from_design, fit=_fit_mzi),
    summary="an MZI mesh's coupler split and phase-shifter errors (quaton.systems.calibrate_mzi)",
)
