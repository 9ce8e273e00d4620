"""The detector read-out chain, in physical order: crosstalk -> the camera's light budget
(photo-electrons, shot and read noise, full well) -> non-linear response -> gain and offset ->
random noise -> ADC. ``full_scale`` (the ADC's range and the unit of every effect) is set by
calibration: the ``percentile`` of the ideal intensities of calibration images (e.g. the training
set), stored with the model as a buffer. With a light budget (``hardware.camera``) calibration is
the camera's auto-exposure, which stops at its longest exposure and highest gain: a dim device's
full scale then stays above the percentile (``quaton.hardware.camera``).

Random noise draws from one of two generators, chosen by the module's mode: in training mode a
training generator that is never reseeded (every read-out is fresh, every epoch new; its state is
part of a run's resumable state, see ``noise_state``), in eval mode an evaluation generator that
every evaluation restarts at ``seed`` (``reseed``), so that evaluations are reproducible. The two
streams are seeded differently, so training never sees the test noise.

The effects are one registry, ``EFFECTS`` (name -> module class, in the order the chain applies
them), each with its options model. The built-in effects are set by the flat keys of
``hardware.readout`` and ``hardware.distortion`` (``configured`` maps them to the options, None when
the effect is an identity); any registered effect can also be set by name in ``hardware.effects``.
An effect is a module ``forward(image, full_scale, generator) -> image``, intensity units in and out;
one that sets its own exposure has ``auto_expose(percentile) -> full_scale``, which calibration asks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn

from quaton.hardware.adc import ADC
from quaton.hardware.camera import Camera, CameraOptions
from quaton.hardware.distortion import Crosstalk, GainOffset, Nonlinearity
from quaton.hardware.noise import ReadNoise
from quaton.registry import Options, Registry

EFFECTS: Registry[type[nn.Module]] = Registry("read-out effect", "hardware.effects")


class CrosstalkOptions(Options):
    coupling: float = Field(
        0.0, ge=0, le=0.25, allow_inf_nan=False, description="coupling to each of the 4 nearest pixels"
    )


class NonlinearityOptions(Options):
    gamma: float = Field(1.0, gt=0, allow_inf_nan=False, description="detector response I' = S (I/S)^gamma")
    saturation: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="tanh saturation knee, as a fraction of full scale"
    )


class GainOffsetOptions(Options):
    gain: float = Field(1.0, gt=0, allow_inf_nan=False, description="I' = gain·I + offset·S")
    offset: float = Field(0.0, allow_inf_nan=False, description="as a fraction of full scale S")


class ReadNoiseOptions(Options):
    sigma: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="read noise σ in ADC steps (no ADC: fraction of full scale)"
    )
    levels: int | None = Field(None, ge=2, le=1 << 24, description="ADC levels that set the step of σ; null: none")
    photons: float = Field(0.0, ge=0, allow_inf_nan=False, description="shot noise: photons at full scale; 0: none")


class ADCOptions(Options):
    levels: int = Field(256, ge=2, le=1 << 24, description="levels over [0, full scale]")


def _crosstalk(hardware: Any) -> dict[str, Any] | None:
    coupling = hardware.distortion.crosstalk
    return {"coupling": coupling} if coupling else None


def _camera(hardware: Any) -> dict[str, Any] | None:
    camera = hardware.camera
    return camera.model_dump() if camera is not None else None


def _nonlinearity(hardware: Any) -> dict[str, Any] | None:
    distortion = hardware.distortion
    if distortion.gamma == 1.0 and distortion.saturation is None:
        return None
    return {"gamma": distortion.gamma, "saturation": distortion.saturation}


def _gain_offset(hardware: Any) -> dict[str, Any] | None:
    distortion = hardware.distortion
    if distortion.gain == 1.0 and distortion.offset == 0.0:
        return None
    return {"gain": distortion.gain, "offset": distortion.offset}


def _noise(hardware: Any) -> dict[str, Any] | None:
    readout = hardware.readout
    if not (readout.noise or readout.photons):
        return None
    return {"sigma": readout.noise, "levels": readout.levels, "photons": readout.photons}


def _adc(hardware: Any) -> dict[str, Any] | None:
    return {"levels": hardware.readout.levels} if hardware.readout.levels else None


Configured = Callable[[Any], dict[str, Any] | None]  # hardware config section -> the effect's options, or None

EFFECTS.register(
    "crosstalk",
    Crosstalk,
    options=CrosstalkOptions,
    summary="neighbouring pixels bleed into each other",
    configured=_crosstalk,
)
EFFECTS.register(
    "camera",
    Camera,
    options=CameraOptions,
    summary="light budget: photo-electrons with shot noise, full well, read noise; auto-exposure within limits",
    configured=_camera,
    example={"photon_rate": 6.5e5},  # its required options, for the contract suite (1 nW at 532 nm, 64² pixels)
)
EFFECTS.register(
    "nonlinearity",
    Nonlinearity,
    options=NonlinearityOptions,
    summary="detector response: a power law, then tanh saturation",
    configured=_nonlinearity,
)
EFFECTS.register(
    "gain_offset", GainOffset, options=GainOffsetOptions, summary="gain and offset errors", configured=_gain_offset
)
EFFECTS.register("noise", ReadNoise, options=ReadNoiseOptions, summary="read noise and shot noise", configured=_noise)
EFFECTS.register(
    "adc", ADC, options=ADCOptions, summary="clamp to the full scale and round to n levels", configured=_adc
)


def configured_effects(hardware: Any) -> dict[str, nn.Module]:
    """The read-out effects of a ``hardware`` config section, in chain order: each effect named in
    ``hardware.effects`` with its options, and each built-in effect its flat keys switch on."""
    effects: dict[str, nn.Module] = {}
    for entry in EFFECTS.entries():
        if entry.name in hardware.effects:
            options = entry.parse_options(hardware.effects[entry.name])
            effects[entry.name] = entry.target(**(options.model_dump() if options is not None else {}))
            continue
        configured: Configured | None = entry.info.get("configured")
        values = configured(hardware) if configured is not None else None
        if values is not None:
            effects[entry.name] = entry.target(**values)
    return effects


def training_seed(evaluation_seed: int, run_seed: int = 0, rank: int = 0) -> int:
    """The seed of the training noise: a 63-bit hash of (evaluation seed, run seed, process rank) and
    a tag, so that it never equals an evaluation seed's stream and differs between runs and ranks."""
    sequence = np.random.SeedSequence([evaluation_seed, run_seed, rank, 0x7472_6169])  # tag "trai"
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class Readout(nn.Module):
    """Intensity [B, ...] -> read-out values in intensity units, through ``effects`` (an ordered dict of modules).

    ``seed`` seeds the evaluation noise (eval mode), ``seed_training`` the training noise (training mode).
    """

    full_scale: torch.Tensor  # buffer: the ADC's range (intensity units), set by ``calibrate``

    def __init__(self, effects: dict[str, nn.Module] | None = None, percentile: float = 99.9, seed: int = 0) -> None:
        super().__init__()
        effects = effects or {}
        unknown = set(effects) - set(EFFECTS)
        if unknown:
            raise ValueError(f"unknown read-out effects {sorted(unknown)}; choose from {list(EFFECTS)} (quaton list)")
        self.effects = nn.ModuleDict({name: effects[name] for name in EFFECTS if name in effects})
        self.percentile = percentile
        self.seed = seed
        self.register_buffer("full_scale", torch.tensor(1.0))
        self.generator: torch.Generator | None = None  # evaluation noise, restarted by reseed()
        self.train_seed = training_seed(seed)
        self.train_generator: torch.Generator | None = None  # training noise, never restarted

    @property
    def ideal(self) -> bool:
        return len(self.effects) == 0

    @torch.no_grad()
    def calibrate(self, intensities: torch.Tensor) -> None:
        """full_scale = the ``percentile`` of the given ideal intensities (a sample of at most 10⁶
        values), or what an effect's auto-exposure makes of it (``auto_expose``: a camera with a
        light budget, which cannot expose a dim image to full scale)."""
        values = intensities.detach().flatten().float()
        if values.numel() > 1_000_000:
            values = values[torch.randperm(values.numel(), generator=torch.Generator().manual_seed(0))[:1_000_000]]
        value = float(torch.quantile(values, self.percentile / 100.0))
        for effect in self.effects.values():
            auto_expose = getattr(effect, "auto_expose", None)
            if auto_expose is not None:
                value = auto_expose(value)
        self.full_scale.fill_(value if value > 0 else 1.0)

    def reseed(self, seed: int | None = None) -> None:
        """Restart the evaluation noise sequence, for a reproducible evaluation (the training noise goes on)."""
        self.generator = self._evaluation_generator(self.seed if seed is None else seed)

    def _evaluation_generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.full_scale.device).manual_seed(seed)

    def seed_training(self, run_seed: int, rank: int = 0) -> None:
        """Start the training noise for a run (``run_seed``) and process ``rank``; see ``training_seed``."""
        self.train_seed = training_seed(self.seed, run_seed, rank)
        self.train_generator = None

    def _training_generator(self) -> torch.Generator:
        device = self.full_scale.device
        if self.train_generator is None or self.train_generator.device != device:
            self.train_generator = torch.Generator(device=device).manual_seed(self.train_seed)
        return self.train_generator

    def noise_state(self) -> torch.Tensor:
        """The training noise generator's state (uint8 [n], CPU): what a resumed run must restore."""
        return self._training_generator().get_state()

    def set_noise_state(self, state: torch.Tensor) -> None:
        """Continue the training noise from a state written by ``noise_state``."""
        self._training_generator().set_state(state)

    def noise_generator(self) -> torch.Generator:
        """The stream the next noise is drawn from: the training generator in training mode, the
        evaluation generator in eval mode (reseeded at ``seed`` if no evaluation has started it).
        Noise drawn before the chain (a sensor's shot noise) uses it too."""
        if self.training:
            return self._training_generator()
        if self.generator is None:
            self.generator = self._evaluation_generator(self.seed)  # as reseed()
        return self.generator

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Intensity [B, ...] -> read-out values [B, ...], with the training noise (training mode) or
        the evaluation noise (eval mode; reseeded at ``seed`` if no evaluation has started it)."""
        generator = self.noise_generator()
        scale = self.full_scale.to(image.dtype)
        for effect in self.effects.values():
            image = effect(image, scale, generator)
        return image
