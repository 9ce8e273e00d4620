"""Robust training under errors drawn per batch (train.strategy robust)."""

import importlib
import json

import pytest
import torch

from quaton.config import RobustConfig, build_config
from quaton.errors import ConfigError
from quaton.hardware.physical import D2NNTwin
from quaton.train.calibrate import ParametricD2NN
from quaton.train.loop import train
from quaton.train.robust import draw_errors

TINY = {
    "name": "tiny_robust",
    "model": {"grid": 24, "layers": 2, "distances": 60e-6},
    "input": {"object_size": 14},
    "detector": {"size": 3, "gap": 1},
    "data": {"dataset": "mnist_5k", "train_size": 240, "test_size": 100},
    "physical": {"system": "tests.train.test_robust:counting_twin", "options": {}},
    "robust": {"shift": 0.0, "distance_error": 0.0, "phase_scale": 0.0, "phase_gamma": 0.0},
    "train": {"epochs": 4, "batch_size": 40, "lr": 0.05, "progress": False, "validation_size": 40},
}
MEASURED: list[int] = []


def counting_twin(design, **options):
    """A D2NN twin that counts the fields it measures (in MEASURED)."""
    twin = D2NNTwin(design, **options)
    measure = twin.measure

    def counted(inputs):
        MEASURED.append(len(inputs))
        return measure(inputs)

    twin.measure = counted
    return twin


def tiny(**sets):
    return build_config(TINY, [f"{k}={json.dumps(v)}" for k, v in sets.items()])


def test_drawn_errors_have_the_configured_spread_and_none_is_the_ideal_model():
    model = ParametricD2NN(grid=8, pitch=1e-6, wavelength=532e-9, distances=[50e-6] * 4)
    generator = torch.Generator().manual_seed(0)
    sigmas = RobustConfig(shift=0.5, rotation=1.0, distance_error=0.02, phase_scale=0.1, phase_gamma=0.1)
    shifts, scales = [], []
    for _ in range(400):
        draw_errors(model, sigmas, generator)
        shifts.append(model.shifts.clone())
        scales.append(model.distance_scales.clone())
    assert torch.stack(shifts).std().item() == pytest.approx(0.5, rel=0.05)
    assert (torch.stack(scales) - 1).std().item() == pytest.approx(0.02, rel=0.05)
    assert model.gain.item() == 1.0 and model.offset.item() == 0.0
    draw_errors(model, RobustConfig(shift=0, rotation=0, distance_error=0, phase_scale=0, phase_gamma=0), generator)
    assert model.shifts.abs().max() == 0 and torch.all(model.distance_scales == 1) and float(model.phase_gamma) == 1.0


def test_robust_without_errors_is_ideal_training_and_never_measures_in_training(tmp_path):
    """σ = 0 everywhere: the same training as ideal; like ideal, no training batch is measured (the
    system is measured on the validation images each epoch, for the record, and at deployment)."""
    measured = importlib.import_module("tests.train.test_robust").MEASURED  # the module the factory sees
    measured.clear()
    robust = train(tiny(**{"train.strategy": "robust"}), tmp_path / "robust")
    assert sum(measured) == robust["validation_size"] * robust["epochs"] + robust["test_size"]
    ideal = train(tiny(), tmp_path / "ideal")
    assert robust["test_accuracy"] == pytest.approx(ideal["test_accuracy"], abs=0.02)
    assert robust["selected_by"] == "val_accuracy"


def test_robust_training_is_less_sensitive_to_a_sub_pixel_shift_than_ideal_training(tmp_path):
    """Trained under shifts drawn with σ 0.25 px, the design loses less when deployed on a twin whose
    layers are shifted by a fraction of a pixel (σ 0.25 px, sub-pixel interpolation) than the ideal
    design of the same length does. Measured: ideal 0.52 -> 0.12 on the twin, robust 0.40 -> 0.17
    (100 test digits: the loss differs clearly, the deployed accuracy only by 5 digits)."""
    twin = {"interpolation": "linear", "shift": 0.25, "seed": 3}
    ideal = train(tiny(**{"physical.options": twin, "train.epochs": 6}), tmp_path / "ideal")
    robust = train(
        tiny(**{"physical.options": twin, "train.epochs": 6, "train.strategy": "robust", "robust.shift": 0.25}),
        tmp_path / "robust",
    )
    ideal_loss = ideal["test_accuracy"] - ideal["physical_test_accuracy"]
    robust_loss = robust["test_accuracy"] - robust["physical_test_accuracy"]
    assert robust_loss < ideal_loss - 0.1
    assert robust["physical_test_accuracy"] > ideal["physical_test_accuracy"]


def test_robust_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="robust.shift"):
        tiny(**{"robust.shift": -0.1})
    with pytest.raises(ConfigError, match="robust.tilt"):
        tiny(**{"robust.tilt": 1.0})
