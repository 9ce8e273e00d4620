"""Robust training under errors drawn per batch (train.strategy robust)."""

import importlib
import json

import pytest
import torch

from quaton.config import RobustConfig, build_config
from quaton.errors import ConfigError
from quaton.systems.calibrate import ParametricD2NN
from quaton.systems.d2nn_twin import D2NNTwin
from quaton.systems.robust import draw_errors
from quaton.train.evaluate import evaluate_run
from quaton.train.loop import train

TINY = {
    "name": "tiny_robust",
    "model": {"grid": 24, "layers": 2, "distances": 60e-6},
    "input": {"object_size": 14},
    "detector": {"size": 3, "gap": 1},
    "data": {"dataset": "mnist_5k", "train_size": 240, "test_size": 100},
    "physical": {"system": "tests.systems.test_robust:counting_twin", "options": {}},
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
    assert model.shifts.abs().max() == 0 and torch.all(model.distance_scales == 1) and model.phase_gamma.item() == 1.0


def test_robust_without_errors_is_ideal_training_and_never_measures_in_training(tmp_path):
    """σ = 0 everywhere: the same training as ideal; like ideal, no training batch is measured (the
    system is measured on the validation images each epoch, for the record, and at deployment)."""
    measured = importlib.import_module("tests.systems.test_robust").MEASURED  # the module the factory sees
    measured.clear()
    robust = train(tiny(**{"train.strategy": "robust"}), tmp_path / "robust")
    assert sum(measured) == robust["validation_size"] * robust["epochs"] + robust["test_size"]
    ideal = train(tiny(), tmp_path / "ideal")
    assert robust["test_accuracy"] == pytest.approx(ideal["test_accuracy"], abs=0.02)
    assert robust["selected_by"] == "val_accuracy"


def test_robust_training_is_less_sensitive_to_a_sub_pixel_shift_than_ideal_training(tmp_path):
    """Trained under shifts drawn with σ 0.25 px (12 epochs of 440 images), designs deploy better than
    ideal designs of the same length on twins whose layers are shifted by a fraction of a pixel (σ
    0.25 px, sub-pixel interpolation), on average over twin realisations: each design is deployed on
    the same 8 twins (seeds 100-107), 500 test digits each, for training seeds 0, 1 and 2. Measured
    here: 24 paired gaps, mean +0.113 ± 0.024 (4.6 standard errors; the assertion asks for > 0.05
    and 3), robust better on 18 of 24 (asked: 14). Robust training with σ 0 (ideal training) has
    every gap 0 and fails.

    Measured apart (10 twins, 1000 digits, mean deployed accuracy ideal -> robust, paired gap ± its standard
    error over the twins): training seed 0: 0.40 -> 0.50 (+0.10 ± 0.04), seed 1: 0.40 -> 0.50
    (+0.10 ± 0.03), seed 2: 0.34 -> 0.49 (+0.15 ± 0.03), seed 3: 0.36 -> 0.56 (+0.20 ± 0.04). One twin
    is not a measure of sensitivity: a nearly ideal twin favours the ideal design (robust loses on 6 of
    24 here), and on the single twin of seed 3 with 100 digits, 6 epochs of 200 images, the gap was
    5 digits (0.12 -> 0.17)."""
    twin = {"interpolation": "linear", "shift": 0.25}
    deployed: dict[str, list[float]] = {"ideal": [], "robust": []}
    for seed in (0, 1, 2):
        for name, sets in {"ideal": {}, "robust": {"train.strategy": "robust", "robust.shift": 0.25}}.items():
            run_dir = tmp_path / f"{name}{seed}"
            config = tiny(
                **{
                    "physical.options": {**twin, "seed": 3},
                    "seed": seed,
                    "train.epochs": 12,
                    "data.train_size": 480,
                    **sets,
                }
            )
            train(config, run_dir)
            for realisation in range(100, 108):
                options = json.dumps({**twin, "seed": realisation})
                result = evaluate_run(run_dir, [f"physical.options={options}", "data.test_size=500"])
                deployed[name].append(result["physical_test_accuracy"])
    gaps = torch.tensor(deployed["robust"]) - torch.tensor(deployed["ideal"])
    mean, error = float(gaps.mean()), float(gaps.std() / len(gaps) ** 0.5)
    assert mean > 0.05 and mean > 3 * error, (mean, error, deployed)
    assert int((gaps > 0).sum()) >= len(gaps) // 2 + 2, deployed  # most realisations, not a few lucky ones


def test_robust_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="robust.shift"):
        tiny(**{"robust.shift": -0.1})
    with pytest.raises(ConfigError, match="robust.tilt"):
        tiny(**{"robust.tilt": 1.0})
