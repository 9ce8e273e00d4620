"""A calibrated twin of an MZI-mesh network: the DAT error model's parameters (every coupler's split
error, every phase shifter's offset) fitted to the system's port powers by gradient descent through
quaton's own differentiable mesh (``calibrate:`` / ``train.strategy: calibrated`` with ``model.kind: mzi``).

The parametric model is :class:`quaton.models.mzi.MZINetwork` run with :class:`MeshErrors` whose
values are trainable: per mesh, ``bs`` [n_mzi, 2] (split-ratio errors e, amplitudes scaled by
√(1 ± e)), ``theta`` and ``phi`` [n_mzi] (additive phase errors, rad). Calibration uses only the
system's protocol: it loads random phase settings (a lab can program any phases it likes), measures
the port powers after every mesh for a few training inputs, and fits the errors to those powers
(relative MSE per plane, Adam). Offsets that change only the phase of a mesh's last outputs are
invisible to power detectors and stay unconstrained, which is harmless: they change nothing a
photodiode reads. The budget is counted as for a D2NN (``measure`` calls, input fields measured).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from quaton.models.mzi import MeshErrors, MZINetwork
from quaton.systems.calibrate import CalibrationResult, relative_mse
from quaton.systems.parametric import ParametricTwin

TWO_PI = 2 * math.pi
ERROR_NAMES = ("bs", "theta", "phi")
GROUPS = {"coupler": ("bs",), "phase": ("theta", "phi")}


class ParametricMZI(ParametricTwin):
    """The systematic errors of an MZI-mesh device (``meshes`` Clements meshes of ``ports`` waveguides)
    as parameters: ``bs`` [meshes, n_mzi, 2], ``theta`` and ``phi`` [meshes, n_mzi] (rad); zeros = ideal."""

    def __init__(self, ports: int, meshes: int) -> None:
        super().__init__()
        n_mzi = ports * (ports - 1) // 2
        self.ports, self.meshes = ports, meshes
        self.bs = nn.ParameterList(nn.Parameter(torch.zeros(n_mzi, 2)) for _ in range(meshes))
        self.theta = nn.ParameterList(nn.Parameter(torch.zeros(n_mzi)) for _ in range(meshes))
        self.phi = nn.ParameterList(nn.Parameter(torch.zeros(n_mzi)) for _ in range(meshes))
        self.gamma: torch.Tensor
        self.register_buffer("gamma", torch.zeros(meshes, ports))  # the output screens are error-free (DAT)

    @classmethod
    def from_design(cls, design: dict[str, Any]) -> ParametricMZI:
        model = design.get("model", {})
        return cls(int(model.get("ports", 64)), int(model.get("meshes", 3)))

    def reset_(self) -> ParametricMZI:
        """All errors back to none (the ideal mesh); returns self."""
        with torch.no_grad():
            for name in ERROR_NAMES:
                for parameter in getattr(self, name):
                    parameter.zero_()
        return self

    def fit_parameters(self, groups: list[str] | tuple[str, ...], mesh: int | None = None) -> list[nn.Parameter]:
        """The parameters of the named groups (``coupler``: bs; ``phase``: theta, phi) of one ``mesh``
        (None: all); the rest frozen. A D2NN's groups (shift, distance, ...) do not apply: ignored."""
        chosen = {name for group in groups for name in GROUPS.get(group, ())}
        fitted = []
        for name in ERROR_NAMES:
            for index, parameter in enumerate(getattr(self, name)):
                parameter.requires_grad_(name in chosen and mesh in (None, index))
                if parameter.requires_grad:
                    fitted.append(parameter)
        return fitted

    def errors(self) -> list[MeshErrors]:
        """One :class:`MeshErrors` per mesh (split errors clipped to keep every coupler physical)."""
        return [
            MeshErrors(self.bs[m].clamp(-1 + 1e-6, 1 - 1e-6), self.theta[m], self.phi[m], self.gamma[m])
            for m in range(self.meshes)
        ]

    def run(
        self,
        model: nn.Module,
        fields: torch.Tensor,
        correction: list | None = None,
        replace: list | None = None,
        hard: bool = True,
    ) -> list[torch.Tensor]:
        """The fields complex [B, ports] after every mesh of ``model`` (an MZINetwork) with these errors
        (``hard``: a D2NN's quantized operating point; an MZI mesh's phases are not quantized)."""
        return cast(MZINetwork, model).stages(fields, self.errors(), correction, replace)[1]

    def detect(self, power: torch.Tensor) -> torch.Tensor:
        """Photodiodes report the port power as it is."""
        return power

    @torch.no_grad()
    def values(self) -> dict[str, Any]:
        """Every error, float arrays: bs [meshes, n_mzi, 2], theta and phi [meshes, n_mzi] (rad)."""
        return {name: torch.stack(list(getattr(self, name))).detach().double().cpu().numpy() for name in ERROR_NAMES}


def probe_settings(network: MZINetwork, count: int, generator: torch.Generator) -> list[list[dict[str, np.ndarray]]]:
    """``count`` random phase settings of every mesh (θ, φ uniform in [0, 2π), output screen 0), in the
    shape ``MZINetwork.device_params`` returns."""
    settings = []
    for _ in range(count):
        meshes = []
        for phases in network.device_params():
            meshes.append(
                {
                    name: (torch.rand(len(value), generator=generator, dtype=torch.float64) * TWO_PI).numpy()
                    if name != "gamma"
                    else np.zeros_like(value)
                    for name, value in phases.items()
                }
            )
        settings.append(meshes)
    return settings


def _misfit(
    candidate: ParametricMZI,
    probes: list[MZINetwork],
    fields: torch.Tensor,
    measured: list[list[torch.Tensor]],
    planes: int | None = None,
) -> torch.Tensor:
    """Mean over probes and the first ``planes`` planes (None: all) of the relative MSE of the port powers."""
    terms = []
    for network, targets in zip(probes, measured):
        states = candidate.run(network, fields)
        for state, target in list(zip(states, targets))[:planes]:
            terms.append(relative_mse(state.real.square() + state.imag.square(), target))
    return torch.stack(terms).mean()


def _lbfgs(parameters: list[nn.Parameter], misfit: Any, steps: int, lr: float, history: list[float]) -> None:
    """At most ``steps`` L-BFGS iterations with a strong-Wolfe line search on ``misfit()``; a smooth
    least-squares problem where Adam's fixed steps stall (measured: relative MSE 0.07 -> 3e-7 against
    0.07 -> 0.069 on an 8-port mesh)."""
    optimizer = torch.optim.LBFGS(
        parameters,
        lr=lr,
        max_iter=steps,
        max_eval=2 * steps,
        history_size=50,
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = misfit()
        loss.backward()
        history.append(float(loss.detach()))
        return loss

    optimizer.step(closure)


@dataclass
class MZICalibrationResult(CalibrationResult):
    """A calibration of an MZI mesh; its report gives RMS values per error kind instead of ~10⁴ numbers."""

    def report(self, truth: dict[str, Any] | None) -> dict[str, Any]:
        def rms(values: dict[str, Any]) -> dict[str, float]:
            return {name: float(np.sqrt(np.mean(np.square(values[name])))) for name in ERROR_NAMES if name in values}

        result: dict[str, Any] = {
            "fitted_rms": rms(self.fitted),
            "budget": {"measure_calls": self.measure_calls, "fields_measured": self.fields_measured},
            "relative_mse": {"ideal_model": self.loss_before, "calibrated_model": self.loss_after},
        }
        if truth:
            result["truth_rms"] = rms(truth)
            result["error_rms"] = rms({k: np.asarray(self.fitted[k]) - np.asarray(truth[k]) for k in truth})
        return result


def calibrate_mzi(
    system: Any,
    physics: ParametricMZI,
    model: MZINetwork,
    fields: torch.Tensor,
    *,
    groups: list[str] | tuple[str, ...],
    probes: int,
    steps: int,
    lr: float,
    seed: int = 0,
) -> MZICalibrationResult:
    """Fit ``physics`` (in place) to ``system``'s port powers after every mesh.

    ``fields``: encoded inputs complex [B, ports]; ``probes`` random phase settings are loaded and
    the B inputs measured once per setting; then, mesh by mesh and finally all together, at most
    ``steps`` L-BFGS iterations each (step size ``lr``; 1 is L-BFGS's natural step) on the
    measurements. Budget: ``probes`` measure calls of B fields."""
    generator = torch.Generator().manual_seed(seed + 104729)
    device = fields.device
    fields = fields.detach().to(torch.complex128)  # the line search needs misfits exact to more than 7 digits
    networks: list[MZINetwork] = []
    measured: list[list[torch.Tensor]] = []
    for setting in probe_settings(model, probes, generator):
        system.load(setting)
        measurement = system.measure(fields)
        planes = [*measurement.get("internal", []), measurement["output"]]
        measured.append([torch.as_tensor(p).to(device=device, dtype=torch.float64) for p in planes])
        network = copy.deepcopy(model).eval()
        network.load_device_params(setting)
        network.requires_grad_(False)
        networks.append(network)
    history: list[float] = []
    # mesh by mesh (each mesh's errors from the powers after it, the earlier meshes already fitted),
    # then all together: the misfit of three meshes at once is not convex between the ideal mesh and
    # the truth (measured along that line: 0.71, 0.73, 0.62, 0.43, 0), one mesh's nearly is
    stages = [(mesh, mesh + 1) for mesh in range(physics.meshes)] if physics.meshes > 1 else []
    for mesh, upto in [*stages, (None, None)]:
        parameters = physics.fit_parameters(groups, mesh)
        if parameters and steps > 0:
            _lbfgs(parameters, lambda: _misfit(physics, networks, fields, measured, upto), steps, lr, history)
    with torch.no_grad():
        after = float(_misfit(physics, networks, fields, measured))
        before = float(_misfit(copy.deepcopy(physics).reset_(), networks, fields, measured))
    physics.requires_grad_(False)
    return MZICalibrationResult(physics.values(), probes, probes * len(fields), before, after, history)
