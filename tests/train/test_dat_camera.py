"""A camera (read-out chain) after the physical system: quantization, read-out noise and systematic
errors in one run (configs/dat/everything.yaml)."""

import json
from pathlib import Path

import pytest
import torch

from quaton.builder import build_model, build_readout, encode_batch, prepare_data
from quaton.config import build_config, load_config
from quaton.errors import ConfigError
from quaton.systems.d2nn_twin import D2NNTwin
from quaton.train.dat import CameraSystem, design_for, train_with_system
from quaton.train.evaluate import evaluate_run

EVERYTHING = Path(__file__).parents[2] / "configs" / "dat" / "everything.yaml"
TINY = {
    "name": "tiny_camera",
    "model": {"grid": 24, "layers": 2, "distances": 60e-6},
    "input": {"object_size": 14},
    "detector": {"size": 3, "gap": 1},
    "data": {"dataset": "mnist_5k", "train_size": 240, "test_size": 100},
    "quantization": {"method": "psq", "levels": 4},
    "hardware": {"readout": {"levels": 4, "noise": 0.5}},
    "physical": {
        "system": "quaton.systems.d2nn_twin:d2nn_twin",
        "options": {"shift": 0.3, "phase_scale": 0.1, "seed": 1},
    },
    "dat": {"features": [2, 4, 4], "convs": 1},
    "train": {
        "epochs": 2,
        "batch_size": 40,
        "lr": 0.05,
        "progress": False,
        "validation_size": 40,
        "hardware_aware": True,
    },
}


def tiny(**sets):
    return build_config(TINY, [f"{k}={json.dumps(v)}" for k, v in sets.items()])


def test_the_camera_reads_the_systems_output_in_its_levels_with_fresh_training_and_reproducible_evaluation_noise():
    config = tiny()
    model = build_model(config)
    readout = build_readout(config)
    readout.seed_training(0)
    system = CameraSystem(D2NNTwin(design_for(config), shift=0.3, seed=1), readout)
    system.load([p.double().numpy() for p in model.phases()])
    images = prepare_data(config).x_train[:8]
    fields = encode_batch(config, images)
    raw = system.system.measure(fields)["output"]
    readout.calibrate(raw)
    # The ADC: at most 4 distinct read-out values, each a multiple of full_scale / 3.
    values = system.measure(fields)["output"]
    steps = values / (readout.full_scale / 3)
    assert torch.unique(values).numel() <= 4 and torch.allclose(steps, steps.round(), atol=1e-4)
    assert not torch.equal(values, system.measure(fields)["output"])  # training noise: fresh at every read-out
    readout.eval()
    readout.reseed()
    first = system.measure(fields)["output"]
    readout.reseed()
    assert torch.equal(first, system.measure(fields)["output"])  # evaluation noise: reproducible
    assert system.true_parameters() == system.system.true_parameters()  # the rest is the system's


def test_a_noisy_coarse_camera_costs_physical_accuracy_that_an_ideal_detector_keeps(tmp_path):
    ideal_camera = train_with_system(
        tiny(**{"hardware.readout.levels": None, "hardware.readout.noise": 0.0}), tmp_path / "a"
    )
    harsh = train_with_system(
        tiny(**{"hardware.readout.levels": 2, "hardware.readout.noise": 3.0, "train.hardware_aware": False}),
        tmp_path / "b",
    )
    # Same seed, same twin: the camera is the only difference, and 2 levels with 3 steps of noise
    # must cost accuracy measured on the system (a camera left out of the measurement would not).
    assert harsh["physical_test_accuracy"] < ideal_camera["physical_test_accuracy"] - 0.05


@pytest.mark.parametrize("strategy", ["pat", "dat"])
def test_a_run_stopped_after_an_epoch_resumes_to_the_uninterrupted_result_camera_noise_included(tmp_path, strategy):
    config = tiny(**{"train.strategy": strategy})
    whole = train_with_system(config, tmp_path / "whole")

    class Stop(Exception):
        pass

    def stop(record):
        if record["epoch"] == 1:
            raise Stop

    with pytest.raises(Stop):
        train_with_system(config, tmp_path / "cut", on_epoch=stop)
    resumed = train_with_system(config, tmp_path / "cut")
    for key in ("test_accuracy", "physical_test_accuracy", "val_score"):
        assert resumed[key] == whole[key], key
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    # quaton eval measures the device as trained: through the camera (it used to leave it out)
    again = evaluate_run(tmp_path / "whole")
    assert again["physical_test_accuracy"] == whole["physical_test_accuracy"]
    assert again["test_accuracy"] == whole["test_accuracy"]


def test_everything_config_loads_and_a_camera_after_an_mzi_system_is_refused():
    config = load_config(EVERYTHING)
    assert config.quantization.levels == 4 and config.hardware.readout.levels == 16 and config.physical.system
    with pytest.raises(ConfigError, match="mzi"):
        load_config(Path(__file__).parents[2] / "configs" / "dat" / "mzi_smoke.yaml", ["hardware.readout.levels=16"])


def test_auto_exposure_keeps_a_learning_network_from_saturating_the_camera(tmp_path, monkeypatch):
    """A camera exposed for the random start saturates as PAT learns to focus light (full MNIST: 29 %
    of the pixels clipped within 63 steps, and a saturated read-out ties every class); the camera's
    full scale is re-set every EXPOSURE_STEPS steps, so late in the epoch few pixels clip."""
    from quaton.train import dat

    clipped: list[float] = []
    measure = dat.CameraSystem.measure

    def counting(self, inputs):
        output = measure(self, inputs)
        clipped.append(float((output["output"] >= float(self.camera.full_scale) * (1 - 1e-4)).float().mean()))
        return output

    monkeypatch.setattr(dat.CameraSystem, "measure", counting)
    monkeypatch.setattr(dat, "EXPOSURE_STEPS", 10)
    config = build_config(
        {
            "model": {"grid": 24, "layers": 2, "distances": 60e-6},
            "input": {"object_size": 14},
            "detector": {"size": 3, "gap": 1},
            "data": {"dataset": "mnist_5k", "train_size": 400, "test_size": 50},
            "hardware": {"readout": {"levels": 16, "noise": 0.5}},
            "physical": {"system": "quaton.systems.d2nn_twin:d2nn_twin", "options": {}},
            "train": {
                "strategy": "pat",
                "epochs": 1,
                "batch_size": 4,
                "lr": 0.1,
                "validation_size": 40,
                "progress": False,
            },
        }
    )
    train_with_system(config, tmp_path / "run")
    steps = clipped[: 360 // 4]  # the training measurements (validation and test come after)
    assert max(steps[:10]) < 0.01
    assert max(steps[-20:]) < 0.005, steps[-20:]
