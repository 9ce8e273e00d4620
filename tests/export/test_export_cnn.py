"""An optical CNN's Fourier-plane DOE exports like a D2NN layer: level map, heights, STL, GDS."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from quaton.config import load_config
from quaton.errors import QuatonError
from quaton.export import export_run, phase_to_height
from quaton.export.design import load
from quaton.train.loop import train

SMOKE = Path(__file__).parents[2] / "configs" / "mixed_signal" / "smoke.yaml"


def test_a_four_level_doe_exports_at_its_own_pitch_and_heights(tmp_path):
    overrides = [
        "train.epochs=0",
        "train.progress=false",
        "data.train_size=64",
        "data.test_size=32",
        "model.cnn.element_pixels=64",
        "quantization.method=ste",
        "quantization.levels=4",
        "hardware.readout.levels=null",
        "hardware.readout.noise=0",
    ]
    config = load_config(SMOKE, overrides)
    train(config, tmp_path / "run")
    out = export_run(tmp_path / "run", tmp_path / "design", formats=("npy", "stl", "gds"))
    description = json.loads((out / "design.json").read_text())
    assert description["kind"] == "optical_cnn" and len(description["layers"]) == 1
    assert description["pitch"] == pytest.approx(config.model.cnn.element_pitch)  # the DOE's pitch, not the modulator's
    phase = np.load(out / "layer_01.npy")
    assert phase.shape == (64, 64)
    assert set(np.unique(phase)) <= {0.0, math.pi / 2, math.pi, 3 * math.pi / 2}
    fab = config.fabrication
    height = np.load(out / "height_01.npy")
    assert np.allclose(
        height,
        phase * fab.medium_index * config.optics.wavelength / (2 * math.pi * (fab.refractive_index - fab.medium_index)),
    )
    assert np.allclose(
        height,
        phase_to_height(phase, fab.medium_index * config.optics.wavelength, fab.refractive_index, fab.medium_index),
    )
    assert (out / "layer_01.stl").stat().st_size > 0 and (out / "masks.gds").is_file()
    with pytest.raises(QuatonError, match="optical CNN"):
        load(out)
