"""The open design file: a trained network as plain JSON + .npy files that any wave-optics code can
re-simulate, and the fabrication files made from it. The format is documented in docs/design-format.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from quaton.config import Config, build_config
from quaton.data import encode, resize_images
from quaton.errors import QuatonError
from quaton.export.fabrication import phase_to_height, write_height_tiff, write_stl
from quaton.models import D2NN
from quaton.optics import IntensityDetector, padded_shape
from quaton.quant import level_index, level_values
from quaton.train import rundir

FORMAT, VERSION = "quaton-design", 1
FORMATS = ("npy", "tiff", "stl")


class DesignError(QuatonError, ValueError):
    """A design directory is missing, malformed or inconsistent; the message names the file and field."""


def design_description(config: Config, metrics: dict[str, Any], regions: list[tuple[int, int, int, int]]) -> dict[str, Any]:
    """design.json's content without the layer entries (the quaton-design v1 description)."""
    grid = config.model.grid
    optics, inputs = config.optics, config.input
    return {
        "format": FORMAT,
        "version": VERSION,
        "wavelength": optics.wavelength,
        "pitch": optics.pitch,
        "grid": [grid, grid],
        "propagation": {"method": optics.method, "pad_factor": optics.pad_factor, "padded_grid": list(padded_shape((grid, grid), optics.pad_factor))},
        "distances": config.model.distance_list(),
        "layers": [],
        "input": {
            "encoding": inputs.encoding,
            "scale": inputs.scale if inputs.scale is not None else (math.pi if inputs.encoding == "phase" else 1.0),
            "object_size": [inputs.object_size, inputs.object_size],
            "resize": "bilinear, antialiased (torch.nn.functional.interpolate), images scaled to [0, 1] from uint8",
            "padding": "centred, zeros",
        },
        "detector": {"regions": [list(r) for r in regions]},
        "material": {"refractive_index": config.fabrication.refractive_index, "medium_index": config.fabrication.medium_index},
        "task": {"kind": config.task.kind},
        "metrics": {k: v for k, v in metrics.items() if k != "confusion"},
        "training_config": config.model_dump(mode="json"),
    }


def export_run(run_dir: str | Path, out_dir: str | Path, formats: tuple[str, ...] = FORMATS) -> Path:
    """Write a run's design (design.json, layer_XX.npy) and fabrication files into ``out_dir``."""
    from quaton.train.evaluate import load_run

    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise DesignError(f"unknown export formats {sorted(unknown)}; choose from {FORMATS}")
    config, model, state = load_run(run_dir)
    if not isinstance(model, D2NN):
        raise DesignError(
            f"quaton export writes diffractive (D2NN) designs; {run_dir} holds a {config.model.kind} network, whose "
            "parameters are in its checkpoint.pt (for an MZI network: device_params(), phase-shifter values in radians)"
        )
    metrics = rundir.read_json(Path(run_dir) / rundir.METRICS)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    regions = config.regions() if config.task.kind == "classification" else []
    description = design_description(config, metrics, regions)
    if "log_gain" in state.get("task", {}):
        gain = float(state["task"]["log_gain"].exp())
        description["output"] = {"gain": gain, "meaning": "predicted phase (rad) = π · gain · detector intensity"}
    levels = config.quantization.layer_levels(config.model.layers)
    fab = config.fabrication
    full_scale = phase_to_height(np.array(2 * math.pi), config.optics.wavelength, fab.refractive_index, fab.medium_index)
    value_range = tuple(config.quantization.range) if config.quantization.range else None
    for index, (phase, n) in enumerate(zip(model.phases(), levels), start=1):
        if n is None:
            phase = phase.double().numpy()
        else:  # exactly the float64 level values: the device as evaluated, without float32 rounding
            phase = level_values(n, value_range, dtype=torch.float64)[level_index(phase.double(), n, value_range)].numpy()
        name = f"layer_{index:02d}"
        _atomic_npy(out / f"{name}.npy", phase)
        layer: dict[str, Any] = {"kind": "phase", "file": f"{name}.npy", "levels": n, "range": list(config.quantization.range) if n and config.quantization.range else None}
        height = phase_to_height(phase, config.optics.wavelength, fab.refractive_index, fab.medium_index)
        if "npy" in formats:
            _atomic_npy(out / f"height_{index:02d}.npy", height)
            layer["height_file"] = f"height_{index:02d}.npy"
        if "tiff" in formats:
            scale = write_height_tiff(out / f"height_{index:02d}.tif", height, config.optics.pitch, float(full_scale))
            layer["height_tiff"] = {"file": f"height_{index:02d}.tif", "scale_m_per_count": scale}
        if "stl" in formats:
            write_stl(out / f"layer_{index:02d}.stl", height, config.optics.pitch, fab.base_thickness)
            layer["stl"] = {"file": f"layer_{index:02d}.stl", "unit": "mm", "base_thickness": fab.base_thickness}
        description["layers"].append(layer)
    rundir.atomic_write_text(out / "design.json", json.dumps(description, indent=2) + "\n")
    return out


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
        )
        with torch.no_grad():
            for mask, phase in zip(self.network.masks, phases):
                mask.raw.copy_(torch.from_numpy(phase))
        self.network.requires_grad_(False).eval()
        regions = description["detector"]["regions"]
        self.detector = IntensityDetector([tuple(r) for r in regions], (grid, grid)) if regions else None

    @property
    def grid(self) -> int:
        return self.description["grid"][0]

    def phases(self) -> list[torch.Tensor]:
        return self.network.phases()

    def encode(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Images [B, h, w] (uint8 0..255 or float in [0, 1]) -> input fields complex64 [B, N, N]."""
        inputs = self.description["input"]
        x = resize_images(images, inputs["object_size"][0])
        return encode(x, self.grid, inputs["encoding"], inputs["scale"])

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
        raise DesignError(f"{path}: field 'version' is {description.get('version')!r}; this quaton reads version {VERSION}")
    for key, kind in [("wavelength", (int, float)), ("pitch", (int, float)), ("grid", list), ("propagation", dict), ("distances", list),
                      ("layers", list), ("input", dict), ("detector", dict)]:
        _field(description, key, kind, str(path))
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
            allowed = level_values(int(levels), tuple(layer["range"]) if layer.get("range") else None, dtype=torch.float64).numpy()
            off = ~np.isclose(phase[..., None], allowed, rtol=0.0, atol=1e-9).any(axis=-1)
            if off.any():
                raise DesignError(f"{file}: {int(off.sum())} values are off the declared {levels} levels (field 'levels' of layer {k})")
        phases.append(phase.astype(np.float32))
    return Design(description, phases)


def design_config(design: Design) -> Config:
    """The training config stored with a design (for rebuilding its test set)."""
    stored = design.description.get("training_config")
    if not isinstance(stored, dict):
        raise DesignError("design.json: field 'training_config' is missing; give the dataset explicitly")
    return build_config(stored)
