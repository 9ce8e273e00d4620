"""Extending quaton from outside the package (issue 14): a toy quantizer and a toy model kind are
registered in this file, with one option each, and trained through the code path of `quaton train`
(the CLI, a config file); nothing in src/ names them."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from pydantic import Field
from torch import nn
from typer.testing import CliRunner

import quaton
from quaton.builder import load_run
from quaton.cli import app
from quaton.config import Config, build_config
from quaton.errors import ConfigError
from quaton.export import export_run
from quaton.models import MODELS, BuildContext, OpticalModel, register_model
from quaton.optics import FreeSpace, PhaseMask, intensity
from quaton.quant import QUANTIZERS, Quantizer
from quaton.registry import Options

SMOKE = Path(__file__).parent.parent / "configs" / "smoke.yaml"


class ToyRoundingOptions(Options):
    gradient_scale: float = Field(1.0, ge=0, allow_inf_nan=False, description="straight-through gradient factor")


class ToyRounding(Quantizer):
    """Nearest level in the forward pass, ``gradient_scale`` × the identity gradient in the backward pass."""

    def __init__(self, levels, value_range=None, schedule=None, *, gradient_scale: float = 1.0) -> None:
        super().__init__(levels, value_range, schedule)
        self.gradient_scale = gradient_scale

    def soft(self, raw: torch.Tensor) -> torch.Tensor:
        return self.hard(raw) + self.gradient_scale * (raw - raw.detach())


class OnePlaneOptions(Options):
    detector_gain: float = Field(1.0, gt=0, allow_inf_nan=False, description="camera gain on the intensity")


class OnePlane(nn.Module):
    """One phase mask between two gaps of free space, then a camera: the smallest diffractive model."""

    def __init__(self, config: Config, context: BuildContext) -> None:
        super().__init__()
        optics, grid = config.optics, config.model.grid
        before, after = config.model.distance_list()[:2]
        self.encode = context.encode
        self.pitch = optics.pitch
        self.gain = context.options.detector_gain
        self.before = FreeSpace(wavelength=optics.wavelength, pitch=optics.pitch, distance=before)
        self.after = FreeSpace(wavelength=optics.wavelength, pitch=optics.pitch, distance=after)
        self.mask = PhaseMask(
            (grid, grid),
            quantizer=context.quantizer(0) if context.quantizer else None,
            generator=torch.Generator().manual_seed(config.seed),
        )

    def task_input(self, images, readout=None, full_scale=1.0):
        image = self.sensor_intensity(images)
        return readout(image) if readout is not None else image

    def sensor_intensity(self, images):
        return self.gain * intensity(self.after(self.mask(self.before(self.encode(images)))))

    @torch.no_grad()
    def phases(self):
        return [self.mask.phase().detach().clone()]

    @property
    def mask_pitch(self):
        return self.pitch

    def design_fields(self):
        return {}


def build_one_plane(config: Config, context: BuildContext) -> OnePlane:
    """One phase mask and a camera (model.distances: the gaps before and after the mask)."""
    return OnePlane(config, context)


@pytest.fixture(scope="module", autouse=True)
def toys():
    """Register the toys for this module only; the registries are as before afterwards."""
    QUANTIZERS.register("toy_round", ToyRounding, options=ToyRoundingOptions, display="TOY")
    register_model("one_plane", output="detector", options=OnePlaneOptions, display="one plane")(build_one_plane)
    yield
    QUANTIZERS.unregister("toy_round")
    MODELS.unregister("one_plane")


def toy_config(tmp_path: Path, **sections) -> Path:
    data = yaml.safe_load(SMOKE.read_text())
    data["model"] = {**data["model"], "kind": "one_plane", "layers": 1, "options": {"detector_gain": 2.0}}
    data["quantization"] = {"method": "toy_round", "levels": 4, "options": {"gradient_scale": 0.5}}
    data["data"] = {**data["data"], "train_size": 300, "test_size": 200}
    data["train"] = {**data["train"], "epochs": 3, "lr": 0.1, "progress": False}
    data.update(sections)
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_toy_quantizer_and_model_kind_train_through_quaton_train(tmp_path):
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(toy_config(tmp_path)), "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.3  # one 4-level mask, 300 digits, 3 epochs: 0.43; chance is 0.1
    # the options reached the components, and the run directory records them
    config, model, _ = load_run(run_dir)
    assert config.quantization.options == {"gradient_scale": 0.5} and config.model.options == {"detector_gain": 2.0}
    assert isinstance(model, OnePlane) and isinstance(model, OpticalModel)
    assert model.mask.quantizer.gradient_scale == 0.5 and model.gain == 2.0
    for name in ("phases.png", "outputs.png", "confusion.png"):
        assert (run_dir / "figures" / name).is_file()
    # the exported mask is the evaluated device: every phase on one of the toy quantizer's 4 levels
    design = export_run(run_dir, tmp_path / "design")
    phase = np.load(design / "layer_01.npy")
    assert set(np.unique(phase)) <= {0.0, math.pi / 2, math.pi, 3 * math.pi / 2}
    assert len(np.unique(phase)) > 1


def test_the_toy_model_kind_receives_its_option():
    base = yaml.safe_load(SMOKE.read_text())
    base["model"] = {**base["model"], "kind": "one_plane", "layers": 1}
    images = torch.rand(2, 20, 20)
    model, _ = quaton.build(build_config(base))
    doubled, _ = quaton.build(build_config(base, ["model.options.detector_gain=2.0"]))
    assert torch.allclose(doubled.sensor_intensity(images), 2 * model.sensor_intensity(images))


def test_toy_options_are_validated_against_their_models(tmp_path):
    unknown = (
        r"quantization.options: unknown option 'gradient_scal' of quantizer toy_round \(did you mean `gradient_scale`"
    )
    with pytest.raises(ConfigError, match=unknown + r"\?\); valid options: gradient_scale"):
        quaton.load_config(toy_config(tmp_path), ["quantization.options={gradient_scal: 1}"])
    with pytest.raises(ConfigError, match=r"model.options: detector_gain: Input should be greater than 0"):
        quaton.load_config(toy_config(tmp_path), ["model.options.detector_gain=-1"])
    with pytest.raises(ConfigError, match=r"model.kind: unknown model kind 'one_plan' \(did you mean `one_plane`\?\)"):
        quaton.load_config(toy_config(tmp_path), ["model.kind=one_plan"])


def test_quaton_list_and_the_schema_show_registered_components():
    listing = CliRunner().invoke(app, ["list"])
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert "    quantization.options.logit_scale: float = 10.0  logits = logit_scale · weights" in lines
    assert any(line.startswith("  toy_round (TOY)") for line in lines)
    assert "    quantization.options.gradient_scale: float = 1.0  straight-through gradient factor" in lines
    assert "    model.options.detector_gain: float = 1.0  camera gain on the intensity" in lines
    assert "training strategies (train.strategy): ideal, pat, dat, calibrated, robust" in lines
    schema = json.loads(CliRunner().invoke(app, ["config", "--schema"]).output)
    methods = schema["$defs"]["QuantizationConfig"]["properties"]["method"]["enum"]
    assert methods[:6] == ["none", "pq", "ste", "gs", "psq", "psq-lt"] and "toy_round" in methods
    kinds = schema["$defs"]["ModelConfig"]["properties"]["kind"]["enum"]
    assert {"d2nn", "optical_cnn", "digital_cnn", "mzi", "one_plane"} <= set(kinds)
