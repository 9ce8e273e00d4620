"""TensorBoard logging (issue 29): the event files a run writes are read back with TensorBoard's own
reader and hold what the run recorded."""

import json
from pathlib import Path

import pytest

from quaton.config import load_config
from quaton.train.loop import train

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"


def test_a_run_logs_its_epochs_and_pictures_to_tensorboard(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    settings = [
        "train.epochs=2",
        "train.progress=false",
        "data.train_size=120",
        "data.test_size=50",
        "train.log=[tensorboard]",
    ]
    metrics = train(load_config(SMOKE, settings), tmp_path / "run")
    board = event_accumulator.EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0})
    board.Reload()
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    for name in ("train_loss", "val_accuracy", "val_loss"):
        events = board.Scalars(name)
        assert [e.step for e in events] == [1, 2]
        assert [e.value for e in events] == pytest.approx([record[name] for record in history], rel=1e-6)
    images = set(board.Tags()["images"])
    assert {"phase/layer_01", "phase/layer_02", "phase/layer_03", "detector", "confusion"} <= images
    confusion = board.Images("confusion")[-1]
    assert (confusion.width, confusion.height) == (10, 10) and confusion.step == 2
    assert metrics["test_accuracy"] > 0.1


def test_changing_the_logging_does_not_stop_a_run_from_resuming(tmp_path):
    settings = [
        "train.epochs=1",
        "train.progress=false",
        "data.train_size=60",
        "data.test_size=20",
        "train.scheduler=none",
    ]
    train(load_config(SMOKE, settings), tmp_path / "run")
    more = train(load_config(SMOKE, [*settings, "train.epochs=2", "train.log=[tensorboard]"]), tmp_path / "run")
    assert more["epochs"] == 2
