"""A calibrated twin: a parametric, differentiable model of a physical D2NN, fitted to the system's
measurements by gradient descent before training (``calibrate:`` in the config).

The parametric model is the ideal D2NN with the systematic errors a diffractive network is known to
have, each a few numbers (units as in :class:`quaton.systems.d2nn_twin.D2NNTwin`):

- per layer, a lateral shift (rows, cols; px, sub-pixel) and an in-plane rotation (degrees),
  applied to the mask's transmission by :func:`quaton.optics.misalignment.move_transmission`;
- per plane, the distance as a multiple of the design's (``distance_scales``);
- the phase response φ' = (1 + phase_scale)·2π·(φ/2π)^phase_gamma of a phase φ in [0, 2π);
- neighbour crosstalk: the phase blurred by a 3×3 kernel with this coupling to each neighbour;
- the detector: gain·I + offset·mean(I).

Calibration uses only the system's protocol: it loads probe masks (random phase patterns, smooth
first and then fine: a lab can load any masks it likes), measures the outputs for a few training
images, and fits the parameters to those measurements (relative MSE of the detector images,
Adam). The budget is counted: ``measure`` calls and input fields measured. Afterwards PAT or DAT
trains through the calibrated model (its parameters frozen): the gradient of the task loss is
taken at the physical operating point the model explains, and DAT's SEPNs learn only the rest.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from quaton.gradients import straight_through
from quaton.optics import padded_shape, transfer_function
from quaton.optics.misalignment import axial_frequency, move_transmission, refocus
from quaton.optics.propagation import kernel_propagate
from quaton.systems.d2nn_errors import blur_crosstalk, detector_response, phase_response
from quaton.systems.parametric import ParametricTwin

TWO_PI = 2 * math.pi
PARAMETER_GROUPS: dict[str, tuple[str, ...]] = {
    "shift": ("shifts",),
    "rotation": ("rotations",),
    "distance": ("distance_scales",),
    "phase": ("phase_scale", "phase_gamma"),
    "crosstalk": ("crosstalk",),
    "detector": ("gain", "offset"),
    "coupler": (),  # an MZI mesh's split errors (quaton.systems.calibrate_mzi); nothing of a D2NN
}


def device_phase(mask: Any) -> torch.Tensor:
    """A phase mask's phases [N, N] (rad, in [0, 2π)) as the device has them: in training, a quantized
    mask's hard levels in value with the gradient of its training form (the soft phases of PSQ early
    in training are far from the levels the system is loaded with, and a gradient taken there does
    not describe the measured device); otherwise :meth:`PhaseMask.phase`."""
    phase = mask.phase()
    if not mask.training or mask.quantizer is None:
        return phase
    return straight_through(torch.remainder(mask.quantizer.hard(mask.raw), TWO_PI), phase)


class ParametricD2NN(ParametricTwin):
    """The D2NN of a design with fitted (or drawn) systematic errors; see the module doc.

    ``distances`` (m, L + 1), ``grid`` N, ``pitch`` (m), ``wavelength`` (m): the design.
    :meth:`stages` runs input fields complex [B, N, N] through masks given as phases [N, N] (rad),
    plane by plane as :meth:`quaton.models.D2NN.stages` does; :meth:`detect` is the detector.
    With all parameters at their defaults the model is the ideal D2NN.
    """

    # buffers: each plane's nominal transfer function complex [L + 1, P, Q], axial frequency [P, Q]
    kernels: torch.Tensor
    axial: torch.Tensor

    def __init__(
        self,
        *,
        grid: int,
        pitch: float,
        wavelength: float,
        distances: Sequence[float],
        method: str = "asm",
        pad_factor: float = 2.0,
    ) -> None:
        super().__init__()
        layers = len(distances) - 1
        self.grid = grid
        self.nominal = [float(d) for d in distances]
        padded = padded_shape((grid, grid), pad_factor)
        kernels = [
            transfer_function(padded, wavelength=wavelength, pitch=pitch, distance=d, method=method)
            for d in self.nominal
        ]
        self.register_buffer("kernels", torch.stack(kernels), persistent=False)
        self.register_buffer(
            "axial", axial_frequency(padded, wavelength=wavelength, pitch=pitch, method=method), persistent=False
        )
        self.shifts = nn.Parameter(torch.zeros(layers, 2))
        self.rotations = nn.Parameter(torch.zeros(layers))
        self.distance_scales = nn.Parameter(torch.ones(layers + 1))
        self.phase_scale = nn.Parameter(torch.tensor(0.0))
        self.phase_gamma = nn.Parameter(torch.tensor(1.0))
        self.crosstalk = nn.Parameter(torch.tensor(0.0))
        self.gain = nn.Parameter(torch.tensor(1.0))
        self.offset = nn.Parameter(torch.tensor(0.0))

    @torch.no_grad()
    def reset_(self) -> ParametricD2NN:
        """All errors back to none (the ideal D2NN); returns self."""
        for name in ("shifts", "rotations", "phase_scale", "crosstalk", "offset"):
            getattr(self, name).zero_()
        for name in ("distance_scales", "phase_gamma", "gain"):
            getattr(self, name).fill_(1.0)
        return self

    @classmethod
    def from_design(cls, design: dict[str, Any]) -> ParametricD2NN:
        """From a quaton-design v1 description (what a physical system's factory receives)."""
        propagation = design["propagation"]
        return cls(
            grid=design["grid"][0],
            pitch=design["pitch"],
            wavelength=design["wavelength"],
            distances=design["distances"],
            method=propagation["method"],
            pad_factor=propagation["pad_factor"],
        )

    @property
    def num_layers(self) -> int:
        return len(self.nominal) - 1

    def fit_parameters(self, groups: Sequence[str]) -> list[nn.Parameter]:
        """The parameters of the named groups (keys of ``PARAMETER_GROUPS``); the others are frozen."""
        chosen = {name for group in groups for name in PARAMETER_GROUPS[group]}
        for name, parameter in self.named_parameters():
            parameter.requires_grad_(name in chosen)
        return [p for n, p in self.named_parameters() if n in chosen]

    def transmission(self, layer: int, phase: torch.Tensor) -> torch.Tensor:
        """Phase [N, N] (rad) loaded on ``layer`` -> the complex transmission complex64 [N, N] the system has."""
        phi, c = phase.float(), self.crosstalk
        if c.detach().abs() > 0 or c.requires_grad:
            phi = blur_crosstalk(phi, c)
        phi = phase_response(phi, self.phase_scale, self.phase_gamma)
        t = torch.polar(torch.ones_like(phi), phi)
        return move_transmission(t, self.shifts[layer], torch.deg2rad(self.rotations[layer]))

    def propagate(self, plane: int, field: torch.Tensor) -> torch.Tensor:
        """Field complex [B, N, N] over distance ``plane`` (0: input to layer 1) as scaled."""
        delta = self.nominal[plane] * (self.distance_scales[plane] - 1)
        return kernel_propagate(field, refocus(self.kernels[plane], self.axial, delta))

    def run(
        self,
        model: nn.Module,
        fields: torch.Tensor,
        correction: list | None = None,
        replace: list | None = None,
        hard: bool = True,
    ) -> list[torch.Tensor]:
        """The fields at every plane of ``model`` (a D2NN: its masks' phases) through this model; with
        ``hard``, at the device's operating point (for comparison with measurements): a quantized mask in
        training enters with its hard device's phases in value (what the system is loaded with) and its
        training form's gradient; without, with its training form (in-silico training)."""
        masks = cast(Any, model).masks
        phases = [device_phase(mask) if hard else mask.phase() for mask in masks]
        return self.stages(fields, phases, correction, replace)

    def stages(
        self,
        field: torch.Tensor,
        phases: Sequence[torch.Tensor],
        correction: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
        replace: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
    ) -> list[torch.Tensor]:
        """Fields complex [B, N, N] arriving at layer 1, ..., layer L, detector, as D2NN.stages."""
        states = []
        field = field.to(torch.complex64)
        for plane in range(self.num_layers + 1):
            if plane:
                field = field * self.transmission(plane - 1, phases[plane - 1])
            field = self.propagate(plane, field)
            if correction is not None:
                field = field + correction[plane](field)
            if replace is not None:
                field = replace[plane](field)
            states.append(field)
        return states

    def detect(self, power: torch.Tensor) -> torch.Tensor:
        """Detector-plane power [B, N, N] -> what the camera reports: gain·I + offset·mean(I)."""
        return detector_response(power, self.gain, self.offset)

    def output(self, fields: torch.Tensor, phases: Sequence[torch.Tensor]) -> torch.Tensor:
        """Encoded inputs complex [B, N, N] -> detector image float [B, N, N] with masks ``phases``."""
        last = self.stages(fields, phases)[-1]
        return self.detect(last.real.square() + last.imag.square())

    @torch.no_grad()
    def values(self) -> dict[str, Any]:
        """The parameters in the units of ``D2NNTwin.true_parameters``."""
        return {
            "shifts": self.shifts.double().tolist(),
            "rotations": self.rotations.double().tolist(),
            "distances": [d * float(s) for d, s in zip(self.nominal, self.distance_scales)],
            "distance_scales": self.distance_scales.double().tolist(),
            "phase_scale": float(self.phase_scale),
            "phase_gamma": float(self.phase_gamma),
            "crosstalk": float(self.crosstalk),
            "gain": float(self.gain),
            "offset": float(self.offset),
        }


def probe_masks(
    count: int, layers: int, grid: int, correlation: float, generator: torch.Generator
) -> list[list[torch.Tensor]]:
    """``count`` sets of ``layers`` random phase masks [grid, grid] in [0, 2π): white noise smoothed by
    a Gaussian of ``correlation`` px (0: none) and stretched back to the full range. Smooth probes
    give a misfit that varies slowly with a shift (a wide basin); fine ones resolve fractions of a pixel."""
    masks = []
    for _ in range(count):
        layer_masks = []
        for _ in range(layers):
            noise = torch.randn(grid, grid, generator=generator, dtype=torch.float64)
            if correlation > 0:
                radius = max(1, math.ceil(3 * correlation))
                x = torch.arange(-radius, radius + 1, dtype=torch.float64)
                g = torch.exp(-0.5 * (x / correlation) ** 2)
                g = g / g.sum()
                noise = F.conv2d(
                    F.pad(noise[None, None], (radius, radius, radius, radius), mode="circular"),
                    (g[:, None] * g[None, :])[None, None],
                )[0, 0]
            noise = (noise - noise.mean()) / noise.std().clamp_min(1e-12)
            layer_masks.append(torch.remainder(noise * math.pi, TWO_PI).float())  # σ = π: all of [0, 2π) in use
        masks.append(layer_masks)
    return masks


@dataclass
class CalibrationResult:
    """What calibration fitted and what it cost."""

    fitted: dict[str, Any]
    measure_calls: int
    fields_measured: int
    loss_before: float  # relative MSE of the ideal model on the calibration measurements
    loss_after: float  # the same for the fitted model
    history: list[float] = field(default_factory=list)

    def report(self, truth: dict[str, Any] | None) -> dict[str, Any]:
        """JSON-ready report: fitted values, the truth and the errors when the system knows them."""
        result: dict[str, Any] = {
            "fitted": self.fitted,
            "budget": {"measure_calls": self.measure_calls, "fields_measured": self.fields_measured},
            "relative_mse": {"ideal_model": self.loss_before, "calibrated_model": self.loss_after},
        }
        if truth:
            result["truth"] = truth
            result["error"] = parameter_errors(self.fitted, truth)
        return result


def parameter_errors(fitted: dict[str, Any], truth: dict[str, Any]) -> dict[str, Any]:
    """Fitted − true for every parameter both know (shifts against the effective shifts when given)."""
    errors: dict[str, Any] = {}
    for key, value in fitted.items():
        true = truth.get("effective_shifts" if key == "shifts" else key, truth.get(key))
        if true is None or key == "distances":
            continue
        errors[key] = (np.asarray(value, dtype=float) - np.asarray(true, dtype=float)).tolist()
    return errors


def relative_mse(simulated: torch.Tensor, measured: torch.Tensor) -> torch.Tensor:
    """mean((s − m)²) / mean(m²)."""
    return (simulated - measured).square().mean() / measured.square().mean().clamp_min(1e-30)


def _misfit(
    candidate: ParametricD2NN,
    fields: torch.Tensor,
    masks: list[list[torch.Tensor]],
    measured: list[torch.Tensor],
    detector: bool,
    saturation: float | None = None,
) -> torch.Tensor:
    """Mean relative MSE over the probes; with ``detector`` the gain and offset are solved by least
    squares for the current prediction (variable projection: two linear parameters that would
    otherwise trade off against the phase response) and written into the model. Measured pixels
    at ``saturation`` (a camera's full scale) are left out: they bound the power, they do not give it."""
    device = fields.device
    powers = []
    for probe in masks:
        last = candidate.stages(fields, [m.to(device) for m in probe])[-1]
        powers.append(last.real.square() + last.imag.square())
    power, target = torch.stack(powers), torch.stack(measured)
    used = torch.ones_like(target) if saturation is None else (target < saturation * (1 - 1e-4)).float()
    if detector:
        basis = (
            torch.stack([power, power.mean(dim=(-2, -1), keepdim=True).expand_as(power)], -1).reshape(-1, 2).double()
        )
        basis = basis * used.reshape(-1, 1).double()
        normal = basis.T @ basis + 1e-12 * torch.eye(2, dtype=basis.dtype, device=device) * basis.square().sum()
        solution = torch.linalg.solve(normal, basis.T @ (used * target).reshape(-1).double()).float()
        with torch.no_grad():
            candidate.gain.copy_(solution[0])
            candidate.offset.copy_(solution[1])
        predicted = solution[0] * power + solution[1] * power.mean(dim=(-2, -1), keepdim=True)
    else:
        predicted = candidate.detect(power)
    # each probe weighs the same, whatever its brightness
    return (
        (used * (predicted - target).square()).sum(dim=(-3, -2, -1))
        / (used * target.square()).sum(dim=(-3, -2, -1)).clamp_min(1e-30)
    ).mean()


def _fit_optimizer(model: ParametricD2NN, lr: float) -> torch.optim.Adam:
    """Adam over the model's trainable parameters: shifts and rotations at ``lr``, the rest at lr/10
    (their errors are a few percent where a shift is pixels); gain and offset are solved, not stepped."""
    fine = {"shifts", "rotations"}
    linear = {"gain", "offset"}  # solved in closed form by misfit
    named = dict(model.named_parameters())
    param_groups = [
        {"params": [named[n] for n in named if n in fine and named[n].requires_grad], "lr": lr},
        {"params": [named[n] for n in named if n not in fine | linear and named[n].requires_grad], "lr": lr / 10},
    ]
    return torch.optim.Adam([g for g in param_groups if g["params"]], lr=lr)


def calibrate(
    system: Any,
    model: ParametricD2NN,
    fields: torch.Tensor,
    *,
    groups: Sequence[str],
    probes: int,
    steps: int,
    lr: float,
    seed: int = 0,
    correlations: Sequence[float] = (2.0, 0.0),
    saturation: float | None = None,
) -> CalibrationResult:
    """Fit ``model``'s parameters of ``groups`` to ``system``'s measurements (in place).

    ``fields``: encoded input fields complex [B, N, N] (a few training images). For each probe
    correlation (smooth first, then fine), ``probes`` probe mask sets are loaded and the B fields
    measured once per set; the fit then runs ``steps`` Adam steps (``lr``; distances, phase and
    detector parameters at lr/10, as their errors are a few percent where a shift is pixels) on
    all measurements so far. Budget: ``len(correlations)·probes`` measure calls of B fields.
    ``saturation``: the level at which the measuring camera clips (its full scale), if it does;
    pixels read at it are left out of the fit (bright smooth probes clip 7-17 % of a camera's pixels)."""
    generator = torch.Generator().manual_seed(seed + 104729)
    layers, grid = model.num_layers, model.grid
    device = fields.device
    masks: list[list[torch.Tensor]] = []
    measured: list[torch.Tensor] = []
    calls = 0
    history: list[float] = []
    parameters = model.fit_parameters(groups)
    optimizer = _fit_optimizer(model, lr)
    detector = "detector" in groups

    for correlation in correlations:
        for probe in probe_masks(probes, layers, grid, correlation, generator):
            system.load([m.double().cpu().numpy() for m in probe])
            output = system.measure(fields.detach())["output"]
            measured.append(torch.as_tensor(output).to(device=device, dtype=torch.float32))
            masks.append(probe)
            calls += 1
        for _ in range(steps if parameters else 0):
            loss = _misfit(model, fields, masks, measured, detector, saturation)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():  # projected descent: a coupling is not negative, an exponent stays positive
                model.crosstalk.clamp_(min=0.0)
                model.phase_gamma.clamp_(min=0.2)
            history.append(float(loss.detach()))
    with torch.no_grad():
        after = float(_misfit(model, fields, masks, measured, detector, saturation))
        before = float(_misfit(copy.deepcopy(model).reset_(), fields, masks, measured, False, saturation))
    for p in model.parameters():
        p.requires_grad_(False)
    return CalibrationResult(model.values(), calls, calls * len(fields), before, after, history)
