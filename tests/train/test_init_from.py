"""Quantization-aware training from a trained network: train.init_from."""

from pathlib import Path

import pytest
import torch

from quaton.builder import build_model
from quaton.config import load_config
from quaton.errors import ConfigError, RunDirError
from quaton.train.loop import train

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"
QUIET = ["train.progress=false"]


@pytest.fixture(scope="module")
def full_precision_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("fp")
    train(load_config(SMOKE, QUIET + ["train.epochs=1"]), run_dir)
    return run_dir


@pytest.mark.parametrize("method", ["ste", "psq", "gs"])
def test_a_quantized_network_starts_from_the_trained_phases(full_precision_run, method):
    config = load_config(
        SMOKE,
        QUIET + [f"quantization.method={method}", "quantization.levels=4", f"train.init_from={full_precision_run}"],
    )
    model = build_model(config).eval()
    trained = torch.load(full_precision_run / "checkpoint.pt", weights_only=True)["model"]
    fresh = build_model(config, initialize=False).eval()
    for index, mask in enumerate(model.masks):
        source = trained[f"masks.{index}.raw"]
        # the hard device is the trained phases rounded to the nearest level, not a new random mask
        expected = mask.quantizer.hard(source)
        assert torch.equal(mask.phase(), torch.remainder(expected, 2 * torch.pi))
        assert not torch.equal(fresh.masks[index].phase(), mask.phase())


def test_init_from_a_missing_or_different_run_is_one_clear_error(full_precision_run, tmp_path):
    missing = load_config(SMOKE, QUIET + [f"train.init_from={tmp_path / 'nothing'}"])
    with pytest.raises(ConfigError, match="train.init_from"):
        build_model(missing)
    other_grid = load_config(SMOKE, QUIET + [f"train.init_from={full_precision_run}", "model.grid=40"])
    with pytest.raises(ConfigError, match="different network"):
        build_model(other_grid)


def test_eval_of_a_full_precision_run_with_pq_rounds_its_trained_phases(full_precision_run):
    """PQ of an existing run: `quaton eval RUN --set quantization.method=pq --set quantization.levels=2`
    evaluates the trained phases rounded to 2 levels (it used to fail: no quantizer state in the checkpoint)."""
    from quaton.builder import load_run
    from quaton.train.evaluate import evaluate_run

    pq = ["quantization.method=pq", "quantization.levels=2"]
    _, model, _ = load_run(full_precision_run, pq)
    trained = torch.load(full_precision_run / "checkpoint.pt", weights_only=True)["model"]
    for index, mask in enumerate(model.masks):
        phase = mask.phase()
        assert len(torch.unique(phase)) <= 2  # a binary device ...
        wrapped = torch.remainder(trained[f"masks.{index}.raw"], 2 * torch.pi)
        distance = torch.remainder(phase - wrapped + torch.pi, 2 * torch.pi) - torch.pi
        assert distance.abs().max() <= torch.pi / 2 + 1e-5  # ... each pixel at the level nearest its trained phase
    assert evaluate_run(full_precision_run, pq)["test_accuracy"] != evaluate_run(full_precision_run)["test_accuracy"]
    with pytest.raises(RunDirError, match="does not fit"):  # another method still needs its own trained state
        load_run(full_precision_run, ["quantization.method=gs", "quantization.levels=2"])
