"""The config's sections, one pydantic model each (the components' own options models, from
``quaton.models``, ``quaton.tasks``, ``quaton.quant`` and ``quaton.hardware``, are sections or
flat keys of them): types, bounds, defaults and each section's own rules.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from quaton.errors import ConfigError
from quaton.hardware import EFFECTS, CameraOptions
from quaton.models import DEFAULT_KIND, MODELS, CNNConfig, MZIConfig
from quaton.quant import QUANTIZERS, GSOptions, PSQLTOptions
from quaton.registry import Options, fold_options, option_field, schema_enum
from quaton.tasks import (
    DEFAULT_TASK,
    TASKS,
    ClassificationOptions,
    PhaseImagingOptions,
    all_losses,
    options_owner,
)


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
    log: list[Literal["tensorboard"]] = Field(
        default_factory=list,
        description="where else each epoch is logged: tensorboard (RUN_DIR/tensorboard: scalars per epoch, phase "
        'masks, detector images and the confusion matrix at the end; pip install "quaton[tensorboard]")',
    )
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
