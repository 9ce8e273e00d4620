"""quaton's simulated physical twin of a D2NN: the ideal forward model of a design with seeded
systematic errors, behind the protocol of :mod:`quaton.systems.protocol`. The error formulas are
:mod:`quaton.systems.d2nn_errors`' (the calibrated twin fits the same ones)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from quaton.optics import FreeSpace, intensity
from quaton.optics.misalignment import move_transmission
from quaton.systems.d2nn_errors import blur_crosstalk, detector_response, phase_response


def _shift_rotate(phase: torch.Tensor, shift: tuple[float, float], angle: float) -> torch.Tensor:
    """A mask's phase [N, N] (rad) moved by ``shift`` (rows, cols; pixels, may be fractional) and
    rotated by ``angle`` (rad) about the grid centre. Each simulation pixel takes the phase of the
    mask pixel over its centre (nearest neighbour), so the mask stays phase-only; beyond the
    moved mask the light passes unmodulated (phase 0)."""
    n = phase.shape[-1]
    cos, sin = math.cos(angle), math.sin(angle)
    theta = torch.tensor([[cos, -sin, -2 * shift[1] / n], [sin, cos, -2 * shift[0] / n]], dtype=torch.float64)
    grid = F.affine_grid(theta[None], [1, 1, n, n], align_corners=False)
    moved = F.grid_sample(phase[None, None].double(), grid, mode="nearest", padding_mode="zeros", align_corners=False)[
        0, 0
    ]
    return moved.to(phase.dtype)


def _nearest_shift(shift: float) -> float:
    """The whole-pixel shift a nearest-neighbour resampling by ``shift`` px applies (without rotation):
    simulation pixel i takes mask pixel round(i − shift) = i − round(shift)."""
    return float(round(shift))


class D2NNTwin:
    """A simulated physical D2NN: the ideal forward model of a quaton design plus fixed, seeded
    systematic errors, drawn once per realisation (``seed``):

    - ``shift``: per-layer lateral shift, N(0, shift²) pixels in each direction;
    - ``rotation``: per-layer in-plane rotation, N(0, rotation²) degrees;
    - ``distance_error``: every distance scaled by (1 + N(0, distance_error²));
    - ``phase_scale``: fabrication height error, every phase × (1 + phase_scale);
    - ``phase_gamma``: non-linear phase response φ' = 2π(φ/2π)^γ;
    - ``crosstalk``: neighbouring pixels' phases mix (3×3 blur with this coupling to each neighbour);
    - ``gain``, ``offset``: detector gain and offset (offset as a fraction of the mean output);
    - ``interpolation``: how a moved mask meets the sampling grid: ``"nearest"`` (each simulation
      pixel takes the phase of the mask pixel over its centre, so a shift acts as the nearest whole
      pixel) or ``"linear"`` (the complex transmission averaged over each pixel: sub-pixel shifts
      act as such, see :func:`quaton.optics.misalignment.move_transmission`).

    :meth:`true_parameters` reports the drawn errors (a lab's system cannot; the twin can, so that a
    calibration can be checked against the truth).
    """

    def __init__(
        self,
        design: dict[str, Any],
        *,
        shift: float = 0.0,
        rotation: float = 0.0,
        distance_error: float = 0.0,
        phase_scale: float = 0.0,
        phase_gamma: float = 1.0,
        crosstalk: float = 0.0,
        gain: float = 1.0,
        offset: float = 0.0,
        interpolation: str = "nearest",
        seed: int = 0,
    ) -> None:
        if interpolation not in ("nearest", "linear"):
            raise ValueError(f"interpolation {interpolation!r}: choose 'nearest' or 'linear'")
        self.design = design
        self.interpolation = interpolation
        layers = len(design["distances"]) - 1
        rng = np.random.default_rng(seed)
        self.shifts = [tuple(rng.normal(0.0, shift, 2)) if shift else (0.0, 0.0) for _ in range(layers)]
        self.angles = [math.radians(rng.normal(0.0, rotation)) if rotation else 0.0 for _ in range(layers)]
        scales = 1.0 + (rng.normal(0.0, distance_error, layers + 1) if distance_error else np.zeros(layers + 1))
        self.distances = [d * s for d, s in zip(design["distances"], scales)]
        self.phase_scale, self.phase_gamma, self.crosstalk = phase_scale, phase_gamma, crosstalk
        self.gain, self.offset = gain, offset
        propagation = design["propagation"]
        self.spaces = [
            FreeSpace(
                wavelength=design["wavelength"],
                pitch=design["pitch"],
                distance=d,
                method=propagation["method"],
                pad_factor=propagation["pad_factor"],
            )
            for d in self.distances
        ]
        self.transmissions: list[torch.Tensor] = []

    def load(self, params: list[np.ndarray]) -> None:
        """Set the phase masks (rad, [N, N] each): what the device is printed or displayed with."""
        if len(params) != len(self.spaces) - 1:
            raise ValueError(f"the twin has {len(self.spaces) - 1} layers, got {len(params)} masks")
        self.transmissions = []
        for phase, shift, angle in zip(params, self.shifts, self.angles):
            phi = torch.as_tensor(np.asarray(phase, dtype=np.float64))
            if self.crosstalk:
                phi = blur_crosstalk(phi, self.crosstalk)
            phi = phase_response(phi, self.phase_scale, self.phase_gamma)
            if self.interpolation == "linear":
                transmission = torch.polar(torch.ones_like(phi), phi)
                moved = move_transmission(
                    transmission, torch.tensor(shift, dtype=torch.float64), torch.tensor(angle, dtype=torch.float64)
                )
                self.transmissions.append(moved.to(torch.complex64))
                continue
            if shift != (0.0, 0.0) or angle:
                phi = _shift_rotate(phi, shift, angle)
            self.transmissions.append(torch.polar(torch.ones_like(phi), phi).to(torch.complex64))

    def true_parameters(self) -> dict[str, Any]:
        """The twin's drawn errors, in the units of its options: ``shifts`` [[rows, cols] px per layer]
        (with ``interpolation: nearest`` the effective shift is the nearest whole pixel, also given as
        ``effective_shifts``), ``rotations`` (degrees per layer), ``distances`` (m, L + 1) and
        ``distance_scales`` (distance / design distance), ``phase_scale``, ``phase_gamma``,
        ``crosstalk``, ``gain``, ``offset``."""
        shifts = [[float(r), float(c)] for r, c in self.shifts]
        nominal = self.design["distances"]
        return {
            "shifts": shifts,
            "effective_shifts": shifts
            if self.interpolation == "linear"
            else [[float(_nearest_shift(v)) for v in s] for s in shifts],
            "rotations": [math.degrees(a) for a in self.angles],
            "distances": [float(d) for d in self.distances],
            "distance_scales": [float(d / d0) for d, d0 in zip(self.distances, nominal)],
            "phase_scale": float(self.phase_scale),
            "phase_gamma": float(self.phase_gamma),
            "crosstalk": float(self.crosstalk),
            "gain": float(self.gain),
            "offset": float(self.offset),
        }

    @torch.no_grad()
    def measure(self, inputs: torch.Tensor) -> dict[str, Any]:
        """Encoded input fields complex [B, N, N] -> {"output": [B, N, N], "internal": [[B, N, N] per layer]}."""
        if not self.transmissions:
            raise RuntimeError("load(params) before measure(inputs)")
        field = self.spaces[0](inputs.to(torch.complex64))
        if self.transmissions[0].device != field.device:  # the twin runs where its inputs are (CPU or GPU)
            self.transmissions = [t.to(field.device) for t in self.transmissions]
        internal = []
        for transmission, space in zip(self.transmissions, self.spaces[1:]):
            field = field * transmission
            internal.append(intensity(field))
            field = space(field)
        output = intensity(field)
        output = detector_response(output, self.gain, self.offset)
        return {"output": output, "internal": internal}


def d2nn_twin(design: dict[str, Any], **options: Any) -> D2NNTwin:
    """Factory for ``physical.system: "quaton.systems.d2nn_twin:d2nn_twin"``."""
    return D2NNTwin(design, **options)
