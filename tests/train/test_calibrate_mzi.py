"""The calibrated twin of an MZI mesh: the DAT error model's parameters fitted to a twin's port powers,
and the calibrated strategy end to end on an MZI network."""

import json

import numpy as np
import torch

from quaton.config import load_config
from quaton.hardware.mzi_twin import MZITwin
from quaton.models.mzi import MZINetwork
from quaton.train.calibrate_mzi import ParametricMZI, calibrate_mzi
from quaton.train.loop import train

LINEAR_BIAS = {"bias": 0.0}  # the activation as configs/dat/mzi_smoke.yaml sets it


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


def test_calibration_recovers_the_twins_phase_errors():
    """8 ports, 2 meshes, σ_ps = 0.10 rad, σ_bs = 0.06: four probe settings of 48 inputs; the fit
    explains the measurements (relative MSE down by > 100x) and recovers the shifters' θ errors to a
    small fraction of their size (some φ and split errors only change phases no detector sees)."""
    design = {"model": {"kind": "mzi", "ports": 8, "meshes": 2, "activation": LINEAR_BIAS}}
    twin = MZITwin(design, sigma_bs=0.06, sigma_ps=0.10, seed=3)
    model = MZINetwork(ports=8, meshes=2, classes=4, seed=1, activation=LINEAR_BIAS)
    fields = torch.randn(48, 8, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    physics = ParametricMZI(8, 2)
    result = calibrate_mzi(twin, physics, model, fields, groups=["phase", "coupler"], probes=4, steps=150, lr=1.0)
    report = result.report(twin.true_parameters())
    assert report["budget"] == {"measure_calls": 4, "fields_measured": 192}
    assert report["relative_mse"]["calibrated_model"] < report["relative_mse"]["ideal_model"] / 100
    truth = twin.true_parameters()
    assert _rms(physics.values()["theta"] - truth["theta"]) < 0.2 * _rms(truth["theta"])
    # the calibrated model predicts the twin under phases it was never probed with
    setting = model.device_params()
    twin.load(setting)
    measured = twin.measure(fields)["output"]
    with torch.no_grad():
        predicted = physics.run(model, fields)[-1].abs().square()
        ideal = model.stages(fields)[1][-1].abs().square()
    assert (predicted - measured).square().mean() < 0.05 * (ideal - measured).square().mean()


def test_calibrated_strategy_trains_an_mzi_network(tmp_path):
    """64 ports, 2 meshes, σ_ps = 0.05: the fitted model explains the twin's port powers (relative MSE
    down by > 100x: 0.22 -> 6e-4 measured) and the network trained through it works on the twin."""
    config = load_config(
        "configs/dat/mzi_smoke.yaml",
        [
            "train.strategy=calibrated",
            "model.mzi.meshes=2",
            "physical.options={sigma_bs: 0.0, sigma_ps: 0.05, seed: 0}",
            "calibrate.probes=2",
            "calibrate.inputs=32",
            "calibrate.steps=60",
            "calibrate.lr=1.0",
            "train.epochs=1",
            "data.train_size=600",
            "data.test_size=200",
            "train.validation_size=100",
            "train.progress=false",
        ],
    )
    metrics = train(config, tmp_path / "run")
    report = json.loads((tmp_path / "run" / "calibration.json").read_text())
    assert report["budget"] == {"measure_calls": 2, "fields_measured": 64}
    assert report["relative_mse"]["calibrated_model"] < report["relative_mse"]["ideal_model"] / 100
    assert report["error_rms"]["theta"] < report["truth_rms"]["theta"]
    assert metrics["physical_test_accuracy"] > 0.4  # chance: 0.1; ideal deployment of the same run: 0.42
