"""Run directories written before the re-homing (issue 28) still evaluate and resume.

The fixtures in ``tests/fixtures/main-f11b22d/`` were written by main at commit f11b22d (before
the layout changed) and are committed as they came out (OMP_NUM_THREADS=1), less figures and report:

- ``d2nn-smoke``: configs/smoke.yaml, 1 epoch, 16-level read-out, no scheduler;
- ``dat-twin``: a 4-level PSQ D2NN trained with DAT against the simulated D2NN twin, 1 epoch;
- ``mzi``: a 16-port, 2-mesh MZI network, 1 epoch (trained through the system loop).

Evaluating one today must give the test accuracy its metrics.json recorded (the same weights,
data and draws), and a run that may go on for more epochs continues from its checkpoint.
"""

import json
import shutil
from pathlib import Path

import pytest
import torch

from quaton.builder import load_run
from quaton.config import load_config
from quaton.train.evaluate import evaluate_run
from quaton.train.loop import train

FIXTURES = Path(__file__).parent / "fixtures" / "main-f11b22d"


@pytest.fixture(autouse=True)
def one_thread():
    """The fixtures were written on one thread (OMP_NUM_THREADS=1): a 16-level read-out rounds the
    last bits of a sum, so another thread count may move one test digit across a level."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", ["d2nn-smoke", "dat-twin", "mzi"])
def test_an_old_run_directory_evaluates_to_what_it_recorded(name):
    recorded = json.loads((FIXTURES / name / "metrics.json").read_text())
    result = evaluate_run(FIXTURES / name)
    assert result["test_accuracy"] == pytest.approx(recorded["test_accuracy"], abs=1e-9)
    if "physical_test_accuracy" in recorded:
        assert result["physical_test_accuracy"] == pytest.approx(recorded["physical_test_accuracy"], abs=1e-9)


def test_an_old_run_directory_loads_its_model_and_config():
    config, model, state = load_run(FIXTURES / "dat-twin")
    assert config.train.strategy == "dat" and config.quantization.method == "psq"
    assert state["epoch"] == 1 and any(key.startswith("sepn") or key == "sepns" for key in state)


def test_an_old_run_directory_continues_for_more_epochs(tmp_path):
    """The 1-epoch smoke run goes on to 2 epochs from its checkpoint: epoch 1 is kept as recorded
    and epoch 2 is appended."""
    run_dir = tmp_path / "d2nn-smoke"
    shutil.copytree(FIXTURES / "d2nn-smoke", run_dir)
    config = load_config(run_dir / "config.yaml", ["train.epochs=2"])
    before = (run_dir / "metrics.jsonl").read_text().splitlines()
    metrics = train(config, run_dir)
    after = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert after[0] == before[0] and [json.loads(line)["epoch"] for line in after] == [1, 2]
    assert metrics["epochs"] == 2
