"""The validated config schema: one place for every default.

A config is YAML; unknown keys, wrong types and impossible values are rejected before any work
starts, with one :class:`ConfigError` naming the dotted key. Physical defaults (visible light):

- wavelength 532 nm (a frequency-doubled Nd:YAG / DPSS laser), pitch 1 µm (≈ 1.9 λ: the finest
  feature two-photon lithography prints comfortably, and a diffraction half-angle
  asin(λ / 2·pitch) ≈ 15.4° per neuron);
- 64 × 64 neurons per layer, 5 layers, padded 2× for linear convolution;
- 200 µm between planes: a neuron's diffraction cone (half-angle 15.4°) then spans
  2·200 µm·tan(15.4°) ≈ 110 µm, more than the 64 µm layer, so every neuron reaches every
  neuron of the next layer (the original D2NN's full-connectivity condition).
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator

from quaton.errors import ConfigError
from quaton.hardware import EFFECTS, CameraOptions
from quaton.models import DEFAULT_KIND, MODELS, CNNConfig, ModelKind, MZIConfig
from quaton.optics.detector import default_regions, region_masks
from quaton.quant import QUANTIZERS, GSOptions, PSQLTOptions
from quaton.registry import Options, fold_options, option_field, schema_enum
from quaton.tasks import (
    DEFAULT_TASK,
    TASKS,
    ClassificationOptions,
    PhaseImagingOptions,
    TaskKind,
    all_losses,
    options_owner,
)
from quaton.units import WAVELENGTH_RANGE, metres, slip

__all__ = ["CNNConfig", "Config", "MZIConfig", "build_config", "dump_config", "load_config"]


class Section(Options):
    """A config section: unknown keys are refused, assignments validated."""


def _check_options(registry: Any, name: Any, value: dict[str, Any]) -> dict[str, Any]:
    """A section's ``options`` validated against the options model of the component ``name`` (skipped
    when ``name`` itself is invalid: that error is reported on its own key); returns the options
    given, their values as validated."""
    if name not in registry:
        return value
    parsed = registry.entry(name).parse_options(value)
    return parsed.model_dump(mode="json", include=set(value)) if parsed is not None else {}


class OpticsConfig(Section):
    wavelength: float = Field(
        532e-9,
        gt=0,
        allow_inf_nan=False,
        description="wavelength in the medium between the layers (m), the one propagation uses: the vacuum (laser) "
        "wavelength λ₀ divided by fabrication.medium_index (in air the two agree)",
    )
    pitch: float = Field(1e-6, gt=0, allow_inf_nan=False, description="neuron / pixel pitch (m)")
    method: Literal["asm", "fresnel"] = "asm"
    pad_factor: float = Field(2.0, ge=1.0, le=8.0, allow_inf_nan=False)


class ModelConfig(Section):
    kind: str = Field(
        DEFAULT_KIND,
        description="the model kind, of quaton.models.MODELS (`quaton list`)",
        json_schema_extra=MODELS.schema_enum(),
    )
    cnn: CNNConfig = CNNConfig()
    mzi: MZIConfig = MZIConfig()
    grid: int = Field(64, ge=4, le=8192, description="neurons per side (N x N)")
    layers: int = Field(5, ge=1, le=64)
    distances: float | list[float] = Field(
        200e-6, description="input->layer 1->...->layer L->detector (m): one value for all, or L+1 values"
    )
    init: Literal["uniform", "zeros"] = "uniform"
    phase_mapping: Literal["wrap", "reflect"] = Field(
        "wrap",
        description="how a D2NN mask's parameter becomes the phase loaded on the device: wrap (modulo 2π, the "
        "phase circle) or reflect (a triangle wave: the loaded value never jumps between 0 and 2π; for devices "
        "whose pixels interact through the loaded value, e.g. crosstalk, trained through a calibrated model; "
        "full-precision masks only)",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="options of the model kind (`quaton list`); a kind with its own section (model.cnn, model.mzi) "
        "reads them there",
    )

    @model_validator(mode="before")
    @classmethod
    def _fold_options(cls, data: Any) -> Any:
        kind = data.get("kind", DEFAULT_KIND) if isinstance(data, dict) else None
        if not isinstance(kind, str) or kind not in MODELS:
            return data
        entry = MODELS.entry(kind)
        return fold_options(data, entry, "model", (), into=entry.target.section)

    @field_validator("kind")
    @classmethod
    def _registered_kind(cls, value: str) -> str:
        return MODELS.check(value)

    @field_validator("options")
    @classmethod
    def _options_fit_kind(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return _check_options(MODELS, info.data.get("kind"), value)

    @field_validator("distances")
    @classmethod
    def _positive(cls, value: float | list[float]) -> float | list[float]:
        values = value if isinstance(value, list) else [value]
        if not values or any(not math.isfinite(v) or v <= 0 for v in values):
            raise ValueError("every distance must be a positive, finite length in metres")
        return value

    def distance_list(self) -> list[float]:
        """The L+1 distances (m)."""
        return list(self.distances) if isinstance(self.distances, list) else [float(self.distances)] * (self.layers + 1)


class InputConfig(Section):
    encoding: Literal["phase", "amplitude"] = "phase"
    scale: float | None = Field(
        None, allow_inf_nan=False, description="rad per unit (phase) or amplitude factor; null: π or 1"
    )
    object_size: int = Field(
        28, ge=1, description="images are resized to object_size^2 px, then zero-padded to the grid"
    )


class DetectorConfig(Section):
    size: int | None = Field(None, ge=1, description="side of each square region (px); null: grid // 8")
    gap: int | None = Field(None, ge=0, description="gap between regions (px); null: size // 2")
    regions: list[tuple[int, int, int, int]] | None = Field(
        None, description="explicit regions [row0, col0, row1, col1] (half-open px), one per class"
    )


class RBCConfig(Section):
    """Generated red blood cells (quaton.data.phase_objects.RBCParameters): ranges (min, max), each
    sampled uniformly; the defaults are what a digital-holography microscope sees."""

    diameter: tuple[float, float] = Field((6.5e-6, 9.0e-6), description="cell diameter range (m)")
    peak_phase: tuple[float, float] | None = Field(
        (2.0, 4.5),
        description="each cell's peak phase as imaged (rad); null: from index_contrast, the thickness and "
        "optics.wavelength",
    )
    index_contrast: tuple[float, float] = Field(
        (0.05, 0.07), description="refractive-index contrast range (used when peak_phase is null)"
    )
    tilt_deg: tuple[float, float] = Field((0.0, 30.0), description="tilt range (degrees)")
    count: tuple[int, int] = Field((1, 5), description="cells per field (min, max), placed without overlap")
    aberration_rms: tuple[float, float] = Field(
        (0.05, 0.3), description="rms of the slow background (rad): low-order Zernike terms + a smooth random field"
    )
    aberration_length: float = Field(
        6e-6, gt=0, allow_inf_nan=False, description="correlation length of the smooth random background (m)"
    )
    noise_rms: tuple[float, float] = Field(
        (0.0, 0.05), description="rms of white per-pixel background phase noise (rad)"
    )

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> RBCConfig:
        for name in ("diameter", "peak_phase", "index_contrast", "tilt_deg", "count", "aberration_rms", "noise_rms"):
            value = getattr(self, name)
            if value is None:
                continue
            low, high = value
            if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
                raise ValueError(
                    f"data.rbc.{name} {list(value)} must be a finite range [min, max] with 0 <= min <= max"
                )
        if self.diameter[0] <= 0 or self.count[1] < 1 or self.tilt_deg[1] >= 90:
            raise ValueError("data.rbc: diameters must be > 0, count's max >= 1 and tilts below 90 degrees")
        return self


class DataConfig(Section):
    dataset: str = Field(
        "mnist_5k",
        min_length=1,
        description="mnist_5k (embedded), mnist, fashion_mnist, an .npz path; phase imaging also: rbc, natural, "
        "or a folder / .npy / .npz of phase maps in radians",
    )
    root: str | None = Field(None, description="data directory; null: $QUATON_DATA")
    train_size: int | None = Field(None, ge=1, description="stratified subset of the training set; null: all")
    test_size: int | None = Field(None, ge=1, description="stratified subset of the test set; null: all")
    download: bool = True
    rbc: RBCConfig = RBCConfig()


class TaskConfig(Section):
    kind: str = Field(
        DEFAULT_TASK,
        description="the task, of quaton.tasks.TASKS (`quaton list`)",
        json_schema_extra=TASKS.schema_enum(),
    )
    loss: str = Field(
        "cross_entropy",
        description="the training loss, one the task offers (`quaton list`)",
        json_schema_extra=schema_enum(all_losses),
    )
    # the built-in tasks' options, also accepted in task.options (their options models define them)
    temperature: float = option_field(ClassificationOptions, "temperature", options_owner(ClassificationOptions))
    ssim_weight: float = option_field(PhaseImagingOptions, "ssim_weight", options_owner(PhaseImagingOptions))
    pcc_weight: float = option_field(PhaseImagingOptions, "pcc_weight", options_owner(PhaseImagingOptions))
    black_level: bool = option_field(PhaseImagingOptions, "black_level", options_owner(PhaseImagingOptions))
    phase_range: float | None = option_field(PhaseImagingOptions, "phase_range", options_owner(PhaseImagingOptions))
    options: dict[str, Any] = Field(
        default_factory=dict, description="options of the task (`quaton list`); the flat keys above are its options too"
    )

    @model_validator(mode="before")
    @classmethod
    def _fold_options(cls, data: Any) -> Any:
        kind = data.get("kind", DEFAULT_TASK) if isinstance(data, dict) else None
        if not isinstance(kind, str) or kind not in TASKS:
            return data
        return fold_options(data, TASKS.entry(kind), "task", cls.model_fields)

    @field_validator("kind")
    @classmethod
    def _registered_kind(cls, value: str) -> str:
        return TASKS.check(value)

    @field_validator("options")
    @classmethod
    def _options_fit_kind(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return _check_options(TASKS, info.data.get("kind"), value)

    @model_validator(mode="after")
    def _loss_fits_task(self) -> TaskConfig:
        allowed = tuple(dict.fromkeys(loss for losses in TASKS[self.kind].losses.values() for loss in losses))
        if self.loss not in allowed:
            raise ValueError(f"task.loss {self.loss!r} does not apply to {self.kind}; choose one of {allowed}")
        return self


class ScheduleConfig(Section):
    kind: Literal["linear", "exponential"] = "linear"
    per: Literal["epoch", "step"] = "epoch"
    start: float | None = Field(None, gt=0, allow_inf_nan=False, description="null: the method's default (PSQ 1, GS 2)")
    end: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="null: the method's default (PSQ 20, GS 0.1)"
    )
    warmup_epochs: int = Field(0, ge=0, description="PSQ: raw phases for this many epochs first")


class QuantizationConfig(Section):
    method: str = Field(
        "none",
        description="the quantizer, of quaton.quant.QUANTIZERS (`quaton list`); none: full precision",
        json_schema_extra=QUANTIZERS.schema_enum(),
    )
    levels: int | list[int] | None = Field(
        None, description="phase levels, one value or one per layer; required unless method is none"
    )
    range: tuple[float, float] | None = Field(
        None, description="explicit [lo, hi] in rad, endpoints included; null: circular 2πk/n"
    )
    schedule: ScheduleConfig = ScheduleConfig()
    # the built-in quantizers' options, also accepted in quantization.options (their options models define them)
    hard: bool = option_field(GSOptions, "hard", "GS")
    logit_scale: float = option_field(GSOptions, "logit_scale", "GS")
    k_init: float = option_field(PSQLTOptions, "k_init", "PSQ-LT")
    penalty: float = option_field(PSQLTOptions, "penalty", "PSQ-LT")
    penalty_c: float = option_field(PSQLTOptions, "penalty_c", "PSQ-LT")
    double_every: int = option_field(PSQLTOptions, "double_every", "PSQ-LT")
    temperature_lr: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="PSQ-LT: learning rate of k; null: train.lr"
    )
    relaxation: Literal["chord", "arc"] = Field(
        "chord",
        description="STE, PSQ, PSQ-LT, GS: train the transmission between levels on the chord (secant, or GS's "
        "mixture of the levels' transmissions; needed for 2 levels) or on the arc exp(iφ) (QuATON's form)",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="options of the quantizer (`quaton list`); the flat keys above are its options too",
    )

    @model_validator(mode="before")
    @classmethod
    def _fold_options(cls, data: Any) -> Any:
        method = data.get("method", "none") if isinstance(data, dict) else None
        if not isinstance(method, str) or method not in QUANTIZERS:
            return data
        return fold_options(data, QUANTIZERS.entry(method), "quantization", cls.model_fields)

    @field_validator("method")
    @classmethod
    def _registered_method(cls, value: str) -> str:
        return QUANTIZERS.check(value)

    @field_validator("options")
    @classmethod
    def _options_fit_method(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if info.data.get("method") == "none" and value:
            raise ValueError("quantization.method none (full precision) takes no options")
        return _check_options(QUANTIZERS, info.data.get("method"), value)

    @field_validator("levels")
    @classmethod
    def _at_least_two(cls, value: int | list[int] | None) -> int | list[int] | None:
        values = value if isinstance(value, list) else [value] if value is not None else []
        if isinstance(value, list) and not value:
            raise ValueError("give one level count, or one per layer")
        if any(v < 2 or v > 65536 for v in values):
            raise ValueError("every layer needs between 2 and 65536 phase levels")
        return value

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not (math.isfinite(value[0]) and math.isfinite(value[1]) and value[0] < value[1]):
            raise ValueError("range must be [lo, hi] with finite lo < hi (radians)")
        return value

    def layer_levels(self, layers: int) -> list[int | None]:
        """Levels of each layer (None for full precision)."""
        if self.method == "none" or self.levels is None:
            return [None] * layers
        return list(self.levels) if isinstance(self.levels, list) else [self.levels] * layers


class ReadoutConfig(Section):
    levels: int | None = Field(
        None, ge=2, le=1 << 24, description="ADC levels over the calibrated range; null: ideal read-out"
    )
    noise: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="read noise σ in ADC steps (ideal read-out: fraction of full scale)"
    )
    photons: float = Field(0.0, ge=0, allow_inf_nan=False, description="shot noise: photons at full scale; 0: none")
    percentile: float = Field(
        99.9, gt=0, le=100, allow_inf_nan=False, description="full scale = this percentile of calibration intensities"
    )


class DistortionConfig(Section):
    gamma: float = Field(1.0, gt=0, allow_inf_nan=False, description="detector response I' = S (I/S)^gamma")
    saturation: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="tanh saturation knee, as a fraction of full scale"
    )
    gain: float = Field(1.0, gt=0, allow_inf_nan=False)
    offset: float = Field(0.0, allow_inf_nan=False, description="as a fraction of full scale")
    crosstalk: float = Field(
        0.0, ge=0, le=0.25, allow_inf_nan=False, description="coupling to each of the 4 nearest pixels"
    )
    slm_gamma: float = Field(
        1.0, gt=0, allow_inf_nan=False, description="modulator phase response φ' = 2π (φ/2π)^slm_gamma (D2NN)"
    )


class HardwareConfig(Section):
    readout: ReadoutConfig = ReadoutConfig()
    distortion: DistortionConfig = DistortionConfig()
    camera: CameraOptions | None = Field(
        None,
        description="the camera's light budget (photon rate, exposure and gain limits, quantum efficiency, full "
        "well, read noise; quaton.hardware.camera): shot and read noise in electrons, auto-exposure within the "
        "limits; null: none (the full scale is the calibration percentile, however dim the light)",
    )
    seed: int = Field(0, ge=0, description="seed of the evaluation's noise")
    effects: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="read-out effects by name (quaton.hardware.EFFECTS, `quaton list`), each with its options, "
        "applied in the registry's order; the built-in ones are also set by hardware.readout and hardware.distortion",
    )

    @field_validator("effects")
    @classmethod
    def _registered_effects(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        checked = {}
        for name, options in value.items():
            EFFECTS.check(name)
            try:
                checked[name] = _check_options(EFFECTS, name, options)
            except ConfigError as error:
                raise ValueError(f"{name}: {error}") from None
        return checked

    @model_validator(mode="after")
    def _one_noise_model(self) -> HardwareConfig:
        camera = self.camera is not None or "camera" in self.effects
        if camera and (self.readout.noise or self.readout.photons or "noise" in self.effects):
            raise ValueError(
                "hardware.camera sets the shot and read noise from its light budget (read_noise_e, photon_rate): "
                "remove hardware.readout.noise / hardware.readout.photons / hardware.effects.noise"
            )
        return self

    @model_validator(mode="after")
    def _effects_set_once(self) -> HardwareConfig:
        for name in self.effects:
            configured = EFFECTS.entry(name).info.get("configured")
            if configured is not None and configured(self) is not None:
                raise ValueError(
                    f"hardware.effects.{name} is also switched on by hardware.readout / hardware.distortion: "
                    "set it in one place"
                )
        return self


class FabricationConfig(Section):
    """The printed device: heights h = φ·λ₀ / (2π·(n_material − n_medium)), with the vacuum wavelength
    λ₀ = optics.wavelength · medium_index (optics.wavelength is the wavelength in the medium)."""

    refractive_index: float = Field(
        1.545, gt=0, allow_inf_nan=False, description="material (IP-Dip photoresist at 532 nm ≈ 1.545)"
    )
    medium_index: float = Field(
        1.0,
        gt=0,
        allow_inf_nan=False,
        description="medium around and between the layers (air: 1.0); also converts optics.wavelength to vacuum",
    )
    base_thickness: float = Field(
        20e-6, gt=0, allow_inf_nan=False, description="STL base plate under the pixel columns (m)"
    )

    @model_validator(mode="after")
    def _contrast(self) -> FabricationConfig:
        if self.refractive_index == self.medium_index:
            raise ValueError(
                "fabrication.refractive_index must differ from fabrication.medium_index (no phase otherwise)"
            )
        return self


class TrainConfig(Section):
    epochs: int = Field(10, ge=0, le=100000)
    batch_size: int = Field(64, ge=1, le=1 << 20)
    eval_batch_size: int = Field(256, ge=1, le=1 << 20)
    lr: float = Field(0.05, gt=0, allow_inf_nan=False)
    optimizer: Literal["adam", "sgd"] = "adam"
    scheduler: Literal["none", "cosine"] = "cosine"
    device: str = "cpu"
    threads: int | None = Field(None, ge=1, description="torch CPU threads; null: torch's default")
    progress: bool = True
    hardware_aware: bool = Field(
        False, description="train with the configured hardware models in the loop (evaluation always uses them)"
    )
    ideal_epochs: int = Field(
        0,
        ge=0,
        description="hardware-aware training: this many epochs on the ideal model first, then the hardware in the loop",
    )
    init_from: str | None = Field(
        None,
        description="a run directory (or checkpoint file) whose trained phases start this run, e.g. a full-precision "
        "run for quantization-aware fine-tuning",
    )
    strategy: Literal["ideal", "pat", "dat", "calibrated", "robust"] = Field(
        "ideal",
        description="with a physical system: ideal (train in silico, deploy as is; with calibrate.enabled, in "
        "silico through the calibrated model), pat (physics-aware), "
        "dat (dual adaptive), calibrated (dat on a model fitted to the system first: calibrate), "
        "robust (in silico under random errors: robust)",
    )
    validation_size: int = Field(
        0,
        ge=0,
        description="training images held out of training, measured every epoch (val_* in the history): choose "
        "recipes there, never on the test set; with a physical system also the kept epoch's selection; 0: 10%",
    )
    schedule_step: int | None = Field(
        None,
        ge=1,
        description="with a physical system: lr x 0.5 every this many epochs (paper: 10); null: train.scheduler",
    )


class PhysicalConfig(Section):
    """The physical system a design is deployed on (and, for pat and dat, trained with)."""

    system: str | None = Field(
        None, description="'package.module:factory', called as factory(design, **options); null: none"
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments of the factory (e.g. error sizes, seed)"
    )


class DATConfig(Section):
    """Dual adaptive training: one systematic-error prediction network (SEPN) per measured plane."""

    features: list[int] = Field(
        [4, 8, 16], min_length=3, max_length=3, description="SEPN U-Net feature maps at its 3 scales"
    )
    convs: int = Field(3, ge=1, le=8, description="3x3 complex convolutions per U-Net block")
    lr: float = Field(1e-3, gt=0, allow_inf_nan=False, description="SEPN learning rate (Adam)")
    internal: bool = Field(
        True,
        description="use the system's internal measurements (if it gives them) in the similarity loss and the fusion",
    )
    warmup_fraction: float = Field(
        0.4,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="fraction of epochs before the SEPNs enter the task forward pass (paper: 20 of 50)",
    )
    sepn_steps: int = Field(1, ge=1, le=16, description="SEPN similarity steps per batch")


# D2NN: shift .. detector; MZI mesh: phase (shifter offsets) and coupler (split errors)
CalibrationGroup = Literal["shift", "rotation", "distance", "phase", "crosstalk", "detector", "coupler"]
CALIBRATION_GROUPS: tuple[CalibrationGroup, ...] = (
    "shift",
    "rotation",
    "distance",
    "phase",
    "crosstalk",
    "detector",
    "coupler",
)


class CalibrateConfig(Section):
    """A calibrated twin: fit a parametric model of the physical system to probe measurements before
    training, then train through it (D2NN: quaton.systems.calibrate; MZI mesh: quaton.systems.calibrate_mzi).
    On with train.strategy calibrated; ``enabled`` adds it to pat or dat, or to ideal (then training runs
    in silico through the fitted model and the system is measured only to calibrate and to validate)."""

    enabled: bool = Field(
        False, description="calibrate before ideal, pat or dat training (train.strategy calibrated: always)"
    )
    fit: list[CalibrationGroup] = Field(
        list(CALIBRATION_GROUPS), min_length=1, description=f"error groups to fit, of {', '.join(CALIBRATION_GROUPS)}"
    )
    probes: int = Field(4, ge=1, le=256, description="probe mask sets per stage (two stages: smooth, then fine probes)")
    inputs: int = Field(16, ge=1, le=4096, description="training images measured per probe mask set")
    steps: int = Field(150, ge=0, le=100000, description="Adam steps per stage")
    lr: float = Field(
        0.05,
        gt=0,
        allow_inf_nan=False,
        description="Adam lr of shifts (px) and rotations (deg); the other parameters lr/10",
    )

    @field_validator("fit")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"calibrate.fit lists a group twice: {value}")
        return value


class RobustConfig(Section):
    """Robust training (train.strategy robust, D2NN): every batch runs through a model with errors
    drawn afresh (quaton.systems.robust); the system is used only to deploy on. σ of each error:"""

    shift: float = Field(
        0.5, ge=0, le=8, allow_inf_nan=False, description="lateral shift per layer and axis (px, sub-pixel)"
    )
    rotation: float = Field(0.0, ge=0, le=10, allow_inf_nan=False, description="in-plane rotation per layer (degrees)")
    distance_error: float = Field(
        0.02, ge=0, le=0.5, allow_inf_nan=False, description="relative error of every distance"
    )
    phase_scale: float = Field(
        0.1, ge=0, le=1, allow_inf_nan=False, description="phase response scale error (relative)"
    )
    phase_gamma: float = Field(
        0.1, ge=0, le=1, allow_inf_nan=False, description="phase response exponent, 1 + N(0, σ²)"
    )
    crosstalk: float = Field(0.0, ge=0, le=0.2, allow_inf_nan=False, description="neighbour phase coupling, |N(0, σ²)|")


class Config(Section):
    name: str = Field("run", min_length=1)
    seed: int = Field(0, ge=0)
    optics: OpticsConfig = OpticsConfig()
    model: ModelConfig = ModelConfig()
    input: InputConfig = InputConfig()
    detector: DetectorConfig = DetectorConfig()
    data: DataConfig = DataConfig()
    task: TaskConfig = TaskConfig()
    quantization: QuantizationConfig = QuantizationConfig()
    fabrication: FabricationConfig = FabricationConfig()
    hardware: HardwareConfig = HardwareConfig()
    physical: PhysicalConfig = PhysicalConfig()
    dat: DATConfig = DATConfig()
    calibrate: CalibrateConfig = CalibrateConfig()
    robust: RobustConfig = RobustConfig()
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        model = self.model
        if isinstance(model.distances, list) and len(model.distances) != model.layers + 1:
            raise ValueError(
                f"model.distances has {len(model.distances)} values but {model.layers} layers need "
                f"{model.layers + 1} (input->layer 1, ..., layer {model.layers}->detector)"
            )
        if self.input.object_size > model.grid:
            raise ValueError(f"input.object_size ({self.input.object_size}) is larger than model.grid ({model.grid})")
        quant = self.quantization
        if quant.method != "none" and quant.levels is None:
            raise ValueError(f"quantization.levels is required for method {quant.method!r} (e.g. 4)")
        if isinstance(quant.levels, list) and len(quant.levels) != model.layers:
            raise ValueError(f"quantization.levels has {len(quant.levels)} values for {model.layers} layers")
        kind, task = MODELS[model.kind], TASKS[self.task.kind]
        if model.phase_mapping == "reflect" and (not kind.phase_mapping or quant.method != "none"):
            mapping = [name for name in MODELS if MODELS[name].phase_mapping]
            raise ValueError(
                f"model.phase_mapping reflect applies to a {' or '.join(MODELS.display(n) for n in mapping)}'s "
                f"full-precision masks (model.kind {' or '.join(mapping)}, quantization.method none), not "
                f"{model.kind} with {quant.method}: use wrap"
            )
        if kind.output == "detector" and task.classes:
            try:
                region_masks(self.regions(), (model.grid, model.grid))
            except ValueError as error:  # a rule across detector.* and model.grid: the message names both
                raise ValueError(str(error)) from None
        if self.train.strategy != "ideal" and self.physical.system is None:
            raise ValueError(
                f"train.strategy {self.train.strategy} trains with a physical system: set physical.system "
                "(e.g. quaton.systems.d2nn_twin:d2nn_twin)"
            )
        self._check_system(kind, task)
        kind.check(self)  # the model kind's own conditions (an optical CNN's sampling, an MZI network's ports)
        problem = TASKS[self.task.kind].check(self.task.loss, kind.output)
        if problem:
            what = "a classifier with a digital head" if kind.output == "logits" else "read through a detector"
            raise ValueError(f"model.kind {model.kind} is {what}: task.kind {self.task.kind} {problem}")
        return self

    def _check_system(self, kind: ModelKind, task: TaskKind) -> None:
        """The rules of training with a physical system, by what the model kind can do."""
        model, strategy = self.model, self.train.strategy
        if strategy == "robust" and not kind.robust:
            raise ValueError(
                f"train.strategy robust is implemented for model.kind {_kinds(lambda k: k.robust)}, "
                f"not {model.kind}: use pat or dat"
            )
        if strategy == "calibrated" and kind.twin is None:
            raise ValueError(
                f"train.strategy calibrated is implemented for model.kind {_kinds(lambda k: k.twin is not None)}, "
                f"not {model.kind}: use pat or dat"
            )
        if self.calibrate.enabled and strategy not in ("ideal", "pat", "dat", "calibrated"):
            raise ValueError(
                f"calibrate.enabled applies to train.strategy ideal, pat or dat (calibrated implies it), not {strategy}"
            )
        if self.calibrate.enabled and kind.twin is None:
            raise ValueError(
                "calibrate.enabled: calibration is implemented for model.kind "
                f"{_kinds(lambda k: k.twin is not None)}, not {model.kind}"
            )
        if self.physical.system is None:
            return
        if not kind.physical:
            raise ValueError(f"physical.system applies to model.kind {_kinds(lambda k: k.physical)}, not {model.kind}")
        camera = self.hardware.readout != ReadoutConfig() or self.hardware.distortion != DistortionConfig()
        if camera and not kind.system_camera:
            raise ValueError(
                "hardware.readout / hardware.distortion: a camera after a physical system is implemented for "
                f"model.kind {_kinds(lambda k: k.system_camera)}, not {model.kind}"
            )
        if not task.classes:
            raise ValueError("physical.system: training with a physical system is implemented for classification")

    @model_validator(mode="after")
    def _physically_plausible(self) -> Config:
        """Units slips (nm or µm typed for m) pass every type check and train at chance: refuse them
        here, naming the likely slip."""
        problem = _implausible_lengths(self)
        if problem:
            raise ValueError(problem)
        return self

    def regions(self, num_classes: int = 10) -> list[tuple[int, int, int, int]]:
        """Detector regions (half-open px ranges), explicit or the default layout."""
        if self.detector.regions is not None:
            return [(row0, col0, row1, col1) for row0, col0, row1, col1 in self.detector.regions]
        return default_regions(self.model.grid, num_classes, self.detector.size, self.detector.gap)


# Physically plausible lengths (m). Wavelength: deep UV to terahertz (the first D2NN, Lin et al.,
# Science 361, 1004 (2018), ran at 0.4 THz, λ = 0.75 mm); pitch: metasurface atoms to millimetre-wave
# pixels; base plate: what a printer makes.

PITCH_RANGE = (10e-9, 10e-3)
BASE_THICKNESS_RANGE = (100e-9, 10e-3)


def _kinds(has: Callable[[ModelKind], bool]) -> str:
    """The registered model kinds with a capability, for a message: 'd2nn or mzi'."""
    return " or ".join(name for name in MODELS if has(MODELS[name])) or "none"


def _implausible_lengths(config: Config) -> str | None:
    """The first length of ``config`` that is physically implausible (most often a units slip), as
    a message naming the key and the likely slip; None if all are plausible."""
    optics = config.optics
    for key, value, (low, high), example in (
        ("optics.wavelength", optics.wavelength, WAVELENGTH_RANGE, "532e-9"),
        ("optics.pitch", optics.pitch, PITCH_RANGE, "1e-6"),
        ("fabrication.base_thickness", config.fabrication.base_thickness, BASE_THICKNESS_RANGE, "20e-6"),
    ):
        if not low <= value <= high:
            # a pitch below a quarter wavelength is no likelier a reading than the value typed
            floor = max(low, optics.wavelength / 4) if key == "optics.pitch" else low
            return f"{key}: {value:g} m is outside the plausible {metres(low)} to {metres(high)}" + slip(
                value, lambda v: floor <= v <= high, example
            )
    problem = MODELS[config.model.kind].plausible(config)  # the kind's own sampling (a D2NN's gaps)
    if problem:
        return problem
    if config.data.dataset == "rbc":
        smallest, largest = config.data.rbc.diameter
        field = config.input.object_size * optics.pitch
        if not 0 < smallest <= largest:
            return (
                "data.rbc.diameter: give [min, max] with 0 < min <= max in metres, e.g. [7.0e-6, 8.5e-6], "
                f"not {[smallest, largest]}"
            )
        if largest > field:
            return (
                f"data.rbc.diameter: cells up to {largest:g} m do not fit the {metres(field)} field of view "
                f"(input.object_size {config.input.object_size} px x optics.pitch {metres(optics.pitch)})"
                + slip(largest, lambda v: optics.pitch <= v <= field, "8.5e-6")
            )
    return None


def _location(error: dict[str, Any]) -> str:
    return ".".join(str(p) for p in error["loc"]) or "<config>"


# pydantic names each member of a union in the error location (model.distances.float,
# model.distances.list[float]); a user typed one value and wants one message about it.
_UNION_MEMBER = re.compile(r"^(?:float|int|str|bool|none|(?:list|tuple|dict|set)\[.*\])$")
_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(nm|um|µm|μm|mm|cm|m)\s*$")
_UNIT_EXPONENT = {"nm": "e-9", "um": "e-6", "µm": "e-6", "μm": "e-6", "mm": "e-3", "cm": "e-2", "m": ""}


def _merge_union_members(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One error per key for union fields: the members' specific errors (a bad list entry, an
    unparsable number) with the member's name dropped from the location, or, when the value fits
    no member at all, one 'expected A or B' error."""
    merged: list[dict[str, Any]] = []
    groups: dict[tuple, list[tuple[str, dict[str, Any]]]] = {}
    for item in items:
        loc = tuple(item["loc"])
        at = next(
            (i for i, part in enumerate(loc) if i > 0 and isinstance(part, str) and _UNION_MEMBER.match(part)), None
        )
        if at is None:
            merged.append(item)
            continue
        key = loc[:at]
        if key not in groups:
            groups[key] = []
            merged.append({"loc": key, "group": groups[key]})
        groups[key].append((loc[at], {**item, "loc": key + loc[at + 1 :]}))
    result = []
    for item in merged:
        if "group" not in item:
            result.append(item)
            continue
        members = item["group"]
        specific = [error for _, error in members if not error["type"].endswith("_type")]
        if specific:
            result.extend(specific)
        else:
            names = " or ".join(dict.fromkeys(name for name, _ in members))
            result.append(
                {
                    "loc": item["loc"],
                    "type": "union",
                    "msg": f"expected {names}, got {members[0][1]['input']!r}",
                    "input": members[0][1]["input"],
                }
            )
    return result


def _nearest_key(loc: tuple) -> str:
    """' (did you mean `wavelength`?)' for a misspelt key at ``loc``, or '' when nothing is close."""
    section: Any = Config
    for part in loc[:-1]:
        field = getattr(section, "model_fields", {}).get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        section = annotation
    close = difflib.get_close_matches(str(loc[-1]), list(getattr(section, "model_fields", {})), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _message(item: dict[str, Any]) -> str:
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        return f"unknown key{_nearest_key(item['loc'])}; `quaton config --defaults` lists every key"
    value = item.get("input")
    if item["type"] == "float_parsing" and isinstance(value, str):
        match = _WITH_UNIT.match(value)
        if match:
            example = f"{match.group(1)}{_UNIT_EXPONENT[match.group(2)]}"
            return f"{value!r} is not a number: lengths are in metres, e.g. {example}"
    return message


def format_validation_error(error: ValidationError) -> str:
    """One message listing every offending key and what is wrong with it."""
    # a rule across keys (empty location) names its keys in its message
    lines = [
        f"{_location(item)}: {_message(item)}" if item["loc"] else _message(item)
        for item in _merge_union_members([dict(item) for item in error.errors()])
    ]
    return "invalid config: " + "; ".join(dict.fromkeys(lines))


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """data['a']['b'] = value for dotted = 'a.b' (creating sections as needed)."""
    keys = dotted.split(".")
    if not all(keys):
        raise ConfigError(f"--set {dotted}: empty key segment")
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {dotted}: {key} is not a section")
        node = child
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """'train.epochs=2' -> ('train.epochs', 2); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. train.epochs=2")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {key}: cannot parse {raw!r}: {error}") from error
    return key.strip(), value


def build_config(data: dict[str, Any], overrides: list[str] | None = None) -> Config:
    """Validate a config dict after applying ``overrides`` ('key=value', dotted keys)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config is a mapping of sections (optics, model, ...), not {type(data).__name__}")
    data = copy.deepcopy(data)
    for text in overrides or []:
        set_dotted(data, *parse_override(text))
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error)) from None


def is_file(path: Path) -> bool:
    """Path.is_file, False (not an OSError) for a name too long, a NUL byte or a loop."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def read_config_data(path: str | Path) -> dict[str, Any]:
    """A YAML config file's mapping, not yet validated (a sweep's base, before its overrides)."""
    path = Path(path)
    if not is_file(path):
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (optics, model, ...), not {type(data).__name__}")
    return data


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read and validate a YAML config file."""
    return build_config(read_config_data(path), overrides)


def dump_config(config: Config) -> str:
    """The resolved config as YAML (every default written out)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
