"""The diffractive deep neural network: phase masks separated by free space."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from quaton.models.memory import ADAM_COPIES, COMPLEX64, FLOAT32
from quaton.models.protocol import BuildContext, Memory, register_model
from quaton.optics import FreeSpace, PhaseMask, intensity
from quaton.optics.propagation import bandlimit, padded_shape
from quaton.units import WAVELENGTH_RANGE, metres, slip

KIND = "d2nn"  # model.kind; the default kind (quaton.models.DEFAULT_KIND)

if TYPE_CHECKING:
    from quaton.config import Config
    from quaton.hardware import Readout
    from quaton.optics.elements import PhaseQuantizer


def _fusable(mask: nn.Module) -> bool:
    """Whether ``mask(field)`` is exactly ``field * mask.transmission(field.dtype)`` (PhaseMask's own
    forward, no hooks), so that the product can be fused into the next propagation."""
    return (
        isinstance(mask, PhaseMask)
        and type(mask).forward is PhaseMask.forward
        and not mask._forward_hooks
        and not mask._forward_pre_hooks
    )


class D2NN(nn.Module):
    """L phase masks of ``grid``² neurons; light goes input -> d0 -> mask 1 -> d1 -> ... -> mask L -> dL -> detector.

    ``distances`` (m) has L + 1 entries. ``quantizer(layer_index)`` builds the quantizer
    module of each layer (None: continuous phases). Fields are complex [B, grid, grid] at the input plane.
    ``encoder`` turns images [B, s, s] into input fields complex [B, grid, grid] (the config's input
    encoding, given by the builder); the model then answers :class:`quaton.models.OpticalModel`
    (``task_input``, ``sensor_intensity``) from images. Without it, only fields go in.
    """

    def __init__(
        self,
        *,
        grid: int,
        pitch: float,
        wavelength: float,
        distances: Sequence[float],
        method: str = "asm",
        pad_factor: float = 2.0,
        init: str = "uniform",
        phase_mapping: str = "wrap",
        quantizer: Callable[[int], nn.Module | None] | None = None,
        seed: int = 0,
        encoder: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        if len(distances) < 2:
            raise ValueError("a D2NN needs at least one layer: distances must have L + 1 >= 2 entries")
        self.grid = grid
        self.pitch = pitch
        self.wavelength = wavelength
        self.distances = [float(d) for d in distances]
        generator = torch.Generator().manual_seed(seed)
        self.propagations = nn.ModuleList(
            FreeSpace(wavelength=wavelength, pitch=pitch, distance=d, method=method, pad_factor=pad_factor)
            for d in distances
        )
        # The planes run one after another, forward and backward: one padded FFT buffer serves them all.
        workspace = self.propagations[0].workspace
        for space in self.propagations[1:]:
            space.workspace = workspace
        self.masks = nn.ModuleList(
            PhaseMask(
                (grid, grid),
                init=init,
                mapping=phase_mapping,
                quantizer=cast("PhaseQuantizer | None", quantizer(k)) if quantizer else None,
                generator=generator,
            )
            for k in range(len(distances) - 1)
        )

    @property
    def num_layers(self) -> int:
        return len(self.masks)

    def forward(self, field: torch.Tensor) -> torch.Tensor:
        """Input field complex [B, N, N] -> detector-plane field complex [B, N, N]."""
        field = self.propagations[0](field)
        for mask, space in zip(self.masks, self.propagations[1:]):
            mask = cast(PhaseMask, mask)
            field = space(field, mask.transmission(field.dtype)) if _fusable(mask) else space(mask(field))
        return field

    def stages(
        self,
        field: torch.Tensor,
        correction: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
        replace: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
    ) -> list[torch.Tensor]:
        """The fields complex [B, N, N] arriving at each plane: layer 1, ..., layer L, detector (L + 1).

        These are the planes a physical D2NN can be measured at (a camera just behind each
        mask sees the arriving intensity, a phase mask changes no intensity). ``correction[l]``
        adds a predicted deviation at plane l (x + c_l(x): DAT's SEPNs); ``replace[l]`` then
        substitutes the state (DAT's fusion with measured amplitudes) before it travels on.
        """
        states = []
        for plane in range(self.num_layers + 1):
            field = self.propagations[plane](self.masks[plane - 1](field) if plane else field)
            if correction is not None:
                field = field + correction[plane](field)
            if replace is not None:
                field = replace[plane](field)
            states.append(field)
        return states

    def intensity(self, field: torch.Tensor) -> torch.Tensor:
        """Input field complex [B, N, N] -> detector-plane intensity float [B, N, N]."""
        return intensity(self(field))

    @torch.no_grad()
    def phases(self) -> list[torch.Tensor]:
        """The phases of the device in [0, 2π), float [N, N] per layer, as evaluated (hard in eval mode)."""
        return [cast(PhaseMask, mask).phase().detach().clone() for mask in self.masks]

    # --- quaton.models.OpticalModel ---

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images float [B, s, s] -> input fields complex [B, grid, grid], by the ``encoder`` given at build time."""
        if self.encoder is None:
            raise RuntimeError(
                "this D2NN was built without an input encoding (encoder=None): pass encoder=..., "
                "or build it from a config with quaton.builder.build_model"
            )
        return self.encoder(images)

    def task_input(
        self, images: torch.Tensor, readout: Readout | None = None, full_scale: torch.Tensor | float = 1.0
    ) -> torch.Tensor:
        """The detector-plane intensity float [B, N, N] of images [B, s, s], through ``readout`` if
        given (its own calibrated full scale; ``full_scale`` is not used)."""
        image = self.intensity(self.encode(images))
        return readout(image) if readout is not None else image

    def sensor_intensity(self, images: torch.Tensor) -> torch.Tensor:
        """The ideal detector-plane intensity float [B, N, N] of images [B, s, s]."""
        return self.intensity(self.encode(images))

    @property
    def mask_pitch(self) -> float:
        """Neuron pitch of every mask (m)."""
        return self.pitch

    def design_fields(self) -> dict[str, Any]:
        """Nothing beside the quaton-design v1 description (a D2NN's)."""
        return {}

    # --- quaton.models.MeasurableModel: a camera behind each mask and at the detector ---

    def plane_states(
        self,
        fields: torch.Tensor,
        correction: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
        replace: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
    ) -> list[torch.Tensor]:
        """``stages``: the fields at layer 1 ... layer L and the detector, complex [B, N, N]."""
        return self.stages(fields, correction, replace)

    @property
    def measured_planes(self) -> int:
        return self.num_layers + 1

    @property
    def plane_shape(self) -> tuple[int, int]:
        return (self.grid, self.grid)

    def output_scores(self, power: torch.Tensor) -> torch.Tensor:
        """The detector image itself: the classification task reads its regions."""
        return power

    def device_params(self) -> list[np.ndarray]:
        """The phases float64 [N, N] per layer, rad, as evaluated (hard-quantized in eval mode)."""
        return [p.double().cpu().numpy() for p in self.phases()]


def _memory(config: Config, batch: int, training: bool, device: torch.device) -> int:
    """D2NN, complex64 fields [B, N, N] padded to [B, P, Q] for each of the L + 1 propagations.

    An FFT, the kernel product and the inverse FFT hold about three padded buffers at a time, in
    training and in evaluation alike. Autograd keeps one [B, N, N] field per propagation (the input
    of the next mask product; the crop is a copy, so the padded buffers are freed). Persistent:
    L + 1 cached kernels [P, Q] (built through a few float64/complex128 temporaries) and the phase
    parameters (with GS's per-level logits), four copies each in training (parameter, gradient, two
    Adam moments). A soft quantizer (PSQ, GS, ...) keeps a few [levels, N, N] float32 tensors per
    layer for its backward pass. Measured at N = 256, L = 5, B = 32, PSQ: 293 MB for the step's
    tensors against 3·67.1 + 6·16.8 = 302 MB for the batch terms; evaluation 201 MB (exactly three
    padded buffers).
    """
    n, layers = config.model.grid, config.model.layers
    p, q = padded_shape((n, n), config.optics.pad_factor)
    padded = batch * p * q * COMPLEX64
    field = batch * n * n * COMPLEX64
    kernels = (layers + 1) * p * q * COMPLEX64 + 3 * p * q * 2 * COMPLEX64
    method = config.quantization.method
    # each layer's level count (one value or one per layer; 0 for full precision)
    levels = [count or 0 for count in config.quantization.layer_levels(layers)]
    logits = sum(levels) if method == "gs" else 0  # GS's per-level logits, besides the phases
    parameters = (layers + logits) * n * n * FLOAT32 * (ADAM_COPIES if training else 1)
    quantizer = 0 if method == "none" else sum(n * n * FLOAT32 * (4 * count if training else 4) for count in levels)
    work = 3 * padded + ((layers + 1) * field if training else field)
    return kernels + parameters + quantizer + work


def _memory_knobs(config: Config) -> str:
    return f"model.grid (now {config.model.grid}) or optics.pad_factor (now {config.optics.pad_factor})"


def sampling_problem(config: Config) -> str | None:
    """Each gap of a D2NN must let diffraction couple neighbouring neurons (the cone of half-angle
    asin(λ / 2·pitch) widens by at least one pitch) and its band-limited kernel (:func:`bandlimit`
    on the padded window) must pass more than the field's mean; otherwise the network trains at
    chance. Returns the problem, or None."""
    optics, model = config.optics, config.model
    wavelength, pitch = optics.wavelength, optics.pitch
    padded = padded_shape((model.grid, model.grid), optics.pad_factor)[0]
    window = padded * pitch
    if wavelength >= window:
        return (
            f"optics.wavelength: {wavelength:g} m is longer than the padded window "
            f"({padded} px x {metres(pitch)} = {metres(window)}): "
            f"nothing but the field's mean propagates"
            + slip(wavelength, lambda v: WAVELENGTH_RANGE[0] <= v < window, "532e-9")
        )
    half_angle = math.asin(min(1.0, wavelength / (2.0 * pitch)))
    spread = 2.0 * math.tan(half_angle)  # cone width per metre of propagation

    def couples(z: float) -> bool:
        return z * spread >= pitch

    def passes(z: float) -> bool:
        return bandlimit(window, wavelength, z, optics.method) * window >= 1.0

    for index, z in enumerate(model.distance_list()):
        where = f"model.distances[{index}]" if isinstance(model.distances, list) else "model.distances"
        if not couples(z):
            return (
                f"{where}: {z:g} m is too short for neurons to couple: a neuron's diffraction cone (half-angle "
                f"{math.degrees(half_angle):.1f}°) widens by {metres(z * spread)}, "
                f"less than the pitch {metres(pitch)}; "
                f"use at least {pitch / spread:.3g} m (lengths are in metres, e.g. 200e-6)"
            )
        if not passes(z):
            longest = (
                window / 2.0 * math.sqrt((window / wavelength) ** 2 - 1.0)
                if optics.method == "asm"
                else window**2 / (2.0 * wavelength)
            )
            return (
                f"{where}: {z:g} m is too long: at λ = {metres(wavelength)} "
                f"the band-limited {optics.method} kernel of the "
                f"{metres(window)} padded window passes nothing but the field's mean beyond {longest:.3g} m"
                + slip(z, lambda v: couples(v) and passes(v), "200e-6")
            )
    return None


@register_model(
    KIND,
    output="detector",
    display="D2NN",
    reads=("optics",),
    fabricated=lambda config: True,
    memory=Memory(_memory, _memory_knobs),
    plausible=sampling_problem,
    phase_mapping=True,
    physical=True,
    system_camera=True,
    twin="misalignment",
    robust=True,
    example={"model": {"grid": 16, "layers": 2}, "input": {"object_size": 8}, "detector": {"size": 2, "gap": 1}},
)
def build_d2nn(config: Config, context: BuildContext) -> D2NN:
    """Phase masks separated by free space (model.grid, model.layers, model.distances, model.init,
    model.phase_mapping, optics.*)."""
    optics, model = config.optics, config.model
    return D2NN(
        grid=model.grid,
        pitch=optics.pitch,
        wavelength=optics.wavelength,
        distances=model.distance_list(),
        method=optics.method,
        pad_factor=optics.pad_factor,
        init=model.init,
        phase_mapping=model.phase_mapping,
        quantizer=context.quantizer,
        seed=config.seed,
        encoder=context.encode,
    )
