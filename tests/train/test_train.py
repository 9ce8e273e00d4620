"""Short real training runs: files written, reproducible, learning, safe on failure."""

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from quaton.builder import PreparedData, prepare_data
from quaton.cli import app
from quaton.config import load_config
from quaton.errors import RunDirError, TrainingError
from quaton.runs import load_checkpoint, save_checkpoint
from quaton.train.evaluate import evaluate_run
from quaton.train.loop import train

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"
QUIET = ["train.progress=false"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("smoke")
    config = load_config(SMOKE, QUIET)
    metrics = train(config, run_dir)
    return run_dir, config, metrics


def test_run_directory_holds_everything(smoke_run):
    run_dir, config, metrics = smoke_run
    for name in ["config.yaml", "checkpoint.pt", "metrics.jsonl", "metrics.json"]:
        assert (run_dir / name).is_file()
    for name in ["phases.png", "outputs.png", "confusion.png", "history.png"]:
        assert (run_dir / "figures" / name).stat().st_size > 1000
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == config.train.epochs
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["test_accuracy"] == metrics["test_accuracy"] and saved["test_size"] == 200
    assert "mnist" in saved["data_source"].lower()  # where the images came from is on record
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == config.train.epochs


def test_smoke_run_learns(smoke_run):
    _, _, metrics = smoke_run
    assert metrics["test_accuracy"] > 0.5  # chance is 0.1


def test_epochs_are_measured_on_held_out_training_images_and_the_test_set_once(monkeypatch, tmp_path):
    """Regression (issue 27): direct training evaluated the test set after every epoch, so recipes
    were chosen by watching it. Now every epoch measures the validation split (training images held
    out of training) and the test set is evaluated once, on the final model."""
    import quaton.train.loop as loop

    config = load_config(SMOKE, QUIET + ["train.epochs=2", "train.validation_size=40"])
    data = prepare_data(config)
    sizes: list[int] = []
    real = loop.evaluate

    def counting(config, model, task, images, labels, readout):
        sizes.append(len(images))
        return real(config, model, task, images, labels, readout)

    monkeypatch.setattr(loop, "evaluate", counting)
    metrics = train(config, tmp_path / "run", data=data)
    assert sizes.count(len(data.x_test)) == 1 and sizes.count(40) == 2  # test once; validation every epoch
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all("val_accuracy" in r and not any(k.startswith("test_") for k in r) for r in history)
    assert metrics["validation_size"] == 40 and metrics["train_size"] == len(data.x_train) - 40
    assert metrics["val_accuracy"] == history[-1]["val_accuracy"]  # the kept (last) epoch's validation


def test_same_seed_same_metrics(smoke_run, tmp_path):
    run_dir, config, metrics = smoke_run
    again = train(config, tmp_path / "again")
    assert again["test_accuracy"] == metrics["test_accuracy"] and again["test_loss"] == metrics["test_loss"]


def test_eval_reproduces_the_reported_metrics(smoke_run):
    run_dir, _, metrics = smoke_run
    assert evaluate_run(run_dir)["test_accuracy"] == metrics["test_accuracy"]


def test_failed_checkpoint_write_keeps_the_previous_one(smoke_run, monkeypatch):
    run_dir, _, _ = smoke_run
    before = (run_dir / "checkpoint.pt").read_bytes()

    def failing_save(obj, path):
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr("quaton.runs.torch.save", failing_save)
    with pytest.raises(OSError):
        save_checkpoint(run_dir / "checkpoint.pt", {"model": {}})
    assert (run_dir / "checkpoint.pt").read_bytes() == before
    assert not list(run_dir.glob(".checkpoint.pt.*"))


def test_corrupt_checkpoint_is_one_clear_error(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RunDirError, match="corrupt"):
        load_checkpoint(tmp_path / "checkpoint.pt")


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    config = load_config(SMOKE, QUIET + ["train.epochs=1"])
    data = prepare_data(config)
    poisoned = PreparedData(data.x_train * float("nan"), data.y_train, data.x_test, data.y_test, data.classes)
    with pytest.raises(TrainingError, match="train.lr"):
        train(config, tmp_path / "nan", data=poisoned)


def test_cli_train_and_eval(tmp_path):
    runner = CliRunner()
    run_dir = tmp_path / "cli"
    result = runner.invoke(
        app,
        ["train", str(SMOKE), "--set", "train.epochs=1", "--set", "train.progress=false", "--run-dir", str(run_dir)],
    )
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output
    result = runner.invoke(app, ["eval", str(run_dir)])
    assert result.exit_code == 0 and "test_accuracy" in result.output


def test_cli_bad_config_is_one_line_without_traceback(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(SMOKE), "--set", "model.distances=-1", "--run-dir", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "model.distances" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()  # nothing started
    result = runner.invoke(app, ["eval", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "not a quaton run directory" in result.output


def test_a_config_too_large_for_memory_fails_before_allocating(tmp_path):
    config = load_config(SMOKE, QUIET + ["model.grid=6000", "train.batch_size=256"])
    with pytest.raises(TrainingError, match="GiB.*lower train.batch_size"):
        train(config, tmp_path / "huge")
    assert not (tmp_path / "huge" / "checkpoint.pt").exists()
