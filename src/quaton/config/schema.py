"""The root config: the sections assembled, the rules across sections, and what is physically
plausible. One place for every default.

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

from collections.abc import Callable

from pydantic import Field, model_validator

from quaton.config.sections import (
    CalibrateConfig,
    DataConfig,
    DATConfig,
    DetectorConfig,
    DistortionConfig,
    FabricationConfig,
    HardwareConfig,
    InputConfig,
    ModelConfig,
    OpticsConfig,
    PhysicalConfig,
    QuantizationConfig,
    ReadoutConfig,
    RobustConfig,
    Section,
    TaskConfig,
    TrainConfig,
)
from quaton.models import MODELS, ModelKind
from quaton.optics.detector import default_regions, region_masks
from quaton.tasks import (
    TASKS,
    TaskKind,
)
from quaton.units import WAVELENGTH_RANGE, metres, slip


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
