"""The open design file: a trained network as plain JSON + .npy files that any wave-optics code can
re-simulate, and the fabrication files made from it. The format is documented in docs/design-format.md.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from quaton import runs
from quaton.builder import load_run
from quaton.config import Config, build_config
from quaton.data import encode, resize_images
from quaton.errors import QuatonError
from quaton.export.fabrication import phase_to_height, vacuum_wavelength, write_height_tiff, write_stl
from quaton.models import D2NN, MODELS, as_optical
from quaton.optics import IntensityDetector, PhaseMask, padded_shape
from quaton.quant import level_values
from quaton.tasks import DEFAULT_TASK, TASKS, task_of

FORMAT, VERSION = "quaton-design", 1
FORMATS = ("npy", "tiff", "stl", "gds")
DEFAULT_FORMATS = ("npy", "tiff", "stl")  # gds only on request: it needs 2^k levels per layer


class DesignError(QuatonError, ValueError):
    """A design directory is missing, malformed or inconsistent; the message names the file and field."""


def design_description(
    config: Config, metrics: dict[str, Any], regions: list[tuple[int, int, int, int]]
) -> dict[str, Any]:
    """design.json's content without the layer entries (the quaton-design v1 description)."""
    grid = config.model.grid
    optics, inputs = config.optics, config.input
    return {
        "format": FORMAT,
        "version": VERSION,
        "wavelength": optics.wavelength,
        "pitch": optics.pitch,
        "grid": [grid, grid],
        "propagation": {
            "method": optics.method,
            "pad_factor": optics.pad_factor,
            "padded_grid": list(padded_shape((grid, grid), optics.pad_factor)),
        },
        "distances": config.model.distance_list(),
        "layers": [],
        "input": {
            "encoding": inputs.encoding,
            "scale": inputs.scale if inputs.scale is not None else (math.pi if inputs.encoding == "phase" else 1.0),
            "object_size": [inputs.object_size, inputs.object_size],
            "resize": "bilinear, antialiased (torch.nn.functional.interpolate), images scaled to [0, 1] from uint8",
            "padding": "centred, zeros",
            # what encode() accepts: classification images are uint8 0..255 or floats in [0, 1];
            # phase maps are φ / scale
            "value_range": [0.0, 1.0] if task_of(config).classes else None,
        },
        "detector": {"regions": [list(r) for r in regions]},
        "material": {
            "refractive_index": config.fabrication.refractive_index,
            "medium_index": config.fabrication.medium_index,
            "vacuum_wavelength": vacuum_wavelength(optics.wavelength, config.fabrication.medium_index),
        },
        "task": {"kind": config.task.kind},
        "metrics": {k: v for k, v in metrics.items() if k != "confusion"},
        "training_config": config.model_dump(mode="json"),
    }


def export_run(
    run_dir: str | Path,
    out_dir: str | Path,
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    min_feature: float | None = None,
    min_gap: float | None = None,
    polarity: str = "etched",
) -> Path:
    """Write a run's design (design.json, layer_XX.npy) and fabrication files into ``out_dir``.

    ``gds``: binary-optics masks (see quaton.export.gds) of ``polarity`` "etched" (the default: the
    etched plate carries the design's phase) or "relief" (the masks add up to the height map: a master
    to replicate), with KLayout's design-rule check of every mask of the written file against
    ``min_feature`` and ``min_gap`` (m) and for corner touching, reported in masks.json (every
    violation by location) and design.json (the counts)."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise DesignError(f"unknown export formats {sorted(unknown)}; choose from {FORMATS}")
    config, model, state = load_run(run_dir)
    optical = as_optical(model)
    evaluated_phases = optical.phases()  # the masks evaluate() used (hard-quantized, wrapped to [0, 2π))
    if not evaluated_phases:
        raise DesignError(
            f"quaton export writes fabricable phase masks; {run_dir} holds a {config.model.kind} network without "
            "any, whose parameters are in its checkpoint.pt (for an MZI network: device_params(), phase-shifter "
            "values in radians)"
        )
    _check_drc_lengths(min_feature, min_gap)
    levels = config.quantization.layer_levels(config.model.layers)
    if "gds" in formats:
        _check_gds_levels(config, levels, polarity, min_feature, min_gap)
    metrics = runs.read_json(Path(run_dir) / runs.METRICS)
    out = _design_directory(out_dir)
    regions = config.regions() if task_of(config).classes else []
    description = design_description(config, metrics, regions)
    output = _output_description(state)
    if output is not None:
        description["output"] = output
    description["hardware"] = hardware_description(config, state)
    # what the model adds (an optical CNN: its Fourier-plane element, at the element's own pitch)
    pitch = optical.mask_pitch or config.optics.pitch
    description.update(optical.design_fields())
    written = _write_layers(out, config, evaluated_phases, levels, formats, pitch, description["layers"])
    if "gds" in formats:
        description["gds"] = _write_gds(
            out, config, written, description["layers"], pitch, (min_feature, min_gap), polarity
        )
    runs.atomic_write_text(out / "design.json", json.dumps(description, indent=2) + "\n")
    return out


def _check_drc_lengths(min_feature: float | None, min_gap: float | None) -> None:
    """The design-rule lengths (m), when given, must be plausible feature sizes."""
    for name, value in (("min_feature", min_feature), ("min_gap", min_gap)):
        if value is not None and not (math.isfinite(value) and 0 < value < 1e-2):
            raise DesignError(f"{name} is a length in metres between 0 and 1 cm, e.g. 1e-6; got {value}")


def _check_gds_levels(
    config: Config, levels: list[int | None], polarity: str, min_feature: float | None, min_gap: float | None
) -> None:
    """Refuse ``--format gds`` before anything is written when a layer's levels cannot be binary masks,
    the polarity is unknown or a design-rule check is asked for without KLayout."""
    from quaton.export.gds import GDSError, check_drc, check_gds, check_polarity

    span = list(config.quantization.range) if config.quantization.range else None
    try:
        check_gds([{"levels": n, "range": span if n else None} for n in levels])
        check_polarity(polarity)
        check_drc(min_feature, min_gap)
    except GDSError as error:
        raise DesignError(f"--format gds: {error}") from None


def _design_directory(out_dir: str | Path) -> Path:
    """``out_dir``, created if needed."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DesignError(
            f"cannot create the design directory {out}: {error.strerror or error}; choose another --out"
        ) from None
    return out


def _output_description(state: dict) -> dict[str, Any] | None:
    """design.json's ``output`` for a phase-imaging run (its camera's gain and black level), else None."""
    if "log_gain" not in state.get("task", {}):
        return None
    gain = float(state["task"]["log_gain"].exp())
    output: dict[str, Any] = {"gain": gain, "meaning": "predicted phase (rad) = π · gain · detector intensity"}
    if "black_level" in state["task"]:  # task.black_level: the camera's black level, calibrated with its gain
        output["black_level"] = float(state["task"]["black_level"])
        output["meaning"] = "predicted phase (rad) = π · gain · (detector intensity − black_level)"
    return output


def _write_layers(
    out: Path,
    config: Config,
    evaluated_phases: list[torch.Tensor],
    levels: list[int | None],
    formats: tuple[str, ...],
    pitch: float,
    entries: list[dict[str, Any]],
) -> list[np.ndarray]:
    """Write each layer's phases (layer_XX.npy) and fabrication files, append its design.json entry to
    ``entries``; returns the written phases, float64 [N, N] each."""
    fab = config.fabrication
    written: list[np.ndarray] = []
    wavelength_0 = vacuum_wavelength(config.optics.wavelength, fab.medium_index)
    full_scale = phase_to_height(np.array(2 * math.pi), wavelength_0, fab.refractive_index, fab.medium_index)
    value_range = config.quantization.range  # (lo, hi) rad, or None
    for index, (evaluated, n) in enumerate(zip(evaluated_phases, levels), start=1):
        # the phases evaluate() used (hard-quantized, wrapped to [0, 2π)), as float64
        phase = evaluated.double().numpy()
        name = f"layer_{index:02d}"
        if n is not None:  # exactly the float64 level values, without float32 rounding
            phase, deviation = snap_to_levels(phase, wrapped_levels(n, value_range))
            if deviation > 1e-5:
                raise DesignError(
                    f"{name}: the evaluated phases lie up to {deviation:.3g} rad off the {n} levels of "
                    f"quantization.range {value_range}; the design would not be the device that was evaluated"
                )
        _atomic_npy(out / f"{name}.npy", phase)
        written.append(phase)
        layer: dict[str, Any] = {
            "kind": "phase",
            "file": f"{name}.npy",
            "levels": n,
            "range": list(config.quantization.range) if n and config.quantization.range else None,
            "sha256": phase_sha256(phase),
            "evaluated_transmission_sum": transmission_sum(evaluated.double().numpy()),
        }
        height = phase_to_height(phase, wavelength_0, fab.refractive_index, fab.medium_index)
        if "npy" in formats:
            _atomic_npy(out / f"height_{index:02d}.npy", height)
            layer["height_file"] = f"height_{index:02d}.npy"
        if "tiff" in formats:
            scale = write_height_tiff(out / f"height_{index:02d}.tif", height, pitch, float(full_scale))
            layer["height_tiff"] = {"file": f"height_{index:02d}.tif", "scale_m_per_count": scale}
        if "stl" in formats:
            write_stl(out / f"layer_{index:02d}.stl", height, pitch, fab.base_thickness)
            layer["stl"] = {"file": f"layer_{index:02d}.stl", "unit": "mm", "base_thickness": fab.base_thickness}
        entries.append(layer)
    return written


def _write_gds(
    out: Path,
    config: Config,
    written: list[np.ndarray],
    entries: list[dict[str, Any]],
    pitch: float,
    rules: tuple[float | None, float | None],
    polarity: str,
) -> dict[str, Any]:
    """Write the binary-optics masks (masks.gds, masks.json) of the written layers; returns design.json's
    ``gds``. ``rules``: (min_feature, min_gap) in m, or None each."""
    from quaton.export.gds import drc_summary, write_gds

    fab = config.fabrication
    wavelength_0 = vacuum_wavelength(config.optics.wavelength, fab.medium_index)
    masks = write_gds(
        out,
        written,
        entries,
        pitch,
        wavelength_0,
        fab.refractive_index,
        fab.medium_index,
        *rules,
        polarity=polarity,
    )
    return {
        "file": masks["file"],
        "sidecar": "masks.json",
        "polarity": masks["polarity"],
        "polarity_meaning": masks["polarity_meaning"],
        "layer_numbers": masks["layer_numbers"],
        "drc": [[drc_summary(m["drc"]) for m in layer["masks"]] for layer in masks["layers"]],
    }


def hardware_description(config: Config, state: dict) -> dict[str, Any]:
    """design.json's ``hardware``: the read-out chain and modulator response the run was evaluated
    with, and the read-out's calibrated full scale (intensity units of the simulated detector)."""
    readout = state.get("readout", {})
    full_scale = readout.get("full_scale")
    return {
        "readout": config.hardware.readout.model_dump(mode="json"),
        "distortion": config.hardware.distortion.model_dump(mode="json"),
        "seed": config.hardware.seed,
        "full_scale": float(full_scale) if full_scale is not None else None,
        "meaning": "quaton simulate evaluates through this read-out chain (hardware.* of the training config) and "
        "modulator response (distortion.slm_gamma), with full_scale as calibrated at the end of training",
    }


def wrapped_levels(levels: int, value_range: tuple[float, float] | None) -> np.ndarray:
    """The phases (rad) a layer of ``levels`` levels takes on the device: its level values wrapped to
    [0, 2π), float64 [levels] (an explicit range below 0 or above 2π wraps, e.g. −1 → 2π − 1)."""
    values = np.mod(level_values(levels, value_range, dtype=torch.float64).numpy(), 2 * math.pi)
    return np.where(values >= 2 * math.pi, 0.0, values)


def circular_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a − b| on the phase circle (rad), in [0, π]."""
    d = np.mod(a - b, 2 * math.pi)
    return np.minimum(d, 2 * math.pi - d)


def snap_to_levels(phase: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, float]:
    """Each phase replaced by the nearest allowed value on the circle, and the largest distance moved (rad)."""
    gaps = circular_gap(phase[..., None], allowed)
    return allowed[gaps.argmin(axis=-1)], float(gaps.min(axis=-1).max(initial=0.0))


def phase_sha256(phase: np.ndarray) -> str:
    """SHA-256 of a phase map's float64 values (C order, little-endian)."""
    return hashlib.sha256(np.ascontiguousarray(phase, dtype="<f8").tobytes()).hexdigest()


def transmission_sum(phase: np.ndarray) -> list[float]:
    """Σ exp(i·φ) over a layer, as [real, imaginary]: a fingerprint of the device that float32
    rounding moves by at most ~2.4e-7 per pixel, a wrong pixel by up to 2."""
    total = np.exp(1j * np.asarray(phase, dtype=np.float64)).sum()
    return [float(total.real), float(total.imag)]


def _atomic_npy(path: Path, array: np.ndarray) -> None:
    temporary = path.with_name(f".{path.name}.tmp.npy")
    np.save(temporary, array)
    temporary.replace(path)


def _field(design: dict, key: str, kind: type | tuple, where: str = "design.json"):
    if key not in design:
        raise DesignError(f"{where}: missing field {key!r}")
    value = design[key]
    if not isinstance(value, kind):
        raise DesignError(f"{where}: field {key!r} must be {kind}, got {type(value).__name__}")
    return value


class Design(nn.Module):
    """A loaded design: ``intensity(field)``, ``encode(images)``, ``predict(images)``."""

    def __init__(self, description: dict[str, Any], phases: list[np.ndarray]) -> None:
        super().__init__()
        self.description = description
        grid = description["grid"][0]
        propagation = description["propagation"]
        self.network = D2NN(
            grid=grid,
            pitch=description["pitch"],
            wavelength=description["wavelength"],
            distances=description["distances"],
            method=propagation["method"],
            pad_factor=propagation["pad_factor"],
            init="zeros",
            # images at the object size -> input fields, as trained: the network answers OpticalModel
            encoder=functools.partial(
                encode, grid=grid, encoding=description["input"]["encoding"], scale=description["input"]["scale"]
            ),
        )
        with torch.no_grad():
            for mask, phase in zip(self.network.masks, phases):
                cast(PhaseMask, mask).raw.copy_(torch.from_numpy(phase))  # a D2NN's masks are PhaseMasks
        self.network.requires_grad_(False).eval()
        regions = description["detector"]["regions"]
        self.detector = IntensityDetector([tuple(r) for r in regions], (grid, grid)) if regions else None

    @property
    def grid(self) -> int:
        return self.description["grid"][0]

    def phases(self) -> list[torch.Tensor]:
        return self.network.phases()

    def encode(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Images [B, h, w] (uint8 0..255 or float in [0, 1]) -> input fields complex64 [B, N, N].

        Raises DesignError for float images outside the range the design's encoding was trained on
        (e.g. floats in 0..255, which would be encoded as phases up to 255·scale)."""
        inputs = self.description["input"]
        self._check_range(images)
        x = resize_images(images, inputs["object_size"][0])
        return encode(x, self.grid, inputs["encoding"], inputs["scale"])

    def _check_range(self, images: np.ndarray | torch.Tensor) -> None:
        x = torch.as_tensor(images)
        inputs = self.description["input"]
        if x.dtype == torch.uint8:
            return
        if x.dtype.is_complex or x.dtype == torch.bool:
            raise DesignError(f"images must be real (uint8 0..255 or floats), got {x.dtype}")
        if x.numel() == 0:
            return
        low, high = float(x.min()), float(x.max())
        if not (math.isfinite(low) and math.isfinite(high)):
            raise DesignError("images hold NaN or infinite values")
        task = TASKS.get(self.description.get("task", {}).get("kind", DEFAULT_TASK))
        default = [0.0, 1.0] if task is None or task.classes else None
        expected = inputs.get("value_range", default)
        if expected is None:
            return
        tolerance = 1e-6 * max(1.0, expected[1] - expected[0])
        if low < expected[0] - tolerance or high > expected[1] + tolerance:
            hint = ": divide by 255 (or pass the uint8 images)" if high > 1.5 and high <= 255 + tolerance else ""
            raise DesignError(
                f"{x.dtype} images hold values in [{low:g}, {high:g}], but this design's {inputs['encoding']} "
                "encoding takes "
                f"floats in [{expected[0]:g}, {expected[1]:g}] (x·{inputs['scale']:.4g}) or uint8 0..255{hint}"
            )

    @torch.no_grad()
    def intensity(self, field: torch.Tensor) -> torch.Tensor:
        """Complex input field [B, N, N] -> detector-plane intensity [B, N, N]."""
        return self.network.intensity(field)

    @torch.no_grad()
    def predict(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Class indices int64 [B]: the detector region with the most energy."""
        if self.detector is None:
            raise DesignError("this design has no detector regions: it is not a classifier")
        return self.detector.region_energies(self.intensity(self.encode(images))).argmax(dim=1)


def load(design_dir: str | Path, check_levels: bool = True) -> Design:
    """Load and validate a design directory written by ``quaton export``."""
    directory = Path(design_dir)
    path = directory / "design.json"
    if not path.is_file():
        raise DesignError(f"{path} does not exist: export a run first (quaton export RUN_DIR --out {directory})")
    try:
        description = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DesignError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise DesignError(f"{path}: field 'format' must be {FORMAT!r}")
    if description.get("version") != VERSION:
        raise DesignError(
            f"{path}: field 'version' is {description.get('version')!r}; this quaton reads version {VERSION}"
        )
    required: list[tuple[str, type | tuple[type, ...]]] = [
        ("wavelength", (int, float)),
        ("pitch", (int, float)),
        ("grid", list),
        ("propagation", dict),
        ("distances", list),
        ("layers", list),
        ("input", dict),
        ("detector", dict),
    ]
    for key, kind in required:
        _field(description, key, kind, str(path))
    for key in ("hardware", "task", "material", "output"):  # optional, read as objects when present
        if key in description and not isinstance(description[key], dict):
            raise DesignError(
                f"{path}: field '{key}' must be an object (or absent), not {type(description[key]).__name__}"
            )
    if "kind" in description:  # what a model kind's design_fields add (a D2NN's add nothing)
        kind = description["kind"]
        raise DesignError(
            f"{path} describes an element of model kind {kind} ({MODELS.display(kind)}; for fabrication: its "
            "layer, height and STL/GDS files); quaton.design.load and quaton simulate read D2NN designs: "
            "evaluate the run itself with quaton eval RUN_DIR"
        )
    grid = description["grid"]
    if len(grid) != 2 or grid[0] != grid[1] or not all(isinstance(g, int) and g > 0 for g in grid):
        raise DesignError(f"{path}: field 'grid' must be [N, N] with N > 0, got {grid}")
    if description["wavelength"] <= 0 or description["pitch"] <= 0:
        raise DesignError(f"{path}: fields 'wavelength' and 'pitch' must be positive")
    layers = description["layers"]
    if not layers or len(description["distances"]) != len(layers) + 1:
        raise DesignError(f"{path}: field 'distances' needs one more entry than 'layers' ({len(layers)} layers)")
    phases = []
    for k, layer in enumerate(layers, start=1):
        where = f"{path} layers[{k - 1}]"
        file = directory / str(_field(layer, "file", str, where))
        if directory.resolve() not in file.resolve().parents:
            raise DesignError(f"{where}: field 'file' ({layer['file']!r}) points outside the design directory")
        try:
            phase = np.load(file, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            raise DesignError(f"{where}: cannot read {file}: {error}") from None
        if phase.shape != tuple(grid):
            raise DesignError(f"{file}: shape {phase.shape} does not match the design's grid {tuple(grid)}")
        if not np.issubdtype(phase.dtype, np.floating) or not np.isfinite(phase).all():
            raise DesignError(f"{file}: phases must be finite floats (radians), got {phase.dtype}")
        levels = layer.get("levels")
        if check_levels and levels is not None:
            allowed = wrapped_levels(int(levels), tuple(layer["range"]) if layer.get("range") else None)
            off = circular_gap(phase[..., None], allowed).min(axis=-1) > 1e-9
            if off.any():
                raise DesignError(
                    f"{file}: {int(off.sum())} values are off the declared {levels} levels "
                    f"(field 'levels' of layer {k})"
                )
        _check_fingerprints(file, phase, layer, where)
        phases.append(phase.astype(np.float32))
    return Design(description, phases)


def _check_fingerprints(file: Path, phase: np.ndarray, layer: dict, where: str) -> None:
    """The phases must be those written at export (sha256) and the device that was evaluated
    (its Σ exp(iφ)); designs without these fields (older exports) are not checked."""
    digest = layer.get("sha256")
    if digest is not None and phase_sha256(phase) != digest:
        raise DesignError(
            f"{file} is not the file exported with this design.json (field 'sha256' of {where} differs): "
            "re-export the run"
        )
    expected = layer.get("evaluated_transmission_sum")
    if expected is not None:
        actual = transmission_sum(phase)
        gap = math.hypot(actual[0] - expected[0], actual[1] - expected[1])
        if gap > 1e-6 * phase.size + 1e-9:
            raise DesignError(
                f"{file} differs from the device that was evaluated (Σ exp(iφ) off by {gap:.3g}, field "
                f"'evaluated_transmission_sum' of {where}): re-export the run with this quaton"
            )


def design_config(design: Design) -> Config:
    """The training config stored with a design (for rebuilding its test set)."""
    stored = design.description.get("training_config")
    if not isinstance(stored, dict):
        raise DesignError("design.json: field 'training_config' is missing; give the dataset explicitly")
    return build_config(stored)
